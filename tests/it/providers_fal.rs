//! fal.ai requests that outlive one worker: polled with the key (the account) that made them,
//! and result files fetched through the providers' client, so `PROVIDER_PROXY` applies.
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use reelforge::providers::fal::{self, FalClient, FalStatus};
use reelforge::providers::http_client;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn client() -> reqwest::Client {
    http_client(Duration::from_secs(10), None).unwrap()
}

#[tokio::test]
async fn fal_result_files_are_fetched_through_the_provider_proxy() {
    // An HTTP proxy on 127.0.0.1: it gets the absolute-form request for fal's CDN host
    // (which does not resolve) and answers it.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let proxy = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = s2.clone();
        async move {
            seen.lock().unwrap().push(uri.to_string());
            b"video bytes".to_vec()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, proxy).await.unwrap() });

    let http =
        reelforge::providers::http_client(Duration::from_secs(10), Some(&proxy_url)).unwrap();
    let fal = reelforge::providers::fal::FalClient::new(http, vec!["k".into()], None);
    let bytes = fal
        .download(
            "http://v3.fal-cdn.invalid/files/head.mp4",
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(bytes, b"video bytes");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["http://v3.fal-cdn.invalid/files/head.mp4"]
    );
}

#[tokio::test]
async fn a_fal_request_is_polled_with_the_key_that_submitted_it() {
    // Two keys from two accounts: a request exists only for the account that made it.
    let submitted_with = Arc::new(Mutex::new(String::new()));
    let (s1, s2) = (submitted_with.clone(), submitted_with.clone());
    let app = Router::new()
        .route(
            "/fal/fal-ai/model",
            post(move |headers: HeaderMap, State(base): State<String>| {
                let s = s1.clone();
                async move {
                    *s.lock().unwrap() = headers["authorization"].to_str().unwrap().to_string();
                    Json(json!({"request_id": "r1", "status_url": format!("{base}/fal/requests/r1/status"),
                                "response_url": format!("{base}/fal/requests/r1"), "cancel_url": format!("{base}/fal/requests/r1/cancel")}))
                }
            }),
        )
        .route(
            "/fal/requests/r1/status",
            get(move |headers: HeaderMap| {
                let s = s2.clone();
                async move {
                    if headers["authorization"].to_str().unwrap() == *s.lock().unwrap() {
                        Json(json!({"status": "IN_PROGRESS"})).into_response()
                    } else {
                        (StatusCode::NOT_FOUND, Json(json!({"detail": "Request not found"}))).into_response()
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = app.with_state(base.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fal = FalClient::new(
        client(),
        vec!["account-a".into(), "account-b".into()],
        Some(&format!("{base}/fal")),
    );
    let request = fal.submit("fal-ai/model", &json!({})).await.unwrap();
    // The saved request (as a restarted worker reads it) still names its key.
    let saved: fal::FalRequest =
        serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
    for _ in 0..3 {
        assert_eq!(fal.status(&saved).await.unwrap(), FalStatus::InProgress);
    }
}
