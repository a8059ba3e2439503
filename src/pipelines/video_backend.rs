//! Text/image-to-video generators by model tier. OpenAI has announced the end of its video
//! API, so each tier lists providers in order: the first that accepts the request makes the
//! video, the next ones are its fallback. The request id is saved as `<index>:<id>`, so a
//! resumed job polls the same provider it paid.
use crate::failure::ErrorClass;
use crate::providers::fal::{self, FalClient, FalRequest, FalStatus};
use crate::providers::kie::{KieClient, VeoState};
use crate::providers::openai_video::{class_of_failed_job, CreateVideo, OpenAiVideo};
use crate::providers::{download_capped, local, ProviderError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest video we accept from a provider (well above a 12 s 1080p clip).
pub const MAX_DOWNLOAD_BYTES: u64 = 300 * 1024 * 1024;

pub enum VideoBackend {
    /// Offline: a clip made from the input image (or a moving background for text).
    Local,
    /// `model` per tier, e.g. sora-2 / sora-2-pro.
    OpenAi {
        client: Arc<OpenAiVideo>,
        model: String,
    },
    /// `model` per tier, e.g. veo3_fast / veo3.
    Kie {
        client: Arc<KieClient>,
        model: String,
        http: reqwest::Client,
    },
    /// A fal queue model: `text_endpoint` for prompts, `image_endpoint` for a first frame,
    /// e.g. `fal-ai/kling-video/v2.1/standard/text-to-video` and `…/image-to-video`.
    Fal {
        client: Arc<FalClient>,
        text_endpoint: String,
        image_endpoint: String,
        http: reqwest::Client,
    },
}

/// What to make.
pub struct VideoRequest<'a> {
    pub prompt: &'a str,
    pub seconds: u32,
    pub width: usize,
    pub height: usize,
    /// The first frame, already fitted to exactly `width`×`height` (JPEG).
    pub image: Option<&'a Path>,
    /// A URL providers can fetch the image from (S3 presigned GET), when storage has one.
    pub image_url: Option<String>,
}

pub enum Poll {
    Pending(Duration),
    /// The MP4 was written to the output path.
    Ready,
}

impl VideoBackend {
    /// The chain entry's name: `local`, or `provider:model`.
    pub fn entry(&self) -> String {
        match self {
            Self::Local => "local".into(),
            Self::OpenAi { model, .. } | Self::Kie { model, .. } => {
                format!("{}:{model}", self.name())
            }
            Self::Fal { .. } => self.name().into(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::OpenAi { .. } => "openai",
            Self::Kie { .. } => "kie",
            Self::Fal { .. } => "fal",
        }
    }

    /// Starts a generation; the local backend makes the clip right away into `out`.
    async fn submit(&self, r: &VideoRequest<'_>, out: &Path) -> Result<String, ProviderError> {
        match self {
            Self::Local => {
                match r.image {
                    Some(img) => {
                        local::clip_from_image(img, r.width, r.height, f64::from(r.seconds), out)
                            .await?
                    }
                    None => {
                        let (w, h, secs, out) =
                            (r.width, r.height, f64::from(r.seconds), out.to_path_buf());
                        tokio::task::spawn_blocking(move || {
                            media::synth::moving_background(w, h, secs, &out)
                        })
                        .await
                        .map_err(|e| {
                            ProviderError::new("local", ErrorClass::Permanent, e.to_string())
                        })?
                        .map_err(|e| {
                            ProviderError::new("local", ErrorClass::Permanent, e.to_string())
                        })?
                    }
                }
                Ok("done".into())
            }
            Self::OpenAi { client, model } => {
                let size = format!("{}x{}", r.width, r.height);
                let image = match r.image {
                    Some(p) => Some((
                        tokio::fs::read(p).await.map_err(|e| {
                            ProviderError::new("openai", ErrorClass::Permanent, e.to_string())
                        })?,
                        "image/jpeg",
                    )),
                    None => None,
                };
                let job = client
                    .create(CreateVideo {
                        prompt: r.prompt,
                        model,
                        seconds: r.seconds,
                        size: &size,
                        input_reference: image,
                    })
                    .await?;
                Ok(keyed_id(&job.1, &job.0.id))
            }
            Self::Kie { client, model, .. } => {
                let aspect = if r.width > r.height {
                    "16:9"
                } else if r.width < r.height {
                    "9:16"
                } else {
                    "Auto"
                };
                if r.image.is_some() && r.image_url.is_none() {
                    return Err(ProviderError::new(
                        "kie",
                        ErrorClass::Permanent,
                        "an image input needs S3 storage for a URL the provider can fetch",
                    ));
                }
                let urls: Vec<String> = r.image_url.iter().cloned().collect();
                let (task, key_id) = client.generate(r.prompt, model, aspect, &urls).await?;
                Ok(keyed_id(&key_id, &task))
            }
            Self::Fal {
                client,
                text_endpoint,
                image_endpoint,
                ..
            } => {
                let aspect = if r.width > r.height {
                    "16:9"
                } else if r.width < r.height {
                    "9:16"
                } else {
                    "1:1"
                };
                let mut input = serde_json::json!({ "prompt": r.prompt, "duration": r.seconds.to_string(), "aspect_ratio": aspect });
                let endpoint = match (&r.image_url, r.image) {
                    (Some(url), _) => {
                        input["image_url"] = serde_json::Value::String(url.clone());
                        image_endpoint
                    }
                    (None, Some(path)) => {
                        use base64::Engine;
                        let bytes = tokio::fs::read(path).await.map_err(|e| {
                            ProviderError::new("fal", ErrorClass::Permanent, e.to_string())
                        })?;
                        input["image_url"] = serde_json::Value::String(format!(
                            "data:image/jpeg;base64,{}",
                            base64::engine::general_purpose::STANDARD.encode(bytes)
                        ));
                        image_endpoint
                    }
                    (None, None) => text_endpoint,
                };
                let req = client.submit(endpoint, &input).await?;
                Ok(serde_json::to_string(&req).unwrap_or_default())
            }
        }
    }

    async fn poll(&self, id: &str, out: &Path) -> Result<Poll, ProviderError> {
        let (key_id, id) = split_keyed_id(id);
        match self {
            Self::Local => Ok(Poll::Ready),
            Self::OpenAi { client, .. } => {
                let p = client.retrieve(id, key_id).await?;
                match p.job.status.as_str() {
                    "completed" => {
                        let bytes = client.download(id, key_id, MAX_DOWNLOAD_BYTES).await?;
                        write(out, bytes).await?;
                        Ok(Poll::Ready)
                    }
                    "failed" => {
                        let msg = p
                            .job
                            .error
                            .as_ref()
                            .map(|e| format!("{}: {}", e.code, e.message))
                            .unwrap_or_else(|| "generation failed".into());
                        Err(ProviderError::new(
                            "openai",
                            class_of_failed_job(p.job.error.as_ref()),
                            msg,
                        ))
                    }
                    _ => Ok(Poll::Pending(p.poll_after.max(Duration::from_secs(2)))),
                }
            }
            Self::Fal { client, http, .. } => {
                let req: FalRequest =
                    serde_json::from_str(id).map_err(|e| ProviderError::malformed("fal", e))?;
                match client.status(&req).await? {
                    FalStatus::InQueue { .. } | FalStatus::InProgress => {
                        Ok(Poll::Pending(Duration::from_secs(5)))
                    }
                    FalStatus::Completed => {
                        let result = client.result(&req).await?;
                        let url = fal::video_url(&result)
                            .ok_or_else(|| ProviderError::malformed("fal", "no video.url"))?;
                        let bytes = download_capped(
                            http.get(url),
                            "fal",
                            MAX_DOWNLOAD_BYTES,
                            Duration::from_secs(300),
                        )
                        .await?;
                        write(out, bytes).await?;
                        Ok(Poll::Ready)
                    }
                }
            }
            Self::Kie { client, http, .. } => match client.record_info(id, key_id).await? {
                VeoState::Generating => Ok(Poll::Pending(Duration::from_secs(15))),
                VeoState::Failed(msg) => Err(ProviderError::new("kie", ErrorClass::Permanent, msg)),
                VeoState::Succeeded(urls) => {
                    let url = urls
                        .first()
                        .ok_or_else(|| ProviderError::malformed("kie", "no result URL"))?;
                    let bytes = download_capped(
                        http.get(url),
                        "kie",
                        MAX_DOWNLOAD_BYTES,
                        Duration::from_secs(300),
                    )
                    .await?;
                    write(out, bytes).await?;
                    Ok(Poll::Ready)
                }
            },
        }
    }
}

async fn write(out: &Path, bytes: Vec<u8>) -> Result<(), ProviderError> {
    tokio::fs::write(out, bytes)
        .await
        .map_err(|e| ProviderError::new("storage", ErrorClass::Transient, e.to_string()))
}

/// Providers per tier, in order of preference.
#[derive(Default)]
pub struct VideoRouter {
    pub tiers: BTreeMap<String, Vec<VideoBackend>>,
}

impl VideoRouter {
    /// Every tier made offline.
    pub fn local() -> Self {
        let mut tiers = BTreeMap::new();
        tiers.insert("fast".to_string(), vec![VideoBackend::Local]);
        tiers.insert("quality".to_string(), vec![VideoBackend::Local]);
        Self { tiers }
    }

    fn backends(&self, tier: &str) -> Result<&[VideoBackend], ProviderError> {
        self.tiers
            .get(tier)
            .map(Vec::as_slice)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                ProviderError::new(
                    "router",
                    ErrorClass::BadUserInput,
                    format!("model tier '{tier}' is not offered"),
                )
            })
    }

    /// Submits to the first provider of the tier that accepts. Refusals of the content or the
    /// input are final (another provider would refuse too); anything else moves on to the next.
    pub async fn submit(
        &self,
        tier: &str,
        r: &VideoRequest<'_>,
        out: &Path,
    ) -> Result<String, ProviderError> {
        let mut last = None;
        for (i, backend) in self.backends(tier)?.iter().enumerate() {
            match backend.submit(r, out).await {
                Ok(id) => return Ok(format!("{i}:{id}")),
                Err(e)
                    if matches!(
                        e.class,
                        ErrorClass::ContentRejected | ErrorClass::BadUserInput
                    ) =>
                {
                    return Err(e)
                }
                Err(e) => {
                    tracing::warn!(tier, provider = backend.name(), error = %e, "provider failed; trying the next one");
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| ProviderError::new("router", ErrorClass::Permanent, "no provider")))
    }

    /// The entry that took the request `saved` (as `submit` returned it).
    pub fn made_by(&self, tier: &str, saved: &str) -> Option<String> {
        let (index, _) = saved.split_once(':')?;
        let i: usize = index.parse().ok()?;
        Some(self.backends(tier).ok()?.get(i)?.entry())
    }

    pub async fn poll(&self, tier: &str, saved: &str, out: &Path) -> Result<Poll, ProviderError> {
        let (index, id) = saved
            .split_once(':')
            .ok_or_else(|| ProviderError::malformed("router", "saved request id"))?;
        let backend = index
            .parse::<usize>()
            .ok()
            .and_then(|i| self.backends(tier).ok()?.get(i))
            .ok_or_else(|| {
                ProviderError::new(
                    "router",
                    ErrorClass::Permanent,
                    "the provider of this request is no longer configured",
                )
            })?;
        backend.poll(id, out).await
    }
}

impl VideoRouter {
    /// The routing the configuration asks for: `PROVIDERS=local` makes every tier offline;
    /// otherwise each tier's providers in order, leaving out those without API keys.
    pub fn from_config(cfg: &crate::config::Config, http: &reqwest::Client) -> Self {
        if cfg.providers == crate::config::Providers::Local {
            return Self::local();
        }
        let keys = |p: &str| cfg.api_keys.get(p).cloned().unwrap_or_default();
        let base = |p: &str| cfg.provider_urls.get(p).map(String::as_str);
        let openai = (!keys("openai").is_empty()).then(|| {
            Arc::new(OpenAiVideo::new(
                http.clone(),
                keys("openai"),
                base("openai"),
            ))
        });
        let kie = (!keys("kie").is_empty())
            .then(|| Arc::new(KieClient::new(http.clone(), keys("kie"), base("kie"))));
        let fal_client = (!keys("fal").is_empty())
            .then(|| Arc::new(FalClient::new(http.clone(), keys("fal"), base("fal"))));
        let mut tiers = BTreeMap::new();
        for (tier, list) in &cfg.video_tiers {
            let backends: Vec<VideoBackend> = list
                .iter()
                .filter_map(|(provider, model)| match provider.as_str() {
                    "openai" => openai.clone().map(|client| VideoBackend::OpenAi {
                        client,
                        model: model.clone(),
                    }),
                    "kie" => kie.clone().map(|client| VideoBackend::Kie {
                        client,
                        model: model.clone(),
                        http: http.clone(),
                    }),
                    "local" => Some(VideoBackend::Local),
                    // `fal:<text endpoint>|<image endpoint>`; one endpoint serves both when no `|`.
                    "fal" => fal_client.clone().map(|client| {
                        let (text, image) = model.split_once('|').unwrap_or((model, model));
                        VideoBackend::Fal {
                            client,
                            text_endpoint: text.to_string(),
                            image_endpoint: image.to_string(),
                            http: http.clone(),
                        }
                    }),
                    _ => None,
                })
                .collect();
            tiers.insert(tier.clone(), backends);
        }
        Self { tiers }
    }

    /// Provider names per tier, for logs and tests.
    pub fn describe(&self) -> BTreeMap<String, Vec<&'static str>> {
        self.tiers
            .iter()
            .map(|(t, b)| (t.clone(), b.iter().map(VideoBackend::name).collect()))
            .collect()
    }
}

/// A provider's request id with the id of the key that made it (`<key id>@<request id>`), so
/// polls and downloads go to the same account.
fn keyed_id(key_id: &str, id: &str) -> String {
    format!("{key_id}@{id}")
}

/// The key id (when saved) and the provider's request id.
fn split_keyed_id(saved: &str) -> (Option<&str>, &str) {
    match saved.split_once('@') {
        Some((key, id)) => (Some(key), id),
        None => (None, saved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Layer};

    #[test]
    fn tiers_skip_providers_without_keys_and_local_mode_needs_none() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let http = reqwest::Client::new();
        let cfg = Config::load(None, env(&[("KIE_API_KEYS", "k1,k2")]), Layer::default()).unwrap();
        let router = VideoRouter::from_config(&cfg, &http);
        assert_eq!(router.describe()["fast"], vec!["kie"]);
        assert_eq!(router.describe()["quality"], vec!["kie"]);
        let cfg = Config::load(None, env(&[("PROVIDERS", "local")]), Layer::default()).unwrap();
        assert_eq!(
            VideoRouter::from_config(&cfg, &http).describe()["fast"],
            vec!["local"]
        );
    }
}
