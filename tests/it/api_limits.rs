//! The API's keys and limits: keys made, listed and revoked from the chat, never more than
//! five live ones (also under concurrent requests, on SQLite and PostgreSQL), the daily upload
//! quota, and the client a trusted reverse proxy names.
use crate::api::{problem, Client};
use crate::common;
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use axum::http::HeaderMap;
use reelforge::db::users::touch_user;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_made_listed_and_revoked_from_the_chat() {
    let e = crate::bot_flows::env().await;
    let f = &e.fake;
    let running = e.run(e.app());
    e.member(42, 100).await;
    f.text(42, "/api new");
    let texts = f.wait_text(42, "rf_").await;
    let shown = texts
        .iter()
        .rev()
        .find(|t| t.contains("rf_"))
        .unwrap()
        .clone();
    let key = shown
        .split_whitespace()
        .find(|w| w.starts_with("rf_"))
        .unwrap()
        .to_string();
    let found = reelforge::db::api_keys::verify(&e.db, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, 42);
    assert!(
        !format!(
            "{:?}",
            reelforge::db::api::keys_of(&e.db, 42).await.unwrap()
        )
        .contains(&key[16..]),
        "only the hash is kept"
    );
    f.text(42, "/api");
    f.wait_text(42, &format!("rf_{}_…", found.prefix)).await;
    f.text(42, &format!("/api revoke {}", found.prefix));
    f.wait_text(42, "отозван").await;
    assert!(reelforge::db::api_keys::verify(&e.db, &key)
        .await
        .unwrap()
        .is_none());
    f.text(42, "/api revoke nope");
    f.wait_text(42, "Нет действующего ключа").await;
    // At most five live keys: the sixth is refused with what to do.
    for _ in 0..5 {
        assert!(reelforge::db::api_keys::create(&e.db, 42)
            .await
            .unwrap()
            .is_some());
    }
    f.text(42, "/api new");
    f.wait_text(42, "уже 5 действующих ключей").await;
    assert!(reelforge::db::api_keys::create(&e.db, 42)
        .await
        .unwrap()
        .is_none());
    crate::bot_flows::stop(running).await;
}

/// Uploads count against a per-user daily quota (`API_UPLOAD_MB_PER_DAY`): over it, a 429
/// `upload-quota` problem and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_daily_quota_are_refused() {
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    touch_user(&t.db, 211, None, "en").await.unwrap();
    let (key, _) = reelforge::db::api_keys::create(&t.db, 211)
        .await
        .unwrap()
        .unwrap();
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[("API_UPLOAD_MB_PER_DAY", "0")],
    )
    .await;
    let c = Client {
        http: reqwest::Client::new(),
        base: serve.base.clone(),
    };
    let r = c
        .http
        .post(format!("{}/v1/uploads", c.base))
        .bearer_auth(&key)
        .multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(common::ASTRONAUT).unwrap())
                    .file_name("face.jpg"),
            ),
        )
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    assert_eq!(status, 429, "{body}");
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        headers["content-type"].as_bytes().try_into().unwrap(),
    );
    problem(status, &h, &body, "upload-quota");
    assert_eq!(
        reelforge::db::api::uploaded_bytes_since(&t.db, 211, 0)
            .await
            .unwrap(),
        0
    );
}

/// Behind a reverse proxy on the same machine every request comes from loopback: with
/// `TRUSTED_PROXIES` the client is the one the proxy names, so `/metrics` (loopback only
/// without a token) is not open to the world through the proxy; a forged header from an
/// untrusted peer is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[("TRUSTED_PROXIES", "127.0.0.1/32, ::1")],
    )
    .await;
    let http = reqwest::Client::new();
    let metrics = |forwarded: Option<&'static str>| {
        let mut r = http.get(format!("{}/metrics", serve.base));
        if let Some(f) = forwarded {
            r = r.header("x-forwarded-for", f);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(metrics(None).await, 200, "the machine itself may scrape");
    assert_eq!(
        metrics(Some("203.0.113.9")).await,
        401,
        "a client on the internet, through the proxy"
    );
    assert_eq!(
        metrics(Some("127.0.0.1, 203.0.113.9")).await,
        401,
        "the client's own (forged) part of the header is not believed"
    );
}

/// Key requests at once (two chats, a script), in rounds: never more than five live keys,
/// on SQLite and on PostgreSQL (where a count inside one statement is a snapshot: two
/// requests could both see four).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_requests_never_make_a_sixth_live_key() {
    for t in dbs::all().await {
        for round in 0..20 {
            let user = 700 + round;
            touch_user(&t.db, user, None, "en").await.unwrap();
            let start = Arc::new(tokio::sync::Barrier::new(40));
            let tasks: Vec<_> = (0..40)
                .map(|_| {
                    let db = t.db.clone();
                    let start = start.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        reelforge::db::api_keys::create(&db, user).await
                    })
                })
                .collect();
            let mut made = 0;
            for task in tasks {
                if task.await.unwrap().unwrap().is_some() {
                    made += 1;
                }
            }
            let live = reelforge::db::api::keys_of(&t.db, user)
                .await
                .unwrap()
                .iter()
                .filter(|k| k.revoked_ms.is_none())
                .count();
            assert_eq!((made, live), (5, 5), "{} round {round}", t.db.kind());
        }
    }
}
