//! The bot against a fake Telegram Bot API server (real HTTP on 127.0.0.1 speaking the Bot API
//! JSON, teloxide pointed at it with `set_api_url`): /start with a one-time bonus, /balance,
//! /buy, English for non-Russian users, and an unexpected message answered helpfully.
mod dbs;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use reelforge::bot::run::{make_bot, run_bot, BotApp};
use reelforge::bot::texts::Texts;
use reelforge::pricing::PriceTable;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct FakeTelegram {
    updates: Mutex<VecDeque<Value>>,
    sent: Mutex<Vec<(String, Value)>>,
    videos: Mutex<Vec<String>>,
    next_id: Mutex<i64>,
}

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

async fn api(
    State(f): State<Arc<FakeTelegram>>,
    Path((_token, method)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    match method.to_ascii_lowercase().as_str() {
        "sendvideo" => {
            // Multipart: keep the text of the form (the video bytes are binary noise in it).
            f.videos
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&raw).to_string());
            ok(
                json!({"message_id": 900, "date": 0, "chat": {"id": 42, "type": "private", "first_name": "User"}, "from": {"id": 777, "is_bot": true, "first_name": "Reelforge"},
                      "video": {"file_id": "BAACAgIAAx-video", "file_unique_id": "u1", "width": 720, "height": 1280, "duration": 8, "mime_type": "video/mp4", "file_size": 1048576}}),
            )
        }
        "getme" => ok(
            json!({"id": 777, "is_bot": true, "first_name": "Reelforge", "username": "reelforge_bot", "can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false, "has_main_web_app": false}),
        ),
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let ready: Vec<Value> = f
                .updates
                .lock()
                .unwrap()
                .iter()
                .filter(|u| u["update_id"].as_i64().unwrap() >= offset)
                .cloned()
                .collect();
            if ready.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            f.updates
                .lock()
                .unwrap()
                .retain(|u| u["update_id"].as_i64().unwrap() >= offset);
            ok(Value::Array(ready))
        }
        "sendmessage" => {
            f.sent.lock().unwrap().push((method.clone(), body.clone()));
            let mut id = f.next_id.lock().unwrap();
            *id += 1;
            ok(
                json!({"message_id": *id, "date": 0, "chat": {"id": body["chat_id"], "type": "private", "first_name": "User"}, "from": {"id": 777, "is_bot": true, "first_name": "Reelforge"}, "text": body["text"]}),
            )
        }
        _ => ok(json!(true)),
    }
}

fn message(update_id: i64, user: i64, lang: &str, content: Value) -> Value {
    let mut m = json!({"message_id": update_id, "date": 1_700_000_000, "chat": {"id": user, "type": "private", "first_name": "Anna"},
                       "from": {"id": user, "is_bot": false, "first_name": "Anna", "username": "anna", "language_code": lang}});
    for (k, v) in content.as_object().unwrap() {
        m[k] = v.clone();
    }
    json!({"update_id": update_id, "message": m})
}

fn command(update_id: i64, user: i64, lang: &str, text: &str) -> Value {
    let len = text.split_whitespace().next().unwrap().len();
    message(
        update_id,
        user,
        lang,
        json!({"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len}]}),
    )
}

async fn reply_to(fake: &FakeTelegram, count: usize) -> Vec<String> {
    for _ in 0..200 {
        if fake.sent.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fake.sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The fake Bot API on a free local port, and the URL to point teloxide at.
async fn fake_telegram() -> (Arc<FakeTelegram>, String) {
    let fake = Arc::new(FakeTelegram::default());
    let app = Router::new()
        .route("/{token}/{method}", post(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_balance_buy_and_unexpected_input_through_the_bot_api() {
    let (fake, url) = fake_telegram().await;

    let t = dbs::sqlite().await;
    let bot_app = Arc::new(BotApp {
        db: t.db.clone(),
        texts: Texts::bundled(),
        prices: PriceTable::default_table(),
    });
    let bot = make_bot("123:TEST", &url).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(run_bot(bot, bot_app, rx));

    fake.updates
        .lock()
        .unwrap()
        .push_back(command(1, 42, "ru", "/start"));
    let texts = reply_to(&fake, 1).await;
    assert!(
        texts[0].contains("Привет, Anna")
            && texts[0].contains("бонус: 100")
            && texts[0].contains("Баланс: 100"),
        "{texts:?}"
    );

    fake.updates
        .lock()
        .unwrap()
        .push_back(command(2, 42, "ru", "/start"));
    let texts = reply_to(&fake, 2).await;
    assert!(
        !texts[1].contains("бонус") && texts[1].contains("Баланс: 100"),
        "bonus only once: {texts:?}"
    );

    fake.updates
        .lock()
        .unwrap()
        .push_back(command(3, 42, "ru", "/balance"));
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(4, 42, "ru", "/buy"));
    let texts = reply_to(&fake, 4).await;
    assert!(
        texts[2].contains("Баланс: 100") && texts[2].contains("welcome_bonus"),
        "{texts:?}"
    );
    assert!(texts[3].contains("7420 — 5936 ₸ (−20%)"), "{texts:?}");

    fake.updates.lock().unwrap().push_back(message(
        5,
        42,
        "ru",
        json!({"dice": {"emoji": "🎲", "value": 4}}),
    ));
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(6, 99, "en", "/start"));
    reply_to(&fake, 6).await;
    // Chats are served concurrently: look the last answers up by chat.
    let sent = fake.sent.lock().unwrap().clone();
    let to = |chat: i64| -> Vec<String> {
        sent.iter()
            .filter(|(_, b)| b["chat_id"].as_i64() == Some(chat))
            .map(|(_, b)| b["text"].as_str().unwrap().to_string())
            .collect()
    };
    let anna = to(42);
    assert_eq!(anna.len(), 5);
    assert!(
        anna[4].contains("/help"),
        "an unexpected message gets a hint: {anna:?}"
    );
    let english = to(99);
    assert!(
        english[0].starts_with("Hi, Anna!"),
        "English for non-Russian users: {english:?}"
    );
    assert_eq!(reelforge::ledger::balance_of(&t.db, 99).await.unwrap(), 100);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("bot stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generate_queues_a_paid_job_and_the_worker_delivers_it_through_send_video() {
    use reelforge::pipelines::{Pipelines, Services};
    let (fake, url) = fake_telegram().await;

    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = make_bot("123:TEST", &url).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let bot_app = Arc::new(BotApp {
        db: db.clone(),
        texts: Texts::bundled(),
        prices: PriceTable::default_table(),
    });
    let running = tokio::spawn(run_bot(bot.clone(), bot_app, rx.clone()));
    let services = Services {
        db: db.clone(),
        storage: Arc::new(reelforge::storage::Storage::Folder(
            reelforge::storage::folder::FolderStore::new(dir.path().join("files")).unwrap(),
        )),
        deliver: Arc::new(reelforge::bot::deliver::TelegramDeliver { bot }),
        work_dir: dir.path().join("work"),
        worker_name: "w".into(),
        metrics: Arc::default(),
        video: reelforge::pipelines::video_backend::VideoRouter::local(),
        prompt_writer: None,
        remote: Default::default(),
    };
    let cfg = reelforge::queue::worker::WorkerConfig {
        name: "w".into(),
        concurrency: 1,
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(20),
        per_user_running: 2,
        grace: Duration::from_secs(5),
    };
    let worker = tokio::spawn(reelforge::queue::worker::run_worker(
        db.clone(),
        Arc::new(Pipelines(Arc::new(services))),
        cfg,
        rx,
    ));

    fake.updates
        .lock()
        .unwrap()
        .push_back(command(1, 42, "ru", "/start"));
    reply_to(&fake, 1).await;
    reelforge::ledger::credit(
        &db,
        42,
        1000,
        reelforge::ledger::Reason::Payment,
        "pay",
        None,
    )
    .await
    .unwrap();
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(2, 42, "ru", "/generate маяк на закате"));
    let texts = reply_to(&fake, 2).await;
    assert!(texts[1].contains("В очереди: место 1"), "{texts:?}");
    assert_eq!(
        reelforge::ledger::balance_of(&db, 42).await.unwrap(),
        1100 - 742
    );

    fake.updates
        .lock()
        .unwrap()
        .push_back(command(3, 43, "ru", "/start"));
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(4, 43, "ru", "/generate кот"));
    let texts = reply_to(&fake, 4).await;
    assert!(
        texts[3].contains("Баланс: 100") && texts[3].contains("742") && texts[3].contains("/buy"),
        "not enough: {texts:?}"
    );

    let mut form = String::new();
    for _ in 0..1200 {
        if let Some(f) = fake.videos.lock().unwrap().first() {
            form = f.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for field in [
        "name=\"width\"\r\n\r\n720",
        "name=\"height\"\r\n\r\n1280",
        "name=\"duration\"\r\n\r\n8",
        "name=\"supports_streaming\"\r\n\r\ntrue",
        "name=\"thumbnail\"",
        "name=\"chat_id\"\r\n\r\n42",
    ] {
        let text: String = form
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ' || *c == '\n')
            .take(1500)
            .collect();
        let jobs: Vec<(String, Option<String>)> = reelforge::on_db!(&db, p => sqlx::query_as("SELECT state, error_message FROM jobs").fetch_all(p).await.unwrap());
        assert!(
            form.contains(field),
            "sendVideo carries {field}: {text} (jobs {jobs:?})"
        );
    }
    // The worker records the file id right after sendVideo answers.
    let mut file_id = None;
    for _ in 0..100 {
        file_id = reelforge::on_db!(&db, p => sqlx::query_scalar::<_, Option<String>>("SELECT telegram_file_id FROM generations WHERE user_id = 42").fetch_optional(p).await.unwrap()).flatten();
        if file_id.as_deref().is_some_and(|f| !f.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(file_id.as_deref(), Some("BAACAgIAAx-video"));
    // /history sends it again by file id, without uploading.
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(5, 42, "ru", "/history"));
    fake.updates
        .lock()
        .unwrap()
        .push_back(command(6, 42, "ru", "/queue"));
    for _ in 0..200 {
        if fake.videos.lock().unwrap().len() >= 2 && fake.sent.lock().unwrap().len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let resend = fake.videos.lock().unwrap()[1].clone();
    assert!(
        resend.contains("BAACAgIAAx-video") && resend.len() < 2000,
        "re-sent by file_id: {resend}"
    );
    let last = fake.sent.lock().unwrap().last().unwrap().1["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(last.contains("нет задач"), "{last}");
    stop.send(true).unwrap();
    worker.await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("bot stops")
        .unwrap();
}
