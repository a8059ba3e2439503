//! `reelforge`: the command line over the media engine (and, later, the service).
mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Both ring (sqlx) and aws-lc-rs (aws-sdk) end up in rustls: pick one before any TLS use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // A bug must never greet a user with a backtrace: one plain line, exit status 1.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("reelforge: internal error: {what}");
    }));
    match std::panic::catch_unwind(cli::run) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{}", e.message());
            ExitCode::from(e.exit_code())
        }
        Err(_) => ExitCode::from(1),
    }
}
