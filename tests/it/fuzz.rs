//! A third-party fuzzer against the API: Schemathesis (pinned in `/opt/reelforge-fuzz-venv`
//! by `scripts/setup.sh`) runs every check it has against a running `reelforge serve` with a
//! funded key, seeded and time-bounded: no 5xx, every response as `/v1/openapi.json` says,
//! schema-valid requests accepted and invalid ones refused. The document itself must pass
//! `openapi-spec-validator`. Settings the run needs are in `tests/schemathesis.toml`.
use crate::dbs;
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use std::path::Path;
use std::process::Command;

const VENV: &str = "/opt/reelforge-fuzz-venv/bin";

fn tool(name: &str) -> String {
    let path = format!("{VENV}/{name}");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run scripts/setup.sh (make test does)"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_off_the_document() {
    let st = tool("st");
    let validator = tool("openapi-spec-validator");
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    touch_user(&t.db, 301, None, "en").await.unwrap();
    ledger::credit(&t.db, 301, 10_000_000, Reason::Payment, "seed:301", None)
        .await
        .unwrap();
    let (key, _) = reelforge::db::api_keys::create(&t.db, 301)
        .await
        .unwrap()
        .unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let seconds = std::env::var("FUZZ_SECONDS").unwrap_or_else(|_| "120".into());
    // `serve` and the fuzzer share a network namespace of their own: only loopback, so a
    // webhook URL the fuzzer sets can never send anything to a real address. Jobs stay
    // queued (no workers): the fuzzer tests the API, not the pipelines.
    let script = r#"
set -u
ip link set lo up
"$REELFORGE" serve --no-workers 2> serve.log &
serve=$!
for _ in $(seq 1 300); do curl -sf -o /dev/null http://127.0.0.1:8080/health && break; sleep 0.1; done
curl -sf http://127.0.0.1:8080/v1/openapi.json -o openapi.json || { echo "serve did not answer"; kill $serve; exit 3; }
"$VALIDATOR" openapi.json > validator.txt 2>&1 || { cat validator.txt; kill $serve; exit 4; }
"$ST" --config-file "$CONFIG" --no-color run http://127.0.0.1:8080/v1/openapi.json \
  --checks all --seed 4242 --max-time "$SECONDS_" --workers 2 --generation-database none \
  -H "Authorization: Bearer $KEY"
code=$?
kill $serve; wait $serve
exit $code
"#;
    let out = Command::new("unshare")
        .args(["--map-root-user", "--net", "bash", "-c", script])
        .current_dir(dir.path())
        .env("REELFORGE", env!("CARGO_BIN_EXE_reelforge"))
        .env("VALIDATOR", &validator)
        .env("ST", &st)
        .env("CONFIG", &config)
        .env("SECONDS_", &seconds)
        .env("KEY", &key)
        .env("TMPDIR", dir.path())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &t.url)
        .env("STORAGE_URL", dir.path().join("files"))
        .env("TELEGRAM_BOT_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", "http://127.0.0.1:9")
        .env("PROVIDERS", "local")
        .env("HTTP_ADDR", "127.0.0.1:8080")
        .env("API_RATE_PER_MIN", "1000000")
        .env("DAILY_JOB_LIMIT", "1000000")
        .env("JOB_COOLDOWN_S", "0")
        .env("USER_ACTIONS_PER_HOUR", "1000000")
        .env("API_UPLOAD_MB_PER_DAY", "100000")
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "Schemathesis found problems (exit {:?}):\n{report}\n--- serve.log (tail) ---\n{}",
        out.status.code(),
        log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    assert!(
        !log.contains("panicked"),
        "serve panicked under the fuzzer:\n{log}"
    );
}
