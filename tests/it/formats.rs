//! Every format from one order: a UGC video asked as 9:16 with 1:1 and 16:9 is priced as one
//! video plus one compose per extra format, composed in one pass, kept next to its main
//! output, delivered through the Bot API as one album labelled by format, and erased with the
//! user's data.
use crate::common;
use crate::dbs;
use crate::fake_tg::{self, FakeTelegram};
use crate::harness;
use reelforge::bot::deliver::TelegramDeliver;
use reelforge::db::ledger::{self, Reason};
use reelforge::jobs::JobSpec;
use reelforge::orders;
use reelforge::storage::ObjectStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_gets_every_format_in_one_album() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (fake, url) = FakeTelegram::start().await;
    let deliver = TelegramDeliver::new(fake_tg::endpoint(&url), db.clone()).unwrap();
    let services = harness::services(&db, dir.path(), Arc::new(deliver));
    services
        .storage
        .put_file(
            "uploads/portrait.jpg",
            std::path::Path::new(common::ASTRONAUT),
            "image/jpeg",
        )
        .await
        .unwrap();
    let bg = common::background(dir.path(), "bg.mp4", 640, 360, 1.5, 30);
    services
        .storage
        .put_file("uploads/bg.mp4", &bg, "video/mp4")
        .await
        .unwrap();
    reelforge::db::users::touch_user(&db, 91, None, "ru")
        .await
        .unwrap();
    ledger::credit(&db, 91, 5000, Reason::Payment, "pay:91", None)
        .await
        .unwrap();

    let prices = reelforge::pricing::PriceTable::default_table();
    let spec: JobSpec = serde_json::from_value(serde_json::json!({
        "kind": "ugc_video", "portrait": "uploads/portrait.jpg", "background": "uploads/bg.mp4",
        "script": "Привет! Это наш новый крем для лица, он увлажняет кожу весь день.", "size": "360x640", "position": "top-right",
        "formats": ["1:1", "16:9"]
    }))
    .unwrap();
    let order = orders::Order::priced(&prices, spec.clone(), None, 3).unwrap();
    let mut single = spec.clone();
    if let JobSpec::UgcVideo(p) = &mut single {
        p.layout.formats.clear();
    }
    let one = orders::Order::priced(&prices, single, None, 3).unwrap();
    assert_eq!(
        order.quote.tokens,
        one.quote.tokens + 2 * prices.compose.tokens,
        "each extra format costs one compose"
    );
    let job = orders::submit(&db, 91, order, None, orders::Channel::Service)
        .await
        .unwrap()
        .id;
    let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
    assert_eq!(row.state.name(), "done", "{row:?}");

    // One album: the video's own format first, each labelled.
    let albums = fake.calls_of("sendmediagroup");
    assert_eq!(albums.len(), 1, "delivered once, as one album");
    let media = fake_tg::media_of(&albums[0]);
    let captions: Vec<&str> = media
        .iter()
        .map(|m| m["caption"].as_str().unwrap())
        .collect();
    assert_eq!(captions, ["9:16", "1:1", "16:9"]);
    assert!(media.iter().all(|m| m["type"] == "video"));
    fake.wait_text(91, "3 форматах").await;
    assert!(
        fake.last_buttons(91).iter().any(|b| b.contains("again:")),
        "the buttons come under the album: {:?}",
        fake.last_buttons(91)
    );
    assert_eq!(fake.videos_to(91), 0, "no separate video");

    // Each format is kept next to the main output, at its size, as long as the main.
    let output = row.checkpoints.output.clone().unwrap();
    let main = dir.path().join("main.mp4");
    // The harness keeps its files in `files/` under the test's folder.
    let store = reelforge::storage::Storage::Folder(
        reelforge::storage::folder::FolderStore::new(dir.path().join("files")).unwrap(),
    );
    store.get_to_file(&output, &main).await.unwrap();
    let main_info = media::probe(&main).unwrap();
    for (w, h) in [(360, 360), (640, 360)] {
        let key = reelforge::jobs::layout::more_output_key(&output, w, h);
        let path = dir.path().join(format!("{w}x{h}.mp4"));
        store.get_to_file(&key, &path).await.unwrap();
        let info = media::probe(&path).unwrap();
        let v = info.video.unwrap();
        assert_eq!((v.display_width, v.display_height), (w as u32, h as u32));
        assert!((info.duration_s - main_info.duration_s).abs() < 0.1);
        assert!(info.audio.is_some());
    }
    // /deletedata finds them.
    let files = reelforge::db::account::files_of(&db, 91).await.unwrap();
    for (w, h) in [(360, 360), (640, 360)] {
        let key = reelforge::jobs::layout::more_output_key(&output, w, h);
        assert!(files.contains(&key), "{key} in {files:?}");
    }
}

/// In the chat: "+ 1:1" on the layout still adds the format, a new confirmation shows the new
/// total, a press on the older button (showing the old price) orders nothing, and the new
/// one orders the video with its format at the price it showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_added_in_the_chat_is_ordered_only_at_the_price_shown() {
    use crate::bot_flows;
    let e = bot_flows::env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(93, 5000).await;
    f.text(93, "/create");
    f.wait_text(93, "Какой ролик").await;
    f.press(93, "u:f:head", 3);
    f.wait_text(93, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 93, "ru+f3").await;
    f.text(93, "Привет! Заходите к нам.");
    f.wait_text(93, "Стоимость ролика").await;
    let go = |buttons: Vec<String>| {
        buttons
            .iter()
            .find_map(|b| {
                b.split_once('|')
                    .map(|(_, d)| d.to_string())
                    .filter(|d| d.starts_with("u:go:"))
            })
            .unwrap_or_else(|| panic!("{buttons:?}"))
    };
    let old_go = go(f.last_buttons(93));
    let base: i64 = old_go.trim_start_matches("u:go:").parse().unwrap();
    let still = f.calls_of("sendphoto").pop().unwrap();
    let buttons = fake_tg::buttons_of(&still);
    assert!(
        buttons.contains(&"+ 1:1|u:lf:1x1".to_string()),
        "{buttons:?}"
    );
    assert!(
        !buttons.iter().any(|b| b.ends_with("u:lf:9x16")),
        "not its own format"
    );

    f.press(93, "u:lf:1x1", 20);
    let compose = reelforge::pricing::PriceTable::default_table()
        .compose
        .tokens;
    let total = base + compose;
    f.wait_text(93, &format!("Цена сейчас: {total} токенов"))
        .await;
    let new_go = go(f.last_buttons(93));
    assert_eq!(new_go, format!("u:go:{total}"));
    // The older button showed the old price: nothing is ordered, the new price is said again.
    f.press(93, &old_go, 21);
    common::wait_until(
        "the refusal",
        std::time::Duration::from_secs(20),
        || async {
            f.texts_to(93)
                .iter()
                .filter(|t| t.contains(&format!("Цена сейчас: {total}")))
                .count()
                == 2
        },
    )
    .await;
    assert!(reelforge::db::jobs::jobs_of_user(&e.db, 93, 10)
        .await
        .unwrap()
        .is_empty());
    // The economy talking head: priced from its model's cost, the same formats.
    let seconds = (base - compose) / 150;
    let economy = 23 * seconds + compose + compose;
    let tiers = f.last_buttons(93);
    assert!(
        tiers.contains(&format!("Эконом — {economy}|u:ht:economy")),
        "{tiers:?}"
    );
    f.press(93, "u:ht:economy", 22);
    f.wait_text(93, &format!("Цена сейчас: {economy} токенов"))
        .await;
    let economy_go = f.newest_button(93, "u:go:");
    assert_eq!(economy_go, format!("u:go:{economy}"));
    f.press(93, &new_go, 22);
    common::wait_until(
        "the refusal",
        std::time::Duration::from_secs(20),
        || async {
            f.texts_to(93)
                .iter()
                .filter(|t| t.contains(&format!("Цена сейчас: {economy}")))
                .count()
                == 2
        },
    )
    .await;
    f.press(93, &economy_go, 23);
    f.wait_text(93, "В очереди").await;
    let job = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(job.cost_tokens, economy);
    assert_eq!(
        serde_json::to_value(job.spec.clone().unwrap()).unwrap()["head_tier"],
        "economy"
    );
    let spec = serde_json::to_value(job.spec.unwrap()).unwrap();
    assert_eq!(spec["formats"], serde_json::json!(["1:1"]), "{spec}");
    bot_flows::stop(running).await;
}
