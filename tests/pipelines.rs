//! Whole jobs through the queue with the local providers: a `ugc_video` that ends as a real
//! MP4 delivered to the user, and one whose delivery fails and whose tokens come back once.
mod common;
mod dbs;
use reelforge::db::users::touch_user;
use reelforge::failure::ErrorClass;
use reelforge::ledger::{self, Reason};
use reelforge::pipelines::{Deliver, Delivery, Pipelines, Services};
use reelforge::providers::ProviderError;
use reelforge::queue::worker::{run_worker, WorkerConfig};
use reelforge::queue::{self, NewJob};
use reelforge::storage::folder::FolderStore;
use reelforge::storage::{ObjectStore, Storage};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Stands in for the bot: records what it was asked to send, or refuses like Telegram's 400.
struct FakeBot {
    sent: Mutex<Vec<(Delivery, u64, serde_json::Value)>>,
    refuse: bool,
}

impl Deliver for FakeBot {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            if self.refuse {
                return Err(ProviderError::new(
                    "telegram",
                    ErrorClass::BadUserInput,
                    "400 Bad Request: wrong file identifier/HTTP URL specified",
                ));
            }
            let size = std::fs::metadata(&d.video).unwrap().len();
            self.sent
                .lock()
                .unwrap()
                .push((d.clone(), size, common::ffprobe(&d.video)));
            Ok("BAACAgIAAxkBAAI-file-id".to_string())
        })
    }
}

async fn run_ugc(
    refuse: bool,
) -> Vec<(
    Arc<FakeBot>,
    reelforge::db::Db,
    i64,
    (tempfile::TempDir, dbs::TestDb),
)> {
    let mut out = Vec::new();
    for t in dbs::all().await {
        let db = t.db.clone();
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(Storage::Folder(
            FolderStore::new(dir.path().join("files")).unwrap(),
        ));
        // The user's uploads: the sample portrait and a short background clip.
        storage
            .put_file(
                "uploads/portrait.jpg",
                std::path::Path::new(common::ASTRONAUT),
                "image/jpeg",
            )
            .await
            .unwrap();
        let bg = common::background(dir.path(), "bg.mp4", 640, 360, 1.5, 30);
        storage
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
            NewJob {
                user_id: 77,
                kind: "ugc_video".into(),
                params,
                cost_tokens: 300,
                max_attempts: 3,
            },
        )
        .await
        .unwrap();
        assert_eq!(ledger::balance_of(&db, 77).await.unwrap(), 200);

        let bot = Arc::new(FakeBot {
            sent: Mutex::new(Vec::new()),
            refuse,
        });
        let metrics = Arc::new(reelforge::metrics::Metrics::default());
        let services = Arc::new(Services {
            db: db.clone(),
            storage,
            deliver: bot.clone(),
            work_dir: dir.path().join("work"),
            worker_name: "w1".into(),
            metrics: metrics.clone(),
            video: reelforge::pipelines::video_backend::VideoRouter::local(),
            prompt_writer: None,
            remote: Default::default(),
        });
        let (stop, rx) = tokio::sync::watch::channel(false);
        let cfg = WorkerConfig {
            name: "w1".into(),
            concurrency: 1,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(20),
            per_user_running: 2,
            grace: Duration::from_secs(5),
        };
        let worker = tokio::spawn(run_worker(
            db.clone(),
            Arc::new(Pipelines(services)),
            cfg,
            rx,
        ));
        let mut state = String::new();
        for _ in 0..600 {
            state = queue::job(&db, job).await.unwrap().unwrap().state;
            if state == "done" || state == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(true).unwrap();
        worker.await.unwrap();
        assert_eq!(
            state,
            if refuse { "failed" } else { "done" },
            "{}",
            db.kind()
        );
        let text = metrics.render(&db).await;
        assert!(
            text.contains(&format!("reelforge_jobs{{state=\"{state}\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains("reelforge_step_seconds_count{step=\"ugc_video\"} 1"),
            "{text}"
        );
        let failure = "reelforge_job_failures_total{kind=\"ugc_video\",class=\"bad_user_input\"} 1";
        assert_eq!(text.contains(failure), refuse, "{text}");
        out.push((bot, db, job, (dir, t)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ugc_job_with_local_providers_delivers_a_real_captioned_mp4() {
    for (bot, db, job, _dir) in run_ugc(false).await {
        let sent = bot.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "delivered once");
        let (d, size, probe) = &sent[0];
        assert_eq!(
            (d.user_id, d.job_id, d.width, d.height),
            (77, job, 360, 640)
        );
        assert!(
            *size > 10_000 && d.duration_s > 1.0,
            "{size} bytes, {} s",
            d.duration_s
        );
        let v = common::stream(probe, "video");
        assert_eq!(
            (v["codec_name"].as_str(), v["profile"].as_str()),
            (Some("h264"), Some("High"))
        );
        common::stream(probe, "audio");
        assert_eq!(
            ledger::balance_of(&db, 77).await.unwrap(),
            200,
            "{}: charged once, kept",
            db.kind()
        );
        let ids = queue::job(&db, job).await.unwrap().unwrap().provider_ids;
        for step in ["voice", "talking_head", "output", "generation"] {
            assert!(ids.contains(step), "{step} persisted: {ids}");
        }
        let file_id: Option<String> = reelforge::on_db!(&db, p => sqlx::query_scalar("SELECT telegram_file_id FROM generations WHERE job_id = $1").bind(job).fetch_one(p).await.unwrap());
        assert_eq!(file_id.as_deref(), Some("BAACAgIAAxkBAAI-file-id"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_delivery_gives_the_tokens_back_exactly_once() {
    for (bot, db, job, _dir) in run_ugc(true).await {
        assert!(bot.sent.lock().unwrap().is_empty());
        assert_eq!(
            ledger::balance_of(&db, 77).await.unwrap(),
            500,
            "{}: refunded",
            db.kind()
        );
        queue::refund(&db, job).await.unwrap();
        assert_eq!(
            ledger::balance_of(&db, 77).await.unwrap(),
            500,
            "a second refund changes nothing"
        );
        let reasons: Vec<String> = ledger::history(&db, 77, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["job_refund", "job_debit", "payment"]);
        assert_eq!(
            queue::job(&db, job)
                .await
                .unwrap()
                .unwrap()
                .error_class
                .as_deref(),
            Some("bad_user_input")
        );
    }
}
