//! Provider clients against local fakes that answer with the documented shapes — successes,
//! error bodies, 429 with a retry delay, timeouts, truncated and oversized downloads, malformed
//! JSON — each mapped to the right error class.
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use reelforge::failure::ErrorClass;
use reelforge::providers::elevenlabs::ElevenLabs;
use reelforge::providers::fal::{self, FalClient, FalStatus};
use reelforge::providers::kie::{KieClient, VeoState};
use reelforge::providers::openai_video::{class_of_failed_job, CreateVideo, OpenAiVideo};
use reelforge::providers::{download_capped, http_client};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Fake {
    polls: Mutex<HashMap<String, u32>>,
    auth_seen: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Vec<u8>>>,
    base: Mutex<String>,
}

type S = State<Arc<Fake>>;

fn bump(f: &Fake, key: &str) -> u32 {
    let mut p = f.polls.lock().unwrap();
    let n = p.entry(key.to_string()).or_default();
    *n += 1;
    *n
}

// ---- fal.ai ----
async fn fal_submit(
    State(f): S,
    Path(path): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    f.auth_seen.lock().unwrap().push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
    );
    let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
    match prompt {
        "nsfw" => (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": [{"loc": ["body", "image_url"], "msg": "The image was flagged", "type": "content_policy_violation"}]}))).into_response(),
        "busy" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], Json(json!({"detail": "Too many requests"}))).into_response(),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, [("x-fal-error-type", "runner_scheduling_failure")], Json(json!({"detail": "No runner", "error_type": "runner_scheduling_failure"}))).into_response(),
        "garbage" => (StatusCode::OK, "<html>not json").into_response(),
        _ => {
            assert_eq!(path, "bytedance/omnihuman/v1.5", "submit goes to the full endpoint id");
            let base = f.base.lock().unwrap().clone();
            // Status, result and cancel URLs drop the sub-path: only owner/app.
            Json(json!({
                "request_id": "req-1",
                "status_url": format!("{base}/fal/fal-ai/bytedance/requests/req-1/status"),
                "response_url": format!("{base}/fal/fal-ai/bytedance/requests/req-1"),
                "cancel_url": format!("{base}/fal/fal-ai/bytedance/requests/req-1/cancel"),
                "queue_position": 2
            }))
            .into_response()
        }
    }
}

async fn fal_status(State(f): S) -> Json<Value> {
    match bump(&f, "fal") {
        1 => Json(json!({"status": "IN_QUEUE", "queue_position": 2, "request_id": "req-1"})),
        2 => Json(json!({"status": "IN_PROGRESS", "request_id": "req-1", "logs": []})),
        _ => Json(
            json!({"status": "COMPLETED", "request_id": "req-1", "metrics": {"inference_time": 12.5}}),
        ),
    }
}

async fn fal_result(State(f): S) -> Json<Value> {
    let base = f.base.lock().unwrap().clone();
    Json(
        json!({"video": {"url": format!("{base}/files/head.mp4"), "content_type": "video/mp4", "file_name": "head.mp4", "file_size": 2048}, "duration": 8.2}),
    )
}

async fn fal_cancel() -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "CANCELLATION_REQUESTED"})),
    )
}

// ---- OpenAI videos ----
async fn openai_create(State(f): S, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    f.auth_seen.lock().unwrap().push(auth.clone());
    f.bodies.lock().unwrap().push(body.to_vec());
    if auth == "Bearer sk-empty" {
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}))).into_response();
    }
    Json(json!({"id": "video_123", "object": "video", "model": "sora-2", "status": "queued", "progress": 0, "size": "720x1280", "seconds": "8"})).into_response()
}

async fn openai_get(State(f): S, Path(id): Path<String>) -> Response {
    if id == "video_bad" {
        return Json(json!({"id": id, "object": "video", "status": "failed", "progress": 100, "error": {"code": "moderation_blocked", "message": "Your request was blocked"}})).into_response();
    }
    match bump(&f, "openai") {
        1 => ([("openai-poll-after-ms", "1234")], Json(json!({"id": id, "object": "video", "status": "in_progress", "progress": 40}))).into_response(),
        _ => Json(json!({"id": id, "object": "video", "status": "completed", "progress": 100, "error": null})).into_response(),
    }
}

async fn openai_content(headers: HeaderMap) -> Response {
    assert!(
        headers.get("authorization").is_some(),
        "content needs the key"
    );
    (
        StatusCode::OK,
        [("content-type", "video/mp4")],
        vec![7u8; 4096],
    )
        .into_response()
}

// ---- KIE.AI ----
async fn kie_generate(Json(body): Json<Value>) -> Json<Value> {
    if body["prompt"] == "broke" {
        return Json(json!({"code": 402, "msg": "Credits insufficient", "data": null}));
    }
    assert_eq!(body["aspect_ratio"], "9:16");
    Json(json!({"code": 200, "msg": "success", "data": {"taskId": "veo-task-9"}}))
}

async fn kie_record(State(f): S, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    assert_eq!(q.get("taskId").map(String::as_str), Some("veo-task-9"));
    match bump(&f, "kie") {
        1 => Json(
            json!({"code": 200, "msg": "success", "data": {"taskId": "veo-task-9", "successFlag": 0}}),
        ),
        _ => Json(
            json!({"code": 200, "msg": "success", "data": {"taskId": "veo-task-9", "successFlag": 1, "response": {"resultUrls": ["https://tempfile.example/veo.mp4"]}}}),
        ),
    }
}

// ---- ElevenLabs ----
async fn eleven_tts(
    headers: HeaderMap,
    Path(voice): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let key = headers.get("xi-api-key").unwrap().to_str().unwrap();
    if key == "el-broke" {
        return (StatusCode::UNAUTHORIZED, Json(json!({"detail": {"status": "quota_exceeded", "message": "This request exceeds your quota"}}))).into_response();
    }
    if body["text"] == "rush" {
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"detail": {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests"}}))).into_response();
    }
    if voice == "nobody" {
        return (StatusCode::BAD_REQUEST, Json(json!({"detail": {"status": "voice_not_found", "message": "A voice with that id was not found"}}))).into_response();
    }
    use base64::Engine;
    Json(json!({
        "audio_base64": base64::engine::general_purpose::STANDARD.encode(b"ID3 fake mp3"),
        "alignment": {"characters": ["H", "i", " ", "y", "o", "u"],
                      "character_start_times_seconds": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
                      "character_end_times_seconds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
    }))
    .into_response()
}

async fn eleven_voices(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if q.contains_key("next_page_token") {
        Json(
            json!({"voices": [{"voice_id": "v3", "name": "Olga"}], "has_more": false, "next_page_token": null}),
        )
    } else {
        Json(
            json!({"voices": [{"voice_id": "v1", "name": "Anna", "preview_url": "https://x/a.mp3"}, {"voice_id": "v2", "name": "Ivan"}], "has_more": true, "next_page_token": "p2"}),
        )
    }
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3)).await;
    "late"
}

async fn start() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/fal/fal-ai/{*path}", post(fal_submit))
        .route(
            "/fal/fal-ai/bytedance/requests/req-1/status",
            get(fal_status),
        )
        .route("/fal/fal-ai/bytedance/requests/req-1", get(fal_result))
        .route(
            "/fal/fal-ai/bytedance/requests/req-1/cancel",
            put(fal_cancel),
        )
        .route("/openai/videos", post(openai_create))
        .route("/openai/videos/{id}", get(openai_get))
        .route("/openai/videos/{id}/content", get(openai_content))
        .route("/kie/api/v1/veo/generate", post(kie_generate))
        .route("/kie/api/v1/veo/record-info", get(kie_record))
        .route(
            "/el/v1/text-to-speech/{voice}/with-timestamps",
            post(eleven_tts),
        )
        .route("/el/v2/voices", get(eleven_voices))
        .route("/files/head.mp4", get(|| async { vec![1u8; 2048] }))
        .route("/files/big.mp4", get(|| async { vec![0u8; 64 * 1024] }))
        .route("/slow", get(slow))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fake.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, fake)
}

fn client() -> reqwest::Client {
    http_client(Duration::from_secs(2), None).unwrap()
}

#[tokio::test]
async fn fal_queue_uses_the_returned_urls_and_classifies_failures() {
    let (base, fake) = start().await;
    let fal = FalClient::new(
        client(),
        vec!["fal-key".into()],
        Some(&format!("{base}/fal")),
    );
    let req = fal.submit(fal::OMNIHUMAN_V15, &json!({"image_url": "https://x/a.jpg", "audio_url": "https://x/a.mp3", "prompt": "talk"})).await.unwrap();
    assert!(req
        .status_url
        .ends_with("/fal-ai/bytedance/requests/req-1/status"));
    assert_eq!(fake.auth_seen.lock().unwrap()[0], "Key fal-key");
    assert_eq!(
        fal.status(&req).await.unwrap(),
        FalStatus::InQueue { position: Some(2) }
    );
    assert_eq!(fal.status(&req).await.unwrap(), FalStatus::InProgress);
    assert_eq!(fal.status(&req).await.unwrap(), FalStatus::Completed);
    let result = fal.result(&req).await.unwrap();
    let url = fal::video_url(&result).unwrap().to_string();
    let bytes = download_capped(client().get(&url), "fal", 1 << 20, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(bytes.len(), 2048);
    fal.cancel(&req).await.unwrap();

    // A fresh client per error case: a rate-limited key rests, which would colour the next case.
    let class = |prompt: &'static str| {
        let fal = FalClient::new(
            client(),
            vec!["fal-key".into()],
            Some(&format!("{base}/fal")),
        );
        async move {
            fal.submit(fal::OMNIHUMAN_V15, &json!({"prompt": prompt}))
                .await
                .unwrap_err()
                .class
        }
    };
    assert_eq!(class("nsfw").await, ErrorClass::ContentRejected);
    assert_eq!(
        class("busy").await,
        ErrorClass::RateLimited {
            retry_after_ms: Some(7000)
        }
    );
    assert_eq!(class("down").await, ErrorClass::Transient);
    let fal = FalClient::new(
        client(),
        vec!["fal-key".into()],
        Some(&format!("{base}/fal")),
    );
    let err = fal
        .submit(fal::OMNIHUMAN_V15, &json!({"prompt": "garbage"}))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("malformed"), "{err}");
}

#[tokio::test]
async fn openai_video_sends_multipart_polls_as_told_and_rotates_keys_on_quota() {
    let (base, fake) = start().await;
    let openai = OpenAiVideo::new(
        client(),
        vec!["sk-empty".into(), "sk-good".into()],
        Some(&format!("{base}/openai")),
    );
    let req = || CreateVideo {
        prompt: "a cat surfing",
        model: "sora-2",
        seconds: 8,
        size: "720x1280",
        input_reference: Some((vec![0xFF, 0xD8, 0xFF], "image/jpeg")),
    };
    let err = openai.create(req()).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::BillingOrQuota, "{err}");
    let (job, key_id) = openai.create(req()).await.unwrap();
    assert_eq!(job.id, "video_123");
    let key_id = Some(key_id.as_str());
    assert_eq!(
        fake.auth_seen.lock().unwrap().as_slice(),
        ["Bearer sk-empty", "Bearer sk-good"]
    );
    let body = String::from_utf8_lossy(&fake.bodies.lock().unwrap()[1]).to_string();
    assert!(
        body.contains("name=\"seconds\"\r\n\r\n8\r\n"),
        "seconds is the string 8"
    );
    assert!(
        body.contains("name=\"input_reference\"; filename=\"reference.jpeg\""),
        "{body}"
    );
    // The resting key is skipped now.
    openai.create(req()).await.unwrap();
    assert_eq!(
        fake.auth_seen.lock().unwrap().last().unwrap(),
        "Bearer sk-good"
    );

    let first = openai.retrieve("video_123", key_id).await.unwrap();
    assert_eq!(
        (first.job.status.as_str(), first.poll_after),
        ("in_progress", Duration::from_millis(1234))
    );
    assert_eq!(
        openai
            .retrieve("video_123", key_id)
            .await
            .unwrap()
            .job
            .status,
        "completed"
    );
    assert_eq!(
        openai
            .download("video_123", key_id, 1 << 20)
            .await
            .unwrap()
            .len(),
        4096
    );
    let failed = openai.retrieve("video_bad", key_id).await.unwrap().job;
    assert_eq!(
        class_of_failed_job(failed.error.as_ref()),
        ErrorClass::ContentRejected
    );
    assert_eq!(
        openai
            .create(CreateVideo {
                seconds: 10,
                ..req()
            })
            .await
            .unwrap_err()
            .class,
        ErrorClass::BadUserInput
    );
}

#[tokio::test]
async fn kie_veo_generates_polls_and_reads_the_envelope_code() {
    let (base, _fake) = start().await;
    let kie = KieClient::new(
        client(),
        vec!["kie-key".into()],
        Some(&format!("{base}/kie")),
    );
    let (task, key_id) = kie
        .generate("a product on a table", "veo3_fast", "9:16", &[])
        .await
        .unwrap();
    assert_eq!(task, "veo-task-9");
    let key_id = Some(key_id.as_str());
    assert_eq!(
        kie.record_info(&task, key_id).await.unwrap(),
        VeoState::Generating
    );
    assert_eq!(
        kie.record_info(&task, key_id).await.unwrap(),
        VeoState::Succeeded(vec!["https://tempfile.example/veo.mp4".into()])
    );
    let err = kie
        .generate("broke", "veo3_fast", "9:16", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.class,
        ErrorClass::BillingOrQuota,
        "HTTP 200 with code 402 is an error: {err}"
    );
    assert_eq!(
        kie.generate("x", "veo3_fast", "1:1", &[])
            .await
            .unwrap_err()
            .class,
        ErrorClass::BadUserInput
    );
}

#[tokio::test]
async fn elevenlabs_gives_audio_with_word_timings_and_classifies_its_errors() {
    let (base, _fake) = start().await;
    let el = ElevenLabs::new(client(), vec!["el-key".into()], Some(&format!("{base}/el")));
    let speech = el
        .speak_with_timestamps("v1", "Hi you", "eleven_multilingual_v2")
        .await
        .unwrap();
    assert_eq!(speech.audio, b"ID3 fake mp3");
    let words = media::parse_word_timings(&speech.alignment.to_string()).unwrap();
    assert_eq!(
        words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
        ["Hi", "you"]
    );
    assert_eq!(
        el.speak_with_timestamps("v1", "rush", "m")
            .await
            .unwrap_err()
            .class,
        ErrorClass::RateLimited {
            retry_after_ms: None
        }
    );
    // The only key now rests for a minute: the next call is told to wait, not refunded.
    assert!(matches!(
        el.speak_with_timestamps("v1", "hello", "m")
            .await
            .unwrap_err()
            .class,
        ErrorClass::RateLimited {
            retry_after_ms: Some(_)
        }
    ));
    let el = ElevenLabs::new(client(), vec!["el-key".into()], Some(&format!("{base}/el")));
    assert_eq!(
        el.speak_with_timestamps("nobody", "hello", "m")
            .await
            .unwrap_err()
            .class,
        ErrorClass::BadUserInput
    );
    let broke = ElevenLabs::new(
        client(),
        vec!["el-broke".into()],
        Some(&format!("{base}/el")),
    );
    assert_eq!(
        broke
            .speak_with_timestamps("v1", "hello", "m")
            .await
            .unwrap_err()
            .class,
        ErrorClass::BillingOrQuota
    );
    let (page1, next) = el.voices(2, None).await.unwrap();
    assert_eq!((page1.len(), next.as_deref()), (2, Some("p2")));
    let (page2, next) = el.voices(2, next.as_deref()).await.unwrap();
    assert_eq!((page2[0].name.as_str(), next), ("Olga", None));
}

#[tokio::test]
async fn downloads_are_capped_timed_out_and_truncation_is_caught() {
    let (base, _fake) = start().await;
    let err = download_capped(
        client().get(format!("{base}/files/big.mp4")),
        "fal",
        1024,
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("cap"), "{err}");
    let err = download_capped(
        client().get(format!("{base}/slow")),
        "fal",
        1024,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("timed out"), "{err}");
    // A server that promises 1000 bytes and hangs up after 10.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: video/mp4\r\n\r\n0123456789",
        );
    });
    let err = download_capped(
        client().get(format!("http://{addr}/cut.mp4")),
        "kie",
        1 << 20,
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
}
