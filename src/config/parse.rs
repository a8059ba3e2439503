//! Parsing of the compound settings: `VIDEO_TIERS` and `STORAGE_URL` with its S3 companions.
use super::{ConfigError, Storage};
use std::collections::BTreeMap;

/// Sora first while it lasts, Veo through KIE as the fallback.
pub const DEFAULT_TIERS: &str =
    "fast=openai:sora-2,kie:veo3_fast;quality=openai:sora-2-pro,kie:veo3";

/// The talking-head providers in the order they are tried (`fal:<model>`, `local`).
pub const DEFAULT_TALKING_HEAD_CHAIN: &str =
    "fal:fal-ai/bytedance/omnihuman/v1.5,fal:veed/fabric-1.0,fal:fal-ai/flashtalk,local";

/// Speech: ElevenLabs (word timings), OpenAI's speech endpoint, espeak-ng offline.
pub const DEFAULT_TTS_CHAIN: &str = "elevenlabs,openai:gpt-4o-mini-tts,local";

/// Character edits: nano-banana, FLUX Kontext, the offline re-framing.
pub const DEFAULT_IMAGE_EDIT_CHAIN: &str =
    "fal:fal-ai/nano-banana/edit,fal:fal-ai/flux-pro/kontext,local";

/// The raw chain settings as given.
#[derive(Debug, Default)]
pub struct ChainSettings {
    pub talking_head: Option<String>,
    pub tts: Option<String>,
    pub image_edit: Option<String>,
    pub allow_loss: Option<String>,
    pub failures: Option<String>,
    pub failure_rate: Option<String>,
    pub cooldown_s: Option<String>,
}

/// The fallback chain of each UGC step, tried in order, and the breakers' settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Chains {
    /// `TALKING_HEAD_CHAIN`: (provider, model); `local` has no model.
    pub talking_head: Vec<(String, String)>,
    /// `TTS_CHAIN`: `elevenlabs` (its model is the default one), `openai:<model>`, `local`.
    pub tts: Vec<(String, String)>,
    /// `IMAGE_EDIT_CHAIN`.
    pub image_edit: Vec<(String, String)>,
    /// `ALLOW_LOSS_FALLBACK=1`: use a fallback even when it costs more than the order's price.
    pub allow_loss: bool,
    /// `BREAKER_FAILURES` in a row open an entry's breaker for `BREAKER_COOLDOWN_S`.
    pub failures: i64,
    /// `BREAKER_FAILURE_RATE` (percent, 0 = off): so many failed calls of an entry in the last
    /// five minutes (at least ten calls) open its breaker too.
    pub failure_rate: i64,
    pub cooldown_s: i64,
}

impl Chains {
    pub fn parse(s: ChainSettings) -> Result<Self, ConfigError> {
        let number = |v: Option<String>, name: &str, default: i64, max: i64| match v
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{name} must be a whole number from 0 to {max} (got '{t}')"
                    ))
                }),
        };
        let allow_loss = match s.allow_loss.as_deref().map(str::trim) {
            None | Some("" | "0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "ALLOW_LOSS_FALLBACK must be 1 or 0 (got '{other}')"
                )))
            }
        };
        // `elevenlabs` alone names its default model.
        let tts_text: Vec<&str> = s
            .tts
            .as_deref()
            .unwrap_or(DEFAULT_TTS_CHAIN)
            .split(',')
            .map(|item| match item.trim() {
                "elevenlabs" => "elevenlabs:eleven_multilingual_v2",
                other => other,
            })
            .collect();
        let tts_text = tts_text.join(",");
        Ok(Self {
            talking_head: parse_chain(
                "TALKING_HEAD_CHAIN",
                s.talking_head
                    .as_deref()
                    .unwrap_or(DEFAULT_TALKING_HEAD_CHAIN),
                &["fal", "local"],
            )?,
            tts: parse_chain("TTS_CHAIN", &tts_text, &["elevenlabs", "openai", "local"])?,
            image_edit: parse_chain(
                "IMAGE_EDIT_CHAIN",
                s.image_edit.as_deref().unwrap_or(DEFAULT_IMAGE_EDIT_CHAIN),
                &["fal", "local"],
            )?,
            allow_loss,
            failures: number(s.failures, "BREAKER_FAILURES", 5, 1_000_000)?.max(1),
            failure_rate: number(s.failure_rate, "BREAKER_FAILURE_RATE", 50, 100)?,
            cooldown_s: number(s.cooldown_s, "BREAKER_COOLDOWN_S", 120, 86_400 * 7)?,
        })
    }

    /// The name of a chain entry as breakers, metrics and checkpoints know it.
    pub fn entry_name(provider: &str, model: &str) -> String {
        if model.is_empty() {
            provider.to_string()
        } else {
            format!("{provider}:{model}")
        }
    }
}

/// A fallback chain: `provider:model,provider:model,local` (`local` takes no model).
pub fn parse_chain(
    name: &str,
    text: &str,
    known: &[&str],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut chain = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (provider, model) = item.split_once(':').unwrap_or((item, ""));
        if !known.contains(&provider) || (provider != "local" && model.is_empty()) {
            return Err(ConfigError(format!(
                "{name}: '{item}' is not one of {} followed by ':model' (or 'local')",
                known.join(", ")
            )));
        }
        chain.push((provider.to_string(), model.to_string()));
    }
    if chain.is_empty() {
        return Err(ConfigError(format!("{name} names no provider")));
    }
    Ok(chain)
}

/// `tier=provider:model,provider:model;tier=…`.
pub fn parse_tiers(text: &str) -> Result<BTreeMap<String, Vec<(String, String)>>, ConfigError> {
    let bad = |why: &str| {
        ConfigError(format!(
            "VIDEO_TIERS must look like 'fast=openai:sora-2,kie:veo3_fast;quality=…' ({why})"
        ))
    };
    let mut tiers = BTreeMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (tier, list) = part
            .split_once('=')
            .ok_or_else(|| bad(&format!("'{part}' has no '='")))?;
        let mut providers = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (provider, model) = item
                .split_once(':')
                .ok_or_else(|| bad(&format!("'{item}' is not provider:model")))?;
            if !["openai", "kie", "fal", "local"].contains(&provider) {
                return Err(bad(&format!("unknown provider '{provider}'")));
            }
            providers.push((provider.to_string(), model.to_string()));
        }
        tiers.insert(tier.trim().to_string(), providers);
    }
    Ok(tiers)
}

pub(super) fn parse_storage(
    url: &str,
    endpoint: Option<String>,
    public_endpoint: Option<String>,
    region: Option<String>,
    key: Option<String>,
    secret: Option<String>,
) -> Result<Storage, ConfigError> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Ok(Storage::Folder(url.to_string()));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ConfigError(
            "STORAGE_URL must name a bucket: s3://bucket/prefix".into(),
        ));
    }
    let need = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError(format!("{name} is required when STORAGE_URL is s3://…")))
    };
    Ok(Storage::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        endpoint,
        public_endpoint: public_endpoint.filter(|e| !e.trim().is_empty()),
        region: region.unwrap_or_else(|| "auto".into()),
        access_key_id: need(key, "S3_ACCESS_KEY_ID")?,
        secret_access_key: need(secret, "S3_SECRET_ACCESS_KEY")?,
    })
}

/// How long a provider may keep a request waiting, per tier: `PROVIDER_DEADLINE_S` is either
/// one number of seconds for every tier (`1800`) or a list with an optional default
/// (`fast=600,quality=2400,ugc=1800,edit=300,*=1800`). The tiers are the video tiers
/// (`fast`, `quality`, …) of text/image-to-video and product videos, `ugc` for talking heads
/// and `edit` for image edits.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderDeadlines {
    pub default: std::time::Duration,
    pub per_tier: BTreeMap<String, std::time::Duration>,
}

impl ProviderDeadlines {
    pub fn uniform(d: std::time::Duration) -> Self {
        Self {
            default: d,
            per_tier: BTreeMap::new(),
        }
    }
    pub fn for_tier(&self, tier: &str) -> std::time::Duration {
        self.per_tier.get(tier).copied().unwrap_or(self.default)
    }
}

pub fn parse_deadlines(text: Option<&str>) -> Result<ProviderDeadlines, ConfigError> {
    const DEFAULT_S: u64 = 1800;
    let bad = |why: String| {
        ConfigError(format!(
            "PROVIDER_DEADLINE_S must be seconds ('1800') or 'tier=seconds,…' like 'fast=600,quality=2400,*=1800' ({why})"
        ))
    };
    let seconds = |s: &str| -> Result<std::time::Duration, ConfigError> {
        s.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| {
                bad(format!(
                    "'{}' is not a whole number of seconds ≥ 1",
                    s.trim()
                ))
            })
    };
    let mut out = ProviderDeadlines::uniform(std::time::Duration::from_secs(DEFAULT_S));
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(out);
    };
    if !text.contains('=') {
        out.default = seconds(text)?;
        return Ok(out);
    }
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tier, value) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("'{part}' has no '='")))?;
        let d = seconds(value)?;
        match tier.trim() {
            "*" | "default" => out.default = d,
            "" => return Err(bad(format!("'{part}' names no tier"))),
            t => {
                out.per_tier.insert(t.to_string(), d);
            }
        }
    }
    Ok(out)
}
