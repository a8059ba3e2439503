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
    next_id: Mutex<i64>,
}

fn ok(result: Value) -> Json<Value> {
    Json(json!({"ok": true, "result": result}))
}

async fn api(
    State(f): State<Arc<FakeTelegram>>,
    Path((_token, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match method.to_ascii_lowercase().as_str() {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_balance_buy_and_unexpected_input_through_the_bot_api() {
    let fake = Arc::new(FakeTelegram::default());
    let app = Router::new()
        .route("/{token}/{method}", post(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

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
    let texts = reply_to(&fake, 6).await;
    assert!(
        texts[4].contains("/help"),
        "an unexpected message gets a hint: {texts:?}"
    );
    assert!(
        texts[5].starts_with("Hi, Anna!"),
        "English for non-Russian users: {texts:?}"
    );
    let chats: Vec<i64> = fake
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b["chat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(chats, [42, 42, 42, 42, 42, 99]);
    assert_eq!(reelforge::ledger::balance_of(&t.db, 99).await.unwrap(), 100);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("bot stops")
        .unwrap();
}
