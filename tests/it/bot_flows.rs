//! The longer conversations against the fake Bot API: product cards (N paid jobs, a restart in
//! the middle), UGC (30 MB clip refused, background probed, gallery, voices with samples,
//! speech preview, confirm → job carrying the preview), admin commands with notifications,
//! one refusal for banned users, feedback to the admin chat, daily limits, webhook mode.
use crate::common;
use crate::dbs;
use crate::fake_tg;
use crate::harness;
use fake_tg::FakeTelegram;
use reelforge::bot::run::{make_bot, run_bot, start_bot, BotApp};
use reelforge::storage::{folder::FolderStore, Storage};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Env {
    pub(crate) fake: Arc<FakeTelegram>,
    pub(crate) url: String,
    pub(crate) db: reelforge::db::Db,
    pub(crate) storage: Arc<Storage>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) _t: dbs::TestDb,
}

pub(crate) async fn env() -> Env {
    let (fake, url) = FakeTelegram::start().await;
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::Folder(
        FolderStore::new(dir.path().join("files")).unwrap(),
    ));
    Env {
        fake,
        url,
        db: t.db.clone(),
        storage,
        dir,
        _t: t,
    }
}

impl Env {
    pub(crate) fn app(&self) -> BotApp {
        let mut app = BotApp::new(self.db.clone(), self.storage.clone());
        app.work_dir = self.dir.path().join("bot");
        app.settings.job_cooldown_s = 0;
        app.admins = vec![1];
        app.settings.admin_chat_id = Some(1);
        app
    }

    /// A user who pressed /start and then paid `tokens`.
    pub(crate) async fn member(&self, user: i64, tokens: i64) {
        self.fake.text(user, "/start");
        self.fake.wait_text(user, "Баланс").await;
        harness::pay(&self.db, user, tokens).await;
    }

    /// Runs a bot until the returned sender fires.
    pub(crate) fn run(
        &self,
        app: BotApp,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let bot = make_bot("123:TEST", &self.url, None).unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        (stop, tokio::spawn(run_bot(bot, Arc::new(app), rx)))
    }
}

/// In a UGC conversation waiting for the character: the first female gallery character, not
/// edited, then `voice` from the voice gallery, up to the script prompt.
pub(crate) async fn pick_character_and_voice(f: &FakeTelegram, chat: i64, voice: &str) {
    f.press(chat, "u:g:female", 4);
    f.wait_call("sendphoto", |_| true).await;
    f.press(chat, "u:pick:0", 5);
    f.wait_text(chat, "Изменить персонажа").await;
    f.press(chat, "u:e:no", 6);
    f.wait_text(chat, "Выберите голос").await;
    f.press(chat, &format!("u:v:{voice}"), 7);
    f.wait_text(chat, "до 300 символов").await;
}

pub(crate) async fn stop(
    s: (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ),
) {
    s.0.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.1)
        .await
        .unwrap()
        .unwrap();
}

pub(crate) async fn jobs(db: &reelforge::db::Db) -> Vec<(String, i64, String)> {
    reelforge::db::jobs::all_jobs(db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| {
            let spec = serde_json::to_value(j.spec.as_ref().unwrap())
                .unwrap()
                .to_string();
            (j.kind.unwrap().name().to_string(), j.cost_tokens, spec)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_card_survives_a_restart_and_queues_n_paid_jobs() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(42, 5000).await;
    f.text(42, "/product");
    f.wait_text(42, "Пришлите фото товара").await;
    f.photo(42, "mug", std::fs::read(common::ASTRONAUT).unwrap(), None);
    f.wait_text(42, "Опишите товар").await;
    f.text(42, "Кружка 300 мл, керамика");
    f.wait_text(42, "Выберите шаблон").await;
    let templates = f.last_buttons(42);
    assert!(
        templates.contains(&"Студия, мягкий свет|p:t:studio".to_string()),
        "{templates:?}"
    );

    // The process restarts in the middle of the conversation: nothing is lost.
    stop(running).await;
    let running = e.run(e.app());
    f.press(42, "p:t:studio", 3);
    f.wait_text(42, "пожелания").await;
    assert_eq!(f.last_buttons(42), vec!["Пропустить|p:skip"]);
    f.press(42, "p:skip", 4);
    f.wait_text(42, "Сколько роликов").await;
    let unit = common::video_price("fast", 8);
    assert_eq!(
        f.last_buttons(42),
        [1, 2, 3, 5]
            .map(|q| format!("{q} · {}|p:q:{q}", unit * q))
            .to_vec()
    );
    f.press(42, "p:q:2", 5);
    let card = f.wait_text(42, "Проверьте заказ").await;
    let card = card.last().unwrap();
    for part in [
        "Кружка 300 мл".to_string(),
        "Студия, мягкий свет".to_string(),
        "Количество: 2".to_string(),
        format!("{} токенов", unit * 2),
    ] {
        assert!(card.contains(&part), "{part} in {card}");
    }
    f.press(42, "p:go", 6);
    f.wait_text(42, "В очереди: место 2").await;
    let queued = jobs(&e.db).await;
    assert_eq!(queued.len(), 2);
    assert!(queued
        .iter()
        .all(|(k, c, p)| k == "product_video" && *c == unit && p.contains("studio")));
    assert_eq!(
        reelforge::db::ledger::balance_of(&e.db, 42).await.unwrap(),
        5100 - unit * 2
    );
    // A stale confirmation button does nothing twice.
    f.press(42, "p:go", 6);
    f.wait_call("answercallbackquery", |b| b["show_alert"] == json!(true))
        .await;
    assert_eq!(jobs(&e.db).await.len(), 2);
    // Not enough for 5: nothing is queued and /buy is offered.
    f.text(43, "/start");
    f.wait_text(43, "Баланс").await;
    f.photo(43, "mug2", std::fs::read(common::ASTRONAUT).unwrap(), None);
    f.wait_text(43, "Что сделать").await;
    f.press(43, "pa:prod", 7);
    f.wait_text(43, "Опишите товар").await;
    f.text(43, "Чайник");
    f.wait_text(43, "шаблон").await;
    f.press(43, "p:t:dynamic", 8);
    f.wait_text(43, "пожелания").await;
    f.text(43, "побольше красного");
    f.wait_text(43, "Сколько").await;
    f.press(43, "p:q:5", 9);
    f.wait_text(43, "побольше красного").await;
    f.press(43, "p:go", 10);
    f.wait_text(43, "нужно 3710, на балансе 100").await;
    assert_eq!(jobs(&e.db).await.len(), 2);
    // The card's settings, as text-to-video's: quality, 4 s, horizontal — the card is edited
    // in place with the new price, and the jobs carry the settings.
    f.press(43, "p:tier:quality", 10);
    f.press(43, "p:sec:4", 10);
    f.press(43, "p:or:h", 10);
    let quality4 = common::video_price("quality", 4);
    f.wait_text(43, "quality, 4 с, 1280x720").await;
    f.wait_text(43, &format!("{} токенов", quality4 * 5)).await;
    harness::pay(&e.db, 43, quality4 * 5).await;
    f.press(43, "p:go", 10);
    f.wait_text(43, "В очереди").await;
    let queued = jobs(&e.db).await;
    assert_eq!(queued.len(), 7);
    assert!(
        queued[2..].iter().all(|(_, c, p)| *c == quality4
            && p.contains("\"tier\":\"quality\"")
            && p.contains("\"seconds\":4")
            && p.contains("1280x720")),
        "{queued:?}"
    );
    stop(running).await;
}

pub(crate) fn small_clip(dir: &std::path::Path) -> Vec<u8> {
    let path = common::background(dir, "bg.mp4", 360, 640, 3.0, 30);
    std::fs::read(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugc_conversation_checks_the_clip_previews_the_speech_and_queues_the_job() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(42, 5000).await;
    f.text(42, "/create");
    f.wait_text(42, "Какой ролик").await;
    f.press(42, "u:f:bg", 3);
    f.wait_text(42, "не длиннее 15 секунд").await;
    // A 30 MB video is refused before any download; a broken one after probing.
    f.video(42, "big", vec![0; 16], 30 * 1024 * 1024);
    f.wait_text(42, "30 МБ, а можно не больше 20 МБ").await;
    f.video(42, "junk", b"definitely not a video".to_vec(), 22);
    f.wait_text(42, "Не получается открыть видео").await;
    let long = common::background(e.dir.path(), "long.mp4", 160, 284, 17.0, 10);
    f.video(42, "long", std::fs::read(long).unwrap(), 1000);
    f.wait_text(42, "длиннее 15 секунд (17 с)").await;
    f.video(42, "bg", small_clip(e.dir.path()), 1000);
    f.wait_text(42, "Выберите персонажа").await;
    f.press(42, "u:g:female", 4);
    let photo = f.wait_call("sendphoto", |_| true).await;
    let gallery = fake_tg::buttons_of(&photo);
    assert!(
        gallery.iter().any(|b| b.ends_with("u:pick:0")),
        "{gallery:?}"
    );
    f.press(42, "u:pick:0", 5);
    f.wait_text(42, "Изменить персонажа").await;
    assert_eq!(
        f.last_buttons(42),
        vec!["✏️ Изменить — 60|u:e:yes", "➡️ Дальше|u:e:no"]
    );
    f.press(42, "u:e:no", 6);
    f.wait_text(42, "Выберите голос").await;
    let voices = f.last_buttons(42);
    assert!(
        voices.contains(&"▶ Алина (ru)|u:vs:ru+f3".to_string()),
        "{voices:?}"
    );
    assert!(
        voices.iter().any(|b| b.ends_with("u:vp:1")),
        "pages: {voices:?}"
    );
    f.press(42, "u:vp:1", 7);
    let texts = f.wait_text(42, "страница 2/2").await;
    assert!(texts.last().unwrap().contains("2/2"));
    f.press(42, "u:vs:ru+f3", 7);
    f.wait_call("sendvoice", |_| true).await;
    f.press(42, "u:v:ru+f3", 7);
    f.wait_text(42, "до 300 символов").await;
    f.text(42, &"слово ".repeat(80));
    f.wait_text(42, "Текст слишком длинный").await;
    // A first script, previewed and then changed: that preview is never ordered.
    f.text(42, "Первый вариант текста, который передумали.");
    f.wait_text(42, "Стоимость ролика").await;
    let abandoned = reelforge::db::cache::expiring_keys(&e.db, "expiring:voices/")
        .await
        .unwrap();
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    f.press(42, "u:v:ru+f3", 8);
    f.wait_text(42, "до 300 символов").await;
    f.text(42, "Привет! Это наш новый магазин, заходите.");
    // The second confirmation (after the second preview) carries the price to compare.
    let confirms = || {
        f.texts_to(42)
            .into_iter()
            .filter(|t| t.contains("Стоимость ролика"))
            .collect::<Vec<_>>()
    };
    common::wait_until(
        "the second confirmation",
        std::time::Duration::from_secs(30),
        || async { confirms().len() == 2 },
    )
    .await;
    let confirm = confirms().pop().unwrap();
    assert_eq!(
        f.calls_of("sendvoice").len(),
        3,
        "a sample and two speech previews, as voice messages"
    );
    assert!(f.calls_of("senddocument").is_empty());
    // Each is Ogg Opus that plays, as long as its speech, with that duration in the message.
    let voices = f.voices.lock().unwrap().clone();
    assert_eq!(voices.len(), 3);
    for (i, (audio, call)) in voices.iter().zip(f.calls_of("sendvoice")).enumerate() {
        let path = e.dir.path().join(format!("voice{i}.ogg"));
        std::fs::write(&path, audio).unwrap();
        let probe = common::ffprobe(&path);
        let stream = common::stream(&probe, "audio");
        assert_eq!(stream["codec_name"], "opus", "{probe}");
        assert_eq!(probe["format"]["format_name"], "ogg", "{probe}");
        let seconds = common::num(&probe["format"]["duration"]);
        assert!(seconds > 0.5, "{seconds}");
        let said = call["duration"]
            .as_u64()
            .or_else(|| {
                crate::fake_tg::form_field(call.as_str().unwrap_or(""), "duration")
                    .and_then(|d| d.parse().ok())
            })
            .unwrap();
        assert_eq!(said, seconds.ceil() as u64, "{seconds}");
    }
    f.press(42, &f.newest_button(42, "u:go:"), 9);
    f.wait_text(42, "В очереди").await;
    let queued = jobs(&e.db).await;
    assert_eq!(queued.len(), 1);
    let (kind, cost, params) = &queued[0];
    assert_eq!(kind, "ugc_video");
    assert!(
        confirm.contains(&format!("{cost} токенов")),
        "{confirm} vs {cost}"
    );
    let params: serde_json::Value = serde_json::from_str(params).unwrap();
    assert!(params["background"]
        .as_str()
        .unwrap()
        .starts_with("backgrounds/"));
    assert!(params["portrait"]
        .as_str()
        .unwrap()
        .starts_with("characters/"));
    assert_eq!(params["language"], "ru+f3");
    let carried = reelforge::db::jobs::all_jobs(&e.db).await.unwrap()[0]
        .checkpoints
        .to_json();
    assert!(
        carried.contains("voices/"),
        "the previewed speech is reused: {carried}"
    );
    // Previews expire with the cache: once their time is up the abandoned one is deleted,
    // the one the job carries stays.
    let kept = reelforge::db::cache::expiring_keys(&e.db, "expiring:voices/")
        .await
        .unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for key in &kept {
        reelforge::db::cache::expire(&e.db, key).await.unwrap();
    }
    let object = |k: &str| k.trim_start_matches("expiring:").to_string();
    let abandoned = object(&abandoned[0]);
    let ordered = kept
        .iter()
        .map(|k| object(k))
        .find(|k| *k != abandoned)
        .unwrap();
    assert!(carried.contains(&ordered), "{carried} vs {ordered}");
    assert!(
        reelforge::storage::ObjectStore::exists(e.storage.as_ref(), &abandoned)
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        reelforge::storage::cache::cleanup_expired(&e.db, e.storage.as_ref())
            .await
            .unwrap(),
        2
    );
    assert!(
        !reelforge::storage::ObjectStore::exists(e.storage.as_ref(), &abandoned)
            .await
            .unwrap(),
        "expired preview deleted"
    );
    assert!(
        reelforge::storage::ObjectStore::exists(e.storage.as_ref(), &ordered)
            .await
            .unwrap(),
        "the job's preview kept"
    );
    // /resume while it waits says where it is; /overlay needs a finished video.
    f.text(42, "/resume");
    f.wait_text(42, "ещё в работе").await;
    f.text(42, "/overlay");
    f.wait_text(42, "Пока нет готового UGC-ролика").await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_checks_the_secret_token() {
    let e = env().await;
    let f = &e.fake;
    let mut app = e.app();
    app.settings.webhook_url = Some("https://bot.example.com/telegram/hook".into());
    app.settings.webhook_secret = Some("s3cr3t-token".into());
    let bot = make_bot("123:TEST", &e.url, None).unwrap();
    let (stop_tx, rx) = tokio::sync::watch::channel(false);
    let running = start_bot(bot, Arc::new(app), rx).await.unwrap();
    let set = f.wait_call("setwebhook", |_| true).await;
    let field = |name: &str| match &set {
        serde_json::Value::String(form) => fake_tg::form_field(form, name),
        other => other[name].as_str().map(String::from),
    };
    assert_eq!(
        field("url").as_deref(),
        Some("https://bot.example.com/telegram/hook")
    );
    assert_eq!(field("secret_token").as_deref(), Some("s3cr3t-token"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = running.webhook.unwrap();
    // As in `serve`: the HTTP server stops with the bot, which ends the webhook's update stream.
    let mut server_stop = stop_tx.subscribe();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = server_stop.changed().await;
            })
            .await
            .unwrap()
    });
    let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000,
        "chat": {"id": 42, "type": "private", "first_name": "Anna"},
        "from": FakeTelegram::user_json(42, "ru"), "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}});
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/telegram/hook");
    let forged = http
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "wrong")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    let real = http
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cr3t-token")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert!(real.status().is_success());
    let texts = f.wait_text(42, "Что я умею").await;
    assert_eq!(texts.len(), 1, "only the genuine update was answered");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_in_the_middle_of_a_job_keeps_its_progress_message() {
    let e = env().await;
    let f = &e.fake;
    // The first process takes the order and stops before any worker ran.
    let first = e.run(e.app());
    e.member(42, 1000).await;
    f.text(42, "/generate маяк");
    f.wait_text(42, &format!("Цена: {}", common::video_price("fast", 8)))
        .await;
    f.press(42, "v:go", 1000);
    f.wait_text(42, "В очереди").await;
    stop(first).await;

    // The restarted process (bot + worker) finishes the job and edits the same message.

    let second = e.run(e.app());
    let mut services = harness::services(
        &e.db,
        e.dir.path(),
        Arc::new(
            reelforge::bot::deliver::TelegramDeliver::new(fake_tg::endpoint(&e.url), e.db.clone())
                .unwrap(),
        ),
    );
    services.storage = e.storage.clone();
    let (wstop, worker) = harness::spawn_worker(&e.db, services, 1);
    f.wait_text(42, "✅ Готово!").await;
    let done = f
        .calls_of("editmessagetext")
        .into_iter()
        .find(|b| b["text"].as_str().unwrap().contains("Готово"))
        .unwrap();
    assert_eq!(done["chat_id"], 42);
    let ids: Vec<i64> = f
        .calls_of("editmessagetext")
        .iter()
        .filter(|b| b["message_id"] != json!(1000))
        .map(|b| b["message_id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one progress message: {ids:?}"
    );
    let job = reelforge::db::jobs::all_jobs(&e.db).await.unwrap()[0].id;
    let (_, stored) = reelforge::db::progress::message_of(&e.db, job)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids[0], stored, "the message the first process sent");
    f.wait_call("sendvideo", |_| true).await;
    wstop.send(true).unwrap();
    worker.await.unwrap();
    stop(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_spaces_paid_jobs() {
    let e = env().await;
    let f = &e.fake;
    let mut app = e.app();
    app.settings.job_cooldown_s = 60;
    let running = e.run(app);
    e.member(42, 5000).await;
    f.text(42, "/generate кот");
    f.wait_text(42, "«кот»").await;
    f.press(42, "v:go", 1000);
    f.wait_text(42, "В очереди").await;
    f.text(42, "/generate собака");
    f.wait_text(42, "«собака»").await;
    f.press(42, "v:go", 1001);
    let texts = f.wait_text(42, "Слишком часто").await;
    let wait: i64 = texts
        .last()
        .unwrap()
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!((55..=60).contains(&wait), "{texts:?}");
    assert_eq!(jobs(&e.db).await.len(), 1);
    stop(running).await;
}
