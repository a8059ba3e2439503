//! The HTTP side of `reelforge serve`: `/health`, `/metrics` (Prometheus text) and
//! `/webhooks/stripe` (signature checked on the raw body, each event handled once).
use crate::db::{now_ms, Db};
use crate::payments::stripe::{handle_event, verify_signature, WebhookOutcome};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// `whsec_…`; without it the Stripe route answers 404.
    pub stripe_webhook_secret: Option<String>,
    /// `METRICS_TOKEN`: `/metrics` wants `Authorization: Bearer <token>`; without one only
    /// clients on this machine (loopback) may scrape.
    pub metrics_token: Option<String>,
    /// Credits are announced here so the bot can tell the user.
    pub credited: Option<tokio::sync::mpsc::UnboundedSender<WebhookOutcome>>,
    /// The referrer's share of a paid purchase, percent (pricing table).
    pub referral_percent: i64,
    /// `TRUSTED_PROXIES`: only from these is `X-Forwarded-For` believed.
    pub trusted_proxies: Arc<TrustedProxies>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/webhooks/stripe", post(stripe_webhook))
        .with_state(state)
}

/// `/health` and `/metrics` alone: what a `reelforge worker` process serves on its own
/// `HTTP_ADDR`, so every process is checked and scraped.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> Response {
    let ok = s.db.ping().await.is_ok();
    let body = serde_json::json!({ "status": if ok { "ok" } else { "degraded" }, "database": if ok { "ok" } else { "unreachable" } });
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
        .into_response()
}

async fn metrics(
    State(s): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let allowed = match s.metrics_token.as_deref() {
        Some(token) => headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        // Served without connection info only inside tests; `serve` always has it. Behind a
        // trusted proxy the client is the one it names, not the proxy on this machine.
        None => peer.is_none_or(|axum::Extension(c)| {
            s.trusted_proxies.client(c.0.ip(), &headers).is_loopback()
        }),
    };
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics need METRICS_TOKEN (Authorization: Bearer …) or a loopback client",
        )
            .into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::render(&s.db).await,
    )
        .into_response()
}

async fn stripe_webhook(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = s.stripe_webhook_secret.as_deref() else {
        return (StatusCode::NOT_FOUND, "stripe is not configured").into_response();
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Err(e) = verify_signature(header, &body, secret, now_ms() / 1000) {
        return (StatusCode::BAD_REQUEST, format!("signature: {e}")).into_response();
    }
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
    };
    let Some(event_id) = event["id"].as_str() else {
        return (StatusCode::BAD_REQUEST, "event has no id").into_response();
    };
    // At-least-once delivery. Credit first: the ledger key of the checkout session makes a
    // repeated event a no-op, so an error anywhere below is safe to answer with 5xx and let
    // Stripe retry. The event id is recorded only afterwards, to announce a credit once.
    let outcome = match handle_event(&s.db, &event).await {
        Ok(outcome) => outcome,
        Err(e) => {
            crate::metrics::payment("stripe", "error");
            tracing::warn!(event_id, error = %e, "stripe event not credited; Stripe will retry");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not credit: {e}"),
            )
                .into_response();
        }
    };
    // The referrer's share, once per payment (its key is the payment's): on a retried event
    // too, so a crash between the credit and this line loses nothing.
    if let Some((user, tokens, session)) = crate::payments::stripe::paid_session(&event) {
        let key = format!("stripe:{session}");
        match crate::db::account::reward_referrer(&s.db, user, tokens, &key, s.referral_percent)
            .await
        {
            Ok(Some((referrer, tokens, balance))) => {
                if let Some(tx) = &s.credited {
                    let _ = tx.send(WebhookOutcome::ReferralReward {
                        referrer,
                        tokens,
                        balance,
                    });
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(event_id, error = %e, "referral share not credited; Stripe will retry");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable; retry",
                )
                    .into_response();
            }
        }
    }
    let first = match crate::db::orders::record_webhook_event(&s.db, event_id).await {
        Ok(first) => first,
        Err(e) => {
            tracing::warn!(event_id, error = %e, "stripe event credited but not recorded; Stripe will retry");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable; retry",
            )
                .into_response();
        }
    };
    if !first {
        crate::metrics::payment("stripe", "duplicate");
        return (
            StatusCode::OK,
            Json(serde_json::json!({"received": true, "duplicate": true})),
        )
            .into_response();
    }
    if let WebhookOutcome::Credited { .. } = &outcome {
        crate::metrics::payment("stripe", "credited");
        if let Some(tx) = &s.credited {
            let _ = tx.send(outcome.clone());
        }
    }
    (StatusCode::OK, Json(serde_json::json!({"received": true}))).into_response()
}

/// Compares secrets without an early exit (no timing hint about the token).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `TRUSTED_PROXIES`: the reverse proxies (CIDRs) whose `X-Forwarded-For` is believed. A
/// request from anywhere else is judged by its own address, whatever headers it sends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

impl TrustedProxies {
    /// `"127.0.0.1/32, 10.0.0.0/8, ::1"` (a bare address is one host).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (addr, bits) = part.split_once('/').unwrap_or((part, ""));
            let ip: std::net::IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("TRUSTED_PROXIES: '{part}' is not an address or CIDR"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                max
            } else {
                bits.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("TRUSTED_PROXIES: '{part}' has a bad prefix length"))?
            };
            nets.push((ip, bits));
        }
        Ok(Self(nets))
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }

    /// The client of a request that came from `peer`: `peer` itself, unless it is a trusted
    /// proxy; then the right-most `X-Forwarded-For` address that is not a trusted proxy (the
    /// left part of the header is whatever the client wrote).
    pub fn client(&self, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let forwarded: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|a| a.trim().to_string())
            .collect();
        // From the right: trusted proxies are skipped; the first other entry is the client.
        // An entry that is not an address (`unknown`, `host:port`) ends the walk: what lies to
        // its left was written by someone we do not trust.
        for entry in forwarded.iter().rev() {
            match entry.parse::<std::net::IpAddr>() {
                Ok(a) if self.contains(a) => continue,
                Ok(a) => return a,
                Err(_) => return std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            }
        }
        peer
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let t = TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.9, 10.1.2.3".parse().unwrap(),
        );
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let outside: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            t.client(local, &h),
            "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(
            t.client(outside, &h),
            outside,
            "a header from anyone else is ignored"
        );
        assert_eq!(TrustedProxies::default().client(local, &h), local);
        assert_eq!(t.client(local, &HeaderMap::new()), local);
        assert!(TrustedProxies::parse("10.0.0.0/40").is_err());
        assert!(TrustedProxies::parse("proxy").is_err());
        assert!(t.contains("::ffff:10.9.9.9".parse().unwrap()));
        let mut odd = HeaderMap::new();
        odd.insert("x-forwarded-for", "::1, unknown".parse().unwrap());
        assert!(
            !t.client(local, &odd).is_loopback(),
            "no address left of an unparsable one"
        );
    }
}
