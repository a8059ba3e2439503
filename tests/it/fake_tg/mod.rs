//! A fake Telegram Bot API server: real HTTP on 127.0.0.1 speaking the Bot API JSON (methods
//! matched case-insensitively, as teloxide sends them in PascalCase), with file downloads,
//! a switch that answers edits with 429 `retry_after`, one that refuses `sendVideo`, and users
//! who blocked the bot (every send to them: 403 "Forbidden: bot was blocked by the user").
#![allow(dead_code)]
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct FakeTelegram {
    pub updates: Mutex<VecDeque<Value>>,
    /// (method, JSON body or the text of a multipart form, when).
    pub calls: Mutex<Vec<(String, Value, Instant)>>,
    pub next_id: Mutex<i64>,
    next_update: Mutex<i64>,
    /// Files users "sent": file id → bytes.
    pub files: Mutex<HashMap<String, Vec<u8>>>,
    /// How many of the next edits get a 429 with retry_after = 1.
    pub edits_to_refuse: AtomicUsize,
    pub refuse_videos: AtomicBool,
    /// Milliseconds `sendVideo` takes to answer after receiving the upload (a slow Telegram).
    pub video_delay_ms: std::sync::atomic::AtomicU64,
    /// Users who blocked the bot: every send to them gets Telegram's 403.
    pub blocked: Mutex<std::collections::HashSet<i64>>,
    /// The audio of every `sendVoice` upload, byte for byte.
    pub voices: Mutex<Vec<Vec<u8>>>,
}

/// The bytes of the file part `name` of a multipart body.
pub fn form_file(raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let boundary_end = find(raw, b"\r\n", 0)?;
    let boundary = [b"\r\n", &raw[..boundary_end]].concat();
    let at = find(raw, format!("name=\"{name}\"").as_bytes(), 0)?;
    let start = find(raw, b"\r\n\r\n", at)? + 4;
    let end = find(raw, &boundary, start)?;
    Some(raw[start..end].to_vec())
}

fn ok(result: Value) -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({"ok": true, "result": result})))
}

fn bot_message(f: &FakeTelegram, chat: &Value, extra: Value) -> Value {
    let mut id = f.next_id.lock().unwrap();
    *id += 1;
    let mut m = json!({"message_id": *id, "date": 0, "chat": {"id": chat, "type": "private", "first_name": "User"},
                       "from": {"id": 777, "is_bot": true, "first_name": "Reelforge"}});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

/// The `media` list of a sendMediaGroup call (a JSON body, or the field of a multipart form).
pub fn media_of(body: &Value) -> Vec<Value> {
    match body {
        Value::String(form) => form_field(form, "media")
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        other => other["media"].as_array().cloned().unwrap_or_default(),
    }
}

/// The value of a multipart form field.
pub fn form_field(form: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = form.find(&marker)?;
    let rest = &form[at + marker.len()..];
    let start = rest.find("\r\n\r\n")? + 4;
    let end = rest[start..].find("\r\n--")?;
    Some(rest[start..start + end].to_string())
}

async fn api(
    State(f): State<Arc<FakeTelegram>>,
    Path((_token, method)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    let method = method.to_ascii_lowercase();
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).to_string()));
    if method == "sendvoice" {
        // teloxide names the file part `attach://<id>` in the `voice` field.
        let audio = form_file(&raw, "voice").and_then(|v| {
            match String::from_utf8_lossy(&v).strip_prefix("attach://") {
                Some(id) => form_file(&raw, id),
                None => Some(v),
            }
        });
        if let Some(audio) = audio {
            f.voices.lock().unwrap().push(audio);
        }
    }
    if method != "getupdates" {
        f.calls
            .lock()
            .unwrap()
            .push((method.clone(), body.clone(), Instant::now()));
    }
    let chat_of = |b: &Value| match b {
        Value::String(form) => form_field(form, "chat_id")
            .and_then(|c| c.parse::<i64>().ok())
            .map(Value::from)
            .unwrap_or(Value::from(0)),
        other => other["chat_id"].clone(),
    };
    let to_blocked = method.starts_with("send")
        && chat_of(&body)
            .as_i64()
            .is_some_and(|c| f.blocked.lock().unwrap().contains(&c));
    if to_blocked {
        return (
            StatusCode::FORBIDDEN,
            Json(
                json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            ),
        );
    }
    match method.as_str() {
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
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            f.updates
                .lock()
                .unwrap()
                .retain(|u| u["update_id"].as_i64().unwrap() >= offset);
            ok(Value::Array(ready))
        }
        "sendmessage" => {
            let chat = chat_of(&body);
            ok(bot_message(&f, &chat, json!({"text": body["text"]})))
        }
        "editmessagetext" => {
            if f.edits_to_refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(
                        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
                    ),
                );
            }
            let chat = chat_of(&body);
            let mut m = bot_message(&f, &chat, json!({"text": body["text"]}));
            m["message_id"] = body["message_id"].clone();
            ok(m)
        }
        "sendvideo" => {
            let delay = f.video_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if f.refuse_videos.load(Ordering::SeqCst) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(
                        json!({"ok": false, "error_code": 400, "description": "Bad Request: wrong file identifier/HTTP URL specified"}),
                    ),
                );
            }
            let chat = chat_of(&body);
            ok(bot_message(
                &f,
                &chat,
                json!({"video": {"file_id": "BAACAgIAAx-video", "file_unique_id": "u1", "width": 720, "height": 1280, "duration": 8, "mime_type": "video/mp4", "file_size": 1048576}}),
            ))
        }
        "sendphoto" | "editmessagemedia" => {
            let chat = chat_of(&body);
            ok(bot_message(
                &f,
                &chat,
                json!({"photo": [{"file_id": "AgAD-photo", "file_unique_id": "p1", "width": 320, "height": 320, "file_size": 20000}]}),
            ))
        }
        "sendmediagroup" => {
            let chat = chat_of(&body);
            // Multipart bodies carry the media list as a JSON string.
            let media = media_of(&body);
            let messages: Vec<Value> = media
                .iter()
                .map(|_| {
                    bot_message(
                        &f,
                        &chat,
                        json!({"photo": [{"file_id": "AgAD-photo", "file_unique_id": "p1", "width": 320, "height": 320, "file_size": 20000}]}),
                    )
                })
                .collect();
            ok(Value::Array(messages))
        }
        "senddocument" | "sendvoice" => {
            let chat = chat_of(&body);
            ok(bot_message(
                &f,
                &chat,
                json!({"document": {"file_id": "BQAD-doc", "file_unique_id": "d1", "file_size": 1000}}),
            ))
        }
        "getfile" => {
            let id = body["file_id"].as_str().unwrap_or("").to_string();
            let size = f.files.lock().unwrap().get(&id).map(Vec::len);
            match size {
                Some(size) => ok(
                    json!({"file_id": id, "file_unique_id": format!("u-{id}"), "file_size": size, "file_path": format!("files/{id}")}),
                ),
                None => (
                    StatusCode::BAD_REQUEST,
                    Json(
                        json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"}),
                    ),
                ),
            }
        }
        _ => ok(json!(true)),
    }
}

async fn download(
    State(f): State<Arc<FakeTelegram>>,
    Path((_token, path)): Path<(String, String)>,
) -> (StatusCode, Vec<u8>) {
    let id = path.trim_start_matches("files/");
    match f.files.lock().unwrap().get(id) {
        Some(bytes) => (StatusCode::OK, bytes.clone()),
        None => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

impl FakeTelegram {
    /// Starts the server on a free local port; returns it and the URL for teloxide.
    pub async fn start() -> (Arc<Self>, String) {
        let fake = Arc::new(Self::default());
        *fake.next_update.lock().unwrap() = 1;
        let app = Router::new()
            // Telegram takes files up to 50 MB, up to ten in an album.
            .route(
                "/{token}/{method}",
                post(api).layer(axum::extract::DefaultBodyLimit::max(500 * 1024 * 1024)),
            )
            .route("/file/{token}/{path}", get(download))
            .fallback(|uri: axum::http::Uri| async move {
                eprintln!("fake telegram: nothing at {uri}");
                StatusCode::NOT_FOUND
            })
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    fn push(&self, kind: &str, body: Value) {
        let mut n = self.next_update.lock().unwrap();
        let id = *n;
        *n += 1;
        let mut u = json!({ "update_id": id });
        u[kind] = body;
        self.updates.lock().unwrap().push_back(u);
    }

    pub fn user_json(user: i64, lang: &str) -> Value {
        json!({"id": user, "is_bot": false, "first_name": "Anna", "username": format!("user{user}"), "language_code": lang})
    }

    /// A message from `user` with `content` (text, photo, video, …).
    pub fn send(&self, user: i64, lang: &str, content: Value) {
        let mut m = json!({"message_id": 10_000 + *self.next_update.lock().unwrap(), "date": 1_700_000_000,
                           "chat": {"id": user, "type": "private", "first_name": "Anna"},
                           "from": Self::user_json(user, lang)});
        for (k, v) in content.as_object().unwrap() {
            m[k] = v.clone();
        }
        self.push("message", m);
    }

    pub fn text(&self, user: i64, text: &str) {
        let mut content = json!({ "text": text });
        if text.starts_with('/') {
            let len = text.split_whitespace().next().unwrap().len();
            content["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        self.send(user, "ru", content);
    }

    /// A photo the user sends: the bytes become downloadable under `file_id`.
    pub fn photo(&self, user: i64, file_id: &str, bytes: Vec<u8>, caption: Option<&str>) {
        let size = bytes.len();
        self.files.lock().unwrap().insert(file_id.into(), bytes);
        let mut content = json!({"photo": [{"file_id": file_id, "file_unique_id": format!("u{file_id}"), "width": 320, "height": 320, "file_size": size}]});
        if let Some(c) = caption {
            content["caption"] = json!(c);
        }
        self.send(user, "ru", content);
    }

    /// A file sent as a document (an image sent "as a file" keeps its full size).
    pub fn document(&self, user: i64, file_id: &str, bytes: Vec<u8>, mime: &str, name: &str) {
        let size = bytes.len();
        self.files.lock().unwrap().insert(file_id.into(), bytes);
        self.send(
            user,
            "ru",
            json!({"document": {"file_id": file_id, "file_unique_id": format!("u{file_id}"), "file_name": name, "mime_type": mime, "file_size": size}}),
        );
    }

    /// A video message; `claimed_size` is what Telegram reports (the bytes may be smaller).
    pub fn video(&self, user: i64, file_id: &str, bytes: Vec<u8>, claimed_size: usize) {
        self.files.lock().unwrap().insert(file_id.into(), bytes);
        self.send(
            user,
            "ru",
            json!({"video": {"file_id": file_id, "file_unique_id": format!("u{file_id}"), "width": 720, "height": 1280, "duration": 5, "mime_type": "video/mp4", "file_size": claimed_size}}),
        );
    }

    /// A press on an inline button of message `message_id`.
    pub fn press(&self, user: i64, data: &str, message_id: i64) {
        self.press_as(user, "ru", data, message_id);
    }

    /// A button pressed by a user whose Telegram speaks `lang`.
    pub fn press_as(&self, user: i64, lang: &str, data: &str, message_id: i64) {
        let n = *self.next_update.lock().unwrap();
        self.push(
            "callback_query",
            json!({"id": format!("cb{n}"), "from": Self::user_json(user, lang), "chat_instance": "ci", "data": data,
                   "message": {"message_id": message_id, "date": 1_700_000_000, "chat": {"id": user, "type": "private", "first_name": "Anna"},
                               "from": {"id": 777, "is_bot": true, "first_name": "Reelforge"}, "text": "…"}}),
        );
    }

    pub fn calls_of(&self, method: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, ..)| m == method)
            .map(|(_, b, _)| b.clone())
            .collect()
    }

    /// How many `sendVideo` uploads reached `chat`.
    pub fn videos_to(&self, chat: i64) -> usize {
        self.calls_of("sendvideo")
            .iter()
            .filter(|b| {
                b.as_str()
                    .and_then(|form| form_field(form, "chat_id"))
                    .and_then(|c| c.parse::<i64>().ok())
                    == Some(chat)
            })
            .count()
    }

    /// The last text an `editMessageText` put into message `message_id`.
    pub fn last_edit_of(&self, message_id: i64) -> Option<String> {
        self.calls_of("editmessagetext")
            .iter()
            .rev()
            .find(|b| b["message_id"].as_i64() == Some(message_id))
            .map(|b| b["text"].as_str().unwrap_or("").to_string())
    }

    /// Texts sent or edited into `chat`, in order.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, ..)| m == "sendmessage" || m == "editmessagetext")
            .filter(|(_, b, _)| b["chat_id"].as_i64() == Some(chat))
            .map(|(_, b, _)| b["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Waits until a text containing `needle` reached `chat`; returns all texts so far.
    pub async fn wait_text(&self, chat: i64, needle: &str) -> Vec<String> {
        // Generous: the whole suite shares two cores, and this returns as soon as it is there.
        for _ in 0..2400 {
            let texts = self.texts_to(chat);
            if texts.iter().any(|t| t.contains(needle)) {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no text with '{needle}' to {chat}: {:?}",
            self.texts_to(chat)
        );
    }

    /// Waits for a call of `method` matching `pred`.
    pub async fn wait_call(&self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..2400 {
            if let Some(v) = self.calls_of(method).into_iter().find(|b| pred(b)) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no {method} call matched; calls: {:?}",
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|(m, b, _)| format!(
                    "{m} {}",
                    b.to_string().chars().take(200).collect::<String>()
                ))
                .collect::<Vec<_>>()
        );
    }

    /// Button callback data in the last sendMessage/editMessageText to `chat`.
    /// The data of the newest button sent to `chat` whose data starts with `prefix` (the
    /// order button carries its price: `u:go:1530`).
    pub fn newest_button(&self, chat: i64, prefix: &str) -> String {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|(m, b, _)| with_buttons_to(m, b, chat))
            .flat_map(|(_, b, _)| buttons_of(b))
            .filter_map(|b| b.split_once('|').map(|(_, d)| d.to_string()))
            .find(|d| d.starts_with(prefix))
            .unwrap_or_else(|| panic!("no button '{prefix}…' to {chat}"))
    }

    pub fn last_buttons(&self, chat: i64) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(m, b, _)| with_buttons_to(m, b, chat))
            .map(|(_, b, _)| buttons_of(b))
            .unwrap_or_default()
    }
}

/// Whether a call sends or edits a message with buttons to `chat` (a JSON or multipart body).
fn with_buttons_to(method: &str, body: &Value, chat: i64) -> bool {
    matches!(method, "sendmessage" | "editmessagetext" | "sendphoto")
        && (body["chat_id"].as_i64() == Some(chat)
            || body
                .as_str()
                .is_some_and(|f| form_field(f, "chat_id") == Some(chat.to_string())))
}

/// (text, callback data) of every button in a request body (JSON or multipart).
pub fn buttons_of(body: &Value) -> Vec<String> {
    let markup = match body {
        Value::String(form) => form_field(form, "reply_markup")
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .unwrap_or(Value::Null),
        other => other["reply_markup"].clone(),
    };
    markup["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                .map(|b| {
                    format!(
                        "{}|{}",
                        b["text"].as_str().unwrap_or(""),
                        b["callback_data"]
                            .as_str()
                            .or(b["url"].as_str())
                            .unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where workers find the fake Bot API (the token the tests use).
pub fn endpoint(url: &str) -> reelforge::bot::deliver::TelegramEndpoint {
    reelforge::bot::deliver::TelegramEndpoint {
        token: "123:TEST".into(),
        api_url: url.to_string(),
        proxy: None,
    }
}
