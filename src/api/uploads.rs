//! `POST /v1/uploads`: the files jobs are made from, with the bot's checks.
use super::{Api, Caller, Problem};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UploadView {
    /// Name this in a job's `image`, `portrait` or `background`.
    pub id: String,
    pub content_type: String,
    pub bytes: i64,
}

/// `POST /v1/uploads` (multipart, exactly one part: `file`): a photo that decodes or a clip with a
/// video stream of at most 15 s, at most 20 MB — the bot's checks.
pub async fn upload(
    State(s): State<Api>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, Problem> {
    let mut form = form.map_err(|e| Problem::bad_request(e.body_text()))?;
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Problem::bad_request(format!("the multipart body is not valid: {e}")))?
    {
        if field.name() != Some("file") || file.is_some() {
            return Err(Problem::bad_request(format!(
                "send one part, named 'file' (got {})",
                field
                    .name()
                    .map_or("a part without a name".to_string(), |n| format!("'{n}'"))
            )));
        }
        {
            let bytes = field.bytes().await.map_err(|e| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "The file is too large",
                    format!("at most 20 MB ({e})"),
                )
            })?;
            file = Some(bytes);
        }
    }
    let bytes = file.ok_or_else(|| Problem::bad_request("send the file as the 'file' part"))?;
    let used = crate::db::api::uploaded_bytes_since(
        &s.db,
        caller.user_id,
        crate::db::now_ms() - 24 * 3_600_000,
    )
    .await?;
    if used + bytes.len() as i64 > s.upload_bytes_per_day {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "upload-quota",
            "The upload quota is used up",
            format!(
                "{} MB uploaded in the last 24 h; at most {} MB a day",
                used >> 20,
                s.upload_bytes_per_day >> 20
            ),
        ));
    }
    if bytes.len() > super::MAX_UPLOAD_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The file is too large",
            format!("{} MB, at most 20 MB", bytes.len() >> 20),
        ));
    }
    std::fs::create_dir_all(&s.work_dir).map_err(Problem::internal)?;
    let path = s.work_dir.join(format!(
        "api-{}-{}",
        caller.user_id,
        crate::db::api_keys::random_hex(8)
    ));
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(Problem::internal)?;
    let checked = check_upload(&path).await;
    let stored = match checked {
        Ok((ext, mime)) => crate::pipelines::store_file(&s.storage, "uploads", &path, ext, mime)
            .await
            .map(|key| (key, mime))
            .map_err(|e| Problem::internal(format!("{e:?}"))),
        Err(p) => Err(p),
    };
    let _ = std::fs::remove_file(&path);
    let (key, mime) = stored?;
    crate::db::api::record_upload(&s.db, caller.user_id, &key, mime, bytes.len() as i64).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadView {
            id: key,
            content_type: mime.to_string(),
            bytes: bytes.len() as i64,
        }),
    )
        .into_response())
}

/// A photo that decodes, or a clip with a video stream of at most 15 s.
async fn check_upload(path: &std::path::Path) -> Result<(&'static str, &'static str), Problem> {
    let unsupported = |why: String| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media",
            "The file is not a usable photo or clip",
            why,
        )
    };
    // An image is checked as a photo, within the decode budget, and never handed to FFmpeg's
    // stream analysis (which decodes a still to learn its size: a 100 MP PNG or a TIFF
    // would be decoded before any budget was taken).
    if !media::looks_like_image(path) {
        let p = path.to_path_buf();
        let probed = tokio::task::spawn_blocking(move || media::probe(&p))
            .await
            .map_err(Problem::internal)?;
        if let Ok(info) = &probed {
            if info.video.is_some() && info.duration_s > 0.5 {
                if info.duration_s > 15.5 {
                    return Err(unsupported(format!(
                        "the clip is {:.0} s; backgrounds are at most 15 s",
                        info.duration_s
                    )));
                }
                return Ok(("mp4", "video/mp4"));
            }
        }
    }
    match crate::orders::files::check_photo(path)
        .await
        .map_err(Problem::internal)?
    {
        Ok(()) => Ok(("jpg", "image/jpeg")),
        Err(e) => Err(unsupported(crate::orders::files::problem_of(&e))),
    }
}
