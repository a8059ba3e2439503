//! What the public HTTP API keeps: API keys (a prefix to find them and the SHA-256 of the
//! secret; the secret itself is shown once and never stored), uploads per user, one webhook
//! per user and the webhook outbox (one row per event, retried until delivered or 24 h old).
use crate::db::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub prefix: String,
    pub secret_sha256: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
}

/// Live API keys a user may hold at once.
pub const MAX_LIVE_KEYS: i64 = 5;

/// Records a new key; `None` when the user already holds [`MAX_LIVE_KEYS`] live ones. The
/// user's row is held while the keys are counted, so concurrent requests cannot both see
/// four (PostgreSQL's snapshots would let them).
pub async fn create_key(
    db: &Db,
    user: i64,
    prefix: &str,
    secret_sha256: &str,
) -> Result<Option<i64>, DbError> {
    Ok(on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE users SET last_seen_ms = last_seen_ms WHERE id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_keys (user_id, prefix, secret_sha256, created_ms)
             SELECT $1, $2, $3, $4
             WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_ms IS NULL) < $5
             RETURNING id",
        )
        .bind(user)
        .bind(prefix)
        .bind(secret_sha256)
        .bind(now_ms())
        .bind(MAX_LIVE_KEYS)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        id
    }))
}

pub async fn key_by_prefix(db: &Db, prefix: &str) -> Result<Option<ApiKey>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, ApiKey>(
        "SELECT id, user_id, prefix, secret_sha256, created_ms, revoked_ms, last_used_ms FROM api_keys WHERE prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(p)
    .await?))
}

pub async fn keys_of(db: &Db, user: i64) -> Result<Vec<ApiKey>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, ApiKey>(
        "SELECT id, user_id, prefix, secret_sha256, created_ms, revoked_ms, last_used_ms FROM api_keys WHERE user_id = $1 ORDER BY id",
    )
    .bind(user)
    .fetch_all(p)
    .await?))
}

/// Revokes a key of `user` by its prefix; false when there is no such live key.
pub async fn revoke_key(db: &Db, user: i64, prefix: &str) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "UPDATE api_keys SET revoked_ms = $3 WHERE user_id = $1 AND prefix = $2 AND revoked_ms IS NULL",
    )
    .bind(user)
    .bind(prefix)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

pub async fn touch_key(db: &Db, id: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE api_keys SET last_used_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

pub async fn record_upload(
    db: &Db,
    user: i64,
    key: &str,
    content_type: &str,
    bytes: i64,
) -> Result<i64, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO api_uploads (user_id, object_key, content_type, bytes, created_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user)
    .bind(key)
    .bind(content_type)
    .bind(bytes)
    .bind(now_ms())
    .fetch_one(p)
    .await?))
}

/// Records a file the bot stored for `user` (a photo, a background clip, a speech preview):
/// erased with them, removed after a day when no job names it; not counted against the API's
/// upload quota.
pub async fn record_bot_upload(
    db: &Db,
    user: i64,
    key: &str,
    content_type: &str,
    bytes: i64,
) -> Result<(), DbError> {
    record_with_origin(db, user, key, content_type, bytes, "bot").await
}

/// Records a product's main photo, read from its shop page for `user`: erased with them, kept
/// while one of their products names it.
pub async fn record_product_photo(
    db: &Db,
    user: i64,
    key: &str,
    content_type: &str,
    bytes: i64,
) -> Result<(), DbError> {
    record_with_origin(db, user, key, content_type, bytes, "product").await
}

async fn record_with_origin(
    db: &Db,
    user: i64,
    key: &str,
    content_type: &str,
    bytes: i64,
    origin: &str,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO api_uploads (user_id, object_key, content_type, bytes, created_ms, origin) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user)
    .bind(key)
    .bind(content_type)
    .bind(bytes)
    .bind(now_ms())
    .bind(origin)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// Uploads (API and bot) older than `before_ms` that no job or product of their user names:
/// (row id, object key).
pub async fn unused_uploads(db: &Db, before_ms: i64) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT u.id, u.object_key FROM api_uploads u
         WHERE u.created_ms < $1
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.user_id = u.user_id AND j.params LIKE '%' || u.object_key || '%')
           AND NOT EXISTS (SELECT 1 FROM products pr WHERE pr.user_id = u.user_id AND pr.image_key = u.object_key)
           AND NOT EXISTS (SELECT 1 FROM brand_kits b WHERE b.user_id = u.user_id AND b.logo_key = u.object_key)
         ORDER BY u.id LIMIT 500",
    )
    .bind(before_ms)
    .fetch_all(p)
    .await?))
}

/// Whether a stored object is still named by an upload row other than `except` or by any
/// job (keys are content hashes: the same photo may be several users' upload).
pub async fn object_in_use(db: &Db, key: &str, except: i64) -> Result<bool, DbError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST((SELECT COUNT(*) FROM api_uploads WHERE object_key = $1 AND id <> $2)
                   + (SELECT COUNT(*) FROM jobs WHERE params LIKE '%' || $1 || '%' OR checkpoints LIKE '%' || $1 || '%')
                   + (SELECT COUNT(*) FROM products WHERE image_key = $1)
                   + (SELECT COUNT(*) FROM brand_kits WHERE logo_key = $1) AS BIGINT)",
    )
    .bind(key)
    .bind(except)
    .fetch_one(p)
    .await?);
    Ok(n > 0)
}

/// Forgets an upload whose object was removed.
pub async fn forget_upload(db: &Db, id: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM api_uploads WHERE id = $1")
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Bytes `user` uploaded since `since_ms`.
pub async fn uploaded_bytes_since(db: &Db, user: i64, since_ms: i64) -> Result<i64, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM api_uploads WHERE user_id = $1 AND created_ms >= $2 AND origin = 'api'",
    )
    .bind(user)
    .bind(since_ms)
    .fetch_one(p)
    .await?))
}

/// The content type of `user`'s upload `key`, or `None` when it is not one of theirs (jobs
/// may only name their own files).
/// The size of a user's upload, if it is theirs.
pub async fn upload_bytes(db: &Db, user: i64, key: &str) -> Result<Option<i64>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT bytes FROM api_uploads WHERE user_id = $1 AND object_key = $2 LIMIT 1",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(p)
    .await?))
}

pub async fn upload_type(db: &Db, user: i64, key: &str) -> Result<Option<String>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT content_type FROM api_uploads WHERE user_id = $1 AND object_key = $2 LIMIT 1",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(p)
    .await?))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Webhook {
    pub user_id: i64,
    pub url: String,
    pub secret: String,
}

pub async fn set_webhook(db: &Db, user: i64, url: &str, secret: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO api_webhooks (user_id, url, secret, created_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET url = $2, secret = $3, created_ms = $4",
    )
    .bind(user)
    .bind(url)
    .bind(secret)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

pub async fn webhook_of(db: &Db, user: i64) -> Result<Option<Webhook>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, Webhook>(
        "SELECT user_id, url, secret FROM api_webhooks WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(p)
    .await?))
}

pub async fn delete_webhook(db: &Db, user: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("DELETE FROM api_webhooks WHERE user_id = $1")
        .bind(user)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// API jobs of users with a webhook that ended after the webhook was set and have no event
/// yet: (job id, user, state).
pub async fn finished_without_event(
    db: &Db,
    limit: i64,
) -> Result<Vec<(i64, i64, String)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT j.id, j.user_id, j.state FROM jobs j JOIN api_webhooks w ON w.user_id = j.user_id
         WHERE j.via_api AND j.state IN ('done', 'failed', 'cancelled', 'rejected') AND j.finished_ms >= w.created_ms
           AND NOT EXISTS (SELECT 1 FROM api_events e WHERE e.job_id = j.id)
         ORDER BY j.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(p)
    .await?))
}

/// The job a user's `Idempotency-Key` made (within the day keys are kept), if any.
pub async fn job_of_key(db: &Db, user: i64, key: &str) -> Result<Option<i64>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT job_id FROM api_requests WHERE user_id = $1 AND idem_key = $2 AND job_id > 0 AND created_ms >= $3",
    )
    .bind(user)
    .bind(key)
    .bind(now_ms() - 24 * 3_600_000)
    .fetch_optional(p)
    .await?))
}

/// Adds an event to the outbox once (its id is unique).
pub async fn enqueue_event(
    db: &Db,
    event_id: &str,
    user: i64,
    job: i64,
    kind: &str,
    body: &str,
) -> Result<(), DbError> {
    let now = now_ms();
    on_db!(db, p => sqlx::query(
        "INSERT INTO api_events (event_id, user_id, job_id, type, body, next_at_ms, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(user)
    .bind(job)
    .bind(kind)
    .bind(body)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub event_id: String,
    pub user_id: i64,
    pub body: String,
    pub attempts: i64,
    pub created_ms: i64,
}

/// Events due for a (re)try: at most `per_user` of each customer, none of the customers in
/// `skip` (their endpoint is busy), so one customer's backlog cannot crowd out the others.
pub async fn due_events_fairly(
    db: &Db,
    limit: i64,
    per_user: i64,
    skip: &[i64],
) -> Result<Vec<Event>, DbError> {
    let skip = if skip.is_empty() {
        String::new()
    } else {
        // Numbers only: formatted from i64 values.
        let ids: Vec<String> = skip.iter().map(i64::to_string).collect();
        format!("AND user_id NOT IN ({})", ids.join(", "))
    };
    let sql = format!(
        "SELECT id, event_id, user_id, body, attempts, created_ms FROM (
             SELECT id, event_id, user_id, body, attempts, created_ms, next_at_ms,
                    ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY next_at_ms, id) AS nth
             FROM api_events
             WHERE delivered_ms IS NULL AND gave_up_ms IS NULL AND next_at_ms <= $1 {skip}
         ) due WHERE nth <= $3 ORDER BY next_at_ms, id LIMIT $2"
    );
    Ok(
        on_db!(db, p => sqlx::query_as::<_, Event>(sqlx::AssertSqlSafe(sql))
        .bind(now_ms())
        .bind(limit)
        .bind(per_user)
        .fetch_all(p)
        .await?),
    )
}

/// Events due for a (re)try, oldest first.
pub async fn due_events(db: &Db, limit: i64) -> Result<Vec<Event>, DbError> {
    due_events_fairly(db, limit, i64::MAX, &[]).await
}

/// Whether an event is still due now (not delivered, given up or rescheduled meanwhile).
pub async fn still_due(db: &Db, id: i64) -> Result<bool, DbError> {
    let n: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_events WHERE id = $1 AND delivered_ms IS NULL AND gave_up_ms IS NULL AND next_at_ms <= $2",
    )
    .bind(id)
    .bind(now_ms())
    .fetch_one(p)
    .await?);
    Ok(n > 0)
}

pub async fn event_delivered(db: &Db, id: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE api_events SET delivered_ms = $2, attempts = attempts + 1 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// A failed try: retried at `next_at_ms`, or given up (`None`) after 24 h.
pub async fn event_failed(
    db: &Db,
    id: i64,
    error: &str,
    next_at_ms: Option<i64>,
) -> Result<(), DbError> {
    let now = now_ms();
    on_db!(db, p => sqlx::query(
        "UPDATE api_events SET attempts = attempts + 1, last_error = $2,
             next_at_ms = COALESCE($3, next_at_ms), gave_up_ms = CASE WHEN $3 IS NULL THEN $4 ELSE NULL END
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next_at_ms)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// A page of a user's jobs, newest first, below `before` (a job id; `None` = from the newest).
pub async fn job_ids_of(
    db: &Db,
    user: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    Ok(on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM jobs WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(user)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(p)
    .await?))
}
