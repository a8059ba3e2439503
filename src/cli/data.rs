//! Keeping the data safe: `reelforge migrate` (the schema, applied and reported),
//! `reelforge admin backup` and `reelforge admin restore` (SQLite to and from the object store;
//! PostgreSQL uses pg_dump, see the README).
use super::CliError;
use clap::Args;
use reelforge::config::{Config, Layer};
use reelforge::db::backup::{self, BackupError};
use reelforge::db::Db;
use std::path::PathBuf;

#[derive(Args)]
pub struct MigrateArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn load(config: Option<PathBuf>) -> Result<Config, CliError> {
    let _ = dotenvy::dotenv();
    Config::load(
        config.as_deref(),
        |k| std::env::var(k).ok(),
        Layer::default(),
    )
    .map_err(|e| CliError::BadInput(format!("{e}.")))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new().map_err(|e| CliError::Internal(e.to_string()))
}

/// Applies the migrations this binary carries and says where the schema stands.
pub fn migrate(a: MigrateArgs) -> Result<(), CliError> {
    let cfg = load(a.config)?;
    runtime()?.block_on(async {
        let db = Db::connect(&cfg.database_url)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        let applied = db
            .applied_schema()
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?;
        println!(
            "{} database at schema version {applied} (this binary knows up to {})",
            db.kind(),
            db.known_schema()
        );
        Ok(())
    })
}

fn backup_error(e: BackupError) -> CliError {
    match e {
        BackupError::Postgres | BackupError::Refused(_) => CliError::BadInput(format!("{e}.")),
        other => CliError::Internal(other.to_string()),
    }
}

/// `admin backup`: an online copy of the SQLite database into the object store.
pub fn backup(keep: usize, config: Option<PathBuf>) -> Result<(), CliError> {
    let cfg = load(config)?;
    runtime()?.block_on(async {
        let db = Db::connect(&cfg.database_url)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        let store = super::worker::build_storage(&cfg).await?;
        let work = std::env::temp_dir().join(format!("reelforge-backup-{}", std::process::id()));
        let made = backup::backup(&db, &store, &work, keep).await;
        let _ = std::fs::remove_dir_all(&work);
        let made = made.map_err(backup_error)?;
        println!(
            "backed up to {} ({} KB); {} older removed (keeping {keep})",
            made.key,
            made.bytes.div_ceil(1024),
            made.removed.len()
        );
        Ok(())
    })
}

/// `admin restore`: the SQLite database replaced by a backup (the newest by default).
pub fn restore(from: Option<String>, force: bool, config: Option<PathBuf>) -> Result<(), CliError> {
    let cfg = load(config)?;
    runtime()?.block_on(async {
        let store = super::worker::build_storage(&cfg).await?;
        let key = backup::restore(&store, from.as_deref(), &cfg.database_url, force)
            .await
            .map_err(backup_error)?;
        println!("restored {key}; start serve and the workers again");
        Ok(())
    })
}
