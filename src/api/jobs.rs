//! `/v1/uploads`, `/v1/jobs…`, `/v1/balance`, `/v1/prices`: the API's handlers.
use super::{Api, ApiPath, ApiQuery, Caller, Problem};
use crate::db::jobs as queue;
use crate::jobs::{JobSpec, JobState};
use crate::orders;
use crate::storage::ObjectStore;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Attempts a job gets (as the bot's).
pub(super) const MAX_ATTEMPTS: i64 = 5;

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `snoozed` (waiting at a provider), `done`, `failed`, `cancelled`,
    /// `rejected` (not enough tokens).
    pub state: String,
    /// Tokens taken for it (given back when it fails or is cancelled).
    pub price: i64,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    /// Why it failed: the error class and a message.
    pub error: Option<JobErrorView>,
    /// `/v1/jobs/{id}/result` once it is done.
    pub result_url: Option<String>,
    /// The extra formats it was made in, each with its own result URL
    /// (`/v1/jobs/{id}/result?format=1:1`) once it is done.
    pub formats: Vec<FormatView>,
    /// The language a UGC video speaks (ru, kk, en, …; an offline voice's language).
    pub language: Option<String>,
    pub spec: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FormatView {
    pub format: String,
    pub result_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobErrorView {
    pub class: String,
    pub message: String,
}

impl JobView {
    pub fn of(j: &queue::JobRow) -> Self {
        let done = j.state == JobState::Done && j.checkpoints.output.is_some();
        Self {
            id: j.id,
            kind: j.kind.map_or("unknown", |k| k.name()).to_string(),
            state: j.state.name().to_string(),
            price: j.cost_tokens,
            created_ms: j.created_ms,
            finished_ms: j.finished_ms,
            error: j
                .error_class
                .as_ref()
                .filter(|_| j.state != JobState::Done)
                .map(|c| JobErrorView {
                    class: c.name().to_string(),
                    message: j.error_message.clone().unwrap_or_default(),
                }),
            result_url: done.then(|| format!("/v1/jobs/{}/result", j.id)),
            formats: match &j.spec {
                Some(JobSpec::UgcVideo(p) | JobSpec::Recompose(p)) => p
                    .layout
                    .formats
                    .iter()
                    .map(|f| FormatView {
                        format: f.clone(),
                        result_url: done.then(|| format!("/v1/jobs/{}/result?format={f}", j.id)),
                    })
                    .collect(),
                _ => Vec::new(),
            },
            language: match &j.spec {
                Some(JobSpec::UgcVideo(p) | JobSpec::Recompose(p)) => {
                    Some(p.language_code().to_string())
                }
                _ => None,
            },
            spec: j.spec.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        }
    }
}

/// Reads a `JobSpec` strictly: malformed JSON, a kind the API does not take and unknown
/// fields are refused by name. The fields of each kind come from the request schema the
/// OpenAPI document shows (`orders::schema`, checked against the types by a test).
pub(super) fn parse_spec(
    body: &[u8],
    prices: &crate::pricing::PriceTable,
) -> Result<JobSpec, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))?;
    let spec: JobSpec = serde_json::from_value(value.clone())
        .map_err(|e| Problem::bad_request(format!("the body is not a job spec: {e}")))?;
    let known = orders::schema::request_fields(prices, spec.kind().name());
    if known.is_empty() {
        return Err(Problem::bad_request(format!(
            "{} is made from the bot, not through the API",
            spec.kind().name()
        )));
    }
    let unknown: Vec<&str> = value
        .as_object()
        .map(|o| {
            o.keys()
                .map(String::as_str)
                .filter(|k| !known.iter().any(|f| f == k))
                .collect()
        })
        .unwrap_or_default();
    if !unknown.is_empty() {
        return Err(Problem::bad_request(format!(
            "unknown field(s) for {}: {}",
            spec.kind().name(),
            unknown.join(", ")
        )));
    }
    Ok(spec)
}

/// `POST /v1/jobs`: a `JobSpec` body; with `Idempotency-Key` a repeat returns the first job.
pub async fn create(
    State(s): State<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| Problem::bad_request(e.to_string()))?;
    let spec = parse_spec(&body, &s.prices)?;
    let idem = idempotency_key(&headers)?;
    let valid =
        orders::validate(&s.db, &s.prices, caller.user_id, orders::Origin::Api, spec).await?;
    let quote = orders::quote(&s.prices, &valid, None).map_err(orders::OrderError::from)?;
    let order = orders::Order {
        valid,
        quote,
        max_attempts: MAX_ATTEMPTS,
    };
    let orders::Submitted { id, made } = orders::submit(
        &s.db,
        caller.user_id,
        order,
        None,
        orders::Channel::Api(idem),
    )
    .await?;
    let row = queue::job(&s.db, id)
        .await?
        .ok_or_else(|| Problem::internal("the job vanished"))?;
    if row.user_id != caller.user_id {
        return Err(Problem::internal("idempotency key of another user"));
    }
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(job_id = id, user_id = caller.user_id, made, "API job");
    Ok((status, Json(JobView::of(&row))).into_response())
}

/// The request's `Idempotency-Key`, checked: plain text of at most 200 characters, not in
/// the operator's (`console-`) or the campaigns' (`campaign:`) own key spaces.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    let idem = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::trim))
        .transpose()
        .map_err(|_| Problem::bad_request("Idempotency-Key must be plain text"))?
        .filter(|k| !k.is_empty());
    if idem.is_some_and(|k| k.starts_with("console-") || k.starts_with("campaign:")) {
        return Err(Problem::bad_request(
            "Idempotency-Key may not start with 'console-' or 'campaign:' (keys the service makes)",
        ));
    }
    if idem.is_some_and(|k| k.len() > 200) {
        return Err(Problem::bad_request(
            "Idempotency-Key is at most 200 characters",
        ));
    }
    Ok(idem)
}

/// The caller's job, or 404 (someone else's job is "not found" too).
async fn own_job(s: &Api, caller: Caller, id: i64) -> Result<queue::JobRow, Problem> {
    queue::job(&s.db, id)
        .await?
        .filter(|j| j.user_id == caller.user_id)
        .ok_or_else(|| Problem::not_found(format!("no job {id}")))
}

pub async fn get_one(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, Problem> {
    Ok(Json(JobView::of(&own_job(&s, caller, id).await?)))
}

#[derive(Debug, Deserialize)]
pub struct Page {
    /// Jobs older than this id (the previous page's `next`).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<i64>,
}

/// `GET /v1/jobs?before=&limit=`: newest first, 20 by default, at most 100.
pub async fn list(
    State(s): State<Api>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<JobPage>, Problem> {
    let limit = page.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and 100 (got {limit})"
        )));
    }
    if page.before.is_some_and(|b| b < 1) {
        return Err(Problem::bad_request("before must be a job id (1 or more)"));
    }
    let ids = crate::db::api::job_ids_of(&s.db, caller.user_id, page.before, limit + 1).await?;
    let mut jobs = Vec::new();
    for id in ids.iter().take(limit as usize) {
        if let Some(j) = queue::job(&s.db, *id).await? {
            jobs.push(JobView::of(&j));
        }
    }
    let next = (ids.len() as i64 > limit)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok(Json(JobPage { jobs, next }))
}

/// `POST /v1/jobs/{id}/cancel` (as Stripe cancels): a job not yet finished stops (it stays
/// listed, `cancelled`); its tokens come back once. Once
/// its result is being delivered it is too late (409 `too-late`).
pub async fn cancel(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, Problem> {
    let j = own_job(&s, caller, id).await?;
    if j.state.is_final() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "already-finished",
            "The job has already finished",
            format!("job {id} is {}", j.state.name()),
        ));
    }
    if queue::cancel(&s.db, id).await? == queue::Cancelled::TooLate {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "too-late",
            "The result is already being delivered",
            format!("job {id} is being delivered: it ends done and paid"),
        ));
    }
    let j = own_job(&s, caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(JobView::of(&j))).into_response())
}

/// `GET /v1/jobs/{id}/result`: a redirect (303) to a presigned URL when the store has them, the file
/// itself otherwise.
pub async fn result(
    State(s): State<Api>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(which): ApiQuery<ResultQuery>,
) -> Result<Response, Problem> {
    let j = own_job(&s, caller, id).await?;
    let Some(main) = j
        .checkpoints
        .output
        .clone()
        .filter(|_| j.state == JobState::Done)
    else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "not-ready",
            "The result is not ready",
            format!("job {id} is {}", j.state.name()),
        ));
    };
    let key = match which.format.as_deref() {
        None => main,
        Some(format) => more_formats(&j)
            .into_iter()
            .find(|(f, _)| f == format)
            .map(|(_, key)| key)
            .ok_or_else(|| {
                Problem::not_found(format!("job {id} was not made in the format '{format}'"))
            })?,
    };
    if let Some(url) = s
        .storage
        .presigned_get(&key, std::time::Duration::from_secs(3600))
        .await?
    {
        return Ok(Redirect::to(&url).into_response());
    }
    let bytes = s.storage.get_bytes(&key).await?;
    let mime = if key.ends_with(".png") {
        "image/png"
    } else if key.ends_with(".jpg") {
        "image/jpeg"
    } else {
        "video/mp4"
    };
    Ok(([("content-type", mime)], bytes).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ResultQuery {
    /// One of the job's extra `formats` (`1:1`, `16:9`, `4:5`); none: the video's own.
    pub format: Option<String>,
}

/// A finished UGC job's extra formats: (format, stored key).
fn more_formats(j: &queue::JobRow) -> Vec<(String, String)> {
    match (&j.spec, &j.checkpoints.output) {
        (Some(JobSpec::UgcVideo(p) | JobSpec::Recompose(p)), Some(out)) => p.more_output_keys(out),
        _ => Vec::new(),
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct BalanceView {
    pub tokens: i64,
}

pub async fn balance(State(s): State<Api>, caller: Caller) -> Result<Json<BalanceView>, Problem> {
    Ok(Json(BalanceView {
        tokens: crate::db::ledger::balance_of(&s.db, caller.user_id).await?,
    }))
}

/// `GET /v1/prices`: the pricing table's prices (no costs).
pub async fn prices(State(s): State<Api>, _caller: Caller) -> Json<serde_json::Value> {
    let p = &s.prices;
    Json(serde_json::json!({
        "video": p.video.iter().map(|v| serde_json::json!({"tier": v.tier, "resolution": v.resolution, "tokens_per_8s": v.tokens_per_8s})).collect::<Vec<_>>(),
        "ugc_video": {"tokens_per_second_of_speech": p.talking_head.tokens_per_second, "plus": p.compose.tokens,
                      "head_tiers": p.head_tiers().iter().map(|t| serde_json::json!({"head_tier": t.name, "tokens_per_second_of_speech": t.tokens_per_second})).collect::<Vec<_>>(),
                      "each_more_format": p.compose.tokens,
                      "seconds_estimated_as_characters_divided_by": orders::SPEECH_CHARS_PER_SECOND,
                      "settled_after_speech": "a shorter speech gives the rest back; one more than 10 % longer than quoted is refused and refunded before the talking head"},
        "character_edit": {"tokens": p.image_edit.tokens},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_kinds_the_api_does_not_take_are_refused_by_name() {
        let prices = crate::pricing::PriceTable::default_table();
        let spec = br#"{"kind": "text_to_video", "prompt": "x", "tier": "fast", "seconds": 4, "size": "720x1280", "colour": 1}"#;
        let p = parse_spec(spec, &prices).unwrap_err();
        assert!(p.detail.contains("colour"), "{}", p.detail);
        let ok = br#"{"kind": "text_to_video", "prompt": "x", "tier": "fast", "seconds": 4, "size": "720x1280"}"#;
        assert!(parse_spec(ok, &prices).is_ok());
        let ugc = br#"{"kind": "ugc_video", "portrait": "p.jpg", "script": "Hi", "position": "center", "circle_size": "s", "ring": true, "captions": true, "caption_style": "karaoke", "safe_zone": "none"}"#;
        assert!(
            parse_spec(ugc, &prices).is_ok(),
            "the flattened layout is known"
        );
        let recompose = br#"{"kind": "recompose", "portrait": "p.jpg", "script": "Hi"}"#;
        let p = parse_spec(recompose, &prices).unwrap_err();
        assert!(p.detail.contains("from the bot"), "{}", p.detail);
    }
}
