//! Delivery through Telegram: `sendVideo` with width, height, duration, a JPEG thumbnail and
//! `supports_streaming`, so phones show a poster and the right length; the returned `file_id`
//! is kept for re-sends. Failures are classified like provider errors: 429 waits, a refused
//! file is the input's fault, network trouble is retried.
use super::texts::{Lang, Texts};
use crate::db::Db;
use crate::failure::ErrorClass;
use crate::pipelines::{Deliver, Delivery};
use crate::providers::ProviderError;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile};
use teloxide::RequestError;

/// Bots may upload at most 50 MB through the cloud Bot API.
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

pub struct TelegramDeliver {
    pub bot: Bot,
    db: Db,
    texts: Texts,
}

impl TelegramDeliver {
    pub fn new(bot: Bot, db: Db) -> Self {
        Self {
            bot,
            db,
            texts: Texts::bundled(),
        }
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
                vec![b("ugc.edit_use", format!("u:use:{job}"))],
                vec![
                    b("ugc.edit_again", "u:e:yes".into()),
                    b("ugc.edit_original", "u:orig".into()),
                ],
            ])
        } else {
            InlineKeyboardMarkup::new(vec![vec![
                b("result.again", format!("again:{job}")),
                b("result.menu", "menu".into()),
            ]])
        }
    }
}

fn classify(e: RequestError) -> ProviderError {
    let class = match &e {
        RequestError::RetryAfter(s) => ErrorClass::RateLimited {
            retry_after_ms: Some(u64::from(s.seconds()) * 1000),
        },
        RequestError::Network(_) | RequestError::Io(_) => ErrorClass::Transient,
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => ErrorClass::BadUserInput,
        _ => ErrorClass::Permanent,
    };
    ProviderError::new("telegram", class, e.to_string())
}

impl Deliver for TelegramDeliver {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            let size = std::fs::metadata(&d.video).map(|m| m.len()).unwrap_or(0);
            if size > MAX_UPLOAD_BYTES {
                return Err(ProviderError::new(
                    "telegram",
                    ErrorClass::Permanent,
                    format!(
                        "the video is {} MB, over the 50 MB upload limit",
                        size >> 20
                    ),
                ));
            }
            let kb = self.buttons(d.user_id, d.job_id, false).await;
            let msg = self
                .bot
                .send_video(ChatId(d.user_id), InputFile::file(&d.video))
                .width(d.width)
                .height(d.height)
                .duration(d.duration_s.round().max(1.0) as u32)
                .thumbnail(InputFile::file(&d.thumbnail))
                .supports_streaming(true)
                .reply_markup(kb)
                .await
                .map_err(classify)?;
            Ok(msg.video().map(|v| v.file.id.0.clone()).unwrap_or_default())
        })
    }

    fn deliver_photo<'a>(
        &'a self,
        user_id: i64,
        job_id: i64,
        photo: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            let kb = self.buttons(user_id, job_id, true).await;
            let msg = self
                .bot
                .send_photo(ChatId(user_id), InputFile::file(photo))
                .reply_markup(kb)
                .await
                .map_err(classify)?;
            Ok(msg
                .photo()
                .and_then(|p| p.last())
                .map(|p| p.file.id.0.clone())
                .unwrap_or_default())
        })
    }
}
