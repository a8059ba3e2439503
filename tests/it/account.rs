//! The user's side of the bot through the fake Bot API: promo codes (50 concurrent
//! redemptions of a 10-use code credit exactly ten, on SQLite and PostgreSQL), referrals by
//! deep link with the referrer's share of a confirmed payment once, the language kept across
//! a restart, receipts, the policies, and `/deletedata` leaving no file and no personal row.
use crate::bot_flows::{env, stop};
use crate::dbs;
use reelforge::db::account::{self, Redeemed};
use reelforge::db::ledger;
use reelforge::db::users::touch_user;
use reelforge::storage::ObjectStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_users_racing_for_a_ten_use_code_credit_exactly_ten() {
    for t in dbs::all().await {
        let db = t.db.clone();
        for u in 1..=50 {
            touch_user(&db, 1000 + u, None, "ru").await.unwrap();
        }
        account::create_promo(&db, "SPRING", 200, 10, None)
            .await
            .unwrap();
        let tasks: Vec<_> = (1..=50)
            .map(|u| {
                let db = db.clone();
                tokio::spawn(async move { account::redeem(&db, 1000 + u, "SPRING").await.unwrap() })
            })
            .collect();
        let mut credited = 0;
        for t in tasks {
            match t.await.unwrap() {
                Redeemed::Credited { tokens, .. } => {
                    assert_eq!(tokens, 200);
                    credited += 1;
                }
                Redeemed::UsedUp => {}
                other => panic!("{}: {other:?}", db.kind()),
            }
        }
        assert_eq!(credited, 10, "{}", db.kind());
        let mut total = 0;
        for u in 1..=50 {
            total += ledger::balance_of(&db, 1000 + u).await.unwrap();
        }
        assert_eq!(total, 2000, "{}", db.kind());
        // Once per user, and an expired or unknown code says so.
        account::create_promo(&db, "AGAIN", 5, 100, None)
            .await
            .unwrap();
        assert!(matches!(
            account::redeem(&db, 1001, "AGAIN").await.unwrap(),
            Redeemed::Credited { .. }
        ));
        assert_eq!(
            account::redeem(&db, 1001, "AGAIN").await.unwrap(),
            Redeemed::AlreadyUsed
        );
        account::create_promo(&db, "OLD", 5, 100, Some(1))
            .await
            .unwrap();
        assert_eq!(
            account::redeem(&db, 1001, "OLD").await.unwrap(),
            Redeemed::Expired
        );
        assert_eq!(
            account::redeem(&db, 1001, "NOPE").await.unwrap(),
            Redeemed::NoSuchCode
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friend_by_link_earns_the_referrer_a_share_once_and_promo_links_work() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(50, 1).await;
    // A friend arrives by 50's link; joining twice or by one's own link changes nothing.
    f.text(51, "/start ref_50");
    f.wait_text(51, "по приглашению друга").await;
    f.text(51, "/start ref_52");
    f.wait_text(51, "Баланс").await;
    f.text(50, "/start ref_50");
    assert_eq!(
        reelforge::db::users::get_user(&e.db, 51)
            .await
            .unwrap()
            .unwrap()
            .referrer_id,
        Some(50)
    );
    // 51 pays by Kaspi; the admin confirms it twice: 51 credited once, 50 gets 10 % once.
    let order = reelforge::db::orders::create_order(&e.db, 51, "kaspi", 1484, 133_600, "KZT")
        .await
        .unwrap();
    e.member(1, 1).await;
    f.text(1, &format!("/topup #{order}"));
    f.wait_text(50, "Ваш друг сделал покупку: +148 токенов")
        .await;
    f.text(1, &format!("/topup #{order}"));
    f.wait_text(1, "уже зачислен").await;
    assert_eq!(ledger::balance_of(&e.db, 50).await.unwrap(), 100 + 1 + 148);
    f.text(50, "/referral");
    let texts = f
        .wait_text(50, "https://t.me/reelforge_bot?start=ref_50")
        .await;
    let card = texts.iter().rev().find(|t| t.contains("ref_50")).unwrap();
    assert!(card.contains("Друзей: 1, заработано: 148"), "{card}");
    // Receipts: the paid order with its receipt, a pending one flagged.
    reelforge::db::orders::create_order(&e.db, 51, "kaspi", 742, 74_200, "KZT")
        .await
        .unwrap();
    f.text(51, "/orders");
    let texts = f.wait_text(51, "Чек: заказ #").await;
    let receipts = texts
        .iter()
        .rev()
        .find(|t| t.contains("Ваши платежи"))
        .unwrap();
    assert!(
        receipts.contains("1336 KZT · 1484 токенов · Kaspi · оплачен"),
        "{receipts}"
    );
    assert!(
        receipts.contains("Ждёт подтверждения перевода"),
        "{receipts}"
    );
    // Promo codes: made by an admin, redeemed by a deep link and by command, once.
    f.text(1, "/promo new WELCOME50 50 5 30");
    f.wait_text(1, "промокод WELCOME50: 50 токенов, активаций 5, 30 дн.")
        .await;
    f.text(52, "/start promo_welcome50");
    f.wait_text(52, "Промокод принят: +50").await;
    f.text(52, "/promo WELCOME50");
    f.wait_text(52, "уже использовали").await;
    f.text(52, "/promo new HACK 99999");
    f.wait_text(52, "Так: /promo КОД").await;
    assert!(
        account::redeem(&e.db, 53, "HACK").await.unwrap() == Redeemed::NoSuchCode,
        "users cannot make codes"
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_language_outlives_telegrams_setting_and_a_restart_and_policies_are_served() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(60, 1).await;
    f.text(60, "/language");
    f.wait_text(60, "Выберите язык").await;
    f.press(60, "lang:en", 3);
    f.wait_text(60, "the bot speaks English").await;
    stop(running).await;
    // A new bot process on the same database; Telegram still says "ru".
    let mut app = e.app();
    let dir = e.dir.path().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("privacy.en.md"), "Our own privacy text.").unwrap();
    app.policy_dir = Some(dir);
    let running = e.run(app);
    f.text(60, "/help");
    f.text(60, "/terms");
    f.wait_text(60, "Terms of use").await;
    f.text(60, "/privacy");
    f.wait_text(60, "Our own privacy text.").await;
    f.text(60, "/refunds");
    f.wait_text(60, "its tokens come back automatically").await;
    assert!(!f.texts_to(60).last().unwrap().contains("Возвраты"));
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletedata_leaves_no_file_and_no_personal_row_and_keeps_the_ledger_anonymised() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(70, 1000).await;
    let db = &e.db;
    // The user's files: an upload, a made video and its thumbnail; plus the shared gallery.
    for key in [
        "uploads/aa/photo70.jpg",
        "outputs/bb/video70.mp4",
        "outputs/bb/video70.mp4.jpg",
        "gallery/anna.jpg",
    ] {
        e.storage
            .put_bytes(key, b"x".to_vec(), "application/octet-stream")
            .await
            .unwrap();
    }
    let job = reelforge::db::jobs::submit(
        db,
        reelforge::db::jobs::NewJob::from_json(70, "image_to_video", serde_json::json!({"prompt": "my secret product", "tier": "fast", "seconds": 4, "size": "720x1280", "image": "uploads/aa/photo70.jpg"}), 371, 3).unwrap(),
    )
    .await
    .unwrap();
    reelforge::db::jobs::cancel(db, job).await.unwrap();
    reelforge::db::generations::record(
        db,
        reelforge::db::generations::NewGeneration {
            job_id: job,
            user_id: 70,
            kind: "image_to_video",
            output_key: "outputs/bb/video70.mp4",
            thumbnail_key: "outputs/bb/video70.mp4.jpg",
            width: 720,
            height: 1280,
            duration_s: 4.0,
        },
    )
    .await
    .unwrap();
    // Its composite is in the overlay cache (reused for a remake of the same inputs).
    let now = reelforge::db::now_ms();
    reelforge::db::cache::insert_expiring(
        db,
        "overlay:abc",
        "outputs/bb/video70.mp4",
        now + 86_400_000,
        now,
    )
    .await
    .unwrap();
    // A photo sent in the chat that never became a job (stored when it arrived).
    f.photo(
        70,
        "ph70",
        std::fs::read(crate::common::ASTRONAUT).unwrap(),
        None,
    );
    f.wait_text(70, "Что сделать с этим фото").await;
    let unused: Vec<String> = reelforge::db::account::files_of(db, 70)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("uploads/") && k != "uploads/aa/photo70.jpg")
        .collect();
    assert_eq!(
        unused.len(),
        1,
        "the chat's photo is the user's file: {unused:?}"
    );
    assert!(e.storage.exists(&unused[0]).await.unwrap());
    let entries_before = ledger::history(db, 70, 1000).await.unwrap().len();
    f.text(70, "/deletedata");
    f.wait_text(70, "Удалить ваши данные?").await;
    f.press(70, "del:no", 5);
    f.wait_text(70, "ничего не удалено").await;
    assert!(reelforge::db::users::get_user(db, 70)
        .await
        .unwrap()
        .is_some());
    f.press(70, "del:yes", 5);
    f.wait_text(70, "личные данные стёрты").await;
    // Files: the user's are gone, the shared gallery stays.
    for key in [
        "uploads/aa/photo70.jpg",
        "outputs/bb/video70.mp4",
        "outputs/bb/video70.mp4.jpg",
    ] {
        assert!(!e.storage.exists(key).await.unwrap(), "{key}");
    }
    assert!(
        !e.storage.exists(&unused[0]).await.unwrap(),
        "a photo that never became a job is erased too"
    );
    assert!(e.storage.exists("gallery/anna.jpg").await.unwrap());
    assert_eq!(
        reelforge::db::cache::entry(db, "overlay:abc")
            .await
            .unwrap(),
        None,
        "no cache entry hands out an erased file"
    );
    // No row names the user; the ledger is kept under an anonymous id and still adds up.
    assert!(reelforge::db::users::get_user(db, 70)
        .await
        .unwrap()
        .is_none());
    assert!(reelforge::db::jobs::jobs_of_user(db, 70, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(ledger::history(db, 70, 10).await.unwrap().is_empty());
    let jobs = reelforge::db::jobs::all_jobs(db).await.unwrap();
    let anon = jobs.iter().find(|j| j.id == job).unwrap().user_id;
    assert!(anon < 0);
    assert!(jobs
        .iter()
        .all(|j| j.spec.is_none() || !format!("{:?}", j.spec).contains("secret")));
    assert_eq!(
        ledger::history(db, anon, 1000).await.unwrap().len(),
        entries_before
    );
    assert_eq!(
        ledger::balance_of(db, anon).await.unwrap(),
        ledger::entries_sum(db, anon).await.unwrap()
    );
    // The anonymised ledger's keys no longer spell out the Telegram id (the welcome bonus's
    // did; the test's own payment key is the harness's).
    let keys: Vec<String> = ledger::history(db, anon, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert!(
        keys.iter()
            .filter(|k| !k.starts_with("test-payment:"))
            .all(|k| !k.split(':').any(|part| part == "70")),
        "{keys:?}"
    );
    // Coming back: a new account, without a second welcome bonus.
    f.text(70, "/start");
    f.wait_text(70, "Баланс: 0 токенов").await;
    assert!(
        !f.texts_to(70)
            .iter()
            .rev()
            .take(2)
            .any(|t| t.contains("приветственный бонус")),
        "no second welcome bonus"
    );
    stop(running).await;
}

/// Erasing re-checks inside its own transaction: a job made meanwhile (an API order after the
/// chat's check) or a payment under way keeps the user's data, and their files, until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_waits_for_a_job_made_meanwhile_and_a_payment_under_way() {
    use reelforge::db::account::{erase_user, Erase};
    for t in crate::dbs::all().await {
        let db = &t.db;
        reelforge::db::users::touch_user(db, 71, None, "ru")
            .await
            .unwrap();
        ledger::credit(db, 71, 1000, ledger::Reason::Payment, "seed:71", None)
            .await
            .unwrap();
        let job = reelforge::db::jobs::submit(
            db,
            reelforge::db::jobs::NewJob::from_json(
                71,
                "character_edit",
                serde_json::json!({"image": "uploads/x.jpg", "prompt": "hat"}),
                60,
                3,
            )
            .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            erase_user(db, 71).await.unwrap(),
            Erase::Busy,
            "{}",
            db.kind()
        );
        assert!(reelforge::db::users::get_user(db, 71)
            .await
            .unwrap()
            .is_some());
        reelforge::db::jobs::cancel(db, job).await.unwrap();
        let order = reelforge::payments::create_order(db, 71, "stripe", 742, 74200, "kzt")
            .await
            .unwrap();
        assert!(order > 0);
        assert_eq!(
            erase_user(db, 71).await.unwrap(),
            Erase::Busy,
            "{}",
            db.kind()
        );
        crate::dbs::exec(
            db,
            &format!(
                "UPDATE orders SET created_ms = {}",
                reelforge::db::now_ms() - 25 * 3_600_000
            ),
        )
        .await;
        // Owing tokens from a reversed payment: kept until settled.
        crate::dbs::exec(db, "UPDATE users SET debt_tokens = 50 WHERE id = 71").await;
        assert_eq!(
            erase_user(db, 71).await.unwrap(),
            Erase::Owes(50),
            "{}",
            db.kind()
        );
        crate::dbs::exec(db, "UPDATE users SET debt_tokens = 0 WHERE id = 71").await;
        assert!(
            matches!(erase_user(db, 71).await.unwrap(), Erase::Erased(_)),
            "{}",
            db.kind()
        );
        assert!(reelforge::db::users::get_user(db, 71)
            .await
            .unwrap()
            .is_none());
    }
}

/// A code redeemed, the account erased and started again: the same code is not redeemed a
/// second time (the redemption is remembered by the erased account's keyed hash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promo_code_is_not_redeemed_again_after_deletedata() {
    for t in dbs::all().await {
        let db = &t.db;
        account::create_promo(db, "AGAIN", 300, 10, None)
            .await
            .unwrap();
        touch_user(db, 80, None, "ru").await.unwrap();
        assert!(matches!(
            account::redeem(db, 80, "AGAIN").await.unwrap(),
            Redeemed::Credited { tokens: 300, .. }
        ));
        assert!(matches!(
            account::erase_user(db, 80).await.unwrap(),
            account::Erase::Erased(_)
        ));
        touch_user(db, 80, None, "ru").await.unwrap();
        assert_eq!(
            account::redeem(db, 80, "AGAIN").await.unwrap(),
            Redeemed::AlreadyUsed,
            "{}",
            db.kind()
        );
        assert_eq!(ledger::balance_of(db, 80).await.unwrap(), 0);
        // Another user still can.
        touch_user(db, 81, None, "ru").await.unwrap();
        assert!(matches!(
            account::redeem(db, 81, "AGAIN").await.unwrap(),
            Redeemed::Credited { .. }
        ));
    }
}

/// A user whose Telegram speaks Kazakh is answered in Kazakh (the welcome, the menu, the
/// policies); `/language` offers Қазақша to anyone, and the choice is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kazakh_user_is_answered_in_kazakh_and_anyone_can_choose_it() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    let command = |text: &str| {
        let len = text.split_whitespace().next().unwrap().len();
        serde_json::json!({"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len}]})
    };
    f.send(61, "kk", command("/start"));
    f.wait_text(61, "Сәлем").await;
    f.wait_text(61, "Басты мәзір").await;
    f.send(61, "kk", command("/refunds"));
    f.wait_text(61, "Қайтарулар").await;
    // The UGC flow in Kazakh, the offline Kazakh voices first in the gallery.
    f.send(61, "kk", command("/create"));
    f.wait_text(61, "Қандай ролик жасаймыз?").await;
    f.press_as(61, "kk", "u:f:head", 3);
    f.wait_text(61, "Кейіпкерді таңдаңыз").await;
    f.press_as(61, "kk", "u:g:female", 4);
    f.wait_call("sendphoto", |_| true).await;
    f.press_as(61, "kk", "u:pick:0", 5);
    f.wait_text(61, "Кейіпкерді өзгертеміз бе").await;
    f.press_as(61, "kk", "u:e:no", 6);
    f.wait_text(61, "Дауысты таңдаңыз").await;
    let voices = f.last_buttons(61);
    assert_eq!(
        voices.first().map(String::as_str),
        Some("▶ Айгерім (kk)|u:vs:kk+f3"),
        "{voices:?}"
    );
    // A Russian-speaking user picks Kazakh.
    e.member(62, 1).await;
    f.text(62, "/language");
    f.wait_text(62, "Выберите язык").await;
    let buttons = f.last_buttons(62);
    assert!(
        buttons.iter().any(|b| b.starts_with("Қазақша|lang:kk")),
        "{buttons:?}"
    );
    f.press(62, "lang:kk", 3);
    f.wait_text(62, "бот қазақша сөйлейді").await;
    f.text(62, "/balance");
    f.wait_text(62, "Баланс: 101 токен.").await;
    assert!(
        !f.texts_to(62).last().unwrap().contains("токенов"),
        "in Kazakh"
    );
    stop(running).await;
}
