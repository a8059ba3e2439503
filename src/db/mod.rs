//! The database: SQLite by default (a file under `data/`, WAL) or PostgreSQL for production
//! and several workers. One API over both; migrations are applied at start-up.
/// Runs the same code against whichever pool `db` holds; `$p` is the typed pool inside.
/// The SQL must be valid for both (numbered `$1` parameters work in both).
macro_rules! on_db {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            crate::db::Db::Sqlite($p) => $body,
            crate::db::Db::Postgres($p) => $body,
        }
    };
}

/// One ledger change inside the caller's open transaction `$tx` (claim the idempotency key
/// first, then move the balance with the non-negative rule in the UPDATE, then record the
/// balance on the entry). Evaluates to `Result<ledger::Step, sqlx::Error>`; on
/// `Step::Insufficient` the caller must roll back (the key was claimed in this transaction).
macro_rules! ledger_step {
    ($tx:expr, $user:expr, $delta:expr, $reason:expr, $key:expr, $job:expr, $now:expr) => {
        async {
            let claimed = sqlx::query(
                "INSERT INTO ledger_entries (user_id, delta, balance_after, reason, idempotency_key, job_id, created_ms)
                 SELECT $1, $2, 0, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind($user)
            .bind($delta)
            .bind($reason.as_str())
            .bind($key)
            .bind($job)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM ledger_entries WHERE idempotency_key = $1")
                        .bind($key)
                        .fetch_optional(&mut *$tx)
                        .await?;
                return Ok::<_, sqlx::Error>(match exists {
                    Some(_) => crate::db::ledger::Step::AlreadyApplied,
                    None => crate::db::ledger::Step::UnknownUser,
                });
            }
            let balance: Option<i64> = sqlx::query_scalar(
                "UPDATE users SET balance = balance + $2 WHERE id = $1 AND balance + $2 >= 0 RETURNING balance",
            )
            .bind($user)
            .bind($delta)
            .fetch_optional(&mut *$tx)
            .await?;
            let Some(balance) = balance else {
                return Ok(crate::db::ledger::Step::Insufficient);
            };
            sqlx::query("UPDATE ledger_entries SET balance_after = $2 WHERE idempotency_key = $1")
                .bind($key)
                .bind(balance)
                .execute(&mut *$tx)
                .await?;
            Ok(crate::db::ledger::Step::Applied(balance))
        }
        .await
    };
}

pub mod account;
pub mod api;
pub mod api_keys;
pub mod backup;
pub mod brand;
pub mod cache;
pub mod campaigns;
pub mod characters;
pub mod console;
pub mod conversations;
pub mod generations;
pub mod jobs;
pub mod ledger;
pub mod limits;
pub mod orders;
pub mod products;
pub mod progress;
pub mod providers;
pub mod reversals;
pub mod users;
pub mod versions;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got '{0}')")]
    BadUrl(String),
    #[error("cannot create the database folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("cannot lock {0} while migrating: {1}")]
    MigrationLock(String, std::io::Error),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database is at schema version {database}, written by a newer reelforge; this binary knows versions up to {binary}: run the newer binary, or restore a backup made before the upgrade")]
    NewerSchema { database: i64, binary: i64 },
}

impl Db {
    /// Connects and applies the migrations of that database kind.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let path = opts.get_filename().to_path_buf();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::Folder(dir.display().to_string(), e))?;
            }
            // Processes started together on a new file (serve and a worker) must not both
            // create the tables: the first migrates under an exclusive file lock, the others
            // wait for it and find the migrations applied.
            let lock = migration_lock(&path).await?;
            let db = Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(opts)
                    .await?,
            );
            db.migrate().await?;
            drop(lock);
            return Ok(db);
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?,
            )
        } else {
            return Err(DbError::BadUrl(url.to_string()));
        };
        // sqlx's migrator holds a PostgreSQL advisory lock while it migrates.
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        self.refuse_newer_schema().await?;
        match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// The newest schema version this binary carries.
    pub fn known_schema(&self) -> i64 {
        let versions = match self {
            Db::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        };
        versions.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest schema version applied to the database (0 for a new one).
    pub async fn applied_schema(&self) -> Result<i64, DbError> {
        // No migrations table yet: a new database.
        let applied: Result<Option<i64>, sqlx::Error> = on_db!(self, p => sqlx::query_scalar(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(p)
        .await);
        Ok(applied.ok().flatten().unwrap_or(0))
    }

    /// An older binary on a newer schema stops with one sentence naming both versions
    /// (instead of failing on a migration it does not know, over and over under a restart
    /// policy).
    async fn refuse_newer_schema(&self) -> Result<(), DbError> {
        let (database, binary) = (self.applied_schema().await?, self.known_schema());
        if database > binary {
            return Err(DbError::NewerSchema { database, binary });
        }
        Ok(())
    }

    /// A round trip to the database (health checks).
    pub async fn ping(&self) -> Result<(), DbError> {
        on_db!(self, p => sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(p).await?);
        Ok(())
    }

    /// Closes the pool (its connections end; the SQLite file may then be replaced).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// An exclusive lock on `<database>.migrate.lock`, held while the migrations run (none for an
/// in-memory database).
async fn migration_lock(db_path: &std::path::Path) -> Result<Option<std::fs::File>, DbError> {
    let name = db_path.as_os_str();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let mut lock_path = db_path.as_os_str().to_owned();
    lock_path.push(".migrate.lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let shown = lock_path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(Some(file))
    })
    .await
    .map_err(|e| DbError::MigrationLock(shown.clone(), std::io::Error::other(e.to_string())))?
    .map_err(|e| DbError::MigrationLock(shown, e))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
