//! `reelforge worker` as an operator runs it: settings from the environment, a job queued by
//! another process gets done, SIGTERM stops it cleanly.
use crate::common;
use reelforge::db::{users::touch_user, Db};
use reelforge::ledger::{self, Reason};
use reelforge::queue::{self, NewJob};
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

    let child = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["worker", "--database-url", &db_url])
        .env("DATABASE_URL", "sqlite:///nonexistent-dir/never-used.db")
        .env("STORAGE_URL", &files)
        .env("PROVIDERS", "local")
        .env("TMPDIR", dir.path())
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut state = reelforge::jobs::JobState::New;
    for _ in 0..600 {
        state = queue::job(&db, job).await.unwrap().unwrap().state;
        if state == "done" || state == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "done");
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
    assert_eq!(ledger::balance_of(&db, 5).await.unwrap(), 40);
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

#[tokio::test]
async fn serve_answers_health_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/rf.db", dir.path().display()),
        )
        .env("STORAGE_URL", dir.path().join("files"))
        .env("STRIPE_WEBHOOK_SECRET", "whsec_x")
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut health = None;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{url}/health")).send().await {
            health = Some(r.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(health.expect("server came up")["status"], "ok");
    let forged = http
        .post(format!("{url}/webhooks/stripe"))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert!(http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("reelforge_jobs"));
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
