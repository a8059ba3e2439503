//! The overlay/compose cache, after pict-rs's variants: keyed by the inputs' hashes plus the
//! parameters, kept 24 h, and single-flight — one worker builds a key while the others wait
//! for its result instead of doing the same work.
use super::{sha256_hex, ObjectStore, StorageError};
use crate::db::cache as index;
use crate::db::{now_ms, Db, DbError};
use std::future::Future;
use std::time::Duration;

pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("building the cached result failed: {0}")]
    Build(String),
    #[error("gave up waiting for another worker to build {0}")]
    WaitTimedOut(String),
}

impl From<sqlx::Error> for CacheError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

/// The cache key of a result made from inputs with these hashes and these parameters.
pub fn cache_key(input_hashes: &[&str], params: &serde_json::Value) -> String {
    sha256_hex(format!("{}|{params}", input_hashes.join(",")).as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Built and fresh: the object's key.
    Ready(String),
    /// This caller builds it now.
    Build,
    /// Another worker is building it.
    Wait,
}

/// Decides who builds `key`. A build lease of `build_timeout` lets another worker take over
/// from one that died while building; an expired result is rebuilt.
pub async fn claim(
    db: &Db,
    key: &str,
    owner: &str,
    build_timeout: Duration,
) -> Result<Claim, CacheError> {
    let now = now_ms();
    let lease = now + build_timeout.as_millis() as i64;
    if index::insert_building(db, key, owner, lease, now).await? {
        return Ok(Claim::Build);
    }
    let row = index::entry(db, key).await?;
    match row {
        Some((state, Some(object), expires)) if state == "ready" && expires > now => {
            Ok(Claim::Ready(object))
        }
        Some((_, _, expires)) if expires > now => Ok(Claim::Wait),
        _ => {
            // Expired result or a dead builder: take it over (one caller wins).
            let took = index::take_over(db, key, owner, lease, now).await?;
            Ok(if took { Claim::Build } else { Claim::Wait })
        }
    }
}

async fn finish(
    db: &Db,
    key: &str,
    owner: &str,
    object_key: &str,
    ttl: Duration,
) -> Result<(), CacheError> {
    let expires = now_ms() + ttl.as_millis() as i64;
    index::mark_ready(db, key, owner, object_key, expires).await?;
    Ok(())
}

async fn abandon(db: &Db, key: &str, owner: &str) -> Result<(), CacheError> {
    index::abandon(db, key, owner).await?;
    Ok(())
}

/// The cached object for `key`, built by `build` (which returns the stored object's key) when
/// nobody has it; concurrent callers wait for the one builder. `force` ignores a ready result
/// (the `/overlay` re-make).
#[allow(clippy::too_many_arguments)]
pub async fn get_or_build<F, Fut, E>(
    db: &Db,
    key: &str,
    owner: &str,
    ttl: Duration,
    build_timeout: Duration,
    force: bool,
    build: F,
) -> Result<Result<String, E>, CacheError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, E>>,
{
    if force {
        index::expire(db, key).await?;
    }
    let deadline = std::time::Instant::now() + build_timeout * 2;
    let mut build = Some(build);
    loop {
        match claim(db, key, owner, build_timeout).await? {
            Claim::Ready(object) => return Ok(Ok(object)),
            Claim::Build => {
                let Some(build) = build.take() else {
                    return Err(CacheError::Build("built twice".into()));
                };
                return match build().await {
                    Ok(object) => {
                        finish(db, key, owner, &object, ttl).await?;
                        Ok(Ok(object))
                    }
                    // The build's own error, as its type: the caller classifies it.
                    Err(e) => {
                        abandon(db, key, owner).await?;
                        Ok(Err(e))
                    }
                };
            }
            Claim::Wait => {
                if std::time::Instant::now() > deadline {
                    return Err(CacheError::WaitTimedOut(key.to_string()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Prefix of the cache entries of objects kept only for a while (speech previews).
const EXPIRING: &str = "expiring:";

/// Keeps `object_key` (a speech preview the user may still confirm) for `ttl`; after that
/// [`cleanup_expired`] deletes it unless a job carries it.
pub async fn keep_for(db: &Db, object_key: &str, ttl: Duration) -> Result<(), CacheError> {
    let now = now_ms();
    let key = format!("{EXPIRING}{object_key}");
    index::insert_expiring(db, &key, object_key, now + ttl.as_millis() as i64, now).await?;
    Ok(())
}

/// Deletes expired results and their objects (the video and its thumbnail, or a speech
/// preview and its word timings); returns how many entries were removed. An object a
/// delivered video or a job still points to stays (the user's video in `/history`, a
/// preview a job carried); only its cache entry goes.
pub async fn cleanup_expired(db: &Db, store: &impl ObjectStore) -> Result<usize, CacheError> {
    let now = now_ms();
    let rows = index::expired(db, now).await?;
    for (key, object) in &rows {
        if let Some(object) = object {
            if key.starts_with(EXPIRING) {
                if !crate::db::jobs::checkpoints_mention(db, object)
                    .await
                    .map_err(|e| CacheError::Build(e.to_string()))?
                {
                    store.delete(object).await?;
                }
            } else if !crate::db::generations::references(db, object).await? {
                store.delete(object).await?;
                store.delete(&format!("{object}.jpg")).await?;
            }
        }
        index::delete_expired(db, key, now).await?;
    }
    Ok(rows.len())
}
