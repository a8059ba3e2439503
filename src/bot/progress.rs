//! The one progress message per job, edited in place: at most one edit every 3 s (teloxide's
//! Throttle does not limit edits), never an edit that would not change the text (Telegram
//! answers "message is not modified"), and a 429's `retry_after` honoured before the next.
//! [`run_progress`] reads the jobs from the database (workers may run in another process),
//! so a restart of either side picks the messages up where they were.
use super::callback::Callback;
use super::error::HandlerError;
use super::texts::{Lang, Texts};
use crate::db::progress::{self, OpenMessage};
use crate::db::{now_ms, Db, DbError};
use crate::jobs::{phase, JobKind, Phase};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId};
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
    progress::track(db, job, chat, i64::from(message), lang.code(), text).await
}

/// "Queued: position N, about M min" for a job.
pub async fn queued_text(
    db: &Db,
    texts: &Texts,
    job: i64,
    lang: Lang,
) -> Result<String, HandlerError> {
    let kind = crate::db::jobs::job(db, job)
        .await?
        .and_then(|j| j.kind)
        .map(|k| k.name())
        .unwrap_or("ugc_video");
    let each = progress::typical_seconds(db, kind).await?;
    Ok(queued_text_with(db, texts, job, each, lang).await?)
}

/// The queued text when the kind's typical duration is known.
async fn queued_text_with(
    db: &Db,
    texts: &Texts,
    job: i64,
    each: i64,
    lang: Lang,
) -> Result<String, crate::db::jobs::QueueError> {
    let position = crate::db::jobs::position(db, job).await?;
    let minutes = (position.max(1) * each + 59) / 60;
    Ok(texts.get(
        lang,
        "progress.queued",
        &[("position", &position.max(1)), ("minutes", &minutes.max(1))],
    ))
}

/// Typical durations by job kind, looked up once per pass of the progress loop.
pub type Typical = HashMap<&'static str, i64>;

async fn typical_for(db: &Db, typical: &mut Typical, kind: JobKind) -> Result<i64, DbError> {
    if let Some(s) = typical.get(kind.name()) {
        return Ok(*s);
    }
    let s = progress::typical_seconds(db, kind.name()).await?;
    typical.insert(kind.name(), s);
    Ok(s)
}

/// The text a progress message shows for its job's [`phase`], and whether it is final.
pub async fn describe(
    db: &Db,
    texts: &Texts,
    m: &OpenMessage,
    typical: &mut Typical,
) -> Result<(String, bool), HandlerError> {
    let lang = Lang::from_code(&m.lang);
    let j = &m.job;
    let kind = j.kind.unwrap_or(JobKind::UgcVideo);
    let p = phase(j.state, kind, &j.checkpoints, j.error_class);
    let t =
        |key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]| texts.get(lang, key, args);
    let text = match p {
        Phase::Done => {
            let balance = crate::db::ledger::balance_of(db, j.user_id).await?;
            t("progress.done", &[("balance", &balance)])
        }
        Phase::Failed(class) => {
            let reason = t(class.message_key(), &[]);
            // "Tokens returned" only when the refund is in the ledger.
            let refunded = j.cost_tokens > 0
                && crate::db::ledger::has_entry(db, &crate::db::ledger::refund_key(j.id)).await?;
            let key = if refunded {
                "progress.failed_refunded"
            } else {
                "progress.failed"
            };
            t(key, &[("reason", &reason), ("tokens", &j.cost_tokens)])
        }
        Phase::Cancelled => {
            let refunded = j.cost_tokens > 0
                && crate::db::ledger::has_entry(db, &crate::db::ledger::refund_key(j.id)).await?;
            if refunded {
                t("progress.cancelled_refunded", &[("tokens", &j.cost_tokens)])
            } else {
                t("progress.cancelled", &[])
            }
        }
        Phase::Retrying => t("progress.retrying", &[]),
        Phase::Queued => {
            let each = typical_for(db, typical, kind).await?;
            queued_text_with(db, texts, j.id, each, lang).await?
        }
        Phase::Uploading => t("progress.uploading", &[]),
        Phase::Composing => t("progress.composing", &[]),
        Phase::Generating => {
            let expected = typical_for(db, typical, kind).await?.max(10);
            let elapsed = (now_ms() - m.started_ms.unwrap_or_else(now_ms)) / 1000;
            let percent = (elapsed * 100 / expected).clamp(1, 95);
            t("progress.generating", &[("percent", &percent)])
        }
    };
    // A fallback voice is said while the video is made, not only in the preview.
    let text = match (&j.checkpoints.voice_note, p.is_final()) {
        (Some(voice), false) => format!(
            "{text}\n{}",
            t("progress.voice_substitute", &[("voice", voice)])
        ),
        _ => text,
    };
    Ok((text, p.is_final()))
}

/// Edits every open progress message as its job moves, until `shutdown`.
pub async fn run_progress(
    bot: Bot,
    db: Db,
    texts: Arc<Texts>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut throttles: HashMap<i64, ProgressThrottle> = HashMap::new();
    loop {
        if let Err(e) = progress_pass(&bot, &db, &texts, &mut throttles).await {
            tracing::warn!(error = %e, "progress update failed");
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn progress_pass(
    bot: &Bot,
    db: &Db,
    texts: &Texts,
    throttles: &mut HashMap<i64, ProgressThrottle>,
) -> Result<(), HandlerError> {
    let open = progress::open_messages(db).await?;
    let mut typical = Typical::new();
    for m in open {
        let (text, final_state) = describe(db, texts, &m, &mut typical).await?;
        let now = Instant::now();
        let throttle = throttles.entry(m.job.id).or_insert_with(|| {
            // After a restart: the text already shown counts as the last edit.
            let mut t = ProgressThrottle::new();
            if let Some(last) = &m.last_text {
                t.edited(last, now.checked_sub(MIN_EDIT_INTERVAL).unwrap_or(now));
            }
            t
        });
        if !throttle.should_edit(&text, now, final_state) {
            continue;
        }
        match edit_progress(bot, db, &m, &text, final_state).await {
            Edit::RateLimited(wait) => throttle.rate_limited(wait, now),
            Edit::Failed => {}
            Edit::Done { finished } => {
                throttle.edited(&text, now);
                if finished {
                    throttles.remove(&m.job.id);
                }
            }
        }
    }
    Ok(())
}

/// How one edit of a progress message went.
pub enum Edit {
    Done { finished: bool },
    RateLimited(Duration),
    Failed,
}

/// Edits one progress message to `text` (the cancel button stays while the job can still be
/// cancelled) and records it.
pub async fn edit_progress(
    bot: &Bot,
    db: &Db,
    m: &OpenMessage,
    text: &str,
    final_state: bool,
) -> Edit {
    let mut request = bot.edit_message_text(
        ChatId(m.chat_id),
        MessageId(m.message_id as i32),
        text.to_string(),
    );
    if !final_state {
        request = request.reply_markup(cancel_keyboard(
            &Texts::bundled(),
            Lang::from_code(&m.lang),
            m.job.id,
        ));
    }
    let gone = match request.await {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => false,
        Err(RequestError::RetryAfter(wait)) => return Edit::RateLimited(wait.duration()),
        // Deleted by the user or too old to edit: stop following it.
        Err(RequestError::Api(
            ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited | ApiError::BotBlocked,
        )) => true,
        Err(e) => {
            tracing::warn!(job_id = m.job.id, error = %e, "editing the progress message failed");
            return Edit::Failed;
        }
    };
    let finished = final_state || gone;
    if let Err(e) = progress::edited(db, m.job.id, text, finished).await {
        tracing::warn!(job_id = m.job.id, error = %e, "recording the progress edit failed");
    }
    Edit::Done { finished }
}

/// The "cancel" button under a progress message.
pub fn cancel_keyboard(texts: &Texts, lang: Lang, job: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback(
        texts.get(lang, "progress.cancel_button", &[]),
        Callback::Cancel(job).to_string(),
    )]])
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
