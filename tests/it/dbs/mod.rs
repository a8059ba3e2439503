//! Fresh databases for tests: a SQLite file in a temp folder, and a new database on the
//! PostgreSQL server that `scripts/with-services.sh` (run by `make test`) started.
#![allow(dead_code)]
use reelforge::db::Db;
use sqlx::Executor;

pub struct TestDb {
    pub db: Db,
    /// What another process would put in DATABASE_URL.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/test.db", dir.path().display());
    TestDb {
        db: Db::connect(&url).await.unwrap(),
        url,
        _dir: Some(dir),
    }
}

/// `None` only when no server was provided and none is required (plain `cargo test`).
pub async fn postgres() -> Option<TestDb> {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("REELFORGE_REQUIRE_POSTGRES").is_err(),
            "TEST_POSTGRES_URL is not set; run the tests through scripts/with-services.sh (make test)"
        );
        eprintln!("note: PostgreSQL half skipped; `make test` runs it");
        return None;
    };
    let name = format!("t_{}_{}", std::process::id(), rand_suffix());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    Some(TestDb {
        db: Db::connect(&url).await.unwrap(),
        url,
        _dir: None,
    })
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    t * 1000 + N.fetch_add(1, Ordering::SeqCst)
}

/// Both databases (Postgres when available).
pub async fn all() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}

/// Runs one SQL statement on either database (test set-up only).
pub async fn exec(db: &reelforge::db::Db, sql: &str) {
    match db {
        reelforge::db::Db::Sqlite(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
        reelforge::db::Db::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
    }
}
