//! The teloxide bot: long polling against `TELEGRAM_API_URL`, users recorded on every
//! message, conversations answered in the user's language. This milestone answers /start
//! (welcome, one-time bonus, menu with the balance), /help, /balance (balance and recent
//! transactions), /buy (packs with prices) and anything unexpected with a short helpful reply.
use super::texts::{Lang, Texts};
use crate::db::users::touch_user;
use crate::db::Db;
use crate::ledger;
use crate::pricing::PriceTable;
use std::sync::Arc;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, ChatId};

type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub struct BotApp {
    pub db: Db,
    pub texts: Texts,
    pub prices: PriceTable,
}

/// A bot pointed at `api_url` (the cloud Bot API or a local Bot API server).
pub fn make_bot(token: &str, api_url: &str) -> Result<Bot, String> {
    let url = reqwest::Url::parse(api_url)
        .map_err(|e| format!("TELEGRAM_API_URL '{api_url}' is not a URL: {e}"))?;
    Ok(Bot::new(token).set_api_url(url))
}

/// Registers the command menu and answers updates until `shutdown` fires.
pub async fn run_bot(bot: Bot, app: Arc<BotApp>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let commands = [
        ("start", "Главное меню / main menu"),
        ("help", "Как пользоваться / how to use"),
        ("generate", "Видео из текста / video from text"),
        ("create", "UGC-ролик / UGC video"),
        ("balance", "Баланс / balance"),
        ("buy", "Купить токены / buy tokens"),
        ("queue", "Мои задачи / my jobs"),
        ("history", "Мои видео / my videos"),
    ]
    .map(|(c, d)| BotCommand::new(c, d));
    if let Err(e) = bot.set_my_commands(commands).await {
        eprintln!("bot: setMyCommands failed: {e}");
    }
    let handler = Update::filter_message().endpoint(on_message);
    let mut dispatcher = Dispatcher::builder(bot, handler)
        .dependencies(dptree::deps![app])
        .build();
    let token = dispatcher.shutdown_token();
    tokio::spawn(async move {
        let _ = shutdown.changed().await;
        if let Ok(done) = token.shutdown() {
            done.await;
        }
    });
    dispatcher.dispatch().await;
}

/// `/generate <prompt>`: the quick "fast" preset (8 s, vertical 720×1280) charged from the
/// balance and queued; the answer says the place in the queue, or how much is missing.
async fn generate(
    app: &BotApp,
    user: i64,
    prompt: &str,
    lang: Lang,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let t = |key: &str, args: &[(&str, &dyn std::fmt::Display)]| app.texts.get(lang, key, args);
    let price = app.prices.video_tokens("fast", "720p", 8).unwrap_or(0);
    let params =
        serde_json::json!({ "prompt": prompt, "tier": "fast", "seconds": 8, "size": "720x1280" });
    let job = crate::queue::NewJob {
        user_id: user,
        kind: "text_to_video".into(),
        params,
        cost_tokens: price,
        max_attempts: 4,
    };
    match crate::queue::submit(&app.db, job).await {
        Ok(id) => {
            let position = crate::queue::position(&app.db, id).await?;
            Ok(t(
                "progress.queued",
                &[("position", &position), ("minutes", &(position.max(1) * 2))],
            ))
        }
        Err(crate::queue::QueueError::Ledger(ledger::LedgerError::InsufficientFunds {
            needed,
            balance,
        })) => Ok(format!(
            "{}
{} → {needed}. /buy",
            t("balance.text", &[("balance", &balance)]),
            t("menu.generate", &[])
        )),
        Err(e) => Err(e.into()),
    }
}

/// The user's unfinished jobs with their place in the queue.
async fn queue_text(
    app: &BotApp,
    user: i64,
    lang: Lang,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let rows: Vec<(i64, String, String)> = crate::on_db!(&app.db, p => sqlx::query_as(
        "SELECT id, kind, state FROM jobs WHERE user_id = $1 AND state IN ('queued', 'snoozed', 'running') ORDER BY id",
    )
    .bind(user)
    .fetch_all(p)
    .await?);
    if rows.is_empty() {
        return Ok(app.texts.get(lang, "queue.empty", &[]));
    }
    let mut lines = Vec::new();
    for (id, kind, state) in rows {
        let position = crate::queue::position(&app.db, id).await?;
        lines.push(app.texts.get(
            lang,
            "queue.line",
            &[
                ("id", &id),
                ("kind", &kind),
                ("state", &state),
                ("position", &position),
            ],
        ));
    }
    Ok(lines.join("\n"))
}

/// Sends the user's last five videos again by their Telegram file ids; returns how many.
async fn resend_history(
    bot: &Bot,
    app: &BotApp,
    user: i64,
    chat: ChatId,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let ids: Vec<String> = crate::on_db!(&app.db, p => sqlx::query_scalar(
        "SELECT telegram_file_id FROM generations WHERE user_id = $1 AND telegram_file_id IS NOT NULL AND telegram_file_id <> '' ORDER BY id DESC LIMIT 5",
    )
    .bind(user)
    .fetch_all(p)
    .await?);
    for id in &ids {
        bot.send_video(
            chat,
            teloxide::types::InputFile::file_id(teloxide::types::FileId(id.clone())),
        )
        .await?;
    }
    Ok(ids.len())
}

async fn on_message(bot: Bot, msg: Message, app: Arc<BotApp>) -> HandlerResult {
    let Some(from) = msg.from.as_ref() else {
        return Ok(());
    };
    let user_id = from.id.0 as i64;
    let lang = Lang::from_telegram(from.language_code.as_deref());
    let code = if lang == Lang::Ru { "ru" } else { "en" };
    let (user, new) = touch_user(&app.db, user_id, from.username.as_deref(), code).await?;
    let t = |key: &str, args: &[(&str, &dyn std::fmt::Display)]| app.texts.get(lang, key, args);
    if user.banned {
        bot.send_message(msg.chat.id, t("banned", &[])).await?;
        return Ok(());
    }
    let text = msg.text().unwrap_or("");
    let command = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .split('@')
        .next()
        .unwrap_or("");
    let reply = match command {
        "/start" => {
            let mut parts = vec![t("start.welcome", &[("name", &from.first_name)])];
            if new && app.prices.welcome_bonus > 0 {
                ledger::grant_welcome_bonus(&app.db, user_id, app.prices.welcome_bonus).await?;
                parts.push(t("start.bonus", &[("tokens", &app.prices.welcome_bonus)]));
            }
            let balance = ledger::balance_of(&app.db, user_id).await?;
            parts.push(t("menu.title", &[("balance", &balance)]));
            parts.join("\n\n")
        }
        "/help" => t("help.text", &[]),
        "/queue" => queue_text(&app, user_id, lang).await?,
        "/history" => {
            // Videos already sent are sent again by their cached file_id: no upload.
            let sent = resend_history(&bot, &app, user_id, msg.chat.id).await?;
            if sent > 0 {
                return Ok(());
            }
            t("history.empty", &[])
        }
        "/generate" => {
            let prompt = text.trim_start_matches(command).trim();
            if prompt.is_empty() {
                t("help.text", &[])
            } else {
                generate(&app, user_id, prompt, lang).await?
            }
        }
        "/balance" => {
            let balance = ledger::balance_of(&app.db, user_id).await?;
            let mut lines = vec![t("balance.text", &[("balance", &balance)])];
            for e in ledger::history(&app.db, user_id, 5).await? {
                lines.push(format!("{:+} — {}", e.delta, e.reason));
            }
            lines.join("\n")
        }
        "/buy" => {
            let mut lines = vec![t("menu.buy", &[])];
            for p in &app.prices.packs {
                let off = p.discount_percent();
                lines.push(if off > 0 {
                    format!("{} — {} ₸ (−{off}%)", p.tokens, p.price_kzt)
                } else {
                    format!("{} — {} ₸", p.tokens, p.price_kzt)
                });
            }
            lines.join("\n")
        }
        _ => t("input.unexpected", &[]),
    };
    bot.send_message(msg.chat.id, reply).await?;
    Ok(())
}
