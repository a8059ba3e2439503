//! The overlay cache's index: which result a key has, who is building it, until when.
use crate::db::{Db, DbError};

/// Claims a new key for `owner` until `lease_ms`; false when the key exists.
pub async fn insert_building(
    db: &Db,
    key: &str,
    owner: &str,
    lease_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "INSERT INTO cache_index (cache_key, state, owner, expires_ms, created_ms) VALUES ($1, 'building', $2, $3, $4)
         ON CONFLICT (cache_key) DO NOTHING",
    )
    .bind(key)
    .bind(owner)
    .bind(lease_ms)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// (state, object key, expires) of a key.
pub async fn entry(db: &Db, key: &str) -> Result<Option<(String, Option<String>, i64)>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as("SELECT state, object_key, expires_ms FROM cache_index WHERE cache_key = $1")
        .bind(key)
        .fetch_optional(p)
        .await?),
    )
}

/// Takes over an expired key (one caller wins).
pub async fn take_over(
    db: &Db,
    key: &str,
    owner: &str,
    lease_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("UPDATE cache_index SET state = 'building', owner = $2, expires_ms = $3 WHERE cache_key = $1 AND expires_ms <= $4")
        .bind(key)
        .bind(owner)
        .bind(lease_ms)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

pub async fn mark_ready(
    db: &Db,
    key: &str,
    owner: &str,
    object_key: &str,
    expires_ms: i64,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE cache_index SET state = 'ready', object_key = $3, expires_ms = $4 WHERE cache_key = $1 AND owner = $2")
        .bind(key)
        .bind(owner)
        .bind(object_key)
        .bind(expires_ms)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

pub async fn abandon(db: &Db, key: &str, owner: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM cache_index WHERE cache_key = $1 AND owner = $2 AND state = 'building'")
        .bind(key)
        .bind(owner)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Makes a ready result stale now (a forced rebuild).
pub async fn expire(db: &Db, key: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE cache_index SET expires_ms = 0 WHERE cache_key = $1 AND state = 'ready'").bind(key).execute(p).await?.rows_affected());
    Ok(())
}

/// Ready results whose time ran out: (cache key, object key).
pub async fn expired(db: &Db, now: i64) -> Result<Vec<(String, Option<String>)>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_as("SELECT cache_key, object_key FROM cache_index WHERE state = 'ready' AND expires_ms <= $1")
        .bind(now)
        .fetch_all(p)
        .await?),
    )
}

pub async fn delete_expired(db: &Db, key: &str, now: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM cache_index WHERE cache_key = $1 AND expires_ms <= $2").bind(key).bind(now).execute(p).await?.rows_affected());
    Ok(())
}

/// Records an object that lives only until `expires_ms` unless something keeps it (a speech
/// preview: kept when a job carries it). Registering it again extends its time.
pub async fn insert_expiring(
    db: &Db,
    key: &str,
    object_key: &str,
    expires_ms: i64,
    now: i64,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO cache_index (cache_key, state, owner, object_key, expires_ms, created_ms) VALUES ($1, 'ready', 'expiring', $2, $3, $4)
         ON CONFLICT (cache_key) DO UPDATE SET expires_ms = excluded.expires_ms",
    )
    .bind(key)
    .bind(object_key)
    .bind(expires_ms)
    .bind(now)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// The keys of objects registered with [`insert_expiring`] under `prefix`.
pub async fn expiring_keys(db: &Db, prefix: &str) -> Result<Vec<String>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT cache_key FROM cache_index WHERE owner = 'expiring' AND cache_key LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_all(p)
        .await?),
    )
}

/// Forgets the cache entries whose object is `object_key` (its file was deleted: an erased
/// user's composite), so no later lookup is handed a missing file.
pub async fn forget_object(db: &Db, object_key: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("DELETE FROM cache_index WHERE object_key = $1")
        .bind(object_key)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}
