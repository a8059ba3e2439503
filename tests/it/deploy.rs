//! The layout we ship, tested without a Docker engine: `docker-compose.yml` against the
//! Compose specification's JSON Schema (installed by `scripts/setup.sh`), every long-running
//! service with a health check and a restart policy and only the proxy publishing ports, the
//! alert rules through `promtool check rules`, and the Grafana dashboard naming only metrics a
//! running `serve` exports.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SCHEMA: &str = "/opt/reelforge-fuzz-venv/share/compose_spec.json";
const PYTHON: &str = "/opt/reelforge-test-venv/bin/python";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// docker-compose.yml as JSON (YAML anchors and merges resolved), read by PyYAML.
fn compose() -> serde_json::Value {
    let out = Command::new(PYTHON)
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(root().join("docker-compose.yml"))
        .output()
        .expect("the test venv's python (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_compose_file_follows_the_specification_and_every_service_is_watched_and_restarted() {
    assert!(
        Path::new(SCHEMA).exists(),
        "{SCHEMA} is missing: run scripts/setup.sh (make test does)"
    );
    let check = Command::new(PYTHON)
        .args([
            "-c",
            "import sys, json, yaml, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             doc = yaml.safe_load(open(sys.argv[2]))\n\
             errors = list(jsonschema.Draft201909Validator(schema).iter_errors(doc))\n\
             [print('/'.join(map(str, e.path)), e.message) for e in errors]\n\
             sys.exit(1 if errors else 0)",
            SCHEMA,
        ])
        .arg(root().join("docker-compose.yml"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "docker-compose.yml does not follow the Compose specification:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let doc = compose();
    let services = doc["services"].as_object().unwrap();
    for name in [
        "postgres",
        "minio",
        "minio-init",
        "app",
        "worker",
        "caddy",
        "pg-backup",
    ] {
        assert!(services.contains_key(name), "no {name} service");
    }
    for (name, s) in services {
        // A service under a profile runs only when asked (`docker compose run`: the backup).
        if s.get("profiles").is_some() {
            assert_eq!(s["restart"], "no", "{name}");
            continue;
        }
        let restart = s["restart"].as_str().unwrap_or("");
        // A one-shot service (the bucket's creation) runs until it succeeds; the others
        // come back after a crash or a reboot and say whether they are healthy.
        let one_shot = restart == "on-failure";
        assert!(
            one_shot || restart == "unless-stopped",
            "{name}: restart is '{restart}'"
        );
        if !one_shot {
            assert!(
                s["healthcheck"]["test"].is_array(),
                "{name} has no health check"
            );
        }
        if name != "caddy" {
            assert!(
                s.get("ports").is_none(),
                "{name} publishes ports: only the proxy does"
            );
        }
    }
    assert_eq!(
        services["caddy"]["ports"],
        serde_json::json!(["80:80", "443:443"])
    );
    // The app's settings come from .env: compose only supplies defaults for what it leaves
    // out (`${K:-…}`, or `${K-…}` where an empty value means something), and secrets have no
    // default at all (`${K:?…}`: compose stops and says which one is missing).
    let env = services["app"]["environment"].as_object().unwrap();
    for (k, v) in env {
        let v = v.as_str().unwrap_or("");
        assert!(
            [":-", "-", ":?"]
                .iter()
                .any(|op| v.starts_with(&format!("${{{k}{op}"))),
            "{k} = '{v}' would override .env"
        );
    }
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    for secret in [
        "POSTGRES_PASSWORD",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "METRICS_TOKEN",
    ] {
        assert!(
            !text.contains(&format!("${{{secret}:-")),
            "{secret} has a default"
        );
        assert!(
            text.contains(&format!("${{{secret}:?")),
            "{secret} is not required"
        );
    }
    for name in ["app", "worker"] {
        let deps = services[name]["depends_on"].as_object().unwrap();
        assert_eq!(
            deps["minio-init"]["condition"], "service_completed_successfully",
            "{name} starts after the bucket exists"
        );
    }
}

#[test]
fn the_alert_rules_pass_promtool() {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root().join("deploy/alerts.yml"))
        .output()
        .expect("promtool (Debian's prometheus package, installed by scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
}

/// The metric names the Grafana dashboard's queries use (`reelforge_*`, without the
/// histogram suffixes).
pub(crate) fn dashboard_metrics() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana-dashboard.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names: Vec<String> = Vec::new();
    for panel in doc["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("reelforge_") {
                    let base = name
                        .strip_suffix("_bucket")
                        .or_else(|| name.strip_suffix("_count"))
                        .or_else(|| name.strip_suffix("_sum"))
                        .unwrap_or(name);
                    names.push(format!("reelforge_{base}"));
                }
            }
        }
    }
    names.sort();
    names.dedup();
    assert!(names.len() >= 10, "{names:?}");
    names
}

/// Runs `reelforge args` with `env`; (exit code, stdout + stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Back up (three times, keeping two), wipe, restore: the balances, the ledger and the jobs
/// are what they were. A restore over a live file needs --force; an older binary refuses a
/// newer schema with one sentence naming both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_restore_the_books_and_an_older_binary_refuses_a_newer_schema() {
    use reelforge::db::{jobs as queue, ledger, users::touch_user, Db};
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data/reelforge.db");
    let url = format!("sqlite://{}", db_path.display());
    let files = dir.path().join("files");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("STORAGE_URL", files.to_str().unwrap()),
    ];
    let db = Db::connect(&url).await.unwrap();
    for (user, tokens) in [(1, 500), (2, 1200)] {
        touch_user(&db, user, None, "ru").await.unwrap();
        ledger::credit(
            &db,
            user,
            tokens,
            ledger::Reason::Payment,
            &format!("p{user}"),
            None,
        )
        .await
        .unwrap();
    }
    let job = queue::submit(
        &db,
        queue::NewJob::from_json(
            2,
            "character_edit",
            serde_json::json!({"image": "uploads/a.jpg", "prompt": "hat"}),
            100,
            3,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let books = |db: Db| async move {
        let mut v = Vec::new();
        for user in [1, 2] {
            v.push((
                ledger::balance_of(&db, user).await.unwrap(),
                ledger::history(&db, user, 100).await.unwrap().len(),
            ));
        }
        let jobs: Vec<(i64, i64, String)> = queue::all_jobs(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|j| (j.id, j.cost_tokens, j.state.name().to_string()))
            .collect();
        (v, jobs)
    };
    let before = books(db.clone()).await;
    assert_eq!(before.1.len(), 1);
    let mut made = Vec::new();
    for _ in 0..3 {
        let (code, out) = run(&["admin", "backup", "--keep", "2"], &env);
        assert_eq!(code, 0, "{out}");
        made.push(
            out.split_whitespace()
                .find(|w| w.starts_with("backups/"))
                .unwrap()
                .to_string(),
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert!(
        !files.join(&made[0]).exists(),
        "the oldest is removed: {made:?}"
    );
    assert!(files.join(&made[1]).exists() && files.join(&made[2]).exists());
    // A job made after the last backup is not in it.
    queue::cancel(&db, job).await.unwrap();
    db.close().await;
    let (code, out) = run(&["admin", "restore"], &env);
    assert_eq!(
        code, 2,
        "a live file is not replaced without --force: {out}"
    );
    assert!(out.contains("--force"), "{out}");
    // Not while serve or a worker runs on it (they hold <database>.inuse).
    let held = reelforge::db::backup::hold_in_use(&url).unwrap();
    let (code, out) = run(&["admin", "restore", "--force"], &env);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("stop them first"), "{out}");
    drop(held);
    // Only a backup is restored, not any object of the store.
    let (code, out) = run(
        &[
            "admin",
            "restore",
            "--force",
            "--from",
            "uploads/ab/photo.jpg",
        ],
        &env,
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a backup's name"), "{out}");
    // Wiped: the database file and its WAL are gone.
    for side in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db_path.display()));
    }
    let (code, out) = run(&["admin", "restore"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&made[2]), "the newest: {out}");
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(
        books(db.clone()).await,
        before,
        "balances, ledger and jobs as backed up"
    );
    // Restoring over a database keeps the replaced one beside it.
    db.close().await;
    let (code, out) = run(&["admin", "restore", "--force", "--from", &made[1]], &env);
    assert_eq!(code, 0, "{out}");
    assert!(std::path::PathBuf::from(format!("{}.pre-restore", db_path.display())).exists());
    let db = Db::connect(&url).await.unwrap();
    let known = db.known_schema();
    let (code, out) = run(&["migrate"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("schema version {known}")), "{out}");
    // A newer binary's migration in the database: this one refuses with both versions.
    crate::dbs::exec(&db, "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (99990101, 'from the future', CURRENT_TIMESTAMP, TRUE, x'00', 1)").await;
    db.close().await;
    let (code, out) = run(&["migrate"], &env);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("schema version 99990101") && out.contains(&format!("up to {known}")),
        "{out}"
    );
    assert_eq!(out.trim().lines().count(), 1, "one sentence: {out}");
}

/// The compose layout as processes (the proxy aside): `serve --no-workers` and a `worker`
/// with the compose file's commands, PostgreSQL, the S3 test server reached inside at
/// 127.0.0.1 and handed out under a public name (`localhost`, `S3_PUBLIC_ENDPOINT`), and
/// remote-shaped providers through `*_BASE_URL`: a fake ElevenLabs and a fake fal that
/// fetches the presigned URLs it is given, as fal does. One UGC order through the API is
/// made, and its result downloaded through the public name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_commands_deliver_a_ugc_order_with_inputs_fetched_from_the_public_store() {
    use crate::api::Client;
    use reelforge::db::{ledger, users::touch_user};
    let Some(pg) = crate::dbs::postgres().await else {
        return;
    };
    let Ok(s3) = std::env::var("TEST_S3_ENDPOINT") else {
        return;
    };
    let public_s3 = s3.replace("127.0.0.1", "localhost");
    let dir = tempfile::tempdir().unwrap();
    let (fakes, fake_base) = crate::ugc_remote::start_fakes(dir.path(), false).await;
    let (_tg, tg_url) = crate::fake_tg::FakeTelegram::start().await;
    let free_port = crate::common::free_port;
    let (serve_port, worker_port) = (free_port(), free_port());
    let storage = format!("s3://deploy-{serve_port}/media");
    let common: Vec<(&str, String)> = vec![
        ("DATABASE_URL", pg.url.clone()),
        ("STORAGE_URL", storage),
        ("S3_ENDPOINT", s3.clone()),
        ("S3_PUBLIC_ENDPOINT", public_s3.clone()),
        ("S3_ACCESS_KEY_ID", "test".into()),
        ("S3_SECRET_ACCESS_KEY", "test".into()),
        ("TELEGRAM_BOT_TOKEN", "123:TEST".into()),
        ("TELEGRAM_API_URL", tg_url.clone()),
        ("PROVIDERS", "remote".into()),
        ("ELEVENLABS_API_KEYS", "el".into()),
        ("ELEVENLABS_BASE_URL", format!("{fake_base}/el")),
        ("FAL_API_KEYS", "fal".into()),
        ("FAL_BASE_URL", format!("{fake_base}/fal")),
        (
            "TALKING_HEAD_CHAIN",
            "fal:fal-ai/bytedance/omnihuman/v1.5".into(),
        ),
        ("TTS_CHAIN", "elevenlabs".into()),
        ("JOB_COOLDOWN_S", "0".into()),
    ];
    let env_with = |addr: u16| -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = common
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        // Compose gives serve HTTP_ADDR and each worker WORKER_HTTP_ADDR.
        e.push(("HTTP_ADDR".into(), format!("127.0.0.1:{serve_port}")));
        e.push(("WORKER_HTTP_ADDR".into(), format!("127.0.0.1:{addr}")));
        e
    };
    // The user, their tokens and an API key, as the bot would have made them.
    touch_user(&pg.db, 901, None, "en").await.unwrap();
    ledger::credit(&pg.db, 901, 5000, ledger::Reason::Payment, "seed:901", None)
        .await
        .unwrap();
    let (key, _) = reelforge::db::api_keys::create(&pg.db, 901)
        .await
        .unwrap()
        .unwrap();
    let spawn = crate::common::spawn_reelforge;
    let _procs = crate::common::Children(vec![
        spawn(
            "serve",
            &["serve", "--no-workers"],
            &common
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain([("HTTP_ADDR".to_string(), format!("127.0.0.1:{serve_port}"))])
                .collect::<Vec<_>>(),
            dir.path(),
        ),
        spawn(
            "worker",
            &["worker", "--concurrency", "1"],
            &env_with(worker_port),
            dir.path(),
        ),
    ]);
    let http = reqwest::Client::new();
    for port in [serve_port, worker_port] {
        let url = format!("http://127.0.0.1:{port}/health");
        crate::common::wait_until(
            "/health of serve and the worker",
            Duration::from_secs(30),
            || {
                let r = http.get(&url).send();
                async move { r.await.is_ok_and(|r| r.status().is_success()) }
            },
        )
        .await;
    }
    // What the image's HEALTHCHECK and compose's health checks run.
    let (code, out) = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{worker_port}/health"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let closed = crate::common::free_port();
    let (code, out) = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{closed}/health"),
            "--timeout",
            "2",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unhealthy"), "{out}");
    let c = Client {
        http: http.clone(),
        base: format!("http://127.0.0.1:{serve_port}"),
    };
    let (status, upload) = c
        .upload(
            &key,
            "portrait.jpg",
            std::fs::read(crate::common::ASTRONAUT).unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{upload}");
    let spec = serde_json::json!({"kind": "ugc_video", "portrait": upload["id"], "script": "Buy now.",
                                  "language": "en", "size": "360x640"});
    let (status, _, body) = c.post_job(&key, &spec.to_string(), None).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let log = |name: &str| {
        std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default()
    };
    let view = c.wait_state(&key, id, "done").await;
    assert!(view["result_url"].is_string(), "{view}\n{}", log("worker"));
    // The talking-head provider fetched the portrait and the speech through the public name.
    let fetched = fakes.fetched.lock().unwrap().clone();
    assert_eq!(fetched.len(), 2, "image and audio: {fetched:?}");
    for (url, status, bytes) in &fetched {
        assert!(url.starts_with(&format!("{public_s3}/")), "{url}");
        assert_eq!((*status, *bytes > 0), (200, true), "{url}");
    }
    // The result: a redirect to the public name, which serves the video.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{}/v1/jobs/{id}/result", c.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "See Other: the presigned URL");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{public_s3}/")), "{location}");
    let video = http.get(&location).send().await.unwrap();
    assert_eq!(video.status().as_u16(), 200);
    assert!(video.bytes().await.unwrap().len() > 1000);
}

/// The proxy's configuration is what Caddy accepts, with the app and the object store behind
/// it and `/metrics` not served to the internet.
#[test]
fn the_caddyfile_is_valid_and_keeps_metrics_private() {
    let caddyfile = root().join("deploy/Caddyfile");
    let env = [
        ("PUBLIC_HOST", "ads.example.com"),
        ("S3_BUCKET", "reelforge"),
    ];
    let out = Command::new("caddy")
        .args(["adapt", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .envs(env)
        .output()
        .expect("caddy (Debian's package, installed by scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "ads.example.com",
        "app:8080",
        "minio:9000",
        "/metrics",
        "/reelforge/*",
    ] {
        assert!(json.contains(needle), "{needle} in {json}");
    }
    // The exclusive routes in order: /metrics answered 404, signed GETs to the store, the
    // rest of the store refused, everything else to the app (last).
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = doc
        .pointer("/apps/http/servers/srv0/routes/0/handle/0/routes")
        .and_then(|r| r.as_array())
        .unwrap()
        .iter()
        .filter(|r| r["group"].is_string())
        .map(|r| (r["match"].to_string(), r["handle"].to_string()))
        .collect::<Vec<_>>();
    assert_eq!(routes.len(), 4, "{routes:?}");
    assert!(
        routes[0].0.contains("/metrics") && routes[0].1.contains("404"),
        "{routes:?}"
    );
    assert!(
        routes[1].0.contains("X-Amz-Signature") && routes[1].0.contains("GET"),
        "{routes:?}"
    );
    assert!(routes[2].1.contains("403"), "{routes:?}");
    assert!(
        routes[3].0 == "null" && routes[3].1.contains("app:8080"),
        "{routes:?}"
    );
    let out = Command::new("caddy")
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
