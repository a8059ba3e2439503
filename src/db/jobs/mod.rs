//! The jobs table: the durable queue (after River and Oban). Jobs are claimed with a lease and
//! a fencing token: every claim bumps `lease_token`, and every later write by the worker names
//! the token it holds, so a worker whose lease expired (and whose job another worker took over)
//! can no longer complete, fail or refund it. Tokens are taken when a job is accepted and given
//! back exactly once when it ends in failure or is cancelled.
use crate::db::ledger::{self, LedgerError, Reason, Step};
use crate::db::{now_ms, Db, DbError};
use crate::failure::{retry_delay, Failure};
use crate::jobs::{Checkpoints, JobSpec, SpecError};
use std::time::Duration;

mod claim;
mod read;
mod submit;
pub use claim::*;
pub use read::*;
pub use submit::*;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The job was taken over by another worker (lease expired) or finished meanwhile.
    #[error("job {0}: lease lost")]
    LeaseLost(i64),
    /// An `Idempotency-Key` repeated with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
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
    pub spec: JobSpec,
    pub cost_tokens: i64,
    pub max_attempts: i64,
}

impl NewJob {
    /// A job from its kind's name and its parameters as JSON (admin tools, tests); the
    /// parameters are checked against the kind's type.
    pub fn from_json(
        user_id: i64,
        kind: &str,
        params: serde_json::Value,
        cost_tokens: i64,
        max_attempts: i64,
    ) -> Result<Self, SpecError> {
        Ok(Self {
            user_id,
            spec: JobSpec::from_row(kind, &params.to_string())?,
            cost_tokens,
            max_attempts,
        })
    }
}

/// A job held by a worker: `lease_token` proves it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    /// The parameters, or why the stored row cannot be read.
    pub spec: Result<JobSpec, String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_token: i64,
    pub checkpoints: Checkpoints,
    /// Why the stored checkpoints cannot be read (the job is failed and refunded, nothing is
    /// made again).
    pub unreadable: Option<String>,
    pub cost_tokens: i64,
    /// The user asked to cancel before this claim (a job waiting on a provider is handed to a
    /// worker so the provider's request is cancelled too).
    pub cancel_requested: bool,
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    id: i64,
    user_id: i64,
    kind: String,
    params: String,
    attempts: i64,
    max_attempts: i64,
    lease_token: i64,
    checkpoints: String,
    cost_tokens: i64,
    cancel_requested: bool,
}

impl From<ClaimedRow> for ClaimedJob {
    fn from(r: ClaimedRow) -> Self {
        let checkpoints = Checkpoints::read(&r.checkpoints);
        Self {
            spec: JobSpec::from_row(&r.kind, &r.params).map_err(|e: SpecError| e.to_string()),
            unreadable: checkpoints.as_ref().err().cloned(),
            checkpoints: checkpoints.unwrap_or_default(),
            id: r.id,
            user_id: r.user_id,
            kind: r.kind,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            lease_token: r.lease_token,
            cost_tokens: r.cost_tokens,
            cancel_requested: r.cancel_requested,
        }
    }
}

/// Sets a terminal state (the UPDATE, `$1` = job id, must touch exactly one row) and gives
/// the job's tokens back in one transaction: both happen or neither. Only tokens that were
/// taken come back (the debit entry must exist). Evaluates to `Ok(false)` when the UPDATE
/// touched nothing (the job moved on, or another worker holds it).
macro_rules! end_with_refund {
    ($db:expr, $id:expr, $event:expr, $message:expr, $sql:expr $(, $arg:expr)*) => {{
        let now = now_ms();
        let id: i64 = $id;
        let message: Option<String> = $message;
        on_db!($db, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query($sql)
                .bind(id)
                $(.bind($arg))*
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n != 1 {
                tx.rollback().await?;
                Ok::<bool, QueueError>(false)
            } else {
                let (user, cost): (i64, i64) =
                    sqlx::query_as("SELECT user_id, cost_tokens FROM jobs WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                let debited: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                        .bind(ledger::debit_key(id))
                        .fetch_optional(&mut *tx)
                        .await?;
                if cost > 0 && debited.is_some() {
                    let key = ledger::refund_key(id);
                    ledger_step!(tx, user, cost, Reason::JobRefund, &key, Some(id), now)?;
                }
                // A refunded job's result is withdrawn with the refund: /history and the
                // re-send button no longer hand it over.
                sqlx::query("DELETE FROM generations WHERE job_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO job_events (job_id, state, message, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind($event)
                    .bind(message)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
        })
    }};
}

pub(super) async fn record_event(
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

/// Lowers a running job's price to `tokens` and gives the difference back, in one
/// transaction and only while `job` holds its lease (a UGC video priced from its script whose
/// speech came out shorter). The refund entry's key (`job:{id}:settle`) makes it happen once;
/// a later failure refunds the lowered price, so the user gets back exactly what was taken.
pub async fn lower_price(db: &Db, job: &ClaimedJob, tokens: i64) -> Result<(), QueueError> {
    let now = now_ms();
    let key = format!("job:{}:settle", job.id);
    let applied: bool = on_db!(db, p => async {
        let mut tx = p.begin().await?;
        // Takes the row first (as `refund_taken` does), then reads the price it holds.
        let old: Option<i64> = sqlx::query_scalar(
            "UPDATE jobs SET updated_ms = updated_ms WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cost_tokens",
        )
        .bind(job.id)
        .bind(job.lease_token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(old) = old.filter(|old| *old > tokens && tokens >= 0) else {
            tx.rollback().await?;
            return Ok::<bool, QueueError>(false);
        };
        // Only a debited job that nobody refunded yet (an operator's refund of a running job
        // gave everything back already) is lowered, and only once.
        let debited: Option<i64> =
            sqlx::query_scalar("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                .bind(ledger::debit_key(job.id))
                .fetch_optional(&mut *tx)
                .await?;
        let refunded: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM ledger_entries WHERE idempotency_key = $1 OR idempotency_key = $2",
        )
        .bind(ledger::refund_key(job.id))
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
        if debited.is_none() || refunded.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE jobs SET cost_tokens = $2, updated_ms = $3 WHERE id = $1")
            .bind(job.id)
            .bind(tokens)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let step = ledger_step!(tx, job.user_id, old - tokens, Reason::JobRefund, &key, Some(job.id), now)?;
        if !matches!(step, Step::Applied(_)) {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
    .await)?;
    if !applied {
        tracing::debug!(
            job_id = job.id,
            "price not lowered (already settled or lease moved)"
        );
    }
    Ok(())
}

/// Saves the checkpoint that the upload to the user begins, unless the user cancelled first
/// (then `Ok(false)`: the cancel wins, nothing is sent). Fenced like [`save_checkpoints`].
pub async fn begin_delivery(
    db: &Db,
    job: &mut ClaimedJob,
    checkpoints: Checkpoints,
) -> Result<bool, QueueError> {
    let text = checkpoints.to_json();
    let started = fenced!(db, job, "UPDATE jobs SET checkpoints = $4, step = 'delivery', updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running' AND cancel_requested = FALSE", &text);
    match started {
        Ok(()) => {
            job.checkpoints = checkpoints;
            Ok(true)
        }
        Err(QueueError::LeaseLost(_)) if cancel_requested(db, job.id).await? => Ok(false),
        Err(e) => Err(e),
    }
}

/// Extends the lease; fails once another worker has taken the job over.
pub async fn heartbeat(db: &Db, job: &ClaimedJob, lease: Duration) -> Result<(), QueueError> {
    let until = now_ms() + lease.as_millis() as i64;
    fenced!(db, job, "UPDATE jobs SET lease_until_ms = $4, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", until)
}

/// Saves what step `step` made (a provider request id before waiting on it, a storage key
/// after storing), so a restarted job picks up there instead of paying for it again. Only
/// while the lease is held: a worker that lost its job cannot write over the new owner's.
pub async fn save_checkpoints(
    db: &Db,
    job: &mut ClaimedJob,
    step: &str,
    checkpoints: Checkpoints,
) -> Result<(), QueueError> {
    let text = checkpoints.to_json();
    fenced!(db, job, "UPDATE jobs SET checkpoints = $4, step = $5, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", &text, step)?;
    job.checkpoints = checkpoints;
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
    /// Failed after its upload to the user began: kept as done (delivered and paid).
    Completed,
}

/// Records a failure: retried with backoff when the class allows and attempts remain,
/// otherwise failed for good and refunded (once, by key `job:{id}:refund`).
pub async fn fail(
    db: &Db,
    job: &ClaimedJob,
    failure: &Failure,
    jitter: f64,
) -> Result<FailOutcome, QueueError> {
    let class = failure.class;
    let message = failure.message.as_str();
    let source = failure.source;
    let text = format!("{}: {message}", class.name());
    if let Some(delay) =
        retry_delay(class, job.attempts as u32, jitter).filter(|_| job.attempts < job.max_attempts)
    {
        let at = now_ms() + delay.as_millis() as i64;
        fenced!(db, job, "UPDATE jobs SET state = 'queued', run_at_ms = $4, error_class = $5, error_provider = $6, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'", at, class.name(), source)?;
        record_event(db, job.id, "retrying", Some(text)).await?;
        return Ok(FailOutcome::RetryAt(at));
    }
    // Its result is on its way or with the user: the job ends done and paid, never
    // delivered and refunded.
    if job.checkpoints.delivery_started_ms.is_some() || job.checkpoints.delivered.is_some() {
        tracing::warn!(job_id = job.id, error = %text, "failed after its upload began: kept as done");
        complete(db, job).await?;
        return Ok(FailOutcome::Completed);
    }
    let now = now_ms();
    let ended = end_with_refund!(db, job.id, "failed", Some(text),
        "UPDATE jobs SET state = 'failed', finished_ms = $3, error_class = $4, error_message = $5, error_provider = $6, lease_until_ms = NULL, updated_ms = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        job.lease_token, now, class.name(), message, source)?;
    if !ended {
        return Err(QueueError::LeaseLost(job.id));
    }
    Ok(FailOutcome::Refunded)
}

/// Gives a job's tokens back; a second call (or a concurrent one) changes nothing.
pub async fn refund(db: &Db, id: i64) -> Result<(), QueueError> {
    refund_taken(db, id, Reason::JobRefund).await.map(|_| ())
}

/// Gives back what a job has taken (its price, less what a settlement already gave back), in
/// one transaction that holds the job's row: a settlement running at the same moment
/// (`lower_price`) waits for it or is seen by it, so the user never gets back more than was
/// taken. Once per job (the refund key). Returns the user and the amount when this call
/// refunded; `None` when nothing was taken or it was refunded already.
pub async fn refund_taken(
    db: &Db,
    id: i64,
    reason: Reason,
) -> Result<Option<(i64, i64)>, QueueError> {
    let now = now_ms();
    let key = ledger::refund_key(id);
    Ok(on_db!(db, p => async {
        let mut tx = p.begin().await?;
        // Takes the row first (PostgreSQL row lock; SQLite's one writer).
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE jobs SET updated_ms = $2 WHERE id = $1 RETURNING user_id, cost_tokens",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let debited: Option<i64> =
            sqlx::query_scalar("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                .bind(ledger::debit_key(id))
                .fetch_optional(&mut *tx)
                .await?;
        let Some((user, cost)) = row.filter(|(_, c)| *c > 0 && debited.is_some()) else {
            tx.rollback().await?;
            return Ok::<_, QueueError>(None);
        };
        let step = ledger_step!(tx, user, cost, reason, &key, Some(id), now)?;
        if !matches!(step, Step::Applied(_)) {
            tx.rollback().await?;
            return Ok(None);
        }
        // Refunded means withdrawn: /history and the re-send button no longer hand it over,
        // and a job still running is stopped before its upload.
        sqlx::query("DELETE FROM generations WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state IN ('queued', 'snoozed', 'running')")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((user, cost)))
    }
    .await)?)
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Ended now and refunded (it had not started).
    Ended,
    /// Flagged: its worker stops at the next check (or cancels the provider's request) and
    /// refunds.
    Requested,
    /// Too late: its result is being sent or was sent (it ends delivered and paid), or it has
    /// finished.
    TooLate,
}

/// Cancels a job: one that has not started is cancelled and refunded at once; one waiting on a
/// provider is flagged and made due, so a worker cancels the provider's request too and then
/// refunds; a running one is flagged, and its worker stops at the next check and refunds —
/// unless its upload to the user has begun: then the cancel is refused (a job ends either
/// delivered and paid, or refunded without its result).
/// (A language version carried by an album, or delivered in one, is past cancelling too: see
/// `db::versions`.)
pub async fn cancel(db: &Db, id: i64) -> Result<Cancelled, QueueError> {
    let now = now_ms();
    let handed_over = on_db!(db, p => sqlx::query("UPDATE jobs SET cancel_requested = TRUE, run_at_ms = $2, updated_ms = $2 WHERE id = $1 AND state = 'snoozed' AND (checkpoints LIKE '%_request\"%' OR checkpoints LIKE '%\"request\"%') AND checkpoints NOT LIKE '%\"delivery_started_ms\"%' AND checkpoints NOT LIKE '%\"delivered\"%' AND NOT EXISTS (SELECT 1 FROM version_members vm WHERE vm.job_id = jobs.id AND (vm.sending_by IS NOT NULL OR vm.album_message IS NOT NULL))")
        .bind(id)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
    if handed_over == 1 {
        return Ok(Cancelled::Requested);
    }
    let ended = end_with_refund!(db, id, "cancelled", None,
        "UPDATE jobs SET state = 'cancelled', finished_ms = $2, updated_ms = $2 WHERE id = $1 AND state IN ('queued', 'snoozed', 'new') AND checkpoints NOT LIKE '%\"delivery_started_ms\"%' AND checkpoints NOT LIKE '%\"delivered\"%' AND NOT EXISTS (SELECT 1 FROM version_members vm WHERE vm.job_id = jobs.id AND (vm.sending_by IS NOT NULL OR vm.album_message IS NOT NULL))",
        now)?;
    if ended {
        return Ok(Cancelled::Ended);
    }
    let flagged = on_db!(db, p => sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running' AND checkpoints NOT LIKE '%\"delivery_started_ms\"%' AND checkpoints NOT LIKE '%\"delivered\"%' AND NOT EXISTS (SELECT 1 FROM version_members vm WHERE vm.job_id = jobs.id AND (vm.sending_by IS NOT NULL OR vm.album_message IS NOT NULL))").bind(id).execute(p).await?.rows_affected());
    Ok(if flagged == 1 {
        Cancelled::Requested
    } else {
        Cancelled::TooLate
    })
}

/// Ends a running job the user cancelled, and refunds it.
pub async fn cancel_running(db: &Db, job: &ClaimedJob) -> Result<(), QueueError> {
    let now = now_ms();
    let ended = end_with_refund!(db, job.id, "cancelled", None,
        "UPDATE jobs SET state = 'cancelled', finished_ms = $3, updated_ms = $3, lease_until_ms = NULL WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        job.lease_token, now)?;
    if ended {
        Ok(())
    } else {
        Err(QueueError::LeaseLost(job.id))
    }
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

/// Jobs this worker still holds after its tasks were stopped go back to the queue now rather
/// than waiting for their leases to expire.
pub async fn release_all_held(db: &Db, worker: &str) -> Result<u64, QueueError> {
    let now = now_ms();
    Ok(on_db!(db, p => sqlx::query(
        "UPDATE jobs SET state = 'queued', run_at_ms = $2, attempts = attempts - 1, lease_until_ms = NULL, updated_ms = $2
         WHERE worker = $1 AND state = 'running'",
    )
    .bind(worker)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Makes a waiting job due now (an operator's "run it now"; tests use it to skip a snooze).
pub async fn bring_forward(db: &Db, id: i64) -> Result<(), QueueError> {
    on_db!(db, p => sqlx::query("UPDATE jobs SET run_at_ms = 0 WHERE id = $1").bind(id).execute(p).await?.rows_affected());
    Ok(())
}

/// Settles what was left half-way by a crash between statements (possible before money steps
/// were single transactions, kept as a safety net): a failed or cancelled job whose tokens
/// were taken but never returned is refunded; a job still `new` is queued when it was
/// debited and rejected when not. Returns how many jobs it settled.
pub async fn sweep_unsettled(db: &Db) -> Result<u64, QueueError> {
    let stale = now_ms() - 60_000;
    let unrefunded: Vec<i64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT j.id FROM jobs j WHERE j.state IN ('failed', 'cancelled') AND j.cost_tokens > 0
           AND EXISTS (SELECT 1 FROM ledger_entries d WHERE d.idempotency_key = 'job:' || j.id || ':debit')
           AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.idempotency_key = 'job:' || j.id || ':refund')",
    )
    .fetch_all(p)
    .await?);
    for id in &unrefunded {
        refund(db, *id).await?;
    }
    let half_made: Vec<i64> = on_db!(db, p => sqlx::query_scalar("SELECT id FROM jobs WHERE state = 'new' AND created_ms < $1")
        .bind(stale)
        .fetch_all(p)
        .await?);
    for id in &half_made {
        let debited = ledger::has_entry(db, &ledger::debit_key(*id)).await?;
        let state = if debited { "queued" } else { "rejected" };
        on_db!(db, p => sqlx::query("UPDATE jobs SET state = $2, updated_ms = $3 WHERE id = $1 AND state = 'new'")
            .bind(id)
            .bind(state)
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected());
        record_event(db, *id, state, Some("settled by the sweeper".into())).await?;
    }
    Ok((unrefunded.len() + half_made.len()) as u64)
}
