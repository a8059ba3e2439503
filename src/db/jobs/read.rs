//! Reading jobs: one job, a user's jobs, all jobs, counts and the numbers the progress
//! messages, `/queue`, `/stats` and `/metrics` show. No writes here.
use super::QueueError;
use crate::db::{now_ms, Db};
use crate::jobs::{Checkpoints, JobKind, JobSpec, JobState};

/// A job as anyone may read it: its state, spec and checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub user_id: i64,
    pub state: JobState,
    pub kind: Option<JobKind>,
    pub spec: Option<JobSpec>,
    pub attempts: i64,
    pub run_at_ms: i64,
    pub lease_token: i64,
    /// The last failure's class (an unknown stored name reads as permanent).
    pub error_class: Option<crate::failure::ErrorClass>,
    /// What the last failure failed on (a provider's name, or media, storage, …).
    pub error_provider: Option<String>,
    pub error_message: Option<String>,
    pub checkpoints: Checkpoints,
    pub cost_tokens: i64,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    /// The worker that claimed it last.
    pub worker: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RawJob {
    id: i64,
    user_id: i64,
    state: String,
    kind: String,
    params: String,
    attempts: i64,
    run_at_ms: i64,
    lease_token: i64,
    error_class: Option<String>,
    error_provider: Option<String>,
    error_message: Option<String>,
    checkpoints: String,
    cost_tokens: i64,
    created_ms: i64,
    finished_ms: Option<i64>,
    worker: Option<String>,
}

const JOB_COLUMNS: &str = "id, user_id, state, kind, params, attempts, run_at_ms, lease_token, error_class, error_provider, error_message, checkpoints, cost_tokens, created_ms, finished_ms, worker";

impl From<RawJob> for JobRow {
    fn from(r: RawJob) -> Self {
        // A row this build cannot read is shown as such (no kind, no spec, failed) and named
        // in the log, never taken for another kind or state.
        let spec = JobSpec::from_row(&r.kind, &r.params)
            .map_err(|e| tracing::warn!(job_id = r.id, kind = %r.kind, error = %e, "job row: spec unreadable"))
            .ok();
        let state = JobState::from_name(&r.state);
        if state.name() != r.state {
            tracing::warn!(job_id = r.id, state = %r.state, "job row: unknown state, shown as failed");
        }
        Self {
            id: r.id,
            user_id: r.user_id,
            state,
            kind: JobKind::from_name(&r.kind),
            spec,
            attempts: r.attempts,
            run_at_ms: r.run_at_ms,
            lease_token: r.lease_token,
            error_class: r
                .error_class
                .as_deref()
                .map(crate::failure::ErrorClass::from_name),
            error_provider: r.error_provider,
            error_message: r.error_message,
            checkpoints: Checkpoints::read(&r.checkpoints)
                .map_err(|e| tracing::warn!(job_id = r.id, error = %e, "job row: checkpoints unreadable"))
                .unwrap_or_default(),
            cost_tokens: r.cost_tokens,
            created_ms: r.created_ms,
            finished_ms: r.finished_ms,
            worker: r.worker,
        }
    }
}

pub async fn job(db: &Db, id: i64) -> Result<Option<JobRow>, QueueError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    let row = on_db!(db, p => sqlx::query_as::<_, RawJob>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
    Ok(row.map(JobRow::from))
}

/// The newest jobs of a user, newest first.
pub async fn jobs_of_user(db: &Db, user: i64, limit: i64) -> Result<Vec<JobRow>, QueueError> {
    let sql =
        format!("SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = $1 ORDER BY id DESC LIMIT $2");
    let rows = on_db!(db, p => sqlx::query_as::<_, RawJob>(sqlx::AssertSqlSafe(sql)).bind(user).bind(limit).fetch_all(p).await?);
    Ok(rows.into_iter().map(JobRow::from).collect())
}

/// Every job, oldest first (admin tools and tests check invariants over them).
pub async fn all_jobs(db: &Db) -> Result<Vec<JobRow>, QueueError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id");
    let rows =
        on_db!(db, p => sqlx::query_as::<_, RawJob>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?);
    Ok(rows.into_iter().map(JobRow::from).collect())
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

/// Jobs waiting to run now, and how long the oldest of them has waited (ms).
pub async fn queue_depth(db: &Db) -> Result<(i64, i64), QueueError> {
    let now = now_ms();
    let (n, oldest): (i64, Option<i64>) = on_db!(db, p => sqlx::query_as(
        "SELECT COUNT(*), MIN(run_at_ms) FROM jobs WHERE state IN ('queued', 'snoozed') AND run_at_ms <= $1",
    )
    .bind(now)
    .fetch_one(p)
    .await?);
    Ok((n, oldest.map(|t| (now - t).max(0)).unwrap_or(0)))
}

/// A user's jobs that are still waiting or running.
pub async fn unfinished_jobs_of_user(db: &Db, user: i64) -> Result<Vec<JobRow>, QueueError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = $1 AND state IN ('queued', 'snoozed', 'running') ORDER BY id");
    let rows = on_db!(db, p => sqlx::query_as::<_, RawJob>(sqlx::AssertSqlSafe(sql)).bind(user).fetch_all(p).await?);
    Ok(rows.into_iter().map(JobRow::from).collect())
}

/// One user's jobs by state.
pub async fn counts_by_state_of_user(db: &Db, user: i64) -> Result<Vec<(String, i64)>, QueueError> {
    Ok(
        on_db!(db, p => sqlx::query_as("SELECT state, CAST(COUNT(*) AS BIGINT) FROM jobs WHERE user_id = $1 GROUP BY state ORDER BY state")
        .bind(user)
        .fetch_all(p)
        .await?),
    )
}

/// What every finished job was asked to make (unreadable rows are skipped).
pub async fn done_specs(db: &Db) -> Result<Vec<JobSpec>, QueueError> {
    let rows: Vec<(String, String)> = on_db!(db, p => sqlx::query_as("SELECT kind, params FROM jobs WHERE state = 'done'").fetch_all(p).await?);
    Ok(rows
        .iter()
        .filter_map(|(kind, params)| JobSpec::from_row(kind, params).ok())
        .collect())
}

/// The specs of the jobs finished since `since_ms`.
pub async fn done_specs_since(
    db: &Db,
    since_ms: i64,
) -> Result<Vec<(JobSpec, crate::jobs::Checkpoints)>, QueueError> {
    let rows: Vec<(String, String, String)> = on_db!(db, p => sqlx::query_as("SELECT kind, params, checkpoints FROM jobs WHERE state = 'done' AND finished_ms >= $1").bind(since_ms).fetch_all(p).await?);
    Ok(rows
        .iter()
        .filter_map(|(kind, params, c)| {
            Some((
                JobSpec::from_row(kind, params).ok()?,
                crate::jobs::Checkpoints::from_json(c),
            ))
        })
        .collect())
}

/// The price and checkpoints of the jobs finished since `since_ms` (margins per provider).
pub async fn done_since(
    db: &Db,
    since_ms: i64,
) -> Result<Vec<(i64, crate::jobs::Checkpoints)>, QueueError> {
    let rows: Vec<(i64, String)> = on_db!(db, p => sqlx::query_as(
        "SELECT cost_tokens, checkpoints FROM jobs WHERE state = 'done' AND finished_ms >= $1",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?);
    Ok(rows
        .into_iter()
        .map(|(price, c)| (price, crate::jobs::Checkpoints::from_json(&c)))
        .collect())
}

/// A user's paid jobs (not rejected) since `since_ms`, and when their newest paid job was made.
pub async fn paid_jobs_since(
    db: &Db,
    user: i64,
    since_ms: i64,
) -> Result<(i64, Option<i64>), QueueError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT CAST(COUNT(CASE WHEN created_ms >= $2 THEN 1 END) AS BIGINT), MAX(created_ms) FROM jobs WHERE user_id = $1 AND state <> 'rejected' AND cost_tokens > 0",
    )
    .bind(user)
    .bind(since_ms)
    .fetch_one(p)
    .await?))
}

/// Whether any job's checkpoints name `object_key` (a carried speech preview, a talking
/// head): such objects are the job's record and stay.
pub async fn checkpoints_mention(db: &Db, object_key: &str) -> Result<bool, QueueError> {
    let pattern = format!(
        "%{}%",
        object_key
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let n: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE checkpoints LIKE $1 ESCAPE '\\'")
        .bind(pattern)
        .fetch_one(p)
        .await?);
    Ok(n > 0)
}
