//! Delivery as a step of the job, run by whichever process runs the job. The step is
//! checkpointed around the upload so a crash, a lost lease or a timeout never makes a second
//! copy by automatic retry:
//! - `delivery_started_ms` is written before the upload begins;
//! - `delivered` (message id, file id) after Telegram confirms it, before the job is done;
//! - an upload whose outcome is unknown (a timeout after it started, or a crash found by the
//!   next attempt) is not sent again: the user gets "didn't get it? send again" instead, and
//!   `/history` has it too.
use super::{Services, StepError};
use crate::jobs::Delivered;
use crate::providers::ProviderError;
use crate::queue::worker::JobCtx;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// What the user receives, with what Telegram needs to show it well.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub user_id: i64,
    pub job_id: i64,
    pub video: PathBuf,
    pub thumbnail: PathBuf,
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
    /// More formats of the same video: sent with it as one album, each labelled.
    pub more: Vec<MoreFormat>,
    /// The hook variant it is (`A`, `B`, `C`), said in its caption.
    pub variant: Option<String>,
    /// Its language's name, said in its caption when the album carries language versions.
    pub language: Option<String>,
    /// The language versions the album carries (`ru`, `kk`, `en`; empty: not versions).
    pub versions: Vec<String>,
}

/// One more format of a delivered video.
#[derive(Debug, Clone, PartialEq)]
pub struct MoreFormat {
    /// `1:1`, `16:9`, …
    pub label: String,
    pub video: PathBuf,
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
}

/// What the chat platform confirmed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sent {
    pub message_id: i64,
    /// Telegram's `file_id`, cached for re-sends without an upload.
    pub file_id: String,
}

/// Why a delivery did not succeed.
#[derive(Debug)]
pub enum DeliverError {
    /// Nothing reached the user (refused, or the connection never opened): the job may be
    /// retried or failed and refunded.
    NotSent(ProviderError),
    /// The upload began and its outcome is unknown (timeout, connection lost mid-way).
    Unknown(ProviderError),
    /// The user cannot be reached (they blocked the bot, or the chat is gone): nothing was
    /// sent, and nothing is wrong with the result.
    RecipientGone(ProviderError),
}

pub type DeliverFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends finished results to their users.
pub trait Deliver: Send + Sync {
    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a, Result<Sent, DeliverError>>;

    /// Sends an image (a character edit) for the user to accept or edit again.
    fn deliver_photo<'a>(
        &'a self,
        user_id: i64,
        job_id: i64,
        photo: &'a Path,
    ) -> DeliverFuture<'a, Result<Sent, DeliverError>>;

    /// Tells the user a result may not have arrived, with a button to send it again.
    fn offer_resend(
        &self,
        user_id: i64,
        job_id: i64,
    ) -> DeliverFuture<'_, Result<(), ProviderError>>;

    /// The result is with the user: the job's progress message can say so now (best effort;
    /// the bot's progress loop catches up otherwise).
    fn delivered(&self, _job_id: i64) -> DeliverFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Tells the operator (the admin chat) about an incident, such as a provider's circuit
    /// breaker opening (best effort; no-op where there is no admin chat).
    fn alert_operator(&self, _text: String) -> DeliverFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// What is being delivered.
pub enum Outbound<'a> {
    Video(&'a Delivery),
    Photo(&'a Path),
}

/// Runs the delivery step at most once per job; see the module comment.
pub async fn deliver_once(
    s: &Services,
    ctx: &mut JobCtx,
    what: Outbound<'_>,
) -> Result<(), StepError> {
    let (user, job) = (ctx.job.user_id, ctx.job.id);
    if ctx.checkpoints().delivered.is_some() {
        return Ok(());
    }
    if ctx.checkpoints().delivery_started_ms.is_some() {
        tracing::warn!(
            "an earlier upload's outcome is unknown: offering a re-send instead of a second copy"
        );
        return settle_uncertain(s, ctx).await;
    }
    ctx.ensure_lease()?;
    // The last moment a cancel can win (in memory, or in the database in the same write that
    // records the upload's start): after this the result is on its way.
    let cancelled = ctx.cancelled() || !ctx.begin_delivery(crate::db::now_ms()).await?;
    if cancelled {
        return Err(StepError::Fail(
            crate::failure::ErrorClass::Permanent,
            "cancelled by the user".into(),
        ));
    }
    let span = tracing::info_span!("step", step = "delivery", provider = "telegram");
    let started = std::time::Instant::now();
    let sent = tracing::Instrument::instrument(
        async {
            match what {
                Outbound::Video(d) => s.deliver.deliver(d).await,
                Outbound::Photo(p) => s.deliver.deliver_photo(user, job, p).await,
            }
        },
        span,
    )
    .await;
    crate::metrics::step_duration(crate::jobs::Step::Delivery, started.elapsed());
    match sent {
        Ok(sent) => {
            let file_id = sent.file_id.clone();
            ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
                c.delivered = Some(Delivered {
                    message_id: sent.message_id,
                    file_id: sent.file_id,
                    uncertain: false,
                    unreachable: false,
                })
            })
            .await?;
            if let Some(generation) = ctx.checkpoints().generation {
                crate::db::generations::set_file_id(&s.db, generation, &file_id)
                    .await
                    .map_err(StepError::from)?;
            }
            crate::metrics::delivery("sent");
            if matches!(what, Outbound::Video(_)) {
                crate::metrics::video_delivered();
            }
            s.deliver.delivered(job).await;
            Ok(())
        }
        Err(DeliverError::NotSent(e)) => {
            crate::metrics::delivery("refused");
            ctx.checkpoint(crate::jobs::Step::Delivery, |c| {
                c.delivery_started_ms = None
            })
            .await?;
            Err(e.into())
        }
        Err(DeliverError::Unknown(e)) => {
            tracing::warn!(error = %e, "upload outcome unknown");
            settle_uncertain(s, ctx).await
        }
        // Delivered and paid, not refunded: the result is theirs and waits in /history (a
        // refund would hand out the video and the tokens both once they unblock the bot).
        Err(DeliverError::RecipientGone(e)) => {
            tracing::info!(error = %e, "the user cannot be reached: the result waits in /history");
            crate::metrics::delivery("unreachable");
            ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
                c.delivered = Some(Delivered {
                    message_id: 0,
                    file_id: String::new(),
                    uncertain: false,
                    unreachable: true,
                })
            })
            .await?;
            Ok(())
        }
    }
}

/// The upload may or may not have arrived: offer a re-send, and count the delivery as done.
pub(crate) async fn settle_uncertain(s: &Services, ctx: &mut JobCtx) -> Result<(), StepError> {
    // Best effort: the user may be unreachable now; /history has the video either way.
    if let Err(e) = s.deliver.offer_resend(ctx.job.user_id, ctx.job.id).await {
        tracing::warn!(error = %e, "the re-send offer could not be sent");
    }
    ctx.checkpoint(crate::jobs::Step::Delivered, |c| {
        c.delivered = Some(Delivered {
            message_id: 0,
            file_id: String::new(),
            uncertain: true,
            unreachable: false,
        })
    })
    .await?;
    crate::metrics::delivery("uncertain");
    s.deliver.delivered(ctx.job.id).await;
    Ok(())
}
