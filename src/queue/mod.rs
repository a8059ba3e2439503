//! The durable job queue (after River and Oban). Jobs are claimed with a lease and a fencing
//! token: every claim bumps `lease_token`, and every later write by the worker names the token
//! it holds, so a worker whose lease expired (and whose job another worker took over) can no
//! longer complete, fail or refund it. Tokens are taken when a job is accepted and given back
//! exactly once when it ends in failure or is cancelled.
pub mod worker;

use crate::db::{now_ms, Db, DbError};
use crate::failure::{retry_delay, ErrorClass};
use crate::ledger::{self, LedgerError, Reason};
use crate::on_db;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The job was taken over by another worker (lease expired) or finished meanwhile.
    #[error("job {0}: lease lost")]
    LeaseLost(i64),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub user_id: i64,
    pub kind: String,
    pub params: Value,
    pub cost_tokens: i64,
    pub max_attempts: i64,
}

/// A job held by a worker: `lease_token` proves it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub params: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_token: i64,
    pub provider_ids: String,
    pub cost_tokens: i64,
}

impl ClaimedJob {
    pub fn params_json(&self) -> Value {
        serde_json::from_str(&self.params).unwrap_or(Value::Null)
    }
    /// The provider request id saved for `step` by an earlier attempt, if any.
    pub fn provider_id(&self, step: &str) -> Option<String> {
        serde_json::from_str::<Value>(&self.provider_ids)
            .ok()?
            .get(step)?
            .as_str()
            .map(String::from)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub state: String,
    pub attempts: i64,
    pub run_at_ms: i64,
    pub lease_token: i64,
    pub error_class: Option<String>,
    pub provider_ids: String,
}

/// Accepts a job: records it, takes its tokens (key `job:{id}:debit`), then queues it. When
/// the balance is too low the job is marked `rejected` and the error returned; nothing is taken.
pub async fn submit(db: &Db, job: NewJob) -> Result<i64, QueueError> {
    submit_carrying(db, job, "{}").await
}

/// Like [`submit`], with step results carried over from an earlier job (a recompose reuses
/// the speech and talking head it already paid for), set before the job can be claimed.
pub async fn submit_carrying(db: &Db, job: NewJob, provider_ids: &str) -> Result<i64, QueueError> {
    let now = now_ms();
    let params = job.params.to_string();
    let id: i64 = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO jobs (user_id, kind, params, state, max_attempts, run_at_ms, cost_tokens, created_ms, updated_ms, provider_ids)
         VALUES ($1, $2, $3, 'new', $4, $5, $6, $5, $5, $7) RETURNING id",
    )
    .bind(job.user_id)
    .bind(&job.kind)
    .bind(&params)
    .bind(job.max_attempts)
    .bind(now)
    .bind(job.cost_tokens)
    .bind(provider_ids)
    .fetch_one(p)
    .await?);
    if job.cost_tokens > 0 {
        if let Err(e) = ledger::debit(
            db,
            job.user_id,
            job.cost_tokens,
            Reason::JobDebit,
            &ledger::debit_key(id),
            Some(id),
        )
        .await
        {
            set_state(db, id, "rejected", Some(e.to_string())).await?;
            return Err(e.into());
        }
    }
    set_state(db, id, "queued", None).await?;
    Ok(id)
}

async fn set_state(
    db: &Db,
    id: i64,
    state: &str,
    message: Option<String>,
) -> Result<(), QueueError> {
    let now = now_ms();
    on_db!(db, p => sqlx::query("UPDATE jobs SET state = $2, updated_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
    record_event(db, id, state, message).await
}

async fn record_event(
    db: &Db,
    id: i64,
    state: &str,
    message: Option<String>,
) -> Result<(), QueueError> {
    let now = now_ms();
    on_db!(db, p => sqlx::query("INSERT INTO job_events (job_id, state, message, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(state)
        .bind(message)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

const CLAIM_WHERE: &str = "((j.state IN ('queued', 'snoozed') AND j.run_at_ms <= $1)
       OR (j.state = 'running' AND j.lease_until_ms < $1))
      AND (SELECT COUNT(*) FROM jobs r WHERE r.user_id = j.user_id AND r.state = 'running'
           AND r.lease_until_ms >= $1 AND r.id <> j.id) < $4";

/// Takes the next due job (or one whose worker's lease expired) for `worker`, holding it for
/// `lease`. At most `per_user_running` jobs of one user run at a time.
pub async fn claim_next(
    db: &Db,
    worker: &str,
    lease: Duration,
    per_user_running: i64,
) -> Result<Option<ClaimedJob>, QueueError> {
    let now = now_ms();
    let until = now + lease.as_millis() as i64;
    let returning = "RETURNING id, user_id, kind, params, attempts, max_attempts, lease_token, provider_ids, cost_tokens";
    let set =
        "SET state = 'running', lease_token = lease_token + 1, lease_until_ms = $2, worker = $3,
               attempts = attempts + 1, updated_ms = $1";
    let job = match db {
        // Several workers: skip rows another worker is claiming right now.
        Db::Postgres(p) => {
            let sql = format!(
                "UPDATE jobs {set} WHERE id = (SELECT j.id FROM jobs j WHERE {CLAIM_WHERE}
                 ORDER BY j.run_at_ms, j.id LIMIT 1 FOR UPDATE SKIP LOCKED) {returning}"
            );
            sqlx::query_as::<_, ClaimedJob>(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(until)
                .bind(worker)
                .bind(per_user_running)
                .fetch_optional(p)
                .await?
        }
        // One writer at a time: the statement is atomic as it is.
        Db::Sqlite(p) => {
            let sql = format!(
                "UPDATE jobs {set} WHERE id = (SELECT j.id FROM jobs j WHERE {CLAIM_WHERE}
                 ORDER BY j.run_at_ms, j.id LIMIT 1) {returning}"
            );
            sqlx::query_as::<_, ClaimedJob>(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(until)
                .bind(worker)
                .bind(per_user_running)
                .fetch_optional(p)
                .await?
        }
    };
    if let Some(j) = &job {
        record_event(
            db,
            j.id,
            "running",
            Some(format!("attempt {} by {worker}", j.attempts)),
        )
        .await?;
    }
    Ok(job)
}

/// Runs an update only while `job` still holds its lease: `$1` is the job id, `$2` its lease
/// token, `$3` the time now; further arguments follow from `$4`.
macro_rules! fenced {
    ($db:expr, $job:expr, $sql:expr $(, $arg:expr)*) => {{
        let now = now_ms();
        let n = on_db!($db, p => sqlx::query($sql)
            .bind($job.id)
            .bind($job.lease_token)
            .bind(now)
            $(.bind($arg))*
            .execute(p)
            .await?
            .rows_affected());
        if n == 1 {
            Ok::<(), QueueError>(())
        } else {
            Err(QueueError::LeaseLost($job.id))
        }
    }};
}

/// Extends the lease; fails once another worker has taken the job over.
pub async fn heartbeat(db: &Db, job: &ClaimedJob, lease: Duration) -> Result<(), QueueError> {
    let until = now_ms() + lease.as_millis() as i64;
    fenced!(db, job, "UPDATE jobs SET lease_until_ms = $4, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", until)
}

/// Saves the provider's request id for `step` before waiting on it, so a restarted job polls
/// the same request instead of paying for a new one.
pub async fn save_provider_id(
    db: &Db,
    job: &mut ClaimedJob,
    step: &str,
    request_id: &str,
) -> Result<(), QueueError> {
    let mut ids: serde_json::Map<String, Value> =
        serde_json::from_str(&job.provider_ids).unwrap_or_default();
    ids.insert(step.to_string(), Value::String(request_id.to_string()));
    let text = Value::Object(ids).to_string();
    fenced!(db, job, "UPDATE jobs SET provider_ids = $4, step = $5, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", &text, step)?;
    job.provider_ids = text;
    Ok(())
}

pub async fn complete(db: &Db, job: &ClaimedJob) -> Result<(), QueueError> {
    fenced!(db, job, "UPDATE jobs SET state = 'done', finished_ms = $3, updated_ms = $3, lease_until_ms = NULL WHERE id = $1 AND lease_token = $2 AND state = 'running'")?;
    record_event(db, job.id, "done", None).await
}

/// Waits for a provider without using up an attempt: back in `delay`.
pub async fn snooze(db: &Db, job: &ClaimedJob, delay: Duration) -> Result<(), QueueError> {
    let at = now_ms() + delay.as_millis() as i64;
    fenced!(db, job, "UPDATE jobs SET state = 'snoozed', run_at_ms = $4, attempts = attempts - 1, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", at)?;
    record_event(
        db,
        job.id,
        "snoozed",
        Some(format!("{} ms", delay.as_millis())),
    )
    .await
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    RetryAt(i64),
    /// Failed for good; its tokens were given back.
    Refunded,
}

/// Records a failure: retried with backoff when the class allows and attempts remain,
/// otherwise failed for good and refunded (once, by key `job:{id}:refund`).
pub async fn fail(
    db: &Db,
    job: &ClaimedJob,
    class: ErrorClass,
    message: &str,
    jitter: f64,
) -> Result<FailOutcome, QueueError> {
    let text = format!("{}: {message}", class.name());
    if let Some(delay) =
        retry_delay(class, job.attempts as u32, jitter).filter(|_| job.attempts < job.max_attempts)
    {
        let at = now_ms() + delay.as_millis() as i64;
        fenced!(db, job, "UPDATE jobs SET state = 'queued', run_at_ms = $4, error_class = $5, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", at, class.name())?;
        record_event(db, job.id, "retrying", Some(text)).await?;
        return Ok(FailOutcome::RetryAt(at));
    }
    fenced!(db, job, "UPDATE jobs SET state = 'failed', finished_ms = $3, error_class = $4, error_message = $5, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", class.name(), message)?;
    refund(db, job.id).await?;
    record_event(db, job.id, "failed", Some(text)).await?;
    Ok(FailOutcome::Refunded)
}

/// Gives a job's tokens back; a second call (or a concurrent one) changes nothing.
pub async fn refund(db: &Db, id: i64) -> Result<(), QueueError> {
    let row: Option<(i64, i64)> = on_db!(db, p => sqlx::query_as("SELECT user_id, cost_tokens FROM jobs WHERE id = $1").bind(id).fetch_optional(p).await?);
    if let Some((user, cost)) = row.filter(|(_, c)| *c > 0) {
        ledger::credit(
            db,
            user,
            cost,
            Reason::JobRefund,
            &ledger::refund_key(id),
            Some(id),
        )
        .await?;
    }
    Ok(())
}

/// Cancels a job: one that has not started is cancelled and refunded at once; a running one
/// is flagged, and its worker stops at the next check and refunds.
pub async fn cancel(db: &Db, id: i64) -> Result<bool, QueueError> {
    let now = now_ms();
    let n = on_db!(db, p => sqlx::query("UPDATE jobs SET state = 'cancelled', finished_ms = $2, updated_ms = $2 WHERE id = $1 AND state IN ('queued', 'snoozed', 'new')")
        .bind(id)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
    if n == 1 {
        refund(db, id).await?;
        record_event(db, id, "cancelled", None).await?;
        return Ok(true);
    }
    on_db!(db, p => sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'").bind(id).execute(p).await?.rows_affected());
    Ok(false)
}

/// Ends a running job the user cancelled, and refunds it.
pub async fn cancel_running(db: &Db, job: &ClaimedJob) -> Result<(), QueueError> {
    fenced!(db, job, "UPDATE jobs SET state = 'cancelled', finished_ms = $3, updated_ms = $3, lease_until_ms = NULL WHERE id = $1 AND lease_token = $2 AND state = 'running'")?;
    refund(db, job.id).await?;
    record_event(db, job.id, "cancelled", None).await
}

pub async fn cancel_requested(db: &Db, id: i64) -> Result<bool, QueueError> {
    let flag: Option<bool> = on_db!(db, p => sqlx::query_scalar("SELECT cancel_requested FROM jobs WHERE id = $1").bind(id).fetch_optional(p).await?);
    Ok(flag.unwrap_or(false))
}

/// A running job given up by a worker that is shutting down: back to the queue at once,
/// without using up the attempt.
pub async fn release(db: &Db, job: &ClaimedJob) -> Result<(), QueueError> {
    fenced!(db, job, "UPDATE jobs SET state = 'queued', run_at_ms = $3, attempts = attempts - 1, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'")?;
    record_event(db, job.id, "released", None).await
}

pub async fn job(db: &Db, id: i64) -> Result<Option<JobRow>, QueueError> {
    Ok(
        on_db!(db, p => sqlx::query_as::<_, JobRow>("SELECT id, state, attempts, run_at_ms, lease_token, error_class, provider_ids FROM jobs WHERE id = $1").bind(id).fetch_optional(p).await?),
    )
}

/// 1-based place of a waiting job among the jobs not yet finished (0 when it is finished).
pub async fn position(db: &Db, id: i64) -> Result<i64, QueueError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE id <= $1 AND state IN ('queued', 'snoozed', 'running')
         AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = $1 AND j.state IN ('queued', 'snoozed', 'running'))",
    )
    .bind(id)
    .fetch_one(p)
    .await?);
    Ok(n)
}

/// Jobs by state, for the metrics endpoint and `/queue`.
pub async fn counts_by_state(db: &Db) -> Result<Vec<(String, i64)>, QueueError> {
    Ok(
        on_db!(db, p => sqlx::query_as::<_, (String, i64)>("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state").fetch_all(p).await?),
    )
}
