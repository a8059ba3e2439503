//! A campaign through the API against a running `serve` (local providers): a product read
//! from a fake shop, two variants written from it (the chat model), each in 9:16 and 1:1, one
//! quote and one Idempotency-Key; both made and delivered, `campaign.completed` signed once
//! they have ended; a repeat is the same campaign, another body under the key is refused, and
//! a campaign the balance cannot cover makes nothing.
use crate::api::{problem, receiver, Client};
use crate::common;
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use reelforge::db::ledger::{self, Reason};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_of_two_variants_in_two_formats_from_a_shop_link() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    let (shop, _) = crate::products::shop().await;
    let (hook_url, hooks) = receiver().await;
    reelforge::db::users::touch_user(&db, 401, None, "ru")
        .await
        .unwrap();
    ledger::credit(&db, 401, 20_000, Reason::Payment, "seed:401", None)
        .await
        .unwrap();
    reelforge::db::users::touch_user(&db, 402, None, "ru")
        .await
        .unwrap();
    let (key, _) = reelforge::db::api_keys::create(&db, 401)
        .await
        .unwrap()
        .unwrap();
    let (poor, _) = reelforge::db::api_keys::create(&db, 402)
        .await
        .unwrap()
        .unwrap();
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[
            ("PRODUCT_FETCH_PRIVATE_OK", "1"),
            ("API_WEBHOOK_PRIVATE_OK", "1"),
        ],
    )
    .await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let (s, _, body) = c
        .call(
            reqwest::Method::PUT,
            "/v1/webhook",
            &key,
            Some(&json!({"url": hook_url}).to_string()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            "/v1/products",
            &key,
            Some(&json!({"url": format!("{shop}/p/cream")}).to_string()),
            None,
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let product = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, photo) = c
        .upload(
            &key,
            "portrait.jpg",
            std::fs::read(common::ASTRONAUT).unwrap(),
        )
        .await;
    assert_eq!(s, 201, "{photo}");

    let request = json!({
        "product": product, "variants": 2,
        "video": {"portrait": photo["id"], "size": "360x640", "language": "ru+f3",
                  "formats": ["1:1"]}
    })
    .to_string();
    let post = |body: String, key: String, idem: &'static str| {
        let c = &c;
        async move {
            c.call(
                reqwest::Method::POST,
                "/v1/campaigns",
                &key,
                Some(&body),
                Some(idem),
            )
            .await
        }
    };
    let (s, _, body) = post(request.clone(), key.clone(), "launch-1").await;
    assert_eq!(s, 201, "{body}");
    let campaign: Value = serde_json::from_str(&body).unwrap();
    let id = campaign["id"].as_i64().unwrap();
    let variants = campaign["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(
        (
            variants[0]["variant"].as_str(),
            variants[1]["variant"].as_str()
        ),
        (Some("A"), Some("B"))
    );
    assert_ne!(
        variants[0]["script"], variants[1]["script"],
        "two different hooks"
    );
    assert!(variants[0]["script"].as_str().unwrap().contains("Роса"));
    let price = campaign["price"].as_i64().unwrap();
    assert_eq!(
        price,
        variants
            .iter()
            .map(|v| v["job"]["price"].as_i64().unwrap())
            .sum::<i64>()
    );
    let after = ledger::balance_of(&db, 401).await.unwrap();
    assert_eq!(after, 20_000 - price, "one quote, charged once");

    // The same request again: the same campaign, nothing charged; another body: refused.
    let (s, _, body) = post(request.clone(), key.clone(), "launch-1").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], id);
    assert_eq!(ledger::balance_of(&db, 401).await.unwrap(), after);
    // A request interrupted after its first variant (as a crash would leave it): the repeat
    // finds B's job under its key and finishes the campaign, paying nothing twice.
    let made = reelforge::db::campaigns::get(&db, 401, id)
        .await
        .unwrap()
        .unwrap();
    let mut half = made.jobs.clone();
    let b_job = half[1].job;
    half[1].job = 0;
    reelforge::db::campaigns::set_jobs(&db, id, &half, false)
        .await
        .unwrap();
    assert_eq!(
        c.get(&format!("/v1/campaigns/{id}"), &key).await.1["state"],
        "incomplete"
    );
    let (s, _, body) = post(request.clone(), key.clone(), "launch-1").await;
    assert!(s == 200 || s == 201, "{s} {body}");
    let resumed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        resumed["variants"][1]["job"]["id"], b_job,
        "the same job, found by its key"
    );
    assert_eq!(
        ledger::balance_of(&db, 401).await.unwrap(),
        after,
        "nothing paid twice"
    );

    let other =
        json!({"scripts": ["Другой текст."], "video": {"portrait": photo["id"]}}).to_string();
    let (s, h, body) = post(other, key.clone(), "launch-1").await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "idempotency-mismatch");

    // Both variants are made; the campaign completes and says so once, signed.
    let mut done = Value::Null;
    for _ in 0..150 {
        let (s, view) = c.get(&format!("/v1/campaigns/{id}"), &key).await;
        assert_eq!(s, 200, "{view}");
        if view["state"] == "completed" {
            done = view;
            break;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    for v in done["variants"].as_array().expect("the campaign completed") {
        assert_eq!(v["job"]["state"], "done", "{v}");
        assert_eq!(v["job"]["spec"]["formats"], json!(["1:1"]));
        // Each format has its own result.
        let id = v["job"]["id"].as_i64().unwrap();
        assert_eq!(
            v["job"]["formats"],
            json!([{"format": "1:1", "result_url": format!("/v1/jobs/{id}/result?format=1:1")}])
        );
        let square = c
            .http
            .get(format!("{}/v1/jobs/{id}/result?format=1:1", c.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(square.status(), 200);
        let path = dir.path().join(format!("square-{id}.mp4"));
        std::fs::write(&path, square.bytes().await.unwrap()).unwrap();
        let video = media::probe(&path).unwrap().video.unwrap();
        assert_eq!((video.display_width, video.display_height), (360, 360));
        let (s, _) = c
            .get(&format!("/v1/jobs/{id}/result?format=16:9"), &key)
            .await;
        assert_eq!(s, 404, "not made in 16:9");
    }
    common::wait_until("campaign.completed", Duration::from_secs(30), || async {
        hooks
            .lock()
            .unwrap()
            .iter()
            .any(|(_, _, b)| b.contains("campaign.completed"))
    })
    .await;
    let events: Vec<(String, String, String)> = hooks.lock().unwrap().clone();
    let completed: Vec<_> = events
        .iter()
        .filter(|(_, _, b)| b.contains("\"campaign.completed\""))
        .collect();
    assert_eq!(completed.len(), 1, "once");
    assert_eq!(completed[0].0, format!("evt_campaign_{id}_completed"));
    assert!(
        completed[0].1.starts_with("t="),
        "signed: {}",
        completed[0].1
    );

    // Someone else's campaign does not exist; a campaign the balance cannot cover makes nothing.
    let (s, _) = c.get(&format!("/v1/campaigns/{id}"), &poor).await;
    assert_eq!(s, 404);
    let (s, own) = c
        .upload(
            &poor,
            "portrait.jpg",
            std::fs::read(common::ASTRONAUT).unwrap(),
        )
        .await;
    assert_eq!(s, 201, "{own}");
    let scripts = json!({"scripts": ["Привет! Это крем.", "Крем «Роса» — попробуйте."],
                          "video": {"portrait": own["id"], "language": "ru+f3"}})
    .to_string();
    let (s, h, body) = post(scripts, poor.clone(), "poor-1").await;
    assert_eq!(s, 402, "{body}");
    problem(s, &h, &body, "insufficient-funds");
    assert!(
        reelforge::db::campaigns::by_key(&db, 402, "poor-1")
            .await
            .unwrap()
            .is_none(),
        "nothing recorded either"
    );
    assert!(reelforge::db::jobs::jobs_of_user(&db, 402, 10)
        .await
        .unwrap()
        .iter()
        .all(|j| j.state.name() == "rejected"));
}
