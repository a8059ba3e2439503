//! The hostile-input corpus through the fake Bot API, as a user would send it: an empty and a
//! truncated photo, a 200 MB "video", a zip and an HLS playlist named .mp4, and a script that
//! looks like an espeak-ng option. Every one gets a plain answer; the bot keeps serving, and the
//! script is priced (and spoken) as its literal text.
use crate::bot_flows::{self, env, small_clip, stop};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_and_scripts_get_a_plain_answer_and_nothing_breaks() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(42, 5000).await;

    // Photos: empty, and cut short.
    f.photo(42, "empty", Vec::new(), None);
    f.wait_text(42, "Не получается открыть фото").await;
    let whole = std::fs::read(crate::common::ASTRONAUT).unwrap();
    f.photo(42, "cut", whole[..whole.len() / 2].to_vec(), Some("оживи"));
    crate::common::wait_until("both photos refused", Duration::from_secs(30), || async {
        f.texts_to(42)
            .iter()
            .filter(|t| t.contains("Не получается открыть фото"))
            .count()
            == 2
    })
    .await;
    assert!(
        f.texts_to(42).iter().any(|t| t.contains("обрезан")),
        "the cut photo is called truncated: {:?}",
        f.texts_to(42)
    );

    // Backgrounds: 200 MB, a zip, an HLS playlist pointing at a server file.
    f.text(42, "/create");
    f.wait_text(42, "Какой ролик").await;
    f.press(42, "u:f:bg", 3);
    f.wait_text(42, "не длиннее 15 секунд").await;
    f.video(42, "huge", vec![0; 16], 200 * 1024 * 1024);
    f.wait_text(42, "200 МБ").await;
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00secret.txt".repeat(8);
    f.video(42, "zip", zip, 200);
    let playlist =
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n/etc/passwd\n#EXT-X-ENDLIST\n";
    f.video(42, "hls", playlist.as_bytes().to_vec(), 80);
    crate::common::wait_until("both refusals", Duration::from_secs(30), || async {
        f.texts_to(42)
            .iter()
            .filter(|t| t.contains("Не получается открыть видео"))
            .count()
            == 2
    })
    .await;

    // The conversation goes on: a real clip, a gallery character, an offline voice, and a
    // script that is an espeak-ng option.
    f.video(42, "bg", small_clip(e.dir.path()), 1000);
    f.wait_text(42, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 42, "ru+f3").await;
    f.text(42, "-f/etc/passwd");
    let texts = f.wait_text(42, "Стоимость ролика").await;
    let confirm = texts.last().unwrap();
    // A few seconds of speech, not the minutes /etc/passwd would take to read.
    let most = crate::common::prices().talking_head_tokens(6);
    let price: i64 = confirm
        .split_whitespace()
        .filter_map(|w| w.parse::<i64>().ok())
        .next_back()
        .unwrap_or(i64::MAX);
    assert!(price <= most, "{confirm} (at most {most})");
    // A forged voice in button data is refused, not passed to espeak-ng.
    f.press(42, "u:v:-f/etc/passwd", 8);
    f.text(42, "Привет");
    f.wait_call("answercallbackquery", |_| true).await;
    // And the bot still answers.
    f.text(42, "/balance");
    f.wait_text(42, "Баланс").await;
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_actions_that_cost_the_operator_are_limited_per_user() {
    let e = env().await;
    let f = &e.fake;
    let mut app = e.app();
    app.limits = reelforge::bot::rate_limit::RateLimits::new(1);
    let running = e.run(app);
    e.member(42, 100).await;
    f.text(42, "/feedback Отличный бот");
    f.wait_call("sendmessage", |b| b["chat_id"] == 1).await;
    f.text(42, "/feedback И ещё одно");
    f.wait_text(42, "Слишком часто").await;
    let to_admin = f
        .calls_of("sendmessage")
        .iter()
        .filter(|b| b["chat_id"] == 1)
        .count();
    assert_eq!(
        to_admin, 1,
        "the second message did not reach the admin chat"
    );
    stop(running).await;
}

/// Sixteen 10000×10000 PNGs (100 MP each, 400 MB to decode) sent as files by sixteen users at
/// the same moment: the decodes share a memory budget and wait their turn, every sender gets
/// an answer, and a seventeenth user is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_huge_photos_leaves_the_bot_answering() {
    let e = env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    let png = e.dir.path().join("huge.png");
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=black:s=10000x10000",
        ])
        .args(["-frames:v", "1", "-pix_fmt", "gray"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() < 1 << 20, "a small file: {} bytes", bytes.len());
    let senders: Vec<i64> = (500..516).collect();
    f.text(600, "/start");
    f.wait_text(600, "Баланс").await;
    let started = std::time::Instant::now();
    for user in &senders {
        f.document(
            *user,
            &format!("huge{user}"),
            bytes.clone(),
            "image/png",
            "huge.png",
        );
    }
    // While the sixteen decode, someone else is answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    f.text(600, "/balance");
    crate::common::wait_until(
        "the bystander's answer",
        Duration::from_secs(60),
        || async {
            f.texts_to(600)
                .iter()
                .filter(|t| t.contains("Баланс"))
                .count()
                >= 2
        },
    )
    .await;
    let bystander = asked.elapsed();
    // 100 MP is within the limit: each photo is accepted and the bot asks what to do with it.
    let answered = |u: i64| {
        f.texts_to(u)
            .iter()
            .any(|t| t.contains("Что сделать с этим фото"))
    };
    crate::common::wait_until(
        "every sender answered",
        Duration::from_secs(240),
        || async { senders.iter().all(|u| answered(*u)) },
    )
    .await;
    let storm = started.elapsed();
    // The test process's peak memory. Other tests share the process (the whole suite peaks
    // near 1.2 GB with this test in it); without the decode budget the storm alone took 6.3 GB.
    let peak_kb: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    println!(
        "16 × 100 MP PNG: all answered in {storm:?}; a bystander's /balance in {bystander:?}; peak {} MB",
        peak_kb / 1024
    );
    assert!(
        peak_kb < 4 * 1024 * 1024,
        "the decodes were not bounded: peak {} MB",
        peak_kb / 1024
    );
    assert!(
        bystander < storm || bystander < Duration::from_secs(2),
        "the bystander waited {bystander:?} (storm {storm:?})"
    );
    assert!(
        bystander < Duration::from_secs(5),
        "the bystander waited {bystander:?}"
    );
    stop(running).await;
}
