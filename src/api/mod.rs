//! The public HTTP API v1 (`/v1`, JSON) for agencies and power users: API keys per user
//! (bearer auth, per-key rate limit), uploads, jobs from a typed `JobSpec` with an
//! `Idempotency-Key`, results, balance, prices, webhooks signed like Stripe's, and the
//! OpenAPI document generated from the types; products read from shop links and ad scripts
//! written from them. Jobs made here are the bot's jobs: the same
//! queue, balance, history and metrics. Errors are `application/problem+json` with a stable
//! `type` per error class.
mod campaign_versions;
pub mod campaigns;
pub mod jobs;
pub mod openapi;
pub mod products;
pub mod uploads;
pub mod webhooks;

use crate::db::Db;
use crate::pricing::PriceTable;
use crate::storage::Storage;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;

/// Largest upload (the bot's limit through the cloud Bot API).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

pub struct ApiState {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub prices: Arc<PriceTable>,
    /// Requests per key per minute (`API_RATE_PER_MIN`).
    pub limiter: RateLimiter,
    /// Scratch space for checking uploads.
    pub work_dir: std::path::PathBuf,
    /// Webhooks may point at loopback / private addresses (`API_WEBHOOK_PRIVATE_OK`).
    pub webhook_private_ok: bool,
    /// Bytes a user may upload in 24 h (`API_UPLOAD_MB_PER_DAY`).
    pub upload_bytes_per_day: i64,
    /// Product intake from shop links (shared with the bot).
    pub intake: Arc<crate::products::Intake>,
    pub scripts: Arc<crate::products::scripts::ScriptWriter>,
}

pub type Api = Arc<ApiState>;

pub fn router(state: Api) -> Router {
    Router::new()
        .route(
            "/v1/uploads",
            post(uploads::upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/v1/jobs", post(jobs::create).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get_one))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/result", get(jobs::result))
        .route("/v1/campaigns", post(campaigns::create))
        .route("/v1/campaigns/{id}", get(campaigns::get_one))
        .route("/v1/products", post(products::create).get(products::list))
        .route("/v1/products/{id}", get(products::get_one))
        .route("/v1/products/{id}/scripts", post(products::scripts))
        .route("/v1/balance", get(jobs::balance))
        .route("/v1/prices", get(jobs::prices))
        .route(
            "/v1/webhook",
            put(webhooks::register)
                .get(webhooks::show)
                .delete(webhooks::remove),
        )
        .route("/v1/openapi.json", get(openapi::document))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .with_state(state)
}

/// A JSON object body (an empty body is `{}`); a field sent as `null` is refused by name, as
/// the document says (leave it out instead).
pub(super) fn strict_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
    if let Some((field, _)) = value
        .as_object()
        .and_then(|o| o.iter().find(|(_, v)| v.is_null()))
    {
        return Err(Problem::bad_request(format!(
            "{field} is null: leave it out instead"
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| Problem::bad_request(format!("the body is not valid: {e}")))
}

/// An error as RFC 9457 `application/problem+json`; `type` is stable per error class.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub retry_after_s: Option<u64>,
    /// The spec field a 422 is about (an extension member of the problem).
    pub field: Option<&'static str>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            retry_after_s: None,
            field: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is not valid",
            detail,
        )
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid API key is needed",
            detail,
        )
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side",
            "try again later",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "type": format!("https://reelforge.dev/problems/{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        let mut resp = (
            self.status,
            [("content-type", "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

impl From<crate::orders::OrderError> for Problem {
    fn from(e: crate::orders::OrderError) -> Self {
        use crate::orders::OrderError;
        match e {
            OrderError::Invalid(i) => Self {
                field: Some(i.field),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-field",
                    "A field of the job cannot be used",
                    i.to_string(),
                )
            },
            OrderError::IdempotencyMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-mismatch",
                "The Idempotency-Key was used for another request",
                "this Idempotency-Key was used with a different job spec in the last 24 h: use a new key",
            ),
            OrderError::InsufficientFunds { .. } => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient-funds",
                "Not enough tokens",
                e.to_string(),
            ),
            other => Self::internal(other),
        }
    }
}

impl From<crate::db::DbError> for Problem {
    fn from(e: crate::db::DbError) -> Self {
        Self::internal(e)
    }
}
impl From<crate::db::jobs::QueueError> for Problem {
    fn from(e: crate::db::jobs::QueueError) -> Self {
        Self::internal(e)
    }
}
impl From<crate::db::ledger::LedgerError> for Problem {
    fn from(e: crate::db::ledger::LedgerError) -> Self {
        Self::internal(e)
    }
}
impl From<crate::storage::StorageError> for Problem {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::internal(e)
    }
}

/// Requests per key per minute (`API_RATE_PER_MIN`), counted in the database so the limit
/// holds across every `serve` process.
pub struct RateLimiter {
    per_minute: u32,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
        }
    }

    /// `Err(seconds to wait)` when the key used up its minute.
    pub async fn check(
        &self,
        db: &crate::db::Db,
        key: i64,
    ) -> Result<Result<(), u64>, crate::db::DbError> {
        let w = crate::db::limits::hit(
            db,
            "api-key",
            &key.to_string(),
            60_000,
            i64::from(self.per_minute),
        )
        .await?;
        Ok(if w.hits > i64::from(self.per_minute) {
            Err((w.ends_in_ms as u64).div_ceil(1000).max(1))
        } else {
            Ok(())
        })
    }
}

/// A path parameter whose refusal is problem+json like every other answer of the API.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// A query string whose refusal is problem+json.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// The caller of an authenticated request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: i64,
    pub key_id: i64,
}

impl FromRequestParts<Api> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &Api) -> Result<Self, Problem> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Problem::unauthorized("send the key as 'Authorization: Bearer rf_…'"))?;
        let key = crate::db::api_keys::verify(&s.db, token.trim())
            .await?
            .ok_or_else(|| Problem::unauthorized("the API key is unknown or revoked"))?;
        let user = crate::db::users::get_user(&s.db, key.user_id).await?;
        if user.as_ref().is_some_and(|u| u.banned) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This account may not use the API",
                "the account is banned",
            ));
        }
        if let Err(wait) = s.limiter.check(&s.db, key.id).await? {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "this key may make {} requests a minute",
                    s.limiter.per_minute
                ),
            );
            p.retry_after_s = Some(wait);
            return Err(p);
        }
        crate::db::api::touch_key(&s.db, key.id).await?;
        Ok(Caller {
            user_id: key.user_id,
            key_id: key.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_gets_its_requests_per_minute_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/limits.db", dir.path().display());
        let db = crate::db::Db::connect(&url).await.unwrap();
        // Two limiters over one database: two serve processes behind a load balancer.
        let (a, b) = (RateLimiter::new(3), RateLimiter::new(3));
        assert!(a.check(&db, 1).await.unwrap().is_ok());
        assert!(b.check(&db, 1).await.unwrap().is_ok());
        assert!(a.check(&db, 1).await.unwrap().is_ok());
        let wait = b.check(&db, 1).await.unwrap().unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(
            a.check(&db, 2).await.unwrap().is_ok(),
            "another key has its own budget"
        );
    }
}
