//! The speech and image-edit fallback chains against fakes speaking the documented shapes
//! (ElevenLabs `{"detail": {...}}` errors, OpenAI's `/v1/audio/speech` answering with the
//! audio itself, the fal queue with nano-banana's `image_urls` and FLUX Kontext's
//! `image_url`): the primary down → the next entry serves with one charge and the stand-in
//! voice is announced; a fallback that would lose money is skipped unless allowed; a flaky
//! entry opens its breaker by failure rate; `admin profit` shows each entry's margin.
use crate::bot_flows;
use crate::common;
use crate::dbs;
use crate::harness::{self, Bot};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::pipelines::{ChainEntry, RemoteProviders};
use reelforge::pricing::PriceTable;
use reelforge::providers::chain::ChainPolicy;
use reelforge::providers::elevenlabs::ElevenLabs;
use reelforge::providers::fal::FalClient;
use reelforge::providers::openai_speech::OpenAiSpeech;
use reelforge::providers::speech::{Engine, Entry, SpeechChain};
use reelforge::storage::ObjectStore;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SARAH: &str = "EXAVITQu4vr4xnSDxMaL";
const NANO: &str = "fal-ai/nano-banana/edit";
const KONTEXT: &str = "fal-ai/flux-pro/kontext";

#[derive(Default)]
struct Fakes {
    base: Mutex<String>,
    elevenlabs_down: AtomicBool,
    nano_down: AtomicBool,
    elevenlabs_calls: Mutex<u32>,
    openai_bodies: Mutex<Vec<(Option<String>, Value)>>,
    fal_inputs: Mutex<HashMap<String, Vec<Value>>>,
    /// What OpenAI "speaks": a real WAV made by espeak-ng.
    speech: Mutex<Vec<u8>>,
}

type S = State<Arc<Fakes>>;

async fn elevenlabs_tts(State(f): S) -> (StatusCode, Json<Value>) {
    *f.elevenlabs_calls.lock().unwrap() += 1;
    if f.elevenlabs_down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"detail": {"status": "service_unavailable", "message": "The service is temporarily unavailable"}}),
            ),
        );
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})),
    )
}

async fn openai_speech(State(f): S, headers: HeaderMap, Json(body): Json<Value>) -> Vec<u8> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    f.openai_bodies.lock().unwrap().push((auth, body));
    f.speech.lock().unwrap().clone()
}

async fn fal_submit(
    State(f): S,
    Path(model): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    f.fal_inputs
        .lock()
        .unwrap()
        .entry(model.clone())
        .or_default()
        .push(body);
    if model == NANO && f.nano_down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"detail": "Runner is not available", "error_type": "runner_connection_refused"}),
            ),
        );
    }
    let b = f.base.lock().unwrap().clone();
    let id = model.replace('/', "_");
    (
        StatusCode::OK,
        Json(
            json!({"request_id": id, "status_url": format!("{b}/requests/{id}/status"),
                    "response_url": format!("{b}/requests/{id}"), "cancel_url": format!("{b}/requests/{id}/cancel")}),
        ),
    )
}

struct World {
    fakes: Arc<Fakes>,
    base: String,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Arc::new(Fakes::default());
    let wav = dir.path().join("openai.wav");
    reelforge::providers::local::speak("Buy now, it is good.", "en+f3", &wav)
        .await
        .unwrap();
    *fakes.speech.lock().unwrap() = std::fs::read(&wav).unwrap();
    let app = Router::new()
        .route(
            "/el/v1/text-to-speech/{voice}/with-timestamps",
            post(elevenlabs_tts),
        )
        .route(
            "/el/v2/voices",
            get(|| async {
                Json(json!({"voices": [{"voice_id": SARAH, "name": "Sarah", "preview_url": null,
                    "labels": {"gender": "female", "accent": "american"}}], "has_more": false}))
            }),
        )
        .route("/oa/audio/speech", post(openai_speech))
        .route("/fal/{*model}", post(fal_submit))
        .route(
            "/fal-q/requests/{id}/status",
            get(|Path(id): Path<String>| async move { Json(json!({"status": "COMPLETED", "request_id": id})) }),
        )
        .route(
            "/fal-q/requests/{id}",
            get(|State(f): S| async move {
                let b = f.base.lock().unwrap().clone();
                Json(json!({"images": [{"url": format!("{b}/files/edit.jpg"), "content_type": "image/jpeg"}], "description": ""}))
            }),
        )
        .route(
            "/fal-q/files/edit.jpg",
            get(|| async { std::fs::read(common::ASTRONAUT).unwrap() }),
        )
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fakes.base.lock().unwrap() = format!("{base}/fal-q");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    World { fakes, base, dir }
}

impl World {
    fn elevenlabs(&self) -> Arc<ElevenLabs> {
        Arc::new(ElevenLabs::new(
            reqwest::Client::new(),
            vec!["el-key".into()],
            Some(&format!("{}/el", self.base)),
        ))
    }

    /// ElevenLabs → OpenAI gpt-4o-mini-tts → espeak-ng, as `TTS_CHAIN`'s default.
    fn speech(&self, policy: ChainPolicy) -> Arc<SpeechChain> {
        let openai = Arc::new(OpenAiSpeech::new(
            reqwest::Client::new(),
            vec!["sk-test".into()],
            Some(&format!("{}/oa", self.base)),
        ));
        Arc::new(SpeechChain {
            entries: vec![
                Entry {
                    name: "elevenlabs:eleven_multilingual_v2".into(),
                    engine: Engine::ElevenLabs(self.elevenlabs(), "eleven_multilingual_v2".into()),
                },
                Entry {
                    name: "openai:gpt-4o-mini-tts".into(),
                    engine: Engine::OpenAi(openai, "gpt-4o-mini-tts".into()),
                },
                Entry::local(),
            ],
            policy,
        })
    }

    async fn services(
        &self,
        db: &reelforge::db::Db,
        policy: ChainPolicy,
    ) -> reelforge::pipelines::Services {
        let mut services = harness::services_with_portrait(
            db,
            self.dir.path(),
            Arc::new(Bot::default()) as Arc<_>,
        )
        .await;
        let fal = Arc::new(FalClient::new(
            reqwest::Client::new(),
            vec!["fal-key".into()],
            Some(&format!("{}/fal", self.base)),
        ));
        services.remote = RemoteProviders {
            image_edits: vec![
                ChainEntry::fal(fal.clone(), NANO),
                ChainEntry::fal(fal, KONTEXT),
                ChainEntry::local(),
            ],
            speech: self.speech(policy.clone()),
            talking_heads: vec![ChainEntry::local()],
            policy,
        };
        services
    }
}

async fn user(db: &reelforge::db::Db, id: i64) {
    touch_user(db, id, None, "en").await.unwrap();
    ledger::credit(db, id, 1000, Reason::Payment, &format!("pay{id}"), None)
        .await
        .unwrap();
}

fn priced(allow_loss: bool, kontext_usd: f64) -> ChainPolicy {
    let mut table = PriceTable::default_table();
    for c in &mut table.providers {
        if c.entry == format!("fal:{KONTEXT}") {
            c.usd_per_image = kontext_usd;
        }
    }
    ChainPolicy {
        prices: Some(Arc::new(table)),
        allow_loss,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn elevenlabs_down_openai_speaks_with_the_closest_voice_and_the_job_is_charged_once() {
    let w = world().await;
    w.fakes.elevenlabs_down.store(true, Ordering::SeqCst);
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    user(&db, 1).await;
    let params = json!({"portrait": "gallery/anna.jpg", "script": "Buy now, it is good.", "language": "en",
        "size": "360x640", "captions": true, "voice": SARAH, "voice_gender": "female"});
    let job = queue::submit(
        &db,
        NewJob::from_json(1, "ugc_video", params, 600, 3).unwrap(),
    )
    .await
    .unwrap();
    let services = w.services(&db, priced(false, 0.04)).await;
    let row = harness::run_jobs(&db, services, &[job]).await.remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    let c = &row.checkpoints;
    assert_eq!(c.speech_by.as_deref(), Some("openai:gpt-4o-mini-tts"));
    assert_eq!(c.voice_note.as_deref(), Some("OpenAI «nova» (female)"));
    assert!(c.alignment.is_none(), "OpenAI gives no timings: estimated");
    // What the second provider was sent: the documented fields, its own female voice.
    let bodies = w.fakes.openai_bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let (auth, body) = &bodies[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert_eq!(
        body,
        &json!({"model": "gpt-4o-mini-tts", "input": "Buy now, it is good.", "voice": "nova", "response_format": "mp3"})
    );
    assert_eq!(*w.fakes.elevenlabs_calls.lock().unwrap(), 1);
    assert_eq!(ledger::balance_of(&db, 1).await.unwrap(), 400, "one charge");
    // The spend of the speech is counted for the job and in the call records.
    assert!(c.spent_kzt.unwrap() > 0.0, "{c:?}");
    let spend = reelforge::db::providers::spend(&db, 0).await.unwrap();
    assert!(
        spend
            .iter()
            .any(|(e, n, kzt)| e == "openai:gpt-4o-mini-tts" && *n == 1 && *kzt > 0.0),
        "{spend:?}"
    );
    let report = reelforge::admin::provider_report(&db)
        .await
        .unwrap()
        .join("\n");
    assert!(
        report.contains("elevenlabs:eleven_multilingual_v2: last hour 1 calls, 0 % ok"),
        "{report}"
    );
    // /stats: the orders each entry served, what they brought and cost.
    let stats = reelforge::admin::stats(&db, &PriceTable::default_table())
        .await
        .unwrap()
        .render();
    assert!(
        stats.contains("openai:gpt-4o-mini-tts: 1 orders, 600 ₸ in, 0 ₸ spent, margin 100 %"),
        "{stats}"
    );
    assert!(stats.contains("  local: 1 orders, 600 ₸ in"), "{stats}");
    // The operator's job view names the provider of each step and the stand-in voice.
    let card = common::reelforge_ok(
        &["admin", "job", &job.to_string()],
        &[("DATABASE_URL", &t.url)],
    );
    assert!(
        card.contains("speech by openai:gpt-4o-mini-tts")
            && card.contains("talking head by local")
            && card.contains("voice stood in for the chosen one: OpenAI «nova» (female)"),
        "{card}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_falls_back_to_kontext_unless_it_would_lose_money() {
    let w = world().await;
    w.fakes.nano_down.store(true, Ordering::SeqCst);
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    user(&db, 1).await;
    let edit = |prompt: &str| {
        NewJob::from_json(
            1,
            "character_edit",
            json!({"image": "gallery/anna.jpg", "prompt": prompt}),
            60,
            3,
        )
        .unwrap()
    };
    // Kontext at its listed $0.04 (19 ₸) serves a 60-token edit.
    let job = queue::submit(&db, edit("red hat")).await.unwrap();
    let row = harness::run_jobs(&db, w.services(&db, priced(false, 0.04)).await, &[job])
        .await
        .remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(
        row.checkpoints.edit_by.as_deref(),
        Some("fal:fal-ai/flux-pro/kontext")
    );
    let inputs = w.fakes.fal_inputs.lock().unwrap().clone();
    // Each model's documented input: a list of images for nano-banana, one for Kontext.
    assert!(inputs[NANO][0]["image_urls"][0]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg"));
    assert_eq!(inputs[KONTEXT][0]["prompt"], "red hat");
    assert!(inputs[KONTEXT][0]["image_url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg"));
    assert!(inputs[KONTEXT][0].get("image_urls").is_none());
    let stored = row.checkpoints.output.clone().unwrap();
    let services = w.services(&db, priced(false, 0.04)).await;
    assert_eq!(
        services.storage.get_bytes(&stored).await.unwrap(),
        std::fs::read(common::ASTRONAUT).unwrap(),
        "the edited image is Kontext's"
    );
    // At $1 an image (480 ₸ for a 60-token edit) Kontext would lose money: skipped, the
    // offline re-framing serves instead.
    w.fakes.fal_inputs.lock().unwrap().clear();
    let job = queue::submit(&db, edit("blue hat")).await.unwrap();
    let row = harness::run_jobs(&db, w.services(&db, priced(false, 1.0)).await, &[job])
        .await
        .remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(row.checkpoints.edit_by.as_deref(), Some("local"));
    assert!(!w.fakes.fal_inputs.lock().unwrap().contains_key(KONTEXT));
    // ALLOW_LOSS_FALLBACK=1: the operator prefers the better edit at a loss.
    let job = queue::submit(&db, edit("green hat")).await.unwrap();
    let row = harness::run_jobs(&db, w.services(&db, priced(true, 1.0)).await, &[job])
        .await
        .remove(0);
    assert_eq!(
        row.checkpoints.edit_by.as_deref(),
        Some("fal:fal-ai/flux-pro/kontext")
    );
    assert_eq!(
        ledger::balance_of(&db, 1).await.unwrap(),
        1000 - 3 * 60,
        "three edits, three charges"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_entry_opens_its_breaker_by_failure_rate_without_five_failures_in_a_row() {
    use reelforge::failure::ErrorClass;
    use reelforge::providers::health::{self, BreakerSettings};
    for t in dbs::all().await {
        let db = t.db.clone();
        let settings = BreakerSettings::default();
        let took = std::time::Duration::from_millis(5);
        let mut opened = Vec::new();
        // ok, fail, ok, fail, …: never two failures in a row, half of the calls failing.
        let call = |i: usize| {
            if i.is_multiple_of(2) {
                Ok(1.0)
            } else {
                Err(ErrorClass::Transient)
            }
        };
        for i in 0..10 {
            opened.push(
                health::record(&db, "fal:flaky", call(i), took, settings)
                    .await
                    .unwrap(),
            );
        }
        // The tenth call makes the window count: the failure there opens the breaker.
        assert_eq!(
            opened.iter().position(|o| *o),
            Some(9),
            "{}: {opened:?}",
            db.kind()
        );
        assert_eq!(
            health::gate(&db, "fal:flaky").await.unwrap(),
            health::Gate::Open
        );
        // A good probe closes it and the window starts again: one failure does not reopen it.
        assert!(!health::record(&db, "fal:flaky", call(10), took, settings)
            .await
            .unwrap());
        assert!(!health::record(&db, "fal:flaky", call(11), took, settings)
            .await
            .unwrap());
        assert_eq!(
            health::gate(&db, "fal:flaky").await.unwrap(),
            health::Gate::Closed,
            "{}",
            db.kind()
        );
        // Rate off (BREAKER_FAILURE_RATE=0): the same pattern never opens it.
        let off = BreakerSettings {
            failure_rate: 0,
            ..settings
        };
        for i in 0..12 {
            let outcome = if i % 2 == 0 {
                Ok(0.0)
            } else {
                Err(ErrorClass::Transient)
            };
            assert!(!health::record(&db, "fal:steady", outcome, took, off)
                .await
                .unwrap());
        }
    }
}

#[test]
fn admin_profit_shows_the_margin_of_each_chain_entry() {
    let text = common::reelforge_ok(&["admin", "profit"], &[]);
    for line in [
        "UGC 10 s, head by fal:fal-ai/bytedance/omnihuman/v1.5",
        "UGC 10 s, head by fal:veed/fabric-1.0",
        "UGC 10 s, head by fal:fal-ai/flashtalk",
        "UGC 10 s, speech by openai:gpt-4o-mini-tts",
        "character edit by fal:fal-ai/flux-pro/kontext",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    // FlashTalk at $0.02/s + ElevenLabs at $0.005/s: 120 ₸ of 1 530 → 92.2 %.
    let flash = text
        .lines()
        .find(|l| l.contains("head by fal:fal-ai/flashtalk"))
        .unwrap();
    assert!(
        flash.contains("1530") && flash.contains("120") && flash.contains("92.2%"),
        "{flash}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_speech_preview_announces_a_stand_in_voice_and_the_progress_message_repeats_it() {
    let w = world().await;
    w.fakes.elevenlabs_down.store(true, Ordering::SeqCst);
    let e = bot_flows::env().await;
    let f = &e.fake;
    let mut app = e.app();
    app.tts = Some(w.elevenlabs());
    app.speech = w.speech(ChainPolicy::default());
    let running = e.run(app);
    e.member(42, 5000).await;
    f.text(42, "/create");
    f.wait_text(42, "Какой ролик").await;
    f.press(42, "u:f:head", 3);
    f.wait_text(42, "Выберите персонажа").await;
    bot_flows::pick_character_and_voice(f, 42, SARAH).await;
    f.text(42, "Привет! Заходите в наш магазин.");
    f.wait_text(42, "озвучивает OpenAI «nova» (female)").await;
    f.wait_text(42, "Стоимость ролика").await;
    f.press(42, &f.newest_button(42, "u:go:"), 9);
    // The queued job's progress message says which voice speaks.
    f.wait_text(42, "Голос: OpenAI «nova» (female)").await;
    let job = reelforge::db::jobs::all_jobs(&e.db)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        job.checkpoints.speech_by.as_deref(),
        Some("openai:gpt-4o-mini-tts")
    );
    let spec = serde_json::to_value(job.spec.unwrap()).unwrap();
    assert_eq!(spec["voice"], SARAH);
    assert_eq!(spec["voice_gender"], "female");
    bot_flows::stop(running).await;
}
