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

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WebhookRequest {
    /// Where events are POSTed (http or https).
    pub url: String,
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
    let url = reqwest::Url::parse(req.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| Problem::bad_request("url must be an http(s) URL"))?;
    if !s.webhook_private_ok {
        public_address(&url).await.map_err(Problem::bad_request)?;
    }
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

/// Refuses URLs whose host resolves to loopback, private, link-local or unspecified
/// addresses: a client must not make the server call into its own network.
pub async fn public_address(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| format!("'{host}' does not resolve"))?
        .collect();
    let private = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    };
    if addrs.is_empty() || addrs.iter().any(|a| private(a.ip())) {
        return Err(format!(
            "the webhook must be on a public address ('{host}' is local or private)"
        ));
    }
    Ok(())
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

/// Puts the events of finished API jobs in the outbox, then sends what is due. Runs until
/// `stop` in `serve`; each pass is safe to repeat (event ids are unique).
pub async fn run(
    db: Db,
    http: reqwest::Client,
    private_ok: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = pass(&db, &http, private_ok).await {
            tracing::warn!(error = %e, "webhook pass failed");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// `private_ok`: the address check is repeated before each send (a name may resolve
/// elsewhere later).
pub async fn pass(
    db: &Db,
    http: &reqwest::Client,
    private_ok: bool,
) -> Result<(), crate::db::jobs::QueueError> {
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
    for e in rows::due_events(db, 50).await? {
        let Some(hook) = rows::webhook_of(db, e.user_id).await? else {
            rows::event_failed(db, e.id, "no webhook is set any more", None).await?;
            continue;
        };
        if !private_ok {
            let checked = match reqwest::Url::parse(&hook.url) {
                Ok(u) => public_address(&u).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(why) = checked {
                rows::event_failed(db, e.id, &why, None).await?;
                continue;
            }
        }
        let t = now_ms() / 1000;
        let sent = http
            .post(&hook.url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .header("reelforge-event-id", &e.event_id)
            .header("reelforge-signature", sign(&hook.secret, t, &e.body))
            .body(e.body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(err) => Err(if err.is_timeout() {
                "timed out".to_string()
            } else {
                "could not connect".to_string()
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

#[cfg(test)]
mod address_tests {
    use super::*;

    #[tokio::test]
    async fn webhooks_into_the_servers_own_network_are_refused() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://0.0.0.0/",
        ] {
            let u = reqwest::Url::parse(url).unwrap();
            assert!(public_address(&u).await.is_err(), "{url}");
        }
        let public = reqwest::Url::parse("https://93.184.215.14/hook").unwrap();
        assert!(public_address(&public).await.is_ok());
    }
}
