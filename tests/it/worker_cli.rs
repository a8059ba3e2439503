//! `reelforge worker` as an operator runs it: settings from the environment, a job queued by
//! another process gets done, SIGTERM stops it cleanly.
use crate::common;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::{users::touch_user, Db};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process_runs_queued_jobs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/rf.db", dir.path().display());
    let files = dir.path().join("files");
    std::fs::create_dir_all(files.join("uploads")).unwrap();
    std::fs::copy(common::ASTRONAUT, files.join("uploads/portrait.jpg")).unwrap();
    let bg = common::background(dir.path(), "bg.mp4", 320, 240, 1.0, 30);
    std::fs::copy(&bg, files.join("uploads/bg.mp4")).unwrap();

    let db = Db::connect(&db_url).await.unwrap();
    touch_user(&db, 5, None, "en").await.unwrap();
    ledger::credit(&db, 5, 100, Reason::AdminTopup, "seed", None)
        .await
        .unwrap();
    let params = serde_json::json!({"portrait": "uploads/portrait.jpg", "background": "uploads/bg.mp4", "script": "Hello there.", "language": "en", "size": "360x640"});
    let job = queue::submit(
        &db,
        NewJob::from_json(5, "ugc_video", params, 60, 2).unwrap(),
    )
    .await
    .unwrap();

    let (fake, api) = crate::fake_tg::FakeTelegram::start().await;
    let child = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["worker", "--database-url", &db_url])
        .env("DATABASE_URL", "sqlite:///nonexistent-dir/never-used.db")
        .env("STORAGE_URL", &files)
        .env("PROVIDERS", "local")
        .env("TELEGRAM_BOT_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", &api)
        .env("FAL_API_KEYS", "fal-key-never-logged")
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", "json")
        .env("TMPDIR", dir.path())
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("the job to end", Duration::from_secs(60), || async {
        queue::job(&db, job)
            .await
            .unwrap()
            .unwrap()
            .state
            .is_terminal()
    })
    .await;
    assert_eq!(queue::job(&db, job).await.unwrap().unwrap().state, "done");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stopping"), "{err}");
    // Logs are JSON lines with the job's span fields, and no secret is in them even at debug
    // level (the Bot API puts the token in every URL).
    assert!(
        err.lines()
            .any(|l| l.starts_with('{') && l.contains("\"job_id\":")),
        "{err}"
    );
    assert!(
        !err.contains("123:TEST") && !err.contains("fal-key-never-logged"),
        "{err}"
    );
    assert_eq!(ledger::balance_of(&db, 5).await.unwrap(), 40);
    // The standalone worker sent the video itself and recorded it before marking it done.
    assert_eq!(fake.videos_to(5), 1);
    let delivered = queue::job(&db, job)
        .await
        .unwrap()
        .unwrap()
        .checkpoints
        .delivered;
    assert_eq!(delivered.unwrap().file_id, "BAACAgIAAx-video");
}

#[test]
fn a_worker_without_a_bot_token_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .arg("worker")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/rf.db", dir.path().display()),
        )
        .env("STORAGE_URL", dir.path().join("files"))
        .env_remove("TELEGRAM_BOT_TOKEN")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TELEGRAM_BOT_TOKEN is not set"), "{err}");
}

#[test]
fn processes_started_together_on_a_new_sqlite_file_all_migrate_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh.db", dir.path().display());
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_reelforge"))
                .args(["admin", "users"])
                .env("DATABASE_URL", &url)
                .env("STORAGE_URL", dir.path().join("files"))
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn worker_refuses_a_bad_database_url_in_one_sentence() {
    let out = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .arg("worker")
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DATABASE_URL must start with sqlite:// or postgres://"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_health_and_metrics_with_the_workers_series_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/rf.db", dir.path().display());
    let files = dir.path().join("files");
    std::fs::create_dir_all(files.join("uploads")).unwrap();
    std::fs::copy(common::ASTRONAUT, files.join("uploads/portrait.jpg")).unwrap();
    let db = Db::connect(&db_url).await.unwrap();
    touch_user(&db, 6, None, "en").await.unwrap();
    ledger::credit(&db, 6, 100, Reason::AdminTopup, "seed", None)
        .await
        .unwrap();
    let params = serde_json::json!({"portrait": "uploads/portrait.jpg", "script": "Hi.", "language": "en", "size": "360x640"});
    let job = queue::submit(
        &db,
        NewJob::from_json(6, "ugc_video", params, 60, 2).unwrap(),
    )
    .await
    .unwrap();
    let (_fake, api) = crate::fake_tg::FakeTelegram::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db_url)
        .env("STORAGE_URL", &files)
        .env("STRIPE_WEBHOOK_SECRET", "whsec_x")
        .env("PROVIDERS", "local")
        .env("TELEGRAM_BOT_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", &api)
        .env("TMPDIR", dir.path())
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let health_url = format!("{url}/health");
    common::wait_until("serve to answer", Duration::from_secs(10), || async {
        http.get(&health_url).send().await.is_ok()
    })
    .await;
    let health: serde_json::Value = http
        .get(&health_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let forged = http
        .post(format!("{url}/webhooks/stripe"))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    common::wait_until("the job to end", Duration::from_secs(60), || async {
        queue::job(&db, job)
            .await
            .unwrap()
            .unwrap()
            .state
            .is_terminal()
    })
    .await;
    assert_eq!(queue::job(&db, job).await.unwrap().unwrap().state, "done");
    // One registry: what the workers recorded is on the server's /metrics.
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "reelforge_jobs{state=\"done\"} 1",
        "reelforge_job_run_seconds_count{kind=\"ugc_video\"}",
        "reelforge_step_seconds_count{step=\"composite\"}",
        "reelforge_deliveries_total{outcome=\"sent\"} 1",
        "reelforge_videos_delivered_total 1",
        "reelforge_queue_depth",
    ] {
        assert!(metrics.contains(series), "{series}: {metrics}");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The two `make bench` measurements of the service run end to end on a small scale: every
/// job is run, every /start is answered (the numbers themselves are for BENCHMARKS.md).
#[test]
fn the_queue_and_bot_benches_run_to_the_end() {
    let text = common::reelforge_ok(
        &[
            "bench-queue",
            "--jobs",
            "60",
            "--workers",
            "2",
            "--concurrency",
            "4",
        ],
        &[],
    );
    assert!(
        text.contains("60 jobs, 2 workers × 4 slots") && text.contains("ran at"),
        "{text}"
    );
    let out = common::reelforge(&["bench-bot", "--updates", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--updates, --rate, --burst and --bursts must be at least 1"));
    let text = common::reelforge_ok(&["bench-bot", "--updates", "40", "--rate", "100"], &[]);
    assert!(
        text.contains("40 new users at 100/s")
            && text.contains("p99")
            && !text.contains("unanswered"),
        "{text}"
    );
    // Bursts: every user of a burst offered in the same instant, each answered.
    let text = common::reelforge_ok(
        &[
            "bench-bot",
            "--burst",
            "20",
            "--bursts",
            "2",
            "--burst-gap-ms",
            "200",
        ],
        &[],
    );
    assert!(
        text.contains("2 bursts of 20 new users 200 ms apart")
            && text.contains("p99")
            && !text.contains("unanswered"),
        "{text}"
    );
}
