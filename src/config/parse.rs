//! Parsing of the compound settings: `VIDEO_TIERS` and `STORAGE_URL` with its S3 companions.
use super::{ConfigError, Storage};
use std::collections::BTreeMap;

/// Sora first while it lasts, Veo through KIE as the fallback.
pub const DEFAULT_TIERS: &str =
    "fast=openai:sora-2,kie:veo3_fast;quality=openai:sora-2-pro,kie:veo3";

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
        region: region.unwrap_or_else(|| "auto".into()),
        access_key_id: need(key, "S3_ACCESS_KEY_ID")?,
        secret_access_key: need(secret, "S3_SECRET_ACCESS_KEY")?,
    })
}
