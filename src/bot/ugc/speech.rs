//! The UGC script and its speech preview: the script is spoken (ElevenLabs with word timings,
//! or espeak-ng offline) before the user pays, the price follows the speech's length, and the
//! previewed speech is carried into the job so it is not paid twice.
use super::catalogue::send_speech;
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{Callback, UgcButton};
use crate::bot::dialogue::Dialogue;
use crate::jobs::UgcParams;
use crate::storage::ObjectStore;

pub use crate::orders::MAX_SCRIPT_CHARS;

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
        .within_limit(crate::bot::rate_limit::Action::SpeechPreview)
        .await?
    {
        return Ok(());
    }
    let Some(carried) = preview(ctx, &voice, None, text).await? else {
        return Ok(());
    };
    let seconds = carried.speech_seconds.unwrap_or(1.0);
    let price = crate::orders::price::ugc_tokens(&ctx.app.prices, seconds);
    let state = Dialogue::UgcConfirm {
        background,
        character,
        voice: voice.clone(),
        script: text.to_string(),
        speech: Some(carried.to_json()),
        price,
        layout: crate::bot::dialogue::LayoutDraft::default(),
        head_tier: None,
        versions: Vec::new(),
        draft: None,
        made_job: None,
    };
    ctx.save(&state).await?;
    // The free layout still: the final frame before anything is paid.
    if let Err(e) = super::layout::show(ctx, &state, None).await {
        tracing::warn!(user_id = ctx.user, error = %e, "layout preview failed");
    }
    // Variants picked with the script are ordered with it: the total covers them all.
    let variants = crate::db::products::picked_variants(&ctx.app.db, ctx.user).await?;
    let total = super::order::total_price(ctx, &state).await?;
    let mut text = ctx.t(
        "ugc.confirm",
        &[("seconds", &format!("{seconds:.0}")), ("price", &total)],
    );
    if !variants.is_empty() {
        let letters = ["A", "B", "C"][..=variants.len().min(2)].join(" + ");
        text.push_str("\n\n");
        text.push_str(&ctx.t(
            "ugc.variants",
            &[("letters", &letters), ("count", &(variants.len() + 1))],
        ));
    }
    ctx.say_with(text, confirm_keyboard(ctx, &state).await?)
        .await
}

/// The script spoken now as a preview with `voice` (in `language`, or the voice's own), kept
/// for the job that will carry it: its audio, word timings, length and cost. `None` when it
/// could not be made (the user was told).
pub async fn preview(
    ctx: &Ctx<'_>,
    voice: &str,
    language: Option<&str>,
    text: &str,
) -> Result<Option<crate::jobs::Checkpoints>, HandlerError> {
    ctx.say(ctx.t("ugc.preview_wait", &[])).await?;
    let spoken = match speak_preview(ctx, voice, language, text).await {
        Ok(spoken) => spoken,
        Err(e) => {
            tracing::warn!(user_id = ctx.user, error = %e, "speech preview failed");
            ctx.say(ctx.t("ugc.preview_failed", &[])).await?;
            return Ok(None);
        }
    };
    let mut carried = crate::jobs::Checkpoints::default();
    if let Some(alignment) = &spoken.alignment {
        let alignment = alignment.to_string();
        let key = format!(
            "alignments/{}.json",
            crate::storage::sha256_hex(alignment.as_bytes())
        );
        let bytes = alignment.len() as i64;
        ctx.app
            .storage
            .put_bytes(&key, alignment.into_bytes(), "application/json")
            .await?;
        keep_preview(ctx, &key).await?;
        crate::db::api::record_bot_upload(&ctx.app.db, ctx.user, &key, "application/json", bytes)
            .await?;
        carried.alignment = Some(key);
    }
    std::fs::create_dir_all(&ctx.app.work_dir)?;
    let path = ctx.app.work_dir.join(format!(
        "{}-{}-speech.{}",
        ctx.user,
        crate::db::now_ms(),
        spoken.ext
    ));
    tokio::fs::write(&path, &spoken.audio).await?;
    let p = path.clone();
    let seconds =
        tokio::task::spawn_blocking(move || media::probe(&p).map(|i| i.duration_s)).await??;
    let key =
        crate::pipelines::store_file(&ctx.app.storage, "voices", &path, spoken.ext, spoken.mime())
            .await
            .map_err(|e| format!("{e:?}"))?;
    keep_preview(ctx, &key).await?;
    crate::bot::uploads::record(ctx, &key, spoken.mime(), &path).await?;
    carried.voice = Some(key);
    carried.speech_seconds = Some(seconds);
    carried.speech_by = Some(spoken.by.clone());
    carried.voice_note = spoken.substitute.clone();
    carried.spent_kzt = (spoken.cost_kzt > 0.0).then_some(spoken.cost_kzt);
    send_speech(ctx, &path, &ctx.t("ugc.preview_caption", &[])).await?;
    let _ = std::fs::remove_file(&path);
    Ok(Some(carried))
}

/// A preview lives as long as cached composites unless the user orders with it (the job
/// carries it then).
async fn keep_preview(ctx: &Ctx<'_>, key: &str) -> HandlerResult {
    crate::storage::cache::keep_for(&ctx.app.db, key, crate::storage::cache::DEFAULT_TTL)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The script spoken through the speech chain with the chosen voice (ElevenLabs with word
/// timings, OpenAI, espeak-ng offline). A stand-in voice is said in the chat.
async fn speak_preview(
    ctx: &Ctx<'_>,
    voice: &str,
    language: Option<&str>,
    text: &str,
) -> Result<crate::providers::speech::Spoken, HandlerError> {
    let wish = crate::providers::speech::Wish {
        voice: Some(voice),
        gender: gender_of(ctx, voice),
        language: match language {
            Some(language) => language,
            None if is_offline_voice(voice) => voice,
            None => ctx.lang.code(),
        },
    };
    let mut alerts = Vec::new();
    let spoken = crate::providers::speech::speak(
        &ctx.app.speech,
        &ctx.app.db,
        text,
        wish,
        None,
        &ctx.app.work_dir,
        &mut alerts,
    )
    .await;
    if let Some(deliver) = &ctx.app.alerts {
        for alert in alerts {
            deliver.alert_operator(alert).await;
        }
    }
    let spoken = spoken?;
    if let Some(stand_in) = &spoken.substitute {
        ctx.say(ctx.t("ugc.voice_substitute", &[("voice", stand_in)]))
            .await?;
    }
    Ok(spoken)
}

/// How the chosen voice sounds: from the gallery's labels, or the espeak-ng variant.
pub fn gender_of(ctx: &Ctx<'_>, voice: &str) -> Option<crate::providers::speech::Gender> {
    ctx.app
        .voice_genders
        .lock()
        .ok()
        .and_then(|g| g.get(voice).copied())
        .or_else(|| crate::providers::speech::Gender::of_espeak_voice(voice))
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

/// The confirmation's buttons: order at the total (the price rides on the button, so an
/// older button never orders at a price it did not show), the talking head's tiers with
/// their totals, change the script, cancel.
pub async fn confirm_keyboard(
    ctx: &Ctx<'_>,
    state: &Dialogue,
) -> Result<teloxide::types::InlineKeyboardMarkup, HandlerError> {
    let Dialogue::UgcConfirm {
        voice,
        head_tier,
        made_job,
        ..
    } = state
    else {
        return Ok(keyboard(Vec::new()));
    };
    let total = super::order::total_price(ctx, state).await?;
    let tiers = ctx.app.prices.head_tiers();
    let mut tier_row = Vec::new();
    for (i, t) in tiers.iter().enumerate() {
        let mut at = state.clone();
        if let Dialogue::UgcConfirm { head_tier, .. } = &mut at {
            *head_tier = Some(t.name.clone());
        }
        let price = super::order::total_price(ctx, &at).await?;
        let chosen = head_tier.as_deref().map_or(i == 0, |h| h == t.name);
        let name = ctx.t(&format!("ugc.tier.{}", t.name), &[]);
        let label = ctx.t("ugc.tier_button", &[("tier", &name), ("price", &price)]);
        tier_row.push((
            if chosen {
                format!("• {label}")
            } else {
                label
            },
            Callback::Ugc(UgcButton::HeadTier(t.name.clone())).data(),
        ));
    }
    let mut rows = Vec::new();
    if total > 0 {
        rows.push(row(&[(
            ctx.t("ugc.go", &[("price", &total)]),
            Callback::Ugc(UgcButton::Go(Some(total))).data(),
        )]));
    }
    // A finished video's versions keep its tier and script.
    if made_job.is_some() {
        rows.push(row(&super::versions::language_row(ctx, state)));
        rows.push(row(&[
            ctx.button("flow.cancel", Callback::CancelFlow.data())
        ]));
        return Ok(keyboard(rows));
    }
    if tiers.len() > 1 {
        rows.push(row(&tier_row));
    }
    rows.push(row(&super::versions::language_row(ctx, state)));
    rows.push(row(&[
        ctx.button(
            "ugc.change_script",
            Callback::Ugc(UgcButton::Voice(voice.to_string())).data(),
        ),
        ctx.button("flow.cancel", Callback::CancelFlow.data()),
    ]));
    Ok(keyboard(rows))
}
