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
    // The copy holds every user's data: a directory only this user can read.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(work)?;
    }
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
    let stored = store.put_file(&key, &file, "application/vnd.sqlite3").await;
    let _ = std::fs::remove_file(&file);
    stored?;
    let mut all = index(store).await?;
    // Only names this command makes are kept (and so ever deleted) from the index.
    all.retain(|k| k != &key && is_backup_key(k));
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

/// `<database>.inuse`: `serve` and the workers hold a shared lock on it while they run, so a
/// restore (which needs it exclusively) cannot replace a database in use.
fn in_use_path(db_file: &Path) -> PathBuf {
    let mut p = db_file.as_os_str().to_owned();
    p.push(".inuse");
    PathBuf::from(p)
}

/// Held by `serve` and every worker for as long as they run (SQLite only; `None` for
/// PostgreSQL or an in-memory database).
pub fn hold_in_use(database_url: &str) -> std::io::Result<Option<std::fs::File>> {
    let Some(path) = sqlite_path(database_url) else {
        return Ok(None);
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(in_use_path(&path))?;
    file.lock_shared()?;
    Ok(Some(file))
}

/// A backup's key as `backup` names them.
fn is_backup_key(key: &str) -> bool {
    key.strip_prefix("backups/reelforge-")
        .and_then(|rest| rest.strip_suffix(".sqlite"))
        .is_some_and(|stamp| {
            stamp.len() == 15
                && stamp.bytes().enumerate().all(|(i, b)| {
                    if i == 8 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        })
}

/// Replaces the SQLite database at `database_url` with the backup `key` (or the newest when
/// `None`). Refused while `serve` or a worker runs on it. The copy is fetched and checked
/// first (SQLite's integrity check, a reelforge schema no newer than this binary's); then
/// the old file is kept as `<database>.pre-restore` and the copy takes its place.
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
    if !is_backup_key(&key) {
        return Err(BackupError::Refused(format!(
            "'{key}' is not a backup's name (backups/reelforge-YYYYMMDD-HHMMSS.sqlite)"
        )));
    }
    if path.exists() && !force {
        return Err(BackupError::Refused(format!(
            "{} exists: stop serve and the workers, then restore with --force to replace it",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(in_use_path(&path))?;
    if guard.try_lock().is_err() {
        return Err(BackupError::Refused(format!(
            "serve or a worker is running on {} (it holds {}): stop them first",
            path.display(),
            in_use_path(&path).display()
        )));
    }
    let incoming = path.with_extension("restoring");
    store.get_to_file(&key, &incoming).await?;
    // It must open as a reelforge database (its migrations table) before it replaces anything.
    let check = format!("sqlite://{}?mode=ro", incoming.display());
    let opened = async {
        let pool = sqlx::SqlitePool::connect(&check).await?;
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await?;
        pool.close().await;
        Ok::<(String, Option<i64>), sqlx::Error>((integrity, version))
    }
    .await;
    let known = sqlx::migrate!("./migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let problem = match opened {
        Ok((integrity, _)) if integrity != "ok" => {
            Some(format!("it fails SQLite's integrity check ({integrity})"))
        }
        Ok((_, None)) => Some("it is not a reelforge database".to_string()),
        Ok((_, Some(v))) if v > known => Some(format!(
            "its schema is version {v}, newer than this binary's {known}"
        )),
        Ok(_) => None,
        Err(e) => Some(format!("it does not open as SQLite ({e})")),
    };
    if let Some(problem) = problem {
        let _ = std::fs::remove_file(&incoming);
        return Err(BackupError::Refused(format!(
            "{key} is not restored: {problem}"
        )));
    }
    // The database being replaced is kept beside it, with its WAL, until the operator removes it.
    for side in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(side);
        let mut to = path.as_os_str().to_owned();
        to.push(format!(".pre-restore{side}"));
        if Path::new(&from).exists() {
            std::fs::rename(&from, &to)?;
        }
    }
    std::fs::rename(&incoming, &path)?;
    drop(guard);
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
        assert!(super::is_backup_key(
            "backups/reelforge-20261207-071507.sqlite"
        ));
        for bad in [
            "uploads/ab/x.jpg",
            "backups/reelforge-latest.sqlite",
            "backups/../uploads/x.sqlite",
            "backups/reelforge-20261207-071507.sqlite.jpg",
        ] {
            assert!(!super::is_backup_key(bad), "{bad}");
        }
    }
}
