//! Queue semantics on SQLite and a real PostgreSQL: fencing of a stale worker, lease expiry
//! after a crash, backoff, snooze, cancel, per-user limits, several workers, and no second
//! provider submission after a restart.
use crate::dbs;
use reelforge::db::jobs::{self as queue, FailOutcome, NewJob, QueueError};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::failure::ErrorClass;
use reelforge::queue::worker::{run_worker, Handler, JobCtx, StepOutcome, WorkerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

async fn user_with(db: &Db, id: i64, tokens: i64) {
    touch_user(db, id, None, "ru").await.unwrap();
    ledger::credit(
        db,
        id,
        tokens,
        Reason::AdminTopup,
        &format!("seed:{id}"),
        None,
    )
    .await
    .unwrap();
}

fn job(user: i64, cost: i64) -> NewJob {
    NewJob::from_json(
        user,
        "character_edit",
        serde_json::json!({"image": "a.jpg", "prompt": "n"}),
        cost,
        3,
    )
    .unwrap()
}

/// A job whose handler "submits to a provider" once (see `Recorder`).
fn generate_job(user: i64, cost: i64) -> NewJob {
    NewJob::from_json(
        user,
        "text_to_video",
        serde_json::json!({"prompt": "x", "tier": "fast", "seconds": 4, "size": "720x1280"}),
        cost,
        3,
    )
    .unwrap()
}

async fn balance(db: &Db, user: i64) -> i64 {
    ledger::balance_of(db, user).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_worker_cannot_finish_fail_or_refund_a_job_taken_over() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 1, 100).await;
        let id = queue::submit(db, job(1, 40)).await.unwrap();
        assert_eq!(balance(db, 1).await, 60, "tokens taken on acceptance");
        let stale = queue::claim_next(db, "a", Duration::from_millis(50), 5)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await; // worker "a" froze; its lease ran out
        let fresh = queue::claim_next(db, "b", LONG, 5)
            .await
            .unwrap()
            .expect("expired lease is claimable");
        assert_eq!(fresh.id, id);
        assert_eq!(fresh.lease_token, stale.lease_token + 1);
        assert!(matches!(
            queue::complete(db, &stale).await,
            Err(QueueError::LeaseLost(_))
        ));
        assert!(matches!(
            queue::fail(
                db,
                &stale,
                &reelforge::failure::Failure::internal(ErrorClass::Permanent, "x"),
                0.5
            )
            .await,
            Err(QueueError::LeaseLost(_))
        ));
        assert!(matches!(
            queue::heartbeat(db, &stale, LONG).await,
            Err(QueueError::LeaseLost(_))
        ));
        assert_eq!(
            balance(db, 1).await,
            60,
            "{}: the stale worker refunded nothing",
            db.kind()
        );
        queue::complete(db, &fresh).await.unwrap();
        assert_eq!(queue::job(db, id).await.unwrap().unwrap().state, "done");
        assert!(queue::claim_next(db, "c", LONG, 5).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_back_off_and_the_last_one_refunds_exactly_once() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 2, 100).await;
        let mut spec = job(2, 30);
        spec.max_attempts = 2;
        let id = queue::submit(db, spec).await.unwrap();
        let first = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
        let before = reelforge::db::now_ms();
        match queue::fail(
            db,
            &first,
            &reelforge::failure::Failure::internal(ErrorClass::Transient, "timeout"),
            0.5,
        )
        .await
        .unwrap()
        {
            FailOutcome::RetryAt(at) => assert!(
                at >= before + 5_000 && at < before + 6_000,
                "{}",
                at - before
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            queue::claim_next(db, "w", LONG, 5).await.unwrap().is_none(),
            "not due yet"
        );
        make_due(db, id).await;
        let second = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
        assert_eq!(second.attempts, 2);
        assert_eq!(
            queue::fail(
                db,
                &second,
                &reelforge::failure::Failure::internal(ErrorClass::Transient, "timeout"),
                0.5
            )
            .await
            .unwrap(),
            FailOutcome::Refunded
        );
        assert_eq!(balance(db, 2).await, 100, "{}: refunded", db.kind());
        queue::refund(db, id).await.unwrap();
        assert_eq!(balance(db, 2).await, 100, "a second refund is a no-op");
        let row = queue::job(db, id).await.unwrap().unwrap();
        assert_eq!(
            (row.state.name(), row.error_class.map(|c| c.name())),
            ("failed", Some("transient"))
        );
    }
}

async fn make_due(db: &Db, id: i64) {
    queue::bring_forward(db, id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moderation_refusals_are_refunded_at_once_and_snoozes_cost_no_attempt() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 3, 100).await;
        let rejected = queue::submit(db, job(3, 50)).await.unwrap();
        let j = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
        assert_eq!(
            queue::fail(
                db,
                &j,
                &reelforge::failure::Failure::internal(ErrorClass::ContentRejected, "nsfw"),
                0.5
            )
            .await
            .unwrap(),
            FailOutcome::Refunded
        );
        assert_eq!(queue::job(db, rejected).await.unwrap().unwrap().attempts, 1);
        assert_eq!(balance(db, 3).await, 100);

        let polling = queue::submit(db, job(3, 10)).await.unwrap();
        let j = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
        queue::snooze(db, &j, Duration::from_secs(20))
            .await
            .unwrap();
        let row = queue::job(db, polling).await.unwrap().unwrap();
        assert_eq!((row.state.name(), row.attempts), ("snoozed", 0));
        assert!(queue::claim_next(db, "w", LONG, 5).await.unwrap().is_none());
        make_due(db, polling).await;
        assert_eq!(
            queue::claim_next(db, "w", LONG, 5)
                .await
                .unwrap()
                .unwrap()
                .id,
            polling
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_waiting_job_refunds_it_and_a_low_balance_rejects_without_charge() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 4, 50).await;
        let id = queue::submit(db, job(4, 50)).await.unwrap();
        assert_eq!(balance(db, 4).await, 0);
        assert_eq!(
            queue::cancel(db, id).await.unwrap(),
            queue::Cancelled::Ended
        );
        assert_eq!(balance(db, 4).await, 50);
        assert!(queue::claim_next(db, "w", LONG, 5).await.unwrap().is_none());
        assert_eq!(
            queue::cancel(db, id).await.unwrap(),
            queue::Cancelled::TooLate,
            "already cancelled"
        );
        assert_eq!(balance(db, 4).await, 50);
        assert!(queue::submit(db, job(4, 51)).await.is_err());
        assert_eq!(balance(db, 4).await, 50, "{}: nothing taken", db.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_user_cannot_fill_every_worker() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 5, 100).await;
        user_with(db, 6, 100).await;
        let a1 = queue::submit(db, job(5, 1)).await.unwrap();
        let _a2 = queue::submit(db, job(5, 1)).await.unwrap();
        let b1 = queue::submit(db, job(6, 1)).await.unwrap();
        assert_eq!(
            queue::claim_next(db, "w", LONG, 1)
                .await
                .unwrap()
                .unwrap()
                .id,
            a1
        );
        assert_eq!(
            queue::claim_next(db, "w", LONG, 1)
                .await
                .unwrap()
                .unwrap()
                .id,
            b1,
            "user 5 is at its limit"
        );
        assert!(queue::claim_next(db, "w", LONG, 1).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_claim_keeps_the_per_user_limit_and_a_batch_completion_its_fencing() {
    for t in dbs::all().await {
        let db = &t.db;
        user_with(db, 7, 100).await;
        user_with(db, 8, 100).await;
        let mut mine = Vec::new();
        for _ in 0..5 {
            mine.push(queue::submit(db, job(7, 1)).await.unwrap());
        }
        let theirs = queue::submit(db, job(8, 1)).await.unwrap();
        // Ten free slots, two jobs per user: user 7's first two and user 8's one.
        let batch = queue::claim_batch(db, "w", LONG, 2, 10).await.unwrap();
        let ids: Vec<i64> = batch.iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![mine[0], mine[1], theirs], "{}", db.kind());
        assert!(queue::claim_batch(db, "w", LONG, 2, 10)
            .await
            .unwrap()
            .is_empty());
        // One of the three was taken over meanwhile (its token moved on): the batch records
        // the other two and reports that one as lost.
        let stale = batch[1].clone();
        queue::release(db, &stale).await.unwrap();
        let pairs: Vec<(i64, i64)> = batch.iter().map(|j| (j.id, j.lease_token)).collect();
        assert_eq!(
            queue::complete_batch(db, &pairs).await.unwrap(),
            vec![true, false, true]
        );
        let state = |id| async move { queue::job(db, id).await.unwrap().unwrap().state };
        assert_eq!(state(mine[0]).await, "done");
        assert_eq!(state(mine[1]).await, "queued");
        assert_eq!(state(theirs).await, "done");
        // Freed slots: the next claim takes two more of user 7's, oldest due first (the
        // released one is due from its release on, after the ones never claimed).
        let next = queue::claim_batch(db, "w", LONG, 2, 10).await.unwrap();
        let ids: Vec<i64> = next.iter().map(|j| j.id).collect();
        assert_eq!(ids, vec![mine[2], mine[3]], "{}", db.kind());
    }
}

/// Counts how often each job ran and how often the "provider" was asked to generate.
#[derive(Default)]
struct Recorder {
    runs: Mutex<HashMap<i64, u32>>,
    submissions: Mutex<u32>,
    hang_after_submit: bool,
}

impl Handler for Recorder {
    async fn run(&self, ctx: &mut JobCtx) -> StepOutcome {
        *self.runs.lock().unwrap().entry(ctx.job.id).or_default() += 1;
        if ctx.job.kind == "text_to_video" {
            if ctx.checkpoints().request.is_none() {
                *self.submissions.lock().unwrap() += 1; // a paid request to the provider
                ctx.checkpoint(reelforge::jobs::Step::VideoSubmit, |c| {
                    c.request = Some("req-123".into())
                })
                .await
                .unwrap();
                if self.hang_after_submit {
                    std::future::pending::<()>().await; // the process dies while waiting
                }
            }
            assert_eq!(ctx.checkpoints().request.as_deref(), Some("req-123"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        StepOutcome::Done
    }
}

fn fast_worker(name: &str, lease: Duration) -> WorkerConfig {
    WorkerConfig {
        name: name.into(),
        concurrency: 2,
        lease,
        poll: Duration::from_millis(20),
        per_user_running: 10,
        grace: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_run_every_job_exactly_once() {
    for t in dbs::all().await {
        let db = t.db.clone();
        user_with(&db, 7, 1000).await;
        let mut ids = Vec::new();
        for _ in 0..24 {
            ids.push(queue::submit(&db, job(7, 10)).await.unwrap());
        }
        let handler = Arc::new(Recorder::default());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let workers: Vec<_> = (0..3)
            .map(|i| {
                tokio::spawn(run_worker(
                    db.clone(),
                    handler.clone(),
                    fast_worker(&format!("w{i}"), LONG),
                    rx.clone(),
                ))
            })
            .collect();
        wait_until(|| {
            let db = db.clone();
            let ids = ids.clone();
            async move { all_in_state(&db, &ids, "done").await }
        })
        .await;
        stop.send(true).unwrap();
        for w in workers {
            w.await.unwrap();
        }
        let runs = handler.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 24);
        assert!(runs.values().all(|n| *n == 1), "{}: {runs:?}", db.kind());
        assert_eq!(balance(&db, 7).await, 1000 - 240);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_the_job_resumes_polling_and_never_submits_again() {
    for t in dbs::all().await {
        let db = t.db.clone();
        user_with(&db, 8, 100).await;
        let id = queue::submit(&db, generate_job(8, 20)).await.unwrap();

        let crashing = Arc::new(Recorder {
            hang_after_submit: true,
            ..Recorder::default()
        });
        let (_stop1, rx1) = tokio::sync::watch::channel(false);
        let lease = Duration::from_millis(300);
        let first = tokio::spawn(run_worker(
            db.clone(),
            crashing.clone(),
            fast_worker("crashy", lease),
            rx1,
        ));
        wait_until(|| {
            let db = db.clone();
            async move {
                queue::job(&db, id)
                    .await
                    .unwrap()
                    .unwrap()
                    .checkpoints
                    .to_json()
                    .contains("req-123")
            }
        })
        .await;
        first.abort(); // kill -9: no release, no completion; the lease simply runs out

        let healthy = Arc::new(Recorder::default());
        let (stop2, rx2) = tokio::sync::watch::channel(false);
        let second = tokio::spawn(run_worker(
            db.clone(),
            healthy.clone(),
            fast_worker("healthy", LONG),
            rx2,
        ));
        wait_until(|| {
            let db = db.clone();
            async move { all_in_state(&db, &[id], "done").await }
        })
        .await;
        stop2.send(true).unwrap();
        second.await.unwrap();
        assert_eq!(*crashing.submissions.lock().unwrap(), 1);
        assert_eq!(
            *healthy.submissions.lock().unwrap(),
            0,
            "{}: resumed by polling req-123",
            db.kind()
        );
        assert_eq!(
            balance(&db, 8).await,
            80,
            "charged once, not refunded: it was delivered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_releases_running_jobs_after_the_grace_period() {
    for t in dbs::all().await {
        let db = t.db.clone();
        user_with(&db, 9, 100).await;
        let id = queue::submit(&db, generate_job(9, 5)).await.unwrap();
        let stuck = Arc::new(Recorder {
            hang_after_submit: true,
            ..Recorder::default()
        });
        let (stop, rx) = tokio::sync::watch::channel(false);
        let mut cfg = fast_worker("leaving", LONG);
        cfg.grace = Duration::from_millis(100);
        let w = tokio::spawn(run_worker(db.clone(), stuck, cfg, rx));
        wait_until(|| {
            let db = db.clone();
            async move { queue::job(&db, id).await.unwrap().unwrap().state == "running" }
        })
        .await;
        stop.send(true).unwrap();
        w.await.unwrap();
        let row = queue::job(&db, id).await.unwrap().unwrap();
        assert_eq!(
            (row.state.name(), row.attempts),
            ("queued", 0),
            "{}: given back, attempt not used",
            db.kind()
        );
        assert!(
            row.checkpoints.to_json().contains("req-123"),
            "its provider request is kept for the next worker"
        );
    }
}

async fn all_in_state(db: &Db, ids: &[i64], state: &str) -> bool {
    for id in ids {
        if queue::job(db, *id).await.unwrap().unwrap().state != state {
            return false;
        }
    }
    true
}

/// The shared wait, with the 10 s these queue tests allow.
async fn wait_until<F, Fut>(check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::common::wait_until("the queue condition", Duration::from_secs(10), check).await;
}

/// A handler that panics every time (a bug, or an input that crashes the code).
struct Panics;

impl Handler for Panics {
    async fn run(&self, _ctx: &mut JobCtx) -> StepOutcome {
        panic!("boom");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_that_panics_is_retried_then_failed_and_refunded_once() {
    for t in dbs::all().await {
        let db = t.db.clone();
        user_with(&db, 21, 100).await;
        let id = queue::submit(&db, job(21, 40)).await.unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(run_worker(
            db.clone(),
            Arc::new(Panics),
            fast_worker("p", Duration::from_millis(500)),
            rx,
        ));
        wait_until(|| {
            let db = db.clone();
            async move {
                let row = queue::job(&db, id).await.unwrap().unwrap();
                if row.state == "queued" {
                    make_due(&db, id).await; // skip the backoff
                }
                row.state.is_terminal()
            }
        })
        .await;
        stop.send(true).unwrap();
        worker.await.unwrap();
        let row = queue::job(&db, id).await.unwrap().unwrap();
        assert_eq!(row.state, "failed", "{}: {row:?}", db.kind());
        assert_eq!(row.attempts, 3, "{}", db.kind());
        assert_eq!(balance(&db, 21).await, 100, "{}: refunded once", db.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_kills_its_worker_every_time_is_failed_and_refunded_after_max_attempts() {
    for t in dbs::all().await {
        let db = t.db.clone();
        user_with(&db, 22, 100).await;
        let id = queue::submit(&db, job(22, 40)).await.unwrap();
        // Each claim's process "dies" (no heartbeat, no outcome); the lease runs out.
        let lease = Duration::from_millis(100);
        for _ in 0..3 {
            let claimed = queue::claim_next(&db, "doomed", lease, 10).await.unwrap();
            assert_eq!(claimed.map(|j| j.id), Some(id), "{}", db.kind());
            tokio::time::sleep(lease * 2).await;
        }
        // The next claim finds it out of attempts: failed, refunded, not handed out again.
        assert!(queue::claim_next(&db, "next", lease, 10)
            .await
            .unwrap()
            .is_none());
        let row = queue::job(&db, id).await.unwrap().unwrap();
        assert_eq!(row.state, "failed", "{}: {row:?}", db.kind());
        assert_eq!(balance(&db, 22).await, 100, "{}", db.kind());
        assert_eq!(
            ledger::entries_sum(&db, 22).await.unwrap(),
            100,
            "{}",
            db.kind()
        );
    }
}

/// Two side effects (say, a provider submit and an upload) with a wait between them.
struct TwoSideEffects {
    done: Arc<Mutex<u32>>,
    between: Duration,
}

impl Handler for TwoSideEffects {
    async fn run(&self, ctx: &mut JobCtx) -> StepOutcome {
        for _ in 0..2 {
            if ctx.ensure_lease().is_err() {
                return StepOutcome::Fail(reelforge::failure::Failure::internal(
                    ErrorClass::Transient,
                    "lease lost",
                ));
            }
            *self.done.lock().unwrap() += 1;
            tokio::time::sleep(self.between).await;
        }
        StepOutcome::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_whose_heartbeats_fail_stops_before_its_next_side_effect() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hb.db", dir.path().display());
    let db = Db::connect(&url).await.unwrap();
    user_with(&db, 23, 100).await;
    queue::submit(&db, job(23, 40)).await.unwrap();
    // The worker's own connection to the database, which then goes away for good.
    let worker_db = Db::connect(&url).await.unwrap();
    let done = Arc::new(Mutex::new(0));
    let lease = Duration::from_millis(300);
    let handler = Arc::new(TwoSideEffects {
        done: done.clone(),
        between: lease * 4,
    });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(run_worker(
        worker_db.clone(),
        handler,
        fast_worker("hb", lease),
        rx,
    ));
    wait_until(|| {
        let done = done.clone();
        async move { *done.lock().unwrap() == 1 }
    })
    .await;
    if let Db::Sqlite(p) = &worker_db {
        p.close().await;
    }
    // By now the lease has run out: another worker may own the job.
    tokio::time::sleep(lease * 6).await;
    assert_eq!(
        *done.lock().unwrap(),
        1,
        "no side effect after the lease was lost"
    );
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
}
