//! Character edits (offline and through a fal-shaped nano-banana fake) and `/overlay`
//! recomposes that reuse the paid speech and talking head.
use crate::common;
use crate::dbs;
use crate::harness;
use axum::routing::{get, post};
use axum::{Json, Router};
use harness::Bot;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::pipelines::recompose::submit_recompose;
use reelforge::pipelines::{ChainEntry, Services};
use reelforge::providers::fal::FalClient;
use reelforge::storage::ObjectStore;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

struct World {
    db: Db,
    bot: Arc<Bot>,
    services: Arc<Services>,
    _keep: (tempfile::TempDir, dbs::TestDb),
}

async fn world(image_editor: Option<Arc<FalClient>>) -> World {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = Arc::new(Bot::default());
    let mut services = harness::services_with_portrait(&db, dir.path(), bot.clone()).await;
    services.remote.image_edits = image_editor
        .map(|c| {
            vec![
                ChainEntry::fal(c, "fal-ai/nano-banana/edit"),
                ChainEntry::local(),
            ]
        })
        .unwrap_or_default();
    let bg = common::background(dir.path(), "bg.mp4", 320, 240, 1.0, 30);
    services
        .storage
        .put_file("uploads/bg.mp4", &bg, "video/mp4")
        .await
        .unwrap();
    touch_user(&db, 9, None, "ru").await.unwrap();
    touch_user(&db, 10, None, "ru").await.unwrap();
    ledger::credit(&db, 9, 1000, Reason::Payment, "pay", None)
        .await
        .unwrap();
    World {
        db,
        bot,
        services: Arc::new(services),
        _keep: (dir, t),
    }
}

async fn run_until_done(w: &World, jobs: &[i64]) {
    for row in harness::run_jobs(&w.db, w.services.clone(), jobs).await {
        assert_eq!(row.state, "done", "{row:?}");
    }
}

fn edit_job(prompt: &str) -> NewJob {
    NewJob::from_json(
        9,
        "character_edit",
        json!({"image": "gallery/anna.jpg", "prompt": prompt}),
        60,
        3,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_character_edit_is_shown_to_the_user() {
    let w = world(None).await;
    let job = queue::submit(&w.db, edit_job("add sunglasses"))
        .await
        .unwrap();
    run_until_done(&w, &[job]).await;
    let photos = w.bot.photos.lock().unwrap().clone();
    let v = common::stream(&photos[0], "video");
    assert_eq!(
        (
            v["codec_name"].as_str(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some("png"), Some(1024), Some(1024))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nano_banana_edit_sends_the_image_and_stores_the_result() {
    let seen = Arc::new(Mutex::new(Value::Null));
    let png_dir = tempfile::tempdir().unwrap();
    let png = png_dir.path().join("edited.png");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x640:d=1",
        "-frames:v",
        "1",
        png.to_str().unwrap(),
    ]);
    let png_bytes = std::fs::read(&png).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (b1, b2, s1) = (base.clone(), base.clone(), seen.clone());
    let app = Router::new()
        .route("/fal-ai/nano-banana/edit", post(move |Json(body): Json<Value>| {
            let (b, s) = (b1.clone(), s1.clone());
            async move {
                *s.lock().unwrap() = body;
                Json(json!({"request_id": "e1", "status_url": format!("{b}/fal-ai/nano-banana/requests/e1/status"), "response_url": format!("{b}/fal-ai/nano-banana/requests/e1"), "cancel_url": format!("{b}/fal-ai/nano-banana/requests/e1/cancel")}))
            }
        }))
        .route("/fal-ai/nano-banana/requests/e1/status", get(|| async { Json(json!({"status": "COMPLETED", "request_id": "e1"})) }))
        .route("/fal-ai/nano-banana/requests/e1", get(move || {
            let b = b2.clone();
            async move { Json(json!({"images": [{"url": format!("{b}/files/edited.png"), "content_type": "image/png"}], "description": "done"})) }
        }))
        .route("/files/edited.png", get(move || { let p = png_bytes.clone(); async move { p } }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fal = Arc::new(FalClient::new(
        reqwest::Client::new(),
        vec!["fal-key".into()],
        Some(&base),
    ));
    let w = world(Some(fal)).await;
    let job = queue::submit(&w.db, edit_job("make the suit red"))
        .await
        .unwrap();
    run_until_done(&w, &[job]).await;
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent["prompt"], "make the suit red");
    assert!(
        sent["image_urls"][0]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,"),
        "a local store sends the image inline"
    );
    let photos = w.bot.photos.lock().unwrap().clone();
    assert_eq!(
        common::stream(&photos[0], "video")["width"].as_u64(),
        Some(640)
    );
    assert!(queue::job(&w.db, job)
        .await
        .unwrap()
        .unwrap()
        .checkpoints
        .to_json()
        .contains("characters/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlay_recomposes_without_making_speech_or_the_talking_head_again() {
    let w = world(None).await;
    let params = json!({"portrait": "gallery/anna.jpg", "background": "uploads/bg.mp4", "script": "Привет!", "size": "360x640"});
    let first = queue::submit(
        &w.db,
        NewJob::from_json(9, "ugc_video", params, 300, 3).unwrap(),
    )
    .await
    .unwrap();
    run_until_done(&w, &[first]).await;
    assert!(
        submit_recompose(&w.db, &common::prices(), 10, first)
            .await
            .unwrap()
            .is_none(),
        "not another user's video"
    );
    let again = submit_recompose(&w.db, &common::prices(), 9, first)
        .await
        .unwrap()
        .unwrap();
    let before: Value = serde_json::from_str(
        &queue::job(&w.db, again)
            .await
            .unwrap()
            .unwrap()
            .checkpoints
            .to_json(),
    )
    .unwrap();
    let original: Value = serde_json::from_str(
        &queue::job(&w.db, first)
            .await
            .unwrap()
            .unwrap()
            .checkpoints
            .to_json(),
    )
    .unwrap();
    assert_eq!(
        (&before["voice"], &before["talking_head"]),
        (&original["voice"], &original["talking_head"])
    );
    run_until_done(&w, &[again]).await;
    assert_eq!(w.bot.delivered().len(), 2);
    assert_eq!(ledger::balance_of(&w.db, 9).await.unwrap(), 1000 - 300 - 30);
}
