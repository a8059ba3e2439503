//! The operator console at `/console`: server-rendered pages (maud) with server-side SVG
//! charts — no scripts, nothing fetched at run time. Sign-in with `CONSOLE_TOKEN` (or the
//! Telegram Login Widget's signed data for ids in `ADMIN_IDS`); the session is a signed
//! cookie (HttpOnly, SameSite=Strict, Secure over https), every POST carries a CSRF token
//! derived from the session, failed sign-ins are limited per client address, and every
//! route but the sign-in page checks the session.
pub mod charts;
pub mod money;
pub mod pages;

use crate::db::{now_ms, Db};
use crate::pricing::PriceTable;
use crate::storage::Storage;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hmac::{Hmac, Mac};
use maud::{html, Markup, DOCTYPE};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

const COOKIE: &str = "rf_console";
const SESSION_MS: i64 = 12 * 3_600_000;
/// Failed sign-ins per client address per 10 minutes.
const MAX_FAILURES: u32 = 5;

pub struct ConsoleState {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub prices: Arc<PriceTable>,
    /// `CONSOLE_TOKEN`.
    pub token: String,
    /// The bot token, to check the Telegram Login Widget's hash; `None` = widget sign-in off.
    pub bot_token: Option<String>,
    pub admin_ids: Vec<i64>,
    /// Cookies get `Secure` (the console is served over https, `PUBLIC_URL`).
    pub https: bool,
    /// `TRUSTED_PROXIES`: the sign-in limiter counts the client a trusted proxy names.
    pub trusted_proxies: Arc<crate::http::TrustedProxies>,
}

impl ConsoleState {
    pub fn new(
        db: Db,
        storage: Arc<Storage>,
        prices: Arc<PriceTable>,
        token: String,
        bot_token: Option<String>,
        admin_ids: Vec<i64>,
        https: bool,
    ) -> Self {
        Self {
            db,
            storage,
            prices,
            token,
            bot_token,
            admin_ids,
            https,
            trusted_proxies: Arc::default(),
        }
    }

    fn mac(&self, what: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.token.as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(what.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session for `who` (the operator's name in the audit log), recorded in the
    /// database; the cookie carries its id and the id's signature.
    async fn session(&self, who: &str) -> Result<String, crate::db::DbError> {
        let who: String = who
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let id = crate::db::api_keys::random_hex(16);
        crate::db::console::start_session(&self.db, &id, &who, now_ms() + SESSION_MS).await?;
        Ok(format!("{id}.{}", self.mac(&format!("session:{id}"))))
    }

    /// The operator of a live session: signed, not signed out, not expired, and for a
    /// Telegram sign-in an id still in `ADMIN_IDS`.
    async fn check_session(&self, value: &str) -> Option<Operator> {
        let (id, sig) = value.rsplit_once('.')?;
        let expected = self.mac(&format!("session:{id}"));
        if !crate::http::constant_time_eq(sig.as_bytes(), expected.as_bytes()) {
            return None;
        }
        let who = crate::db::console::live_session(&self.db, id)
            .await
            .ok()??;
        if let Some(tg) = who.strip_prefix("tg") {
            if !tg
                .parse::<i64>()
                .is_ok_and(|id| self.admin_ids.contains(&id))
            {
                return None;
            }
        }
        Some(Operator {
            name: who,
            csrf: self.mac(&format!("csrf:{value}")),
            session: id.to_string(),
        })
    }

    /// Counts a sign-in attempt of `client` and says whether it may go on: at most
    /// `MAX_FAILURES` failures in ten minutes. The attempt is counted before the credentials
    /// are checked (parallel guesses all count) and taken back when it succeeds. Counted in
    /// the database, so the limit holds across every `serve` process; a database error
    /// refuses.
    async fn sign_in_attempt(&self, client: &str) -> bool {
        match crate::db::limits::hit(
            &self.db,
            SIGN_IN_SCOPE,
            client,
            SIGN_IN_WINDOW_MS,
            i64::from(MAX_FAILURES),
        )
        .await
        {
            Ok(w) => w.hits <= i64::from(MAX_FAILURES),
            Err(e) => {
                tracing::warn!(error = %e, "the sign-in limiter could not be counted");
                false
            }
        }
    }

    /// A sign-in that succeeded is not a failure.
    async fn sign_in_succeeded(&self, client: &str) {
        if let Err(e) =
            crate::db::limits::undo(&self.db, SIGN_IN_SCOPE, client, SIGN_IN_WINDOW_MS).await
        {
            tracing::warn!(error = %e, "the sign-in limiter could not be updated");
        }
    }
}

const SIGN_IN_SCOPE: &str = "console-sign-in";
const SIGN_IN_WINDOW_MS: i64 = 600_000;

pub type Console = Arc<ConsoleState>;

/// A page's early answer (a redirect to sign in, a refusal, an error), boxed: responses are
/// large.
pub struct Reply(Box<Response>);

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The signed-in operator and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub csrf: String,
    /// The session's id (sign-out ends it).
    pub session: String,
}

pub fn router(state: Console) -> Router {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/telegram", get(telegram_login))
        .route("/console/logout", post(logout))
        .route("/console", get(pages::overview))
        .route("/console/users", get(pages::users))
        .route("/console/users/{id}", get(pages::user))
        .route("/console/users/{id}/topup", post(pages::topup))
        .route("/console/users/{id}/ban", post(pages::ban))
        .route("/console/users/{id}/keys", post(pages::keys))
        .route("/console/jobs", get(pages::jobs))
        .route("/console/jobs/{id}", get(pages::job))
        .route("/console/jobs/{id}/video", get(pages::job_video))
        .route("/console/jobs/{id}/action", post(pages::job_action))
        .route("/console/payments", get(pages::payments))
        .route("/console/payments/{id}/confirm", post(pages::confirm_order))
        .route("/console/providers", get(pages::providers))
        .with_state(state)
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The operator of this request, or a redirect to the sign-in page.
pub async fn operator(s: &ConsoleState, headers: &HeaderMap) -> Result<Operator, Reply> {
    let session = match cookie_of(headers) {
        Some(c) => s.check_session(&c).await,
        None => None,
    };
    session.ok_or_else(|| Redirect::to("/console/login").into_response().into())
}

/// A POST's operator: a session and the form's CSRF token, or 403.
pub async fn operator_posting(
    s: &ConsoleState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Operator, Reply> {
    let op = operator(s, headers).await?;
    if !crate::http::constant_time_eq(csrf.as_bytes(), op.csrf.as_bytes()) {
        return Err((
            StatusCode::FORBIDDEN,
            "the form is stale or forged: reload the page",
        )
            .into_response()
            .into());
    }
    Ok(op)
}

/// The page frame: navigation, the operator, the content.
pub fn layout(title: &str, op: Option<&Operator>, content: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — reelforge console" }
                    style { (maud::PreEscaped(STYLE)) }
                }
                body {
                    @if let Some(op) = op {
                        nav {
                            a href="/console" { "Overview" }
                            a href="/console/users" { "Users" }
                            a href="/console/jobs" { "Jobs" }
                            a href="/console/payments" { "Payments" }
                            a href="/console/providers" { "Providers" }
                            form method="post" action="/console/logout" class="inline" {
                                input type="hidden" name="csrf" value=(op.csrf);
                                button { "Sign out (" (op.name) ")" }
                            }
                        }
                    }
                    main { h1 { (title) } (content) }
                }
            }
        }
        .into_string(),
    )
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
nav{display:flex;flex-wrap:wrap;gap:.2rem .9rem;padding:.6rem 1rem;background:#1d2330}nav a,nav button{color:#fff;text-decoration:none;background:none;border:0;font:inherit;cursor:pointer}
main{padding:1rem;max-width:1100px;margin:auto}table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}
td,th{border-bottom:1px solid #e3e6eb;padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#eef0f4}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.6rem}.card{background:#fff;padding:.7rem;border-radius:6px}
.card b{display:block;font-size:1.4rem}.chart{background:#fff;border-radius:6px;padding:.5rem;margin:.6rem 0}.chart svg{width:100%;height:auto}
form.inline{display:inline}input,select,button{font:inherit;padding:.3rem .5rem}button{cursor:pointer}
.ok{color:#137333}.bad{color:#b3261e}.muted{color:#6b7280}pre{white-space:pre-wrap;background:#fff;padding:.5rem;overflow-x:auto}
video{max-width:100%;max-height:70vh;background:#000}.flash{background:#fff4ce;padding:.5rem;border-radius:6px}";

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

async fn login_page(State(s): State<Console>, headers: HeaderMap) -> Response {
    if operator(&s, &headers).await.is_ok() {
        return Redirect::to("/console").into_response();
    }
    sign_in_form(None).into_response()
}

fn sign_in_form(message: Option<&str>) -> Html<String> {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(m) = message { p class="flash bad" { (m) } }
            form method="post" action="/console/login" {
                label { "Console token " input type="password" name="token" autocomplete="current-password" required; }
                " " button id="sign-in" { "Sign in" }
            }
            p class="muted" { "Admins in ADMIN_IDS can also sign in with the Telegram Login Widget pointed at /console/telegram." }
        },
    )
}

fn too_many_sign_ins() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        sign_in_form(Some("Too many failed sign-ins: wait ten minutes.")),
    )
        .into_response()
}

fn client_of(
    s: &ConsoleState,
    peer: Option<&axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> String {
    peer.map_or_else(
        || "unknown".into(),
        |c| s.trusted_proxies.client(c.0 .0.ip(), headers).to_string(),
    )
}

async fn signed_in(s: &ConsoleState, who: &str) -> Response {
    let secure = if s.https { "; Secure" } else { "" };
    let session = match s.session(who).await {
        Ok(session) => session,
        Err(e) => return crate::console::pages::internal(e),
    };
    let cookie = format!(
        "{COOKIE}={session}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_MS / 1000
    );
    let mut r = Redirect::to("/console").into_response();
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

async fn login(
    State(s): State<Console>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let client = client_of(&s, peer.as_ref(), &headers);
    if !s.sign_in_attempt(&client).await {
        return too_many_sign_ins();
    }
    if crate::http::constant_time_eq(f.token.trim().as_bytes(), s.token.as_bytes()) {
        tracing::info!(client = %client, "console sign-in");
        s.sign_in_succeeded(&client).await;
        return signed_in(&s, "token").await;
    }
    tracing::warn!(client = %client, "console sign-in refused");
    (
        StatusCode::UNAUTHORIZED,
        sign_in_form(Some("That token is not right.")),
    )
        .into_response()
}

/// The Telegram Login Widget's redirect: the fields signed with the bot token as documented
/// (`hash` = HMAC-SHA256 with SHA-256(bot token) as the key, over the sorted `key=value`
/// lines), at most a day old, and an id in `ADMIN_IDS`.
async fn telegram_login(
    State(s): State<Console>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(fields): Query<HashMap<String, String>>,
) -> Response {
    let client = client_of(&s, peer.as_ref(), &headers);
    if !s.sign_in_attempt(&client).await {
        return too_many_sign_ins();
    }
    let admin = s.bot_token.as_deref().and_then(|token| {
        let id: i64 = fields.get("id")?.parse().ok()?;
        (telegram_login_valid(token, &fields, now_ms() / 1000) && s.admin_ids.contains(&id))
            .then_some(id)
    });
    // A payload signs in once: a copied sign-in link (history, logs, a shoulder) opens nothing.
    let admin = match (admin, fields.get("hash")) {
        // The hash is compared case-blind, so it is recorded in one case.
        (Some(id), Some(hash)) => {
            match crate::db::console::use_login(&s.db, &hash.to_ascii_lowercase()).await {
                Ok(true) => Some(id),
                Ok(false) => None,
                Err(e) => return crate::console::pages::internal(e),
            }
        }
        _ => None,
    };
    match admin {
        Some(id) => {
            s.sign_in_succeeded(&client).await;
            signed_in(&s, &format!("tg{id}")).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            sign_in_form(Some("That Telegram sign-in is not valid for the console.")),
        )
            .into_response(),
    }
}

/// Checks the Telegram Login Widget data (`hash` and `auth_date` within a day of `now_s`).
pub fn telegram_login_valid(bot_token: &str, fields: &HashMap<String, String>, now_s: i64) -> bool {
    let Some(hash) = fields.get("hash") else {
        return false;
    };
    let fresh = fields
        .get("auth_date")
        .and_then(|d| d.parse::<i64>().ok())
        .is_some_and(|d| (now_s - d).abs() < 86_400);
    let mut lines: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "hash")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.sort();
    let key = Sha256::digest(bot_token.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(lines.join("\n").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    fresh
        && crate::http::constant_time_eq(expected.as_bytes(), hash.to_ascii_lowercase().as_bytes())
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn logout(State(s): State<Console>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let op = match operator_posting(&s, &headers, &f.csrf).await {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    // Ended on the server: the cookie, wherever it was copied, opens nothing any more.
    if let Err(e) = crate::db::console::end_session(&s.db, &op.session).await {
        return crate::console::pages::internal(e);
    }
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(v) = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0").parse()
    {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state() -> (ConsoleState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::connect(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .unwrap();
        let storage = Arc::new(Storage::Folder(
            crate::storage::folder::FolderStore::new(dir.path().join("files")).unwrap(),
        ));
        let s = ConsoleState::new(
            db,
            storage,
            Arc::new(PriceTable::default_table()),
            "t".repeat(32),
            Some("123:ABC".into()),
            vec![7],
            false,
        );
        (s, dir)
    }

    #[tokio::test]
    async fn sessions_are_signed_revocable_and_csrf_follows_the_session() {
        let (s, _dir) = state().await;
        let cookie = s.session("token").await.unwrap();
        let op = s.check_session(&cookie).await.unwrap();
        assert_eq!(op.name, "token");
        let (id, _) = cookie.rsplit_once('.').unwrap();
        let forged = format!("{id}.{}", "0".repeat(64));
        assert!(
            s.check_session(&forged).await.is_none(),
            "the signature covers the id"
        );
        let unknown = {
            let id = "f".repeat(32);
            format!("{id}.{}", s.mac(&format!("session:{id}")))
        };
        assert!(s.check_session(&unknown).await.is_none(), "no such session");
        let other = s
            .check_session(&s.session("token").await.unwrap())
            .await
            .unwrap();
        assert_ne!(op.csrf, other.csrf, "each session has its own CSRF token");
        // Signed out: ended on the server, the cookie opens nothing.
        crate::db::console::end_session(&s.db, &op.session)
            .await
            .unwrap();
        assert!(s.check_session(&cookie).await.is_none());
        // A Telegram admin taken out of ADMIN_IDS loses the sessions they had.
        let tg = s.session("tg7").await.unwrap();
        assert!(s.check_session(&tg).await.is_some());
        let gone = s.session("tg8").await.unwrap();
        assert!(
            s.check_session(&gone).await.is_none(),
            "8 is not in ADMIN_IDS"
        );
    }

    #[tokio::test]
    async fn failed_sign_ins_are_limited_per_client() {
        let (s, _dir) = state().await;
        // A right sign-in is not a failure.
        assert!(s.sign_in_attempt("1.2.3.4").await);
        s.sign_in_succeeded("1.2.3.4").await;
        for _ in 0..MAX_FAILURES {
            assert!(s.sign_in_attempt("1.2.3.4").await, "a failure is counted");
        }
        assert!(
            !s.sign_in_attempt("1.2.3.4").await,
            "the sixth try is refused"
        );
        assert!(s.sign_in_attempt("5.6.7.8").await);
        // Another serve process on the same database sees the same count.
        let other = ConsoleState::new(
            s.db.clone(),
            s.storage.clone(),
            s.prices.clone(),
            "t".into(),
            None,
            vec![],
            false,
        );
        assert!(!other.sign_in_attempt("1.2.3.4").await);
    }

    #[test]
    fn the_telegram_widget_hash_is_checked_as_documented() {
        let token = "123:ABC";
        let mut f: HashMap<String, String> = [
            ("id", "7"),
            ("first_name", "Ann"),
            ("auth_date", "1700000000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let key = Sha256::digest(token.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"auth_date=1700000000\nfirst_name=Ann\nid=7");
        f.insert("hash".into(), hex::encode(mac.finalize().into_bytes()));
        assert!(telegram_login_valid(token, &f, 1_700_000_100));
        assert!(!telegram_login_valid("123:OTHER", &f, 1_700_000_100));
        assert!(
            !telegram_login_valid(token, &f, 1_700_200_000),
            "older than a day"
        );
        f.insert("id".into(), "8".into());
        assert!(
            !telegram_login_valid(token, &f, 1_700_000_100),
            "a changed field"
        );
    }
}
