//! `ugc_video`: script → speech → talking head → composed over the user's background (face-
//! centred circle, captions, mixed audio) → delivered. Steps and what they save:
//! `voice` (storage key), `talking_head` (storage key), `output` (storage key, via the 24 h
//! single-flight overlay cache), `generation` (row id), then delivery.
use super::fal_chain;
use super::{fetchable_url, store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::pricing::Quantity;
use crate::providers::chain::Order;
use crate::providers::{fal, local, speech};
use crate::queue::worker::JobCtx;
use crate::storage::cache;
use crate::storage::ObjectStore;

use std::time::Duration;

pub use crate::jobs::UgcParams;

pub async fn run(
    s: &Services,
    ctx: &mut JobCtx,
    kind: crate::jobs::JobKind,
    p: UgcParams,
) -> Result<(), StepError> {
    let scratch = Scratch::new(&s.work_dir, ctx.job.id)?;
    // The brand's files are read as the composite will read them before the speech and the
    // talking head are bought: a file that cannot be used ends the job with nothing spent.
    if ctx.checkpoints().talking_head.is_none() {
        super::brand::check(s, &p, &scratch).await?;
    }

    let voice_key = match ctx.checkpoints().voice.clone() {
        Some(k) => k,
        None => {
            let key = s
                .timed(crate::jobs::Step::Speech, make_voice(s, ctx, &p, &scratch))
                .await?;
            let stored = key.clone();
            ctx.checkpoint(crate::jobs::Step::Speech, |c| c.voice = Some(stored))
                .await?;
            key
        }
    };

    let head_key = match ctx.checkpoints().talking_head.clone() {
        Some(k) => k,
        None => {
            settle_speech(s, ctx, &p).await?;
            let key = s
                .timed(
                    crate::jobs::Step::TalkingHead,
                    make_talking_head(s, ctx, &p, &voice_key, &scratch),
                )
                .await?;
            let stored = key.clone();
            ctx.checkpoint(crate::jobs::Step::TalkingHead, |c| {
                c.talking_head = Some(stored)
            })
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
                    crate::jobs::Step::Composite,
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
            ctx.checkpoint(crate::jobs::Step::Composite, |c| c.output = Some(stored))
                .await?;
            key
        }
    };

    let more = p.more_output_keys(&output_key);
    super::deliver_output(
        s,
        ctx,
        kind,
        (&output_key, &thumbnail_key(&output_key)),
        &more,
        &scratch,
    )
    .await
}

/// Speech through the `TTS_CHAIN` (ElevenLabs with word timings, OpenAI, espeak-ng): the
/// alignment, when there is one, is stored for the captions; a stand-in voice is noted for
/// the progress message. Returns the stored audio's key.
async fn make_voice(
    s: &Services,
    ctx: &mut JobCtx,
    p: &UgcParams,
    scratch: &Scratch,
) -> Result<String, StepError> {
    let wish = speech::Wish {
        voice: p.voice.as_deref().or_else(|| {
            // An offline voice travels in `language` (`ru+f3`).
            p.language.contains('+').then_some(p.language.as_str())
        }),
        gender: p.voice_gender,
        language: &p.language,
    };
    let order = Order {
        price_tokens: ctx.job.cost_tokens,
        spent_kzt: ctx.checkpoints().spent_kzt.unwrap_or(0.0),
    };
    let mut alerts = Vec::new();
    ctx.ensure_lease()?;
    let spoken = speech::speak(
        &s.remote.speech,
        &s.db,
        &p.script,
        wish,
        Some(order),
        &scratch.0,
        &mut alerts,
    )
    .await;
    for alert in alerts {
        s.deliver.alert_operator(alert).await;
    }
    let spoken = spoken?;
    let file = scratch.file(&format!("voice.{}", spoken.ext));
    tokio::fs::write(&file, &spoken.audio)
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?;
    let alignment_key = match &spoken.alignment {
        Some(alignment) => {
            let text = alignment.to_string();
            let key = format!(
                "alignments/{}.json",
                crate::storage::sha256_hex(text.as_bytes())
            );
            s.storage
                .put_bytes(&key, text.into_bytes(), "application/json")
                .await?;
            Some(key)
        }
        None => None,
    };
    let key = store_file(&s.storage, "voices", &file, spoken.ext, spoken.mime()).await?;
    let measured = file.clone();
    let seconds =
        tokio::task::spawn_blocking(move || media::probe(&measured).map(|i| i.duration_s))
            .await
            .ok()
            .and_then(Result::ok)
            .filter(|s| s.is_finite() && *s > 0.0);
    let (by, note, cost) = (spoken.by, spoken.substitute, spoken.cost_kzt);
    ctx.checkpoint(crate::jobs::Step::SpeechBy, |c| {
        c.speech_seconds = seconds;
        c.alignment = alignment_key;
        c.speech_by = Some(by);
        c.voice_note = note;
        c.spent_kzt = Some(c.spent_kzt.unwrap_or(0.0) + cost);
    })
    .await?;
    Ok(key)
}

/// Settles the price on the speech that was made, before the talking head is bought (see
/// [`crate::orders::price`]): a shorter speech than quoted gives the rest back in one ledger
/// step, a speech more than 10 % longer than quoted is refused (the job fails as bad input and
/// is refunded), within that the quote stands. Idempotent: a retry settles nothing twice.
async fn settle_speech(s: &Services, ctx: &mut JobCtx, p: &UgcParams) -> Result<(), StepError> {
    // Only a price quoted from the script settles (the bot's is the previewed speech's).
    let Some(quoted) = ctx.checkpoints().quoted_speech_seconds else {
        return Ok(());
    };
    let Some(seconds) = ctx.checkpoints().speech_seconds else {
        // Unmeasured, the head could be bought for any length: refused and refunded.
        return Err(StepError::Fail(
            ErrorClass::Permanent,
            "the speech's length could not be measured".into(),
        ));
    };
    let prices = s
        .remote
        .policy
        .prices
        .clone()
        .unwrap_or_else(|| std::sync::Arc::new(crate::pricing::PriceTable::default_table()));
    match crate::orders::settle_speech(
        &prices,
        ctx.job.cost_tokens,
        (quoted, seconds),
        p,
    ) {
        crate::orders::Settlement::Keep => Ok(()),
        crate::orders::Settlement::Lower { tokens } => {
            let back = ctx.job.cost_tokens - tokens;
            crate::db::jobs::lower_price(&s.db, &ctx.job, tokens).await?;
            tracing::info!(
                job_id = ctx.job.id,
                speech_s = seconds,
                price = tokens,
                refunded = back,
                "price settled on the speech"
            );
            ctx.job.cost_tokens = tokens;
            Ok(())
        }
        crate::orders::Settlement::Refuse {
            quoted_tokens,
            needed_tokens,
        } => Err(StepError::Fail(
            ErrorClass::BadUserInput,
            format!(
                "the speech runs {seconds:.1} s and would cost {needed_tokens} tokens, more than 10 % over the {quoted_tokens} quoted from the script; shorten the script or write numbers and abbreviations out"
            ),
        )),
    }
}

/// Talking head through the `TALKING_HEAD_CHAIN` (OmniHuman v1.5, Fabric, FlashTalk on fal;
/// the offline animation last), see [`fal_chain`]. Returns the stored video's key.
async fn make_talking_head(
    s: &Services,
    ctx: &mut JobCtx,
    p: &UgcParams,
    voice_key: &str,
    scratch: &Scratch,
) -> Result<String, StepError> {
    let head = scratch.file("head.mp4");
    let (portrait, voice) = (scratch.file("portrait"), scratch.file("voice"));
    s.storage.get_to_file(voice_key, &voice).await?;
    // The speech's length prices each entry; estimated from the script when it cannot be read.
    let v = voice.clone();
    let seconds = tokio::task::spawn_blocking(move || media::probe(&v).map(|i| i.duration_s))
        .await
        .ok()
        .and_then(Result::ok)
        .filter(|s| *s > 0.0)
        .unwrap_or(p.script.chars().count() as f64 / 15.0);
    let chain = tier_chain(s, p);
    let step = fal_chain::FalStep {
        slot: fal_chain::Slot::TalkingHead,
        chain: &chain,
        quantity: Quantity::Seconds(seconds),
        input: talking_head_input,
        output_url: |r| fal::video_url(r),
        max_bytes: 300 * 1024 * 1024,
        download_timeout: Duration::from_secs(300),
        poll: Duration::from_secs(10),
    };
    let made = fal_chain::run(s, ctx, step, async || {
        let (image_url, audio_url) = talking_head_urls(s, p, voice_key).await?;
        Ok(serde_json::json!({ "image_url": image_url, "audio_url": audio_url }))
    })
    .await?;
    match made.bytes {
        Some(bytes) => tokio::fs::write(&head, bytes)
            .await
            .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?,
        None => {
            s.storage.get_to_file(&p.portrait, &portrait).await?;
            local::talking_head(&portrait, &voice, &head).await?;
        }
    }
    store_file(&s.storage, "heads", &head, "mp4", "video/mp4").await
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
fn talking_head_input(model: &str, common: &serde_json::Value) -> serde_json::Value {
    let mut input = common.clone();
    if model.contains("omnihuman") || model.starts_with("veed/fabric") {
        input["resolution"] = "720p".into();
    }
    input
}

/// The fields of a UGC spec that do not change its composite once the speech and the head are
/// made (they are in the cache key's files, or only choose how the speech is made).
const NOT_IN_THE_COMPOSITE: [&str; 8] = [
    "variant",
    "portrait",
    "background",
    "language",
    "voice",
    "voice_gender",
    "force_recompose",
    "kind",
];

/// What the composite is made from besides its files: the serialized spec less
/// [`NOT_IN_THE_COMPOSITE`], so every layout field (and any added later) is in the cache key.
fn composite_settings(p: &UgcParams) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for field in NOT_IN_THE_COMPOSITE {
            o.remove(field);
        }
        // The script is drawn only as captions.
        if !p.layout.captions {
            o.remove("script");
        }
    }
    v
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
    let background_key = p.background.as_deref().unwrap_or(head_key);
    let key = cache::cache_key(&[head_key, background_key], &composite_settings(p));
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
        s.storage.get_to_file(head_key, &head).await?;
        s.storage.get_to_file(background_key, &background).await?;
        let mut req = media::ComposeRequest::new(&background, &head, &out);
        req.circle = p.background.is_some();
        if p.background.is_some() {
            req.background_start_s = p.layout.background_start_s();
        }
        let (w, h) = media::parse_size(&p.size).map_err(composite_error)?;
        req.width = w;
        req.height = h;
        // The same placement the order was checked with and the preview drew.
        let placed = p.layout.place(w, h).map_err(composite_error)?;
        req.position = placed.position;
        req.diameter = Some(placed.diameter);
        req.ring = placed.ring;
        req.caption_style = placed.caption_style;
        req.safe_zone = placed.safe_zone;
        super::brand::into_request(s, p, &mut req, scratch).await?;
        // More formats in the same pass, each placed as the rules checked it.
        for (format, fw, fh) in p.layout.more_outputs((w, h)) {
            let placed = p
                .layout
                .place_format((w, h), fw, fh)
                .map_err(composite_error)?;
            req.more_outputs.push(media::OutputFormat {
                width: fw,
                height: fh,
                position: placed.position,
                diameter: Some(placed.diameter),
                output: scratch.file(&format!("composite-{}.mp4", format.replace(':', "x"))),
                thumbnail: None,
            });
        }
        req.captions = match (p.layout.captions, words) {
            (false, _) => None,
            (true, Some(w)) => Some(media::Captions::Words(w)),
            (true, None) => Some(media::Captions::Script(p.script.clone())),
        };
        // The job's own cancel flag: a cancelled job stops encoding at the next frame.
        let cancel = cancel.clone();
        let report = tokio::task::spawn_blocking(move || media::compose(&req, &|_, _| {}, &cancel))
            .await
            .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?
            .map_err(composite_error)?;
        tracing::info!(
            size_bytes = report.size_bytes,
            passes = report.passes,
            encoder = report.encoder,
            decoder = %report.decoder,
            "composed"
        );
        let out_key = store_file(&s.storage, "outputs", &report.output, "mp4", "video/mp4").await?;
        s.storage
            .put_file(&thumbnail_key(&out_key), &report.thumbnail, "image/jpeg")
            .await?;
        for more in &report.more_outputs {
            let key = crate::jobs::layout::more_output_key(&out_key, more.width, more.height);
            s.storage.put_file(&key, &more.output, "video/mp4").await?;
        }
        Ok::<String, StepError>(out_key)
    };
    match cache::get_or_build(
        &s.db,
        &key,
        &s.worker_name,
        cache::DEFAULT_TTL,
        Duration::from_secs(600),
        p.force_recompose,
        build,
    )
    .await
    {
        Ok(built) => built,
        Err(cache) => Err(StepError::Fail(ErrorClass::Transient, cache.to_string())),
    }
}

/// The talking-head chain of the order's tier: the entries whose per-second cost is at most
/// its own entry's (a cheaper tier never falls back to a dearer model; ALLOW_LOSS_FALLBACK
/// does not widen it), in the chain's order, with the offline way. The first tier, or a table
/// without costs, keeps the whole chain.
fn tier_chain(s: &Services, p: &UgcParams) -> Vec<fal_chain::ChainEntry> {
    let chain = &s.remote.talking_heads;
    let Some(prices) = s.remote.policy.prices.as_ref() else {
        return chain.clone();
    };
    let tiers = prices.head_tiers();
    let tier = match p.head_tier.as_deref() {
        Some(name) => tiers.iter().position(|t| t.name == name),
        None => Some(0),
    };
    // A tier this worker's table does not know (another table than the one that priced the
    // order): only the offline way, never a model dearer than what was paid.
    let Some(i) = tier else {
        return vec![fal_chain::ChainEntry::local()];
    };
    let Some(first) = tiers.first() else {
        return chain.clone();
    };
    if i == 0 || first.entry.is_empty() {
        return chain.clone();
    }
    let per_second = |entry: &str| prices.entry_cost_kzt(entry, Quantity::Seconds(1.0));
    let Some(ceiling) = per_second(&tiers[i].entry) else {
        return vec![fal_chain::ChainEntry::local()];
    };
    chain
        .iter()
        .filter(|e| e.fal.is_none() || per_second(&e.name).is_some_and(|c| c <= ceiling + 1e-9))
        .cloned()
        .collect()
}

/// A media error of the composite by its type: the user's file or a value that cannot be
/// used is bad input (the message says which file and why), anything else is retried.
pub(super) fn composite_error(e: media::MediaError) -> StepError {
    if e.is_bad_input() {
        StepError::Fail(ErrorClass::BadUserInput, e.to_string())
    } else {
        StepError::Fail(ErrorClass::Transient, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> UgcParams {
        serde_json::from_value(serde_json::json!({
            "portrait": "p.jpg", "background": "b.mp4", "script": "Hello there"
        }))
        .unwrap()
    }

    fn key(p: &UgcParams) -> String {
        cache::cache_key(&["head", "bg"], &composite_settings(p))
    }

    #[test]
    fn every_layout_field_is_in_the_cache_key() {
        let base = params();
        type Change = (&'static str, fn(&mut UgcParams));
        let changes: [Change; 8] = [
            ("size", |p| p.size = "1080x1920".into()),
            ("position", |p| p.layout.position = "top-right".into()),
            ("circle_size", |p| p.layout.circle_size = Some("l".into())),
            ("ring", |p| p.layout.ring = true),
            ("captions", |p| p.layout.captions = false),
            ("caption_style", |p| {
                p.layout.caption_style = media::CaptionStyle::BoldPop
            }),
            ("safe_zone", |p| {
                p.layout.safe_zone = media::SafeZone::Tiktok
            }),
            ("script", |p| p.script = "Another line".into()),
        ];
        for (field, change) in changes {
            let mut p = base.clone();
            change(&mut p);
            assert_ne!(key(&p), key(&base), "{field} must change the cache key");
        }
        // A new field of the spec is in the key unless it is named as not drawn: every
        // serialized field is either in the settings or in NOT_IN_THE_COMPOSITE.
        let mut all = base.clone();
        all.voice_gender = Some(crate::providers::speech::Gender::Female);
        all.layout.circle_size = Some("s".into());
        let fields = serde_json::to_value(&all).unwrap();
        let settings = composite_settings(&all);
        for name in fields.as_object().unwrap().keys() {
            assert!(
                settings.get(name).is_some() || NOT_IN_THE_COMPOSITE.contains(&name.as_str()),
                "{name} is neither in the cache key nor named as not drawn"
            );
        }
        // What only chooses the speech does not miss the cache.
        let mut voice = base.clone();
        voice.voice = Some("openai:coral".into());
        assert_eq!(key(&voice), key(&base));
    }
}
