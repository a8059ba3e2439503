//! The talking-head fallback chain against a fake fal speaking the documented queue shapes:
//! the primary model down (503) → the next model serves the job with one charge; breakers
//! open after N failures in a row, shared by workers through the database, and close after
//! a good probe; a content refusal is final (no other model is asked).
use crate::common;
use crate::dbs;
use crate::harness::{self, Bot};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::pipelines::{ChainEntry, RemoteProviders};
use reelforge::providers::chain::ChainPolicy;
use reelforge::providers::fal::FalClient;
use reelforge::providers::health::BreakerSettings;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OMNI: &str = "fal-ai/bytedance/omnihuman/v1.5";
const FABRIC: &str = "veed/fabric-1.0";

/// How a model answers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Up,
    /// 503 with fal's infrastructure error body.
    Down,
    /// 422 with a content-policy model error.
    Refuses,
    /// 403: the account's balance is exhausted.
    NoBalance,
}

#[derive(Default)]
struct FakeFal {
    base: Mutex<String>,
    modes: Mutex<HashMap<String, Mode>>,
    submits: Mutex<HashMap<String, u32>>,
    inputs: Mutex<HashMap<String, Value>>,
    head: Mutex<Vec<u8>>,
}

type S = State<Arc<FakeFal>>;

impl FakeFal {
    fn set(&self, model: &str, mode: Mode) {
        self.modes.lock().unwrap().insert(model.into(), mode);
    }
    fn submits(&self, model: &str) -> u32 {
        *self.submits.lock().unwrap().get(model).unwrap_or(&0)
    }
}

async fn submit(
    State(f): S,
    Path(model): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    *f.submits.lock().unwrap().entry(model.clone()).or_default() += 1;
    f.inputs.lock().unwrap().insert(model.clone(), body);
    let mode = *f.modes.lock().unwrap().get(&model).unwrap_or(&Mode::Up);
    match mode {
        Mode::Down => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"detail": "Runner is not available", "error_type": "runner_connection_refused"}),
            ),
        ),
        Mode::Refuses => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({"detail": [{"loc": ["body", "image_url"], "msg": "The image was flagged by the content checker", "type": "content_policy_violation"}]}),
            ),
        ),
        Mode::NoBalance => (
            StatusCode::FORBIDDEN,
            Json(
                json!({"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.", "error_type": "exhausted_balance"}),
            ),
        ),
        Mode::Up => {
            let b = f.base.lock().unwrap().clone();
            let id = format!("{}-{}", model.replace('/', "_"), f.submits(&model));
            (
                StatusCode::OK,
                Json(
                    json!({"request_id": id, "status_url": format!("{b}/requests/{id}/status"),
                            "response_url": format!("{b}/requests/{id}"), "cancel_url": format!("{b}/requests/{id}/cancel")}),
                ),
            )
        }
    }
}

fn start_routes(f: Arc<FakeFal>) -> Router {
    Router::new()
        .route("/fal/{*model}", post(submit))
        .route(
            "/fal-q/requests/{id}/status",
            get(|Path(id): Path<String>| async move { Json(json!({"status": "COMPLETED", "request_id": id})) }),
        )
        .route(
            "/fal-q/requests/{id}",
            get(|State(f): S| async move {
                let b = f.base.lock().unwrap().clone();
                Json(json!({"video": {"url": format!("{b}/files/head.mp4"), "content_type": "video/mp4"}}))
            }),
        )
        .route(
            "/fal-q/files/head.mp4",
            get(|State(f): S| async move { f.head.lock().unwrap().clone() }),
        )
        .with_state(f)
}

struct Setup {
    fal: Arc<FakeFal>,
    bot: Arc<Bot>,
    base: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let fal = Arc::new(FakeFal::default());
    let head = common::moving_head(dir.path(), "head.mp4", 2.0);
    *fal.head.lock().unwrap() = std::fs::read(&head).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *fal.base.lock().unwrap() = format!("{base}/fal-q");
    let app = start_routes(fal.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Setup {
        fal,
        base,
        dir,
        bot: Arc::new(Bot::default()),
    }
}

impl Setup {
    /// Services whose talking heads go OmniHuman → Fabric → offline, with these breakers.
    async fn services(
        &self,
        db: &reelforge::db::Db,
        breakers: BreakerSettings,
    ) -> reelforge::pipelines::Services {
        let mut services =
            harness::services_with_portrait(db, self.dir.path(), self.bot.clone()).await;
        let client = Arc::new(FalClient::new(
            reqwest::Client::new(),
            vec!["fal".into()],
            Some(&format!("{}/fal", self.base)),
        ));
        services.remote = RemoteProviders {
            talking_heads: vec![
                ChainEntry::fal(client.clone(), OMNI),
                ChainEntry::fal(client, FABRIC),
                ChainEntry::local(),
            ],
            policy: ChainPolicy {
                breakers,
                ..Default::default()
            },
            ..Default::default()
        };
        services
    }
}

async fn order(db: &reelforge::db::Db, user: i64) -> i64 {
    let params = json!({"portrait": "gallery/anna.jpg", "script": "Buy now.", "language": "en", "size": "360x640", "captions": false});
    queue::submit(
        db,
        NewJob::from_json(user, "ugc_video", params, 600, 3).unwrap(),
    )
    .await
    .unwrap()
}

async fn user(db: &reelforge::db::Db, id: i64) {
    touch_user(db, id, None, "en").await.unwrap();
    ledger::credit(db, id, 1000, Reason::Payment, &format!("pay{id}"), None)
        .await
        .unwrap();
}

/// Runs one job through a worker with these breakers and returns its row.
async fn run_one(
    s: &Setup,
    db: &reelforge::db::Db,
    breakers: BreakerSettings,
    job: i64,
) -> queue::JobRow {
    harness::run_jobs(db, s.services(db, breakers).await, &[job])
        .await
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_primary_down_the_next_model_serves_with_one_charge() {
    let s = setup().await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    user(&db, 1).await;
    s.fal.set(OMNI, Mode::Down);
    let job = order(&db, 1).await;
    let row = run_one(&s, &db, BreakerSettings::default(), job).await;
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(
        row.checkpoints.talking_head_by.as_deref(),
        Some("fal:veed/fabric-1.0")
    );
    assert_eq!(s.fal.submits(OMNI), 1, "the primary was tried once");
    assert_eq!(s.fal.submits(FABRIC), 1);
    // Fabric's documented input: the portrait, the speech and a resolution.
    let input = s.fal.inputs.lock().unwrap()[FABRIC].clone();
    assert!(input["image_url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg"));
    assert!(input["audio_url"].as_str().is_some());
    assert_eq!(input["resolution"], "720p");
    assert_eq!(
        ledger::balance_of(&db, 1).await.unwrap(),
        400,
        "charged once, not refunded"
    );
    let report = reelforge::admin::provider_report(&db)
        .await
        .unwrap()
        .join("\n");
    assert!(
        report.contains("fal:fal-ai/bytedance/omnihuman/v1.5: last hour 1 calls, 0 % ok"),
        "{report}"
    );
    assert!(
        report.contains("fal:veed/fabric-1.0: last hour 1 calls, 100 % ok"),
        "{report}"
    );
    // The whole fal account unplugged: the offline animation serves, still one charge.
    s.fal.set(FABRIC, Mode::Down);
    user(&db, 2).await;
    let job = order(&db, 2).await;
    let row = run_one(&s, &db, BreakerSettings::default(), job).await;
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(row.checkpoints.talking_head_by.as_deref(), Some("local"));
    assert_eq!(ledger::balance_of(&db, 2).await.unwrap(), 400);
    // The operator's view: `reelforge admin providers` (and `/providers` in the bot).
    let text = common::reelforge_ok(&["admin", "providers"], &[("DATABASE_URL", &t.url)]);
    assert!(
        text.contains(
            "fal:veed/fabric-1.0: last hour 2 calls, 50 % ok; breaker closed (1 failures in a row)"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn breakers_open_after_n_failures_are_shared_by_workers_and_close_after_a_good_probe() {
    let s = setup().await;
    for t in dbs::all().await {
        let db = t.db.clone();
        let breakers = BreakerSettings {
            failures: 2,
            failure_rate: 0,
            cooldown: Duration::from_secs(2),
        };
        s.fal.submits.lock().unwrap().clear();
        s.fal.set(OMNI, Mode::Down);
        for u in 1..=4 {
            user(&db, u).await;
        }
        // Two failures in a row open OmniHuman's breaker.
        for u in 1..=2 {
            let job = order(&db, u).await;
            let row = run_one(&s, &db, breakers, job).await;
            assert_eq!(row.state, "done", "{}: {row:?}", db.kind());
        }
        assert_eq!(s.fal.submits(OMNI), 2);
        // A second worker process (its own connection pool) skips the open entry.
        let other = reelforge::db::Db::connect(&t.url).await.unwrap();
        let job = order(&db, 3).await;
        let row = run_one(&s, &other, breakers, job).await;
        assert_eq!(row.state, "done");
        assert_eq!(s.fal.submits(OMNI), 2, "{}: skipped while open", db.kind());
        assert_eq!(
            row.checkpoints.talking_head_by.as_deref(),
            Some("fal:veed/fabric-1.0")
        );
        let report = reelforge::admin::provider_report(&db)
            .await
            .unwrap()
            .join("\n");
        assert!(report.contains("OPEN for"), "{report}");
        // The operator heard about it once (the incident, not each job).
        let alerts = s.bot.alerts.lock().unwrap().clone();
        assert_eq!(alerts.len(), 1, "{}: {alerts:?}", db.kind());
        assert!(
            alerts[0].contains("omnihuman") && alerts[0].contains("transient"),
            "{alerts:?}"
        );
        s.bot.alerts.lock().unwrap().clear();
        // OmniHuman recovers; after the cool-down one probe goes to it, succeeds, and closes it.
        s.fal.set(OMNI, Mode::Up);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let job = order(&db, 4).await;
        let row = run_one(&s, &db, breakers, job).await;
        assert_eq!(row.state, "done");
        assert_eq!(s.fal.submits(OMNI), 3, "{}: the probe", db.kind());
        assert_eq!(
            row.checkpoints.talking_head_by.as_deref(),
            Some("fal:fal-ai/bytedance/omnihuman/v1.5")
        );
        let report = reelforge::admin::provider_report(&db)
            .await
            .unwrap()
            .join("\n");
        assert!(
            report.contains("omnihuman/v1.5: last hour 3 calls, 33 % ok; breaker closed"),
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_content_refusal_is_final_and_refunded_without_asking_another_model() {
    let s = setup().await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    user(&db, 1).await;
    s.fal.set(OMNI, Mode::Refuses);
    let job = order(&db, 1).await;
    let row = run_one(&s, &db, BreakerSettings::default(), job).await;
    assert_eq!(row.state, "failed", "{row:?}");
    assert_eq!(
        row.error_class.map(|c| c.name()),
        Some("content_rejected"),
        "{row:?}"
    );
    assert_eq!(s.fal.submits(OMNI), 1);
    assert_eq!(s.fal.submits(FABRIC), 0, "no fallback for a refusal");
    assert_eq!(ledger::balance_of(&db, 1).await.unwrap(), 1000, "refunded");
    // The refusal is not held against the provider.
    assert!(
        reelforge::db::providers::breaker(&db, "fal:fal-ai/bytedance/omnihuman/v1.5")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_account_opens_its_breaker_at_once_and_old_call_records_are_pruned() {
    let s = setup().await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    user(&db, 1).await;
    s.fal.set(OMNI, Mode::NoBalance);
    let job = order(&db, 1).await;
    let row = run_one(&s, &db, BreakerSettings::default(), job).await;
    // Fabric is on the same fal account, whose key now rests: it is not asked, and the
    // offline animation makes the head.
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(row.checkpoints.talking_head_by.as_deref(), Some("local"));
    assert_eq!((s.fal.submits(OMNI), s.fal.submits(FABRIC)), (1, 0));
    // One quota error is enough (no point asking an empty account four more times).
    let report = reelforge::admin::provider_report(&db)
        .await
        .unwrap()
        .join("\n");
    assert!(
        report.contains("omnihuman/v1.5: last hour 1 calls, 0 % ok; breaker OPEN"),
        "{report}"
    );
    let alerts = s.bot.alerts.lock().unwrap().clone();
    assert!(
        alerts.len() == 1 && alerts[0].contains("billing_or_quota"),
        "{alerts:?}"
    );
    // Call records older than a day go (the breakers stay).
    let tomorrow = reelforge::db::now_ms() + 24 * 3_600_000;
    assert_eq!(
        reelforge::db::providers::prune_calls(&db, tomorrow)
            .await
            .unwrap(),
        2
    );
    let report = reelforge::admin::provider_report(&db)
        .await
        .unwrap()
        .join("\n");
    assert!(
        report.contains("omnihuman/v1.5: last hour 0 calls"),
        "{report}"
    );
}

/// A talking-head tier falls back only to models of its cost or cheaper: a standard job
/// never reaches OmniHuman, an economy job never reaches Fabric or OmniHuman — even with its
/// own model down (the offline animation serves instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tier_falls_back_only_to_models_of_its_cost_or_cheaper() {
    const FLASH: &str = "fal-ai/flashtalk";
    let s = setup().await;
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let mut services = s.services(&db, BreakerSettings::default()).await;
    let client = Arc::new(FalClient::new(
        reqwest::Client::new(),
        vec!["fal".into()],
        Some(&format!("{}/fal", s.base)),
    ));
    services.remote.talking_heads = vec![
        ChainEntry::fal(client.clone(), OMNI),
        ChainEntry::fal(client.clone(), FABRIC),
        ChainEntry::fal(client, FLASH),
        ChainEntry::local(),
    ];
    services.remote.policy.prices = Some(Arc::new(reelforge::pricing::PriceTable::default_table()));
    let services = Arc::new(services);
    let order_at = |user: i64, tier: &'static str| {
        let db = db.clone();
        async move {
            let params = json!({"portrait": "gallery/anna.jpg", "script": "Buy now.", "language": "en",
                                 "size": "360x640", "captions": false, "head_tier": tier});
            queue::submit(
                &db,
                NewJob::from_json(user, "ugc_video", params, 600, 3).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    user(&db, 21).await;
    user(&db, 22).await;
    s.fal.set(FABRIC, Mode::Down);
    let standard = order_at(21, "standard").await;
    let row = harness::run_jobs(&db, services.clone(), &[standard])
        .await
        .remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(
        row.checkpoints.talking_head_by.as_deref(),
        Some("fal:fal-ai/flashtalk")
    );
    assert_eq!(
        s.fal.submits(OMNI),
        0,
        "a standard job never reaches the premium model"
    );
    assert_eq!(s.fal.submits(FABRIC), 1);

    s.fal.set(FLASH, Mode::Down);
    let economy = order_at(22, "economy").await;
    let row = harness::run_jobs(&db, services, &[economy]).await.remove(0);
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(row.checkpoints.talking_head_by.as_deref(), Some("local"));
    assert_eq!(s.fal.submits(OMNI), 0);
    assert_eq!(s.fal.submits(FABRIC), 1, "nor the standard one");
    assert_eq!(s.fal.submits(FLASH), 2);
}
