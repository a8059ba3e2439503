//! The UGC script and its speech preview: the script is spoken (ElevenLabs with word timings,
//! or espeak-ng offline) before the user pays, the price follows the speech's length, and the
//! previewed speech is carried into the job so it is not paid twice.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, UgcButton};
use super::dialogue::Dialogue;
use super::ugc_catalogue::{send_speech, speak_offline};
use crate::jobs::UgcParams;
use crate::storage::ObjectStore;

/// The longest script (characters) a UGC video takes.
pub const MAX_SCRIPT_CHARS: usize = 300;

fn ugc_price(ctx: &Ctx<'_>, seconds: f64) -> i64 {
    ctx.app
        .prices
        .talking_head_tokens(seconds.ceil().max(1.0) as u32)
        + ctx.app.prices.compose.tokens
}

/// The script: spoken now as a preview (kept for the job), then the price and "confirm".
pub async fn script(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    voice: String,
    text: &str,
) -> HandlerResult {
    let count = text.chars().count();
    if count > MAX_SCRIPT_CHARS {
        return ctx
            .say(ctx.t(
                "ugc.script_too_long",
                &[("count", &count), ("limit", &MAX_SCRIPT_CHARS)],
            ))
            .await;
    }
    if !ctx
        .within_limit(super::rate_limit::Action::SpeechPreview)
        .await?
    {
        return Ok(());
    }
    ctx.say(ctx.t("ugc.preview_wait", &[])).await?;
    let (path, alignment) = match speak_preview(ctx, &voice, text).await {
        Ok(spoken) => spoken,
        Err(e) => {
            tracing::warn!(user_id = ctx.user, error = %e, "speech preview failed");
            return ctx.say(ctx.t("ugc.preview_failed", &[])).await;
        }
    };
    let mut carried = crate::jobs::Checkpoints::default();
    if let Some(alignment) = alignment {
        let key = format!(
            "alignments/{}.json",
            crate::storage::sha256_hex(alignment.as_bytes())
        );
        ctx.app
            .storage
            .put_bytes(&key, alignment.into_bytes(), "application/json")
            .await?;
        keep_preview(ctx, &key).await?;
        carried.alignment = Some(key);
    }
    let p = path.clone();
    let seconds =
        tokio::task::spawn_blocking(move || media::probe(&p).map(|i| i.duration_s)).await??;
    let (ext, mime) = if path.extension().is_some_and(|e| e == "mp3") {
        ("mp3", "audio/mpeg")
    } else {
        ("wav", "audio/wav")
    };
    let key = crate::pipelines::store_file(&ctx.app.storage, "voices", &path, ext, mime)
        .await
        .map_err(|e| format!("{e:?}"))?;
    keep_preview(ctx, &key).await?;
    carried.voice = Some(key);
    send_speech(ctx, &path, &ctx.t("ugc.preview_caption", &[])).await?;
    let _ = std::fs::remove_file(&path);
    let price = ugc_price(ctx, seconds);
    ctx.save(&Dialogue::UgcConfirm {
        background,
        character,
        voice: voice.clone(),
        script: text.to_string(),
        speech: Some(carried.to_json()),
        price,
    })
    .await?;
    ctx.say_with(
        ctx.t(
            "ugc.confirm",
            &[("seconds", &format!("{seconds:.0}")), ("price", &price)],
        ),
        keyboard(vec![
            row(&[(
                ctx.t("ugc.go", &[("price", &price)]),
                Callback::Ugc(UgcButton::Go).data(),
            )]),
            row(&[
                ctx.button(
                    "ugc.change_script",
                    Callback::Ugc(UgcButton::Voice(voice.clone())).data(),
                ),
                ctx.button("flow.cancel", Callback::CancelFlow.data()),
            ]),
        ]),
    )
    .await
}

/// A preview lives as long as cached composites unless the user orders with it (the job
/// carries it then).
async fn keep_preview(ctx: &Ctx<'_>, key: &str) -> HandlerResult {
    crate::storage::cache::keep_for(&ctx.app.db, key, crate::storage::cache::DEFAULT_TTL)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The script spoken with the chosen voice: ElevenLabs (MP3 + word timings) for its voices,
/// espeak-ng (WAV) for the offline ones. Returns the audio file and the alignment JSON.
async fn speak_preview(
    ctx: &Ctx<'_>,
    voice: &str,
    text: &str,
) -> Result<(std::path::PathBuf, Option<String>), HandlerError> {
    match &ctx.app.tts {
        Some(tts) if !is_offline_voice(voice) => {
            let speech = tts
                .speak_with_timestamps(voice, text, crate::providers::elevenlabs::DEFAULT_MODEL)
                .await?;
            std::fs::create_dir_all(&ctx.app.work_dir)?;
            let path =
                ctx.app
                    .work_dir
                    .join(format!("{}-{}-speech.mp3", ctx.user, crate::db::now_ms()));
            tokio::fs::write(&path, &speech.audio).await?;
            Ok((path, Some(speech.alignment.to_string())))
        }
        _ => Ok((speak_offline(ctx, text, voice).await?, None)),
    }
}

/// The voice a `ugc_video` job was made with: its ElevenLabs id, or the espeak-ng voice kept
/// in `language` for offline speech.
pub fn voice_of(params: &UgcParams) -> String {
    params
        .voice
        .clone()
        .unwrap_or_else(|| params.language.clone())
}

/// espeak-ng voices look like `ru+f3`; ElevenLabs ids never contain `+`.
pub fn is_offline_voice(voice: &str) -> bool {
    voice.contains('+')
}
