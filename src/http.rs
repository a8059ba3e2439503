//! The HTTP side of `reelforge serve`: `/health`, `/metrics` (Prometheus text) and
//! `/webhooks/stripe` (signature checked on the raw body, each event handled once).
use crate::db::{now_ms, Db};
use crate::metrics::Metrics;
use crate::on_db;
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
    pub metrics: Arc<Metrics>,
    /// `whsec_…`; without it the Stripe route answers 404.
    pub stripe_webhook_secret: Option<String>,
    /// Credits are announced here so the bot can tell the user.
    pub credited: Option<tokio::sync::mpsc::UnboundedSender<WebhookOutcome>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/webhooks/stripe", post(stripe_webhook))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> Response {
    let ok = on_db!(&s.db, p => sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(p).await).is_ok();
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

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.render(&s.db).await,
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
    // At-least-once delivery: an event id is acted on once.
    let first = on_db!(&s.db, p => sqlx::query("INSERT INTO webhook_events (event_id, received_ms) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING")
        .bind(event_id)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
    match first {
        Ok(0) => {
            return (
                StatusCode::OK,
                Json(serde_json::json!({"received": true, "duplicate": true})),
            )
                .into_response()
        }
        Ok(_) => {}
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable; retry",
            )
                .into_response()
        }
    }
    match handle_event(&s.db, &event).await {
        Ok(outcome) => {
            if let (WebhookOutcome::Credited { .. }, Some(tx)) = (&outcome, &s.credited) {
                let _ = tx.send(outcome.clone());
            }
            (StatusCode::OK, Json(serde_json::json!({"received": true}))).into_response()
        }
        Err(e) => {
            // Let Stripe retry: forget the event id so the retry is handled.
            let _ = on_db!(&s.db, p => sqlx::query("DELETE FROM webhook_events WHERE event_id = $1").bind(event_id).execute(p).await.map(|r| r.rows_affected()));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not credit: {e}"),
            )
                .into_response()
        }
    }
}
