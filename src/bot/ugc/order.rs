//! "Create" on the UGC confirmation (the chat's button and the composer's main button): the
//! total it shows, and the jobs a confirmed draft orders — the main video, its hook variants
//! and its language versions — through the ordering service at that total, each previewed
//! speech carried so it is not paid twice.
use super::speech::is_offline_voice;
use crate::bot::app::{BotOrder, Ctx, HandlerError, HandlerResult};
use crate::bot::dialogue::Dialogue;
use crate::jobs::{Checkpoints, JobSpec, UgcParams};
use teloxide::prelude::*;
use teloxide::types::MessageId;

/// Orders the confirmed draft `state` at the price the pressed button showed (`shown`), or
/// shows the current one. The draft is taken first, so a second press orders nothing.
pub async fn order(
    ctx: &Ctx<'_>,
    state: Dialogue,
    shown: Option<i64>,
    message: Option<MessageId>,
) -> HandlerResult {
    // The formats or tier chosen since this button was sent changed the price: never order
    // at a price the pressed button did not show.
    let total = total_price(ctx, &state).await?;
    if shown != Some(total) {
        return ctx
            .say_with(
                ctx.t("ugc.price_changed", &[("price", &total)]),
                super::speech::confirm_keyboard(ctx, &state).await?,
            )
            .await;
    }
    // The draft is taken before anything is ordered: a second press (the chat's button, the
    // composer's, another process) finds it gone.
    let Some(taken) = crate::bot::dialogue::take(&ctx.app.db, ctx.user, &state).await? else {
        return ctx.say(ctx.t("ugc.draft_gone", &[])).await;
    };
    let Some(jobs) = plan(ctx, &state).await? else {
        crate::bot::dialogue::give_back(&ctx.app.db, ctx.user, &taken).await?;
        return Ok(());
    };
    if let Some(id) = message {
        let _ = ctx.bot.edit_message_reply_markup(ctx.chat, id).await;
    }
    if ctx.submit(jobs).await?.is_empty() {
        // Nothing was ordered (the balance, a limit): the draft is the user's again.
        crate::bot::dialogue::give_back(&ctx.app.db, ctx.user, &taken).await?;
    } else {
        // The picked script (and its product's end card) served this order.
        crate::db::products::pick_script(&ctx.app.db, ctx.user, None, &[]).await?;
    }
    Ok(())
}

/// The jobs a confirmed draft orders (`None`: nothing to order).
async fn plan(ctx: &Ctx<'_>, state: &Dialogue) -> Result<Option<BotOrder>, HandlerError> {
    let Dialogue::UgcConfirm {
        speech,
        price,
        versions,
        made_job,
        ..
    } = state
    else {
        return Ok(None);
    };
    let Some(main) = main_params(ctx, state).await? else {
        return Ok(None);
    };
    if made_job.is_some() && versions.is_empty() {
        return Ok(None);
    }
    let mut specs = super::versions::specs(&main, versions, made_job.is_none());
    // Variants: the same video with the other picked scripts, each its own job, each
    // delivered with its letter (not with "+ another language" of a finished video).
    let variants = match made_job {
        Some(_) => Vec::new(),
        None => crate::db::products::picked_variants(&ctx.app.db, ctx.user).await?,
    };
    if !variants.is_empty() {
        if let Some(JobSpec::UgcVideo(p)) = specs.first_mut() {
            p.variant = Some("A".into());
        }
        for (script, letter) in variants.into_iter().zip(["B", "C"]) {
            specs.push(JobSpec::UgcVideo(UgcParams {
                script,
                variant: Some(letter.into()),
                versions: None,
                ..main.clone()
            }));
        }
    }
    // Each previewed speech goes with its job and prices it: the main video's (unless only
    // versions are ordered), then each version's.
    let mut carried: Vec<Option<Checkpoints>> = Vec::new();
    if made_job.is_none() {
        carried.push(speech.as_deref().map(Checkpoints::from_json));
    }
    carried.extend(
        versions
            .iter()
            .map(|v| v.speech.as_deref().map(Checkpoints::from_json)),
    );
    let first = carried.first().cloned().flatten();
    Ok(Some(BotOrder {
        specs,
        // The price shown was the previewed speech's; the job is charged the same.
        measured_speech: first.as_ref().and_then(|c| c.speech_seconds).or_else(|| {
            made_job.is_none().then(|| {
                crate::orders::price::speech_seconds_of_ugc_price(&ctx.app.prices, *price)
            })?
        }),
        max_attempts: 4,
        carried: first,
        carried_after: carried.into_iter().skip(1).collect(),
    }))
}

/// The main video's parameters: the conversation's, or — for "+ another language" — the
/// finished video's own, at the tier and layout the confirmation priced (its older buttons
/// may have changed them). `None`: that video is gone.
async fn main_params(ctx: &Ctx<'_>, state: &Dialogue) -> Result<Option<UgcParams>, HandlerError> {
    let Dialogue::UgcConfirm {
        background,
        character,
        voice,
        script,
        layout,
        head_tier,
        made_job,
        ..
    } = state
    else {
        return Ok(None);
    };
    let brand = |own: Option<crate::jobs::Brand>| if layout.no_brand { None } else { own };
    if let Some(job) = made_job {
        let made = crate::db::jobs::job(&ctx.app.db, *job).await?;
        return Ok(match made.and_then(|j| j.spec) {
            Some(JobSpec::UgcVideo(p)) => Some(UgcParams {
                variant: None,
                versions: None,
                force_recompose: false,
                head_tier: head_tier.clone(),
                layout: layout.layout.clone(),
                brand: brand(p.brand.clone()),
                ..p
            }),
            _ => None,
        });
    }
    let local_voice = is_offline_voice(voice);
    Ok(Some(UgcParams {
        portrait: character.clone(),
        background: background.clone(),
        script: script.clone(),
        language: if local_voice {
            voice.clone()
        } else {
            ctx.lang.code().to_string()
        },
        size: super::layout::BOT_UGC_SIZE.into(),
        voice: (!local_voice).then(|| voice.clone()),
        voice_gender: super::speech::gender_of(ctx, voice),
        layout: layout.layout.clone(),
        force_recompose: false,
        brand: brand(crate::bot::brand::for_order(ctx).await?),
        head_tier: head_tier.clone(),
        variant: None,
        versions: None,
    }))
}

/// What the confirmation asks: the previewed speech at the chosen tier, one compose per
/// extra format, and each picked variant quoted from its script (same tier and formats) —
/// what the ordering service will quote.
pub async fn total_price(ctx: &Ctx<'_>, state: &Dialogue) -> Result<i64, HandlerError> {
    let Dialogue::UgcConfirm {
        speech,
        price,
        layout,
        head_tier,
        versions,
        made_job,
        ..
    } = state
    else {
        return Ok(0);
    };
    let prices = &ctx.app.prices;
    let seconds = speech
        .as_deref()
        .map(crate::jobs::Checkpoints::from_json)
        .and_then(|c| c.speech_seconds)
        .or_else(|| crate::orders::price::speech_seconds_of_ugc_price(prices, *price))
        .unwrap_or(1.0);
    let tier = head_tier.as_deref();
    let formats = crate::orders::price::formats_tokens(prices, layout.formats.len());
    let quoted = |script: &str| {
        let seconds = crate::orders::price::estimated_speech_seconds(script);
        crate::orders::price::ugc_tokens_at(prices, tier, seconds) + formats
    };
    // A version is priced on its previewed speech, as the main video.
    let versions: i64 = versions
        .iter()
        .map(|v| {
            match v
                .speech
                .as_deref()
                .map(crate::jobs::Checkpoints::from_json)
                .and_then(|c| c.speech_seconds)
            {
                Some(seconds) => {
                    crate::orders::price::ugc_tokens_at(prices, tier, seconds) + formats
                }
                None => quoted(&v.script),
            }
        })
        .sum();
    if made_job.is_some() {
        // Only the versions of a finished video are ordered.
        return Ok(versions);
    }
    let variants: i64 = crate::db::products::picked_variants(&ctx.app.db, ctx.user)
        .await?
        .iter()
        .map(|script| quoted(script))
        .sum();
    Ok(crate::orders::price::ugc_tokens_at(prices, tier, seconds) + formats + variants + versions)
}
