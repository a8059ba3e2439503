//! Fault injection into the database: the Nth write fails (and every write after it, as when
//! the database goes away), for every N over a run of money steps — submit, fail + refund,
//! cancel + refund, an admin top-up, a Stripe credit. After the database comes back and the
//! steps are retried (and the sweeper has run), the money invariants hold:
//! balance = sum of entries, never negative, no job left `new`, every failed or cancelled job
//! that was debited is refunded exactly once, and nothing is refunded that was never taken.
//! Triggers inject the faults, on SQLite and on PostgreSQL (where a sequence counts the writes,
//! since a failed transaction would roll a counter table back).
use crate::dbs;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::failure::ErrorClass;
use reelforge::jobs::JobState;
use sqlx::Executor;
use std::time::Duration;

const USER: i64 = 50;
const TABLES: [&str; 6] = [
    "jobs",
    "ledger_entries",
    "users",
    "job_events",
    "orders",
    "webhook_events",
];

/// Makes the Nth write (INSERT or UPDATE of a row in the money tables) and every later one fail.
async fn install_fault(t: &dbs::TestDb, n: i64) {
    let mut sql = String::new();
    match &t.db {
        Db::Sqlite(_) => {
            sql.push_str(&format!(
                "CREATE TABLE fault (n INTEGER NOT NULL, hits INTEGER NOT NULL); INSERT INTO fault VALUES ({n}, 0);"
            ));
            for t in TABLES {
                for op in ["INSERT", "UPDATE"] {
                    sql.push_str(&format!(
                        "CREATE TRIGGER fault_{t}_{op} BEFORE {op} ON {t} BEGIN
                           UPDATE fault SET hits = hits + 1;
                           SELECT RAISE(ABORT, 'injected fault') WHERE (SELECT hits FROM fault) >= (SELECT n FROM fault);
                         END;"
                    ));
                }
            }
        }
        Db::Postgres(_) => {
            sql.push_str(&format!(
                "CREATE SEQUENCE fault_hits;
                 CREATE FUNCTION fault_hit() RETURNS trigger LANGUAGE plpgsql AS $f$
                 BEGIN
                   IF nextval('fault_hits') >= {n} THEN RAISE EXCEPTION 'injected fault'; END IF;
                   RETURN NEW;
                 END $f$;"
            ));
            for t in TABLES {
                sql.push_str(&format!(
                    "CREATE TRIGGER fault_{t} BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION fault_hit();"
                ));
            }
        }
    }
    raw_execute(t, sql).await;
}

async fn remove_fault(t: &dbs::TestDb) {
    let mut sql = String::new();
    match &t.db {
        Db::Sqlite(_) => {
            for t in TABLES {
                for op in ["INSERT", "UPDATE"] {
                    sql.push_str(&format!("DROP TRIGGER fault_{t}_{op};"));
                }
            }
            sql.push_str("DROP TABLE fault;");
        }
        Db::Postgres(_) => {
            for t in TABLES {
                sql.push_str(&format!("DROP TRIGGER fault_{t} ON {t};"));
            }
            sql.push_str("DROP FUNCTION fault_hit(); DROP SEQUENCE fault_hits;");
        }
    }
    raw_execute(t, sql).await;
}

/// Runs administration SQL on its own connection (not through the code under test).
async fn raw_execute(t: &dbs::TestDb, sql: String) {
    match &t.db {
        Db::Sqlite(_) => {
            let raw = sqlx::SqlitePool::connect(&t.url).await.unwrap();
            raw.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            raw.close().await;
        }
        Db::Postgres(_) => {
            let raw = sqlx::PgPool::connect(&t.url).await.unwrap();
            raw.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
            raw.close().await;
        }
    }
}

fn spec(cost: i64) -> NewJob {
    NewJob::from_json(
        USER,
        "text_to_video",
        serde_json::json!({"prompt": "x", "tier": "fast", "seconds": 4, "size": "720x1280"}),
        cost,
        1,
    )
    .unwrap()
}

/// The money steps; every one may fail while the fault is in. Returns nothing: a caller whose
/// step failed retries it later (below), as a user or Stripe would.
async fn money_steps(db: &Db, order: i64) {
    let a = queue::submit(db, spec(100)).await.ok();
    let b = queue::submit(db, spec(100)).await.ok();
    if a.is_some() {
        if let Ok(Some(job)) = queue::claim_next(db, "w", Duration::from_secs(30), 10).await {
            let _ = queue::fail(
                db,
                &job,
                &reelforge::failure::Failure::internal(ErrorClass::Permanent, "provider said no"),
                0.0,
            )
            .await;
        }
    }
    if let Some(b) = b {
        let _ = queue::cancel(db, b).await;
    }
    let _ = reelforge::admin::topup(db, USER, 50, "topup:kaspi-1").await;
    let paid = serde_json::json!({"id": "evt_f", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_f", "payment_status": "paid", "client_reference_id": USER.to_string(),
                 "metadata": {"user_id": USER.to_string(), "order_id": order.to_string(), "tokens": "300"}}}});
    let _ = reelforge::payments::stripe::handle_event(db, &paid).await;
}

async fn check_invariants(db: &Db, n: i64) {
    let balance = ledger::balance_of(db, USER).await.unwrap();
    assert!(balance >= 0, "N={n}");
    assert_eq!(
        balance,
        ledger::entries_sum(db, USER).await.unwrap(),
        "N={n}: balance = sum of entries"
    );
    let entries = ledger::history(db, USER, 1000).await.unwrap();
    let count = |key: &str| entries.iter().filter(|e| e.idempotency_key == key).count();
    for job in queue::all_jobs(db).await.unwrap() {
        assert_ne!(
            job.state,
            JobState::New,
            "N={n}: job {} left half-made",
            job.id
        );
        let debits = count(&ledger::debit_key(job.id));
        let refunds = count(&ledger::refund_key(job.id));
        assert!(
            debits <= 1 && refunds <= debits,
            "N={n}: job {} {debits}/{refunds}",
            job.id
        );
        match job.state {
            JobState::Failed | JobState::Cancelled => {
                assert_eq!(
                    refunds, debits,
                    "N={n}: job {} ended without its refund",
                    job.id
                )
            }
            JobState::Rejected => assert_eq!(debits, 0, "N={n}: rejected job {} charged", job.id),
            _ => assert_eq!(refunds, 0, "N={n}: live job {} refunded", job.id),
        }
    }
    assert!(
        count("topup:kaspi-1") <= 1 && count("stripe:cs_f") <= 1,
        "N={n}: credited twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_steps_hold_their_invariants_when_any_write_fails() {
    // More than the writes the steps make, so the last runs see no fault at all.
    for n in 1..=24 {
        let mut dbs = vec![dbs::sqlite().await];
        dbs.extend(dbs::postgres().await);
        for t in dbs {
            let db = t.db.clone();
            touch_user(&db, USER, None, "ru").await.unwrap();
            ledger::credit(&db, USER, 1000, Reason::Payment, "seed", None)
                .await
                .unwrap();
            let order = reelforge::payments::create_order(&db, USER, "stripe", 300, 100_000, "kzt")
                .await
                .unwrap();
            install_fault(&t, n).await;
            if n == 1 {
                assert!(
                    touch_user(&db, USER + 1, None, "ru").await.is_err(),
                    "{}: the fault is armed",
                    db.kind()
                );
            }
            money_steps(&db, order).await;
            remove_fault(&t).await;
            // The database is back: the steps are tried again and the sweeper runs.
            money_steps(&db, order).await;
            queue::sweep_unsettled(&db).await.unwrap();
            check_invariants(&db, n).await;
        }
    }
}
