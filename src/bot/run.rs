//! Starting the bot: the command menu, the dispatcher (messages and button presses) fed by
//! long polling, or by a webhook when `WEBHOOK_URL` is set (Telegram's secret-token header is
//! checked; the route is merged into the HTTP server), and the progress-message loop.
pub use super::app::BotApp;
use super::handlers::{on_callback, on_message};
use std::sync::Arc;
use teloxide::prelude::*;
use teloxide::update_listeners::webhooks;
use teloxide::utils::command::BotCommands;

/// A bot pointed at `api_url` (the cloud Bot API or a local Bot API server), through `proxy`
/// when one is given.
pub fn make_bot(token: &str, api_url: &str, proxy: Option<&str>) -> Result<Bot, String> {
    // teloxide's own default: long polls wait up to 10 s on the server side.
    make_bot_with_timeout(token, api_url, proxy, std::time::Duration::from_secs(17))
}

/// Like [`make_bot`], with every request limited to `timeout` (uploads get more).
pub fn make_bot_with_timeout(
    token: &str,
    api_url: &str,
    proxy: Option<&str>,
    timeout: std::time::Duration,
) -> Result<Bot, String> {
    let url = reqwest::Url::parse(api_url)
        .map_err(|e| format!("TELEGRAM_API_URL '{api_url}' is not a URL: {e}"))?;
    let mut builder = teloxide::net::default_reqwest_settings().timeout(timeout);
    if let Some(p) = proxy {
        let shown = crate::config::redact_url(p);
        builder = builder.proxy(reqwest_tg::Proxy::all(p).map_err(|_| {
            format!(
                "TELEGRAM_PROXY '{shown}' is not a valid http://, https:// or socks5:// proxy URL"
            )
        })?);
    }
    let client = builder
        .build()
        .map_err(|e| format!("the Telegram HTTP client cannot start: {e}"))?;
    Ok(Bot::with_client(token, client).set_api_url(url))
}

/// The running bot: its task, and the webhook route to serve when in webhook mode.
pub struct RunningBot {
    pub task: tokio::task::JoinHandle<()>,
    pub webhook: Option<axum::Router>,
    /// What the bot runs with (the Mini App composer shares it).
    pub app: Arc<BotApp>,
}

/// Registers the command menu, starts the progress loop and answers updates until
/// `shutdown` fires: by long polling, or through the returned webhook route.
pub async fn start_bot(
    bot: Bot,
    app: Arc<BotApp>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<RunningBot, String> {
    if let Err(e) = bot
        .set_my_commands(super::commands::Command::bot_commands())
        .await
    {
        tracing::warn!(error = %e, "setMyCommands failed");
    }
    // The menu button opens the composer on the user's current draft.
    if let Some(url) = app
        .app_url
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
    {
        let button = teloxide::types::MenuButton::WebApp {
            text: "🎛".into(),
            web_app: teloxide::types::WebAppInfo { url },
        };
        if let Err(e) = bot.set_chat_menu_button().menu_button(button).await {
            tracing::warn!(error = %e, "setChatMenuButton failed");
        }
    }
    tokio::spawn(super::progress::run_progress(
        bot.clone(),
        app.db.clone(),
        std::sync::Arc::new(super::texts::Texts::bundled()),
        shutdown.clone(),
    ));
    let handler = dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback));
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![app.clone()])
        .build();
    let token = dispatcher.shutdown_token();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = stop.changed().await;
        if let Ok(done) = token.shutdown() {
            done.await;
        }
    });
    match app.settings.webhook_url.clone() {
        None => Ok(RunningBot {
            task: tokio::spawn(async move { dispatcher.dispatch().await }),
            webhook: None,
            app,
        }),
        Some(url) => {
            let url = reqwest::Url::parse(&url).map_err(|e| format!("WEBHOOK_URL: {e}"))?;
            // The address is unused by `axum_to_router` (the route joins our server); without
            // WEBHOOK_SECRET teloxide generates a random secret token.
            let mut options = webhooks::Options::new(([127, 0, 0, 1], 0).into(), url);
            if let Some(secret) = app.settings.webhook_secret.clone() {
                options = options.secret_token(secret);
            }
            let (listener, stop_flag, router) = webhooks::axum_to_router(bot, options)
                .await
                .map_err(|e| format!("setWebhook failed: {e}"))?;
            tokio::spawn(stop_flag);
            let task = tokio::spawn(async move {
                dispatcher
                    .dispatch_with_listener(
                        listener,
                        LoggingErrorHandler::with_custom_text("bot: webhook update"),
                    )
                    .await
            });
            Ok(RunningBot {
                task,
                webhook: Some(router),
                app,
            })
        }
    }
}

/// Long polling until `shutdown` (what the tests and `serve` without a webhook use).
pub async fn run_bot(bot: Bot, app: Arc<BotApp>, shutdown: tokio::sync::watch::Receiver<bool>) {
    match start_bot(bot, app, shutdown).await {
        Ok(running) => {
            let _ = running.task.await;
        }
        Err(e) => tracing::error!(error = %e, "the bot could not start"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_api_url_or_proxy_is_named() {
        let err = super::make_bot("1:T", "not a url", None).unwrap_err();
        assert!(err.contains("TELEGRAM_API_URL 'not a url'"), "{err}");
        let err = super::make_bot("1:T", "https://api.telegram.org", Some("::nope")).unwrap_err();
        assert!(err.contains("TELEGRAM_PROXY"), "{err}");
        assert!(super::make_bot(
            "1:T",
            "https://api.telegram.org",
            Some("socks5://127.0.0.1:1080")
        )
        .is_ok());
    }

    #[test]
    fn a_bad_telegram_proxy_is_named_without_its_password() {
        let err = super::make_bot(
            "1:T",
            "https://api.telegram.org",
            Some("http://u:s3cret@[::1"),
        )
        .unwrap_err();
        assert!(
            !err.contains("s3cret") && err.contains("TELEGRAM_PROXY"),
            "{err}"
        );
    }
}
