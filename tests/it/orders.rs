//! The ordering service as a hostile API client meets it: a UGC spec the composite could not
//! use is refused at submit (422 naming the field) with nothing charged and no job made, so no
//! provider is ever paid for it; a UGC price quoted from the script settles on the speech that
//! was made (a much longer speech is refused before the talking head and refunded, a shorter
//! one gives the rest back); and every surface shows the quote.
use crate::api::{problem, Client};
use crate::common;
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ugc_through_the_api_is_checked_before_money_moves_and_priced_on_its_speech() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    touch_user(&db, 301, None, "ru").await.unwrap();
    ledger::credit(&db, 301, 5000, Reason::Payment, "seed:301", None)
        .await
        .unwrap();
    let (key, _) = reelforge::db::api_keys::create(&db, 301)
        .await
        .unwrap()
        .unwrap();
    let serve = common::LocalServe::start(&t.url, dir.path(), &tg_url, &[]).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    let (s, photo) = c
        .upload(&key, "face.jpg", std::fs::read(common::ASTRONAUT).unwrap())
        .await;
    assert_eq!(s, 201, "{photo}");
    let clip = common::background(dir.path(), "bg.mp4", 360, 640, 2.0, 25);
    let (s, bg) = c
        .upload(&key, "bg.mp4", std::fs::read(&clip).unwrap())
        .await;
    assert_eq!(s, 201, "{bg}");
    let (portrait, background) = (photo["id"].clone(), bg["id"].clone());
    let spec = |edit: &dyn Fn(&mut Value)| {
        let mut v = json!({"kind": "ugc_video", "portrait": portrait, "background": background,
            "script": "Привет! Это наш магазин.", "size": "360x640"});
        edit(&mut v);
        v.to_string()
    };

    // Values only the composite step would have read (after speech and a head were bought).
    type Edit<'a> = (&'static str, &'a dyn Fn(&mut Value));
    let refused: [Edit; 8] = [
        ("position", &|v| v["position"] = "middle".into()),
        ("position", &|v| v["position"] = "300,600".into()),
        ("circle_size", &|v| v["circle_size"] = "xl".into()),
        ("voice", &|v| v["voice"] = "../../admin".into()),
        ("language", &|v| v["language"] = "-v mb-en1".into()),
        ("portrait", &|v| v["portrait"] = background.clone()),
        ("background", &|v| v["background"] = portrait.clone()),
        // Not a live gallery character's portrait (nor the caller's upload).
        ("portrait", &|v| v["portrait"] = "gallery/anna.jpg".into()),
    ];
    for (field, edit) in refused {
        let (s, h, body) = c.post_job(&key, &spec(edit), None).await;
        assert_eq!(s, 422, "{field}: {body}");
        problem(s, &h, &body, "invalid-field");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["field"],
            field,
            "{body}"
        );
    }
    assert_eq!(ledger::balance_of(&db, 301).await.unwrap(), 5000);
    assert!(
        reelforge::db::jobs::jobs_of_user(&db, 301, 10)
            .await
            .unwrap()
            .is_empty(),
        "no job was made, so no provider was called"
    );

    // Numbers are spoken as words, far longer than their characters: a digit is quoted as
    // ten characters (21 digits and two spaces: 15 s, 2280 tokens; espeak-ng speaks them in
    // ~13 s, so this one would settle a little lower). Cancelled at once: refunded.
    let (s, _, body) = c
        .post_job(
            &key,
            &spec(&|v| v["script"] = "1234567 2345678 3456789".into()),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let numbers: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(numbers["price"], 2280, "{body}");
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/jobs/{}/cancel", numbers["id"]),
            &key,
            None,
            None,
        )
        .await;
    assert_eq!(s, 202, "{body}");
    c.wait_state(&key, numbers["id"].as_i64().unwrap(), "cancelled")
        .await;

    // Roman numeral signs (U+216B) are quoted as numbers, ten characters each: 8 signs and 7
    // spaces are 6 s (930 tokens), but espeak-ng spells each out for ~1.4 s (~11.5 s in all).
    // Refused before the talking head is bought, and refunded.
    let (s, _, body) = c
        .post_job(
            &key,
            &spec(&|v| v["script"] = "Ⅻ Ⅻ Ⅻ Ⅻ Ⅻ Ⅻ Ⅻ Ⅻ".into()),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let long: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(long["price"], 930, "{body}");
    let long_id = long["id"].as_i64().unwrap();
    let view = c.wait_state(&key, long_id, "failed").await;
    assert_eq!(view["error"]["class"], "bad_user_input", "{view}");
    assert!(
        view["error"]["message"].as_str().unwrap().contains("10 %"),
        "{view}"
    );
    let row = reelforge::db::jobs::job(&db, long_id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.checkpoints.talking_head.is_none(), "no head was bought");
    assert!(row.checkpoints.speech_seconds.unwrap() > 6.6, "{row:?}");
    assert_eq!(
        ledger::balance_of(&db, 301).await.unwrap(),
        5000,
        "refunded\n{}",
        log()
    );

    // A script of long pauses: 66 characters quoted at 5 s (780), spoken in under a second
    // (180): the rest comes back once the speech is made, and the video is delivered.
    let pauses = format!("Да.{}.", " ".repeat(62));
    let (s, _, body) = c
        .post_job(&key, &spec(&|v| v["script"] = pauses.clone().into()), None)
        .await;
    assert_eq!(s, 201, "{body}");
    let short: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(short["price"], 780, "{body}");
    let short_id = short["id"].as_i64().unwrap();
    let view = c.wait_state(&key, short_id, "done").await;
    assert_eq!(view["price"], 180, "{view}");
    assert_eq!(ledger::balance_of(&db, 301).await.unwrap(), 5000 - 180);
}

/// The one quote of `spec`.
fn quote(prices: &reelforge::pricing::PriceTable, spec: Value, speech: Option<f64>) -> i64 {
    let spec: reelforge::jobs::JobSpec = serde_json::from_value(spec).unwrap();
    reelforge::orders::Order::priced(prices, spec, speech, 1)
        .unwrap()
        .quote
        .tokens
}

/// Every product × option is quoted once; the bot's settings screen, the API's `price` (the
/// 402 of a user with no tokens names it), `/v1/prices` and the operator's profit report show
/// that number.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_surface_shows_the_one_quote() {
    let prices = common::prices();
    let mut videos = Vec::new();
    for (model, tier, size, res) in [
        ("fast", "fast", "720x1280", "720p"),
        ("quality", "quality", "720x1280", "720p"),
        ("hd", "quality", "1080x1920", "1080p"),
    ] {
        for seconds in [4u32, 8, 12] {
            let spec = json!({"kind": "text_to_video", "prompt": "маяк", "tier": tier,
                "seconds": seconds, "size": size});
            videos.push((
                model,
                tier,
                size,
                res,
                seconds,
                quote(&prices, spec.clone(), None),
                spec,
            ));
        }
    }

    // The operator's profit report.
    let rows = prices.profit_rows();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.product == name)
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
            .price_tokens
    };
    for (_, tier, _, res, seconds, q, _) in &videos {
        assert_eq!(row(&format!("video {tier} {res} {seconds} s")), *q);
    }
    let edit = json!({"kind": "character_edit", "image": "a.jpg", "prompt": "red hat"});
    assert_eq!(row("image edit"), quote(&prices, edit.clone(), None));
    let ugc = json!({"kind": "ugc_video", "portrait": "p.jpg", "script": "Привет! Это наш магазин, заходите."});
    // Every talking-head tier: the report's row is the tier's quote.
    for tier in ["premium", "standard", "economy"] {
        let mut at = ugc.clone();
        at["head_tier"] = tier.into();
        assert_eq!(
            row(&format!("UGC 10 s, {tier} (planned cost)")),
            quote(&prices, at, Some(10.0)),
            "{tier}"
        );
    }
    assert_eq!(
        row("UGC 10 s, premium (planned cost)"),
        quote(&prices, ugc.clone(), Some(10.0)),
        "no tier is the first"
    );

    // The API: its price for each spec, and /v1/prices read by its own formula.
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    touch_user(&t.db, 302, None, "ru").await.unwrap();
    let (key, _) = reelforge::db::api_keys::create(&t.db, 302)
        .await
        .unwrap()
        .unwrap();
    let serve = common::LocalServe::start(&t.url, dir.path(), &tg_url, &[]).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let api_price = |spec: Value| {
        let c = &c;
        let key = &key;
        async move {
            let (s, _, body) = c.post_job(key, &spec.to_string(), None).await;
            assert_eq!(s, 402, "{body}");
            let detail = serde_json::from_str::<Value>(&body).unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_string();
            detail
                .strip_prefix("the job costs ")
                .and_then(|d| d.split(' ').next())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("{detail}"))
        }
    };
    let (_, table) = c.get("/v1/prices", &key).await;
    for (_, tier, size, res, seconds, q, spec) in &videos {
        assert_eq!(api_price(spec.clone()).await, *q, "{spec}");
        let listed = table["video"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["tier"] == *tier && v["resolution"] == *res)
            .unwrap_or_else(|| panic!("{tier} {res} in {table}"));
        let per_8s = listed["tokens_per_8s"].as_f64().unwrap();
        assert_eq!(
            (per_8s * f64::from(*seconds) / 8.0).round() as i64,
            *q,
            "{size}"
        );
    }
    let (_, photo) = c
        .upload(&key, "face.jpg", std::fs::read(common::ASTRONAUT).unwrap())
        .await;
    let mut edit = edit;
    edit["image"] = photo["id"].clone();
    let q = quote(&prices, edit.clone(), None);
    assert_eq!(api_price(edit).await, q);
    assert_eq!(table["character_edit"]["tokens"], q);
    let mut ugc = ugc;
    ugc["portrait"] = photo["id"].clone();
    let q = quote(&prices, ugc.clone(), None);
    assert_eq!(api_price(ugc.clone()).await, q);
    let u = &table["ugc_video"];
    let chars = ugc["script"].as_str().unwrap().chars().count() as f64;
    let secs = (chars
        / u["seconds_estimated_as_characters_divided_by"]
            .as_f64()
            .unwrap())
    .ceil();
    assert_eq!(
        u["tokens_per_second_of_speech"].as_i64().unwrap() * secs as i64
            + u["plus"].as_i64().unwrap(),
        q
    );

    // The bot: the settings screen of /generate for each model and length, then the order is
    // charged what the screen said.
    let e = crate::bot_flows::env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(44, 10_000).await;
    f.text(44, "/generate маяк");
    f.wait_text(44, "Цена:").await;
    for (model, _, size, _, seconds, q, _) in &videos {
        f.press(44, &format!("v:m:{model}"), 5);
        f.press(44, &format!("v:s:{seconds}"), 5);
        let needle = format!("{seconds} с · {size}\nЦена: {q} токенов");
        let mut shown = false;
        for _ in 0..400 {
            if f.texts_to(44).last().is_some_and(|t| t.contains(&needle)) {
                shown = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(shown, "{needle}: {:?}", f.texts_to(44).last());
    }
    let (.., last_q, _) = videos.last().unwrap();
    f.press(44, "v:go", 5);
    f.wait_text(44, "В очереди").await;
    let charged = crate::bot_flows::jobs(&e.db).await;
    assert_eq!(charged.last().unwrap().1, *last_q, "{charged:?}");
    crate::bot_flows::stop(running).await;
}
