//! `ugc_video`: script → speech → talking head → composed over the user's background (face-
//! centred circle, captions, mixed audio) → delivered. Steps and what they save:
//! `voice` (storage key), `talking_head` (storage key), `output` (storage key, via the 24 h
//! single-flight overlay cache), `generation` (row id), then delivery.
use super::{store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::providers::local;
use crate::queue::worker::JobCtx;
use crate::storage::cache;
use crate::storage::ObjectStore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UgcParams {
    /// Storage key of the character portrait.
    pub portrait: String,
    /// Storage key of the user's background clip.
    pub background: String,
    pub script: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default = "yes")]
    pub captions: bool,
    #[serde(default = "default_size")]
    pub size: String,
    #[serde(default = "default_position")]
    pub position: String,
    /// `/overlay`: make the composite again even if a cached one exists.
    #[serde(default)]
    pub force_recompose: bool,
}

fn default_language() -> String {
    "ru".into()
}
fn yes() -> bool {
    true
}
fn default_size() -> String {
    "720x1280".into()
}
fn default_position() -> String {
    "bottom-left".into()
}

fn bad(e: impl std::fmt::Display) -> StepError {
    StepError::Fail(ErrorClass::BadUserInput, e.to_string())
}

pub async fn run(s: &Services, ctx: &mut JobCtx) -> Result<(), StepError> {
    let p: UgcParams = serde_json::from_value(ctx.job.params_json())
        .map_err(|e| bad(format!("job parameters: {e}")))?;
    let scratch = Scratch::new(&s.work_dir, ctx.job.id)?;

    let voice_key = match ctx.provider_id("voice") {
        Some(k) => k,
        None => {
            let wav = scratch.file("voice.wav");
            local::speak(&p.script, &p.language, &wav).await?;
            let key = store_file(&s.storage, "voices", &wav, "wav", "audio/wav").await?;
            ctx.save_provider_id("voice", &key).await?;
            key
        }
    };

    let head_key = match ctx.provider_id("talking_head") {
        Some(k) => k,
        None => {
            let (portrait, voice, head) = (
                scratch.file("portrait"),
                scratch.file("voice.wav"),
                scratch.file("head.mp4"),
            );
            s.storage.get_to_file(&p.portrait, &portrait).await?;
            s.storage.get_to_file(&voice_key, &voice).await?;
            local::talking_head(&portrait, &voice, &head).await?;
            let key = store_file(&s.storage, "heads", &head, "mp4", "video/mp4").await?;
            ctx.save_provider_id("talking_head", &key).await?;
            key
        }
    };
    if ctx.cancelled() {
        return Err(StepError::Fail(ErrorClass::Permanent, "cancelled".into()));
    }

    let output_key = match ctx.provider_id("output") {
        Some(k) if !p.force_recompose => k,
        _ => {
            let key = composite(s, &p, &head_key, &scratch).await?;
            ctx.save_provider_id("output", &key).await?;
            key
        }
    };

    super::deliver_output(
        s,
        ctx,
        "ugc_video",
        &output_key,
        &thumbnail_key(&output_key),
        &scratch,
    )
    .await
}

fn thumbnail_key(output_key: &str) -> String {
    format!("{output_key}.jpg")
}

/// The composite through the overlay cache: one worker builds a given head × background ×
/// parameters, the others reuse it for 24 h.
async fn composite(
    s: &Services,
    p: &UgcParams,
    head_key: &str,
    scratch: &Scratch,
) -> Result<String, StepError> {
    let settings = serde_json::json!({ "size": p.size, "position": p.position, "captions": p.captions.then_some(&p.script) });
    let key = cache::cache_key(&[head_key, &p.background], &settings);
    let build = || async {
        let (head, background, out) = (
            scratch.file("head.mp4"),
            scratch.file("background"),
            scratch.file("composite.mp4"),
        );
        s.storage
            .get_to_file(head_key, &head)
            .await
            .map_err(|e| e.to_string())?;
        s.storage
            .get_to_file(&p.background, &background)
            .await
            .map_err(|e| e.to_string())?;
        let mut req = media::ComposeRequest::new(&background, &head, &out);
        let (w, h) = media::layout::parse_size(&p.size).map_err(|e| e.to_string())?;
        req.width = w;
        req.height = h;
        req.position = p
            .position
            .parse()
            .map_err(|e: media::MediaError| e.to_string())?;
        req.captions = p
            .captions
            .then(|| media::Captions::Script(p.script.clone()));
        let report = tokio::task::spawn_blocking(move || {
            media::compose(&req, &|_, _| {}, &std::sync::atomic::AtomicBool::new(false))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let out_key = store_file(&s.storage, "outputs", &report.output, "mp4", "video/mp4")
            .await
            .map_err(|e| format!("{e:?}"))?;
        s.storage
            .put_file(&thumbnail_key(&out_key), &report.thumbnail, "image/jpeg")
            .await
            .map_err(|e| e.to_string())?;
        Ok(out_key)
    };
    cache::get_or_build(
        &s.db,
        &key,
        &s.worker_name,
        cache::DEFAULT_TTL,
        Duration::from_secs(600),
        p.force_recompose,
        build,
    )
    .await
    .map_err(|e| match e {
        // The user's background is the usual culprit; the message says which file and why.
        cache::CacheError::Build(msg) if msg.contains(": the file ") => {
            StepError::Fail(ErrorClass::BadUserInput, msg)
        }
        other => StepError::Fail(ErrorClass::Transient, other.to_string()),
    })
}
