//! Settings, layered: defaults → optional TOML file → environment (a `.env` file is read when
//! present) → command-line flags. A missing or invalid setting stops start-up with one
//! sentence naming it. Secrets never appear in `Debug` output or logs.
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, PartialEq)]
pub struct Config {
    pub database_url: String,
    pub storage: Storage,
    pub providers: Providers,
    pub http_addr: std::net::SocketAddr,
    pub telegram_bot_token: Option<String>,
    pub telegram_api_url: String,
    pub admin_ids: Vec<i64>,
    pub pricing_file: Option<String>,
    /// Model tier → providers in order of preference, e.g. `fast` → [(openai, sora-2), (kie, veo3_fast)].
    pub video_tiers: BTreeMap<String, Vec<(String, String)>>,
    /// OpenAI-compatible chat endpoint that improves product prompts (None: raw text is used).
    pub llm_url: Option<String>,
    pub llm_model: String,
    /// `sk_…` for Checkout Sessions and `whsec_…` for the webhook (payments off without them).
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    /// API keys per provider (several are rotated).
    pub api_keys: BTreeMap<&'static str, Vec<String>>,
    pub bot: BotSettings,
    /// Proxy for Telegram and for the providers (`http://`, `https://` or `socks5://`).
    pub telegram_proxy: Option<String>,
    pub provider_proxy: Option<String>,
    /// Bearer token `/metrics` asks for; without one only loopback clients may scrape.
    pub metrics_token: Option<String>,
    /// Seconds a provider may keep a request waiting before it is cancelled and refunded.
    /// `PROVIDER_DEADLINE_S`: per tier, with a default.
    pub provider_deadlines: ProviderDeadlines,
    /// The fallback chains of the UGC steps and how their breakers behave.
    pub chains: Chains,
    /// `CONSOLE_TOKEN`: signs operators in to `/console` (at least 24 characters); the
    /// console is off without it.
    pub console_token: Option<String>,
    /// `API_RATE_PER_MIN`: requests per API key per minute.
    pub api_rate_per_min: i64,
    /// Megabytes a user may upload through the API in 24 h (`API_UPLOAD_MB_PER_DAY`).
    pub api_upload_mb_per_day: i64,
    /// `TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::http::TrustedProxies,
    /// `MEDIA_GPU=auto|off`: NVDEC decoding and NVENC encoding where the device has them
    /// (each falls back to the CPU with one log line), or never.
    pub media_gpu: bool,
    /// `API_WEBHOOK_PRIVATE_OK=1`: API webhooks may point at loopback and private addresses
    /// (otherwise refused: a client could make the server call its own network).
    pub api_webhook_private_ok: bool,
    /// `PRODUCT_FETCH_PRIVATE_OK=1`: shop links may lead to loopback and private addresses
    /// (tests only).
    pub product_fetch_private_ok: bool,
    /// `POLICY_DIR`: the operator's `terms|privacy|refunds.<ru|en>.md`; the bundled texts
    /// for any file missing there.
    pub policy_dir: Option<String>,
    /// `WORKER_HTTP_ADDR`: where a `reelforge worker` serves its `/health` and `/metrics`
    /// (none when unset: on one host beside `serve`, `HTTP_ADDR` is serve's).
    pub worker_http_addr: Option<std::net::SocketAddr>,
    /// `RUST_LOG`: log levels (`info` and quieter HTTP crates when unset).
    pub rust_log: Option<String>,
    /// `LOG_FORMAT=json`: one JSON object per log line.
    pub log_json: bool,
    /// `OPENAI_BASE_URL`, `FAL_BASE_URL`, `KIE_BASE_URL`, `ELEVENLABS_BASE_URL`: a gateway,
    /// a regional endpoint or staging instead of the provider's own address.
    pub provider_urls: BTreeMap<&'static str, String>,
}

/// What the bot needs beyond the token: webhook mode, where links point, admins, limits.
#[derive(Clone, PartialEq, Debug)]
pub struct BotSettings {
    /// Public HTTPS URL Telegram posts updates to; long polling when unset.
    pub webhook_url: Option<String>,
    /// `X-Telegram-Bot-Api-Secret-Token` for the webhook (a random one per start when unset).
    pub webhook_secret: Option<String>,
    /// Public base URL of this server (Stripe return pages, provider callbacks).
    pub public_url: Option<String>,
    /// Where feedback goes (the first admin when unset).
    pub admin_chat_id: Option<i64>,
    /// Kaspi number shown in the payment instructions (Kaspi is not offered when unset).
    pub kaspi_phone: Option<String>,
    /// Paid jobs one user may start per UTC day.
    pub daily_job_limit: i64,
    /// Seconds between two paid jobs of one user.
    pub job_cooldown_s: i64,
    /// Speech previews, voice samples, checkouts and feedback messages per user and hour.
    pub actions_per_hour: i64,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret: None,
            public_url: None,
            admin_chat_id: None,
            kaspi_phone: None,
            daily_job_limit: 30,
            job_cooldown_s: 5,
            actions_per_hour: 20,
        }
    }
}

#[derive(Clone, PartialEq)]
pub enum Storage {
    Folder(String),
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        /// `S3_PUBLIC_ENDPOINT`: the address presigned URLs name (for providers and API
        /// clients), when the app reaches the store at an internal one.
        public_endpoint: Option<String>,
        region: String,
        access_key_id: String,
        secret_access_key: String,
    },
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Folder(p) => write!(f, "folder {p}"),
            Storage::S3 {
                bucket,
                prefix,
                endpoint,
                public_endpoint,
                region,
                ..
            } => {
                write!(
                    f,
                    "s3://{bucket}/{prefix} at {endpoint:?} (public {public_endpoint:?}, {region}), credentials set"
                )
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Providers {
    /// Real providers by API key.
    Remote,
    /// Every product made offline (espeak-ng voice, animated portrait, clip from an image).
    Local,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: BTreeMap<_, _> = self
            .api_keys
            .iter()
            .map(|(k, v)| (*k, format!("{} key(s)", v.len())))
            .collect();
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("storage", &self.storage)
            .field("providers", &self.providers)
            .field("http_addr", &self.http_addr)
            .field(
                "telegram_bot_token",
                &self.telegram_bot_token.as_ref().map(|_| "(set)"),
            )
            .field("telegram_api_url", &self.telegram_api_url)
            .field("admin_ids", &self.admin_ids)
            .field("api_keys", &keys)
            .field("stripe", &self.stripe_secret_key.as_ref().map(|_| "(set)"))
            .field("webhook_url", &self.bot.webhook_url)
            .field(
                "webhook_secret",
                &self.bot.webhook_secret.as_ref().map(|_| "(set)"),
            )
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "(set)"),
            )
            .field(
                "console_token",
                &self.console_token.as_ref().map(|_| "(set)"),
            )
            .field(
                "telegram_proxy",
                &self.telegram_proxy.as_deref().map(redact_url),
            )
            .field(
                "provider_proxy",
                &self.provider_proxy.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults → `file` (TOML with lower-case keys) → `env` → `flags`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: Layer,
    ) -> Result<Self, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!(
                        "the configuration file {} cannot be read: {e}",
                        path.display()
                    ))
                })?;
                Layer::from_toml(&text).map_err(|e| {
                    ConfigError(format!(
                        "the configuration file {} is invalid: {e}",
                        path.display()
                    ))
                })?
            }
            None => Layer::default(),
        };
        let merged = from_file.overlaid(Layer::from_vars(env)).overlaid(flags);
        Self::from_layer(merged)
    }

    fn from_layer(mut l: Layer) -> Result<Self, ConfigError> {
        let database_url = database_url(l.database_url.take())?;
        let storage = parse_storage(
            l.storage_url.as_deref().unwrap_or("data/files"),
            l.s3_endpoint.take(),
            l.s3_public_endpoint.take(),
            l.s3_region.take(),
            l.s3_access_key_id.take(),
            l.s3_secret_access_key.take(),
        )?;
        let providers = match l.providers.as_deref().unwrap_or("remote") {
            "remote" => Providers::Remote,
            "local" => Providers::Local,
            other => {
                return Err(ConfigError(format!(
                    "PROVIDERS must be 'remote' or 'local' (got '{other}')"
                )))
            }
        };
        let http_addr = l.http_addr.as_deref().unwrap_or("127.0.0.1:8080");
        let http_addr = http_addr.parse().map_err(|_| {
            ConfigError(format!(
                "HTTP_ADDR must be HOST:PORT such as 0.0.0.0:8080 (got '{http_addr}')"
            ))
        })?;
        let admin_ids = admin_ids(l.admin_ids.as_deref().unwrap_or(""))?;
        let api_keys = api_keys(&mut l);
        let bot = bot_settings(&mut l, &admin_ids)?;
        let provider_urls = provider_urls(&mut l)?;
        Ok(Self {
            bot,
            telegram_proxy: l.telegram_proxy.filter(|s| !s.is_empty()),
            provider_proxy: l.provider_proxy.filter(|s| !s.is_empty()),
            metrics_token: l.metrics_token.filter(|s| !s.is_empty()),
            provider_deadlines: parse_deadlines(l.provider_deadline_s.as_deref())?,
            console_token: console_token(l.console_token)?,
            api_rate_per_min: whole_number(l.api_rate_per_min, "API_RATE_PER_MIN", 60)?.max(1),
            trusted_proxies: crate::http::TrustedProxies::parse(
                l.trusted_proxies.as_deref().unwrap_or(""),
            )
            .map_err(ConfigError)?,
            api_upload_mb_per_day: whole_number(
                l.api_upload_mb_per_day,
                "API_UPLOAD_MB_PER_DAY",
                200,
            )?,
            media_gpu: match l.media_gpu.as_deref().map(str::trim) {
                None | Some("" | "auto") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "MEDIA_GPU is '{other}': use auto (the GPU where it works) or off"
                    )))
                }
            },
            policy_dir: l.policy_dir.filter(|d| !d.trim().is_empty()),
            rust_log: l.rust_log.take().filter(|d| !d.trim().is_empty()),
            log_json: match l.log_format.take().as_deref().map(str::trim) {
                None | Some("" | "text") => false,
                Some("json") => true,
                Some(other) => {
                    return Err(ConfigError(format!(
                        "LOG_FORMAT is '{other}': use text (the default) or json"
                    )))
                }
            },
            provider_urls,
            worker_http_addr: match l.worker_http_addr.take().filter(|a| !a.trim().is_empty()) {
                None => None,
                Some(a) => Some(a.trim().parse().map_err(|_| {
                    ConfigError(format!(
                        "WORKER_HTTP_ADDR must be HOST:PORT such as 0.0.0.0:8080 (got '{a}')"
                    ))
                })?),
            },
            api_webhook_private_ok: whole_number(
                l.api_webhook_private_ok,
                "API_WEBHOOK_PRIVATE_OK",
                0,
            )? == 1,
            product_fetch_private_ok: whole_number(
                l.product_fetch_private_ok,
                "PRODUCT_FETCH_PRIVATE_OK",
                0,
            )? == 1,
            chains: Chains::parse(ChainSettings {
                talking_head: l.talking_head_chain,
                tts: l.tts_chain,
                image_edit: l.image_edit_chain,
                allow_loss: l.allow_loss_fallback,
                failures: l.breaker_failures,
                failure_rate: l.breaker_failure_rate,
                cooldown_s: l.breaker_cooldown_s,
            })?,
            database_url,
            storage,
            providers,
            http_addr,
            telegram_bot_token: l.telegram_bot_token.filter(|t| !t.is_empty()),
            telegram_api_url: l
                .telegram_api_url
                .unwrap_or_else(|| "https://api.telegram.org".into()),
            admin_ids,
            pricing_file: l.pricing_file,
            video_tiers: parse_tiers(l.video_tiers.as_deref().unwrap_or(DEFAULT_TIERS))?,
            llm_url: l.llm_url.filter(|u| !u.is_empty()),
            llm_model: l.llm_model.unwrap_or_else(|| "gpt-4o-mini".into()),
            stripe_secret_key: l.stripe_secret_key.filter(|k| !k.is_empty()),
            stripe_webhook_secret: l.stripe_webhook_secret.filter(|k| !k.is_empty()),
            api_keys,
        })
    }
}

/// `DATABASE_URL`: SQLite (the default file) or PostgreSQL.
fn database_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| "sqlite://data/reelforge.db".into());
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        return Err(ConfigError(format!(
            "DATABASE_URL must start with sqlite:// or postgres:// (got '{}')",
            redact_url(&url)
        )));
    }
    Ok(url)
}

/// `ADMIN_IDS`: Telegram user ids separated by commas.
fn admin_ids(value: &str) -> Result<Vec<i64>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ConfigError(format!(
                    "ADMIN_IDS must be Telegram user ids separated by commas ('{s}' is not one)"
                ))
            })
        })
        .collect()
}

/// Each provider's API keys (`*_API_KEYS`, comma-separated, tried in rotation).
fn api_keys(l: &mut Layer) -> BTreeMap<&'static str, Vec<String>> {
    let mut keys = BTreeMap::new();
    for (name, value) in [
        ("openai", l.openai_api_keys.take()),
        ("fal", l.fal_api_keys.take()),
        ("kie", l.kie_api_keys.take()),
        ("elevenlabs", l.elevenlabs_api_keys.take()),
    ] {
        let list: Vec<String> = value
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        keys.insert(name, list);
    }
    keys
}

/// `*_BASE_URL`: where each provider's API is reached (its own address when unset).
fn provider_urls(l: &mut Layer) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let mut urls = BTreeMap::new();
    for (provider, name, value) in [
        ("openai", "OPENAI_BASE_URL", l.openai_base_url.take()),
        ("fal", "FAL_BASE_URL", l.fal_base_url.take()),
        ("kie", "KIE_BASE_URL", l.kie_base_url.take()),
        (
            "elevenlabs",
            "ELEVENLABS_BASE_URL",
            l.elevenlabs_base_url.take(),
        ),
    ] {
        let Some(url) = value
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
        else {
            continue;
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError(format!(
                "{name} must be an http(s) URL such as https://api.openai.com/v1 (got '{}')",
                redact_url(&url)
            )));
        }
        urls.insert(provider, url);
    }
    Ok(urls)
}

/// A setting that is a whole number ≥ 0, or `default` when unset.
fn whole_number(v: Option<String>, name: &str, default: i64) -> Result<i64, ConfigError> {
    match v.filter(|s| !s.trim().is_empty()) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ConfigError(format!("{name} must be a whole number ≥ 0 (got '{s}')"))),
    }
}

/// `CONSOLE_TOKEN`: off when unset, a long random secret otherwise.
fn console_token(value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value.filter(|t| !t.trim().is_empty()) {
        Some(t) if t.trim().len() < 24 => Err(ConfigError(
            "CONSOLE_TOKEN must be a long random secret (at least 24 characters)".into(),
        )),
        other => Ok(other.map(|t| t.trim().to_string())),
    }
}

/// The bot's settings: its webhook, public address, admin chat, Kaspi phone and limits.
fn bot_settings(l: &mut Layer, admin_ids: &[i64]) -> Result<BotSettings, ConfigError> {
    let webhook_url = l.webhook_url.take().filter(|u| !u.is_empty());
    if let Some(u) = &webhook_url {
        if !u.starts_with("https://") && !u.starts_with("http://") {
            return Err(ConfigError(format!(
                "WEBHOOK_URL must be the public https:// address of the webhook (got '{u}')"
            )));
        }
    }
    let defaults = BotSettings::default();
    Ok(BotSettings {
        webhook_url,
        webhook_secret: l.webhook_secret.take().filter(|s| !s.is_empty()),
        public_url: l
            .public_url
            .take()
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_string()),
        admin_chat_id: match l.admin_chat_id.take().filter(|s| !s.is_empty()) {
            None => admin_ids.first().copied(),
            Some(s) => Some(s.trim().parse::<i64>().map_err(|_| {
                ConfigError(format!(
                    "ADMIN_CHAT_ID must be a Telegram chat id (got '{s}')"
                ))
            })?),
        },
        kaspi_phone: l.kaspi_phone.take().filter(|s| !s.is_empty()),
        daily_job_limit: whole_number(
            l.daily_job_limit.take(),
            "DAILY_JOB_LIMIT",
            defaults.daily_job_limit,
        )?,
        job_cooldown_s: whole_number(
            l.job_cooldown_s.take(),
            "JOB_COOLDOWN_S",
            defaults.job_cooldown_s,
        )?,
        actions_per_hour: whole_number(
            l.user_actions_per_hour.take(),
            "USER_ACTIONS_PER_HOUR",
            defaults.actions_per_hour,
        )?,
    })
}

mod layer;
mod parse;
pub use layer::{Layer, SETTING_NAMES};
use parse::parse_storage;
pub use parse::{
    parse_chain, parse_deadlines, parse_tiers, ChainSettings, Chains, ProviderDeadlines,
    DEFAULT_IMAGE_EDIT_CHAIN, DEFAULT_TALKING_HEAD_CHAIN, DEFAULT_TIERS, DEFAULT_TTS_CHAIN,
};

#[cfg(test)]
mod tests;
