//! The seller's whole way, as the campaign issue asks: `/brand` takes a PNG logo sent as a
//! file, an end card and a call to action; a pasted shop link becomes a product, its scripts
//! are written (by a fake chat model, or offline by the templates), "A + B" orders two hook
//! variants, "+ 1:1" adds a format, and one confirmed quote makes two videos, each delivered
//! as a 9:16 + 1:1 album through the fake Bot API with the logo on every frame and the end
//! card (the product's name and price) after the speech.
use crate::bot_flows::{self, env};
use crate::common;
use crate::harness;
use std::process::Command;

fn red_png(path: &std::path::Path) -> Vec<u8> {
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0xE01010:s=240x120,format=rgba",
        ])
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    std::fs::read(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_gets_two_branded_variants_in_two_formats_from_a_link_offline() {
    seller_flow(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_gets_two_branded_variants_in_two_formats_from_a_link_with_a_chat_model() {
    seller_flow(true).await;
}

async fn seller_flow(with_model: bool) {
    let e = env().await;
    let f = &e.fake;
    let (shop, _) = crate::products::shop().await;
    let mut app = e.app();
    if with_model {
        let (url, _) = crate::product_scripts::chat_model().await;
        app.scripts = std::sync::Arc::new(reelforge::products::scripts::ScriptWriter {
            model: Some(reelforge::providers::llm::ChatModel::new(
                reqwest::Client::new(),
                &url,
                "gpt-4o-mini",
                None,
            )),
        });
    }
    let work = e.dir.path().join("products");
    std::fs::create_dir_all(&work).unwrap();
    app.intake = std::sync::Arc::new(
        reelforge::products::Intake::new(
            e.db.clone(),
            e.storage.clone(),
            reelforge::egress::Reach::PublicAnd(vec!["127.0.0.1".parse().unwrap()]),
            work,
        )
        .unwrap(),
    );
    let running = e.run(app);
    e.member(61, 5000).await;

    f.text(61, "/brand");
    f.wait_text(61, "Ваш бренд").await;
    f.press(61, "br:logo", 2);
    f.wait_text(61, "Пришлите логотип").await;
    let png = red_png(&e.dir.path().join("logo.png"));
    f.document(61, "logo-file", png.clone(), "image/png", "logo.png");
    f.wait_text(61, "• Логотип: есть").await;
    f.press(61, "br:end", 3);
    f.wait_text(61, "Финальный кадр с товаром: есть").await;
    f.press(61, "br:act", 4);
    f.wait_text(61, "Напишите призыв").await;
    f.text(61, "Пишите в директ");
    f.wait_text(61, "«Пишите в директ»").await;
    let kit = reelforge::db::brand::get(&e.db, 61).await.unwrap().unwrap();
    let logo_key = kit.logo_key.clone().unwrap();
    assert!(logo_key.ends_with(".png"), "kept as sent: {logo_key}");

    // A video from the product's script B.
    f.text(61, &format!("{shop}/p/cream"));
    f.wait_call("sendphoto", |b| {
        b.as_str().is_some_and(|form| form.contains("shop:scr:"))
    })
    .await;
    let scripts = f.newest_button(61, "shop:scr:");
    f.press(61, &scripts, 5);
    f.wait_text(61, "Три сценария").await;
    let (_, json, _) = reelforge::db::products::scripts_of(&e.db, 61)
        .await
        .unwrap()
        .unwrap();
    let written: Vec<reelforge::products::scripts::Script> = serde_json::from_str(&json).unwrap();
    let source = if with_model { "model" } else { "template" };
    assert!(written.iter().all(|s| s.source == source), "{written:?}");
    f.press(61, "shop:all:2", 6);
    f.wait_text(61, "Выбрано: A + B").await;
    f.wait_text(61, "Какой ролик").await;
    f.press(61, "u:f:bg", 7);
    f.wait_text(61, "не длиннее 15 секунд").await;
    f.video(61, "bg", bot_flows::small_clip(e.dir.path()), 1000);
    f.wait_text(61, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 61, "ru+f3").await;
    f.press(61, "u:pk", 8);
    f.wait_text(61, "Варианты: A + B").await;
    // The still shows the logo; "+ 1:1" adds the square format to both variants.
    f.press(61, "u:lf:1x1", 9);
    f.wait_text(61, "Цена сейчас").await;
    let go = f.newest_button(61, "u:go:");
    let total: i64 = go.trim_start_matches("u:go:").parse().unwrap();
    let before = reelforge::db::ledger::balance_of(&e.db, 61).await.unwrap();
    f.press(61, &go, 10);
    common::wait_until("two jobs", std::time::Duration::from_secs(30), || async {
        reelforge::db::jobs::all_jobs(&e.db).await.unwrap().len() == 2
    })
    .await;
    bot_flows::stop(running).await;
    assert_eq!(
        reelforge::db::ledger::balance_of(&e.db, 61).await.unwrap(),
        before - total,
        "one confirmed quote, charged as shown"
    );

    let jobs = reelforge::db::jobs::all_jobs(&e.db).await.unwrap();
    let mut scripts_ordered = Vec::new();
    for job in &jobs {
        let p = match job.spec.clone().unwrap() {
            reelforge::jobs::JobSpec::UgcVideo(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.layout.formats, ["1:1"]);
        let brand = p.brand.clone().expect("the order carries the brand");
        assert_eq!(brand.logo.as_deref(), Some(logo_key.as_str()));
        let card = brand
            .end_card
            .clone()
            .expect("an end card for a product's script");
        assert_eq!(card.title, "Крем для лица «Роса»");
        assert_eq!(card.price.as_deref(), Some("12\u{a0}990 KZT"));
        assert_eq!(card.call_to_action, "Пишите в директ");
        assert!(card.photo.is_some(), "the product's photo");
        scripts_ordered.push(p.script.clone());
    }
    assert_eq!(
        scripts_ordered,
        [written[0].text.clone(), written[1].text.clone()],
        "A and B"
    );
    assert!(
        reelforge::db::products::scripts_of(&e.db, 61)
            .await
            .unwrap()
            .unwrap()
            .2
            .is_none(),
        "the picked scripts served this order"
    );

    // Made and delivered: two albums of 9:16 + 1:1, the logo on the speech's frames, the card
    // after it.
    let deliver = reelforge::bot::deliver::TelegramDeliver::new(
        crate::fake_tg::endpoint(&e.url),
        e.db.clone(),
    )
    .unwrap();
    let services = harness::services(&e.db, e.dir.path(), std::sync::Arc::new(deliver));
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    // Two 720p videos with two formats and an end card each, while the rest of the suite
    // shares the two cores: allowed minutes, not the default half minute.
    let rows =
        harness::run_jobs_within(&e.db, services, &ids, std::time::Duration::from_secs(240)).await;
    for row in &rows {
        assert_eq!(row.state.name(), "done", "{row:?}");
    }
    let albums = f.calls_of("sendmediagroup");
    assert_eq!(
        albums.len(),
        2,
        "one album per variant: {:?}",
        rows.iter()
            .map(|r| r.checkpoints.delivered.clone())
            .collect::<Vec<_>>()
    );
    let mut firsts = Vec::new();
    for album in &albums {
        let captions: Vec<String> = crate::fake_tg::media_of(album)
            .iter()
            .map(|m| m["caption"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(captions.len(), 2);
        assert_eq!(captions[1], "1:1");
        firsts.push(captions[0].clone());
    }
    firsts.sort();
    assert_eq!(
        firsts,
        ["Вариант A · 9:16", "Вариант B · 9:16"],
        "each album says its variant"
    );
    let (w, h) = (720usize, 1280usize);
    for row in rows {
        assert_eq!(row.state.name(), "done", "{row:?}");
        let p = match row.spec.clone().unwrap() {
            reelforge::jobs::JobSpec::UgcVideo(p) => p,
            other => panic!("{other:?}"),
        };
        let output = row.checkpoints.output.clone().unwrap();
        let video = e.dir.path().join(format!("branded-{}.mp4", row.id));
        reelforge::storage::ObjectStore::get_to_file(e.storage.as_ref(), &output, &video)
            .await
            .unwrap();
        let info = media::probe(&video).unwrap();
        let speech = row.checkpoints.speech_seconds.unwrap();
        assert!(
            (info.duration_s - (speech + 2.0)).abs() < 0.2,
            "{} s for {speech} s of speech and 2 s of card",
            info.duration_s
        );
        let square = e.dir.path().join(format!("square-{}.mp4", row.id));
        let (_, key) = p.more_output_keys(&output).remove(0);
        reelforge::storage::ObjectStore::get_to_file(e.storage.as_ref(), &key, &square)
            .await
            .unwrap();
        let sq = media::probe(&square).unwrap();
        assert_eq!(sq.video.unwrap().display_width, 720);
        assert!((sq.duration_s - info.duration_s).abs() < 0.1);

        let placed = p.layout.place(w, h).unwrap();
        let circle = media::place_circle(
            w,
            h,
            placed.diameter,
            placed.position,
            placed.safe_zone.area(w, h),
        )
        .unwrap();
        // The logo's corner, as the compositor picks it for this circle.
        let logo_w = (w as f64 * 0.18) as usize / 2 * 2;
        let logo_h = logo_w / 2;
        let (x, y) = media::logo_corner(
            (w, h),
            placed.safe_zone.area(w, h),
            Some(circle),
            (logo_w, logo_h),
        );
        let frame = common::gray_crop(&video, 0.3, x as u32 + 4, y as u32 + 4, 8, 8);
        let mean = frame.iter().map(|v| f64::from(*v)).sum::<f64>() / frame.len() as f64;
        let spread = (frame
            .iter()
            .map(|v| (f64::from(*v) - mean).powi(2))
            .sum::<f64>()
            / frame.len() as f64)
            .sqrt();
        // Flat red (0xE01010: luma about 60 in this crop) where the background is a moving
        // pattern.
        assert!(
            (45.0..=90.0).contains(&mean) && spread < 6.0,
            "the logo's red at ({x}, {y}): luma {mean:.1} ± {spread:.1}"
        );
    }
}

/// A logo the compositor would refuse (6 megapixels of one colour: a small file, a large
/// decode) ends the job before the speech and the talking head are bought, refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logo_that_cannot_be_used_is_refused_before_anything_is_bought() {
    let t = crate::dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = std::sync::Arc::new(harness::Bot::default());
    let services = harness::services_with_portrait(&db, dir.path(), bot.clone()).await;
    let big = dir.path().join("big.png");
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=3000x2000",
            "-frames:v",
            "1",
        ])
        .arg(&big)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(
        std::fs::metadata(&big).unwrap().len() < 2 * 1024 * 1024,
        "a small file"
    );
    reelforge::storage::ObjectStore::put_file(
        services.storage.as_ref(),
        "uploads/big.png",
        &big,
        "image/png",
    )
    .await
    .unwrap();
    reelforge::db::users::touch_user(&db, 71, None, "ru")
        .await
        .unwrap();
    reelforge::db::ledger::credit(
        &db,
        71,
        1000,
        reelforge::db::ledger::Reason::Payment,
        "p71",
        None,
    )
    .await
    .unwrap();
    let spec: reelforge::jobs::JobSpec = serde_json::from_value(serde_json::json!({
        "kind": "ugc_video", "portrait": "gallery/anna.jpg", "script": "Купите крем.",
        "size": "360x640", "brand": {"logo": "uploads/big.png"}
    }))
    .unwrap();
    let prices = reelforge::pricing::PriceTable::default_table();
    let order = reelforge::orders::Order::priced(&prices, spec, None, 3).unwrap();
    let job = reelforge::orders::submit(&db, 71, order, None, reelforge::orders::Channel::Service)
        .await
        .unwrap()
        .id;
    let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
    assert_eq!(row.state.name(), "failed", "{row:?}");
    assert!(
        row.error_message
            .as_deref()
            .unwrap_or("")
            .contains("4 megapixels"),
        "{row:?}"
    );
    assert!(row.checkpoints.voice.is_none(), "no speech was made");
    assert!(row.checkpoints.talking_head.is_none(), "no head was bought");
    assert_eq!(
        reelforge::db::ledger::balance_of(&db, 71).await.unwrap(),
        1000,
        "refunded"
    );
}
