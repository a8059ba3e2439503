//! Logs are `tracing` events with spans (job, user, step, provider as fields). `RUST_LOG`
//! sets the levels (default `info`, noisy HTTP crates at `warn`); `LOG_FORMAT=json` writes one
//! JSON object per line for log shippers. Secrets never reach a log line: configuration is
//! logged through its redacting `Debug`, URLs through `config::redact_url`.
use tracing_subscriber::EnvFilter;

/// Installs the subscriber for this process (once; later calls do nothing). Logs go to
/// standard error, so standard output stays for command results.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,reqwest=warn,sqlx=warn,aws=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
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
