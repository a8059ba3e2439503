//! Text- and image-to-video jobs through the queue: offline, through an OpenAI-shaped fake
//! (the photo fitted to exactly the video size first, polling with snoozes), falling back to
//! the tier's next provider, and refunding a moderation refusal without trying another.
use crate::common;
use crate::dbs;
use crate::harness;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use harness::Bot;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::pipelines::video_backend::{VideoBackend, VideoRouter};
use reelforge::providers::http_client;
use reelforge::providers::openai_video::OpenAiVideo;
use reelforge::storage::ObjectStore;
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct FakeOpenAi {
    polls: Mutex<u32>,
    creates: Mutex<Vec<Vec<u8>>>,
    mp4: Mutex<Vec<u8>>,
}

async fn create(
    State(f): State<Arc<FakeOpenAi>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    f.creates.lock().unwrap().push(body.to_vec());
    if headers.get("authorization").unwrap() == "Bearer sk-down" {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "The server is overloaded or not ready yet.", "type": "server_error", "param": null, "code": null}}))).into_response();
    }
    if headers.get("authorization").unwrap() == "Bearer sk-empty" {
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": {"message": "quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}))).into_response();
    }
    let text = String::from_utf8_lossy(&body);
    let id = if text.contains("forbidden scene") {
        "video_bad"
    } else {
        "video_ok"
    };
    Json(json!({"id": id, "object": "video", "status": "queued", "progress": 0})).into_response()
}

async fn retrieve(State(f): State<Arc<FakeOpenAi>>, UrlPath(id): UrlPath<String>) -> Response {
    if id == "video_bad" {
        return Json(json!({"id": id, "status": "failed", "error": {"code": "moderation_blocked", "message": "blocked"}})).into_response();
    }
    let mut n = f.polls.lock().unwrap();
    *n += 1;
    if *n == 1 {
        (
            [("openai-poll-after-ms", "100")],
            Json(json!({"id": id, "status": "in_progress", "progress": 30})),
        )
            .into_response()
    } else {
        Json(json!({"id": id, "status": "completed", "progress": 100})).into_response()
    }
}

async fn content(State(f): State<Arc<FakeOpenAi>>) -> Vec<u8> {
    f.mp4.lock().unwrap().clone()
}

async fn fake_openai(mp4: Vec<u8>) -> (String, Arc<FakeOpenAi>) {
    let fake = Arc::new(FakeOpenAi::default());
    *fake.mp4.lock().unwrap() = mp4;
    let app = Router::new()
        .route("/v1/videos", post(create))
        .route("/v1/videos/{id}", get(retrieve))
        .route("/v1/videos/{id}/content", get(content))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

fn openai(base: &str, key: &str) -> VideoBackend {
    let client = OpenAiVideo::new(
        http_client(Duration::from_secs(10), None).unwrap(),
        vec![key.into()],
        Some(base),
    );
    VideoBackend::OpenAi {
        client: Arc::new(client),
        model: "sora-2".into(),
    }
}

struct Run {
    db: Db,
    job: i64,
    bot: Arc<Bot>,
    storage: Arc<reelforge::storage::Storage>,
    _keep: (tempfile::TempDir, dbs::TestDb),
}

async fn run_job(
    t: dbs::TestDb,
    router: VideoRouter,
    params: serde_json::Value,
    photo: Option<PathBuf>,
) -> Run {
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = Arc::new(Bot::default());
    let mut services = harness::services(&db, dir.path(), bot.clone());
    services.video = router;
    if let Some(p) = photo {
        services
            .storage
            .put_file("uploads/photo.png", &p, "image/png")
            .await
            .unwrap();
    }
    let storage = services.storage.clone();
    touch_user(&db, 1, None, "ru").await.unwrap();
    ledger::credit(&db, 1, 1000, Reason::Payment, "pay", None)
        .await
        .unwrap();
    let kind = if params.get("image").is_some() {
        "image_to_video"
    } else {
        "text_to_video"
    };
    let job = queue::submit(&db, NewJob::from_json(1, kind, params, 742, 3).unwrap())
        .await
        .unwrap();
    harness::run_jobs(&db, services, &[job]).await;
    Run {
        db,
        job,
        bot,
        storage,
        _keep: (dir, t),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_to_video_offline_delivers_the_asked_size_and_length() {
    let t = dbs::sqlite().await;
    let r = run_job(
        t,
        VideoRouter::local(),
        json!({"prompt": "a lighthouse at dusk", "tier": "fast", "seconds": 4, "size": "720x1280"}),
        None,
    )
    .await;
    assert_eq!(
        queue::job(&r.db, r.job).await.unwrap().unwrap().state,
        "done"
    );
    let sent = r.bot.delivered();
    assert_eq!((sent[0].width, sent[0].height), (720, 1280));
    assert!(
        (sent[0].duration_s - 4.0).abs() < 0.1,
        "{}",
        sent[0].duration_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn image_to_video_fits_the_photo_polls_the_provider_and_delivers() {
    for t in dbs::all().await {
        let dir = tempfile::tempdir().unwrap();
        let clip = common::background(dir.path(), "provider.mp4", 720, 1280, 2.0, 30);
        let (base, fake) = fake_openai(std::fs::read(&clip).unwrap()).await;
        let photo = dir.path().join("photo.png");
        common::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1000x700:d=1",
            "-frames:v",
            "1",
            photo.to_str().unwrap(),
        ]);
        let mut router = VideoRouter::default();
        router
            .tiers
            .insert("quality".into(), vec![openai(&base, "sk-good")]);
        let r = run_job(t, router, json!({"prompt": "make it move", "tier": "quality", "seconds": 8, "size": "720x1280", "image": "uploads/photo.png"}), Some(photo)).await;
        let row = queue::job(&r.db, r.job).await.unwrap().unwrap();
        assert_eq!(row.state, "done", "{}: {row:?}", r.db.kind());
        assert!(
            row.checkpoints.to_json().contains(&format!(
                "\"request\":\"0:{}@video_ok\"",
                reelforge::providers::KeyRing::id_of("sk-good")
            )),
            "{}",
            row.checkpoints.to_json()
        );
        assert!(*fake.polls.lock().unwrap() >= 2, "polled until completed");
        // The first frame sent was fitted to exactly the video size.
        let ids: serde_json::Value = serde_json::from_str(&row.checkpoints.to_json()).unwrap();
        let fitted = dir.path().join("fitted.jpg");
        r.storage
            .get_to_file(ids["input_image"].as_str().unwrap(), &fitted)
            .await
            .unwrap();
        let probe = common::ffprobe(&fitted);
        let v = common::stream(&probe, "video");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(720), Some(1280))
        );
        let body = String::from_utf8_lossy(&fake.creates.lock().unwrap()[0]).to_string();
        assert!(body.contains("name=\"input_reference\""));
        assert_eq!(r.bot.delivered().len(), 1);
        assert_eq!(
            ledger::balance_of(&r.db, 1).await.unwrap(),
            1000 - 742,
            "one charge"
        );
        assert_eq!(ledger::balance_of(&r.db, 1).await.unwrap(), 258);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_hevc_provider_clip_without_sound_and_with_its_index_at_the_end_is_delivered_platform_ready(
) {
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    // What a provider might send: HEVC, no audio track, moov after mdat.
    let clip = dir.path().join("provider-hevc.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=720x1280:r=30:d=2",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-tag:v",
        "hvc1",
        clip.to_str().unwrap(),
    ]);
    let (base, _fake) = fake_openai(std::fs::read(&clip).unwrap()).await;
    let mut router = VideoRouter::default();
    router
        .tiers
        .insert("fast".into(), vec![openai(&base, "sk-good")]);
    let r = run_job(
        t,
        router,
        json!({"prompt": "a lighthouse", "tier": "fast", "seconds": 4, "size": "720x1280"}),
        None,
    )
    .await;
    let row = queue::job(&r.db, r.job).await.unwrap().unwrap();
    assert_eq!(row.state, "done", "{row:?}");
    let stored = dir.path().join("stored.mp4");
    r.storage
        .get_to_file(row.checkpoints.output.as_ref().unwrap(), &stored)
        .await
        .unwrap();
    let probe = common::ffprobe(&stored);
    let v = common::stream(&probe, "video");
    assert_eq!(v["codec_name"], "h264", "{v}");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(common::stream(&probe, "audio")["codec_name"], "aac");
    let boxes = common::mp4_boxes(&stored);
    assert!(
        boxes.iter().position(|b| b == "moov") < boxes.iter().position(|b| b == "mdat"),
        "{boxes:?}"
    );
    // Delivered once, with its thumbnail, and charged once.
    assert_eq!(r.bot.delivered().len(), 1);
    assert!(r
        .storage
        .get_to_file(
            &format!("{}.jpg", row.checkpoints.output.as_ref().unwrap()),
            &dir.path().join("thumb.jpg")
        )
        .await
        .is_ok());
    assert_eq!(ledger::balance_of(&r.db, 1).await.unwrap(), 1000 - 742);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_out_of_quota_provider_falls_back_and_a_refusal_is_refunded() {
    let (base, _fake) = fake_openai(Vec::new()).await;
    let mut router = VideoRouter::default();
    router.tiers.insert(
        "fast".into(),
        vec![openai(&base, "sk-empty"), VideoBackend::Local],
    );
    let r = run_job(
        dbs::sqlite().await,
        router,
        json!({"prompt": "a cat", "tier": "fast", "seconds": 4, "size": "1280x720"}),
        None,
    )
    .await;
    let row = queue::job(&r.db, r.job).await.unwrap().unwrap();
    assert_eq!(row.state, "done");
    assert!(
        row.checkpoints.to_json().contains("\"request\":\"1:done\""),
        "made by the fallback: {}",
        row.checkpoints.to_json()
    );
    // The provider unplugged (503 with OpenAI's error body): the next one serves, one charge.
    let mut router = VideoRouter::default();
    router.tiers.insert(
        "fast".into(),
        vec![openai(&base, "sk-down"), VideoBackend::Local],
    );
    let r = run_job(
        dbs::sqlite().await,
        router,
        json!({"prompt": "a dog", "tier": "fast", "seconds": 4, "size": "1280x720"}),
        None,
    )
    .await;
    let row = queue::job(&r.db, r.job).await.unwrap().unwrap();
    assert_eq!(row.state, "done", "{row:?}");
    assert!(
        row.checkpoints.to_json().contains("\"request\":\"1:done\""),
        "made by the fallback: {}",
        row.checkpoints.to_json()
    );
    assert_eq!(r.bot.delivered().len(), 1);

    let mut router = VideoRouter::default();
    router.tiers.insert(
        "fast".into(),
        vec![openai(&base, "sk-good"), VideoBackend::Local],
    );
    let r = run_job(
        dbs::sqlite().await,
        router,
        json!({"prompt": "a forbidden scene", "tier": "fast", "seconds": 4, "size": "720x1280"}),
        None,
    )
    .await;
    let row = queue::job(&r.db, r.job).await.unwrap().unwrap();
    assert_eq!(
        (row.state.name(), row.error_class.map(|c| c.name())),
        ("failed", Some("content_rejected"))
    );
    assert_eq!(
        ledger::balance_of(&r.db, 1).await.unwrap(),
        1000,
        "refunded"
    );
    assert!(r.bot.delivered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fal_video_model_serves_a_tier_through_the_queue_urls() {
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(common::background(
        dir.path(),
        "kling.mp4",
        1280,
        720,
        2.0,
        30,
    ))
    .unwrap();
    let seen = Arc::new(Mutex::new(serde_json::Value::Null));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (b1, b2, s1) = (base.clone(), base.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/fal-ai/kling-video/v2.1/standard/text-to-video",
            post(move |Json(body): Json<serde_json::Value>| {
                let (b, s) = (b1.clone(), s1.clone());
                async move {
                    *s.lock().unwrap() = body;
                    Json(json!({"request_id": "k1", "status_url": format!("{b}/fal-ai/kling-video/requests/k1/status"), "response_url": format!("{b}/fal-ai/kling-video/requests/k1"), "cancel_url": format!("{b}/fal-ai/kling-video/requests/k1/cancel")}))
                }
            }),
        )
        .route("/fal-ai/kling-video/requests/k1/status", get(|| async { Json(json!({"status": "COMPLETED", "request_id": "k1"})) }))
        .route(
            "/fal-ai/kling-video/requests/k1",
            get(move || {
                let b = b2.clone();
                async move { Json(json!({"video": {"url": format!("{b}/files/k1.mp4")}})) }
            }),
        )
        .route("/files/k1.mp4", get(move || { let c = clip.clone(); async move { c } }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fal = reelforge::providers::fal::FalClient::new(
        reqwest::Client::new(),
        vec!["fal-key".into()],
        Some(&base),
    );
    let backend = VideoBackend::Fal {
        client: Arc::new(fal),
        text_endpoint: "fal-ai/kling-video/v2.1/standard/text-to-video".into(),
        image_endpoint: "fal-ai/kling-video/v2.1/standard/image-to-video".into(),
        http: reqwest::Client::new(),
    };
    let mut router = VideoRouter::default();
    router.tiers.insert("fast".into(), vec![backend]);
    let r = run_job(
        dbs::sqlite().await,
        router,
        json!({"prompt": "waves at night", "tier": "fast", "seconds": 8, "size": "1280x720"}),
        None,
    )
    .await;
    assert_eq!(
        queue::job(&r.db, r.job).await.unwrap().unwrap().state,
        "done"
    );
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        (
            sent["prompt"].as_str(),
            sent["duration"].as_str(),
            sent["aspect_ratio"].as_str()
        ),
        (Some("waves at night"), Some("8"), Some("16:9"))
    );
    assert_eq!(r.bot.delivered()[0].width, 1280);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_square_video_is_generated_vertical_and_cropped_to_the_square() {
    let t = dbs::sqlite().await;
    let r = run_job(
        t,
        VideoRouter::local(),
        json!({"prompt": "a cup of coffee", "tier": "fast", "seconds": 4, "size": "720x720"}),
        None,
    )
    .await;
    assert_eq!(
        queue::job(&r.db, r.job).await.unwrap().unwrap().state,
        "done"
    );
    let sent = r.bot.delivered();
    assert_eq!((sent[0].width, sent[0].height), (720, 720));
    let probe = &r.bot.videos.lock().unwrap()[0].1;
    let video = common::stream(probe, "video");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(720), Some(720))
    );
    assert!(
        (sent[0].duration_s - 4.0).abs() < 0.1,
        "{}",
        sent[0].duration_s
    );
}
