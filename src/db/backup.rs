//! Backups of the SQLite database to the object store, and restores from them. A backup is an
//! online, consistent copy made with `VACUUM INTO` (the service keeps running), stored under
//! `backups/` with an index (`backups/index.json`, newest last) that keeps the last `keep`
//! and deletes older copies. PostgreSQL is backed up with `pg_dump` (README), not here.
use super::{Db, DbError};
use crate::storage::{ObjectStore, StorageError};
use std::path::{Path, PathBuf};

const INDEX: &str = "backups/index.json";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("PostgreSQL is backed up with pg_dump (see the README's backup section), not with this command")]
    Postgres,
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("object store: {0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Refused(String),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::Sql(e))
    }
}

/// What a backup made and what it removed under the retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub key: String,
    pub bytes: u64,
    pub removed: Vec<String>,
}

async fn index(store: &impl ObjectStore) -> Result<Vec<String>, BackupError> {
    if !store.exists(INDEX).await? {
        return Ok(Vec::new());
    }
    let bytes = store.get_bytes(INDEX).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::Refused(format!("{INDEX} is not a list of backups: {e}")))
}

/// The stored backups, oldest first.
pub async fn list(store: &impl ObjectStore) -> Result<Vec<String>, BackupError> {
    index(store).await
}

/// Copies the live SQLite database into the store and keeps the newest `keep` copies.
pub async fn backup(
    db: &Db,
    store: &impl ObjectStore,
    work: &Path,
    keep: usize,
) -> Result<Made, BackupError> {
    let Db::Sqlite(pool) = db else {
        return Err(BackupError::Postgres);
    };
    std::fs::create_dir_all(work)?;
    let stamp = chrono_like_stamp(super::now_ms());
    let file = work.join(format!("reelforge-{stamp}.sqlite"));
    let _ = std::fs::remove_file(&file);
    // A consistent snapshot of the whole database while writers go on (SQLite's VACUUM INTO).
    sqlx::query("VACUUM INTO $1")
        .bind(file.display().to_string())
        .execute(pool)
        .await?;
    let bytes = std::fs::metadata(&file)?.len();
    let key = format!("backups/reelforge-{stamp}.sqlite");
    store
        .put_file(&key, &file, "application/vnd.sqlite3")
        .await?;
    let _ = std::fs::remove_file(&file);
    let mut all = index(store).await?;
    all.retain(|k| k != &key);
    all.push(key.clone());
    let cut = all.len().saturating_sub(keep.max(1));
    let removed: Vec<String> = all.drain(..cut).collect();
    store
        .put_bytes(
            INDEX,
            serde_json::to_vec(&all).unwrap_or_default(),
            "application/json",
        )
        .await?;
    for old in &removed {
        store.delete(old).await?;
    }
    Ok(Made {
        key,
        bytes,
        removed,
    })
}

/// `YYYYMMDD-HHMMSS` (UTC) of a time in milliseconds, sortable as text.
fn chrono_like_stamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::dates::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The SQLite file a `sqlite://` URL names.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Replaces the SQLite database at `database_url` with the backup `key` (or the newest when
/// `None`). The copy is fetched and opened first (it must be a reelforge database); then it
/// takes the file's place in one rename. Stop `serve` and the workers before restoring.
pub async fn restore(
    store: &impl ObjectStore,
    key: Option<&str>,
    database_url: &str,
    force: bool,
) -> Result<String, BackupError> {
    let Some(path) = sqlite_path(database_url) else {
        return Err(BackupError::Postgres);
    };
    let key = match key {
        Some(k) => k.to_string(),
        None => index(store)
            .await?
            .pop()
            .ok_or_else(|| BackupError::Refused("there is no backup in the store yet".into()))?,
    };
    if path.exists() && !force {
        return Err(BackupError::Refused(format!(
            "{} exists: stop serve and the workers, then restore with --force to replace it",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let incoming = path.with_extension("restoring");
    store.get_to_file(&key, &incoming).await?;
    // It must open as a reelforge database (its migrations table) before it replaces anything.
    let check = format!("sqlite://{}?mode=ro", incoming.display());
    let opened = async {
        let pool = sqlx::SqlitePool::connect(&check).await?;
        let n: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok::<i64, sqlx::Error>(n)
    }
    .await;
    if !matches!(opened, Ok(n) if n > 0) {
        let _ = std::fs::remove_file(&incoming);
        return Err(BackupError::Refused(format!(
            "{key} is not a reelforge database backup"
        )));
    }
    for side in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&incoming, &path)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_sort_as_time_and_paths_come_from_urls() {
        assert_eq!(super::chrono_like_stamp(0), "19700101-000000");
        assert_eq!(
            super::chrono_like_stamp(1_796_627_707_161),
            "20261207-071507"
        );
        assert_eq!(
            super::sqlite_path("sqlite://data/reelforge.db"),
            Some("data/reelforge.db".into())
        );
        assert_eq!(
            super::sqlite_path("sqlite:///var/lib/r.db?mode=rwc"),
            Some("/var/lib/r.db".into())
        );
        assert_eq!(super::sqlite_path("postgres://x@y/z"), None);
    }
}
