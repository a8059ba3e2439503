//! Webhooks: a client registers one URL (`PUT /v1/webhook`) and gets `job.succeeded` /
//! `job.failed` / `job.cancelled` events for its API jobs, signed as Stripe signs:
//! `Reelforge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Events
//! go through a durable outbox in the database: each has a stable id (`evt_<job>_<type>`,
//! also in the `Reelforge-Event-Id` header, for deduplication), is sent at least once, and is
//! retried with backoff (10 s doubling, at most 1 h apart) for 24 h.
use super::{Api, Caller, Problem};
use crate::db::{api as rows, now_ms, Db};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const GIVE_UP_AFTER_MS: i64 = 24 * 3_600_000;

/// What a webhook URL may be made of: `http(s)://` and RFC 3986's characters, no spaces.
pub const URL_PATTERN: &str = "^https?://[A-Za-z0-9._~:/?#\\[\\]@!$&'()*+,;=%-]+$";
pub const MAX_URL_CHARS: usize = 2000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed (http or https). It must name a host with a public address
    /// (422 otherwise).
    #[schemars(regex(pattern = URL_PATTERN), length(max = MAX_URL_CHARS))]
    pub url: String,
}

/// Whether `url` has the shape the schema describes (its host is checked afterwards).
fn url_shape(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    url.chars().count() <= MAX_URL_CHARS
        && rest.is_some_and(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._~:/?#[]@!$&'()*+,;=%-".contains(c))
        })
}

fn refused(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "webhook-refused",
        "The webhook URL cannot be used",
        detail,
    )
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct WebhookView {
    pub url: String,
    /// The signing secret (shown when the webhook is set).
    pub secret: Option<String>,
}

/// `PUT /v1/webhook` `{"url": …}`: sets (or replaces) the webhook and returns its new secret.
pub async fn register(
    State(s): State<Api>,
    caller: Caller,
    body: Result<Json<WebhookRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    if !url_shape(&req.url) {
        return Err(Problem::bad_request(
            "url must be an http(s) URL of at most 2000 characters, without spaces",
        ));
    }
    let url = reqwest::Url::parse(&req.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| refused("url is not a URL with a host"))?;
    crate::egress::check_url(
        &url,
        &crate::egress::Reach::private_ok(s.webhook_private_ok),
    )
    .await
    .map_err(refused)?;
    let secret = format!("whsec_{}", crate::db::api_keys::random_hex(24));
    rows::set_webhook(&s.db, caller.user_id, url.as_str(), &secret).await?;
    Ok((
        StatusCode::OK,
        Json(WebhookView {
            url: url.to_string(),
            secret: Some(secret),
        }),
    )
        .into_response())
}

pub async fn show(State(s): State<Api>, caller: Caller) -> Result<Json<WebhookView>, Problem> {
    let w = rows::webhook_of(&s.db, caller.user_id)
        .await?
        .ok_or_else(|| Problem::not_found("no webhook is set"))?;
    Ok(Json(WebhookView {
        url: w.url,
        secret: None,
    }))
}

pub async fn remove(State(s): State<Api>, caller: Caller) -> Result<StatusCode, Problem> {
    if rows::delete_webhook(&s.db, caller.user_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("no webhook is set"))
    }
}

/// The signature header of `body` at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header as a receiver would (tolerance in seconds).
pub fn verify(secret: &str, header: &str, body: &str, now_s: i64, tolerance_s: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_s - t).abs() > tolerance_s {
        return false;
    }
    let expected = sign(secret, t, body);
    let expected = expected.rsplit("v1=").next().unwrap_or("");
    sigs.iter()
        .any(|s| crate::http::constant_time_eq(s.as_bytes(), expected.as_bytes()))
}

/// Sends webhook events: the checked client (see [`crate::egress`]), concurrently across
/// customers and one at a time per customer's endpoint, so a slow endpoint only delays its own
/// events.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    private_ok: bool,
    /// Customers whose endpoint has a send in flight.
    busy: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
}

impl Sender {
    /// `private_ok` (`API_WEBHOOK_PRIVATE_OK`, tests only): endpoints on private addresses.
    pub fn new(private_ok: bool) -> Result<Self, String> {
        Ok(Self {
            http: crate::egress::client(&crate::egress::Reach::private_ok(private_ok))?,
            private_ok,
            busy: Default::default(),
        })
    }
}

/// Puts the events of finished API jobs in the outbox and sends what is due, every half
/// second, without waiting for slow endpoints. Runs until `stop` in `serve`; each pass is safe
/// to repeat (event ids are unique).
pub async fn run(db: Db, sender: Sender, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match dispatch(&db, &sender).await {
            Ok(mut sends) => sends.detach_all(),
            Err(e) => tracing::warn!(error = %e, "webhook pass failed"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// One pass, waiting for its sends to end.
pub async fn pass(db: &Db, sender: &Sender) -> Result<(), crate::db::jobs::QueueError> {
    let mut sends = dispatch(db, sender).await?;
    while sends.join_next().await.is_some() {}
    Ok(())
}

/// Enqueues the finished jobs' events, then starts one task per customer with due events
/// (none for a customer whose endpoint is still busy).
/// `campaign.completed` for each campaign of a user with a webhook whose variants have all
/// ended (once: its event id is the campaign's). Its `job_id` in the outbox is 0.
async fn campaign_events(db: &Db) -> Result<(), crate::db::jobs::QueueError> {
    for c in crate::db::campaigns::without_event(db, 100).await? {
        let view = match super::campaigns::CampaignView::of(db, &c).await {
            Ok(view) => view,
            Err(p) => {
                tracing::warn!(campaign = c.id, error = %p.detail, "campaign event not made");
                continue;
            }
        };
        if view.state != "completed" {
            continue;
        }
        let event_id = format!("evt_campaign_{}_completed", c.id);
        let body = serde_json::json!({
            "id": event_id,
            "type": "campaign.completed",
            "created_ms": now_ms(),
            "data": view,
        })
        .to_string();
        rows::enqueue_event(db, &event_id, c.user_id, 0, "campaign.completed", &body).await?;
        crate::db::campaigns::event_queued(db, c.id).await?;
    }
    Ok(())
}

async fn dispatch(
    db: &Db,
    sender: &Sender,
) -> Result<tokio::task::JoinSet<()>, crate::db::jobs::QueueError> {
    for (job_id, user, state) in rows::finished_without_event(db, 100).await? {
        let kind = match state.as_str() {
            "done" => "job.succeeded",
            "cancelled" => "job.cancelled",
            _ => "job.failed",
        };
        let Some(job) = crate::db::jobs::job(db, job_id).await? else {
            continue;
        };
        let event_id = format!("evt_{job_id}_{}", kind.trim_start_matches("job."));
        let body = serde_json::json!({
            "id": event_id,
            "type": kind,
            "created_ms": now_ms(),
            "data": super::jobs::JobView::of(&job),
        })
        .to_string();
        rows::enqueue_event(db, &event_id, user, job_id, kind, &body).await?;
    }
    campaign_events(db).await?;
    let busy: Vec<i64> = sender.busy().iter().copied().collect();
    let mut by_user: std::collections::BTreeMap<i64, Vec<rows::Event>> = Default::default();
    for e in rows::due_events_fairly(db, 50, EVENTS_PER_CUSTOMER, &busy).await? {
        by_user.entry(e.user_id).or_default().push(e);
    }
    let mut sends = tokio::task::JoinSet::new();
    for (user, events) in by_user {
        if !sender.busy().insert(user) {
            continue;
        }
        let (db, sender) = (db.clone(), sender.clone());
        sends.spawn(async move {
            // Frees the customer however the task ends (done, panicked or aborted).
            let _free = Busy(sender.clone(), user);
            for e in events {
                if let Err(err) = send(&db, &sender, e).await {
                    tracing::warn!(user_id = user, error = %err, "webhook send not recorded");
                    break;
                }
            }
        });
    }
    Ok(sends)
}

/// How many of one customer's due events a pass takes.
const EVENTS_PER_CUSTOMER: i64 = 5;

/// A customer's endpoint marked busy until this is dropped.
struct Busy(Sender, i64);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy().remove(&self.1);
    }
}

impl Sender {
    fn busy(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sends one event and records the outcome (delivered, or failed with its next try).
async fn send(db: &Db, sender: &Sender, e: rows::Event) -> Result<(), crate::db::DbError> {
    // A pass that read the event while an earlier send of it was still running must not send
    // it again.
    if !rows::still_due(db, e.id).await? {
        return Ok(());
    }
    let Some(hook) = rows::webhook_of(db, e.user_id).await? else {
        return rows::event_failed(db, e.id, "no webhook is set any more", None).await;
    };
    // The URL again (an address literal does not go through the resolver hook; a name may
    // resolve elsewhere now).
    let checked = match reqwest::Url::parse(&hook.url) {
        Ok(u) => {
            crate::egress::check_url(&u, &crate::egress::Reach::private_ok(sender.private_ok)).await
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(why) = checked {
        return rows::event_failed(db, e.id, &why, None).await;
    }
    let t = now_ms() / 1000;
    let sent = sender
        .http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("reelforge-event-id", &e.event_id)
        .header("reelforge-signature", sign(&hook.secret, t, &e.body))
        .body(e.body.clone())
        .send()
        .await;
    let outcome = match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        // Redirects are not followed: a 3xx is a failed delivery like any other status.
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(err) => Err(if err.is_timeout() {
            "timed out".to_string()
        } else {
            "could not connect (or the address is not public)".to_string()
        }),
    };
    match outcome {
        Ok(()) => {
            rows::event_delivered(db, e.id).await?;
            tracing::info!(event = %e.event_id, "webhook delivered");
        }
        Err(why) => {
            let backoff = (10_000i64 << e.attempts.min(20)).min(3_600_000);
            let next = now_ms() + backoff;
            let keep = next - e.created_ms < GIVE_UP_AFTER_MS;
            rows::event_failed(db, e.id, &why, keep.then_some(next)).await?;
            tracing::warn!(event = %e.event_id, attempt = e.attempts + 1, error = %why, "webhook not delivered");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = sign("whsec_a", 1_700_000_000, "{\"id\":1}");
        assert!(verify("whsec_a", &header, "{\"id\":1}", 1_700_000_010, 300));
        assert!(!verify(
            "whsec_b",
            &header,
            "{\"id\":1}",
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_a",
            &header,
            "{\"id\":2}",
            1_700_000_010,
            300
        ));
        assert!(
            !verify("whsec_a", &header, "{\"id\":1}", 1_700_001_000, 300),
            "too old"
        );
        assert!(!verify("whsec_a", "v1=00", "{}", 0, 300));
    }
}
