//! The HTTP API v1 end to end against a running `reelforge serve` (local providers, the fake
//! Bot API for delivery): keys, upload → job → signed webhook → result downloaded and
//! probed; an idempotent repeat; cancel with refund; wrong, revoked and other users' keys;
//! the rate limit; malformed and unknown-field bodies as problem+json; paging; OpenAPI.
use crate::common;
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// A client's webhook receiver: (event id header, signature header, body).
pub(crate) async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                g.lock()
                    .unwrap()
                    .push((h("reelforge-event-id"), h("reelforge-signature"), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

impl Client {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> (u16, HeaderMap, String) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let mut h = HeaderMap::new();
        for (k, v) in headers.iter() {
            h.insert(
                k.as_str().parse::<axum::http::HeaderName>().unwrap(),
                v.as_bytes().try_into().unwrap(),
            );
        }
        (status, h, r.text().await.unwrap())
    }
    pub(crate) async fn post_job(
        &self,
        key: &str,
        body: &str,
        idem: Option<&str>,
    ) -> (u16, HeaderMap, String) {
        self.call(reqwest::Method::POST, "/v1/jobs", key, Some(body), idem)
            .await
    }
    pub(crate) async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let (s, _, body) = self.call(reqwest::Method::GET, path, key, None, None).await;
        (s, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
    /// Polls a job until it is in `state`, slowly enough to stay under the key's rate limit
    /// (a poll every 50 ms would spend 100 requests a minute in 5 s on a busy machine).
    pub(crate) async fn wait_state(&self, key: &str, id: i64, state: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..150 {
            let (s, view) = self.get(&format!("/v1/jobs/{id}"), key).await;
            if s == 200 && view["state"] == state {
                return view;
            }
            last = view;
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
        panic!("job {id} never became {state}: {last}");
    }

    pub(crate) async fn upload(&self, key: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        let r = self
            .http
            .post(format!("{}/v1/uploads", self.base))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn problem(status: u16, headers: &HeaderMap, body: &str, slug: &str) {
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json",
        "{status} {body}"
    );
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v["type"],
        format!("https://reelforge.dev/problems/{slug}"),
        "{body}"
    );
    assert_eq!(v["status"], status, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_developer_makes_a_video_with_the_api_and_gets_a_signed_webhook() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (tg, tg_url) = FakeTelegram::start().await;
    let (hook_url, hooks) = receiver().await;
    for (user, tokens) in [(201, 5000), (202, 1000)] {
        touch_user(&db, user, None, "en").await.unwrap();
        ledger::credit(
            &db,
            user,
            tokens,
            Reason::Payment,
            &format!("seed:{user}"),
            None,
        )
        .await
        .unwrap();
    }
    let (key, _) = reelforge::db::api_keys::create(&db, 201)
        .await
        .unwrap()
        .unwrap();
    let (burst_key, _) = reelforge::db::api_keys::create(&db, 201)
        .await
        .unwrap()
        .unwrap();
    let (other_key, _) = reelforge::db::api_keys::create(&db, 202)
        .await
        .unwrap()
        .unwrap();
    let (revoked, prefix) = reelforge::db::api_keys::create(&db, 201)
        .await
        .unwrap()
        .unwrap();
    assert!(reelforge::db::api::revoke_key(&db, 201, &prefix)
        .await
        .unwrap());
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[
            ("API_RATE_PER_MIN", "100"),
            // The receiver listens on 127.0.0.1 (refused otherwise, checked by a unit test).
            ("API_WEBHOOK_PRIVATE_OK", "1"),
        ],
    )
    .await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();

    // Keys: none, wrong, revoked → 401 problem+json.
    for bad in ["", "rf_000000000000_00", &revoked, "sk-something"] {
        let (s, h, body) = c
            .call(reqwest::Method::GET, "/v1/balance", bad, None, None)
            .await;
        assert_eq!(s, 401, "{bad}: {body}");
        problem(s, &h, &body, "unauthorized");
    }
    let (s, balance) = c.get("/v1/balance", &key).await;
    assert_eq!((s, balance["tokens"].as_i64()), (200, Some(5000)));

    // The webhook and its signing secret.
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
    let secret = serde_json::from_str::<Value>(&body).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // Uploads: the bot's checks.
    let (s, junk) = c
        .upload(&key, "x.jpg", b"not a photo at all".to_vec())
        .await;
    assert_eq!(s, 415, "{junk}");
    let (s, photo) = c
        .upload(&key, "photo.jpg", std::fs::read(common::ASTRONAUT).unwrap())
        .await;
    assert_eq!(s, 201, "{photo}");
    let upload_id = photo["id"].as_str().unwrap().to_string();

    // Bodies that are not a job spec.
    let (s, h, body) = c.post_job(&key, "{\"kind\": ", None).await;
    assert_eq!(s, 400);
    problem(s, &h, &body, "bad-request");
    let unknown = json!({"kind": "image_to_video", "prompt": "slow zoom", "tier": "fast", "seconds": 4,
        "size": "720x1280", "image": upload_id, "colour": "red"});
    let (s, h, body) = c.post_job(&key, &unknown.to_string(), None).await;
    assert_eq!(s, 400);
    problem(s, &h, &body, "bad-request");
    assert!(body.contains("colour"), "{body}");
    // Another user cannot use this upload.
    let mut spec = unknown.clone();
    spec.as_object_mut().unwrap().remove("colour");
    let (s, h, body) = c.post_job(&other_key, &spec.to_string(), None).await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "invalid-field");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["field"],
        "image"
    );

    // The order, then its repeat under the same Idempotency-Key: one job, one charge.
    let (s, _, body) = c.post_job(&key, &spec.to_string(), Some("order-1")).await;
    assert_eq!(s, 201, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(job["price"], 371);
    // A second job, cancelled at once while the first runs: refunded once.
    let mut spec2 = spec.clone();
    spec2["prompt"] = "another one".into();
    let (s, _, body) = c.post_job(&key, &spec2.to_string(), None).await;
    assert_eq!(s, 201, "{body}");
    let id2 = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/jobs/{id2}/cancel"),
            &key,
            None,
            None,
        )
        .await;
    assert_eq!(s, 202, "{body}");
    let (s, _, body) = c.post_job(&key, &spec.to_string(), Some("order-1")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], id);
    // The same key with another request is refused, not answered with the first job.
    let (s, h, body) = c.post_job(&key, &spec2.to_string(), Some("order-1")).await;
    assert_eq!(s, 422, "{body}");
    problem(s, &h, &body, "idempotency-mismatch");

    // Someone else's job is not found.
    let (s, _) = c.get(&format!("/v1/jobs/{id}"), &other_key).await;
    assert_eq!(s, 404);

    c.wait_state(&key, id, "done").await;
    c.wait_state(&key, id2, "cancelled").await;
    let (_, balance) = c.get("/v1/balance", &key).await;
    assert_eq!(
        balance["tokens"],
        5000 - 371,
        "one charge, the cancelled job refunded\n{}",
        log()
    );
    let (s, _, _) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/jobs/{id2}/cancel"),
            &key,
            None,
            None,
        )
        .await;
    assert_eq!(s, 409, "a finished job cannot be cancelled again");

    // The result, downloaded and probed: the asked size and length.
    let r = c
        .http
        .get(format!("{}/v1/jobs/{id}/result", c.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let video = dir.path().join("result.mp4");
    std::fs::write(&video, r.bytes().await.unwrap()).unwrap();
    let info = media::probe(&video).unwrap();
    let v = info.video.unwrap();
    assert_eq!((v.display_width, v.display_height), (720, 1280));
    assert!((info.duration_s - 4.0).abs() < 0.3, "{}", info.duration_s);

    // The webhooks: signed, one per event, deduplicable by id.
    common::wait_until("two webhook events", Duration::from_secs(30), || async {
        hooks.lock().unwrap().len() >= 2
    })
    .await;
    let got = hooks.lock().unwrap().clone();
    let now = reelforge::db::now_ms() / 1000;
    for (event_id, signature, body) in &got {
        assert!(
            reelforge::api::webhooks::verify(&secret, signature, body, now, 300),
            "{signature} {body}"
        );
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(&v["id"], event_id);
    }
    let types: Vec<(String, i64)> = got
        .iter()
        .map(|(_, _, b)| {
            let v: Value = serde_json::from_str(b).unwrap();
            (
                v["type"].as_str().unwrap().to_string(),
                v["data"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(types.contains(&("job.succeeded".into(), id)), "{types:?}");
    assert!(types.contains(&("job.cancelled".into(), id2)), "{types:?}");

    // The same job the bot knows: delivered to the user's chat, in their history.
    assert!(tg
        .calls_of("sendvideo")
        .iter()
        .any(|c| c.to_string().contains("201")));
    assert_eq!(
        reelforge::db::generations::count_since(&db, 0)
            .await
            .unwrap(),
        1
    );

    // Paging, newest first.
    let (_, page) = c.get("/v1/jobs?limit=1", &key).await;
    assert_eq!(page["jobs"][0]["id"], id2);
    let next = page["next"].as_i64().unwrap();
    let (_, page) = c
        .get(&format!("/v1/jobs?limit=1&before={next}"), &key)
        .await;
    assert_eq!(page["jobs"][0]["id"], id);

    // The rate limit: a key's burst past 100 a minute gets 429 with Retry-After.
    let mut limited = None;
    for _ in 0..201 {
        let (s, h, body) = c
            .call(reqwest::Method::GET, "/v1/balance", &burst_key, None, None)
            .await;
        if s == 429 {
            limited = Some((h, body));
            break;
        }
    }
    let (h, body) = limited.expect("no 429 after 201 requests");
    problem(429, &h, &body, "rate-limited");
    let wait: u64 = h
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));

    // The OpenAPI document, generated from the types.
    let (s, doc) = c.get("/v1/openapi.json", &key).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas.contains_key("JobSpecRequest") && schemas.contains_key("Job"),
        "{schemas:?}"
    );
    assert!(
        doc.to_string().contains("ugc_video"),
        "the JobSpec variants are in it"
    );
}
