//! Delivery as a checkpointed step: a slow Telegram gets one upload, not a retry storm; a
//! worker that dies between the upload and Telegram's answer never makes a second copy — the
//! user is offered "send again" instead.
use crate::common;
use crate::dbs;
use crate::fake_tg::{self, FakeTelegram};
use crate::harness::{self, Bot};
use reelforge::bot::deliver::TelegramDeliver;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::jobs::JobState;
use reelforge::pipelines::Services;
use reelforge::storage::ObjectStore;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A user with tokens, the inputs of a small talking-head video, and the job queued.
async fn queued_ugc_job(db: &Db, services: &Services, user: i64) -> i64 {
    services
        .storage
        .put_file(
            "uploads/portrait.jpg",
            std::path::Path::new(common::ASTRONAUT),
            "image/jpeg",
        )
        .await
        .unwrap();
    touch_user(db, user, None, "ru").await.unwrap();
    ledger::credit(db, user, 500, Reason::Payment, &format!("pay:{user}"), None)
        .await
        .unwrap();
    let params = serde_json::json!({"portrait": "uploads/portrait.jpg", "script": "Привет.", "size": "360x640"});
    queue::submit(
        db,
        NewJob::from_json(user, "ugc_video", params, 300, 3).unwrap(),
    )
    .await
    .unwrap()
}

async fn wait_terminal(db: &Db, job: i64, secs: u64) -> queue::JobRow {
    common::wait_until("the job to end", Duration::from_secs(secs), || async {
        queue::job(db, job)
            .await
            .unwrap()
            .unwrap()
            .state
            .is_terminal()
    })
    .await;
    queue::job(db, job).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_telegram_gets_the_video_once_not_a_copy_per_timeout() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (fake, url) = FakeTelegram::start().await;
    // Longer than teloxide's default 17 s timeout, which used to make the upload "fail" and
    // be retried (up to four copies).
    fake.video_delay_ms.store(20_000, Ordering::SeqCst);
    let deliver = TelegramDeliver::new(fake_tg::endpoint(&url), db.clone()).unwrap();
    let services = harness::services(&db, dir.path(), Arc::new(deliver));
    let job = queued_ugc_job(&db, &services, 31).await;
    let (stop, worker) = harness::spawn_worker(&db, services, 1);
    let row = wait_terminal(&db, job, 120).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(row.state, JobState::Done, "{row:?}");
    assert_eq!(fake.videos_to(31), 1);
    let delivered = row.checkpoints.delivered.unwrap();
    assert!(!delivered.uncertain);
    assert_eq!(delivered.file_id, "BAACAgIAAx-video");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_upload_and_answer_offers_a_resend_instead_of_a_second_copy() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = Arc::new(Bot::default());
    bot.crash_after_upload.store(true, Ordering::SeqCst);
    let services = harness::services(&db, dir.path(), bot.clone());
    let job = queued_ugc_job(&db, &services, 32).await;
    // The first attempt dies inside the upload; its lease runs out and the job is taken over.
    let (stop, worker) =
        harness::spawn_worker_with_lease(&db, services, 1, Duration::from_millis(600));
    let row = wait_terminal(&db, job, 120).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(row.state, JobState::Done, "{row:?}");
    assert_eq!(bot.delivered().len(), 1, "never a second copy");
    assert_eq!(*bot.resend_offers.lock().unwrap(), vec![job]);
    assert!(row.checkpoints.delivered.unwrap().uncertain);
    // Not refunded: the video most likely arrived, and "send again" is one tap away.
    assert_eq!(ledger::balance_of(&db, 32).await.unwrap(), 200);
}
