//! Files users send: downloaded within the size limit (refused up front when the message says
//! it is too large), photos checked to decode before they are stored for a job.
use super::app::{Ctx, HandlerError};
use std::path::PathBuf;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::FileId;

/// Downloads a file the user sent, refusing it up front when it is over the limit.
/// `Ok(None)`: refused, the user has been told.
pub async fn download(
    ctx: &Ctx<'_>,
    file: &FileId,
    size: u32,
    ext: &str,
) -> Result<Option<PathBuf>, HandlerError> {
    // The message's size first (nothing fetched for a 30 MB video), then getFile's, which is
    // what will be downloaded (the message may not say).
    if refuse_size(ctx, size).await? {
        return Ok(None);
    }
    let f = ctx.bot.get_file(file.clone()).await?;
    if refuse_size(ctx, f.size).await? {
        return Ok(None);
    }
    std::fs::create_dir_all(&ctx.app.work_dir)?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = ctx
        .app
        .work_dir
        .join(format!("{}-{}-{n}.{ext}", ctx.user, std::process::id()));
    let mut dst = tokio::fs::File::create(&path).await?;
    ctx.bot.download_file(&f.path, &mut dst).await?;
    // tokio writes in the background: the bytes must be on disk before anyone reads them.
    tokio::io::AsyncWriteExt::flush(&mut dst).await?;
    Ok(Some(path))
}

/// Says "too large" and returns true when `size` is over the download limit.
async fn refuse_size(ctx: &Ctx<'_>, size: u32) -> Result<bool, HandlerError> {
    let limit = ctx.app.max_download_bytes;
    if u64::from(size) <= limit {
        return Ok(false);
    }
    ctx.say(ctx.t(
        "input.too_large",
        &[
            ("size", &(u64::from(size).div_ceil(1 << 20))),
            ("limit", &(limit >> 20)),
        ],
    ))
    .await?;
    Ok(true)
}

/// Stores an uploaded photo after checking it decodes (and is no decompression bomb).
/// `Ok(None)`: refused, the user has been told why.
pub async fn store_photo(
    ctx: &Ctx<'_>,
    file: FileId,
    size: u32,
) -> Result<Option<String>, HandlerError> {
    let Some(path) = download(ctx, &file, size, "jpg").await? else {
        return Ok(None);
    };
    if let Err(e) = crate::orders::files::check_photo(&path).await? {
        let _ = std::fs::remove_file(&path);
        let reason = reason_for(ctx, &e);
        ctx.say(ctx.t("input.bad_photo", &[("reason", &reason)]))
            .await?;
        return Ok(None);
    }
    let key = crate::pipelines::store_file(&ctx.app.storage, "uploads", &path, "jpg", "image/jpeg")
        .await
        .map_err(|e| format!("{e:?}"))?;
    record(ctx, &key, "image/jpeg", &path).await?;
    let _ = std::fs::remove_file(&path);
    Ok(Some(key))
}

/// Records a file stored for the user from `path` (a photo, a clip, a speech preview):
/// `/deletedata` removes it, and so does the housekeeping a day later if no job names it.
pub async fn record(
    ctx: &Ctx<'_>,
    key: &str,
    content_type: &str,
    path: &std::path::Path,
) -> Result<(), HandlerError> {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len() as i64);
    crate::db::api::record_bot_upload(&ctx.app.db, ctx.user, key, content_type, bytes).await?;
    Ok(())
}

/// What is wrong with the file, in the user's language (locale keys `media.*`), without the
/// server's path.
pub fn reason_for(ctx: &Ctx<'_>, e: &media::MediaError) -> String {
    use media::InputProblem as P;
    let media::MediaError::BadInput { problem, .. } = e else {
        return ctx.t("media.internal", &[]);
    };
    match problem {
        P::Missing => ctx.t("media.missing", &[]),
        P::Unreadable(why) => ctx.t("media.unreadable", &[("why", why)]),
        P::Empty => ctx.t("media.empty", &[]),
        P::Truncated => ctx.t("media.truncated", &[]),
        P::NotMedia => ctx.t("media.not_media", &[]),
        P::NoVideoStream => ctx.t("media.no_video", &[]),
        P::NoAudioStream => ctx.t("media.no_audio", &[]),
        P::UnsupportedCodec(c) => ctx.t("media.codec", &[("codec", c)]),
        P::DecompressionBomb {
            width,
            height,
            limit,
        } => ctx.t(
            "media.bomb",
            &[("width", width), ("height", height), ("limit", limit)],
        ),
        P::TooLarge(why) => ctx.t("media.too_large", &[("why", why)]),
        P::NotAnImage => ctx.t("media.not_image", &[]),
        P::Invalid(why) => ctx.t("media.invalid", &[("why", why)]),
    }
}
