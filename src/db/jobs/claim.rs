//! Claiming jobs and recording that they are done, several at a time: a worker with free
//! slots takes up to that many due jobs in one transaction (the claim and its events), and
//! the jobs its handlers finish are marked done together. Each job still has its own lease
//! and fencing token; batching only saves round trips and commits.
use super::{fail, ClaimedJob, ClaimedRow, QueueError};
use crate::db::{now_ms, Db};
use crate::failure::ErrorClass;
use std::time::Duration;

/// The jobs a claim may take, at most `$5`: one index-ordered probe per kind of due job
/// (queued, snoozed, running with an expired lease), each walking `jobs(state, run_at_ms)`
/// and stopping after `$5` rows, so a claim costs the same with ten or ten thousand jobs
/// waiting. Users at their running limit (`$4`) are left out once per claim, and within
/// the batch a user gets no more jobs than the limit leaves room for. `{lock}` is
/// PostgreSQL's `FOR UPDATE SKIP LOCKED` (empty on SQLite, where the statement is atomic).
fn claim_candidates(lock: &str) -> String {
    let running = "SELECT r.user_id, COUNT(*) AS n FROM jobs r WHERE r.state = 'running'
           AND r.lease_until_ms >= $1 GROUP BY r.user_id";
    let probe = |due: &str| {
        format!(
            "SELECT id, user_id, run_at_ms FROM (SELECT j.id, j.user_id, j.run_at_ms FROM jobs j
             WHERE {due} AND j.user_id NOT IN (SELECT user_id FROM ({running}) full_users WHERE n >= $4)
             ORDER BY j.run_at_ms, j.id LIMIT $5 {lock}) p"
        )
    };
    format!(
        "SELECT id FROM (
           SELECT c.id, c.run_at_ms, COALESCE(u.n, 0) AS running,
                  ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY c.run_at_ms, c.id) AS k
           FROM ({} UNION ALL {} UNION ALL {}) c LEFT JOIN ({running}) u ON u.user_id = c.user_id
         ) x WHERE x.k + x.running <= $4 ORDER BY x.run_at_ms, x.id LIMIT $5",
        probe("j.state = 'queued' AND j.run_at_ms <= $1"),
        probe("j.state = 'snoozed' AND j.run_at_ms <= $1"),
        probe("j.state = 'running' AND j.lease_until_ms < $1"),
    )
}

/// Takes the next due job (or one whose worker's lease expired) for `worker`, holding it for
/// `lease`. At most `per_user_running` jobs of one user run at a time.
pub async fn claim_next(
    db: &Db,
    worker: &str,
    lease: Duration,
    per_user_running: i64,
) -> Result<Option<ClaimedJob>, QueueError> {
    Ok(claim_batch(db, worker, lease, per_user_running, 1)
        .await?
        .pop())
}

/// Takes up to `max` due jobs for `worker` (see [`claim_next`]), oldest first.
pub async fn claim_batch(
    db: &Db,
    worker: &str,
    lease: Duration,
    per_user_running: i64,
    max: usize,
) -> Result<Vec<ClaimedJob>, QueueError> {
    // Attempts count at claim: a job whose earlier attempts all died with their worker (a
    // crash, an out-of-memory kill) has used them up and is failed and refunded here instead
    // of being handed out again every lease period.
    loop {
        let claimed = claim_rows(db, worker, lease, per_user_running, max.max(1)).await?;
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let (usable, exhausted): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .partition(|j| j.attempts <= j.max_attempts);
        for job in &exhausted {
            let why = format!(
                "{} attempts ended without an outcome (the worker stopped or crashed each time)",
                job.max_attempts
            );
            let failure = crate::failure::Failure::internal(ErrorClass::Permanent, why);
            match fail(db, job, &failure, 0.0).await {
                Ok(_) | Err(QueueError::LeaseLost(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !usable.is_empty() {
            return Ok(usable);
        }
    }
}

/// The ids as a JSON array, the one parameter the batch statements take (so each is one
/// prepared statement whatever the batch size).
fn json_ids(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|i| i.to_string()).collect();
    format!("[{}]", ids.join(","))
}

async fn claim_rows(
    db: &Db,
    worker: &str,
    lease: Duration,
    per_user_running: i64,
    max: usize,
) -> Result<Vec<ClaimedJob>, QueueError> {
    let now = now_ms();
    let until = now + lease.as_millis() as i64;
    let returning = "RETURNING id, user_id, kind, params, attempts, max_attempts, lease_token, checkpoints, cost_tokens, cancel_requested";
    let set =
        "SET state = 'running', lease_token = lease_token + 1, lease_until_ms = $2, worker = $3,
               attempts = attempts + 1, updated_ms = $1";
    // Several PostgreSQL workers skip rows another worker is claiming right now; on SQLite
    // (one writer at a time) the statement is atomic as it is.
    let (lock, ids) = match db {
        Db::Postgres(_) => (
            "FOR UPDATE SKIP LOCKED",
            "SELECT (e.value)::bigint FROM jsonb_array_elements_text($3::jsonb) e",
        ),
        Db::Sqlite(_) => ("", "SELECT value FROM json_each($3)"),
    };
    let claim = format!(
        "UPDATE jobs {set} WHERE id IN ({}) {returning}",
        claim_candidates(lock)
    );
    // The claim and its "running" events commit together.
    let events = format!(
        "INSERT INTO job_events (job_id, state, message, created_ms)
         SELECT id, 'running', 'attempt ' || attempts || ' by ' || $2, $1 FROM jobs WHERE id IN ({ids})"
    );
    let rows: Vec<ClaimedRow> = on_db!(db, p => {
        let mut tx = p.begin().await?;
        let rows = sqlx::query_as::<_, ClaimedRow>(sqlx::AssertSqlSafe(claim))
            .bind(now)
            .bind(until)
            .bind(worker)
            .bind(per_user_running)
            .bind(max as i64)
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(events))
                .bind(now)
                .bind(worker)
                .bind(json_ids(rows.iter().map(|r| r.id)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        rows
    });
    let mut jobs: Vec<ClaimedJob> = rows.into_iter().map(ClaimedJob::from).collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Marks jobs done, each only while it still holds the lease it was claimed with, and
/// records their "done" events, all in one transaction. Returns, in order, whether each one
/// was still held (`false`: another worker took it over or it ended meanwhile).
pub async fn complete_batch(db: &Db, jobs: &[(i64, i64)]) -> Result<Vec<bool>, QueueError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let pairs: Vec<String> = jobs.iter().map(|(id, t)| format!("[{id},{t}]")).collect();
    let pairs = format!("[{}]", pairs.join(","));
    let (held, ids) = match db {
        Db::Postgres(_) => (
            "SELECT (e->>0)::bigint AS id, (e->>1)::bigint AS token FROM jsonb_array_elements($2::jsonb) e",
            "SELECT (e.value)::bigint FROM jsonb_array_elements_text($2::jsonb) e",
        ),
        Db::Sqlite(_) => (
            "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token FROM json_each($2)",
            "SELECT value FROM json_each($2)",
        ),
    };
    let done = format!(
        "UPDATE jobs SET state = 'done', finished_ms = $1, updated_ms = $1, lease_until_ms = NULL
         WHERE state = 'running' AND (id, lease_token) IN (SELECT h.id, h.token FROM ({held}) h)
         RETURNING id"
    );
    let events = format!(
        "INSERT INTO job_events (job_id, state, message, created_ms) SELECT id, 'done', NULL, $1 FROM jobs WHERE id IN ({ids})"
    );
    let ended: Vec<i64> = on_db!(db, p => {
        let mut tx = p.begin().await?;
        let ended: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(done))
            .bind(now)
            .bind(&pairs)
            .fetch_all(&mut *tx)
            .await?;
        if !ended.is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(events))
                .bind(now)
                .bind(json_ids(ended.iter().copied()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        ended
    });
    Ok(jobs.iter().map(|(id, _)| ended.contains(id)).collect())
}
