//! Pipelines: each product is a sequence of persisted steps run by the queue's workers. A
//! step records what it made (a storage key or a provider request id) in the job's
//! `provider_ids` before the next one starts, so a retried or resumed job skips finished steps
//! and never pays for a generation twice. Every pipeline ends with an MP4, a thumbnail and its
//! metadata in storage, handed to the deliverer (the bot); a failed delivery fails the job and
//! the queue refunds it once.
pub mod character;
pub mod generate;
pub mod product;
pub mod recompose;
pub mod ugc;
pub mod video_backend;

use crate::db::{now_ms, Db};
use crate::failure::ErrorClass;
use crate::on_db;
use crate::providers::ProviderError;
use crate::queue::worker::{Handler, JobCtx, StepOutcome};
use crate::storage::{content_key, sha256_file, ObjectStore, Storage};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

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
}

/// Sends a finished video to its user and returns the platform's file id (Telegram's
/// `file_id`, cached for re-sends).
pub trait Deliver: Send + Sync {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>>;

    /// Sends an image (a character edit) for the user to accept or edit again.
    fn deliver_photo<'a>(
        &'a self,
        user_id: i64,
        job_id: i64,
        photo: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send + 'a>> {
        let _ = (user_id, job_id, photo);
        Box::pin(async { Ok(String::new()) })
    }
}

pub struct Services {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub deliver: Arc<dyn Deliver>,
    /// Scratch space for the media work of running jobs.
    pub work_dir: PathBuf,
    pub worker_name: String,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Text/image-to-video providers by tier.
    pub video: video_backend::VideoRouter,
    /// Improves product prompts when configured.
    pub prompt_writer: Option<crate::providers::llm::PromptWriter>,
    /// Remote providers for the steps that have them; `None` makes that step offline.
    pub remote: RemoteProviders,
}

/// The remote clients the pipelines use when configured with keys.
#[derive(Default, Clone)]
pub struct RemoteProviders {
    /// nano-banana edit on fal, for character edits.
    pub image_editor: Option<Arc<crate::providers::fal::FalClient>>,
    /// ElevenLabs speech with word timings, for UGC scripts.
    pub tts: Option<Arc<crate::providers::elevenlabs::ElevenLabs>>,
    /// OmniHuman on fal, for UGC talking heads.
    pub talking_head: Option<Arc<crate::providers::fal::FalClient>>,
}

/// The queue handler that runs every job kind.
pub struct Pipelines(pub Arc<Services>);

impl Handler for Pipelines {
    async fn run(&self, ctx: &mut JobCtx) -> StepOutcome {
        let s = self.0.clone();
        let started = std::time::Instant::now();
        let result = match ctx.job.kind.as_str() {
            "ugc_video" => ugc::run(&s, ctx).await,
            "text_to_video" | "image_to_video" => generate::run(&s, ctx).await,
            "product_video" => product::run(&s, ctx).await,
            "character_edit" => character::run(&s, ctx).await,
            "recompose" => ugc::run(&s, ctx).await,
            other => Err(StepError::Fail(
                ErrorClass::Permanent,
                format!("unknown job kind '{other}'"),
            )),
        };
        s.metrics.observe_step(&ctx.job.kind, started.elapsed());
        if let Err(StepError::Fail(class, _)) = &result {
            s.metrics.count_failure(&ctx.job.kind, class.name());
        }
        match result {
            Ok(()) => StepOutcome::Done,
            Err(StepError::Wait(d)) => StepOutcome::Snooze(d),
            Err(StepError::Fail(class, message)) => StepOutcome::Fail(class, message),
        }
    }
}

impl Services {
    /// Runs one step and records how long it took under its name.
    pub async fn timed<T>(&self, step: &str, work: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        self.metrics.observe_step(step, started.elapsed());
        out
    }
}

/// Why a step did not finish.
#[derive(Debug)]
pub enum StepError {
    /// The provider is still working: come back later.
    Wait(std::time::Duration),
    Fail(ErrorClass, String),
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        Self::Fail(e.class, e.to_string())
    }
}

impl From<crate::queue::QueueError> for StepError {
    fn from(e: crate::queue::QueueError) -> Self {
        Self::Fail(ErrorClass::Transient, e.to_string())
    }
}

impl From<crate::storage::StorageError> for StepError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Fail(ErrorClass::Transient, e.to_string())
    }
}

impl From<media::MediaError> for StepError {
    fn from(e: media::MediaError) -> Self {
        let class = if e.is_bad_input() {
            ErrorClass::BadUserInput
        } else {
            ErrorClass::Permanent
        };
        Self::Fail(class, e.to_string())
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

/// The last steps of every pipeline: fetch the stored MP4 and thumbnail, record the
/// generation once (step `generation`), hand it to the deliverer and keep the file id it gets.
pub async fn deliver_output(
    s: &Services,
    ctx: &mut JobCtx,
    kind: &str,
    output_key: &str,
    thumbnail_key: &str,
    scratch: &Scratch,
) -> Result<(), StepError> {
    let (video, thumbnail) = (scratch.file("deliver.mp4"), scratch.file("deliver.jpg"));
    s.storage.get_to_file(output_key, &video).await?;
    s.storage.get_to_file(thumbnail_key, &thumbnail).await?;
    let info = media::probe(&video)?;
    let v = info
        .video
        .as_ref()
        .ok_or_else(|| StepError::Fail(ErrorClass::Permanent, "the result has no video".into()))?;
    let delivery = Delivery {
        user_id: ctx.job.user_id,
        job_id: ctx.job.id,
        video: video.clone(),
        thumbnail: thumbnail.clone(),
        width: v.display_width,
        height: v.display_height,
        duration_s: info.duration_s,
    };
    let generation = match ctx
        .provider_id("generation")
        .and_then(|g| g.parse::<i64>().ok())
    {
        Some(g) => g,
        None => {
            let g = record_generation(
                &s.db,
                ctx.job.id,
                ctx.job.user_id,
                kind,
                output_key,
                thumbnail_key,
                &delivery,
            )
            .await?;
            ctx.save_provider_id("generation", &g.to_string()).await?;
            g
        }
    };
    let file_id = s.timed("delivery", s.deliver.deliver(&delivery)).await?;
    set_file_id(&s.db, generation, &file_id).await
}

/// Records the finished video for "my generations" and re-sends.
pub async fn record_generation(
    db: &Db,
    job: i64,
    user: i64,
    kind: &str,
    output_key: &str,
    thumbnail_key: &str,
    d: &Delivery,
) -> Result<i64, StepError> {
    let id: i64 = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO generations (job_id, user_id, kind, output_key, thumbnail_key, width, height, duration_ms, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(job)
    .bind(user)
    .bind(kind)
    .bind(output_key)
    .bind(thumbnail_key)
    .bind(i64::from(d.width))
    .bind(i64::from(d.height))
    .bind((d.duration_s * 1000.0) as i64)
    .bind(now_ms())
    .fetch_one(p)
    .await
    .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?);
    Ok(id)
}

pub async fn set_file_id(db: &Db, generation: i64, file_id: &str) -> Result<(), StepError> {
    on_db!(db, p => sqlx::query("UPDATE generations SET telegram_file_id = $2 WHERE id = $1")
        .bind(generation)
        .bind(file_id)
        .execute(p)
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?
        .rows_affected());
    Ok(())
}
