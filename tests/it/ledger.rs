//! Ledger invariants on SQLite and on a real PostgreSQL: repeats are no-ops, the balance never
//! goes negative, it always equals the sum of the entries, and a job is refunded exactly once,
//! also under concurrent operations.
use crate::dbs;
use reelforge::db::ledger::{self, LedgerError, Outcome, Reason};
use reelforge::db::users::touch_user;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_keys_change_nothing_and_debits_never_overdraw() {
    for t in dbs::all().await {
        let db = &t.db;
        let (_, new) = touch_user(db, 42, Some("anna"), "ru").await.unwrap();
        assert!(new);
        let (_, again) = touch_user(db, 42, Some("anna_k"), "en").await.unwrap();
        assert!(!again, "{}: second visit is not new", db.kind());

        assert_eq!(
            ledger::credit(
                db,
                42,
                100,
                Reason::WelcomeBonus,
                &ledger::welcome_key(42),
                None
            )
            .await
            .unwrap(),
            Outcome::Applied { balance: 100 }
        );
        assert_eq!(
            ledger::credit(
                db,
                42,
                100,
                Reason::WelcomeBonus,
                &ledger::welcome_key(42),
                None
            )
            .await
            .unwrap(),
            Outcome::AlreadyApplied
        );
        assert_eq!(
            ledger::debit(db, 42, 60, Reason::JobDebit, &ledger::debit_key(1), Some(1))
                .await
                .unwrap(),
            Outcome::Applied { balance: 40 }
        );
        assert_eq!(
            ledger::debit(db, 42, 60, Reason::JobDebit, &ledger::debit_key(1), Some(1))
                .await
                .unwrap(),
            Outcome::AlreadyApplied
        );
        match ledger::debit(db, 42, 41, Reason::JobDebit, &ledger::debit_key(2), Some(2)).await {
            Err(LedgerError::InsufficientFunds {
                needed: 41,
                balance: 40,
            }) => {}
            other => panic!("{}: expected insufficient funds, got {other:?}", db.kind()),
        }
        // The refused debit left no entry behind: the same key works once money is there.
        ledger::credit(db, 42, 1, Reason::AdminTopup, "admin:topup:1", None)
            .await
            .unwrap();
        assert_eq!(
            ledger::debit(db, 42, 41, Reason::JobDebit, &ledger::debit_key(2), Some(2))
                .await
                .unwrap(),
            Outcome::Applied { balance: 0 }
        );
        assert!(matches!(
            ledger::credit(db, 7, 5, Reason::AdminTopup, "x", None).await,
            Err(LedgerError::UnknownUser(7))
        ));
        assert!(matches!(
            ledger::credit(db, 42, 0, Reason::AdminTopup, "y", None).await,
            Err(LedgerError::NonPositiveAmount)
        ));

        let history = ledger::history(db, 42, 10).await.unwrap();
        let reasons: Vec<&str> = history.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec!["job_debit", "admin_topup", "job_debit", "welcome_bonus"],
            "{}",
            db.kind()
        );
        assert_eq!(history[0].balance_after, 0);
        assert_eq!(
            ledger::entries_sum(db, 42).await.unwrap(),
            ledger::balance_of(db, 42).await.unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_debits_and_refunds_keep_the_books_straight() {
    for t in dbs::all().await {
        let db = t.db.clone();
        touch_user(&db, 1, None, "ru").await.unwrap();
        ledger::credit(&db, 1, 1000, Reason::Payment, "pay:1", None)
            .await
            .unwrap();
        // 60 jobs of 30 tokens race for 1000 tokens; each debit is also sent twice.
        let mut tasks = Vec::new();
        for job in 0..60i64 {
            for _copy in 0..2 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    ledger::debit(
                        &db,
                        1,
                        30,
                        Reason::JobDebit,
                        &ledger::debit_key(job),
                        Some(job),
                    )
                    .await
                }));
            }
        }
        let mut applied = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(Outcome::Applied { balance }) => {
                    assert!(balance >= 0);
                    applied += 1;
                }
                Ok(Outcome::AlreadyApplied) | Err(LedgerError::InsufficientFunds { .. }) => {}
                Err(e) => panic!("{}: {e}", db.kind()),
            }
        }
        assert_eq!(applied, 33, "{}: 1000 / 30 = 33 debits fit", db.kind());
        assert_eq!(ledger::balance_of(&db, 1).await.unwrap(), 10);

        // Every failed job is refunded, each refund attempted three times at once.
        let mut refunds = Vec::new();
        for job in 0..60i64 {
            for _copy in 0..3 {
                let db = db.clone();
                refunds.push(tokio::spawn(async move {
                    ledger::credit(
                        &db,
                        1,
                        30,
                        Reason::JobRefund,
                        &ledger::refund_key(job),
                        Some(job),
                    )
                    .await
                }));
            }
        }
        let refunded = futures_count(refunds).await;
        assert_eq!(refunded, 60, "{}: one refund per job", db.kind());
        assert_eq!(ledger::balance_of(&db, 1).await.unwrap(), 10 + 60 * 30);
        assert_eq!(
            ledger::entries_sum(&db, 1).await.unwrap(),
            ledger::balance_of(&db, 1).await.unwrap()
        );
    }
}

async fn futures_count(tasks: Vec<tokio::task::JoinHandle<Result<Outcome, LedgerError>>>) -> usize {
    let mut n = 0;
    for t in tasks {
        if let Outcome::Applied { .. } = t.await.unwrap().unwrap() {
            n += 1;
        }
    }
    n
}

/// `/start` is one transaction: the visit, the welcome bonus once, the conversation reset;
/// 50 new users at once each get exactly their bonus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_grants_the_welcome_bonus_once_in_one_transaction() {
    use reelforge::db::users::start;
    for t in dbs::all().await {
        let db = &t.db;
        let first = start(db, 77, Some("kim"), "ru", "{\"state\":\"idle\"}", 100)
            .await
            .unwrap();
        assert!(
            first.new && first.bonus == 100 && first.balance == 100,
            "{first:?}"
        );
        reelforge::db::conversations::save(db, 77, "{\"state\":\"feedback\"}")
            .await
            .unwrap();
        let again = start(db, 77, Some("kim"), "ru", "{\"state\":\"idle\"}", 100)
            .await
            .unwrap();
        assert!(
            !again.new && again.bonus == 0 && again.balance == 100,
            "{again:?}"
        );
        assert_eq!(
            reelforge::db::conversations::load(db, 77)
                .await
                .unwrap()
                .as_deref(),
            Some("{\"state\":\"idle\"}"),
            "{}: the conversation is reset",
            db.kind()
        );
        let tasks: Vec<_> = (1000..1050)
            .map(|id| {
                let db = db.clone();
                tokio::spawn(async move { start(&db, id, None, "en", "{}", 100).await })
            })
            .collect();
        for task in tasks {
            let s = task.await.unwrap().unwrap();
            assert!(s.new && s.bonus == 100 && s.balance == 100, "{s:?}");
        }
        for id in [77, 1000, 1049] {
            assert_eq!(ledger::balance_of(db, id).await.unwrap(), 100);
        }
    }
}
