//! `reelforge healthcheck`: asks this machine's `reelforge serve` or `worker` for `/health`
//! (what the Docker `HEALTHCHECK` and compose's health checks run: the image needs no curl).
//! Exit 0 when it answers 200, 1 otherwise, with one line saying what came back.
use super::CliError;
use clap::Args;
use std::time::Duration;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// Where to ask (default: `HTTP_ADDR`'s port on 127.0.0.1).
    #[arg(long)]
    url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

pub fn run(a: HealthcheckArgs) -> Result<(), CliError> {
    let _ = dotenvy::dotenv();
    let url = match a.url {
        Some(u) => u,
        None => {
            let addr = std::env::var("HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
            let port = addr.rsplit(':').next().unwrap_or("8080");
            format!("http://127.0.0.1:{port}/health")
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    rt.block_on(async {
        let answer = reqwest::Client::builder()
            .timeout(Duration::from_secs(a.timeout))
            .no_proxy()
            .build()
            .map_err(|e| CliError::Internal(e.to_string()))?
            .get(&url)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                println!("healthy: {url} answered {}", r.status().as_u16());
                Ok(())
            }
            Ok(r) => Err(CliError::Internal(format!(
                "unhealthy: {url} answered {}",
                r.status().as_u16()
            ))),
            Err(e) => Err(CliError::Internal(format!("unhealthy: {url}: {e}"))),
        }
    })
}
