//! A step made by a chain of fal models with the offline way last — the talking head
//! (`TALKING_HEAD_CHAIN`) and the character edit (`IMAGE_EDIT_CHAIN`). Entries are tried in
//! order: one whose breaker is open, or a fallback that would cost more than the order
//! brings, is skipped; a provider failure (at submit, or a failed result) moves the job to
//! the next entry; a refusal of the content or input is final. The entry waited on is
//! checkpointed with its request, so a restarted job polls the same one, never a second.
use super::{Services, StepError};
use crate::failure::ErrorClass;
use crate::jobs::Checkpoints;
use crate::pricing::Quantity;
use crate::providers::chain::{self, Admit, Order};
use crate::providers::fal::{self, FalClient, FalRequest};
use crate::queue::worker::JobCtx;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One entry of a chain: a fal model, or the offline way.
#[derive(Clone)]
pub struct ChainEntry {
    /// `fal:<model>` or `local`: the breaker's, the metrics' and the checkpoint's name.
    pub name: String,
    /// The fal client and model; `None` for the offline way.
    pub fal: Option<(Arc<FalClient>, String)>,
}

impl ChainEntry {
    pub fn fal(client: Arc<FalClient>, model: &str) -> Self {
        Self {
            name: format!("fal:{model}"),
            fal: Some((client, model.to_string())),
        }
    }
    pub fn local() -> Self {
        Self {
            name: "local".into(),
            fal: None,
        }
    }
}

/// Which checkpoint fields hold a step's request and the entry that made (or makes) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    TalkingHead,
    Edit,
}

impl Slot {
    fn saved(self, c: &Checkpoints) -> (Option<&str>, Option<&str>) {
        match self {
            Slot::TalkingHead => (
                c.talking_head_request.as_deref(),
                c.talking_head_by.as_deref(),
            ),
            Slot::Edit => (c.request.as_deref(), c.edit_by.as_deref()),
        }
    }
    fn set(self, c: &mut Checkpoints, request: Option<String>, by: Option<String>) {
        match self {
            Slot::TalkingHead => {
                c.talking_head_request = request;
                c.talking_head_by = by;
            }
            Slot::Edit => {
                c.request = request;
                c.edit_by = by;
            }
        }
    }
    fn name(self) -> &'static str {
        match self {
            Slot::TalkingHead => "talking head",
            Slot::Edit => "image edit",
        }
    }
}

/// What a step asks of its chain.
pub struct FalStep<'a> {
    pub slot: Slot,
    pub chain: &'a [ChainEntry],
    /// What an entry is asked to make (its cost in the pricing table).
    pub quantity: Quantity,
    /// The model's input from the common one (`image_url`, `audio_url`, `prompt`, …).
    pub input: fn(model: &str, common: &Value) -> Value,
    /// Where the result's file is (`video.url`, `images[0].url`).
    pub output_url: fn(&Value) -> Option<&str>,
    pub max_bytes: u64,
    pub download_timeout: Duration,
    pub poll: Duration,
}

/// The result: the file's bytes from a fal model, or `None` when the offline way's turn came
/// (the caller makes it); with the entry that made it.
pub struct Made {
    pub bytes: Option<Vec<u8>>,
    pub by: String,
}

/// Runs the step through its chain. `common` makes the input all models share (URLs of the
/// step's files), at most once however many entries are tried.
pub async fn run<F>(
    s: &Services,
    ctx: &mut JobCtx,
    step: FalStep<'_>,
    common: F,
) -> Result<Made, StepError>
where
    F: AsyncFnOnce() -> Result<Value, StepError>,
{
    let local_only = [ChainEntry::local()];
    let chain = if step.chain.is_empty() {
        &local_only[..]
    } else {
        step.chain
    };
    let (_, saved_by) = step.slot.saved(ctx.checkpoints());
    let start = saved_by
        .and_then(|by| chain.iter().position(|e| e.name == by))
        .unwrap_or(0);
    let mut common = Some(common);
    let mut common_input: Option<Value> = None;
    let mut last_error = None;
    for (position, entry) in chain.iter().enumerate().skip(start) {
        let c = ctx.checkpoints();
        let order = Order {
            price_tokens: ctx.job.cost_tokens,
            spent_kzt: c.spent_kzt.unwrap_or(0.0),
        };
        let Some((client, model)) = &entry.fal else {
            let by = entry.name.clone();
            let slot = step.slot;
            ctx.checkpoint(crate::jobs::Step::Offline, |c| slot.set(c, None, Some(by)))
                .await?;
            return Ok(Made {
                bytes: None,
                by: entry.name.clone(),
            });
        };
        let (saved_request, saved_by) = step.slot.saved(c);
        let saved = saved_request
            .filter(|_| saved_by == Some(entry.name.as_str()))
            .and_then(|r| serde_json::from_str::<FalRequest>(r).ok());
        let request = match saved {
            Some(r) => r,
            None => {
                let admitted = s
                    .remote
                    .policy
                    .admit(&s.db, position, &entry.name, step.quantity, Some(order))
                    .await?;
                if admitted != Admit::Use {
                    continue;
                }
                if common_input.is_none() {
                    let make = common.take().ok_or_else(|| {
                        StepError::Fail(ErrorClass::Permanent, "input made twice".into())
                    })?;
                    common_input = Some(make().await?);
                }
                let input = (step.input)(model, common_input.as_ref().unwrap_or(&Value::Null));
                ctx.ensure_lease()?;
                let asked = Instant::now();
                match client.submit(model, &input).await {
                    Ok(r) => {
                        let saved = serde_json::to_string(&r).unwrap_or_default();
                        let (now, by, slot) = (crate::db::now_ms(), entry.name.clone(), step.slot);
                        ctx.checkpoint(crate::jobs::Step::ProviderSubmit, |c| {
                            slot.set(c, Some(saved), Some(by));
                            c.submitted_ms.get_or_insert(now);
                        })
                        .await?;
                        r
                    }
                    Err(e) => {
                        failed(s, &entry.name, &e, asked.elapsed()).await?;
                        if !chain::moves_on(&e) {
                            return Err(e.into());
                        }
                        tracing::warn!(entry = %entry.name, error = %e, step = step.slot.name(), "trying the next provider");
                        last_error = Some(StepError::from(e));
                        continue;
                    }
                }
            }
        };
        match client.status(&request).await? {
            fal::FalStatus::InQueue { .. } | fal::FalStatus::InProgress => {
                return Err(StepError::Wait(step.poll))
            }
            fal::FalStatus::Completed => {}
        }
        let waited = ctx
            .checkpoints()
            .submitted_ms
            .map(|t| Duration::from_millis((crate::db::now_ms() - t).max(0) as u64))
            .unwrap_or_default();
        match download_result(client, &request, &step).await {
            Ok(bytes) => {
                let cost = s
                    .remote
                    .policy
                    .succeeded(&s.db, &entry.name, step.quantity, waited)
                    .await?;
                ctx.checkpoint(crate::jobs::Step::ProviderCost, |c| {
                    c.spent_kzt = Some(c.spent_kzt.unwrap_or(0.0) + cost);
                })
                .await?;
                return Ok(Made {
                    bytes: Some(bytes),
                    by: entry.name.clone(),
                });
            }
            Err(e) => {
                failed(s, &entry.name, &e, waited).await?;
                if !chain::moves_on(&e) {
                    return Err(e.into());
                }
                tracing::warn!(entry = %entry.name, error = %e, step = step.slot.name(), "failed: trying the next provider");
                let slot = step.slot;
                ctx.checkpoint(crate::jobs::Step::ProviderFailed, |c| {
                    slot.set(c, None, None)
                })
                .await?;
                last_error = Some(StepError::from(e));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| all_skipped(&step)))
}

/// The finished request's file, downloaded within the step's size and time limits.
async fn download_result(
    client: &FalClient,
    request: &FalRequest,
    step: &FalStep<'_>,
) -> Result<Vec<u8>, crate::providers::ProviderError> {
    let result = client.result(request).await?;
    match (step.output_url)(&result) {
        Some(url) => {
            client
                .download(url, step.max_bytes, step.download_timeout)
                .await
        }
        None => Err(crate::providers::ProviderError::malformed(
            "fal",
            "no file URL in the result",
        )),
    }
}

/// Every entry was skipped (breakers open, or too costly for this order): worth a retry.
fn all_skipped(step: &FalStep<'_>) -> StepError {
    StepError::Fail(
        ErrorClass::Transient,
        format!(
            "every {} provider is skipped for now (circuit breakers open, or too costly for this order)",
            step.slot.name()
        ),
    )
}

/// Records a provider's failure for its breaker; when this one opened the breaker the operator
/// is told (once per incident, not per job).
pub async fn failed(
    s: &Services,
    entry: &str,
    e: &crate::providers::ProviderError,
    took: Duration,
) -> Result<(), StepError> {
    if let Some(alert) = s.remote.policy.failed(&s.db, entry, e, took).await? {
        s.deliver.alert_operator(alert).await;
    }
    Ok(())
}
