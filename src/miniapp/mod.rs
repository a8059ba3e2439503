//! The Telegram Mini App composer, served by `serve` under `/app/`: the layout step of a UGC
//! order (or `/overlay`) as a page inside Telegram — the still drawn by the same `media`
//! layout code as the chat's, the circle dragged anywhere in the safe area and sized by a
//! slider or a pinch, the ring and its colour, caption style and safe-zone chips, the brand
//! kit on or off, a free 3 s motion preview, and the order at the ordering service's quote.
//!
//! Every call carries Telegram's `initData` (`Authorization: tma <initData>`), checked by
//! [`init_data::Verifier`]; a draft is the user's own conversation state, opened by the key
//! the chat's button carries (another key → 404). The page is static HTML/CSS/JS embedded
//! in the binary ([`page`]).
pub mod init_data;
pub mod motion;
mod page;

use crate::bot::app::{BotApp, Ctx};
use crate::bot::dialogue::{self, Dialogue};
use crate::bot::texts::Lang;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

/// How old `initData` may be to view and edit a draft (Telegram keeps a page open for long).
pub const VIEW_MAX_AGE_S: i64 = 24 * 3600;
/// How old it may be to order.
pub const ORDER_MAX_AGE_S: i64 = 3600;
/// Stills a user may have drawn per hour (each is a decode and a draw).
const STILLS_PER_HOUR: i64 = 600;

/// What the composer's routes share.
pub struct MiniApp {
    pub bot: teloxide::Bot,
    pub app: Arc<BotApp>,
    pub verifier: init_data::Verifier,
    /// Telegram's `telegram-web-app.js`, as the page loads it.
    pub telegram_js: String,
    /// Users whose order is being placed now (a double tap is refused while the first runs;
    /// the draft itself is taken in the database, see `dialogue::take`).
    ordering: std::sync::Mutex<HashSet<i64>>,
    /// Users with a still or preview being drawn (one at a time each).
    drawing: std::sync::Mutex<HashSet<i64>>,
    /// Stills and previews drawn at once on this machine: the rest wait their turn.
    renders: tokio::sync::Semaphore,
}

/// Renders at once per process (each decodes a portrait and a background frame or more).
const RENDERS_AT_ONCE: usize = 2;

/// A user's entry in a busy set, removed when dropped (a call the client left included).
struct Busy<'a>(&'a std::sync::Mutex<HashSet<i64>>, i64);

impl<'a> Busy<'a> {
    fn enter(set: &'a std::sync::Mutex<HashSet<i64>>, user: i64) -> Option<Self> {
        let entered = set.lock().unwrap_or_else(|e| e.into_inner()).insert(user);
        // Made only when entered (a refused one must not leave the set on its drop), and
        // after the lock is released (its drop takes it again).
        entered.then(|| Busy(set, user))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

impl MiniApp {
    pub fn new(bot: teloxide::Bot, app: Arc<BotApp>, token: &str) -> Self {
        Self {
            bot,
            app,
            verifier: init_data::Verifier::new(token),
            telegram_js: page::TELEGRAM_JS.to_string(),
            ordering: Default::default(),
            drawing: Default::default(),
            renders: tokio::sync::Semaphore::new(RENDERS_AT_ONCE),
        }
    }
}

/// `/app/…`: the page and its calls.
pub fn router(m: Arc<MiniApp>) -> Router {
    Router::new()
        .route(
            "/app",
            get(|| async { axum::response::Redirect::permanent("/app/") }),
        )
        .route("/app/", get(page::index))
        .route("/app/app.js", get(page::script))
        .route("/app/app.css", get(page::style))
        .route("/app/api/draft", post(draft))
        .route("/app/api/still", post(still))
        .route("/app/api/portrait", post(portrait))
        .route("/app/api/preview", post(preview))
        .route("/app/api/order", post(order))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(m)
}

/// A refused call: its status, a code the page switches on, and a message for the user.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AppError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no-draft", "no such draft of yours")
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
        )
            .into_response()
    }
}

impl<E: std::fmt::Display> From<E> for AppError
where
    E: Into<crate::bot::app::HandlerError>,
{
    fn from(e: E) -> Self {
        tracing::warn!(error = %e, "composer call failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong; try again",
        )
    }
}

/// Who calls, as Telegram signed it, and their language.
struct Caller {
    user: i64,
    lang: Lang,
}

async fn caller(m: &MiniApp, headers: &HeaderMap, max_age_s: i64) -> Result<Caller, AppError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("tma "))
        .unwrap_or("");
    let now = crate::db::now_ms() / 1000;
    let user = m.verifier.verify(raw, now, max_age_s).map_err(|e| {
        tracing::info!(reason = %e, "composer call refused");
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    })?;
    let stored = crate::db::users::get_user(&m.app.db, user.id).await?;
    let Some(stored) = stored else {
        // Only users the bot knows (they pressed /start) have drafts.
        return Err(AppError::not_found());
    };
    if stored.banned {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "banned",
            "access is closed",
        ));
    }
    Ok(Caller {
        user: user.id,
        lang: Lang::from_code(&stored.language),
    })
}

fn ctx<'a>(m: &'a MiniApp, c: &Caller) -> Ctx<'a> {
    Ctx {
        bot: &m.bot,
        app: &m.app,
        chat: teloxide::types::ChatId(c.user),
        user: c.user,
        lang: c.lang,
    }
}

/// One render of `user`'s at a time, and [`RENDERS_AT_ONCE`] on the machine.
async fn render_turn<'a>(
    m: &'a MiniApp,
    user: i64,
) -> Result<(Busy<'a>, tokio::sync::SemaphorePermit<'a>), AppError> {
    // The user's previous drawing is waited for a little (the page sends one at a time; a
    // second client of the same user queues behind it, briefly).
    let mut busy = Busy::enter(&m.drawing, user);
    for _ in 0..200 {
        if busy.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        busy = Busy::enter(&m.drawing, user);
    }
    let busy = busy.ok_or_else(|| {
        AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "still drawing the last change",
        )
    })?;
    let permit = tokio::time::timeout(std::time::Duration::from_secs(20), m.renders.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| AppError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "busy; try again"))?;
    Ok((busy, permit))
}

/// The caller's draft under `key` (empty: their current one, as the menu button opens it).
async fn draft_of(m: &MiniApp, user: i64, key: &str) -> Result<Dialogue, AppError> {
    let state = dialogue::load(&m.app.db, user).await?;
    let mine = crate::bot::ugc::layout::layout_of(&state)
        .and_then(|l| l.app.as_deref())
        .is_some_and(|k| key.is_empty() || k == key);
    if mine {
        Ok(state)
    } else {
        Err(AppError::not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_entry_is_refused_while_held_and_left_when_dropped() {
        let set = std::sync::Mutex::new(HashSet::new());
        let first = Busy::enter(&set, 7).expect("free");
        assert!(Busy::enter(&set, 7).is_none(), "held");
        assert!(
            set.lock().unwrap().contains(&7),
            "a refusal leaves the holder's entry"
        );
        drop(first);
        assert!(Busy::enter(&set, 7).is_some(), "free again");
    }
}

#[derive(Deserialize)]
struct DraftRequest {
    #[serde(default)]
    key: String,
}

async fn draft(
    State(m): State<Arc<MiniApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let c = caller(&m, &headers, VIEW_MAX_AGE_S).await?;
    let req: DraftRequest = json(&body)?;
    let state = draft_of(&m, c.user, &req.key).await?;
    let view = page::DraftView::of(&ctx(&m, &c), &state).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(view)).into_response())
}

/// A layout change from the page: the circle's top-left corner and size in output pixels,
/// the ring, the captions, the safe zone and the brand kit.
#[derive(Debug, Deserialize, Serialize, Clone)]
pub struct LayoutEdit {
    pub x: i64,
    pub y: i64,
    /// Per cent of the default size (50–160).
    pub size: u32,
    pub ring: bool,
    pub ring_color: String,
    pub captions: bool,
    pub caption_style: String,
    pub safe_zone: String,
    pub brand: bool,
    /// Where the background starts, in ms.
    #[serde(default)]
    pub start_ms: u32,
}

#[derive(Deserialize)]
struct StillRequest {
    #[serde(default)]
    key: String,
    /// The new layout (none: the saved one, as the page first loads).
    layout: Option<LayoutEdit>,
}

/// The still of the draft (after saving the page's layout): what gets ordered. The price
/// rides in `X-Price`.
async fn still(
    State(m): State<Arc<MiniApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let c = caller(&m, &headers, VIEW_MAX_AGE_S).await?;
    let req: StillRequest = json(&body)?;
    if req.layout.is_some() && req.key.is_empty() {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "which draft?",
        ));
    }
    let (raw, _) = dialogue::load_raw(&m.app.db, c.user).await?;
    let mut state = draft_of(&m, c.user, &req.key).await?;
    let _turn = render_turn(&m, c.user).await?;
    let window = crate::db::limits::hit(
        &m.app.db,
        "app-still",
        &c.user.to_string(),
        3_600_000,
        STILLS_PER_HOUR,
    )
    .await?;
    if window.hits > STILLS_PER_HOUR {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "limit",
            "too many changes this hour",
        ));
    }
    if let Some(edit) = &req.layout {
        page::apply(&mut state, edit)
            .map_err(|why| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "layout", why))?;
        // Only over the draft as read: an order (or the chat) that got there first wins.
        if !dialogue::replace(&m.app.db, c.user, raw.as_deref(), &state).await? {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "ordered",
                "this draft was ordered or changed",
            ));
        }
    }
    let ctx = ctx(&m, &c);
    let Some(subject) = crate::bot::ugc::layout::subject(&state) else {
        return Err(AppError::not_found());
    };
    let logo = match subject.overlay {
        None => crate::bot::brand::logo_key(&ctx).await?,
        Some(_) => None,
    };
    let work = m.app.work_dir.join(format!("app-{}", c.user));
    let jpeg =
        crate::bot::ugc::layout::render(&m.app.storage, &work, logo.as_deref(), &subject).await?;
    let price = page::price_of(&ctx, &state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::HeaderName::from_static("x-price"),
                price.to_string(),
            ),
        ],
        jpeg,
    )
        .into_response())
}

/// The character's portrait, for the circle the page draws while a finger moves it.
async fn portrait(
    State(m): State<Arc<MiniApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    use crate::storage::ObjectStore;
    let c = caller(&m, &headers, VIEW_MAX_AGE_S).await?;
    let req: DraftRequest = json(&body)?;
    let state = draft_of(&m, c.user, &req.key).await?;
    let Some(subject) = crate::bot::ugc::layout::subject(&state) else {
        return Err(AppError::not_found());
    };
    let window = crate::db::limits::hit(
        &m.app.db,
        "app-portrait",
        &c.user.to_string(),
        3_600_000,
        60,
    )
    .await?;
    if window.hits > 60 {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "limit",
            "too many",
        ));
    }
    let _turn = render_turn(&m, c.user).await?;
    let bytes = m.app.storage.get_bytes(subject.character).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        bytes,
    )
        .into_response())
}

/// "▶ 3 s preview": the first seconds of the saved layout, made offline and watermarked.
async fn preview(
    State(m): State<Arc<MiniApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let c = caller(&m, &headers, VIEW_MAX_AGE_S).await?;
    let req: DraftRequest = json(&body)?;
    let state = draft_of(&m, c.user, &req.key).await?;
    let _turn = render_turn(&m, c.user).await?;
    let video = motion::preview(&m.app, c.user, &state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        video,
    )
        .into_response())
}

#[derive(Deserialize)]
struct OrderRequest {
    #[serde(default)]
    key: String,
    /// The price the main button showed.
    price: i64,
}

/// The main button: the draft ordered through the same ordering service as the chat's button,
/// at the price the page showed; a second tap while (or after) the first orders nothing.
async fn order(
    State(m): State<Arc<MiniApp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let c = caller(&m, &headers, ORDER_MAX_AGE_S).await?;
    let req: OrderRequest = json(&body)?;
    if req.key.is_empty() {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "which draft?",
        ));
    }
    // Placed on a task of its own: a client that leaves mid-order does not cut it half-way.
    let task = tokio::spawn(async move {
        let Some(_busy) = Busy::enter(&m.ordering, c.user) else {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "ordering",
                "the order is being placed",
            ));
        };
        place_order(&m, &c, &req).await
    });
    task.await
        .map_err(|e| AppError::from(Box::new(e) as crate::bot::app::HandlerError))?
}

async fn place_order(m: &MiniApp, c: &Caller, req: &OrderRequest) -> Result<Response, AppError> {
    let state = draft_of(m, c.user, &req.key).await.map_err(|_| {
        AppError::new(
            StatusCode::CONFLICT,
            "ordered",
            "this draft was ordered or closed",
        )
    })?;
    let ctx = ctx(m, c);
    let price = page::price_of(&ctx, &state).await?;
    if price != req.price {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "price",
            price.to_string(),
        ));
    }
    let before = crate::db::jobs::jobs_of_user(&m.app.db, c.user, 1).await?;
    let overlay = matches!(state, Dialogue::OverlayEdit { .. });
    if overlay {
        crate::bot::ugc::layout::recompose(&ctx, state, Some(price)).await?;
    } else {
        crate::bot::ugc::order::order(&ctx, state, Some(price), None).await?;
    }
    let after = crate::db::jobs::jobs_of_user(&m.app.db, c.user, 1).await?;
    let made = after.first().map(|j| j.id) != before.first().map(|j| j.id);
    tracing::info!(user_id = c.user, made, "ordered from the composer");
    Ok(Json(serde_json::json!({"ordered": made})).into_response())
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, "bad-request", e.to_string()))
}
