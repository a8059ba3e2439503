//! `/history` and "send again": finished videos sent once more — by Telegram's file id, or
//! uploaded from storage — with their extra formats, and a language version's language.
use super::app::{Ctx, HandlerError, HandlerResult};
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::{FileId, InputFile};

/// Sends the user's last five videos again by their Telegram file ids; returns how many.
pub async fn resend_recent(ctx: &Ctx<'_>) -> Result<usize, HandlerError> {
    let recent = crate::db::generations::recent_of_user(&ctx.app.db, ctx.user, 5).await?;
    for g in &recent {
        resend_generation(ctx, g).await?;
    }
    Ok(recent.len())
}

/// Sends a finished video again: by its Telegram file id, or uploaded from storage when the
/// first upload's outcome was never confirmed.
pub async fn resend_generation(
    ctx: &Ctx<'_>,
    g: &crate::db::generations::Generation,
) -> HandlerResult {
    let params = match crate::db::jobs::job(&ctx.app.db, g.job_id).await? {
        Some(job) => match job.spec {
            Some(crate::jobs::JobSpec::UgcVideo(p) | crate::jobs::JobSpec::Recompose(p)) => Some(p),
            _ => None,
        },
        None => None,
    };
    // A language version says its language, as its album did.
    let language = params
        .as_ref()
        .filter(|p| p.versions.is_some())
        .map(|p| crate::pipelines::versions::language_name(p.language_code()));
    if let Some(id) = g.telegram_file_id.as_ref().filter(|id| !id.is_empty()) {
        let mut send = ctx
            .bot
            .send_video(ctx.chat, InputFile::file_id(FileId(id.clone())));
        if let Some(language) = language {
            send = send.caption(language);
        }
        send.await?;
        return resend_formats(ctx, g, params.as_ref(), language).await;
    }
    let bytes = ctx.app.storage.get_bytes(&g.output_key).await?;
    let mut send = ctx
        .bot
        .send_video(ctx.chat, InputFile::memory(bytes).file_name("video.mp4"))
        .width(g.width as u32)
        .height(g.height as u32)
        .duration(((g.duration_ms + 500) / 1000).max(1) as u32)
        .supports_streaming(true);
    if let Some(language) = language {
        send = send.caption(language);
    }
    let msg = send.await?;
    if let Some(v) = msg.video() {
        crate::db::generations::set_file_id(&ctx.app.db, g.id, &v.file.id.0).await?;
    }
    resend_formats(ctx, g, params.as_ref(), language).await
}

/// The extra formats a video was made in, sent after it, each captioned with its format (and
/// a language version's language).
async fn resend_formats(
    ctx: &Ctx<'_>,
    g: &crate::db::generations::Generation,
    params: Option<&crate::jobs::UgcParams>,
    language: Option<&str>,
) -> HandlerResult {
    let Some(p) = params else {
        return Ok(());
    };
    for (format, key) in p.more_output_keys(&g.output_key) {
        let bytes = ctx.app.storage.get_bytes(&key).await?;
        let caption = match language {
            Some(language) => format!("{language} · {format}"),
            None => format,
        };
        ctx.bot
            .send_video(ctx.chat, InputFile::memory(bytes).file_name("video.mp4"))
            .caption(caption)
            .supports_streaming(true)
            .await?;
    }
    Ok(())
}
