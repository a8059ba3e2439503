//! `reelforge bench-bot`: how fast the bot answers `/start` from new users. A local stand-in
//! for the Bot API (long polling, as Telegram serves it) feeds `/start` messages from
//! different users to the real bot (real handlers, real database): a steady stream
//! (`--updates` at `--rate` per second), or bursts (`--burst 50 --bursts 4`: 50 users pressing
//! a channel post's deep link in the same instant, `--burst-gap-ms` apart). The time from an
//! update being available to the bot's first reply to that user is the latency. Prints
//! p50 / p99 / max. Used by `make bench`.
use super::CliError;
use axum::extract::{Path, State};
use axum::Json;
use clap::Args;
use reelforge::bot::app::BotApp;
use reelforge::bot::run::{make_bot, run_bot};
use reelforge::db::Db;
use reelforge::storage::{folder::FolderStore, Storage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchBotArgs {
    /// Database to use (a throw-away SQLite file by default).
    #[arg(long)]
    database_url: Option<String>,
    /// `/start` messages to send, each from a new user.
    #[arg(long, default_value_t = 2000)]
    updates: usize,
    /// Messages per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Instead of a stream: this many users press /start in the same instant...
    #[arg(long)]
    burst: Option<usize>,
    /// ...this many times...
    #[arg(long, default_value_t = 4)]
    bursts: usize,
    /// ...this many milliseconds apart.
    #[arg(long, default_value_t = 300)]
    burst_gap_ms: u64,
}

/// When each user's /start is made available: a stream or bursts.
fn schedule(a: &BenchBotArgs) -> Vec<Duration> {
    match a.burst {
        Some(n) => (0..a.bursts)
            .flat_map(|b| std::iter::repeat_n(Duration::from_millis(a.burst_gap_ms * b as u64), n))
            .collect(),
        None => {
            let gap = Duration::from_secs_f64(1.0 / f64::from(a.rate));
            (0..a.updates).map(|i| gap * i as u32).collect()
        }
    }
}

/// The Bot API stand-in: updates waiting to be fetched, and when each was made available
/// and first answered.
#[derive(Default)]
struct FakeApi {
    pending: Mutex<Vec<Value>>,
    arrived: tokio::sync::Notify,
    offered: Mutex<HashMap<i64, Instant>>,
    answered: Mutex<HashMap<i64, Instant>>,
    next_message: Mutex<i64>,
}

async fn api(
    State(f): State<Arc<FakeApi>>,
    Path((_token, method)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> Json<Value> {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let method = method.to_ascii_lowercase();
    if method == "getupdates" {
        let offset = body["offset"].as_i64().unwrap_or(0);
        let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0).min(1));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = f.arrived.notified();
            let ready: Vec<Value> = {
                let mut pending = f.pending.lock().unwrap_or_else(|e| e.into_inner());
                pending.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                pending.iter().take(100).cloned().collect()
            };
            if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
                return Json(json!({"ok": true, "result": ready}));
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
    if method.starts_with("send") {
        if let Some(chat) = body["chat_id"].as_i64() {
            let mut answered = f.answered.lock().unwrap_or_else(|e| e.into_inner());
            answered.entry(chat).or_insert_with(Instant::now);
        }
    }
    let result = match method.as_str() {
        "getme" => {
            json!({"id": 777, "is_bot": true, "first_name": "Reelforge", "username": "reelforge_bot",
                   "can_join_groups": false, "can_read_all_group_messages": false,
                   "supports_inline_queries": false, "has_main_web_app": false})
        }
        m if m.starts_with("send") || m.starts_with("edit") => {
            let mut id = f.next_message.lock().unwrap_or_else(|e| e.into_inner());
            *id += 1;
            json!({"message_id": *id, "date": 0,
                   "chat": {"id": body["chat_id"].clone(), "type": "private", "first_name": "User"},
                   "from": {"id": 777, "is_bot": true, "first_name": "Reelforge"},
                   "text": body["text"].clone()})
        }
        _ => json!(true),
    };
    Json(json!({"ok": true, "result": result}))
}

impl FakeApi {
    fn offer_start(&self, update_id: i64, user: i64) {
        self.offer_starts([(update_id, user)]);
    }

    /// Makes `/start` updates (update id, user) available together.
    fn offer_starts(&self, starts: impl IntoIterator<Item = (i64, i64)>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut offered = self.offered.lock().unwrap_or_else(|e| e.into_inner());
        for (update_id, user) in starts {
            pending.push(json!({"update_id": update_id, "message": {
                "message_id": update_id, "date": 1_700_000_000, "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                "chat": {"id": user, "type": "private", "first_name": "User"},
                "from": {"id": user, "is_bot": false, "first_name": "User", "language_code": "ru"}}}));
            offered.insert(user, Instant::now());
        }
        drop((pending, offered));
        self.arrived.notify_waiters();
    }
}

pub fn run(a: BenchBotArgs) -> Result<(), CliError> {
    if a.updates == 0 || a.rate == 0 || a.burst == Some(0) || a.bursts == 0 {
        return Err(CliError::BadInput(
            "--updates, --rate, --burst and --bursts must be at least 1.".into(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("reelforge-bench-bot-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = a
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::Internal(e.to_string()))?;
    let result = rt.block_on(bench(a, url, dir.clone()));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench(a: BenchBotArgs, url: String, dir: std::path::PathBuf) -> Result<(), CliError> {
    let internal = |e: &dyn std::fmt::Display| CliError::Internal(e.to_string());
    let db = Db::connect(&url)
        .await
        .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    let store = FolderStore::new(dir.join("files")).map_err(|e| internal(&e))?;
    let mut app = BotApp::new(db, Arc::new(Storage::Folder(store)));
    app.work_dir = dir.join("work");
    let fake = Arc::new(FakeApi::default());
    let router = axum::Router::new()
        .route("/{token}/{method}", axum::routing::post(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let bot = make_bot("1:BENCH", &api_url, None).map_err(|e| internal(&e))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(run_bot(bot, Arc::new(app), rx));

    // Users start at a fresh id range per run, so every /start is a new user (the database
    // may be a shared PostgreSQL).
    let base = 1_000_000_000 + i64::from(std::process::id()) * 100_000;
    let wait_for = |users: Vec<i64>, limit: Duration| {
        let fake = fake.clone();
        async move {
            let until = Instant::now() + limit;
            while Instant::now() < until {
                let done = {
                    let answered = fake.answered.lock().unwrap_or_else(|e| e.into_inner());
                    users.iter().all(|u| answered.contains_key(u))
                };
                if done {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        }
    };
    // Warm-up: one conversation, so connections and statements are ready.
    fake.offer_start(1, base);
    if !wait_for(vec![base], Duration::from_secs(30)).await {
        return Err(CliError::Internal(
            "the bot did not answer the warm-up /start".into(),
        ));
    }
    let started = Instant::now();
    let at = schedule(&a);
    let users: Vec<i64> = (1..=at.len() as i64).map(|i| base + i).collect();
    let mut i = 0;
    while i < users.len() {
        tokio::time::sleep_until((started + at[i]).into()).await;
        // Every update due now is offered at once (a burst arrives in one getUpdates).
        let due: Vec<i64> = (i..users.len())
            .take_while(|j| at[*j] <= started.elapsed())
            .map(|j| j as i64)
            .collect();
        fake.offer_starts(due.iter().map(|j| (2 + j, users[*j as usize])));
        i += due.len().max(1);
    }
    let all = wait_for(users.clone(), Duration::from_secs(60)).await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    let (offered, answered) = (
        fake.offered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        fake.answered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    );
    let mut ms: Vec<f64> = users
        .iter()
        .filter_map(|u| Some((*answered.get(u)? - *offered.get(u)?).as_secs_f64() * 1000.0))
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    if ms.is_empty() {
        return Err(CliError::Internal("no /start was answered".into()));
    }
    let load = match a.burst {
        Some(n) => format!(
            "{} bursts of {n} new users {} ms apart",
            a.bursts, a.burst_gap_ms
        ),
        None => format!("{} new users at {}/s", a.updates, a.rate),
    };
    println!(
        "bot /start, {} database: {load}: first reply p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}",
        url.split(':').next().unwrap_or("?"),
        at(0.5),
        at(0.99),
        ms[ms.len() - 1],
        if all {
            String::new()
        } else {
            format!(" ({} unanswered)", users.len() - ms.len())
        }
    );
    Ok(())
}
