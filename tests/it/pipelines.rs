//! Whole jobs through the queue with the local providers: a `ugc_video` that ends as a real
//! MP4 delivered to the user, and one whose delivery fails and whose tokens come back once.
use crate::common;
use crate::dbs;
use crate::harness;
use harness::Bot;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::storage::ObjectStore;
use std::sync::Arc;

struct Outcome {
    bot: Arc<Bot>,
    db: Db,
    job: i64,
    _keep: (tempfile::TempDir, dbs::TestDb),
}

async fn run_ugc(refuse: bool) -> Vec<Outcome> {
    let mut out = Vec::new();
    for t in dbs::all().await {
        let db = t.db.clone();
        let dir = tempfile::tempdir().unwrap();
        let bot = Arc::new(if refuse {
            Bot::refusing()
        } else {
            Bot::default()
        });
        let services = harness::services(&db, dir.path(), bot.clone());
        // The user's uploads: the sample portrait and a short background clip.
        services
            .storage
            .put_file(
                "uploads/portrait.jpg",
                std::path::Path::new(common::ASTRONAUT),
                "image/jpeg",
            )
            .await
            .unwrap();
        let bg = common::background(dir.path(), "bg.mp4", 640, 360, 1.5, 30);
        services
            .storage
            .put_file("uploads/bg.mp4", &bg, "video/mp4")
            .await
            .unwrap();

        touch_user(&db, 77, Some("creator"), "ru").await.unwrap();
        ledger::credit(&db, 77, 500, Reason::Payment, "pay:77", None)
            .await
            .unwrap();
        let params = serde_json::json!({"portrait": "uploads/portrait.jpg", "background": "uploads/bg.mp4", "script": "Привет! Это наш новый крем.", "size": "360x640"});
        let job = queue::submit(
            &db,
            NewJob::from_json(77, "ugc_video", params, 300, 3).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(ledger::balance_of(&db, 77).await.unwrap(), 200);

        let state = harness::run_jobs(&db, services, &[job])
            .await
            .remove(0)
            .state;
        assert_eq!(
            state,
            if refuse { "failed" } else { "done" },
            "{}",
            db.kind()
        );
        // One registry for the process: the workers' series are in what /metrics renders.
        // (The jobs-by-state gauge is read from the database at scrape time; other tests in
        // this process scrape their own databases, so it is checked in `worker_cli`.)
        reelforge::metrics::install();
        let text = reelforge::metrics::render(&db).await;
        assert!(
            text.contains("reelforge_job_run_seconds_count{kind=\"ugc_video\"}"),
            "{text}"
        );
        for step in ["speech", "talking_head", "composite", "delivery"] {
            let line = format!("reelforge_step_seconds_count{{step=\"{step}\"}}");
            assert!(text.contains(&line), "{step}: {text}");
        }
        if refuse {
            let failure = "reelforge_job_failures_total{kind=\"ugc_video\",class=\"bad_user_input\",provider=\"telegram\"}";
            assert!(text.contains(failure), "{text}");
        }
        out.push(Outcome {
            bot,
            db,
            job,
            _keep: (dir, t),
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ugc_job_with_local_providers_delivers_a_real_captioned_mp4() {
    for o in run_ugc(false).await {
        let sent = o.bot.videos.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "delivered once");
        let (d, probe) = &sent[0];
        assert_eq!(
            (d.user_id, d.job_id, d.width, d.height),
            (77, o.job, 360, 640)
        );
        assert!(d.duration_s > 1.0, "{} s", d.duration_s);
        let v = common::stream(probe, "video");
        assert_eq!(
            (v["codec_name"].as_str(), v["profile"].as_str()),
            (Some("h264"), Some("High"))
        );
        common::stream(probe, "audio");
        assert_eq!(
            ledger::balance_of(&o.db, 77).await.unwrap(),
            200,
            "{}: charged once, kept",
            o.db.kind()
        );
        let ids = queue::job(&o.db, o.job)
            .await
            .unwrap()
            .unwrap()
            .checkpoints
            .to_json();
        for step in ["voice", "talking_head", "output", "generation"] {
            assert!(ids.contains(step), "{step} persisted: {ids}");
        }
        let file_id = reelforge::db::generations::of_job(&o.db, o.job)
            .await
            .unwrap()
            .unwrap()
            .telegram_file_id;
        assert_eq!(file_id.as_deref(), Some("BAACAgIAAxkBAAI-file-id"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_delivery_gives_the_tokens_back_exactly_once() {
    for o in run_ugc(true).await {
        assert!(o.bot.delivered().is_empty());
        assert_eq!(
            ledger::balance_of(&o.db, 77).await.unwrap(),
            500,
            "{}: refunded",
            o.db.kind()
        );
        queue::refund(&o.db, o.job).await.unwrap();
        assert_eq!(
            ledger::balance_of(&o.db, 77).await.unwrap(),
            500,
            "a second refund changes nothing"
        );
        let reasons: Vec<String> = ledger::history(&o.db, 77, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["job_refund", "job_debit", "payment"]);
        assert_eq!(
            queue::job(&o.db, o.job).await.unwrap().unwrap().error_class,
            Some(reelforge::failure::ErrorClass::BadUserInput)
        );
    }
}

/// A job whose stored checkpoints cannot be read (a hand edit, a bad migration) is not taken
/// for "nothing done yet": the worker names it in the log, makes nothing (no speech, no head
/// bought again) and fails it with the tokens back, on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreadable_checkpoints_end_the_job_refunded_without_making_anything() {
    for t in dbs::all().await {
        let db = t.db.clone();
        let dir = tempfile::tempdir().unwrap();
        let bot = Arc::new(Bot::default());
        let services = harness::services(&db, dir.path(), bot.clone());
        touch_user(&db, 78, None, "ru").await.unwrap();
        ledger::credit(&db, 78, 500, Reason::Payment, "pay:78", None)
            .await
            .unwrap();
        let params = serde_json::json!({"portrait": "uploads/portrait.jpg", "script": "Привет!", "size": "360x640"});
        let job = queue::submit(
            &db,
            NewJob::from_json(78, "ugc_video", params, 300, 3).unwrap(),
        )
        .await
        .unwrap();
        let broken = format!(
            "UPDATE jobs SET checkpoints = '{{\"voice\": 17, \"talking_head\": \"heads/x.mp4\"' WHERE id = {job}"
        );
        match &db {
            Db::Sqlite(p) => {
                sqlx::query(sqlx::AssertSqlSafe(broken))
                    .execute(p)
                    .await
                    .unwrap();
            }
            Db::Postgres(p) => {
                sqlx::query(sqlx::AssertSqlSafe(broken))
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
        assert_eq!(row.state, "failed", "{}", db.kind());
        assert!(
            row.error_message
                .as_deref()
                .is_some_and(|m| m.contains("cannot be read")),
            "{row:?}"
        );
        assert_eq!(ledger::balance_of(&db, 78).await.unwrap(), 500, "refunded");
        assert!(
            !dir.path().join("files/voices").exists(),
            "{}: no speech was made",
            db.kind()
        );
        assert!(bot.delivered().is_empty());
    }
}
