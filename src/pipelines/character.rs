//! `character_edit`: the gallery character changed by a prompt (nano-banana edit on fal), the
//! result stored and shown to the user, who uses it, edits again or goes back to the original.
//! Offline (no fal key) the character is only re-framed, so the loop can still be tried.
use super::{store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::providers::fal::{self, FalRequest, FalStatus};
use crate::providers::ProviderError;
use crate::queue::worker::JobCtx;
use crate::storage::ObjectStore;
use base64::Engine;
use std::time::Duration;

pub use crate::jobs::EditParams;

pub async fn run(s: &Services, ctx: &mut JobCtx, p: EditParams) -> Result<(), StepError> {
    if p.prompt.trim().is_empty() {
        return Err(StepError::Fail(
            ErrorClass::BadUserInput,
            "the edit prompt is empty".into(),
        ));
    }
    let scratch = Scratch::new(&s.work_dir, ctx.job.id)?;
    let edited = scratch.file("edited.png");
    let output = match ctx.checkpoints().output.clone() {
        Some(k) => k,
        None => {
            match &s.remote.image_editor {
                Some(fal_client) => edit_remote(s, ctx, fal_client, &p, &edited).await?,
                None => edit_local(s, &p, &scratch, &edited).await?,
            }
            let key = store_file(&s.storage, "characters", &edited, "png", "image/png").await?;
            let stored = key.clone();
            ctx.checkpoint("output", |c| c.output = Some(stored))
                .await?;
            key
        }
    };
    let photo = scratch.file("result.png");
    s.storage.get_to_file(&output, &photo).await?;
    super::delivery::deliver_once(s, ctx, super::delivery::Outbound::Photo(&photo)).await
}

async fn edit_local(
    s: &Services,
    p: &EditParams,
    scratch: &Scratch,
    out: &std::path::Path,
) -> Result<(), StepError> {
    let src = scratch.file("source");
    s.storage.get_to_file(&p.image, &src).await?;
    let (src, out) = (src.clone(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        media::fit_image_to_frame(&src, &out, 1024, 1024, media::FitMode::Cover)
    })
    .await
    .map_err(|e| StepError::Fail(ErrorClass::Permanent, e.to_string()))??;
    Ok(())
}

async fn edit_remote(
    s: &Services,
    ctx: &mut JobCtx,
    client: &fal::FalClient,
    p: &EditParams,
    out: &std::path::Path,
) -> Result<(), StepError> {
    let request: FalRequest = match ctx
        .checkpoints()
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
    {
        Some(r) => r,
        None => {
            // A presigned URL when the store has one; otherwise the image travels as a data URI.
            let url = match s
                .storage
                .presigned_get(&p.image, Duration::from_secs(3600))
                .await?
            {
                Some(u) => u,
                None => {
                    let bytes = s.storage.get_bytes(&p.image).await?;
                    format!(
                        "data:image/jpeg;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(bytes)
                    )
                }
            };
            let input = serde_json::json!({ "prompt": p.prompt, "image_urls": [url], "num_images": 1, "output_format": "png" });
            ctx.ensure_lease()?;
            let r = client.submit(fal::NANO_BANANA_EDIT, &input).await?;
            let saved = serde_json::to_string(&r).unwrap_or_default();
            let now = crate::db::now_ms();
            ctx.checkpoint("edit_submit", |c| {
                c.request = Some(saved);
                c.submitted_ms.get_or_insert(now);
            })
            .await?;
            r
        }
    };
    match client.status(&request).await? {
        FalStatus::InQueue { .. } | FalStatus::InProgress => {
            return Err(StepError::Wait(Duration::from_secs(3)))
        }
        FalStatus::Completed => {}
    }
    let result = client.result(&request).await?;
    let url = fal::first_image_url(&result)
        .ok_or_else(|| ProviderError::malformed("fal", "no images[0].url"))?;
    let bytes = client
        .download(url, 30 * 1024 * 1024, Duration::from_secs(120))
        .await?;
    tokio::fs::write(out, bytes)
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))
}
