//! The stored files an order names: photos are decoded once before they are kept for a job
//! (the bot's uploads and the API's), within a memory budget shared by all decodes at once.
/// Decodes a photo to check it (the bot's uploads and the API's). Decoding is bounded: at
/// most `DECODE_BUDGET_MB` of pixels at once (a 100 MP photo needs about 400 MB), so many
/// large photos at the same moment wait their turn instead of exhausting memory.
pub async fn check_photo(
    path: &std::path::Path,
) -> Result<Result<(), media::MediaError>, Box<dyn std::error::Error + Send + Sync>> {
    let head = read_head(path).await;
    let units = decode_units(media::image_header_size(&head));
    let _permit = DECODE_BUDGET.acquire_many(units).await?;
    let check = path.to_path_buf();
    let decoded = tokio::task::spawn_blocking(move || media::load_image(&check)).await?;
    Ok(decoded.map(|_| ()))
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

/// How long an API upload that no job names is kept (24 h).
pub const UNUSED_UPLOAD_MS: i64 = 24 * 3_600_000;

/// Removes the API uploads that never became a job within [`UNUSED_UPLOAD_MS`]: the stored
/// object and its row. Returns how many; run hourly by the workers' housekeeping.
pub async fn remove_unused_uploads(
    db: &crate::db::Db,
    store: &impl crate::storage::ObjectStore,
) -> Result<usize, crate::db::DbError> {
    let before = crate::db::now_ms() - UNUSED_UPLOAD_MS;
    let mut removed = 0;
    for (id, key) in crate::db::api::unused_uploads(db, before).await? {
        match store.delete(&key).await {
            Ok(()) => {
                crate::db::api::forget_upload(db, id).await?;
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "an unused upload could not be removed")
            }
        }
    }
    Ok(removed)
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
