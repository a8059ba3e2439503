//! The brand kit end to end: `/brand` takes a PNG logo sent as a file, an end card and a call
//! to action; a video ordered from a product's script carries them (the logo on the layout
//! still and on every frame, the end card with the product's name and price after the
//! speech), and the video lasts the speech and the card.
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
async fn a_brand_kit_puts_the_logo_and_an_end_card_on_the_ordered_video() {
    let e = env().await;
    let f = &e.fake;
    let (shop, _) = crate::products::shop().await;
    let mut app = e.app();
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
    f.press(61, "shop:use:1", 6);
    f.wait_text(61, "Какой ролик").await;
    f.press(61, "u:f:bg", 7);
    f.wait_text(61, "не длиннее 15 секунд").await;
    f.video(61, "bg", bot_flows::small_clip(e.dir.path()), 1000);
    f.wait_text(61, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 61, "ru+f3").await;
    f.press(61, "u:pk", 8);
    f.wait_text(61, "Стоимость ролика").await;
    let go = f.newest_button(61, "u:go:");
    f.press(61, &go, 9);
    f.wait_text(61, "В очереди").await;
    bot_flows::stop(running).await;

    let job = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let p = match job.spec.clone().unwrap() {
        reelforge::jobs::JobSpec::UgcVideo(p) => p,
        other => panic!("{other:?}"),
    };
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
    assert!(
        reelforge::db::products::scripts_of(&e.db, 61)
            .await
            .unwrap()
            .unwrap()
            .2
            .is_none(),
        "the picked script served this order"
    );

    // Made: the logo on the speech's frames, the card after it.
    let bot = std::sync::Arc::new(harness::Bot::default());
    let services = harness::services(&e.db, e.dir.path(), bot.clone());
    let row = harness::run_jobs(&e.db, services, &[job.id])
        .await
        .remove(0);
    assert_eq!(row.state.name(), "done", "{row:?}");
    let video = e.dir.path().join("branded.mp4");
    reelforge::storage::ObjectStore::get_to_file(
        e.storage.as_ref(),
        row.checkpoints.output.as_ref().unwrap(),
        &video,
    )
    .await
    .unwrap();
    let info = media::probe(&video).unwrap();
    let speech = row.checkpoints.speech_seconds.unwrap();
    assert!(
        (info.duration_s - (speech + 2.0)).abs() < 0.2,
        "{} s for {speech} s of speech and 2 s of card",
        info.duration_s
    );
    let (w, h) = (720usize, 1280usize);
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
    // Flat red (0xE01010: luma about 60 in this crop) where the background is a moving pattern.
    assert!(
        (45.0..=90.0).contains(&mean) && spread < 6.0,
        "the logo's red at ({x}, {y}): luma {mean:.1} ± {spread:.1}"
    );
}
