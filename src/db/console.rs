//! The numbers and lists the operator console shows. Reads only, except the audit log of
//! what operators did.
use crate::db::{now_ms, Db, DbError};

/// Paid orders per day and method since `since_ms`: (day start ms, method, amount in minor units).
pub async fn revenue_by_day(db: &Db, since_ms: i64) -> Result<Vec<(i64, String, i64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT CAST((paid_ms / 86400000) * 86400000 AS BIGINT) AS day, method, CAST(SUM(amount_minor) AS BIGINT)
         FROM orders WHERE status = 'paid' AND paid_ms >= $1 GROUP BY 1, 2 ORDER BY 1",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?))
}

/// Jobs created per bucket and state since `since_ms`: (bucket start ms, state, count).
pub async fn jobs_by_bucket(
    db: &Db,
    since_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<(i64, String, i64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT CAST((created_ms / $2) * $2 AS BIGINT), state, CAST(COUNT(*) AS BIGINT)
         FROM jobs WHERE created_ms >= $1 GROUP BY 1, 2 ORDER BY 1",
    )
    .bind(since_ms)
    .bind(bucket_ms)
    .fetch_all(p)
    .await?))
}

/// Failed jobs since `since_ms`: (error class, message).
/// The failed jobs since `since_ms`: their class and what failed (recorded with the failure;
/// `internal` for rows from before it was recorded).
pub async fn failures(db: &Db, since_ms: i64) -> Result<Vec<(String, String)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT COALESCE(error_class, 'unknown'), COALESCE(error_provider, 'internal') FROM jobs
         WHERE state = 'failed' AND finished_ms >= $1",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?))
}

/// How long jobs created since `since_ms` waited for a worker (ms, sorted).
pub async fn waits(db: &Db, since_ms: i64) -> Result<Vec<i64>, DbError> {
    let mut w: Vec<i64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST(MIN(e.created_ms) - j.created_ms AS BIGINT) FROM jobs j
         JOIN job_events e ON e.job_id = j.id AND e.state = 'running'
         WHERE j.created_ms >= $1 GROUP BY j.id, j.created_ms",
    )
    .bind(since_ms)
    .fetch_all(p)
    .await?);
    w.sort_unstable();
    Ok(w)
}

pub async fn active_users(db: &Db, since_ms: i64) -> Result<i64, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE last_seen_ms >= $1")
        .bind(since_ms)
        .fetch_one(p)
        .await?),
    )
}

/// Users whose id or username matches `q` (an id, `@name` or part of a name).
pub async fn search_users(db: &Db, q: &str, limit: i64) -> Result<Vec<i64>, DbError> {
    let q = q.trim().trim_start_matches('@');
    let id = q.parse::<i64>().unwrap_or(-1);
    let pattern = format!("%{}%", q.replace(['%', '_'], ""));
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1 OR (LENGTH($2) > 2 AND LOWER(COALESCE(username, '')) LIKE LOWER($2))
         ORDER BY last_seen_ms DESC LIMIT $3",
    )
    .bind(id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// Job ids matching the filters (empty / 0 = any), newest first.
pub async fn job_ids(
    db: &Db,
    state: &str,
    kind: &str,
    user: i64,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM jobs WHERE ($1 = '' OR state = $1) AND ($2 = '' OR kind = $2) AND ($3 = 0 OR user_id = $3)
           AND created_ms >= $4 AND created_ms <= $5 ORDER BY id DESC LIMIT $6",
    )
    .bind(state)
    .bind(kind)
    .bind(user)
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// A job's timeline: (state, message, at ms).
pub async fn events(db: &Db, job: i64) -> Result<Vec<(String, Option<String>, i64)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT state, message, created_ms FROM job_events WHERE job_id = $1 ORDER BY id",
    )
    .bind(job)
    .fetch_all(p)
    .await?))
}

/// Orders with their creation and payment times, newest first (`user` 0 = everyone).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub user_id: i64,
    pub method: String,
    pub tokens: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub created_ms: i64,
    pub paid_ms: Option<i64>,
}

pub async fn orders(db: &Db, user: i64, limit: i64) -> Result<Vec<OrderRow>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, OrderRow>(
        "SELECT id, user_id, method, tokens, amount_minor, currency, status, created_ms, paid_ms FROM orders
         WHERE ($1 = 0 OR user_id = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(p)
    .await?))
}

pub async fn audit(
    db: &Db,
    actor: &str,
    action: &str,
    target: &str,
    note: &str,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("INSERT INTO console_audit (at_ms, actor, action, target, note) VALUES ($1, $2, $3, $4, $5)")
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(note)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// The audit lines about `target` (`user:42`, `job:7`, `order:3`), newest first.
pub async fn audit_of(
    db: &Db,
    target: &str,
) -> Result<Vec<(i64, String, String, String)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT at_ms, actor, action, note FROM console_audit WHERE target = $1 ORDER BY at_ms DESC LIMIT 50",
    )
    .bind(target)
    .fetch_all(p)
    .await?))
}

/// Records a new console session for `who` until `expires_ms`.
pub async fn start_session(db: &Db, id: &str, who: &str, expires_ms: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO console_sessions (id, who, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(who)
    .bind(now_ms())
    .bind(expires_ms)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// The operator of a live session (not ended, not expired).
pub async fn live_session(db: &Db, id: &str) -> Result<Option<String>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT who FROM console_sessions WHERE id = $1 AND ended_ms IS NULL AND expires_ms > $2",
    )
    .bind(id)
    .bind(now_ms())
    .fetch_optional(p)
    .await?))
}

/// Ends a session (sign-out), on every server at once.
pub async fn end_session(db: &Db, id: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE console_sessions SET ended_ms = $2 WHERE id = $1 AND ended_ms IS NULL")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Marks a Telegram sign-in payload used; false when it was used before (a replay).
pub async fn use_login(db: &Db, hash: &str) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "INSERT INTO console_logins (hash, used_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(hash)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}
