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
    if let Err(e) = check_photo(&path).await? {
        let _ = std::fs::remove_file(&path);
        let reason = reason_for(ctx, &e);
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

/// Decodes a photo to check it (the bot's uploads and the API's). Decoding is bounded: at
/// most `DECODE_BUDGET_MB` of pixels at once (a 100 MP photo needs about 400 MB), so many
/// large photos at the same moment wait their turn instead of exhausting memory.
pub async fn check_photo(
    path: &std::path::Path,
) -> Result<Result<(), media::MediaError>, HandlerError> {
    let head = read_head(path).await;
    let units = decode_units(media::image_header_size(&head));
    let _permit = DECODE_BUDGET.acquire_many(units).await?;
    let check = path.to_path_buf();
    let decoded = tokio::task::spawn_blocking(move || media::load_image(&check)).await?;
    Ok(decoded.map(|_| ()))
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

/// What is wrong with the file, without the server's path (English: the API and logs).
pub fn problem_of(e: &media::MediaError) -> String {
    match e {
        media::MediaError::BadInput { problem, .. } => format!("the file {problem}"),
        other => other.to_string(),
    }
}

/// Memory for photo decodes at once, in 8 MB units (1 GB).
const DECODE_BUDGET_MB: u32 = 1024;
const UNIT_MB: u64 = 8;
static DECODE_BUDGET: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new((DECODE_BUDGET_MB as u64 / UNIT_MB) as usize);

/// Budget units a decode of an image of this size takes (RGBA while decoding, at least one
/// unit, at most the whole budget); an unknown size counts as a 12 MP photo.
pub(crate) fn decode_units(size: Option<(u32, u32)>) -> u32 {
    let (w, h) = size.unwrap_or((4000, 3000));
    let bytes = u64::from(w) * u64::from(h) * 4;
    let units = bytes.div_ceil(UNIT_MB * 1024 * 1024).max(1);
    units.min(DECODE_BUDGET_MB as u64 / UNIT_MB) as u32
}

/// The first bytes of a file, enough for any image header.
async fn read_head(path: &std::path::Path) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0u8; 64 * 1024];
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return Vec::new();
    };
    let n = f.read(&mut head).await.unwrap_or(0);
    head.truncate(n);
    head
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_photos_take_more_of_the_decode_budget() {
        use super::decode_units;
        assert_eq!(decode_units(Some((10, 10))), 1);
        // 100 MP: 400 MB of the 1 GB budget, so at most two run at once.
        assert_eq!(decode_units(Some((10_000, 10_000))), 48);
        assert!(decode_units(Some((10_000, 10_000))) * 3 > 128);
        assert_eq!(
            decode_units(Some((100_000, 100_000))),
            128,
            "never more than the budget"
        );
        assert_eq!(decode_units(None), 6);
    }
}
