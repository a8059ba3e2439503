//! The free layout preview: before paying, a still of the final frame — the user's
//! background, the character in the circle, the first caption — made locally (no provider, no
//! charge) with the compositor's own layout code, and buttons that move the circle, change its
//! size, toggle the ring and the captions, switch the caption style (classic, boxed, karaoke,
//! bold-pop) and the platform whose interface to keep clear of (Reels, TikTok, Shorts); each
//! press re-draws the still in place (at most once a second). The chosen layout goes into the
//! job, so the video matches the still.
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{Callback, LayoutButton, UgcButton};
use crate::bot::dialogue::{Dialogue, LayoutDraft};
use crate::jobs::Layout;
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::{InputFile, InputMedia, InputMediaPhoto, MessageId};

const POSITIONS: [(&str, &str); 5] = [
    ("tl", "top-left"),
    ("tr", "top-right"),
    ("c", "center"),
    ("bl", "bottom-left"),
    ("br", "bottom-right"),
];

/// What a still shows.
pub struct Still<'a> {
    pub background: Option<&'a str>,
    pub character: &'a str,
    pub script: &'a str,
    pub layout: &'a LayoutDraft,
    /// The video's size (`/overlay` of an API job may be another than the bot's 720x1280).
    pub size: &'a str,
    /// The `/overlay` job.
    pub overlay: Option<i64>,
}

/// The size the bot's UGC videos are made at.
pub const BOT_UGC_SIZE: &str = "720x1280";

/// What the still of a draft shows (none for a state without a layout).
pub fn subject(state: &Dialogue) -> Option<Still<'_>> {
    match state {
        Dialogue::UgcConfirm {
            background,
            character,
            script,
            layout,
            ..
        } => Some(Still {
            background: background.as_deref(),
            character,
            script,
            layout,
            size: BOT_UGC_SIZE,
            overlay: None,
        }),
        Dialogue::OverlayEdit {
            job,
            background,
            character,
            script,
            layout,
            size,
        } => Some(Still {
            background: background.as_deref(),
            character,
            script,
            layout,
            size: size.as_deref().unwrap_or(BOT_UGC_SIZE),
            overlay: Some(*job),
        }),
        _ => None,
    }
}

/// The draft's layout, if the state has one.
pub fn layout_of(state: &Dialogue) -> Option<&LayoutDraft> {
    match state {
        Dialogue::UgcConfirm { layout, .. } | Dialogue::OverlayEdit { layout, .. } => Some(layout),
        _ => None,
    }
}

fn layout_mut(state: &mut Dialogue) -> Option<&mut LayoutDraft> {
    match state {
        Dialogue::UgcConfirm { layout, .. } | Dialogue::OverlayEdit { layout, .. } => Some(layout),
        _ => None,
    }
}

/// Draws the still for the conversation's layout and sends it (or replaces `edit`).
pub async fn show(ctx: &Ctx<'_>, state: &Dialogue, edit: Option<MessageId>) -> HandlerResult {
    // The composer's button opens this draft: it gets its key the first time.
    let keyed;
    let state = match (&ctx.app.app_url, layout_of(state).map(|l| l.app.is_none())) {
        (Some(_), Some(true)) => {
            let mut with_key = state.clone();
            if let Some(l) = layout_mut(&mut with_key) {
                l.app = Some(crate::db::api_keys::random_hex(12));
            }
            ctx.save(&with_key).await?;
            keyed = with_key;
            &keyed
        }
        _ => state,
    };
    let Some(subject) = subject(state) else {
        return Ok(());
    };
    let overlay = subject.overlay;
    let logo = match subject.overlay {
        None => crate::bot::brand::logo_key(ctx).await?,
        Some(_) => None,
    };
    let still = render(
        &ctx.app.storage,
        &ctx.app.work_dir.join(format!("layout-{}", ctx.user)),
        logo.as_deref(),
        &subject,
    )
    .await?;
    let compose = crate::orders::price::recompose_tokens(&ctx.app.prices);
    let caption = format!(
        "{}\n{}",
        ctx.t(
            if overlay.is_some() {
                "layout.overlay_caption"
            } else {
                "layout.caption"
            },
            &[],
        ),
        ctx.t("layout.formats", &[("price", &compose)])
    );
    let kb = keyboard_for(ctx, &subject);
    let sent = match edit {
        Some(id) => {
            let media = InputMedia::Photo(
                InputMediaPhoto::new(InputFile::memory(still.clone()).file_name("still.jpg"))
                    .caption(caption),
            );
            ctx.bot
                .edit_message_media(ctx.chat, id, media)
                .reply_markup(kb)
                .await
                .map(|_| ())
        }
        None => ctx
            .bot
            .send_photo(ctx.chat, InputFile::memory(still).file_name("still.jpg"))
            .caption(caption)
            .reply_markup(kb)
            .await
            .map(|_| ()),
    };
    sent?;
    Ok(())
}

/// The still's JPEG, drawn in a folder of its own under `work` (removed however the drawing
/// ends, an abandoned request's included), at the video's size, with the brand kit's `logo`
/// on a new order's still (an /overlay still shows the video's own).
pub async fn render(
    storage: &crate::storage::Storage,
    work: &std::path::Path,
    logo: Option<&str>,
    subject: &Still<'_>,
) -> Result<Vec<u8>, HandlerError> {
    let Still {
        background,
        character,
        script,
        layout,
        size,
        ..
    } = *subject;
    let stamp = format!(
        "{}-{}",
        crate::db::now_ms(),
        crate::db::api_keys::random_hex(4)
    );
    let scratch = crate::storage::ScratchDir::new(work.join(format!("still-{stamp}")))?;
    let dir = scratch.path().to_path_buf();
    let portrait = dir.join("portrait");
    storage.get_to_file(character, &portrait).await?;
    let bg = match background {
        Some(key) => {
            let path = dir.join("background");
            storage.get_to_file(key, &path).await?;
            Some(path)
        }
        None => None,
    };
    let logo = match logo.filter(|_| !layout.no_brand) {
        Some(key) => {
            let path = dir.join("logo");
            storage.get_to_file(key, &path).await?;
            Some(path)
        }
        None => None,
    };
    let out = dir.join("still.jpg");
    let (w, h) = media::parse_size(size)?;
    // Placed as the composite will place it.
    let placed = layout.place(w, h)?;
    let req = media::LayoutPreview {
        background: bg,
        background_start_s: layout.background_start_s(),
        portrait,
        caption: layout.captions.then(|| script.to_string()),
        caption_style: placed.caption_style,
        safe_zone: placed.safe_zone,
        width: w,
        height: h,
        position: placed.position,
        diameter: Some(placed.diameter),
        ring: placed.ring,
        logo,
        output: out.clone(),
    };
    tokio::task::spawn_blocking(move || media::layout_preview(&req)).await??;
    Ok(tokio::fs::read(&out).await?)
}

fn buttons(ctx: &Ctx<'_>, layout: &Layout, circle: bool) -> teloxide::types::InlineKeyboardMarkup {
    let mark = |on: bool, text: String| if on { format!("• {text}") } else { text };
    let b =
        |text: String, data: LayoutButton| (text, Callback::Ugc(UgcButton::Layout(data)).data());
    let mut rows = Vec::new();
    if circle {
        rows.push(row(&POSITIONS
            .iter()
            .map(|(code, name)| {
                b(
                    mark(
                        layout.position == *name,
                        ctx.t(&format!("layout.pos.{code}"), &[]),
                    ),
                    LayoutButton::Position(code.to_string()),
                )
            })
            .collect::<Vec<_>>()));
        rows.push(row(&["s", "m", "l"]
            .iter()
            .map(|z| {
                b(
                    mark(layout.circle_size() == *z, z.to_uppercase()),
                    LayoutButton::Size(z.to_string()),
                )
            })
            .collect::<Vec<_>>()));
        rows.push(row(&[
            b(
                mark(layout.ring, ctx.t("layout.ring", &[])),
                LayoutButton::Ring,
            ),
            b(
                mark(layout.captions, ctx.t("layout.captions", &[])),
                LayoutButton::Captions,
            ),
        ]));
    } else {
        rows.push(row(&[b(
            mark(layout.captions, ctx.t("layout.captions", &[])),
            LayoutButton::Captions,
        )]));
    }
    if layout.captions {
        let style = ctx.t(&format!("layout.style.{}", layout.caption_style), &[]);
        rows.push(row(&[b(
            ctx.t("layout.style", &[("style", &style)]),
            LayoutButton::Style,
        )]));
    }
    rows.push(row(&media::SafeZone::ALL
        .iter()
        .map(|z| {
            b(
                mark(
                    layout.safe_zone == *z,
                    ctx.t(&format!("layout.zone.{z}"), &[]),
                ),
                LayoutButton::Zone(z.to_string()),
            )
        })
        .collect::<Vec<_>>()));
    keyboard(rows)
}

/// The still's buttons: the layout's, the formats', and `/overlay`'s re-compose at its price.
fn keyboard_for(ctx: &Ctx<'_>, subject: &Still<'_>) -> teloxide::types::InlineKeyboardMarkup {
    let mut kb = buttons(ctx, subject.layout, subject.background.is_some());
    // The Mini App composer: the circle by hand, a motion preview, the order.
    if let (Some(url), Some(key)) = (&ctx.app.app_url, &subject.layout.app) {
        if let Ok(url) = reqwest::Url::parse(&format!("{url}?draft={key}")) {
            kb.inline_keyboard.insert(
                0,
                vec![teloxide::types::InlineKeyboardButton::web_app(
                    ctx.t("layout.composer", &[]),
                    teloxide::types::WebAppInfo { url },
                )],
            );
        }
    }
    kb.inline_keyboard
        .push(format_row(subject.layout, subject.size));
    if subject.overlay.is_some() {
        let price = crate::orders::price::recompose_tokens(&ctx.app.prices)
            + crate::orders::price::formats_tokens(&ctx.app.prices, subject.layout.formats.len());
        kb.inline_keyboard.push(row(&[(
            ctx.t("layout.recompose", &[("price", &price)]),
            Callback::Ugc(UgcButton::Recompose(Some(price))).data(),
        )]));
    }
    kb
}

/// The formats the video may also be made in (not its own), each marked when chosen.
fn format_row(layout: &Layout, size: &str) -> Vec<teloxide::types::InlineKeyboardButton> {
    let own = media::parse_size(size)
        .ok()
        .and_then(|(w, h)| crate::jobs::layout::format_of(w, h));
    let buttons: Vec<(String, String)> = crate::jobs::layout::FORMATS
        .iter()
        .filter(|f| Some(**f) != own)
        .map(|f| {
            let on = layout.formats.iter().any(|x| x == f);
            (
                if on {
                    format!("• {f}")
                } else {
                    format!("+ {f}")
                },
                Callback::Ugc(UgcButton::Layout(LayoutButton::Format(f.replace(':', "x")))).data(),
            )
        })
        .collect();
    row(&buttons)
}

/// A press: the layout changes, and the still is drawn again (not more than once a second).
pub async fn change(
    ctx: &Ctx<'_>,
    mut state: Dialogue,
    change: LayoutButton,
    message: Option<MessageId>,
) -> HandlerResult {
    let Some(layout) = layout_mut(&mut state) else {
        return Ok(());
    };
    match change {
        LayoutButton::Position(code) => {
            if let Some((_, name)) = POSITIONS.iter().find(|(c, _)| *c == code) {
                layout.position = name.to_string();
            }
        }
        LayoutButton::Size(z) => {
            if crate::orders::rules::CIRCLE_SIZES.contains(&z.as_str()) {
                layout.circle_size = Some(z);
            }
        }
        LayoutButton::Ring => layout.ring = !layout.ring,
        LayoutButton::Captions => layout.captions = !layout.captions,
        LayoutButton::Style => layout.caption_style = layout.caption_style.next(),
        LayoutButton::Zone(z) => {
            if let Ok(zone) = z.parse() {
                layout.safe_zone = zone;
            }
        }
        LayoutButton::Format(code) => {
            let format = code.replace('x', ":");
            if let Some(i) = layout.formats.iter().position(|f| *f == format) {
                layout.formats.remove(i);
            } else if crate::jobs::layout::FORMATS.contains(&format.as_str()) {
                layout.formats.push(format);
            }
            ctx.save(&state).await?;
            // The price changed: the confirmation's button must say the new one.
            if matches!(state, Dialogue::UgcConfirm { .. }) {
                let total = super::order::total_price(ctx, &state).await?;
                ctx.say_with(
                    ctx.t("ugc.price_changed", &[("price", &total)]),
                    super::speech::confirm_keyboard(ctx, &state).await?,
                )
                .await?;
            }
            // The still shows the circle of the video's own format; only its buttons change.
            if let (Some(id), Some(subject)) = (message, subject(&state)) {
                let _ = ctx
                    .bot
                    .edit_message_reply_markup(ctx.chat, id)
                    .reply_markup(keyboard_for(ctx, &subject))
                    .await;
            }
            return Ok(());
        }
    }
    let now = crate::db::now_ms();
    let redraw = now - layout.drawn_ms >= 1000;
    if redraw {
        layout.drawn_ms = now;
    }
    ctx.save(&state).await?;
    if redraw {
        show(ctx, &state, message).await?;
    }
    Ok(())
}

/// `/overlay`: the last finished UGC video's layout on its still, to change and re-compose.
pub async fn open_overlay(ctx: &Ctx<'_>, job: i64) -> Result<bool, HandlerError> {
    let Some(row) = crate::db::jobs::job(&ctx.app.db, job).await? else {
        return Ok(false);
    };
    let (Some(crate::jobs::JobSpec::UgcVideo(p) | crate::jobs::JobSpec::Recompose(p)),) =
        (row.spec,)
    else {
        return Ok(false);
    };
    let state = Dialogue::OverlayEdit {
        job,
        background: p.background,
        character: p.portrait,
        script: p.script,
        layout: LayoutDraft {
            layout: p.layout,
            ..LayoutDraft::default()
        },
        size: Some(p.size),
    };
    ctx.save(&state).await?;
    show(ctx, &state, None).await?;
    Ok(true)
}

/// The re-compose button: the original's speech and talking head, the new layout — at the
/// price the pressed button showed, or nothing is ordered and the current price is offered.
pub async fn recompose(
    ctx: &Ctx<'_>,
    state: Dialogue,
    shown: Option<i64>,
) -> Result<bool, HandlerError> {
    let Dialogue::OverlayEdit { job, layout, .. } = &state else {
        return Ok(false);
    };
    let (job, layout) = (*job, layout.clone());
    let price = crate::orders::price::recompose_tokens(&ctx.app.prices)
        + crate::orders::price::formats_tokens(&ctx.app.prices, layout.formats.len());
    if shown != Some(price) {
        ctx.say_with(
            ctx.t("ugc.price_changed", &[("price", &price)]),
            keyboard(vec![row(&[(
                ctx.t("layout.recompose", &[("price", &price)]),
                Callback::Ugc(UgcButton::Recompose(Some(price))).data(),
            )])]),
        )
        .await?;
        return Ok(true);
    }
    let Some((mut p, carried)) =
        crate::pipelines::recompose::recompose_of(&ctx.app.db, ctx.user, job).await?
    else {
        return Ok(false);
    };
    // Taken before ordering: the chat's button and the composer's never both order it.
    let Some(taken) = crate::bot::dialogue::take(&ctx.app.db, ctx.user, &state).await? else {
        ctx.say(ctx.t("ugc.draft_gone", &[])).await?;
        return Ok(true);
    };
    p.layout = layout.layout;
    let mut order = crate::bot::app::BotOrder::one(crate::jobs::JobSpec::Recompose(p), 3);
    order.carried = Some(carried);
    if ctx.submit(order).await?.is_empty() {
        crate::bot::dialogue::give_back(&ctx.app.db, ctx.user, &taken).await?;
    }
    Ok(true)
}
