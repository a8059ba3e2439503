//! The one progress message per job, edited in place: at most one edit every 3 s (teloxide's
//! Throttle does not limit edits), never an edit that would not change the text (Telegram
//! answers "message is not modified"), and a 429's `retry_after` honoured before the next.
//! [`run_progress`] reads the jobs from the database (workers may run in another process),
//! so a restart of either side picks the messages up where they were.
use super::app::{BotApp, HandlerError};
use super::texts::Lang;
use crate::db::{now_ms, Db, DbError};
use crate::failure::ErrorClass;
use crate::on_db;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use teloxide::prelude::*;
use teloxide::types::{ChatId, MessageId};
use teloxide::{ApiError, RequestError};

pub const MIN_EDIT_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct ProgressThrottle {
    last_text: Option<String>,
    last_edit: Option<Instant>,
    not_before: Option<Instant>,
}

impl Default for ProgressThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressThrottle {
    pub fn new() -> Self {
        Self {
            last_text: None,
            last_edit: None,
            not_before: None,
        }
    }

    /// Whether `text` should be sent now. Final states (`done`, `failed`) pass the interval
    /// but still wait out a 429.
    pub fn should_edit(&self, text: &str, now: Instant, final_state: bool) -> bool {
        if self.last_text.as_deref() == Some(text) {
            return false;
        }
        if self.not_before.is_some_and(|t| now < t) {
            return false;
        }
        final_state
            || self
                .last_edit
                .is_none_or(|t| now.duration_since(t) >= MIN_EDIT_INTERVAL)
    }

    pub fn edited(&mut self, text: &str, now: Instant) {
        self.last_text = Some(text.to_string());
        self.last_edit = Some(now);
    }

    /// Telegram said 429: no edit before `retry_after` has passed.
    pub fn rate_limited(&mut self, retry_after: Duration, now: Instant) {
        self.not_before = Some(now + retry_after);
    }
}

/// Remembers the progress message of a job.
pub async fn track(
    db: &Db,
    job: i64,
    chat: i64,
    message: i32,
    lang: Lang,
    text: &str,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO progress_messages (job_id, chat_id, message_id, lang, last_text, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(job)
    .bind(chat)
    .bind(i64::from(message))
    .bind(lang.code())
    .bind(text)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// Seconds a job of `kind` usually takes: the mean of the last finished ones, 2 min before any.
async fn typical_seconds(db: &Db, kind: &str) -> Result<i64, DbError> {
    let mean: Option<f64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST(AVG(finished_ms - created_ms) AS DOUBLE PRECISION) FROM (SELECT finished_ms, created_ms FROM jobs WHERE kind = $1 AND state = 'done' ORDER BY id DESC LIMIT 20) recent",
    )
    .bind(kind)
    .fetch_one(p)
    .await?);
    Ok(mean
        .map(|ms| (ms / 1000.0).round() as i64)
        .filter(|s| *s > 0)
        .unwrap_or(120))
}

/// "Queued: position N, about M min" for a job.
pub async fn queued_text(app: &BotApp, job: i64, lang: Lang) -> Result<String, HandlerError> {
    let kind: String = on_db!(&app.db, p => sqlx::query_scalar("SELECT kind FROM jobs WHERE id = $1").bind(job).fetch_one(p).await?);
    let each = typical_seconds(&app.db, &kind).await?;
    queued_text_with(app, job, each, lang).await
}

/// The queued text when the kind's typical duration is known.
async fn queued_text_with(
    app: &BotApp,
    job: i64,
    each: i64,
    lang: Lang,
) -> Result<String, HandlerError> {
    let position = crate::queue::position(&app.db, job).await?;
    let minutes = (position.max(1) * each + 59) / 60;
    Ok(app.t(
        lang,
        "progress.queued",
        &[("position", &position.max(1)), ("minutes", &minutes.max(1))],
    ))
}

#[derive(sqlx::FromRow)]
struct Open {
    job_id: i64,
    chat_id: i64,
    message_id: i64,
    lang: String,
    last_text: Option<String>,
    state: String,
    kind: String,
    error_class: Option<String>,
    provider_ids: String,
    cost_tokens: i64,
    user_id: i64,
    started_ms: Option<i64>,
}

/// The text for a job's state, and whether it is final.
/// Typical durations by job kind, looked up once per pass of the progress loop.
type Typical = HashMap<String, i64>;

async fn typical_for(app: &BotApp, typical: &mut Typical, kind: &str) -> Result<i64, DbError> {
    if let Some(s) = typical.get(kind) {
        return Ok(*s);
    }
    let s = typical_seconds(&app.db, kind).await?;
    typical.insert(kind.to_string(), s);
    Ok(s)
}

async fn describe(
    app: &BotApp,
    j: &Open,
    lang: Lang,
    typical: &mut Typical,
) -> Result<(String, bool), HandlerError> {
    let ids: serde_json::Value = serde_json::from_str(&j.provider_ids).unwrap_or_default();
    let has = |k: &str| ids.get(k).is_some();
    Ok(match j.state.as_str() {
        "done" => {
            let balance = crate::ledger::balance_of(&app.db, j.user_id).await?;
            (app.t(lang, "progress.done", &[("balance", &balance)]), true)
        }
        "failed" | "cancelled" => {
            let reason = app.t(
                lang,
                ErrorClass::from_name(j.error_class.as_deref().unwrap_or("")).message_key(),
                &[],
            );
            let key = if j.cost_tokens > 0 {
                "progress.failed_refunded"
            } else {
                "progress.failed"
            };
            (
                app.t(
                    lang,
                    key,
                    &[("reason", &reason), ("tokens", &j.cost_tokens)],
                ),
                true,
            )
        }
        "queued" if j.error_class.is_some() => (app.t(lang, "progress.retrying", &[]), false),
        "queued" => {
            let each = typical_for(app, typical, &j.kind).await?;
            (queued_text_with(app, j.job_id, each, lang).await?, false)
        }
        _ if has("delivered") || (has("output") && j.kind != "character_edit") => {
            (app.t(lang, "progress.uploading", &[]), false)
        }
        _ if j.kind == "ugc_video" && has("talking_head") || j.kind == "recompose" => {
            (app.t(lang, "progress.composing", &[]), false)
        }
        _ => {
            let expected = typical_for(app, typical, &j.kind).await?.max(10);
            let elapsed = (now_ms() - j.started_ms.unwrap_or_else(now_ms)) / 1000;
            let percent = (elapsed * 100 / expected).clamp(1, 95);
            (
                app.t(lang, "progress.generating", &[("percent", &percent)]),
                false,
            )
        }
    })
}

/// Edits every open progress message as its job moves, until `shutdown`.
pub async fn run_progress(
    bot: Bot,
    app: Arc<BotApp>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut throttles: HashMap<i64, ProgressThrottle> = HashMap::new();
    loop {
        if let Err(e) = progress_pass(&bot, &app, &mut throttles).await {
            eprintln!("bot: progress update failed: {e}");
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn progress_pass(
    bot: &Bot,
    app: &BotApp,
    throttles: &mut HashMap<i64, ProgressThrottle>,
) -> Result<(), HandlerError> {
    let open: Vec<Open> = on_db!(&app.db, p => sqlx::query_as::<_, Open>(
        "SELECT pm.job_id, pm.chat_id, pm.message_id, pm.lang, pm.last_text, j.state, j.kind, j.error_class, j.provider_ids, j.cost_tokens, j.user_id,
                (SELECT MIN(e.created_ms) FROM job_events e WHERE e.job_id = j.id AND e.state = 'running') AS started_ms
         FROM progress_messages pm JOIN jobs j ON j.id = pm.job_id WHERE NOT pm.finished ORDER BY pm.job_id",
    )
    .fetch_all(p)
    .await?);
    let mut typical = Typical::new();
    for j in open {
        let lang = Lang::from_code(&j.lang);
        let (text, final_state) = describe(app, &j, lang, &mut typical).await?;
        let now = Instant::now();
        let throttle = throttles.entry(j.job_id).or_insert_with(|| {
            // After a restart: the text already shown counts as the last edit.
            let mut t = ProgressThrottle::new();
            if let Some(last) = &j.last_text {
                t.edited(last, now.checked_sub(MIN_EDIT_INTERVAL).unwrap_or(now));
            }
            t
        });
        if !throttle.should_edit(&text, now, final_state) {
            continue;
        }
        let result = bot
            .edit_message_text(
                ChatId(j.chat_id),
                MessageId(j.message_id as i32),
                text.clone(),
            )
            .await;
        let gone = match result {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => false,
            Err(RequestError::RetryAfter(wait)) => {
                throttle.rate_limited(wait.duration(), now);
                continue;
            }
            // Deleted by the user or too old to edit: stop following it.
            Err(RequestError::Api(
                ApiError::MessageToEditNotFound
                | ApiError::MessageCantBeEdited
                | ApiError::BotBlocked,
            )) => true,
            Err(e) => {
                eprintln!("bot: editing the progress of job {} failed: {e}", j.job_id);
                continue;
            }
        };
        throttle.edited(&text, now);
        let finished = final_state || gone;
        on_db!(&app.db, p => sqlx::query("UPDATE progress_messages SET last_text = $2, finished = $3, updated_ms = $4 WHERE job_id = $1")
            .bind(j.job_id)
            .bind(&text)
            .bind(finished)
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected());
        if finished {
            throttles.remove(&j.job_id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_spaced_deduplicated_and_wait_out_a_429() {
        let t0 = Instant::now();
        let mut p = ProgressThrottle::new();
        assert!(p.should_edit("queued, place 3", t0, false));
        p.edited("queued, place 3", t0);
        assert!(
            !p.should_edit("queued, place 2", t0 + Duration::from_secs(1), false),
            "too soon"
        );
        assert!(p.should_edit("queued, place 2", t0 + Duration::from_secs(3), false));
        assert!(
            !p.should_edit("queued, place 3", t0 + Duration::from_secs(9), false),
            "not modified"
        );
        assert!(
            p.should_edit("done", t0 + Duration::from_millis(500), true),
            "the final state goes out at once"
        );
        p.rate_limited(Duration::from_secs(10), t0);
        assert!(
            !p.should_edit("done", t0 + Duration::from_secs(5), true),
            "429 honoured even for the final state"
        );
        assert!(p.should_edit("done", t0 + Duration::from_secs(10), true));
    }
}
