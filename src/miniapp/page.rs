//! The composer's page (embedded HTML, CSS and JS: no build step, no CDN fetched by our
//! code; the browser loads Telegram's own script) and what it is told about a draft.
use super::LayoutEdit;
use crate::bot::app::{Ctx, HandlerError};
use crate::bot::dialogue::Dialogue;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Telegram's script, as its documentation loads it.
pub const TELEGRAM_JS: &str = "https://telegram.org/js/telegram-web-app.js?59";

const HTML: &str = include_str!("../../assets/miniapp/index.html");
const JS: &str = include_str!("../../assets/miniapp/app.js");
const CSS: &str = include_str!("../../assets/miniapp/app.css");

/// The page's texts the server sends (the user's language); the page itself carries only
/// what it must say before it knows who opened it.
const TEXTS: [&str; 18] = [
    "app.title",
    "app.size",
    "app.ring",
    "app.captions",
    "app.style",
    "app.zone",
    "app.brand",
    "app.preview",
    "app.preview_wait",
    "app.preview_limit",
    "app.order",
    "app.ordered",
    "app.price_changed",
    "app.no_circle",
    "app.saving",
    "app.error",
    "app.drag_hint",
    "app.start",
];

pub async fn index(State(m): State<Arc<super::MiniApp>>) -> Response {
    // Only Telegram's script itself (its path, without the version query) may run besides ours.
    let origin = reqwest::Url::parse(&m.telegram_js)
        .map(|u| format!("{}{}", u.origin().ascii_serialization(), u.path()))
        .unwrap_or_else(|_| "https://telegram.org/js/telegram-web-app.js".into());
    let html = HTML.replace(
        "{{TELEGRAM_JS}}",
        &m.telegram_js.replace('"', "%22").replace('<', "%3C"),
    );
    let csp = format!(
        "default-src 'none'; script-src 'self' {origin}; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::CACHE_CONTROL, "no-cache".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        html,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JS,
    )
        .into_response()
}

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

/// A safe zone as the page draws it.
#[derive(Debug, Serialize)]
pub struct ZoneView {
    pub name: String,
    pub label: String,
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

/// What the page is told about a draft.
#[derive(Debug, Serialize)]
pub struct DraftView {
    pub key: String,
    /// `order` (a new video) or `overlay` (a finished one composed again).
    pub kind: &'static str,
    pub width: usize,
    pub height: usize,
    /// The circle is shown (the video has a background).
    pub circle: bool,
    /// The circle's top-left corner and diameter, in output pixels.
    pub x: usize,
    pub y: usize,
    pub diameter: usize,
    /// Its size in per cent of the default.
    pub size: u32,
    pub default_diameter: usize,
    pub ring: bool,
    pub ring_color: String,
    pub captions: bool,
    pub caption_style: String,
    pub styles: Vec<(String, String)>,
    pub safe_zone: String,
    pub zones: Vec<ZoneView>,
    /// The brand kit is on (`None`: there is none to choose).
    pub brand: Option<bool>,
    /// Where the background starts (ms), and how far it may (the clip's length less the
    /// speech's; 0: the clip is not longer than the speech, no choice).
    pub start_ms: u32,
    pub start_max_ms: u32,
    pub price: i64,
    pub texts: BTreeMap<String, String>,
}

impl DraftView {
    pub async fn of(ctx: &Ctx<'_>, state: &Dialogue) -> Result<Self, HandlerError> {
        let subject = crate::bot::ugc::layout::subject(state).ok_or("not a draft")?;
        let layout = subject.layout;
        let (w, h) = media::parse_size(subject.size)?;
        let placed = layout.place(w, h)?;
        let rect = media::place_circle(
            w,
            h,
            placed.diameter,
            placed.position,
            layout.safe_zone.area(w, h),
        )?;
        let zones = media::SafeZone::ALL
            .iter()
            .map(|z| {
                let a = z.area(w, h);
                ZoneView {
                    name: z.to_string(),
                    label: ctx.t(&format!("layout.zone.{z}"), &[]),
                    left: a.left,
                    top: a.top,
                    right: a.right,
                    bottom: a.bottom,
                }
            })
            .collect();
        let brand = match subject.overlay {
            None => crate::db::brand::get(&ctx.app.db, ctx.user)
                .await?
                .map(|_| !layout.no_brand),
            Some(_) => None,
        };
        Ok(Self {
            key: layout.app.clone().unwrap_or_default(),
            kind: if subject.overlay.is_some() {
                "overlay"
            } else {
                "order"
            },
            width: w,
            height: h,
            circle: subject.background.is_some(),
            x: rect.x,
            y: rect.y,
            diameter: rect.diameter,
            size: (layout.circle_factor() * 100.0).round() as u32,
            default_diameter: media::default_diameter(w, h),
            ring: layout.ring,
            ring_color: layout
                .ring_color
                .clone()
                .unwrap_or_else(|| "#FFFFFF".into()),
            captions: layout.captions,
            caption_style: layout.caption_style.to_string(),
            styles: media::CaptionStyle::ALL
                .iter()
                .map(|s| (s.to_string(), ctx.t(&format!("layout.style.{s}"), &[])))
                .collect(),
            safe_zone: layout.safe_zone.to_string(),
            zones,
            brand,
            start_ms: layout.background_start_ms.unwrap_or(0),
            start_max_ms: start_room(ctx, state, subject.background).await,
            price: price_of(ctx, state).await?,
            texts: TEXTS
                .iter()
                .map(|k| (k.trim_start_matches("app.").to_string(), ctx.t(k, &[])))
                .collect(),
        })
    }
}

/// How far into the background the video may start: the clip's length less the speech's (0
/// when it is not longer, or either is unknown).
async fn start_room(ctx: &Ctx<'_>, state: &Dialogue, background: Option<&str>) -> u32 {
    use crate::storage::ObjectStore;
    let Some(key) = background else {
        return 0;
    };
    let speech = match state {
        Dialogue::UgcConfirm { speech, .. } => speech
            .as_deref()
            .map(crate::jobs::Checkpoints::from_json)
            .and_then(|c| c.speech_seconds),
        Dialogue::OverlayEdit { job, .. } => {
            crate::pipelines::recompose::recompose_of(&ctx.app.db, ctx.user, *job)
                .await
                .ok()
                .flatten()
                .and_then(|(_, c)| c.speech_seconds)
        }
        _ => None,
    };
    let Some(speech) = speech else {
        return 0;
    };
    let Ok(scratch) = crate::storage::ScratchDir::new(ctx.app.work_dir.join(format!(
        "app-clip-{}-{}",
        ctx.user,
        crate::db::api_keys::random_hex(4)
    ))) else {
        return 0;
    };
    let path = scratch.path().join("background");
    if ctx.app.storage.get_to_file(key, &path).await.is_err() {
        return 0;
    }
    let clip = tokio::task::spawn_blocking(move || media::probe(&path).map(|i| i.duration_s))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0.0);
    let room = ((clip - speech) * 1000.0).floor();
    if room < 500.0 {
        0
    } else {
        (room as u32).min(crate::orders::rules::MAX_BACKGROUND_START_MS)
    }
}

/// What ordering the draft costs now: the chat's confirmation total, or `/overlay`'s
/// re-compose price.
pub async fn price_of(ctx: &Ctx<'_>, state: &Dialogue) -> Result<i64, HandlerError> {
    Ok(match state {
        Dialogue::OverlayEdit { layout, .. } => {
            crate::orders::price::recompose_tokens(&ctx.app.prices)
                + crate::orders::price::formats_tokens(&ctx.app.prices, layout.formats.len())
        }
        other => crate::bot::ugc::order::total_price(ctx, other).await?,
    })
}

/// The page's layout written into the draft: the circle kept inside the chosen safe area
/// (as the page keeps it), then placed exactly as the composite will place it.
pub fn apply(state: &mut Dialogue, edit: &LayoutEdit) -> Result<(), String> {
    let size = match state {
        Dialogue::OverlayEdit { size, .. } => size.clone().unwrap_or_else(|| "720x1280".into()),
        _ => crate::bot::ugc::layout::BOT_UGC_SIZE.to_string(),
    };
    let (w, h) = media::parse_size(&size).map_err(|e| e.to_string())?;
    let (Dialogue::UgcConfirm { layout, .. } | Dialogue::OverlayEdit { layout, .. }) = state else {
        return Err("not a draft".into());
    };
    let zone: media::SafeZone = edit.safe_zone.parse().map_err(|_| "unknown safe zone")?;
    let style: media::CaptionStyle = edit
        .caption_style
        .parse()
        .map_err(|_| "unknown caption style")?;
    let percent = edit.size.clamp(
        crate::jobs::layout::MIN_CIRCLE_PERCENT,
        crate::jobs::layout::MAX_CIRCLE_PERCENT,
    );
    if !crate::orders::rules::is_hex_colour(&edit.ring_color) {
        return Err(format!(
            "'{}' is not a colour like #FFD600",
            edit.ring_color
        ));
    }
    let mut next = layout.layout.clone();
    next.safe_zone = zone;
    next.caption_style = style;
    next.captions = edit.captions;
    next.ring = edit.ring;
    next.ring_color = (!edit.ring_color.eq_ignore_ascii_case("#FFFFFF"))
        .then(|| edit.ring_color.to_ascii_uppercase());
    next.circle_size = Some(match percent {
        100 => "m".to_string(),
        p => p.to_string(),
    });
    // The diameter at this size, then the corner kept inside the zone's area.
    next.position = "center".into();
    let diameter = next.place(w, h).map_err(|e| e.to_string())?.diameter;
    let area = zone.area(w, h);
    let clamp = |v: i64, lo: usize, hi: usize| {
        let hi = hi.saturating_sub(diameter).max(lo);
        (v.clamp(lo as i64, hi as i64) / 2) * 2
    };
    let (x, y) = (
        clamp(edit.x, area.left, area.right),
        clamp(edit.y, area.top, area.bottom),
    );
    next.position = format!("{x},{y}");
    next.place(w, h).map_err(|e| e.to_string())?;
    next.background_start_ms = match edit
        .start_ms
        .min(crate::orders::rules::MAX_BACKGROUND_START_MS)
    {
        0 => None,
        ms => Some(ms / 100 * 100),
    };
    layout.layout = next;
    layout.no_brand = !edit.brand;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::dialogue::LayoutDraft;

    fn draft() -> Dialogue {
        Dialogue::UgcConfirm {
            background: Some("bg.mp4".into()),
            character: "p.jpg".into(),
            voice: "ru+f3".into(),
            script: "Привет".into(),
            speech: None,
            price: 100,
            layout: LayoutDraft::default(),
            head_tier: None,
            versions: Vec::new(),
            draft: None,
            made_job: None,
        }
    }

    fn edit(x: i64, y: i64) -> LayoutEdit {
        LayoutEdit {
            x,
            y,
            size: 120,
            ring: true,
            ring_color: "#e01010".into(),
            captions: true,
            caption_style: "bold-pop".into(),
            safe_zone: "tiktok".into(),
            brand: false,
            start_ms: 2_350,
        }
    }

    #[test]
    fn a_dropped_circle_is_kept_inside_the_safe_area_and_placed_as_the_composite_places_it() {
        let mut state = draft();
        apply(&mut state, &edit(100, 500)).unwrap();
        let Dialogue::UgcConfirm { layout, .. } = &state else {
            unreachable!()
        };
        assert_eq!(layout.position, "100,500");
        assert_eq!(layout.circle_size.as_deref(), Some("120"));
        assert_eq!(layout.ring_color.as_deref(), Some("#E01010"));
        assert!(layout.no_brand);
        assert_eq!(layout.background_start_ms, Some(2_300));
        assert_eq!(layout.background_start_s(), 2.3);
        let placed = layout.place(720, 1280).unwrap();
        assert_eq!(placed.position, media::Position::At { x: 100, y: 500 });
        // Dragged past the edge: kept inside TikTok's safe area.
        apply(&mut state, &edit(-50, 5000)).unwrap();
        let Dialogue::UgcConfirm { layout, .. } = &state else {
            unreachable!()
        };
        let area = media::SafeZone::Tiktok.area(720, 1280);
        let d = layout.place(720, 1280).unwrap().diameter;
        let (x, y) = layout.position.split_once(',').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        assert!(
            x >= area.left && y + d <= area.bottom,
            "{x},{y} d {d} in {area:?}"
        );
        // Nonsense is refused, not stored.
        let mut bad = edit(10, 10);
        bad.ring_color = "red".into();
        assert!(apply(&mut state, &bad).is_err());
        bad.ring_color = "ABCDEF ".into();
        assert!(
            apply(&mut state, &bad).is_err(),
            "a colour as the schema says"
        );
        bad = edit(10, 10);
        bad.safe_zone = "instagram".into();
        assert!(apply(&mut state, &bad).is_err());
    }
}
