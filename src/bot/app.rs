//! What every handler shares: the database, texts, prices, settings, storage for uploads, and
//! the small helpers that send a text with buttons, submit a paid job with its progress
//! message, and check the per-user limits.
use super::callback::{Callback, MenuItem};
use super::texts::{Lang, Texts};
use crate::config::BotSettings;
use crate::db::jobs as queue;
use crate::db::ledger;
use crate::db::{now_ms, Db};
use crate::jobs::{Checkpoints, JobSpec};
use crate::orders;
use crate::payments::stripe::StripeClient;
use crate::pricing::PriceTable;
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup};

pub use super::error::{HandlerError, HandlerResult};

pub struct BotApp {
    pub db: Db,
    pub texts: Texts,
    pub prices: PriceTable,
    pub settings: BotSettings,
    pub admins: Vec<i64>,
    /// Where uploaded photos and clips are kept for the jobs.
    pub storage: Arc<Storage>,
    pub stripe: Option<StripeClient>,
    /// ElevenLabs for the voice gallery and its samples (espeak-ng voices when `None`).
    pub tts: Option<Arc<crate::providers::elevenlabs::ElevenLabs>>,
    /// The speech chain (`TTS_CHAIN`) the speech preview speaks through.
    pub speech: Arc<crate::providers::speech::SpeechChain>,
    /// How the gallery's voices sound (ElevenLabs' labels), for a fallback's closest voice.
    pub voice_genders:
        std::sync::Mutex<std::collections::HashMap<String, crate::providers::speech::Gender>>,
    /// Where operator alerts go (a breaker opened by a preview); none in tests without one.
    pub alerts: Option<Arc<dyn crate::pipelines::Deliver>>,
    pub work_dir: PathBuf,
    /// `POLICY_DIR`: the operator's terms/privacy/refunds files (`terms.ru.md`, …).
    pub policy_dir: Option<PathBuf>,
    /// Largest file users may send (20 MB through the cloud Bot API).
    pub max_download_bytes: u64,
    /// Per-user limits on free but costly actions (previews, samples, checkouts, feedback).
    pub limits: super::rate_limit::RateLimits,
    /// Products read from shop links (shared with the API).
    pub intake: Arc<crate::products::Intake>,
    /// Scripts written from products (the chat model, or templates).
    pub scripts: Arc<crate::products::scripts::ScriptWriter>,
    /// The Mini App composer's public address (`https://…/app/`); none: no composer button.
    pub app_url: Option<String>,
}

impl BotApp {
    /// Defaults for everything but the database and storage (tests adjust the fields).
    pub fn new(db: Db, storage: Arc<Storage>) -> Self {
        let work_dir = std::env::temp_dir().join("reelforge-bot");
        let intake = crate::products::Intake::new(
            db.clone(),
            storage.clone(),
            crate::egress::Reach::Public,
            work_dir.clone(),
        )
        .expect("an HTTP client with the default TLS settings builds");
        Self {
            intake: Arc::new(intake),
            scripts: Arc::new(crate::products::scripts::ScriptWriter { model: None }),
            db,
            texts: Texts::bundled(),
            prices: PriceTable::default_table(),
            settings: BotSettings::default(),
            admins: Vec::new(),
            storage,
            stripe: None,
            tts: None,
            speech: Arc::default(),
            voice_genders: Default::default(),
            alerts: None,
            work_dir: std::env::temp_dir().join("reelforge-bot"),
            policy_dir: None,
            max_download_bytes: 20 * 1024 * 1024,
            limits: super::rate_limit::RateLimits::new(20),
            app_url: None,
        }
    }

    pub fn t(
        &self,
        lang: Lang,
        key: &str,
        args: &[(&str, &(dyn std::fmt::Display + Sync))],
    ) -> String {
        self.texts.get(lang, key, args)
    }

    pub fn is_admin(&self, user: i64) -> bool {
        self.admins.contains(&user)
    }

    /// The cheapest video: below it the balance is "low".
    pub fn cheapest_video(&self) -> i64 {
        self.prices
            .video
            .iter()
            .map(|v| v.tokens_per_8s)
            .min()
            .unwrap_or(0)
    }
}

/// One row of callback buttons.
pub fn row(buttons: &[(String, String)]) -> Vec<InlineKeyboardButton> {
    buttons
        .iter()
        .map(|(text, data)| InlineKeyboardButton::callback(text.clone(), data.clone()))
        .collect()
}

pub fn keyboard(rows: Vec<Vec<InlineKeyboardButton>>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows)
}

pub async fn say(bot: &Bot, chat: ChatId, text: impl Into<String>) -> HandlerResult {
    bot.send_message(chat, text.into()).await?;
    Ok(())
}

pub async fn say_with(
    bot: &Bot,
    chat: ChatId,
    text: impl Into<String>,
    kb: InlineKeyboardMarkup,
) -> HandlerResult {
    bot.send_message(chat, text.into()).reply_markup(kb).await?;
    Ok(())
}

/// Why a user may not start a paid job now, in their language.
pub async fn limit_refusal(
    app: &BotApp,
    user: i64,
    lang: Lang,
) -> Result<Option<String>, HandlerError> {
    let now = now_ms();
    let day_start = now - now.rem_euclid(24 * 3600 * 1000);
    let (today, last) = queue::paid_jobs_since(&app.db, user, day_start).await?;
    if app.settings.daily_job_limit > 0 && today >= app.settings.daily_job_limit {
        return Ok(Some(app.t(
            lang,
            "limit.daily",
            &[("limit", &app.settings.daily_job_limit)],
        )));
    }
    if let Some(last) = last {
        let wait = app.settings.job_cooldown_s * 1000 - (now - last);
        if wait > 0 {
            return Ok(Some(app.t(
                lang,
                "limit.cooldown",
                &[("seconds", &((wait + 999) / 1000))],
            )));
        }
    }
    Ok(None)
}

/// What the bot orders: specs from a dialogue, priced together by the ordering service.
pub struct BotOrder {
    pub specs: Vec<JobSpec>,
    /// The previewed speech's length (the first UGC video is priced on it; variants after it
    /// are quoted from their scripts).
    pub measured_speech: Option<f64>,
    pub max_attempts: i64,
    /// Step results the first job starts with (a previewed speech, a recompose's head).
    pub carried: Option<Checkpoints>,
    /// Step results of the jobs after the first, in order (a language version's previewed
    /// speech, which also prices it); missing ones start with none.
    pub carried_after: Vec<Option<Checkpoints>>,
}

impl BotOrder {
    pub fn one(spec: JobSpec, max_attempts: i64) -> Self {
        Self {
            specs: vec![spec],
            measured_speech: None,
            max_attempts,
            carried: None,
            carried_after: Vec::new(),
        }
    }
}

/// Checks and prices the jobs through the ordering service, submits them (all or nothing on
/// the balance), sends one progress message per job and warns when the balance is low
/// afterwards. Returns the job ids (empty when refused; the user has been told why).
pub async fn submit_paid(
    bot: &Bot,
    app: &BotApp,
    chat: ChatId,
    user: i64,
    lang: Lang,
    order: BotOrder,
) -> Result<Vec<i64>, HandlerError> {
    let mut priced = Vec::new();
    let mut carried = vec![order.carried];
    carried.extend(order.carried_after);
    for (i, spec) in order.specs.into_iter().enumerate() {
        let measured = match i {
            0 => order.measured_speech,
            _ => carried
                .get(i)
                .and_then(|c| c.as_ref())
                .and_then(|c| c.speech_seconds),
        };
        match orders::Order::priced(&app.prices, spec, measured, order.max_attempts) {
            Ok(o) => priced.push(o),
            Err(invalid) => {
                tracing::info!(user_id = user, field = invalid.field, reason = %invalid.message, "order refused");
                say(
                    bot,
                    chat,
                    app.t(
                        lang,
                        "order.invalid",
                        &[("field", &invalid.field), ("reason", &invalid.message)],
                    ),
                )
                .await?;
                return Ok(Vec::new());
            }
        }
    }
    if let Some(why) = limit_refusal(app, user, lang).await? {
        say(bot, chat, why).await?;
        return Ok(Vec::new());
    }
    let (ids, refused) = match orders::submit_all(&app.db, user, priced, carried).await {
        Ok(made) => (made.ids, made.refused),
        Err(e) => (Vec::new(), Some(e)),
    };
    // The jobs made get their progress messages even when the rest were refused.
    match refused {
        None => {}
        Some(orders::OrderError::InsufficientFunds { needed, balance }) => {
            not_enough(bot, app, chat, lang, needed, balance).await?;
        }
        Some(e) if ids.is_empty() => return Err(e.into()),
        Some(e) => {
            tracing::warn!(user_id = user, error = %e, made = ids.len(), "order partly made")
        }
    }
    for id in &ids {
        let text = super::progress::queued_text(&app.db, &app.texts, *id, lang).await?;
        let msg = bot
            .send_message(chat, text.clone())
            .reply_markup(super::progress::cancel_keyboard(&app.texts, lang, *id))
            .await?;
        super::progress::track(&app.db, *id, chat.0, msg.id.0, lang, &text).await?;
    }
    let balance = ledger::balance_of(&app.db, user).await?;
    if !ids.is_empty() && balance < app.cheapest_video() {
        say(
            bot,
            chat,
            app.t(lang, "balance.low", &[("balance", &balance)]),
        )
        .await?;
    }
    Ok(ids)
}

async fn not_enough(
    bot: &Bot,
    app: &BotApp,
    chat: ChatId,
    lang: Lang,
    needed: i64,
    balance: i64,
) -> HandlerResult {
    say_with(
        bot,
        chat,
        app.t(
            lang,
            "balance.not_enough",
            &[("needed", &needed), ("balance", &balance)],
        ),
        keyboard(vec![row(&[(app.t(lang, "menu.buy", &[]), "buy".into())])]),
    )
    .await
}

/// The main menu with the balance.
pub async fn menu(bot: &Bot, app: &BotApp, chat: ChatId, user: i64, lang: Lang) -> HandlerResult {
    let balance = ledger::balance_of(&app.db, user).await?;
    say_with(
        bot,
        chat,
        app.t(lang, "menu.title", &[("balance", &balance)]),
        menu_keyboard(app, lang),
    )
    .await
}

pub fn menu_keyboard(app: &BotApp, lang: Lang) -> InlineKeyboardMarkup {
    let b = |key: &str, data: Callback| (app.t(lang, key, &[]), data.data());
    let item = Callback::MenuItem;
    keyboard(vec![
        row(&[
            b("menu.generate", item(MenuItem::Generate)),
            b("menu.product", item(MenuItem::Product)),
        ]),
        row(&[
            b("menu.ugc", item(MenuItem::Ugc)),
            b("menu.buy", Callback::Buy),
        ]),
        row(&[
            b("menu.history", item(MenuItem::History)),
            b("menu.help", item(MenuItem::Help)),
        ]),
    ])
}

/// One update's context: who, where, in which language.
pub struct Ctx<'a> {
    pub bot: &'a Bot,
    pub app: &'a BotApp,
    pub chat: ChatId,
    pub user: i64,
    pub lang: Lang,
}

impl Ctx<'_> {
    pub fn t(&self, key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]) -> String {
        self.app.texts.get(self.lang, key, args)
    }

    pub async fn say(&self, text: impl Into<String>) -> HandlerResult {
        say(self.bot, self.chat, text).await
    }

    pub async fn say_with(
        &self,
        text: impl Into<String>,
        kb: InlineKeyboardMarkup,
    ) -> HandlerResult {
        say_with(self.bot, self.chat, text, kb).await
    }

    pub async fn save(&self, state: &super::dialogue::Dialogue) -> HandlerResult {
        super::dialogue::save(&self.app.db, self.user, state).await?;
        Ok(())
    }

    /// Counts one `action` of this user; `false` (and the user told when they may try again)
    /// when the hour's limit is reached.
    pub async fn within_limit(
        &self,
        action: super::rate_limit::Action,
    ) -> Result<bool, HandlerError> {
        match self.app.limits.check(self.user, action) {
            Ok(()) => Ok(true),
            Err(wait) => {
                let minutes = wait.as_secs().div_ceil(60).max(1);
                self.say(self.t("limit.actions", &[("minutes", &minutes)]))
                    .await?;
                Ok(false)
            }
        }
    }

    /// A button with a text from the locale.
    pub fn button(&self, key: &str, data: impl Into<String>) -> (String, String) {
        (self.t(key, &[]), data.into())
    }

    /// Orders jobs through the ordering service (see [`submit_paid`]).
    pub async fn submit(&self, order: BotOrder) -> Result<Vec<i64>, HandlerError> {
        submit_paid(self.bot, self.app, self.chat, self.user, self.lang, order).await
    }
}
