//! The free layout preview through the fake Bot API: after the speech preview and before
//! paying, the bot sends a still of the final frame; the buttons move the circle, resize it
//! and add the ring (re-drawn in place, at most once a second); the order carries the layout,
//! and the delivered video's frame matches the still where the circle is.
use crate::bot_flows::{self, env, small_clip, stop};
use crate::common;
use crate::harness;
use std::time::Duration;

/// Mean absolute difference of two grey crops (0–255).
pub(crate) fn mad(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

/// Means of `block`×`block` squares of a `side`×`side` grey picture.
pub(crate) fn blocks(g: &[u8], side: usize, block: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for by in (0..=side - block).step_by(block) {
        for bx in (0..=side - block).step_by(block) {
            let mut sum = 0u32;
            for y in 0..block {
                for x in 0..block {
                    sum += u32::from(g[(by + y) * side + bx + x]);
                }
            }
            out.push((sum / (block * block) as u32) as u8);
        }
    }
    out
}

/// The grey pixels of a JPEG's region.
pub(crate) fn still_crop(path: &std::path::Path, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let img = media::load_image(path).unwrap();
    let mut out = Vec::new();
    for row in y..y + h {
        for col in x..x + w {
            let p = img.get_pixel(col, row).0;
            out.push(
                ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8,
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_free_still_shows_the_layout_the_buttons_change_it_and_the_video_matches() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(80, 5000).await;
    f.text(80, "/create");
    f.wait_text(80, "Какой ролик").await;
    f.press(80, "u:f:bg", 3);
    f.wait_text(80, "не длиннее 15 секунд").await;
    f.video(80, "bg", small_clip(e.dir.path()), 1000);
    f.wait_text(80, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 80, "ru+f3").await;
    let photos_before = f.calls_of("sendphoto").len();
    f.text(80, "Привет! Заходите к нам.");
    f.wait_text(80, "Стоимость ролика").await;
    // The still came before any payment, with the layout buttons.
    let still = f.calls_of("sendphoto");
    assert_eq!(still.len(), photos_before + 1, "one still");
    let buttons = crate::fake_tg::buttons_of(still.last().unwrap());
    assert!(
        buttons.iter().any(|b| b.ends_with("u:lp:tr")),
        "{buttons:?}"
    );
    assert!(
        buttons.iter().any(|b| b.starts_with("• M|")),
        "M is chosen: {buttons:?}"
    );
    // New orders start with karaoke captions, kept clear of the Reels interface.
    assert!(
        buttons.contains(&"Субтитры: Караоке|u:lt".to_string())
            && buttons.contains(&"• Reels|u:lz:reels".to_string()),
        "{buttons:?}"
    );
    assert!(
        reelforge::db::jobs::jobs_of_user(&e.db, 80, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing ordered yet"
    );
    // Move it top-right: drawn again in place.
    let edits = || f.calls_of("editmessagemedia").len();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    f.press(80, "u:lp:tr", 20);
    common::wait_until("the re-drawn still", Duration::from_secs(20), || async {
        edits() == 1
    })
    .await;
    // Two presses within a second: both kept, drawn at most once.
    f.press(80, "u:ls:l", 20);
    f.press(80, "u:lr", 20);
    // Bold-pop captions for TikTok.
    f.press(80, "u:lt", 20);
    f.press(80, "u:lz:tiktok", 20);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(edits() <= 2, "at most one re-draw a second: {}", edits());
    f.press(80, &f.newest_button(80, "u:go:"), 21);
    f.wait_text(80, "В очереди").await;
    let job = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let spec = serde_json::to_value(job.spec.clone().unwrap()).unwrap();
    assert_eq!(spec["position"], "top-right", "{spec}");
    assert_eq!(spec["circle_size"], "l", "{spec}");
    assert_eq!(spec["ring"], true, "{spec}");
    assert_eq!(spec["caption_style"], "bold-pop", "{spec}");
    assert_eq!(spec["safe_zone"], "tiktok", "{spec}");
    stop(running).await;

    // Make the video, then compare its first frame with the still of the same layout.
    let bot = std::sync::Arc::new(harness::Bot::default());
    let services = harness::services(&e.db, e.dir.path(), bot.clone());
    let row = harness::run_jobs(&e.db, services, &[job.id])
        .await
        .remove(0);
    assert_eq!(row.state.name(), "done", "{row:?}");
    let video = e.dir.path().join("delivered.mp4");
    reelforge::storage::ObjectStore::get_to_file(
        e.storage.as_ref(),
        row.checkpoints.output.as_ref().unwrap(),
        &video,
    )
    .await
    .unwrap();
    let p = match job.spec.unwrap() {
        reelforge::jobs::JobSpec::UgcVideo(p) => p,
        other => panic!("{other:?}"),
    };
    let placed = p.layout.place(720, 1280).unwrap();
    let (diameter, ring) = (placed.diameter, placed.ring);
    let fetch = |key: String, name: &str| {
        let path = e.dir.path().join(name);
        let storage = e.storage.clone();
        async move {
            reelforge::storage::ObjectStore::get_to_file(storage.as_ref(), &key, &path)
                .await
                .unwrap();
            path
        }
    };
    let portrait = fetch(p.portrait.clone(), "portrait.jpg").await;
    let background = fetch(p.background.clone().unwrap(), "background.mp4").await;
    let still_at = |position: &str, name: &str| media::LayoutPreview {
        background: Some(background.clone()),
        background_start_s: 0.0,
        portrait: portrait.clone(),
        caption: Some(p.script.clone()),
        caption_style: p.layout.caption_style,
        safe_zone: p.layout.safe_zone,
        width: 720,
        height: 1280,
        position: position.parse().unwrap(),
        diameter: Some(diameter),
        ring,
        logo: None,
        output: e.dir.path().join(name),
    };
    let same = still_at("top-right", "same.jpg");
    let circle = media::layout_preview(&same).unwrap().unwrap();
    media::layout_preview(&still_at("bottom-left", "other.jpg")).unwrap();
    let (x, y, d) = (circle.x as u32, circle.y as u32, circle.diameter as u32);
    // The circle's square at the video's first frames, compared block by block (a talking
    // head's framing may differ from the portrait's by a few per cent of zoom).
    let frame = common::gray_crop(&video, 0.05, x, y, d, d);
    if let Ok(keep) = std::env::var("LAYOUT_SHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&same.output, format!("{keep}/still.jpg")).unwrap();
        std::fs::copy(&video, format!("{keep}/video.mp4")).unwrap();
    }
    let block = (d / 20) as usize;
    let coarse = |g: Vec<u8>| blocks(&g, d as usize, block);
    let video_blocks = coarse(frame);
    let matching = mad(&video_blocks, &coarse(still_crop(&same.output, x, y, d, d)));
    let elsewhere = mad(
        &video_blocks,
        &coarse(still_crop(&e.dir.path().join("other.jpg"), x, y, d, d)),
    );
    assert!(
        matching < 30.0,
        "the video's circle differs from the still: {matching:.1}"
    );
    assert!(
        elsewhere > matching * 2.0,
        "a control layout should differ: {elsewhere:.1} vs {matching:.1}"
    );

    // /overlay: the finished video's layout on its still, changed and composed again for the
    // compose price, reusing the paid speech and talking head.
    let running = e.run(e.app());
    let stills = f.calls_of("sendphoto").len();
    f.text(80, "/overlay");
    common::wait_until("the overlay still", Duration::from_secs(20), || async {
        f.calls_of("sendphoto").len() == stills + 1
    })
    .await;
    let buttons = crate::fake_tg::buttons_of(f.calls_of("sendphoto").last().unwrap());
    assert!(buttons.iter().any(|b| b.starts_with("• ↗")), "{buttons:?}");
    assert!(
        buttons.contains(&"🔁 Пересобрать — 30 токенов|u:rc:30".to_string()),
        "{buttons:?}"
    );
    f.press(80, "u:lp:bl", 30);
    // A button without its price (from before prices rode on it) orders nothing.
    f.press(80, "u:rc", 30);
    f.wait_text(80, "Цена сейчас: 30 токенов").await;
    assert_eq!(reelforge::db::jobs::all_jobs(&e.db).await.unwrap().len(), 1);
    f.press(80, "u:rc:30", 30);
    common::wait_until("the recompose job", Duration::from_secs(20), || async {
        reelforge::db::jobs::all_jobs(&e.db).await.unwrap().len() == 2
    })
    .await;
    let remake = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(remake.kind.unwrap().name(), "recompose");
    assert_eq!(remake.cost_tokens, 30);
    let spec = serde_json::to_value(remake.spec.unwrap()).unwrap();
    assert_eq!(spec["position"], "bottom-left", "{spec}");
    assert!(
        remake.checkpoints.talking_head.is_some(),
        "the paid head is carried"
    );
    stop(running).await;
}
