//! Delivery through Telegram: `sendVideo` with width, height, duration, a JPEG thumbnail and
//! `supports_streaming`, so phones show a poster and the right length; the returned `file_id`
//! is kept for re-sends. Failures are classified like provider errors: 429 waits, a refused
//! file is the input's fault, network trouble is retried.
use crate::failure::ErrorClass;
use crate::pipelines::{Deliver, Delivery};
use crate::providers::ProviderError;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InputFile};
use teloxide::RequestError;

/// Bots may upload at most 50 MB through the cloud Bot API.
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

pub struct TelegramDeliver {
    pub bot: Bot,
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
            let msg = self
                .bot
                .send_video(ChatId(d.user_id), InputFile::file(&d.video))
                .width(d.width)
                .height(d.height)
                .duration(d.duration_s.round().max(1.0) as u32)
                .thumbnail(InputFile::file(&d.thumbnail))
                .supports_streaming(true)
                .await
                .map_err(classify)?;
            Ok(msg.video().map(|v| v.file.id.0.clone()).unwrap_or_default())
        })
    }

    fn deliver_photo<'a>(
        &'a self,
        user_id: i64,
        _job_id: i64,
        photo: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            let msg = self
                .bot
                .send_photo(ChatId(user_id), InputFile::file(photo))
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
