//! Pipelines: each product (a `JobSpec` variant) is a sequence of persisted steps run by the
//! queue's workers. A step records what it made (a storage key, or a provider request id with
//! the key that made it) in the job's typed `Checkpoints` before the next one starts, so a
//! retried or resumed job skips finished steps and never pays for a generation twice. Every
//! pipeline ends with an MP4, a thumbnail and its metadata in storage and the delivery step
//! (`delivery`), run by whichever process runs the job; a delivery refused for good fails the
//! job and it is refunded once.
mod brand;
pub mod character;
pub mod delivery;
pub mod fal_chain;
pub mod generate;
pub mod product;
pub mod recompose;
pub mod ugc;
pub mod versions;
pub mod video_backend;

use crate::db::{generations, now_ms, Db};
use crate::failure::{ErrorClass, Failure};
use crate::jobs::{JobKind, JobSpec};
use crate::providers::ProviderError;
use crate::queue::worker::{Handler, JobCtx, StepOutcome};
use crate::storage::{content_key, sha256_file, ObjectStore, Storage};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use delivery::{Deliver, DeliverError, Delivery, Sent};
pub use fal_chain::ChainEntry;

pub struct Services {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub deliver: Arc<dyn Deliver>,
    /// Scratch space for the media work of running jobs.
    pub work_dir: PathBuf,
    pub worker_name: String,
    /// Text/image-to-video providers by tier.
    pub video: video_backend::VideoRouter,
    /// Improves product prompts when configured.
    pub prompt_writer: Option<crate::providers::llm::PromptWriter>,
    /// Remote providers for the steps that have them; `None` makes that step offline.
    pub remote: RemoteProviders,
    /// How long a provider may keep a request waiting before it is cancelled there and the
    /// job refunded, per tier (`PROVIDER_DEADLINE_S`).
    pub provider_deadlines: crate::config::ProviderDeadlines,
}

/// The remote providers of the steps that have fallback chains; empty chains make those
/// steps offline.
#[derive(Default, Clone)]
pub struct RemoteProviders {
    /// The character-edit chain (`IMAGE_EDIT_CHAIN`), tried in order.
    pub image_edits: Vec<ChainEntry>,
    /// The speech chain (`TTS_CHAIN`), shared with the bot's speech preview.
    pub speech: Arc<crate::providers::speech::SpeechChain>,
    /// The talking-head chain (`TALKING_HEAD_CHAIN`), tried in order.
    pub talking_heads: Vec<ChainEntry>,
    /// Breakers (shared by all workers) and the loss check of fallbacks.
    pub policy: crate::providers::chain::ChainPolicy,
}

/// The queue handler that runs every job kind.
pub struct Pipelines(pub Arc<Services>);

impl Handler for Pipelines {
    async fn run(&self, ctx: &mut JobCtx) -> StepOutcome {
        let s = self.0.clone();
        let started = std::time::Instant::now();
        // A row the worker cannot read is named in the log and ends the job (refunded): nothing
        // is bought or made again on a guess.
        let unreadable = match (&ctx.job.spec, &ctx.job.unreadable) {
            (Err(why), _) | (Ok(_), Some(why)) => Some(why.clone()),
            _ => None,
        };
        if let Some(why) = unreadable {
            tracing::error!(job_id = ctx.job.id, kind = %ctx.job.kind, error = %why, "job row unreadable");
            let failure = Failure::internal(
                ErrorClass::Permanent,
                format!("the job cannot be read: {why}"),
            );
            crate::metrics::job_failure(&ctx.job.kind, failure.class, failure.source);
            return StepOutcome::Fail(failure);
        }
        if ctx.cancelled() {
            cancel_at_providers(&s, ctx).await;
            return StepOutcome::Fail(Failure::internal(
                ErrorClass::Permanent,
                "cancelled by the user",
            ));
        }
        let c = ctx.checkpoints();
        let deadline = match &ctx.job.spec {
            Ok(spec) => s.provider_deadlines.for_tier(spec.deadline_tier()),
            Err(_) => s.provider_deadlines.default,
        };
        let at_provider = (c.talking_head_request.is_some() && c.talking_head.is_none())
            || (c.request.is_some() && c.output.is_none());
        let waiting = at_provider
            && c.submitted_ms
                .is_some_and(|t| now_ms() - t > deadline.as_millis() as i64);
        if waiting {
            // Stuck in a provider's queue: the tokens are not held forever.
            cancel_at_providers(&s, ctx).await;
            let minutes = deadline.as_secs().div_ceil(60);
            let failure = Failure {
                class: ErrorClass::Permanent,
                source: "provider_deadline",
                message: format!("the provider did not finish within {minutes} min"),
            };
            crate::metrics::job_failure(&ctx.job.kind, failure.class, failure.source);
            return StepOutcome::Fail(failure);
        }
        let spec = ctx.job.spec.clone();
        let result = match spec {
            Ok(JobSpec::UgcVideo(p)) => ugc::run(&s, ctx, JobKind::UgcVideo, p).await,
            Ok(JobSpec::Recompose(p)) => ugc::run(&s, ctx, JobKind::Recompose, p).await,
            Ok(JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p)) => {
                generate::run(&s, ctx, p).await
            }
            Ok(JobSpec::ProductVideo(p)) => product::run(&s, ctx, p).await,
            Ok(JobSpec::CharacterEdit(p)) => character::run(&s, ctx, p).await,
            Err(why) => Err(StepError::Fail(ErrorClass::Permanent, why)),
        };
        let kind = ctx.job.kind.clone();
        crate::metrics::job_duration(&kind, started.elapsed());
        if let Some(e) = result
            .as_ref()
            .err()
            .filter(|e| !matches!(e, StepError::Wait(_)))
        {
            crate::metrics::job_failure(&kind, e.class(), e.source_name());
            tracing::warn!(class = e.class().name(), source = e.source_name(), message = %e.message(), "attempt failed");
        }
        match result {
            Ok(()) => StepOutcome::Done,
            Err(StepError::Wait(d)) => StepOutcome::Snooze(d),
            Err(e) => StepOutcome::Fail(e.failure()),
        }
    }
}

impl Services {
    /// Runs one step and records how long it took under its name.
    pub async fn timed<T>(&self, step: crate::jobs::Step, work: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out =
            tracing::Instrument::instrument(work, tracing::info_span!("step", step = step.name()))
                .await;
        crate::metrics::step_duration(step, started.elapsed());
        out
    }
}

/// Why a step did not finish, with its typed source: the class and who failed come from the
/// error itself ([`StepError::class`], [`StepError::source_name`]), never from its text.
#[derive(Debug)]
pub enum StepError {
    /// The provider is still working: come back later.
    Wait(std::time::Duration),
    /// A provider failed; its name and class travel with it.
    Provider(ProviderError),
    /// Media work failed: the user's file or a value that cannot be used is bad input.
    Media(media::MediaError),
    /// The object store failed (worth a retry).
    Storage(crate::storage::StorageError),
    /// The database failed or the job's lease was lost (worth a retry).
    Database(crate::db::jobs::QueueError),
    /// The pipeline's own reason.
    Fail(ErrorClass, String),
}

impl StepError {
    pub fn class(&self) -> ErrorClass {
        match self {
            StepError::Wait(_) | StepError::Storage(_) | StepError::Database(_) => {
                ErrorClass::Transient
            }
            StepError::Provider(e) => e.class,
            StepError::Media(e) if e.is_bad_input() => ErrorClass::BadUserInput,
            StepError::Media(_) => ErrorClass::Permanent,
            StepError::Fail(class, _) => *class,
        }
    }

    /// What failed: the provider's name, or `media`, `storage`, `database`, `internal`.
    pub fn source_name(&self) -> &'static str {
        match self {
            StepError::Provider(e) => e.provider,
            StepError::Media(_) => "media",
            StepError::Storage(_) => "storage",
            StepError::Database(_) => "database",
            StepError::Wait(_) | StepError::Fail(..) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            StepError::Wait(d) => format!("waiting {} s on a provider", d.as_secs()),
            StepError::Provider(e) => e.to_string(),
            StepError::Media(e) => e.to_string(),
            StepError::Storage(e) => e.to_string(),
            StepError::Database(e) => e.to_string(),
            StepError::Fail(_, m) => m.clone(),
        }
    }

    /// The failure as it is recorded.
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure {
            class: self.class(),
            source: self.source_name(),
            message: self.message(),
        }
    }
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        Self::Provider(e)
    }
}

impl From<crate::db::jobs::QueueError> for StepError {
    fn from(e: crate::db::jobs::QueueError) -> Self {
        Self::Database(e)
    }
}

impl From<crate::db::DbError> for StepError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Database(e.into())
    }
}

impl From<crate::storage::StorageError> for StepError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<media::MediaError> for StepError {
    fn from(e: media::MediaError) -> Self {
        Self::Media(e)
    }
}

/// A folder for one job's files, removed when the job's run ends.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(root: &Path, job: i64) -> Result<Self, StepError> {
        let dir = root.join(format!("job-{job}-{}", now_ms()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| StepError::Fail(ErrorClass::Transient, format!("scratch folder: {e}")))?;
        Ok(Self(dir))
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A URL a provider can fetch: presigned from S3, or the bytes inline as a data URI.
pub async fn fetchable_url(s: &Services, key: &str, mime: &str) -> Result<String, StepError> {
    if let Some(url) = s
        .storage
        .presigned_get(key, std::time::Duration::from_secs(3600))
        .await?
    {
        return Ok(url);
    }
    let bytes = s.storage.get_bytes(key).await?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
    ))
}

/// Stores a produced file under its content key and returns the key.
pub async fn store_file(
    storage: &Storage,
    kind: &str,
    path: &Path,
    ext: &str,
    content_type: &str,
) -> Result<String, StepError> {
    let key = content_key(kind, &sha256_file(path)?, ext);
    if !storage.exists(&key).await? {
        storage.put_file(&key, path, content_type).await?;
    }
    Ok(key)
}

/// The largest video we hand over: what a bot may upload through the cloud Bot API (50 MB).
pub const MAX_DELIVERY_BYTES: u64 = 50 * 1024 * 1024;

/// Makes a provider's clip ready for Telegram and the platforms (see
/// [`media::make_deliverable`]): kept, remuxed with the index in front, or re-encoded to
/// H.264/AAC under [`MAX_DELIVERY_BYTES`] — never delivered as something that plays badly or
/// failed for being too big.
pub async fn conform_clip(
    input: &std::path::Path,
    output: &std::path::Path,
    cancel: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<media::Deliverable, StepError> {
    let (i, o, c) = (input.to_path_buf(), output.to_path_buf(), cancel.clone());
    let made = tokio::task::spawn_blocking(move || {
        media::make_deliverable(&i, &o, MAX_DELIVERY_BYTES, &c)
    })
    .await
    .map_err(|e| StepError::Fail(ErrorClass::Permanent, e.to_string()))??;
    tracing::info!(
        action = ?made.action,
        reasons = %made.reasons.join("; "),
        size_bytes = made.size_bytes,
        "provider clip made deliverable"
    );
    Ok(made)
}

/// The last steps of every pipeline: fetch the stored MP4 and thumbnail (and the extra
/// formats, `(format, key)`, delivered with it as one album), record the generation once, and
/// deliver it once (see [`delivery`]).
pub async fn deliver_output(
    s: &Services,
    ctx: &mut JobCtx,
    kind: JobKind,
    keys: (&str, &str),
    more: &[(String, String)],
    scratch: &Scratch,
) -> Result<(), StepError> {
    let versions = match &ctx.job.spec {
        Ok(crate::jobs::JobSpec::UgcVideo(p)) => p.versions.clone(),
        _ => None,
    };
    if ctx.checkpoints().delivered.is_some() {
        // An album sent before a failure: its members are told how it went.
        if let Some(v) = &versions {
            versions::after_delivered(s, ctx, v).await?;
        }
        return Ok(());
    }
    let Some(v) = versions else {
        let delivery = prepare_delivery(s, ctx, kind, keys, more, scratch).await?;
        return delivery::deliver_once(s, ctx, delivery::Outbound::Video(&delivery)).await;
    };
    // A language version: in /history from the moment it is made, then sent with the others.
    if ctx.checkpoints().generation.is_none() {
        prepare_delivery(s, ctx, kind, keys, more, scratch).await?;
    }
    let alone = match versions::turn(s, ctx, &v).await? {
        versions::Turn::Settled => return Ok(()),
        versions::Turn::Send => false,
        versions::Turn::Alone => true,
    };
    let delivery = prepare_delivery(s, ctx, kind, keys, more, scratch).await?;
    versions::send(s, ctx, &v, delivery, scratch, alone).await
}

/// The stored result fetched for its delivery (every format), recorded as a generation for
/// `/history` the first time.
async fn prepare_delivery(
    s: &Services,
    ctx: &mut JobCtx,
    kind: JobKind,
    (output_key, thumbnail_key): (&str, &str),
    more: &[(String, String)],
    scratch: &Scratch,
) -> Result<Delivery, StepError> {
    let (video, thumbnail) = (scratch.file("deliver.mp4"), scratch.file("deliver.jpg"));
    s.storage.get_to_file(output_key, &video).await?;
    s.storage.get_to_file(thumbnail_key, &thumbnail).await?;
    let (width, height, duration_s) = video_shape(&video)?;
    let mut formats = Vec::with_capacity(more.len());
    for (i, (format, key)) in more.iter().enumerate() {
        let path = scratch.file(&format!("deliver-{i}.mp4"));
        s.storage.get_to_file(key, &path).await?;
        let (width, height, duration_s) = video_shape(&path)?;
        formats.push(delivery::MoreFormat {
            label: format.clone(),
            video: path,
            width,
            height,
            duration_s,
        });
    }
    let delivery = Delivery {
        user_id: ctx.job.user_id,
        job_id: ctx.job.id,
        video: video.clone(),
        thumbnail: thumbnail.clone(),
        width,
        height,
        duration_s,
        more: formats,
        variant: match &ctx.job.spec {
            Ok(crate::jobs::JobSpec::UgcVideo(p)) => p.variant.clone(),
            _ => None,
        },
        language: None,
        versions: Vec::new(),
    };
    if ctx.checkpoints().generation.is_none() {
        let g = generations::record(
            &s.db,
            generations::NewGeneration {
                job_id: ctx.job.id,
                user_id: ctx.job.user_id,
                kind: kind.name(),
                output_key,
                thumbnail_key,
                width: delivery.width,
                height: delivery.height,
                duration_s: delivery.duration_s,
            },
        )
        .await?;
        ctx.checkpoint(crate::jobs::Step::Generation, |c| c.generation = Some(g))
            .await?;
    }
    Ok(delivery)
}

/// A stored result's display size and length.
fn video_shape(path: &std::path::Path) -> Result<(u32, u32, f64), StepError> {
    let info = media::probe(path)?;
    let v = info
        .video
        .as_ref()
        .ok_or_else(|| StepError::Fail(ErrorClass::Permanent, "the result has no video".into()))?;
    Ok((v.display_width, v.display_height, info.duration_s))
}

/// A cancelled job's requests still queued at a provider are cancelled there (fal has a
/// cancel URL; the others bill what they started and have none), best effort.
async fn cancel_at_providers(s: &Services, ctx: &JobCtx) {
    let c = ctx.checkpoints();
    let client_of = |chain: &[ChainEntry]| {
        chain
            .iter()
            .find_map(|e| e.fal.as_ref().map(|(client, _)| client.clone()))
    };
    let saved = [
        (
            c.talking_head_request.as_deref(),
            client_of(&s.remote.talking_heads),
        ),
        (c.request.as_deref(), client_of(&s.remote.image_edits)),
    ];
    for (request, client) in saved {
        let (Some(request), Some(client)) = (request, client) else {
            continue;
        };
        let Ok(request) = serde_json::from_str::<crate::providers::fal::FalRequest>(request) else {
            continue;
        };
        match client.cancel(&request).await {
            Ok(()) => tracing::info!(provider = "fal", "request cancelled at the provider"),
            Err(e) => {
                tracing::warn!(provider = "fal", error = %e, "cancelling at the provider failed")
            }
        }
    }
}

impl RemoteProviders {
    /// The chains of the configuration, each entry kept only when its provider has keys (and
    /// `PROVIDERS=remote`); `local` always works.
    pub fn from_config(
        cfg: &crate::config::Config,
        http: &reqwest::Client,
        prices: Option<Arc<crate::pricing::PriceTable>>,
    ) -> Self {
        use crate::providers::{elevenlabs, fal, openai_speech, speech};
        let remote_on = cfg.providers == crate::config::Providers::Remote;
        let keys = |p: &str| {
            cfg.api_keys
                .get(p)
                .cloned()
                .filter(|k| !k.is_empty() && remote_on)
        };
        let base = |p: &str| cfg.provider_urls.get(p).map(String::as_str);
        let fal = keys("fal").map(|k| Arc::new(fal::FalClient::new(http.clone(), k, base("fal"))));
        let fal_chain = |chain: &[(String, String)]| -> Vec<ChainEntry> {
            chain
                .iter()
                .filter_map(|(provider, model)| match (provider.as_str(), &fal) {
                    ("fal", Some(client)) => Some(ChainEntry::fal(client.clone(), model)),
                    ("local", _) => Some(ChainEntry::local()),
                    _ => None,
                })
                .collect()
        };
        let eleven = keys("elevenlabs").map(|k| {
            Arc::new(elevenlabs::ElevenLabs::new(
                http.clone(),
                k,
                base("elevenlabs"),
            ))
        });
        let openai = keys("openai").map(|k| {
            Arc::new(openai_speech::OpenAiSpeech::new(
                http.clone(),
                k,
                base("openai"),
            ))
        });
        let speech_entries = cfg
            .chains
            .tts
            .iter()
            .filter_map(|(provider, model)| {
                let name = crate::config::Chains::entry_name(provider, model);
                let engine = match (provider.as_str(), &eleven, &openai) {
                    ("elevenlabs", Some(c), _) => {
                        speech::Engine::ElevenLabs(c.clone(), model.clone())
                    }
                    ("openai", _, Some(c)) => speech::Engine::OpenAi(c.clone(), model.clone()),
                    ("local", _, _) => speech::Engine::Local,
                    _ => return None,
                };
                Some(speech::Entry { name, engine })
            })
            .collect();
        let policy = crate::providers::chain::ChainPolicy {
            breakers: crate::providers::health::BreakerSettings {
                failures: cfg.chains.failures,
                failure_rate: cfg.chains.failure_rate,
                cooldown: std::time::Duration::from_secs(cfg.chains.cooldown_s.max(0) as u64),
            },
            prices,
            allow_loss: cfg.chains.allow_loss,
        };
        Self {
            image_edits: fal_chain(&cfg.chains.image_edit),
            speech: Arc::new(speech::SpeechChain {
                entries: speech_entries,
                policy: policy.clone(),
            }),
            talking_heads: fal_chain(&cfg.chains.talking_head),
            policy,
        }
    }

    /// The chains' entry names, for the start-up log.
    pub fn describe(&self) -> String {
        let names = |chain: &[ChainEntry]| {
            chain
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        };
        let speech: Vec<&str> = self
            .speech
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        format!(
            "speech: {}; talking head: {}; image edit: {}",
            speech.join(" → "),
            names(&self.talking_heads),
            names(&self.image_edits)
        )
    }
}
