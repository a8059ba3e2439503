//! Delivery through Telegram, usable from any process that has the bot token (a standalone
//! worker needs no polling bot): `sendVideo` with width, height, duration, a JPEG thumbnail
//! and `supports_streaming`, so phones show a poster and the right length; the returned
//! `file_id` is kept for re-sends. The upload's timeout grows with the file, and an upload
//! whose outcome is unknown is reported as such, never retried blindly (see
//! `pipelines::delivery`). After a delivery the job's progress message is edited here too.
use super::callback::{Callback, UgcButton};
use super::progress::{describe, edit_progress, Typical};
use super::texts::{Lang, Texts};
use crate::db::Db;
use crate::failure::ErrorClass;
use crate::pipelines::delivery::DeliverFuture;
use crate::pipelines::{Deliver, DeliverError, Delivery, Sent};
use crate::providers::ProviderError;
use std::path::Path;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile};
use teloxide::RequestError;

/// Bots may upload at most 50 MB through the cloud Bot API.
pub const MAX_UPLOAD_BYTES: u64 = crate::pipelines::MAX_DELIVERY_BYTES;

/// Where the Bot API is and how to reach it: enough to build a client with any timeout.
#[derive(Clone)]
pub struct TelegramEndpoint {
    pub token: String,
    pub api_url: String,
    pub proxy: Option<String>,
}

impl std::fmt::Debug for TelegramEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramEndpoint")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl TelegramEndpoint {
    pub fn bot(&self, timeout: Duration) -> Result<Bot, String> {
        super::run::make_bot_with_timeout(
            &self.token,
            &self.api_url,
            self.proxy.as_deref(),
            timeout,
        )
    }
}

/// The time an upload of `bytes` may take: a minute, plus two seconds per MB (≈ 4 Mbit/s).
pub fn upload_timeout(bytes: u64) -> Duration {
    Duration::from_secs(60 + 2 * bytes.div_ceil(1024 * 1024))
}

pub struct TelegramDeliver {
    /// For short requests (messages, edits).
    pub bot: Bot,
    endpoint: TelegramEndpoint,
    db: Db,
    texts: Texts,
    /// Where operator alerts go (`ADMIN_CHAT_ID`, else the first admin).
    pub admin_chat: Option<i64>,
}

impl TelegramDeliver {
    pub fn new(endpoint: TelegramEndpoint, db: Db) -> Result<Self, String> {
        Ok(Self {
            bot: endpoint.bot(Duration::from_secs(30))?,
            endpoint,
            db,
            texts: Texts::bundled(),
            admin_chat: None,
        })
    }

    async fn lang(&self, user: i64) -> Lang {
        crate::db::users::get_user(&self.db, user)
            .await
            .ok()
            .flatten()
            .map(|u| Lang::from_code(&u.language))
            .unwrap_or(Lang::Ru)
    }

    /// "Make another" and "menu" under a video; "use / edit again / original" under an edit.
    async fn buttons(&self, user: i64, job: i64, photo: bool) -> InlineKeyboardMarkup {
        let lang = self.lang(user).await;
        let b = |key: &str, data: String| {
            InlineKeyboardButton::callback(self.texts.get(lang, key, &[]), data)
        };
        if photo {
            InlineKeyboardMarkup::new(vec![
                vec![b(
                    "ugc.edit_use",
                    Callback::Ugc(UgcButton::UseEdit(job)).data(),
                )],
                vec![
                    b(
                        "ugc.edit_again",
                        Callback::Ugc(UgcButton::Edit(true)).data(),
                    ),
                    b(
                        "ugc.edit_original",
                        Callback::Ugc(UgcButton::BackToOriginal).data(),
                    ),
                ],
            ])
        } else {
            let mut rows = vec![vec![
                b("result.again", Callback::Again(job).to_string()),
                b("result.menu", Callback::Menu.data()),
            ]];
            // A UGC video can be made again in another language.
            let ugc = crate::db::jobs::job(&self.db, job)
                .await
                .ok()
                .flatten()
                .is_some_and(|j| j.kind == Some(crate::jobs::JobKind::UgcVideo));
            if ugc {
                rows.push(vec![b(
                    "result.another_language",
                    Callback::Ugc(UgcButton::Versions(job)).data(),
                )]);
            }
            InlineKeyboardMarkup::new(rows)
        }
    }
}

fn classify(e: &RequestError) -> ProviderError {
    let class = match e {
        RequestError::RetryAfter(s) => ErrorClass::RateLimited {
            retry_after_ms: Some(u64::from(s.seconds()) * 1000),
        },
        RequestError::Network(_) | RequestError::Io(_) => ErrorClass::Transient,
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => ErrorClass::BadUserInput,
        _ => ErrorClass::Permanent,
    };
    ProviderError::new("telegram", class, e.to_string())
}

/// Telegram's answers that mean the user cannot be reached at all (not that the file is bad).
fn recipient_gone(e: &RequestError) -> bool {
    use teloxide::ApiError as A;
    matches!(
        e,
        RequestError::Api(
            A::BotBlocked
                | A::ChatNotFound
                | A::UserDeactivated
                | A::BotKicked
                | A::BotKickedFromSupergroup
                | A::BotKickedFromChannel
                | A::CantInitiateConversation
        )
    )
}

/// Telegram answered (refused, or asked to wait), or the connection never opened: nothing was
/// sent. Anything else after the upload began leaves the outcome unknown.
fn upload_error(e: RequestError) -> DeliverError {
    let not_sent = match &e {
        RequestError::Api(_) | RequestError::RetryAfter(_) | RequestError::MigrateToChatId(_) => {
            true
        }
        RequestError::Network(n) => n.is_connect() || n.is_builder(),
        _ => false,
    };
    if recipient_gone(&e) {
        DeliverError::RecipientGone(classify(&e))
    } else if not_sent {
        DeliverError::NotSent(classify(&e))
    } else {
        DeliverError::Unknown(classify(&e))
    }
}

impl TelegramDeliver {
    /// Every format of one video as one album (one upload, so delivered once or not at all),
    /// each labelled with its format, then the buttons under a short line (an album carries
    /// none). The album's first message stands for the delivery.
    async fn deliver_album(
        &self,
        bot: &Bot,
        d: &Delivery,
        kb: InlineKeyboardMarkup,
        variant: Option<String>,
    ) -> Result<Sent, DeliverError> {
        use teloxide::types::{InputMedia, InputMediaVideo};
        let seconds = |s: f64| s.round().max(1.0) as u16;
        let format = crate::jobs::layout::format_of(d.width as usize, d.height as usize)
            .map_or_else(|| format!("{}×{}", d.width, d.height), String::from);
        let main_label = match &variant {
            Some(v) => format!("{v} · {format}"),
            None => format,
        };
        let mut media = vec![InputMedia::Video(
            InputMediaVideo::new(InputFile::file(&d.video))
                .caption(main_label)
                .thumbnail(InputFile::file(&d.thumbnail))
                .width(d.width as u16)
                .height(d.height as u16)
                .duration(seconds(d.duration_s))
                .supports_streaming(true),
        )];
        // A variant's language versions each say the variant too.
        let lang = self.lang(d.user_id).await;
        let prefix = d
            .variant
            .as_ref()
            .filter(|_| d.versions.len() > 1)
            .map(|v| {
                let v = self.texts.get(lang, "result.variant", &[("variant", v)]);
                format!("{v} · ")
            })
            .unwrap_or_default();
        for more in &d.more {
            media.push(InputMedia::Video(
                InputMediaVideo::new(InputFile::file(&more.video))
                    .caption(format!("{prefix}{}", more.label))
                    .width(more.width as u16)
                    .height(more.height as u16)
                    .duration(seconds(more.duration_s))
                    .supports_streaming(true),
            ));
        }
        let sent = bot
            .send_media_group(ChatId(d.user_id), media)
            .await
            .map_err(upload_error)?;
        let first = sent.first();
        let line = if d.versions.len() > 1 {
            let names: Vec<&str> = d
                .versions
                .iter()
                .map(|l| crate::pipelines::versions::language_name(l))
                .collect();
            self.texts.get(
                lang,
                "result.versions",
                &[("languages", &names.join(" · "))],
            )
        } else {
            self.texts
                .get(lang, "result.formats", &[("count", &(d.more.len() + 1))])
        };
        if let Err(e) = self
            .bot
            .send_message(ChatId(d.user_id), line)
            .reply_markup(kb)
            .await
        {
            tracing::warn!(error = %e, "the buttons under an album could not be sent");
        }
        Ok(Sent {
            message_id: first.map_or(0, |m| i64::from(m.id.0)),
            file_id: first
                .and_then(|m| m.video())
                .map(|v| v.file.id.0.clone())
                .unwrap_or_default(),
        })
    }
}

impl Deliver for TelegramDeliver {
    fn alert_operator(&self, text: String) -> DeliverFuture<'_, ()> {
        Box::pin(async move {
            let Some(chat) = self.admin_chat else {
                return;
            };
            if let Err(e) = self.bot.send_message(ChatId(chat), text).await {
                tracing::warn!(error = %e, "the operator alert could not be sent");
            }
        })
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a, Result<Sent, DeliverError>> {
        Box::pin(async move {
            let mut size = 0;
            for path in std::iter::once(&d.video).chain(d.more.iter().map(|m| &m.video)) {
                let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                if bytes > MAX_UPLOAD_BYTES {
                    return Err(DeliverError::NotSent(ProviderError::new(
                        "telegram",
                        ErrorClass::Permanent,
                        format!(
                            "the video is {} MB, over the 50 MB upload limit",
                            bytes >> 20
                        ),
                    )));
                }
                size += bytes;
            }
            let bot = self.endpoint.bot(upload_timeout(size)).map_err(|e| {
                DeliverError::NotSent(ProviderError::new("telegram", ErrorClass::Permanent, e))
            })?;
            let kb = self.buttons(d.user_id, d.job_id, false).await;
            let lang = self.lang(d.user_id).await;
            let variant = d
                .variant
                .as_ref()
                .map(|v| self.texts.get(lang, "result.variant", &[("variant", v)]));
            // A language version says its language with its variant.
            let variant = match (variant, &d.language) {
                (Some(v), Some(l)) => Some(format!("{v} · {l}")),
                (v, l) => v.or_else(|| l.clone()),
            };
            if !d.more.is_empty() {
                return self.deliver_album(&bot, d, kb, variant).await;
            }
            let mut send = bot
                .send_video(ChatId(d.user_id), InputFile::file(&d.video))
                .width(d.width)
                .height(d.height)
                .duration(d.duration_s.round().max(1.0) as u32)
                .thumbnail(InputFile::file(&d.thumbnail))
                .supports_streaming(true)
                .reply_markup(kb);
            if let Some(variant) = variant {
                send = send.caption(variant);
            }
            let msg = send.await.map_err(upload_error)?;
            Ok(Sent {
                message_id: i64::from(msg.id.0),
                file_id: msg.video().map(|v| v.file.id.0.clone()).unwrap_or_default(),
            })
        })
    }

    fn deliver_photo<'a>(
        &'a self,
        user_id: i64,
        job_id: i64,
        photo: &'a Path,
    ) -> DeliverFuture<'a, Result<Sent, DeliverError>> {
        Box::pin(async move {
            let size = std::fs::metadata(photo).map(|m| m.len()).unwrap_or(0);
            let bot = self.endpoint.bot(upload_timeout(size)).map_err(|e| {
                DeliverError::NotSent(ProviderError::new("telegram", ErrorClass::Permanent, e))
            })?;
            let kb = self.buttons(user_id, job_id, true).await;
            let msg = bot
                .send_photo(ChatId(user_id), InputFile::file(photo))
                .reply_markup(kb)
                .await
                .map_err(upload_error)?;
            Ok(Sent {
                message_id: i64::from(msg.id.0),
                file_id: msg
                    .photo()
                    .and_then(|p| p.last())
                    .map(|p| p.file.id.0.clone())
                    .unwrap_or_default(),
            })
        })
    }

    fn offer_resend(
        &self,
        user_id: i64,
        job_id: i64,
    ) -> DeliverFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let lang = self.lang(user_id).await;
            let kb = InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback(
                self.texts.get(lang, "delivery.resend_button", &[]),
                Callback::Resend(job_id).to_string(),
            )]]);
            self.bot
                .send_message(
                    ChatId(user_id),
                    self.texts.get(lang, "delivery.resend_offer", &[]),
                )
                .reply_markup(kb)
                .await
                .map_err(|e| classify(&e))?;
            Ok(())
        })
    }

    fn delivered(&self, job_id: i64) -> DeliverFuture<'_, ()> {
        Box::pin(async move {
            let Ok(Some(mut m)) = crate::db::progress::open_message_of(&self.db, job_id).await
            else {
                return;
            };
            // The job is marked done right after this: say so now, in the same words the
            // bot's progress loop would use.
            m.job.state = crate::jobs::JobState::Done;
            let mut typical = Typical::new();
            if let Ok((text, _)) = describe(&self.db, &self.texts, &m, &mut typical).await {
                let _ = edit_progress(&self.bot, &self.db, &m, &text, true).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn upload_timeouts_grow_with_the_file() {
        assert_eq!(super::upload_timeout(0).as_secs(), 60);
        assert_eq!(super::upload_timeout(45 * 1024 * 1024).as_secs(), 150);
        assert!(super::upload_timeout(1) > std::time::Duration::from_secs(17));
    }
}
