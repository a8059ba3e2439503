//! The one progress message per job: which chat message shows it, and what it says now.
use crate::db::jobs::JobRow;
use crate::db::{now_ms, Db, DbError};

/// A progress message still following its job.
#[derive(Debug, Clone)]
pub struct OpenMessage {
    pub job: JobRow,
    pub chat_id: i64,
    pub message_id: i64,
    pub lang: String,
    pub last_text: Option<String>,
    /// When the job's first attempt started running.
    pub started_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct OpenRow {
    job_id: i64,
    chat_id: i64,
    message_id: i64,
    lang: String,
    last_text: Option<String>,
    started_ms: Option<i64>,
}

/// Remembers the progress message of a job.
pub async fn track(
    db: &Db,
    job: i64,
    chat: i64,
    message: i64,
    lang: &str,
    text: &str,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO progress_messages (job_id, chat_id, message_id, lang, last_text, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(job)
    .bind(chat)
    .bind(message)
    .bind(lang)
    .bind(text)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

async fn open_rows(db: &Db, job: Option<i64>) -> Result<Vec<OpenMessage>, DbError> {
    let rows: Vec<OpenRow> = on_db!(db, p => sqlx::query_as::<_, OpenRow>(
        "SELECT pm.job_id, pm.chat_id, pm.message_id, pm.lang, pm.last_text,
                (SELECT MIN(e.created_ms) FROM job_events e WHERE e.job_id = pm.job_id AND e.state = 'running') AS started_ms
         FROM progress_messages pm WHERE NOT pm.finished AND ($1 IS NULL OR pm.job_id = $1) ORDER BY pm.job_id",
    )
    .bind(job)
    .fetch_all(p)
    .await?);
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(job) = crate::db::jobs::job(db, r.job_id)
            .await
            .map_err(|e| match e {
                crate::db::jobs::QueueError::Db(d) => d,
                other => DbError::Sql(sqlx::Error::Protocol(other.to_string())),
            })?
        else {
            continue;
        };
        out.push(OpenMessage {
            job,
            chat_id: r.chat_id,
            message_id: r.message_id,
            lang: r.lang,
            last_text: r.last_text,
            started_ms: r.started_ms,
        });
    }
    Ok(out)
}

/// Every progress message still following its job.
pub async fn open_messages(db: &Db) -> Result<Vec<OpenMessage>, DbError> {
    open_rows(db, None).await
}

/// The open progress message of one job, if any.
pub async fn open_message_of(db: &Db, job: i64) -> Result<Option<OpenMessage>, DbError> {
    Ok(open_rows(db, Some(job)).await?.into_iter().next())
}

/// Records what the message says now, and whether it stopped following the job.
pub async fn edited(db: &Db, job: i64, text: &str, finished: bool) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE progress_messages SET last_text = $2, finished = $3, updated_ms = $4 WHERE job_id = $1")
        .bind(job)
        .bind(text)
        .bind(finished)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Seconds a job of `kind` usually takes: the mean of the last finished ones, 2 min before any.
pub async fn typical_seconds(db: &Db, kind: &str) -> Result<i64, DbError> {
    let mean: Option<f64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST(AVG(finished_ms - created_ms) AS DOUBLE PRECISION) FROM (SELECT finished_ms, created_ms FROM jobs WHERE kind = $1 AND state = 'done' ORDER BY id DESC LIMIT 20) recent",
    )
    .bind(kind)
    .fetch_one(p)
    .await?);
    Ok(mean
        .map(|ms| (ms / 1000.0).round() as i64)
        .filter(|s| *s > 0)
        .unwrap_or(120))
}

/// The chat and message that show a job's progress (finished or not).
pub async fn message_of(db: &Db, job: i64) -> Result<Option<(i64, i64)>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as("SELECT chat_id, message_id FROM progress_messages WHERE job_id = $1").bind(job).fetch_optional(p).await?),
    )
}
