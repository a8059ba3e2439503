//! The stored files an order names: photos are decoded once before they are kept for a job
//! (the bot's uploads and the API's), within a memory budget shared by all decodes at once.
/// Decodes a photo to check it (the bot's uploads and the API's). Its size comes from its
/// header (up to 4 MB are read: a JPEG's frame header may follow large metadata; TIFF too); a photo whose header does not say, or says too many pixels, is refused before any
/// decoder runs. Decoding is bounded: at most `DECODE_BUDGET_MB` of pixels at once (a 100 MP
/// photo needs about 400 MB), so large photos at the same moment wait their turn.
pub async fn check_photo(
    path: &std::path::Path,
) -> Result<Result<(), media::MediaError>, Box<dyn std::error::Error + Send + Sync>> {
    let size = match photo_size(path).await {
        Ok(size) => size,
        Err(e) => return Ok(Err(e)),
    };
    let units = decode_units(Some(size));
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

/// How much of a photo is read for its size, outside the decode budget: a JPEG's frame
/// header follows its metadata segments (EXIF, XMP, ICC, previews), which stay well under this.
const MAX_HEADER_BYTES: u64 = 4 * 1024 * 1024;

/// A photo's (width, height) from its header, checked against the pixel limit; refused when
/// the file is not an image we decode or its header does not give a size.
pub async fn photo_size(path: &std::path::Path) -> Result<(u32, u32), media::MediaError> {
    use media::{InputProblem, MediaError};
    use tokio::io::AsyncReadExt;
    let unreadable =
        |e: std::io::Error| MediaError::bad_input(path, InputProblem::Unreadable(e.to_string()));
    let mut bytes = Vec::new();
    tokio::fs::File::open(path)
        .await
        .map_err(unreadable)?
        .take(MAX_HEADER_BYTES)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.is_empty() {
        return Err(MediaError::bad_input(path, InputProblem::Empty));
    }
    let Some((w, h)) = media::image_header_size(&bytes) else {
        let problem = if media::looks_like_image(path) {
            InputProblem::Invalid("its header does not give the image's size".into())
        } else {
            InputProblem::NotAnImage
        };
        return Err(MediaError::bad_input(path, problem));
    };
    media::check_pixel_count(path, w, h)?;
    Ok((w, h))
}

/// How long an API upload that no job names is kept (24 h).
pub const UNUSED_UPLOAD_MS: i64 = 24 * 3_600_000;

/// Removes the uploads (the API's and the bot's) that never became a job within
/// [`UNUSED_UPLOAD_MS`]: the stored object and its row — only the row when the same content
/// is another user's upload or in a job too. Returns how many; run hourly by the workers'
/// housekeeping.
pub async fn remove_unused_uploads(
    db: &crate::db::Db,
    store: &impl crate::storage::ObjectStore,
) -> Result<usize, crate::db::DbError> {
    let before = crate::db::now_ms() - UNUSED_UPLOAD_MS;
    let mut removed = 0;
    // One row at a time, each checked against what is left: of two unused rows of the same
    // content the first goes alone and the second takes the object with it.
    for (id, key) in crate::db::api::unused_uploads(db, before).await? {
        if crate::db::api::object_in_use(db, &key, id).await? {
            crate::db::api::forget_upload(db, id).await?;
            removed += 1;
            continue;
        }
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
    #[tokio::test]
    async fn a_photo_size_comes_from_the_whole_header_or_the_photo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // The frame header after 130 KB of metadata: a 10 000 × 10 000 photo, budgeted as one.
        let mut jpeg = vec![0xFF, 0xD8];
        for _ in 0..2 {
            jpeg.extend([0xFF, 0xE1, 0xFF, 0xFF]);
            jpeg.extend(vec![0u8; 0xFFFF - 2]);
        }
        jpeg.extend([0xFF, 0xC0, 0, 11, 8, 0x27, 0x10, 0x27, 0x10, 3, 0, 0]);
        let late = write("late.jpg", &jpeg);
        assert_eq!(super::photo_size(&late).await.unwrap(), (10_000, 10_000));
        assert_eq!(super::decode_units(Some((10_000, 10_000))), 48);
        // A TIFF saying 30 000 × 30 000: refused from its header, nothing decoded.
        let mut tiff = b"II*\0\x08\0\0\0\x02\0".to_vec();
        tiff.extend([0x00, 0x01, 4, 0, 1, 0, 0, 0]);
        tiff.extend(30_000u32.to_le_bytes());
        tiff.extend([0x01, 0x01, 4, 0, 1, 0, 0, 0]);
        tiff.extend(30_000u32.to_le_bytes());
        let bomb = write("bomb.tif", &tiff);
        let e = super::check_photo(&bomb).await.unwrap().unwrap_err();
        assert!(e.to_string().contains("decompression bomb"), "{e}");
        // A JPEG without a frame header and a file that is no image.
        let sizeless = write(
            "nosize.jpg",
            &[0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xD9],
        );
        let e = super::photo_size(&sizeless).await.unwrap_err();
        assert!(
            e.to_string().contains("does not give the image's size"),
            "{e}"
        );
        let text = write("notes.txt", b"hello, not a photo");
        let e = super::photo_size(&text).await.unwrap_err();
        assert!(e.to_string().contains("not an image"), "{e}");
    }

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
