//! Logs are `tracing` events with spans (job, user, step, provider as fields). `RUST_LOG`
//! sets the levels (default `info`, noisy HTTP crates at `warn`); `LOG_FORMAT=json` writes one
//! JSON object per line for log shippers. Secrets never reach a log line: configuration is
//! logged through its redacting `Debug`, URLs through `config::redact_url`.
use tracing_subscriber::EnvFilter;

const DEFAULT_LEVELS: &str = "info,hyper=warn,reqwest=warn,sqlx=warn,aws=warn";

/// Installs the subscriber with the environment's `RUST_LOG` and `LOG_FORMAT` (commands
/// without a configuration).
pub fn init() {
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    init_with(std::env::var("RUST_LOG").ok().as_deref(), json);
}

/// Installs the subscriber for this process (once; later calls do nothing) with the levels
/// and format the configuration gives (`RUST_LOG`, `LOG_FORMAT`: from the environment,
/// `.env` or the TOML file). Logs go to standard error, so standard output stays for
/// command results. Levels that do not parse fall back to the default.
pub fn init_with(levels: Option<&str>, json: bool) {
    let filter = levels
        .and_then(|l| EnvFilter::try_new(l).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_LEVELS));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}
