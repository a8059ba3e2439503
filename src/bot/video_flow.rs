//! Text- and image-to-video: quick presets or settings for model, duration and orientation,
//! every button with its price, then a confirmation that queues the paid job.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, VideoButton};
use super::dialogue::Dialogue;
use crate::jobs::{GenerateParams, JobSpec};
use crate::pricing::resolution_of;
use teloxide::prelude::*;
use teloxide::types::MessageId;

/// Models offered: (button id, tier, whether it is the 1080p variant).
const MODELS: [(&str, &str, bool); 3] = [
    ("fast", "fast", false),
    ("quality", "quality", false),
    ("hd", "quality", true),
];
const DURATIONS: [u32; 3] = [4, 8, 12];
/// Orientation id → (720p size, 1080p size).
const ORIENTATIONS: [(&str, &str, &str); 3] = [
    ("v", "720x1280", "1080x1920"),
    ("h", "1280x720", "1920x1080"),
    ("s", "720x720", "1080x1080"),
];
pub use crate::orders::MAX_PROMPT_CHARS;

pub fn size_for(orientation: &str, hd: bool) -> String {
    ORIENTATIONS
        .iter()
        .find(|(o, ..)| *o == orientation)
        .map(|(_, sd, full)| if hd { *full } else { *sd })
        .unwrap_or("720x1280")
        .to_string()
}

pub fn orientation_of(size: &str) -> &'static str {
    let (w, h) = size.split_once('x').unwrap_or(("720", "1280"));
    let (w, h) = (w.parse::<u32>().unwrap_or(0), h.parse::<u32>().unwrap_or(0));
    if w == h {
        "s"
    } else if w > h {
        "h"
    } else {
        "v"
    }
}

fn model_of(tier: &str, size: &str) -> &'static str {
    match (tier, resolution_of(size)) {
        ("quality", "1080p") => "hd",
        ("quality", _) => "quality",
        _ => "fast",
    }
}

/// Opens the settings for `prompt` (and a stored photo for image-to-video) with the fast
/// vertical 8 s preset selected.
pub async fn open(ctx: &Ctx<'_>, prompt: &str, image: Option<String>) -> HandlerResult {
    let prompt: String = prompt.trim().chars().take(MAX_PROMPT_CHARS).collect();
    show(
        ctx,
        Dialogue::ChoosingVideoSettings {
            prompt,
            image,
            tier: "fast".into(),
            seconds: 8,
            size: "720x1280".into(),
            improve: false,
        },
    )
    .await
}

/// "Make another": the settings of a finished job, ready to confirm again.
pub async fn reopen(ctx: &Ctx<'_>, p: GenerateParams) -> HandlerResult {
    let seconds = Some(p.seconds).filter(|s| DURATIONS.contains(s));
    show(
        ctx,
        Dialogue::ChoosingVideoSettings {
            prompt: p.prompt,
            image: p.image,
            tier: p.tier,
            seconds: seconds.unwrap_or(8),
            size: p.size,
            improve: p.improve_prompt,
        },
    )
    .await
}

async fn show(ctx: &Ctx<'_>, state: Dialogue) -> HandlerResult {
    ctx.save(&state).await?;
    let (text, kb) = screen(ctx, &state);
    ctx.say_with(text, kb).await
}

fn price(ctx: &Ctx<'_>, tier: &str, size: &str, seconds: u32) -> Option<i64> {
    crate::orders::price::video_tokens(&ctx.app.prices, tier, size, seconds)
}

fn screen(ctx: &Ctx<'_>, state: &Dialogue) -> (String, teloxide::types::InlineKeyboardMarkup) {
    let Dialogue::ChoosingVideoSettings {
        prompt,
        image,
        tier,
        seconds,
        size,
        improve,
    } = state
    else {
        return (String::new(), keyboard(vec![]));
    };
    let model = model_of(tier, size);
    let orientation = orientation_of(size);
    let mark = |on: bool, label: String| if on { format!("✓ {label}") } else { label };
    let mut rows = Vec::new();
    // Quick presets: 8 s vertical, fast or quality.
    let preset = |tier: &str| {
        let p = price(ctx, tier, "720x1280", 8).unwrap_or(0);
        (
            ctx.t(&format!("video.preset_{tier}"), &[("price", &p)]),
            Callback::Video(VideoButton::Preset(tier.to_string())).data(),
        )
    };
    rows.push(row(&[preset("fast"), preset("quality")]));
    rows.push(row(&MODELS
        .iter()
        .filter_map(|(id, t, hd)| {
            let s = size_for(orientation, *hd);
            price(ctx, t, &s, *seconds).map(|p| {
                (
                    mark(
                        model == *id,
                        ctx.t(&format!("video.model_{id}"), &[("price", &p)]),
                    ),
                    Callback::Video(VideoButton::Model(id.to_string())).data(),
                )
            })
        })
        .collect::<Vec<_>>()));
    rows.push(row(&DURATIONS
        .iter()
        .filter_map(|d| {
            price(ctx, tier, size, *d).map(|p| {
                (
                    mark(
                        *seconds == *d,
                        ctx.t("video.seconds", &[("seconds", d), ("price", &p)]),
                    ),
                    Callback::Video(VideoButton::Seconds(*d)).data(),
                )
            })
        })
        .collect::<Vec<_>>()));
    rows.push(row(&ORIENTATIONS
        .iter()
        .map(|(o, ..)| {
            (
                mark(
                    orientation == *o,
                    ctx.t(&format!("video.orientation_{o}"), &[]),
                ),
                Callback::Video(VideoButton::Orientation(o.to_string())).data(),
            )
        })
        .collect::<Vec<_>>()));
    rows.push(row(&[(
        mark(*improve, ctx.t("video.improve", &[])),
        Callback::Video(VideoButton::Improve).data(),
    )]));
    let total = price(ctx, tier, size, *seconds).unwrap_or(0);
    rows.push(row(&[
        (
            ctx.t("video.go", &[("price", &total)]),
            Callback::Video(VideoButton::Go).data(),
        ),
        ctx.button("flow.cancel", Callback::CancelFlow.data()),
    ]));
    let text = ctx.t(
        if image.is_some() {
            "video.settings_photo"
        } else {
            "video.settings"
        },
        &[
            ("prompt", prompt),
            ("model", &ctx.t(&format!("video.model_name_{model}"), &[])),
            ("seconds", seconds),
            ("size", size),
            ("price", &total),
        ],
    );
    (text, keyboard(rows))
}

/// A settings button. `Ok(false)` when the conversation is no longer choosing settings.
pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: VideoButton,
    message: Option<MessageId>,
) -> Result<bool, HandlerError> {
    let Dialogue::ChoosingVideoSettings {
        prompt,
        image,
        mut tier,
        mut seconds,
        mut size,
        mut improve,
    } = state
    else {
        return Ok(false);
    };
    match button {
        VideoButton::Preset(value) => {
            tier = if value == "quality" {
                "quality"
            } else {
                "fast"
            }
            .into();
            seconds = 8;
            size = size_for(orientation_of(&size), false);
        }
        VideoButton::Model(value) => {
            let Some((_, t, hd)) = MODELS.iter().find(|(id, ..)| *id == value) else {
                return Ok(false);
            };
            tier = t.to_string();
            size = size_for(orientation_of(&size), *hd);
        }
        VideoButton::Improve => improve = !improve,
        VideoButton::Seconds(s) if DURATIONS.contains(&s) => seconds = s,
        VideoButton::Seconds(_) => return Ok(false),
        VideoButton::Orientation(value) => {
            if !ORIENTATIONS.iter().any(|(o, ..)| *o == value) {
                return Ok(false);
            }
            size = size_for(&value, resolution_of(&size) == "1080p");
        }
        VideoButton::Go => {
            if price(ctx, &tier, &size, seconds).is_none() {
                return Ok(false);
            }
            let spec = JobSpec::generate(GenerateParams {
                prompt,
                tier,
                seconds,
                size,
                image,
                improve_prompt: improve,
            });
            if let Some(id) = message {
                let _ = ctx.bot.edit_message_reply_markup(ctx.chat, id).await;
            }
            let ids = ctx.submit(super::app::BotOrder::one(spec, 4)).await?;
            if !ids.is_empty() {
                ctx.save(&Dialogue::Idle).await?;
            }
            return Ok(true);
        }
    }
    let state = Dialogue::ChoosingVideoSettings {
        prompt,
        image,
        tier,
        seconds,
        size,
        improve,
    };
    ctx.save(&state).await?;
    let (text, kb) = screen(ctx, &state);
    match message {
        Some(id) => {
            match ctx
                .bot
                .edit_message_text(ctx.chat, id, text.clone())
                .reply_markup(kb.clone())
                .await
            {
                Ok(_)
                | Err(teloxide::RequestError::Api(teloxide::ApiError::MessageNotModified)) => {}
                Err(_) => ctx.say_with(text, kb).await?,
            }
        }
        None => ctx.say_with(text, kb).await?,
    }
    Ok(true)
}
