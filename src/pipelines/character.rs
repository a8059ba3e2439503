//! `character_edit`: the gallery character changed by a prompt through the `IMAGE_EDIT_CHAIN`
//! (nano-banana edit, then FLUX Kontext on fal), the result stored and shown to the user, who
//! uses it, edits again or goes back to the original. Offline (no fal key, or the chain's
//! `local` turn) the character is only re-framed, so the loop can still be tried.
use super::fal_chain;
use super::{store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::pricing::Quantity;
use crate::providers::fal;
use crate::queue::worker::JobCtx;
use crate::storage::ObjectStore;
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
            edit(s, ctx, &p, &scratch, &edited).await?;
            let key = store_file(&s.storage, "characters", &edited, "png", "image/png").await?;
            let stored = key.clone();
            ctx.checkpoint(crate::jobs::Step::Output, |c| c.output = Some(stored))
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

/// The edit through the chain; the offline re-framing when its turn comes.
async fn edit(
    s: &Services,
    ctx: &mut JobCtx,
    p: &EditParams,
    scratch: &Scratch,
    out: &std::path::Path,
) -> Result<(), StepError> {
    let step = fal_chain::FalStep {
        slot: fal_chain::Slot::Edit,
        chain: &s.remote.image_edits,
        quantity: Quantity::Images(1),
        input: edit_input,
        output_url: |r| fal::first_image_url(r),
        max_bytes: 30 * 1024 * 1024,
        download_timeout: Duration::from_secs(120),
        poll: Duration::from_secs(3),
    };
    let made = fal_chain::run(s, ctx, step, async || {
        // A presigned URL when the store has one; otherwise the image travels as a data URI.
        let url = super::fetchable_url(s, &p.image, "image/jpeg").await?;
        Ok(serde_json::json!({ "prompt": p.prompt, "image_url": url }))
    })
    .await?;
    match made.bytes {
        Some(bytes) => tokio::fs::write(out, bytes)
            .await
            .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string())),
        None => edit_local(s, p, scratch, out).await,
    }
}

/// Each edit model's documented input: nano-banana takes a list of images, FLUX Kontext one.
fn edit_input(model: &str, common: &serde_json::Value) -> serde_json::Value {
    let mut input = serde_json::json!({
        "prompt": common["prompt"],
        "num_images": 1,
        "output_format": "png",
    });
    if model.contains("nano-banana") {
        input["image_urls"] = serde_json::json!([common["image_url"]]);
    } else {
        input["image_url"] = common["image_url"].clone();
    }
    input
}
