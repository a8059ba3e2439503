//! Finished videos ("my generations"): what was made for whom, and Telegram's file id for
//! re-sends without an upload.
use crate::db::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Generation {
    pub id: i64,
    pub job_id: i64,
    pub user_id: i64,
    pub kind: String,
    pub output_key: String,
    pub thumbnail_key: String,
    pub width: i64,
    pub height: i64,
    pub duration_ms: i64,
    pub telegram_file_id: Option<String>,
}

pub struct NewGeneration<'a> {
    pub job_id: i64,
    pub user_id: i64,
    pub kind: &'a str,
    pub output_key: &'a str,
    pub thumbnail_key: &'a str,
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
}

pub async fn record(db: &Db, g: NewGeneration<'_>) -> Result<i64, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO generations (job_id, user_id, kind, output_key, thumbnail_key, width, height, duration_ms, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(g.job_id)
    .bind(g.user_id)
    .bind(g.kind)
    .bind(g.output_key)
    .bind(g.thumbnail_key)
    .bind(i64::from(g.width))
    .bind(i64::from(g.height))
    .bind((g.duration_s * 1000.0) as i64)
    .bind(now_ms())
    .fetch_one(p)
    .await?))
}

pub async fn set_file_id(db: &Db, generation: i64, file_id: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE generations SET telegram_file_id = $2 WHERE id = $1 AND $2 <> ''")
        .bind(generation)
        .bind(file_id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

const COLUMNS: &str = "id, job_id, user_id, kind, output_key, thumbnail_key, width, height, duration_ms, telegram_file_id";
/// Only the results of finished jobs are handed over (/history, the re-send button): a job
/// still running (its upload not yet sent, or to be retried) could still be cancelled and
/// refunded. Rows from before jobs were linked have no job.
const HANDED_OVER: &str = "(job_id IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = generations.job_id AND j.state = 'done'))";

/// The generation a job made.
pub async fn of_job(db: &Db, job: i64) -> Result<Option<Generation>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM generations WHERE job_id = $1 AND {HANDED_OVER} ORDER BY id DESC LIMIT 1");
    Ok(
        on_db!(db, p => sqlx::query_as::<_, Generation>(sqlx::AssertSqlSafe(sql)).bind(job).fetch_optional(p).await?),
    )
}

/// A user's newest generations, newest first.
pub async fn recent_of_user(db: &Db, user: i64, limit: i64) -> Result<Vec<Generation>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM generations WHERE user_id = $1 AND {HANDED_OVER} ORDER BY id DESC LIMIT $2");
    Ok(
        on_db!(db, p => sqlx::query_as::<_, Generation>(sqlx::AssertSqlSafe(sql)).bind(user).bind(limit).fetch_all(p).await?),
    )
}

/// Generations made since `since_ms`.
pub async fn count_since(db: &Db, since_ms: i64) -> Result<i64, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM generations WHERE created_ms >= $1").bind(since_ms).fetch_one(p).await?),
    )
}

/// Whether a delivered video still points at this stored object (cache cleanup keeps it).
pub async fn references(db: &Db, output_key: &str) -> Result<bool, DbError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM generations WHERE output_key = $1").bind(output_key).fetch_one(p).await?);
    Ok(n > 0)
}
