//! Money at the edges of a job: a price settled on the speech (refunded once, never on top
//! of a refund), a job whose upload began (never both delivered and refunded), and the API's
//! idempotency keys (matched to their request, forgotten after a day).
use crate::dbs;
use reelforge::db::jobs::{self as queue, FailOutcome, NewJob, QueueError};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::failure::ErrorClass;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A UGC job of `user` charged `price`, claimed by a worker.
async fn running_ugc(db: &Db, user: i64, price: i64) -> (i64, queue::ClaimedJob) {
    let ugc = serde_json::json!({"portrait": "p.jpg", "script": "Привет"});
    let id = queue::submit(
        db,
        NewJob::from_json(user, "ugc_video", ugc, price, 3).unwrap(),
    )
    .await
    .unwrap();
    let job = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
    assert_eq!(job.id, id);
    (id, job)
}

/// Settling a quoted price on the speech gives back the difference once, never after the job
/// was refunded already (an operator's refund of a running job), and a later failure gives
/// back only what is still taken: the user never gets back more than was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_price_is_refunded_once_and_never_on_top_of_a_refund() {
    for t in dbs::all().await {
        let db = &t.db;
        touch_user(db, 61, None, "ru").await.unwrap();
        ledger::credit(db, 61, 5000, Reason::Payment, "seed:61", None)
            .await
            .unwrap();
        // Lowered twice (a retry): one credit; then the failure refunds the lowered price.
        let (_, job) = running_ugc(db, 61, 1530).await;
        queue::lower_price(db, &job, 780).await.unwrap();
        queue::lower_price(db, &job, 630).await.unwrap();
        assert_eq!(
            ledger::balance_of(db, 61).await.unwrap(),
            5000 - 780,
            "{}",
            db.kind()
        );
        queue::fail(
            db,
            &job,
            &reelforge::failure::Failure::internal(ErrorClass::Permanent, "x"),
            0.0,
        )
        .await
        .unwrap();
        assert_eq!(
            ledger::balance_of(db, 61).await.unwrap(),
            5000,
            "{}",
            db.kind()
        );

        // Lowered, then refunded by the operator while it runs: only what is still taken
        // comes back.
        let (id, job) = running_ugc(db, 61, 1530).await;
        queue::lower_price(db, &job, 780).await.unwrap();
        assert_eq!(
            reelforge::admin::refund_job(db, id).await.unwrap(),
            Some((61, 780))
        );
        assert_eq!(
            ledger::balance_of(db, 61).await.unwrap(),
            5000,
            "{}",
            db.kind()
        );

        // Refunded by the operator while it runs: lowering gives nothing more.
        let (id, job) = running_ugc(db, 61, 1530).await;
        reelforge::admin::refund_job(db, id).await.unwrap();
        assert_eq!(ledger::balance_of(db, 61).await.unwrap(), 5000);
        queue::lower_price(db, &job, 780).await.unwrap();
        assert_eq!(
            ledger::balance_of(db, 61).await.unwrap(),
            5000,
            "{}: not 750 on top of the refund",
            db.kind()
        );
    }
}

/// A job whose upload to the user has begun ends delivered and paid, whatever happens next:
/// a cancel is refused even once it is queued again for a retry, a final failure completes it
/// instead of refunding, and a cancel recorded just before the upload wins over it. Its
/// result is handed over (/history) only once it is done, and an operator's refund withdraws it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_upload_began_a_job_is_never_both_delivered_and_refunded() {
    use reelforge::db::generations::{self, NewGeneration};
    for t in dbs::all().await {
        let db = &t.db;
        touch_user(db, 62, None, "ru").await.unwrap();
        ledger::credit(db, 62, 5000, Reason::Payment, "seed:62", None)
            .await
            .unwrap();
        let started = |job: &queue::ClaimedJob| {
            let mut c = job.checkpoints.clone();
            c.delivery_started_ms = Some(reelforge::db::now_ms());
            c
        };
        // Upload began, then a retryable error: queued again, and a cancel is too late.
        let (id, mut job) = running_ugc(db, 62, 1530).await;
        let cp = started(&job);
        assert!(queue::begin_delivery(db, &mut job, cp).await.unwrap());
        let g = generations::record(
            db,
            NewGeneration {
                job_id: id,
                user_id: 62,
                kind: "ugc_video",
                output_key: "outputs/x.mp4",
                thumbnail_key: "outputs/x.mp4.jpg",
                width: 720,
                height: 1280,
                duration_s: 4.0,
            },
        )
        .await
        .unwrap();
        assert!(g > 0);
        assert!(
            generations::recent_of_user(db, 62, 5)
                .await
                .unwrap()
                .is_empty(),
            "{}: not handed over while the job runs",
            db.kind()
        );
        let transient = reelforge::failure::Failure::internal(ErrorClass::Transient, "timeout");
        queue::fail(db, &job, &transient, 0.5).await.unwrap();
        assert_eq!(
            queue::cancel(db, id).await.unwrap(),
            queue::Cancelled::TooLate,
            "{}",
            db.kind()
        );
        // A final failure after the upload began keeps it done and paid.
        dbs::exec(
            db,
            &format!("UPDATE jobs SET run_at_ms = 0 WHERE id = {id}"),
        )
        .await;
        let job = queue::claim_next(db, "w", LONG, 5).await.unwrap().unwrap();
        let permanent = reelforge::failure::Failure::internal(ErrorClass::Permanent, "x");
        assert_eq!(
            queue::fail(db, &job, &permanent, 0.5).await.unwrap(),
            FailOutcome::Completed
        );
        assert_eq!(ledger::balance_of(db, 62).await.unwrap(), 5000 - 1530);
        assert_eq!(
            generations::recent_of_user(db, 62, 5).await.unwrap().len(),
            1,
            "{}: done, so in /history",
            db.kind()
        );
        // An operator's refund withdraws it.
        reelforge::admin::refund_job(db, id).await.unwrap();
        assert!(generations::recent_of_user(db, 62, 5)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(ledger::balance_of(db, 62).await.unwrap(), 5000);

        // A cancel recorded just before the upload: the upload does not begin.
        let (id, mut job) = running_ugc(db, 62, 1530).await;
        assert_eq!(
            queue::cancel(db, id).await.unwrap(),
            queue::Cancelled::Requested
        );
        let cp = started(&job);
        assert!(
            !queue::begin_delivery(db, &mut job, cp).await.unwrap(),
            "{}: the cancel wins",
            db.kind()
        );
    }
}

/// An `Idempotency-Key` is remembered for 24 h: a repeat within a day returns the first job, a
/// different request under it is refused, and after a day the key makes a new job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_match_their_request_and_expire_after_a_day() {
    for t in dbs::all().await {
        let db = &t.db;
        touch_user(db, 63, None, "ru").await.unwrap();
        ledger::credit(db, 63, 1000, Reason::Payment, "seed:63", None)
            .await
            .unwrap();
        let (first, made) = queue::submit_api(db, edit_job(63, 10), Some("k"))
            .await
            .unwrap();
        assert!(made);
        let (again, made) = queue::submit_api(db, edit_job(63, 10), Some("k"))
            .await
            .unwrap();
        assert_eq!((again, made), (first, false));
        let mut other = edit_job(63, 10);
        other.spec = reelforge::jobs::JobSpec::from_row(
            "character_edit",
            r#"{"image": "a.jpg", "prompt": "another"}"#,
        )
        .unwrap();
        assert!(matches!(
            queue::submit_api(db, other, Some("k")).await,
            Err(QueueError::IdempotencyMismatch)
        ));
        dbs::exec(
            db,
            &format!(
                "UPDATE api_requests SET created_ms = {}",
                reelforge::db::now_ms() - 25 * 3_600_000
            ),
        )
        .await;
        let (later, made) = queue::submit_api(db, edit_job(63, 10), Some("k"))
            .await
            .unwrap();
        assert!(made && later != first, "{}", db.kind());
    }
}

/// A character edit of `user` charged `cost`.
fn edit_job(user: i64, cost: i64) -> NewJob {
    NewJob::from_json(
        user,
        "character_edit",
        serde_json::json!({"image": "a.jpg", "prompt": "n"}),
        cost,
        3,
    )
    .unwrap()
}
