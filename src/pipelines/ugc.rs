//! `ugc_video`: script → speech → talking head → composed over the user's background (face-
//! centred circle, captions, mixed audio) → delivered. Steps and what they save:
//! `voice` (storage key), `talking_head` (storage key), `output` (storage key, via the 24 h
//! single-flight overlay cache), `generation` (row id), then delivery.
use super::{store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::providers::local;
use crate::providers::{fal, health};
use crate::queue::worker::JobCtx;
use crate::storage::cache;
use crate::storage::ObjectStore;
use base64::Engine;

/// A multilingual ElevenLabs voice used when the user picked none.
const DEFAULT_VOICE: &str = "21m00Tcm4TlvDq8ikWAM";
use std::time::{Duration, Instant};

pub use crate::jobs::UgcParams;

pub async fn run(s: &Services, ctx: &mut JobCtx, p: UgcParams) -> Result<(), StepError> {
    let scratch = Scratch::new(&s.work_dir, ctx.job.id)?;

    let voice_key = match ctx.checkpoints().voice.clone() {
        Some(k) => k,
        None => {
            let key = s.timed("speech", make_voice(s, ctx, &p, &scratch)).await?;
            let stored = key.clone();
            ctx.checkpoint("speech", |c| c.voice = Some(stored)).await?;
            key
        }
    };

    let head_key = match ctx.checkpoints().talking_head.clone() {
        Some(k) => k,
        None => {
            let key = s
                .timed(
                    "talking_head",
                    make_talking_head(s, ctx, &p, &voice_key, &scratch),
                )
                .await?;
            let stored = key.clone();
            ctx.checkpoint("talking_head", |c| c.talking_head = Some(stored))
                .await?;
            key
        }
    };
    if ctx.cancelled() {
        return Err(StepError::Fail(ErrorClass::Permanent, "cancelled".into()));
    }

    let alignment = ctx.checkpoints().alignment.clone();
    let output_key = match ctx.checkpoints().output.clone() {
        Some(k) if !p.force_recompose => k,
        _ => {
            let key = s
                .timed(
                    "composite",
                    composite(
                        s,
                        &p,
                        &head_key,
                        alignment.as_deref(),
                        &scratch,
                        &ctx.cancel,
                    ),
                )
                .await?;
            let stored = key.clone();
            ctx.checkpoint("composite", |c| c.output = Some(stored))
                .await?;
            key
        }
    };

    let kind = ctx.spec_kind();
    super::deliver_output(
        s,
        ctx,
        kind,
        &output_key,
        &thumbnail_key(&output_key),
        &scratch,
    )
    .await
}

/// Speech: ElevenLabs with word timings when configured (the alignment is stored for the
/// captions), espeak-ng otherwise. Returns the stored audio's key.
async fn make_voice(
    s: &Services,
    ctx: &mut JobCtx,
    p: &UgcParams,
    scratch: &Scratch,
) -> Result<String, StepError> {
    if let Some(tts) = &s.remote.tts {
        let voice = p.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        let speech = tts
            .speak_with_timestamps(
                voice,
                &p.script,
                crate::providers::elevenlabs::DEFAULT_MODEL,
            )
            .await?;
        let mp3 = scratch.file("voice.mp3");
        tokio::fs::write(&mp3, &speech.audio)
            .await
            .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?;
        let text = speech.alignment.to_string();
        let alignment_key = format!(
            "alignments/{}.json",
            crate::storage::sha256_hex(text.as_bytes())
        );
        s.storage
            .put_bytes(&alignment_key, text.into_bytes(), "application/json")
            .await?;
        ctx.checkpoint("alignment", |c| c.alignment = Some(alignment_key))
            .await?;
        return store_file(&s.storage, "voices", &mp3, "mp3", "audio/mpeg").await;
    }
    let wav = scratch.file("voice.wav");
    local::speak(&p.script, &p.language, &wav).await?;
    store_file(&s.storage, "voices", &wav, "wav", "audio/wav").await
}

/// Talking head: the `TALKING_HEAD_CHAIN` entries in order (OmniHuman v1.5, Fabric, FlashTalk
/// on fal; the offline animation last). An entry whose breaker is open is skipped; a failure
/// of the provider (at submit, or a failed result) moves the job to the next entry, a refusal
/// of the content or input is final. The entry waited on is checkpointed with its request, so
/// a restarted job polls the same one. Returns the stored video's key.
async fn make_talking_head(
    s: &Services,
    ctx: &mut JobCtx,
    p: &UgcParams,
    voice_key: &str,
    scratch: &Scratch,
) -> Result<String, StepError> {
    let head = scratch.file("head.mp4");
    let chain = if s.remote.talking_heads.is_empty() {
        vec![super::TalkingHeadEntry::local()]
    } else {
        s.remote.talking_heads.clone()
    };
    let start = ctx
        .checkpoints()
        .talking_head_by
        .as_deref()
        .and_then(|by| chain.iter().position(|e| e.name == by))
        .unwrap_or(0);
    let mut last_error = None;
    // The portrait and speech as URLs, made once however many entries are tried.
    let mut media_urls: Option<(String, String)> = None;
    for entry in &chain[start..] {
        let Some((client, model)) = &entry.fal else {
            let (portrait, voice) = (scratch.file("portrait"), scratch.file("voice"));
            s.storage.get_to_file(&p.portrait, &portrait).await?;
            s.storage.get_to_file(voice_key, &voice).await?;
            local::talking_head(&portrait, &voice, &head).await?;
            let by = entry.name.clone();
            ctx.checkpoint("talking_head_by", |c| c.talking_head_by = Some(by))
                .await?;
            return store_file(&s.storage, "heads", &head, "mp4", "video/mp4").await;
        };
        let saved = ctx
            .checkpoints()
            .talking_head_request
            .as_deref()
            .filter(|_| ctx.checkpoints().talking_head_by.as_deref() == Some(entry.name.as_str()))
            .and_then(|r| serde_json::from_str::<fal::FalRequest>(r).ok());
        let request = match saved {
            Some(r) => r,
            None => {
                if health::gate(&s.db, &entry.name).await? == health::Gate::Open {
                    tracing::info!(entry = %entry.name, "skipped: its circuit breaker is open");
                    continue;
                }
                if media_urls.is_none() {
                    media_urls = Some(talking_head_urls(s, p, voice_key).await?);
                }
                let (image_url, audio_url) = media_urls.clone().unwrap_or_default();
                let input = talking_head_input(model, image_url, audio_url);
                ctx.ensure_lease()?;
                let asked = Instant::now();
                match client.submit(model, &input).await {
                    Ok(r) => {
                        let saved = serde_json::to_string(&r).unwrap_or_default();
                        let (now, by) = (crate::db::now_ms(), entry.name.clone());
                        ctx.checkpoint("talking_head_submit", |c| {
                            c.talking_head_request = Some(saved);
                            c.talking_head_by = Some(by);
                            c.submitted_ms.get_or_insert(now);
                        })
                        .await?;
                        r
                    }
                    Err(e) => {
                        provider_failed(s, &entry.name, &e, asked.elapsed()).await?;
                        if !health::moves_on(e.class) {
                            return Err(e.into());
                        }
                        tracing::warn!(entry = %entry.name, error = %e, "talking head: trying the next provider");
                        last_error = Some(StepError::from(e));
                        continue;
                    }
                }
            }
        };
        match client.status(&request).await? {
            fal::FalStatus::InQueue { .. } | fal::FalStatus::InProgress => {
                return Err(StepError::Wait(Duration::from_secs(10)))
            }
            fal::FalStatus::Completed => {}
        }
        let waited = ctx
            .checkpoints()
            .submitted_ms
            .map(|t| Duration::from_millis((crate::db::now_ms() - t).max(0) as u64))
            .unwrap_or_default();
        let made = match client.result(&request).await {
            Ok(result) => match fal::video_url(&result) {
                Some(url) => {
                    client
                        .download(url, 300 * 1024 * 1024, Duration::from_secs(300))
                        .await
                }
                None => Err(crate::providers::ProviderError::malformed(
                    "fal",
                    "no video.url",
                )),
            },
            Err(e) => Err(e),
        };
        match made {
            Ok(bytes) => {
                health::record(&s.db, &entry.name, Ok(()), waited, s.remote.breakers).await?;
                tokio::fs::write(&head, bytes)
                    .await
                    .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?;
                return store_file(&s.storage, "heads", &head, "mp4", "video/mp4").await;
            }
            Err(e) => {
                provider_failed(s, &entry.name, &e, waited).await?;
                if !health::moves_on(e.class) {
                    return Err(e.into());
                }
                tracing::warn!(entry = %entry.name, error = %e, "talking head failed: trying the next provider");
                ctx.checkpoint("talking_head_failed", |c| {
                    c.talking_head_request = None;
                    c.talking_head_by = None;
                })
                .await?;
                last_error = Some(StepError::from(e));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        StepError::Fail(
            ErrorClass::Transient,
            "every talking-head provider is skipped for now (circuit breakers open)".into(),
        )
    }))
}

/// Records a provider's failure for its breaker; when this one opened the breaker the operator
/// is told (once per incident, not per job).
async fn provider_failed(
    s: &Services,
    entry: &str,
    e: &crate::providers::ProviderError,
    took: Duration,
) -> Result<(), StepError> {
    let opened = health::record(&s.db, entry, Err(e.class), took, s.remote.breakers)
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?;
    if opened {
        let minutes = s.remote.breakers.cooldown.as_secs().div_ceil(60);
        s.deliver
            .alert_operator(format!(
                "⚠️ {entry} is failing ({}): skipped for {minutes} min, the next provider in the chain takes its jobs. Last error: {}",
                e.class.name(),
                e.message
            ))
            .await;
    }
    Ok(())
}

/// The portrait and the speech as URLs a provider can fetch.
async fn talking_head_urls(
    s: &Services,
    p: &UgcParams,
    voice_key: &str,
) -> Result<(String, String), StepError> {
    let image_url = fetchable_url(s, &p.portrait, "image/jpeg").await?;
    let audio_mime = if voice_key.ends_with(".mp3") {
        "audio/mpeg"
    } else {
        "audio/wav"
    };
    Ok((image_url, fetchable_url(s, voice_key, audio_mime).await?))
}

/// The documented input of each talking-head model on fal: one portrait and the speech;
/// OmniHuman and Fabric also take the resolution.
fn talking_head_input(model: &str, image_url: String, audio_url: String) -> serde_json::Value {
    let mut input = serde_json::json!({ "image_url": image_url, "audio_url": audio_url });
    if model.contains("omnihuman") || model.starts_with("veed/fabric") {
        input["resolution"] = "720p".into();
    }
    input
}

/// A URL a provider can fetch: presigned from S3, or the bytes inline as a data URI.
async fn fetchable_url(s: &Services, key: &str, mime: &str) -> Result<String, StepError> {
    if let Some(url) = s
        .storage
        .presigned_get(key, Duration::from_secs(3600))
        .await?
    {
        return Ok(url);
    }
    let bytes = s.storage.get_bytes(key).await?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
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
    alignment: Option<&str>,
    scratch: &Scratch,
    cancel: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<String, StepError> {
    let settings = serde_json::json!({ "size": p.size, "position": p.position, "captions": p.captions.then_some(&p.script) });
    let background_key = p.background.as_deref().unwrap_or(head_key);
    let key = cache::cache_key(&[head_key, background_key], &settings);
    // Word timings from the TTS make the captions follow the speech exactly.
    let words = match alignment {
        Some(key) => {
            let bytes = s.storage.get_bytes(key).await?;
            media::parse_word_timings(&String::from_utf8_lossy(&bytes)).ok()
        }
        None => None,
    };
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
            .get_to_file(background_key, &background)
            .await
            .map_err(|e| e.to_string())?;
        let mut req = media::ComposeRequest::new(&background, &head, &out);
        req.circle = p.background.is_some();
        let (w, h) = media::parse_size(&p.size).map_err(|e| e.to_string())?;
        req.width = w;
        req.height = h;
        req.position = p
            .position
            .parse()
            .map_err(|e: media::MediaError| e.to_string())?;
        req.captions = match (p.captions, words) {
            (false, _) => None,
            (true, Some(w)) => Some(media::Captions::Words(w)),
            (true, None) => Some(media::Captions::Script(p.script.clone())),
        };
        // The job's own cancel flag: a cancelled job stops encoding at the next frame.
        let cancel = cancel.clone();
        let report = tokio::task::spawn_blocking(move || media::compose(&req, &|_, _| {}, &cancel))
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
