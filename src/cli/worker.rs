//! `reelforge worker`: runs queue workers alone (no bot, no HTTP server) until Ctrl-C or
//! SIGTERM, then stops claiming, lets running jobs finish for a grace period and gives the
//! rest back to the queue.
use super::CliError;
use clap::Args;
use reelforge::bot::deliver::{TelegramDeliver, TelegramEndpoint};
use reelforge::config::{Config, Layer, Storage as StorageSetting};
use reelforge::db::Db;
use reelforge::pipelines::{Deliver, Pipelines, Services};
use reelforge::queue::worker::{run_worker, WorkerConfig};
use reelforge::storage::folder::FolderStore;
use reelforge::storage::s3::S3Store;
use reelforge::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct WorkerArgs {
    /// Configuration file (TOML); environment and .env override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Jobs run at the same time by this process.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Most running jobs of one user across all workers.
    #[arg(long, default_value_t = 2)]
    per_user: i64,
    /// Overrides DATABASE_URL (command-line flags win over file and environment).
    #[arg(long)]
    database_url: Option<String>,
    /// Overrides STORAGE_URL.
    #[arg(long)]
    storage_url: Option<String>,
    /// Seconds running jobs get to finish on shutdown before they are given back.
    #[arg(long, default_value_t = 60)]
    grace: u64,
    /// Seconds a claimed job stays with this worker between heartbeats; after a crash another
    /// worker takes the job over once it runs out.
    #[arg(long, default_value_t = 120)]
    lease_s: u64,
}

/// The deliverer every worker needs: workers send finished videos to Telegram themselves
/// (no polling bot needed), so a worker without a bot token is a configuration error.
pub fn telegram_deliverer(cfg: &Config, db: &Db) -> Result<Arc<dyn Deliver>, CliError> {
    let Some(token) = cfg.telegram_bot_token.clone() else {
        return Err(CliError::BadInput(
            "TELEGRAM_BOT_TOKEN is not set: workers deliver the finished videos to Telegram themselves and cannot run without it (serve can run with --no-workers)."
                .into(),
        ));
    };
    let endpoint = TelegramEndpoint {
        token,
        api_url: cfg.telegram_api_url.clone(),
        proxy: cfg.telegram_proxy.clone(),
    };
    let mut deliver = TelegramDeliver::new(endpoint, db.clone())
        .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    deliver.admin_chat = cfg.bot.admin_chat_id.or(cfg.admin_ids.first().copied());
    Ok(Arc::new(deliver))
}

pub fn run(a: WorkerArgs) -> Result<(), CliError> {
    let _ = dotenvy::dotenv();
    let flags = Layer {
        database_url: a.database_url.clone(),
        storage_url: a.storage_url.clone(),
        ..Layer::default()
    };
    let cfg = Config::load(a.config.as_deref(), |k| std::env::var(k).ok(), flags)
        .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    reelforge::logging::init_with(cfg.rust_log.as_deref(), cfg.log_json);
    // While this process runs, `admin restore` cannot replace its SQLite file.
    let _in_use = reelforge::db::backup::hold_in_use(&cfg.database_url)
        .map_err(|e| CliError::BadInput(format!("DATABASE_URL: {e}.")))?;
    media::set_gpu(cfg.media_gpu);
    tracing::info!(decode = %media::decode_path(), "media GPU path");
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::Internal(e.to_string()))?;
    rt.block_on(async move {
        let db = Db::connect(&cfg.database_url)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        let deliver = telegram_deliverer(&cfg, &db)?;
        let storage = Arc::new(build_storage(&cfg).await?);
        let options = WorkerOptions {
            concurrency: a.concurrency,
            per_user: a.per_user,
            grace_s: a.grace,
            lease_s: a.lease_s,
        };
        serve_ops(&cfg, &db).await?;
        let workers = start(&cfg, db, storage, options, deliver).await?;
        shutdown_signal().await;
        tracing::info!(
            worker = %workers.name,
            grace_s = a.grace,
            "stopping: no new jobs; running ones get the grace period"
        );
        workers.stop().await
    })
}

/// `/health` and `/metrics` of this worker process on `WORKER_HTTP_ADDR` (compose sets it for
/// every worker container; unset, the worker serves neither, so it never takes `serve`'s
/// `HTTP_ADDR` on a shared host).
async fn serve_ops(cfg: &Config, db: &Db) -> Result<(), CliError> {
    let Some(addr) = cfg.worker_http_addr else {
        return Ok(());
    };
    let state = reelforge::http::AppState {
        db: db.clone(),
        stripe_webhook_secret: None,
        metrics_token: cfg.metrics_token.clone(),
        credited: None,
        referral_percent: 0,
        trusted_proxies: Arc::new(cfg.trusted_proxies.clone()),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::BadInput(format!("WORKER_HTTP_ADDR {addr} cannot be used: {e}.")))?;
    tracing::info!(%addr, "worker serving /health and /metrics");
    let app = reelforge::http::ops_router(state)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

/// Workers running in this process, stopped gracefully by [`RunningWorkers::stop`].
pub struct RunningWorkers {
    pub name: String,
    stop: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    cleanup: tokio::task::JoinHandle<()>,
}

impl RunningWorkers {
    pub async fn stop(self) -> Result<(), CliError> {
        let _ = self.stop.send(true);
        self.worker
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?;
        self.cleanup.abort();
        Ok(())
    }
}

/// The object store the configuration names (an S3 bucket is created when missing).
pub async fn build_storage(cfg: &Config) -> Result<Storage, CliError> {
    let storage = match &cfg.storage {
        StorageSetting::Folder(dir) => Storage::Folder(
            FolderStore::new(dir)
                .map_err(|e| CliError::BadInput(format!("STORAGE_URL {dir}: {e}.")))?,
        ),
        StorageSetting::S3 {
            bucket,
            prefix,
            endpoint,
            public_endpoint,
            region,
            access_key_id,
            secret_access_key,
        } => {
            let s3 = S3Store::new(
                endpoint.as_deref(),
                region,
                access_key_id,
                secret_access_key,
                bucket,
                prefix,
            )
            .with_public_endpoint(
                public_endpoint.as_deref(),
                access_key_id,
                secret_access_key,
            );
            s3.ensure_bucket()
                .await
                .map_err(|e| CliError::BadInput(format!("STORAGE_URL s3://{bucket}: {e}.")))?;
            Storage::S3(s3)
        }
    };
    Ok(storage)
}

/// Builds the services the configuration asks for (providers by key, video tiers, prompt
/// writer) around `storage` and starts the workers and the hourly cache cleanup.
/// How many jobs a process runs and how it holds them.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    pub concurrency: usize,
    /// Most running jobs of one user across all workers.
    pub per_user: i64,
    pub grace_s: u64,
    pub lease_s: u64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            per_user: 2,
            grace_s: 60,
            lease_s: 120,
        }
    }
}

pub async fn start(
    cfg: &Config,
    db: Db,
    storage: Arc<Storage>,
    options: WorkerOptions,
    deliver: Arc<dyn Deliver>,
) -> Result<RunningWorkers, CliError> {
    let WorkerOptions {
        concurrency,
        per_user,
        grace_s: grace,
        lease_s,
    } = options;
    let name = format!("worker-{}-{}", hostname(), std::process::id());
    let http =
        reelforge::providers::http_client(Duration::from_secs(120), cfg.provider_proxy.as_deref())
            .map_err(CliError::Internal)?;
    let router = reelforge::pipelines::video_backend::VideoRouter::from_config(cfg, &http);
    tracing::info!(worker = %name, tiers = ?router.describe(), "video tiers");
    let prices =
        reelforge::pricing::PriceTable::load(cfg.pricing_file.as_deref().map(std::path::Path::new))
            .map_err(CliError::BadInput)?;
    let remote =
        reelforge::pipelines::RemoteProviders::from_config(cfg, &http, Some(Arc::new(prices)));
    tracing::info!(chains = %remote.describe(), "fallback chains");
    let prompt_writer = cfg.llm_url.as_deref().map(|url| {
        let key = cfg.api_keys.get("openai").and_then(|k| k.first().cloned());
        reelforge::providers::llm::PromptWriter::new(http.clone(), url, &cfg.llm_model, key)
    });
    let services = Arc::new(Services {
        db: db.clone(),
        storage,
        deliver,
        work_dir: std::env::temp_dir().join("reelforge-work"),
        worker_name: name.clone(),
        video: router,
        prompt_writer,
        remote,
        provider_deadlines: cfg.provider_deadlines.clone(),
    });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let wcfg = WorkerConfig {
        name: name.clone(),
        concurrency: concurrency.max(1),
        lease: Duration::from_secs(lease_s.max(1)),
        poll: Duration::from_millis(500),
        per_user_running: per_user,
        grace: Duration::from_secs(grace),
    };
    tracing::info!(
        worker = %name,
        database = db.kind(),
        concurrency = wcfg.concurrency,
        "worker started; Ctrl-C to stop"
    );
    let cleanup = tokio::spawn(upkeep(db.clone(), services.storage.clone(), rx.clone()));
    let worker = tokio::spawn(run_worker(db, Arc::new(Pipelines(services)), wcfg, rx));
    Ok(RunningWorkers {
        name,
        stop,
        worker,
        cleanup,
    })
}

/// Upkeep while the workers run: once a minute, settle jobs a crash left half-way (refund a
/// failed job that kept its tokens, queue or reject a job left `new`); once an hour, delete
/// cached composites whose 24 h have passed (and their files).
async fn upkeep(db: Db, storage: Arc<Storage>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut minutes = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match reelforge::db::jobs::sweep_unsettled(&db).await {
                    Ok(n) if n > 0 => tracing::warn!(settled = n, "jobs left half-way were settled"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "settling half-way jobs failed"),
                }
                if minutes.is_multiple_of(60) {
                    let day_ago = reelforge::db::now_ms() - 24 * 3_600_000;
                    if let Err(e) = reelforge::db::providers::prune_calls(&db, day_ago).await {
                        tracing::warn!(error = %e, "pruning provider call records failed");
                    }
                    if let Err(e) = reelforge::db::limits::prune(&db, day_ago).await {
                        tracing::warn!(error = %e, "pruning request limit windows failed");
                    }
                    match reelforge::orders::files::remove_unused_uploads(&db, storage.as_ref()).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "API uploads no job used in a day removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "removing unused uploads failed"),
                    }
                    match reelforge::storage::cache::cleanup_expired(&db, storage.as_ref()).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "expired cached composites removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cache cleanup failed"),
                    }
                }
                minutes = minutes.wrapping_add(1);
            }
            _ = stop.changed() => return,
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}
