//! `reelforge serve`: the HTTP server (`/health`, `/metrics`, `/webhooks/stripe`) and, unless
//! `--no-workers`, the queue workers in the same process, and the Telegram bot (long polling)
//! when `TELEGRAM_BOT_TOKEN` is set.
use super::CliError;
use clap::Args;
use reelforge::bot::run::RunningBot;
use reelforge::config::{Config, Layer};
use reelforge::db::Db;
use reelforge::http::{router, AppState};
use reelforge::pricing::PriceTable;
use reelforge::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); environment and .env override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides HTTP_ADDR.
    #[arg(long)]
    http_addr: Option<String>,
    /// Do not run workers in this process (run `reelforge worker` elsewhere).
    #[arg(long)]
    no_workers: bool,
    /// Seconds a claimed job stays with this process's workers between heartbeats; after a
    /// crash another process takes the job over once it runs out.
    #[arg(long, default_value_t = 120)]
    lease_s: u64,
}

pub fn run(a: ServeArgs) -> Result<(), CliError> {
    let _ = dotenvy::dotenv();
    let flags = Layer {
        http_addr: a.http_addr.clone(),
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
    rt.block_on(serve(a, cfg))
}

/// Everything `serve` runs, started in order (the database, the port, the pricing table, the
/// bot, the HTTP routes, the workers) and stopped together on a signal.
async fn serve(a: ServeArgs, cfg: Config) -> Result<(), CliError> {
    let db = Db::connect(&cfg.database_url)
        .await
        .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    let (credited_tx, credited_rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind(cfg.http_addr)
        .await
        .map_err(|e| {
            CliError::BadInput(format!("HTTP_ADDR {} cannot be used: {e}.", cfg.http_addr))
        })?;
    // The pricing table, read once: the bot, the API, the console and the Stripe webhook.
    let prices = Arc::new(
        PriceTable::load(cfg.pricing_file.as_deref().map(std::path::Path::new))
            .map_err(|e| CliError::BadInput(format!("PRICING_FILE {e}.")))?,
    );
    let state = AppState {
        db: db.clone(),
        stripe_webhook_secret: cfg.stripe_webhook_secret.clone(),
        metrics_token: cfg.metrics_token.clone(),
        credited: Some(credited_tx),
        referral_percent: prices.referral_percent,
        trusted_proxies: Arc::new(cfg.trusted_proxies.clone()),
    };
    tracing::info!(
        addr = %cfg.http_addr,
        stripe_webhook = cfg.stripe_webhook_secret.is_some(),
        "serving health, metrics and webhooks"
    );
    // Workers deliver themselves and need the bot token: checked before anything starts.
    let deliver = if a.no_workers {
        None
    } else {
        Some(super::worker::telegram_deliverer(&cfg, &db)?)
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // One store for the bot's uploads and the workers.
    let storage = Arc::new(super::worker::build_storage(&cfg).await?);
    let (intake, scripts) = product_services(&cfg, &db, &storage)?;
    let shared = Shared {
        cfg: &cfg,
        db: &db,
        storage: &storage,
        prices: &prices,
        intake,
        scripts,
    };
    let mut bot = match cfg.telegram_bot_token.as_deref() {
        Some(token) => Some(start_bot(&shared, token, deliver.clone(), &stop_tx).await?),
        None => {
            tracing::warn!("TELEGRAM_BOT_TOKEN is not set; running without the bot");
            None
        }
    };
    let bot_link = match &bot {
        Some((b, _)) => bot_link(b).await,
        None => "https://t.me".to_string(),
    };
    let mut routes = router(state)
        .merge(reelforge::payments::pages::router(bot_link))
        .merge(api_and_console(&shared, &stop_tx)?);
    // The Mini App composer, for the bot's users (its button needs PUBLIC_URL on https).
    if let (Some((b, running)), Some(token)) = (&bot, cfg.telegram_bot_token.as_deref()) {
        let composer = reelforge::miniapp::MiniApp::new(b.clone(), running.app.clone(), token);
        routes = routes.merge(reelforge::miniapp::router(Arc::new(composer)));
    }
    if let Some(webhook) = bot.as_mut().and_then(|(_, r)| r.webhook.take()) {
        routes = routes.merge(webhook);
    }
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            routes.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.changed().await;
        })
        .await
    });
    if let Some((b, _)) = &bot {
        tokio::spawn(announce_payments(b.clone(), db.clone(), credited_rx));
    }
    let workers = match deliver {
        None => None,
        Some(deliver) => {
            let options = super::worker::WorkerOptions {
                lease_s: a.lease_s,
                ..Default::default()
            };
            Some(super::worker::start(&cfg, db, storage, options, deliver).await?)
        }
    };
    super::worker::shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    if let Some(w) = workers {
        w.stop().await?;
    }
    let _ = server.await;
    if let Some((_, running)) = bot {
        let _ = running.task.await;
    }
    Ok(())
}

/// `https://t.me/<the bot's username>` for the payment return pages (Telegram itself when
/// the Bot API does not answer in time).
async fn bot_link(bot: &teloxide::Bot) -> String {
    use teloxide::prelude::Requester;
    match tokio::time::timeout(std::time::Duration::from_secs(5), bot.get_me()).await {
        Ok(Ok(me)) => me
            .username
            .as_deref()
            .map_or("https://t.me".to_string(), |u| format!("https://t.me/{u}")),
        _ => "https://t.me".to_string(),
    }
}

/// What the bot, the API and the console of one `serve` share.
struct Shared<'a> {
    cfg: &'a Config,
    db: &'a Db,
    storage: &'a Arc<Storage>,
    prices: &'a Arc<PriceTable>,
    /// Products from shop links and scripts written from them: the bot's and the API's.
    intake: Arc<reelforge::products::Intake>,
    scripts: Arc<reelforge::products::scripts::ScriptWriter>,
}

/// Product intake (the webhooks' address guard, `PRODUCT_FETCH_PRIVATE_OK` for tests) and the
/// script writer (the chat model at `LLM_URL`, or the templates alone).
fn product_services(
    cfg: &Config,
    db: &Db,
    storage: &Arc<Storage>,
) -> Result<
    (
        Arc<reelforge::products::Intake>,
        Arc<reelforge::products::scripts::ScriptWriter>,
    ),
    CliError,
> {
    let intake = reelforge::products::Intake::new(
        db.clone(),
        storage.clone(),
        reelforge::egress::Reach::private_ok(cfg.product_fetch_private_ok),
        std::env::temp_dir().join("reelforge-products"),
    )
    .map_err(CliError::Internal)?;
    std::fs::create_dir_all(&intake.work_dir)?;
    let http = reelforge::providers::http_client(
        std::time::Duration::from_secs(60),
        cfg.provider_proxy.as_deref(),
    )
    .map_err(CliError::Internal)?;
    let model = cfg.llm_url.as_deref().map(|url| {
        let key = cfg.api_keys.get("openai").and_then(|k| k.first().cloned());
        reelforge::providers::llm::ChatModel::new(http, url, &cfg.llm_model, key)
    });
    Ok((
        Arc::new(intake),
        Arc::new(reelforge::products::scripts::ScriptWriter { model }),
    ))
}

/// The Telegram bot (long polling, or a webhook route to mount), with the speech chain the
/// jobs use for its previews and the operator alerts of the workers.
async fn start_bot(
    s: &Shared<'_>,
    token: &str,
    alerts: Option<Arc<dyn reelforge::pipelines::Deliver>>,
    stop: &tokio::sync::watch::Sender<bool>,
) -> Result<(teloxide::Bot, RunningBot), CliError> {
    let cfg = s.cfg;
    let bot =
        reelforge::bot::run::make_bot(token, &cfg.telegram_api_url, cfg.telegram_proxy.as_deref())
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    let http = reelforge::providers::http_client(
        std::time::Duration::from_secs(60),
        cfg.provider_proxy.as_deref(),
    )
    .map_err(CliError::Internal)?;
    let mut app = reelforge::bot::run::BotApp::new(s.db.clone(), s.storage.clone());
    app.prices = (**s.prices).clone();
    app.settings = cfg.bot.clone();
    app.limits = reelforge::bot::rate_limit::RateLimits::new(cfg.bot.actions_per_hour as usize);
    app.admins = cfg.admin_ids.clone();
    app.stripe = cfg
        .stripe_secret_key
        .as_deref()
        .map(|k| reelforge::payments::stripe::StripeClient::new(http.clone(), k, None));
    let remote = cfg.providers == reelforge::config::Providers::Remote;
    // The speech preview speaks through the same chain as the jobs.
    app.speech =
        reelforge::pipelines::RemoteProviders::from_config(cfg, &http, Some(s.prices.clone()))
            .speech;
    app.alerts = alerts;
    app.policy_dir = cfg.policy_dir.as_deref().map(std::path::PathBuf::from);
    app.intake = s.intake.clone();
    app.scripts = s.scripts.clone();
    // Telegram opens Mini Apps over https only.
    app.app_url = cfg
        .bot
        .public_url
        .as_deref()
        .filter(|u| u.starts_with("https://"))
        .map(|u| format!("{}/app/", u.trim_end_matches('/')));
    app.tts = cfg
        .api_keys
        .get("elevenlabs")
        .filter(|k| remote && !k.is_empty())
        .map(|k| {
            Arc::new(reelforge::providers::elevenlabs::ElevenLabs::new(
                http.clone(),
                k.clone(),
                cfg.provider_urls.get("elevenlabs").map(String::as_str),
            ))
        });
    let running = reelforge::bot::run::start_bot(bot.clone(), Arc::new(app), stop.subscribe())
        .await
        .map_err(|e| CliError::BadInput(format!("{e}.")))?;
    tracing::info!(
        mode = if running.webhook.is_some() { "webhook" } else { "long polling" },
        api = %cfg.telegram_api_url,
        "bot started"
    );
    Ok((bot, running))
}

/// The public API v1 (with its webhook outbox running) and, when `CONSOLE_TOKEN` is set, the
/// operator console.
fn api_and_console(
    s: &Shared<'_>,
    stop: &tokio::sync::watch::Sender<bool>,
) -> Result<axum::Router, CliError> {
    let cfg = s.cfg;
    let api = Arc::new(reelforge::api::ApiState {
        db: s.db.clone(),
        storage: s.storage.clone(),
        prices: s.prices.clone(),
        limiter: reelforge::api::RateLimiter::new(cfg.api_rate_per_min as u32),
        work_dir: std::env::temp_dir().join("reelforge-api"),
        webhook_private_ok: cfg.api_webhook_private_ok,
        upload_bytes_per_day: cfg.api_upload_mb_per_day.saturating_mul(1024 * 1024),
        intake: s.intake.clone(),
        scripts: s.scripts.clone(),
    });
    let hooks = reelforge::api::webhooks::Sender::new(cfg.api_webhook_private_ok)
        .map_err(CliError::Internal)?;
    tokio::spawn(reelforge::api::webhooks::run(
        s.db.clone(),
        hooks,
        stop.subscribe(),
    ));
    let mut routes = reelforge::api::router(api);
    match &cfg.console_token {
        Some(token) => {
            let mut console = reelforge::console::ConsoleState::new(
                s.db.clone(),
                s.storage.clone(),
                s.prices.clone(),
                token.clone(),
                cfg.telegram_bot_token.clone(),
                cfg.admin_ids.clone(),
                cfg.bot
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
            );
            console.trusted_proxies = Arc::new(cfg.trusted_proxies.clone());
            let console = Arc::new(console);
            routes = routes.merge(reelforge::console::router(console));
            tracing::info!("operator console on /console");
        }
        None => tracing::info!("CONSOLE_TOKEN is not set: the operator console is off"),
    }
    Ok(routes)
}

/// Paid Stripe sessions and referral rewards are announced to the user by the bot, in their
/// language.
async fn announce_payments(
    bot: teloxide::Bot,
    db: Db,
    mut credited: tokio::sync::mpsc::UnboundedReceiver<reelforge::payments::stripe::WebhookOutcome>,
) {
    use reelforge::bot::texts::{Lang, Texts};
    use reelforge::payments::stripe::WebhookOutcome;
    use teloxide::prelude::Requester;
    let texts = Texts::bundled();
    while let Some(outcome) = credited.recv().await {
        let (user, key, tokens, balance) = match outcome {
            WebhookOutcome::Credited {
                user,
                tokens,
                balance,
            } => (user, "pay.credited", tokens, balance),
            WebhookOutcome::ReferralReward {
                referrer,
                tokens,
                balance,
            } => (referrer, "referral.reward", tokens, balance),
            WebhookOutcome::Reversed { .. } | WebhookOutcome::Ignored(_) => continue,
        };
        let lang = reelforge::db::users::get_user(&db, user)
            .await
            .ok()
            .flatten()
            .map(|u| {
                if u.language == "ru" {
                    Lang::Ru
                } else {
                    Lang::En
                }
            })
            .unwrap_or(Lang::Ru);
        let text = texts.get(lang, key, &[("tokens", &tokens), ("balance", &balance)]);
        let _ = bot.send_message(teloxide::types::ChatId(user), text).await;
    }
}
