//! The bot end to end against a fake Telegram Bot API server (real HTTP on 127.0.0.1, teloxide
//! pointed at it with `set_api_url`) and real workers with the offline providers: /start,
//! /balance, /buy, the video settings with prices → job → one progress message edited in place
//! (429 honoured) → sendVideo with its buttons → /history; image-to-video; a refused delivery
//! refunded once; stale buttons and unexpected inputs.
use crate::common;
use crate::dbs;
use crate::fake_tg;
use crate::harness;
use fake_tg::{buttons_of, FakeTelegram};
use reelforge::bot::deliver::TelegramDeliver;
use reelforge::bot::run::{make_bot, run_bot, BotApp};
use reelforge::storage::{folder::FolderStore, Storage};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub struct Running {
    pub fake: Arc<FakeTelegram>,
    pub db: reelforge::db::Db,
    stop: tokio::sync::watch::Sender<bool>,
    worker_stops: Vec<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _t: dbs::TestDb,
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        for w in &self.worker_stops {
            w.send(true).unwrap();
        }
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("stops")
                .unwrap();
        }
    }
}

/// The bot (and, with `workers`, one worker delivering through it) on a fresh SQLite database.
async fn start(workers: bool, adjust: impl FnOnce(&mut BotApp)) -> Running {
    let (fake, url) = FakeTelegram::start().await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::Folder(
        FolderStore::new(dir.path().join("files")).unwrap(),
    ));
    let bot = make_bot("123:TEST", &url, None).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut worker_stops = Vec::new();
    let mut app = BotApp::new(db.clone(), storage.clone());
    app.work_dir = dir.path().join("bot");
    app.settings.job_cooldown_s = 0;
    adjust(&mut app);
    let mut tasks = vec![tokio::spawn(run_bot(bot.clone(), Arc::new(app), rx))];
    if workers {
        // The worker delivers through the same bot; its store is the bot's.
        let mut services = harness::services(
            &db,
            dir.path(),
            Arc::new(TelegramDeliver::new(fake_tg::endpoint(&url), db.clone()).unwrap()),
        );
        services.storage = storage;
        let (worker_stop, worker) = harness::spawn_worker(&db, services, 1);
        tasks.push(worker);
        worker_stops.push(worker_stop);
    }
    Running {
        fake,
        db,
        stop,
        worker_stops,
        tasks,
        _dir: dir,
        _t: t,
    }
}

async fn jobs(db: &reelforge::db::Db) -> Vec<(i64, String, i64, String)> {
    reelforge::db::jobs::all_jobs(db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| {
            let kind = j.kind.map(|k| k.name()).unwrap_or("?").to_string();
            (j.id, kind, j.cost_tokens, j.state.name().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_balance_buy_and_unexpected_input_through_the_bot_api() {
    let r = start(false, |app| {
        app.settings.kaspi_phone = Some("+7 700 000 00 00".into());
        app.settings.admin_chat_id = Some(1);
    })
    .await;
    let f = &r.fake;
    f.text(42, "/start");
    let texts = f.wait_text(42, "Баланс: 100").await;
    assert!(
        texts[0].contains("Привет, Anna") && texts[0].contains("бонус: 100"),
        "{texts:?}"
    );
    assert!(
        f.last_buttons(42).iter().any(|b| b.ends_with("|buy")),
        "menu buttons"
    );
    f.text(42, "/start");
    f.text(42, "/balance");
    let texts = f.wait_text(42, "приветственный бонус").await;
    assert_eq!(
        texts.iter().filter(|t| t.contains("бонус: 100")).count(),
        1,
        "bonus only once: {texts:?}"
    );

    f.text(42, "/buy");
    f.wait_text(42, "Выберите пакет").await;
    let packs = f.last_buttons(42);
    let biggest = &common::prices().packs[3];
    let label = format!(
        "{} — {} ₸ (−{}%)|pay:p:3",
        biggest.tokens,
        biggest.price_kzt,
        biggest.discount_percent()
    );
    assert!(packs.contains(&label), "{label} in {packs:?}");
    f.press(42, "pay:p:1", 5);
    f.wait_text(42, "Как оплатить").await;
    assert_eq!(
        f.last_buttons(42),
        vec!["🟥 Kaspi|pay:k:1"],
        "no Stripe key: Kaspi only"
    );
    f.press(42, "pay:k:1", 6);
    let texts = f.wait_text(42, "Kaspi на номер +7 700 000 00 00").await;
    let (pack_tokens, pack_kzt) = common::pack(1);
    assert!(
        texts.last().unwrap().contains(&format!("{pack_kzt} ₸")),
        "{texts:?}"
    );
    f.wait_text(1, "Заказ Kaspi").await;
    let orders: Vec<(String, i64, String)> = reelforge::db::orders::all_orders(&r.db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.method, o.tokens, o.status))
        .collect();
    assert_eq!(
        orders,
        vec![("kaspi".into(), pack_tokens, "pending".into())]
    );

    // Unexpected things: a dice, a PDF, a sticker, a button from an old message, a bad command.
    f.send(42, "ru", json!({"dice": {"emoji": "🎲", "value": 4}}));
    f.wait_text(42, "/help").await;
    f.send(
        42,
        "ru",
        json!({"document": {"file_id": "pdf1", "file_unique_id": "pdf1", "file_name": "price.pdf", "mime_type": "application/pdf", "file_size": 1000}}),
    );
    f.wait_text(42, "Такой файл я не обрабатываю").await;
    f.press(42, "v:go", 3);
    let answer = f
        .wait_call("answercallbackquery", |b| b["show_alert"] == json!(true))
        .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("старого сообщения"),
        "{answer}"
    );
    f.text(42, "/nonsense");
    f.wait_text(42, "Такой команды нет").await;
    assert!(jobs(&r.db).await.is_empty(), "nothing was queued");

    f.send(
        99,
        "en",
        json!({"text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}),
    );
    let english = f.wait_text(99, "Hi, Anna!").await;
    assert!(english[0].contains("welcome bonus of 100"), "{english:?}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn video_settings_with_prices_then_one_progress_message_edited_in_place() {
    let r = start(true, |_| {}).await;
    let f = &r.fake;
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    harness::pay(&r.db, 42, 5000).await;
    f.text(42, "/generate маяк на закате");
    f.wait_text(42, "«маяк на закате»").await;
    let buttons = f.last_buttons(42);
    let fast = |s| common::video_price("fast", s);
    let quality = |s| common::video_price("quality", s);
    let hd8 = common::prices()
        .video_tokens("quality", "1080p", 8)
        .unwrap();
    for expected in [
        format!("⚡ Быстро — {}|v:preset:fast", fast(8)),
        format!("💎 Качество — {}|v:preset:quality", quality(8)),
        format!("✓ Fast · {}|v:m:fast", fast(8)),
        format!("Quality 1080p · {hd8}|v:m:hd"),
        format!("4 с · {}|v:s:4", fast(4)),
        format!("✓ 8 с · {}|v:s:8", fast(8)),
        format!("12 с · {}|v:s:12", fast(12)),
        "✓ ▯ Вертикально|v:o:v".to_string(),
        format!("✅ Создать — {}|v:go", fast(8)),
    ] {
        assert!(buttons.contains(&expected), "{expected} in {buttons:?}");
    }
    // Choices edit the same message; the price follows.
    f.press(42, "v:m:quality", 50);
    f.wait_text(42, &format!("Цена: {}", quality(8))).await;
    f.press(42, "v:s:4", 50);
    f.wait_text(42, &format!("Цена: {}", quality(4))).await;
    f.press(42, "v:o:h", 50);
    let texts = f.wait_text(42, "1280x720").await;
    assert!(
        texts.last().unwrap().contains("Quality 720p · 4 с"),
        "{texts:?}"
    );
    let edits = f.calls_of("editmessagetext");
    assert!(
        edits.iter().all(|e| e["message_id"] == json!(50)),
        "edited in place"
    );
    // The first progress edit is refused with 429 retry_after=1: the next waits for it.
    f.edits_to_refuse.store(1, Ordering::SeqCst);
    f.press(42, "v:go", 50);
    f.wait_text(42, "В очереди: место 1").await;
    let job = jobs(&r.db).await;
    assert_eq!(job[0].1, "text_to_video");
    assert_eq!(job[0].2, 964);
    assert_eq!(
        reelforge::db::ledger::balance_of(&r.db, 42).await.unwrap(),
        5100 - 964
    );
    let video = f.wait_call("sendvideo", |_| true).await;
    let form = video.as_str().unwrap();
    for (field, value) in [
        ("width", "1280"),
        ("height", "720"),
        ("duration", "4"),
        ("supports_streaming", "true"),
        ("chat_id", "42"),
    ] {
        assert_eq!(
            fake_tg::form_field(form, field).as_deref(),
            Some(value),
            "{field}"
        );
    }
    assert!(form.contains("name=\"thumbnail\""));
    let again = buttons_of(&video);
    assert!(
        again
            .iter()
            .any(|b| b.ends_with(&format!("again:{}", job[0].0))),
        "{again:?}"
    );
    // The welcome bonus plus the payment, less the video.
    f.wait_text(
        42,
        &format!("✅ Готово! Баланс: {}", 100 + 5000 - quality(4)),
    )
    .await;
    // "Make another" under the video opens the same settings again.
    f.press(42, &format!("again:{}", job[0].0), 900);
    let same = format!("Quality 720p · 4 с · 1280x720\nЦена: {}", quality(4));
    let shown_twice = || f.texts_to(42).iter().filter(|t| t.contains(&same)).count() == 2;
    common::eventually(Duration::from_secs(5), || async { shown_twice() }).await;
    let texts = f.texts_to(42);
    assert_eq!(
        texts.iter().filter(|t| t.contains(&same)).count(),
        2,
        "{texts:?}"
    );
    // /history re-sends by file id.
    f.text(42, "/history");
    f.wait_call("sendvideo", |b| {
        b.as_str().is_some_and(|form| {
            fake_tg::form_field(form, "video").as_deref() == Some("BAACAgIAAx-video")
        })
    })
    .await;
    f.text(42, "/queue");
    f.wait_text(42, "нет задач").await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn photo_with_caption_becomes_image_to_video_and_a_refused_delivery_is_refunded_once() {
    let r = start(true, |_| {}).await;
    let f = &r.fake;
    f.refuse_videos.store(true, Ordering::SeqCst);
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    harness::pay(&r.db, 42, 1000).await;
    let photo = std::fs::read(common::ASTRONAUT).unwrap();
    // Without a caption: the bot asks what to do.
    f.photo(42, "ph1", photo.clone(), None);
    f.wait_text(42, "Что сделать с этим фото").await;
    f.press(42, "pa:anim", 7);
    f.wait_text(42, "Опишите, что должно происходить").await;
    f.text(42, "улыбается и машет рукой");
    f.wait_text(42, "Видео из фото: «улыбается и машет рукой»")
        .await;
    // A photo with a caption goes straight to the settings.
    f.photo(42, "ph2", photo, Some("космонавт улыбается"));
    f.wait_text(42, "Видео из фото: «космонавт улыбается»")
        .await;
    f.press(42, "v:go", 8);
    f.wait_text(42, "В очереди").await;
    // 358 tokens left, less than the cheapest video: the user is warned.
    f.wait_text(42, "Осталось 358 токенов").await;
    let job = jobs(&r.db).await;
    assert_eq!(job[0].1, "image_to_video");
    let params = format!(
        "{:?}",
        reelforge::db::jobs::all_jobs(&r.db).await.unwrap()[0].spec
    );
    assert!(
        params.contains("uploads/"),
        "the stored photo is the first frame: {params}"
    );
    // Telegram refuses the video: the job fails, the tokens come back once, the user is told.
    let refunded = format!("Токены возвращены ({})", common::video_price("fast", 8));
    let texts = f.wait_text(42, &refunded).await;
    assert!(
        texts.last().unwrap().contains("файл или текст не подходит"),
        "{texts:?}"
    );
    let entries = reelforge::db::ledger::history(&r.db, 42, 10).await.unwrap();
    assert_eq!(
        entries.iter().filter(|e| e.reason == "job_refund").count(),
        1
    );
    assert_eq!(
        reelforge::db::ledger::balance_of(&r.db, 42).await.unwrap(),
        1100
    );
    // Refunded, so withdrawn: /history does not hand the video over later.
    f.refuse_videos.store(false, Ordering::SeqCst);
    let tried = f.videos_to(42);
    f.text(42, "/history");
    f.wait_text(42, "Готовых видео пока нет").await;
    assert_eq!(f.videos_to(42), tried, "not the tokens and the video both");
    r.stop().await;
}

/// The job's state once it has ended.
async fn ended(db: &reelforge::db::Db) -> reelforge::db::jobs::JobRow {
    for _ in 0..600 {
        let jobs = reelforge::db::jobs::all_jobs(db).await.unwrap();
        if let Some(j) = jobs.into_iter().find(|j| j.state.is_final()) {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no job ended");
}

/// A user who blocks the bot while their video is made: Telegram answers 403 to the upload.
/// The job stays done and paid (no refund: the video is theirs), and it waits in /history for
/// when they come back — never both the video and the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_blocked_the_bot_keeps_the_video_in_history_and_no_refund() {
    let r = start(true, |_| {}).await;
    let f = &r.fake;
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    harness::pay(&r.db, 42, 1000).await;
    f.text(42, "/generate маяк на закате");
    f.wait_text(42, "Цена").await;
    f.blocked.lock().unwrap().insert(42);
    f.press(42, "v:go", 8);
    let job = ended(&r.db).await;
    assert_eq!(job.state.name(), "done", "{job:?}");
    assert!(
        job.checkpoints
            .delivered
            .as_ref()
            .is_some_and(|d| d.unreachable),
        "{job:?}"
    );
    let entries = reelforge::db::ledger::history(&r.db, 42, 10).await.unwrap();
    assert!(
        entries.iter().all(|e| e.reason != "job_refund"),
        "{entries:?}"
    );
    assert_eq!(
        reelforge::db::ledger::balance_of(&r.db, 42).await.unwrap(),
        1100 - common::video_price("fast", 8)
    );
    // They unblock the bot: /history sends the video they paid for.
    f.blocked.lock().unwrap().clear();
    let tried = f.videos_to(42);
    f.text(42, "/history");
    for _ in 0..200 {
        if f.videos_to(42) > tried {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(f.videos_to(42), tried + 1);
    r.stop().await;
}

/// A cancel pressed once the upload has begun is refused with a plain message; the job ends
/// delivered and paid, not delivered and refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_after_the_upload_began_is_refused_and_nothing_is_refunded() {
    let r = start(true, |_| {}).await;
    let f = &r.fake;
    f.video_delay_ms.store(3000, Ordering::SeqCst);
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    harness::pay(&r.db, 42, 1000).await;
    f.text(42, "/generate маяк");
    f.wait_text(42, "Цена").await;
    f.press(42, "v:go", 8);
    f.wait_text(42, "В очереди").await;
    // Wait for the upload to begin, then press "✖ Cancel".
    let mut id = None;
    for _ in 0..600 {
        let jobs = reelforge::db::jobs::all_jobs(&r.db).await.unwrap();
        if let Some(j) = jobs
            .iter()
            .find(|j| j.checkpoints.delivery_started_ms.is_some())
        {
            id = Some(j.id);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let id = id.expect("the upload began");
    f.press(42, &format!("job:cancel:{id}"), 9);
    f.wait_text(42, "отменить поздно").await;
    let job = ended(&r.db).await;
    assert_eq!(job.state.name(), "done", "{job:?}");
    assert_eq!(f.videos_to(42), 1);
    let entries = reelforge::db::ledger::history(&r.db, 42, 10).await.unwrap();
    assert!(
        entries.iter().all(|e| e.reason != "job_refund"),
        "{entries:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_payment_sends_a_stripe_checkout_link_for_the_pack() {
    use axum::routing::post;
    // Stripe's documented Checkout Session answer: an id and the hosted page URL.
    let forms = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = forms.clone();
    let stripe = axum::Router::new().route(
        "/v1/checkout/sessions",
        post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                axum::Json(json!({"id": "cs_test_123", "object": "checkout.session",
                                  "url": "https://checkout.stripe.com/c/pay/cs_test_123"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, stripe).await.unwrap() });
    let r = start(false, |app| {
        app.stripe = Some(reelforge::payments::stripe::StripeClient::new(
            reqwest::Client::new(),
            "sk_test_key",
            Some(&base),
        ));
    })
    .await;
    let f = &r.fake;
    f.text(42, "/start");
    f.wait_text(42, "Баланс").await;
    f.press(42, "pay:p:1", 5);
    f.wait_text(42, "Как оплатить").await;
    assert_eq!(
        f.last_buttons(42),
        vec!["💳 Картой (Stripe)|pay:s:1"],
        "no Kaspi number: card only"
    );
    f.press(42, "pay:s:1", 6);
    let (pack_tokens, pack_kzt) = common::pack(1);
    f.wait_text(42, &format!("Оплата {pack_kzt} ₸ за {pack_tokens} токенов"))
        .await;
    assert_eq!(
        f.last_buttons(42),
        vec![format!(
            "Оплатить {pack_kzt} ₸|https://checkout.stripe.com/c/pay/cs_test_123"
        )]
    );
    let form = forms.lock().unwrap()[0].clone();
    assert!(
        form.contains(&format!("unit_amount%5D={}", pack_kzt * 100))
            && form.contains(&format!("metadata%5Btokens%5D={pack_tokens}")),
        "{form}"
    );
    let orders: Vec<(String, Option<String>, String)> = reelforge::db::orders::all_orders(&r.db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.method, o.external_id, o.status))
        .collect();
    assert_eq!(
        orders,
        vec![(
            "stripe".into(),
            Some("cs_test_123".into()),
            "pending".into()
        )]
    );
    r.stop().await;
}
