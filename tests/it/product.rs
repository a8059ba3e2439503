//! Product video cards: N clips for quantity N, each charged once; a prompt improved by an
//! OpenAI-compatible chat model, or the seller's own words when the model fails.
use crate::common;
use crate::dbs;
use crate::harness;
use axum::routing::post;
use axum::{Json, Router};
use harness::Bot;
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::pipelines::product::{submit_product_jobs, ProductParams};
use reelforge::providers::llm::PromptWriter;
use reelforge::storage::ObjectStore;
use std::sync::Arc;

async fn chat_fake(ok: bool) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<serde_json::Value>| async move {
            assert_eq!(body["messages"][1]["role"], "user");
            if ok {
                (axum::http::StatusCode::OK, Json(serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "  A glossy hand cream tube on wet pink stone, slow macro orbit, soft morning light.  "}}]})))
            } else {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"error": {"message": "overloaded"}})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn make_cards(llm_ok: bool, quantity: u32) -> (Vec<String>, usize, i64) {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let bot = Arc::new(Bot::default());
    let mut services = harness::services(&db, dir.path(), bot.clone());
    services
        .storage
        .put_file(
            "uploads/cream.jpg",
            std::path::Path::new(common::ASTRONAUT),
            "image/jpeg",
        )
        .await
        .unwrap();
    services.prompt_writer = Some(PromptWriter::new(
        reqwest::Client::new(),
        &chat_fake(llm_ok).await,
        "gpt-4o-mini",
        Some("sk-test".into()),
    ));
    touch_user(&db, 3, None, "ru").await.unwrap();
    ledger::credit(&db, 3, 1400, Reason::Payment, "pay", None)
        .await
        .unwrap();
    let params = ProductParams {
        image: "uploads/cream.jpg".into(),
        description: "Крем для рук".into(),
        template: "studio".into(),
        wishes: Some("розовый фон".into()),
        tier: "fast".into(),
        seconds: 4,
        size: "720x1280".into(),
    };
    let prices = reelforge::pricing::PriceTable::default_table();
    assert!(
        submit_product_jobs(&db, &prices, 3, &params, 4)
            .await
            .is_err(),
        "4 × 371 (the quote of a 4 s fast clip) is more than 1400"
    );
    assert_eq!(
        ledger::balance_of(&db, 3).await.unwrap(),
        1400,
        "nothing queued, nothing taken"
    );
    let ids = submit_product_jobs(&db, &prices, 3, &params, quantity)
        .await
        .unwrap();
    let rows = harness::run_jobs(&db, services, &ids).await;
    let prompts = rows
        .iter()
        .map(|row| {
            assert_eq!(row.state, "done", "{row:?}");
            let v: serde_json::Value = serde_json::from_str(&row.checkpoints.to_json()).unwrap();
            v["prompt"].as_str().unwrap().to_string()
        })
        .collect();
    (
        prompts,
        bot.delivered().len(),
        ledger::balance_of(&db, 3).await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quantity_three_makes_three_charged_clips_with_the_improved_prompt() {
    let (prompts, delivered, balance) = make_cards(true, 3).await;
    assert_eq!((prompts.len(), delivered), (3, 3));
    assert!(
        prompts.iter().all(|p| p
            == "A glossy hand cream tube on wet pink stone, slow macro orbit, soft morning light."),
        "{prompts:?}"
    );
    assert_eq!(balance, 1400 - 3 * 371);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_prompt_model_falls_back_to_the_sellers_words() {
    let (prompts, delivered, _) = make_cards(false, 1).await;
    assert_eq!(delivered, 1);
    assert!(
        prompts[0].contains("Крем для рук") && prompts[0].contains("Also: розовый фон."),
        "{prompts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generate_improves_the_prompt_when_asked_and_keeps_the_raw_text_when_the_model_fails() {
    for (llm_ok, expected) in [
        (
            true,
            "A glossy hand cream tube on wet pink stone, slow macro orbit, soft morning light.",
        ),
        (false, "hand cream"),
    ] {
        let t = dbs::sqlite().await;
        let db = t.db.clone();
        let dir = tempfile::tempdir().unwrap();
        let mut services = harness::services(&db, dir.path(), Arc::new(Bot::default()));
        services.prompt_writer = Some(PromptWriter::new(
            reqwest::Client::new(),
            &chat_fake(llm_ok).await,
            "gpt-4o-mini",
            Some("sk-test".into()),
        ));
        touch_user(&db, 4, None, "ru").await.unwrap();
        ledger::credit(&db, 4, 1000, Reason::Payment, "pay", None)
            .await
            .unwrap();
        let job = reelforge::db::jobs::submit(
            &db,
            reelforge::db::jobs::NewJob::from_json(
                4,
                "text_to_video",
                serde_json::json!({"prompt": "hand cream", "tier": "fast", "seconds": 4, "size": "720x1280", "improve_prompt": true}),
                371,
                3,
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
        assert_eq!(row.state.name(), "done", "{row:?}");
        assert_eq!(
            row.checkpoints.prompt.as_deref(),
            Some(expected),
            "model ok: {llm_ok}"
        );
    }
}
