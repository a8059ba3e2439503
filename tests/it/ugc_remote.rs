//! `ugc_video` through the remote providers' documented shapes: ElevenLabs speech with word
//! timings (stored for the captions) and OmniHuman on the fal queue, inputs handed over as
//! data URIs from a local store, the talking head polled until done.
use crate::common;
use crate::dbs;
use crate::harness;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use harness::Bot;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::pipelines::{ChainEntry, RemoteProviders};
use reelforge::providers::elevenlabs::ElevenLabs;
use reelforge::providers::fal::FalClient;
use reelforge::providers::speech::{self, Entry, SpeechChain};
use reelforge::storage::ObjectStore;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Fakes {
    base: Mutex<String>,
    /// Inputs handed over as URLs, fetched as a provider would: (url, status, bytes).
    pub(crate) fetched: Mutex<Vec<(String, u16, usize)>>,
    omnihuman_input: Mutex<Value>,
    status_calls: Mutex<u32>,
    head: Mutex<Vec<u8>>,
    /// What the fake ElevenLabs speaks: 0.8 s of real MP3.
    audio: Mutex<Vec<u8>>,
    /// The talking head never leaves fal's queue.
    stuck: std::sync::atomic::AtomicBool,
    cancels: Mutex<u32>,
}

type S = State<Arc<Fakes>>;

async fn tts(State(f): S, Json(body): Json<Value>) -> Json<Value> {
    assert_eq!(body["model_id"], "eleven_multilingual_v2");
    let text = body["text"].as_str().unwrap().to_string();
    // One character every 0.1 s, as the with-timestamps endpoint reports them.
    let chars: Vec<String> = text.chars().map(|c| c.to_string()).collect();
    let starts: Vec<f64> = (0..chars.len()).map(|i| i as f64 * 0.1).collect();
    let ends: Vec<f64> = (0..chars.len()).map(|i| i as f64 * 0.1 + 0.1).collect();
    Json(
        json!({"audio_base64": base64::engine::general_purpose::STANDARD.encode(f.audio.lock().unwrap().as_slice()), "alignment": {"characters": chars, "character_start_times_seconds": starts, "character_end_times_seconds": ends}}),
    )
}

async fn submit(State(f): S, Json(body): Json<Value>) -> Json<Value> {
    // A URL input is fetched now, from "outside", as fal does.
    for field in ["image_url", "audio_url"] {
        if let Some(url) = body[field].as_str().filter(|u| u.starts_with("http")) {
            let (status, len) = match reqwest::get(url).await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.bytes().await.map_or(0, |b| b.len()))
                }
                Err(_) => (0, 0),
            };
            f.fetched
                .lock()
                .unwrap()
                .push((url.to_string(), status, len));
        }
    }
    *f.omnihuman_input.lock().unwrap() = body;
    let b = f.base.lock().unwrap().clone();
    Json(
        json!({"request_id": "oh-1", "status_url": format!("{b}/fal-ai/bytedance/requests/oh-1/status"), "response_url": format!("{b}/fal-ai/bytedance/requests/oh-1"), "cancel_url": format!("{b}/fal-ai/bytedance/requests/oh-1/cancel")}),
    )
}

async fn status(State(f): S) -> Json<Value> {
    let mut n = f.status_calls.lock().unwrap();
    *n += 1;
    if f.stuck.load(std::sync::atomic::Ordering::SeqCst) {
        return Json(json!({"status": "IN_QUEUE", "queue_position": 40, "request_id": "oh-1"}));
    }
    Json(json!({"status": if *n == 1 { "IN_PROGRESS" } else { "COMPLETED" }, "request_id": "oh-1"}))
}

async fn result(State(f): S) -> Json<Value> {
    let b = f.base.lock().unwrap().clone();
    Json(
        json!({"video": {"url": format!("{b}/files/head.mp4"), "content_type": "video/mp4"}, "duration": 3.0}),
    )
}

/// The fake ElevenLabs and fal servers; returns them and their base URL (ElevenLabs under
/// `/el`, fal under `/fal`).
pub(crate) async fn start_fakes(dir: &Path, stuck: bool) -> (Arc<Fakes>, String) {
    let head = common::moving_head(dir, "omnihuman.mp4", 3.0);
    let fakes = Arc::new(Fakes::default());
    *fakes.head.lock().unwrap() = std::fs::read(&head).unwrap();
    let speech = dir.join("speech.mp3");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=0.8",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "64k",
        speech.to_str().unwrap(),
    ]);
    *fakes.audio.lock().unwrap() = std::fs::read(&speech).unwrap();
    fakes
        .stuck
        .store(stuck, std::sync::atomic::Ordering::SeqCst);
    let app = Router::new()
        .route("/el/v1/text-to-speech/{voice}/with-timestamps", post(tts))
        .route("/fal/fal-ai/bytedance/omnihuman/v1.5", post(submit))
        .route("/fal/fal-ai/bytedance/requests/oh-1/status", get(status))
        .route("/fal/fal-ai/bytedance/requests/oh-1", get(result))
        .route(
            "/fal/fal-ai/bytedance/requests/oh-1/cancel",
            axum::routing::put(|State(f): S| async move {
                *f.cancels.lock().unwrap() += 1;
                Json(json!({"status": "CANCELLATION_REQUESTED"}))
            }),
        )
        .route(
            "/fal/files/head.mp4",
            get(|State(f): S| async move { f.head.lock().unwrap().clone() }),
        )
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fakes.base.lock().unwrap() = format!("{base}/fal");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fakes, base)
}

/// Services with the remote speech and talking head pointed at the fakes, and the inputs
/// stored.
async fn remote_services(
    db: &reelforge::db::Db,
    dir: &Path,
    base: &str,
    bot: Arc<Bot>,
) -> reelforge::pipelines::Services {
    let mut services = harness::services_with_portrait(db, dir, bot).await;
    let bg = common::background(dir, "bg.mp4", 320, 240, 1.0, 30);
    services
        .storage
        .put_file("uploads/bg.mp4", &bg, "video/mp4")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    services.remote = RemoteProviders {
        speech: Arc::new(SpeechChain {
            entries: vec![Entry {
                name: "elevenlabs:eleven_multilingual_v2".into(),
                engine: speech::Engine::ElevenLabs(
                    Arc::new(ElevenLabs::new(
                        http.clone(),
                        vec!["el".into()],
                        Some(&format!("{base}/el")),
                    )),
                    "eleven_multilingual_v2".into(),
                ),
            }],
            policy: Default::default(),
        }),
        talking_heads: vec![ChainEntry::fal(
            Arc::new(FalClient::new(
                http,
                vec!["fal".into()],
                Some(&format!("{base}/fal")),
            )),
            reelforge::providers::fal::OMNIHUMAN_V15,
        )],
        ..Default::default()
    };
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_speech_and_talking_head_feed_a_word_captioned_composite() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, base) = start_fakes(dir.path(), false).await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let bot = Arc::new(Bot::default());
    let services = remote_services(&db, dir.path(), &base, bot.clone()).await;
    touch_user(&db, 4, None, "en").await.unwrap();
    ledger::credit(&db, 4, 900, Reason::Payment, "pay", None)
        .await
        .unwrap();
    let params = json!({"portrait": "gallery/anna.jpg", "background": "uploads/bg.mp4", "script": "Buy now. Limited offer.", "language": "en", "size": "360x640"});
    let job = queue::submit(
        &db,
        NewJob::from_json(4, "ugc_video", params, 600, 3).unwrap(),
    )
    .await
    .unwrap();
    // The talking head is polled by snoozing; the harness brings snoozed jobs forward.
    let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    let input = fakes.omnihuman_input.lock().unwrap().clone();
    assert!(input["image_url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg;base64,"));
    assert!(input["audio_url"]
        .as_str()
        .unwrap()
        .starts_with("data:audio/mpeg;base64,"));
    assert_eq!(input["resolution"], "720p");
    assert!(
        *fakes.status_calls.lock().unwrap() >= 2,
        "waited for the talking head"
    );
    for step in [
        "alignment",
        "talking_head_request",
        "talking_head",
        "output",
    ] {
        assert!(
            row.checkpoints.to_json().contains(step),
            "{step}: {}",
            row.checkpoints.to_json()
        );
    }
    assert_eq!(bot.delivered()[0].height, 640);
    assert_eq!(ledger::balance_of(&db, 4).await.unwrap(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_job_waiting_at_fal_cancels_the_request_there_and_refunds_once() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, base) = start_fakes(dir.path(), true).await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let bot = Arc::new(Bot::default());
    let services = remote_services(&db, dir.path(), &base, bot.clone()).await;
    touch_user(&db, 5, None, "en").await.unwrap();
    ledger::credit(&db, 5, 900, Reason::Payment, "pay", None)
        .await
        .unwrap();
    let params = json!({"portrait": "gallery/anna.jpg", "background": "uploads/bg.mp4", "script": "Buy now.", "language": "en", "size": "360x640"});
    let job = queue::submit(
        &db,
        NewJob::from_json(5, "ugc_video", params, 600, 3).unwrap(),
    )
    .await
    .unwrap();
    let (stop, worker) = harness::spawn_worker(&db, services, 1);
    // Wait until the talking head is queued at fal and the job snoozes on it.
    let row = || async { queue::job(&db, job).await.unwrap().unwrap() };
    common::wait_until(
        "the job to wait at fal",
        Duration::from_secs(30),
        || async {
            let r = row().await;
            r.state == "snoozed" && r.checkpoints.talking_head_request.is_some()
        },
    )
    .await;
    assert_eq!(
        queue::cancel(&db, job).await.unwrap(),
        queue::Cancelled::Requested,
        "handed to a worker"
    );
    common::wait_until("the cancel", Duration::from_secs(30), || async {
        row().await.state.is_terminal()
    })
    .await;
    let row = row().await;
    assert_eq!(row.state, "cancelled", "{row:?}");
    assert_eq!(*fakes.cancels.lock().unwrap(), 1, "cancelled at fal");
    // A second press changes nothing: refunded exactly once.
    queue::cancel(&db, job).await.unwrap();
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(ledger::balance_of(&db, 5).await.unwrap(), 900);
    assert!(bot.delivered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_stuck_in_the_providers_queue_is_cancelled_and_refunded_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, base) = start_fakes(dir.path(), true).await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let bot = Arc::new(Bot::default());
    let mut services = remote_services(&db, dir.path(), &base, bot.clone()).await;
    // Per tier: the talking head's tier (`ugc`) has 1 s, every other tier the default.
    services.provider_deadlines =
        reelforge::config::parse_deadlines(Some("ugc=1,fast=3600,*=3600")).unwrap();
    touch_user(&db, 6, None, "en").await.unwrap();
    ledger::credit(&db, 6, 900, Reason::Payment, "pay", None)
        .await
        .unwrap();
    let params = json!({"portrait": "gallery/anna.jpg", "script": "Buy now.", "language": "en", "size": "360x640"});
    let job = queue::submit(
        &db,
        NewJob::from_json(6, "ugc_video", params, 600, 3).unwrap(),
    )
    .await
    .unwrap();
    // The harness brings the snoozed polls forward; fal keeps answering IN_QUEUE.
    let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
    assert_eq!(row.state, "failed", "{row:?}");
    assert!(
        row.error_message
            .as_deref()
            .unwrap_or("")
            .contains("did not finish within"),
        "{row:?}"
    );
    assert_eq!(*fakes.cancels.lock().unwrap(), 1, "cancelled at fal");
    assert_eq!(ledger::balance_of(&db, 6).await.unwrap(), 900, "refunded");
}

/// Every series the Grafana dashboard (deploy/grafana-dashboard.json) queries is in `/metrics`
/// after a remote UGC job that succeeds and one that fails at the provider's deadline (the
/// registry is the process's: the workers record into it, `/metrics` renders it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_series_exist_after_a_delivered_and_a_failed_remote_job() {
    reelforge::metrics::install();
    let dir = tempfile::tempdir().unwrap();
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    touch_user(&db, 8, None, "en").await.unwrap();
    ledger::credit(&db, 8, 2000, Reason::Payment, "pay", None)
        .await
        .unwrap();
    for stuck in [false, true] {
        let (_fakes, base) = start_fakes(dir.path(), stuck).await;
        let mut services = remote_services(&db, dir.path(), &base, Arc::new(Bot::default())).await;
        services.provider_deadlines =
            reelforge::config::parse_deadlines(Some("ugc=1,*=3600")).unwrap();
        let params = json!({"portrait": "gallery/anna.jpg", "script": "Buy now.", "language": "en", "size": "360x640"});
        let job = queue::submit(
            &db,
            NewJob::from_json(8, "ugc_video", params, 600, 3).unwrap(),
        )
        .await
        .unwrap();
        let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
        assert_eq!(row.state, if stuck { "failed" } else { "done" }, "{row:?}");
    }
    let text = reelforge::metrics::render(&db).await;
    let missing: Vec<String> = crate::deploy::dashboard_metrics()
        .into_iter()
        .filter(|m| !text.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard names {missing:?}, /metrics does not have them:\n{text}"
    );
}
