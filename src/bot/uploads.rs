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
    let check = path.clone();
    let decoded = tokio::task::spawn_blocking(move || media::load_image(&check)).await?;
    if let Err(e) = decoded {
        let _ = std::fs::remove_file(&path);
        let reason = if e.is_bad_input() {
            problem_of(&e)
        } else {
            e.to_string()
        };
        ctx.say(ctx.t("input.bad_photo", &[("reason", &reason)]))
            .await?;
        return Ok(None);
    }
    let key = crate::pipelines::store_file(&ctx.app.storage, "uploads", &path, "jpg", "image/jpeg")
        .await
        .map_err(|e| format!("{e:?}"))?;
    let _ = std::fs::remove_file(&path);
    Ok(Some(key))
}

/// What is wrong with the file, without the server's path.
pub fn problem_of(e: &media::MediaError) -> String {
    match e {
        media::MediaError::BadInput { problem, .. } => format!("the file {problem}"),
        other => other.to_string(),
    }
}
