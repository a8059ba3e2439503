//! `text_to_video` and `image_to_video`: (fit the photo to exactly the video size) → submit to
//! the tier's provider (request id saved) → poll, snoozing between polls → store the MP4 and
//! its thumbnail → deliver.
use super::{conform_clip, deliver_output, store_file, Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::pipelines::video_backend::{Poll, VideoRequest};
use crate::queue::worker::JobCtx;
use crate::storage::ObjectStore;
use std::time::Duration;

pub use crate::jobs::GenerateParams;

pub async fn run(s: &Services, ctx: &mut JobCtx, mut p: GenerateParams) -> Result<(), StepError> {
    let kind = crate::jobs::JobSpec::generate(p.clone()).kind();
    if p.improve_prompt {
        // Improved once (saved), so a retry sends the provider the same prompt.
        p.prompt = match ctx.checkpoints().prompt.clone() {
            Some(saved) => saved,
            None => {
                let improved = match &s.prompt_writer {
                    Some(w) => w.improve(&p.prompt).await,
                    None => p.prompt.clone(),
                };
                let saved = improved.clone();
                ctx.checkpoint(crate::jobs::Step::Prompt, |c| c.prompt = Some(saved))
                    .await?;
                improved
            }
        };
    }
    run_with(s, ctx, p, kind).await
}

/// The generation steps for given parameters (product videos come here with their prompt).
pub async fn run_with(
    s: &Services,
    ctx: &mut JobCtx,
    p: GenerateParams,
    kind: crate::jobs::JobKind,
) -> Result<(), StepError> {
    let (want_w, want_h) = media::parse_size(&p.size)?;
    // Video models make 9:16 and 16:9 only: a square is made vertical, then cropped.
    let (w, h) = provider_size(want_w, want_h);
    let scratch = Scratch::new(&s.work_dir, ctx.job.id)?;

    // Providers refuse a first frame of any other size: fit it exactly, centred on the face.
    let fitted = match (&p.image, ctx.checkpoints().input_image.clone()) {
        (None, _) => None,
        (Some(_), Some(key)) => Some(key),
        (Some(original), None) => {
            let (src, dst) = (scratch.file("photo"), scratch.file("first-frame.jpg"));
            s.storage.get_to_file(original, &src).await?;
            let (src2, dst2) = (src.clone(), dst.clone());
            tokio::task::spawn_blocking(move || {
                media::fit_image_to_frame(&src2, &dst2, w as u32, h as u32, media::FitMode::Cover)
            })
            .await
            .map_err(|e| StepError::Fail(ErrorClass::Permanent, e.to_string()))??;
            let key = store_file(&s.storage, "first-frames", &dst, "jpg", "image/jpeg").await?;
            let saved = key.clone();
            ctx.checkpoint(crate::jobs::Step::InputImage, |c| {
                c.input_image = Some(saved)
            })
            .await?;
            Some(key)
        }
    };

    let output_key = match ctx.checkpoints().output.clone() {
        Some(k) => k,
        None => {
            let out = scratch.file("generated.mp4");
            let image_path = scratch.file("first-frame.jpg");
            let image_url = match &fitted {
                Some(key) => {
                    if !image_path.exists() {
                        s.storage.get_to_file(key, &image_path).await?;
                    }
                    s.storage
                        .presigned_get(key, Duration::from_secs(3600))
                        .await?
                }
                None => None,
            };
            let request = VideoRequest {
                prompt: &p.prompt,
                seconds: p.seconds,
                width: w,
                height: h,
                image: fitted.as_ref().map(|_| image_path.as_path()),
                image_url,
            };
            let saved = match ctx.checkpoints().request.clone() {
                Some(id) => id,
                None => submit(s, ctx, &p.tier, &request, &out).await?,
            };
            match s
                .timed(
                    crate::jobs::Step::VideoPoll,
                    s.video.poll(&p.tier, &saved, &out),
                )
                .await?
            {
                Poll::Pending(wait) => return Err(StepError::Wait(wait)),
                Poll::Ready => {}
            }
            // Re-framing encodes a deliverable anew; a clip kept as made is checked first.
            let out = if (w, h) != (want_w, want_h) {
                let framed = scratch.file("framed.mp4");
                s.timed(
                    crate::jobs::Step::Reframe,
                    reframe(&out, &framed, want_w, want_h, &ctx.cancel),
                )
                .await?;
                framed
            } else {
                let ready = scratch.file("deliverable.mp4");
                s.timed(
                    crate::jobs::Step::Conform,
                    conform_clip(&out, &ready, &ctx.cancel),
                )
                .await?;
                ready
            };
            let key = store_file(&s.storage, "outputs", &out, "mp4", "video/mp4").await?;
            let thumb = scratch.file("thumb.jpg");
            let (o, t) = (out.clone(), thumb.clone());
            tokio::task::spawn_blocking(move || media::video_thumbnail(&o, &t))
                .await
                .map_err(|e| StepError::Fail(ErrorClass::Permanent, e.to_string()))??;
            s.storage
                .put_file(&format!("{key}.jpg"), &thumb, "image/jpeg")
                .await?;
            let stored = key.clone();
            ctx.checkpoint(crate::jobs::Step::Output, |c| c.output = Some(stored))
                .await?;
            key
        }
    };
    deliver_output(
        s,
        ctx,
        kind,
        (&output_key, &format!("{output_key}.jpg")),
        &[],
        &scratch,
    )
    .await
}

/// Submits the video to the tier's first provider that takes it and checkpoints the request,
/// which provider took it and when (a retry polls it instead of paying twice).
async fn submit(
    s: &Services,
    ctx: &mut JobCtx,
    tier: &str,
    request: &VideoRequest<'_>,
    out: &std::path::Path,
) -> Result<String, StepError> {
    ctx.ensure_lease()?;
    let id = s
        .timed(
            crate::jobs::Step::VideoSubmit,
            s.video.submit(tier, request, out),
        )
        .await?;
    let request_id = id.clone();
    let now = crate::db::now_ms();
    let made_by = s.video.made_by(tier, &id);
    ctx.checkpoint(crate::jobs::Step::VideoSubmit, |c| {
        c.request = Some(request_id);
        c.video_by = made_by;
        c.submitted_ms.get_or_insert(now);
    })
    .await?;
    Ok(id)
}

/// The size to ask a provider for: the asked one, or 9:16 of the same width for a square.
pub fn provider_size(w: usize, h: usize) -> (usize, usize) {
    if w == h {
        (w, (w * 16 / 9) & !1)
    } else {
        (w, h)
    }
}

/// Crops a generated clip to `w`×`h` around its centre, keeping its sound.
async fn reframe(
    input: &std::path::Path,
    output: &std::path::Path,
    w: usize,
    h: usize,
    cancel: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), StepError> {
    let mut req = media::ComposeRequest::new(input, input, output);
    req.width = w;
    req.height = h;
    req.circle = false;
    req.bg_volume = 0.0;
    let cancel = cancel.clone();
    tokio::task::spawn_blocking(move || media::compose(&req, &|_, _| {}, &cancel))
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Permanent, e.to_string()))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn squares_are_generated_vertical() {
        assert_eq!(super::provider_size(720, 720), (720, 1280));
        assert_eq!(super::provider_size(1080, 1080), (1080, 1920));
        assert_eq!(super::provider_size(1280, 720), (1280, 720));
    }
}
