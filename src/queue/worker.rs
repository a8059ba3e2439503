//! Worker processes: claim, heartbeat, run the job's handler, record the outcome. Global
//! concurrency is a semaphore; shutdown stops claiming, waits a grace period for running jobs
//! and releases the rest back to the queue.
use crate::db::jobs::{
    cancel_running, claim_batch, complete, complete_batch, fail, heartbeat, snooze, ClaimedJob,
    QueueError,
};
use crate::db::Db;
use crate::failure::{ErrorClass, Failure};
use crate::jobs::Checkpoints;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch, Semaphore};

/// How one run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Done,
    /// Waiting on a provider: come back later without using up an attempt.
    Snooze(Duration),
    Fail(Failure),
}

/// What a handler gets: the job, the database, and a cancel flag set when the user cancels.
pub struct JobCtx {
    pub db: Db,
    pub job: ClaimedJob,
    pub cancel: Arc<AtomicBool>,
    /// Set when a heartbeat finds the job taken over: the handler must stop before its next
    /// side effect.
    pub lease_lost: Arc<AtomicBool>,
}

impl JobCtx {
    /// What earlier steps (and earlier attempts) of this job have made.
    pub fn checkpoints(&self) -> &Checkpoints {
        &self.job.checkpoints
    }
    /// Records what `step` made before the next step starts (a provider request id before
    /// waiting on it): after a crash the job resumes from here.
    /// Saves that the upload to the user begins; `false` when the user cancelled first (the
    /// cancel flag is set then, and nothing may be sent).
    pub async fn begin_delivery(&mut self, started_ms: i64) -> Result<bool, QueueError> {
        let mut next = self.job.checkpoints.clone();
        next.delivery_started_ms = Some(started_ms);
        let began = crate::db::jobs::begin_delivery(&self.db, &mut self.job, next).await?;
        if !began {
            self.cancel.store(true, Ordering::SeqCst);
        }
        Ok(began)
    }

    pub async fn checkpoint(
        &mut self,
        step: crate::jobs::Step,
        update: impl FnOnce(&mut Checkpoints),
    ) -> Result<(), QueueError> {
        let mut next = self.job.checkpoints.clone();
        update(&mut next);
        crate::db::jobs::save_checkpoints(&self.db, &mut self.job, step.name(), next).await
    }
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
    /// Call before a side effect outside the database (a provider submit, an upload, a
    /// delivery): fails once another worker owns the job.
    pub fn ensure_lease(&self) -> Result<(), QueueError> {
        if self.lease_lost.load(Ordering::SeqCst) {
            Err(QueueError::LeaseLost(self.job.id))
        } else {
            Ok(())
        }
    }
}

pub trait Handler: Send + Sync + 'static {
    fn run(&self, ctx: &mut JobCtx) -> impl Future<Output = StepOutcome> + Send;
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub per_user_running: i64,
    /// How long shutdown waits for running jobs before releasing them.
    pub grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", std::process::id()),
            concurrency: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            per_user_running: 2,
            grace: Duration::from_secs(30),
        }
    }
}

/// Runs until `shutdown` turns true, then drains as described above.
pub async fn run_worker<H: Handler>(
    db: Db,
    handler: Arc<H>,
    cfg: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let mut running = tokio::task::JoinSet::new();
    let (completer, completing) = Completer::start(db.clone());
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        // Every free slot is filled by one claim (one transaction for all of them).
        let mut slots = vec![permit];
        while slots.len() < MAX_BATCH {
            match permits.clone().try_acquire_owned() {
                Ok(p) => slots.push(p),
                Err(_) => break,
            }
        }
        match claim_batch(&db, &cfg.name, cfg.lease, cfg.per_user_running, slots.len()).await {
            Ok(jobs) if !jobs.is_empty() => {
                for job in jobs {
                    let Some(permit) = slots.pop() else { break };
                    let (db, handler, lease) = (db.clone(), handler.clone(), cfg.lease);
                    let completer = completer.clone();
                    let span = tracing::info_span!("job", job_id = job.id, user_id = job.user_id, kind = %job.kind, attempt = job.attempts);
                    running.spawn(tracing::Instrument::instrument(
                        async move {
                            let _permit = permit;
                            run_one(db, handler, job, lease, completer).await
                        },
                        span,
                    ));
                }
            }
            Ok(_) => {
                drop(slots);
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll) => {}
                    _ = shutdown.changed() => break,
                }
            }
            Err(e) => {
                drop(slots);
                tracing::warn!(worker = %cfg.name, error = %e, "claim failed");
                tokio::time::sleep(cfg.poll).await;
            }
        }
        while running.try_join_next().is_some() {}
    }
    // Graceful stop: no new claims; wait for running jobs, then give the rest back.
    let deadline = tokio::time::Instant::now() + cfg.grace;
    while !running.is_empty() {
        if tokio::time::timeout_at(deadline, running.join_next())
            .await
            .is_err()
        {
            break;
        }
    }
    running.abort_all();
    while running.join_next().await.is_some() {}
    drop(completer);
    let _ = completing.await;
    release_held(&db, &cfg.name).await;
}

/// The most jobs one claim takes (and one completion records).
const MAX_BATCH: usize = 32;

/// Records finished jobs as done, together when several finish at once: one transaction
/// for the batch instead of two statements per job. A handler's task waits for its own
/// answer, so a job is only reported done once it is recorded.
#[derive(Clone)]
struct Completer {
    jobs: tokio::sync::mpsc::UnboundedSender<Finished>,
    db: Db,
}

/// A finished job and where its "recorded" answer goes.
type Finished = (ClaimedJob, oneshot::Sender<Result<(), QueueError>>);

impl Completer {
    fn start(db: Db) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Finished>();
        let completer = Self {
            jobs,
            db: db.clone(),
        };
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                let pairs: Vec<(i64, i64)> =
                    batch.iter().map(|(j, _)| (j.id, j.lease_token)).collect();
                match complete_batch(&db, &pairs).await {
                    Ok(held) => {
                        for ((job, reply), held) in batch.into_iter().zip(held) {
                            let _ = reply.send(if held {
                                Ok(())
                            } else {
                                Err(QueueError::LeaseLost(job.id))
                            });
                        }
                    }
                    // The batch failed as a whole: each job is recorded on its own, so each
                    // gets its own answer (and one bad row cannot hold the others back).
                    Err(e) => {
                        tracing::warn!(error = %e, jobs = batch.len(), "recording a batch of finished jobs failed; one by one");
                        for (job, reply) in batch {
                            let _ = reply.send(complete(&db, &job).await);
                        }
                    }
                }
            }
        }));
        (completer, task)
    }

    /// Records `job` done (with the others finishing now); on its own if the batching task
    /// is gone.
    async fn complete(&self, job: &ClaimedJob) -> Result<(), QueueError> {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((job.clone(), reply)).is_err() {
            return complete(&self.db, job).await;
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => complete(&self.db, job).await,
        }
    }
}

/// Jobs this worker still holds after its tasks were stopped go back to the queue now rather
/// than waiting for their leases to expire.
async fn release_held(db: &Db, worker: &str) {
    if let Err(e) = crate::db::jobs::release_all_held(db, worker).await {
        tracing::warn!(worker, error = %e, "could not give held jobs back");
    }
}

async fn run_one<H: Handler>(
    db: Db,
    handler: Arc<H>,
    job: ClaimedJob,
    lease: Duration,
    completer: Completer,
) {
    let cancel = Arc::new(AtomicBool::new(job.cancel_requested));
    let lease_lost = Arc::new(AtomicBool::new(false));
    // Aborted on drop too, so a handler that panics or a task that is killed stops renewing
    // the lease, and another worker can take the job over when it runs out.
    let beat = AbortOnDrop(tokio::spawn(keep_lease(
        db.clone(),
        job.clone(),
        lease,
        cancel.clone(),
        lease_lost.clone(),
    )));
    let mut ctx = JobCtx {
        db: db.clone(),
        job,
        cancel: cancel.clone(),
        lease_lost,
    };
    let started = std::time::Instant::now();
    let claimed = ctx.job.clone();
    // The handler runs in its own task so a panic (a bug, or an input that crashes the code)
    // is caught here: it counts as a failed attempt, retried until the attempts run out and
    // then refunded, instead of leaving the job to be re-claimed forever.
    let run = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let outcome = handler.run(&mut ctx).await;
        (outcome, ctx.job)
    }));
    let (outcome, job) = match run.await {
        Ok(done) => done,
        Err(e) => {
            let what = panic_message(e);
            tracing::error!(panic = %what, "the job's handler panicked");
            let failure =
                Failure::internal(ErrorClass::Transient, format!("internal error: {what}"));
            crate::metrics::job_failure(&claimed.kind, failure.class, failure.source);
            (StepOutcome::Fail(failure), claimed)
        }
    };
    drop(beat);
    let took_ms = started.elapsed().as_millis() as u64;
    // A cancel that lands once the upload to the user has begun is not applied: the job ends
    // delivered and paid (the user was told it is too late), never delivered and refunded.
    // Read afresh: a panicking handler's checkpoints are only in the database.
    let saved = crate::db::jobs::job(&db, job.id)
        .await
        .ok()
        .flatten()
        .map(|row| row.checkpoints)
        .unwrap_or_else(|| job.checkpoints.clone());
    let upload_began = saved.delivery_started_ms.is_some() || saved.delivered.is_some();
    let result = if cancel.load(Ordering::Relaxed) && !upload_began {
        tracing::info!(took_ms, "cancelled by the user");
        crate::metrics::job_finished(&job.kind, "cancelled");
        cancel_running(&db, &job).await
    } else {
        match outcome {
            StepOutcome::Done => {
                tracing::info!(took_ms, "job done");
                crate::metrics::job_finished(&job.kind, "done");
                completer.complete(&job).await
            }
            StepOutcome::Snooze(d) => {
                tracing::debug!(
                    took_ms,
                    wait_ms = d.as_millis() as u64,
                    "waiting on a provider"
                );
                snooze(&db, &job, d).await
            }
            StepOutcome::Fail(failure) => {
                let outcome = fail(&db, &job, &failure, jitter()).await;
                if let Ok(crate::db::jobs::FailOutcome::Refunded) = outcome {
                    tracing::info!(
                        took_ms,
                        class = failure.class.name(),
                        source = failure.source,
                        "job failed; refunded"
                    );
                    crate::metrics::job_finished(&job.kind, "failed");
                }
                outcome.map(|_| ())
            }
        }
    };
    if let Err(e) = result {
        // A lost lease means another worker owns the job now: nothing to do here.
        tracing::warn!(job_id = job.id, error = %e, "recording the outcome failed");
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Heartbeats at a third of the lease and watches for a user's cancel request. A transient
/// error (the database busy or briefly unreachable) is retried at the next beat while the
/// lease still runs; a lost lease (or one run out) tells the handler to stop.
async fn keep_lease(
    db: Db,
    job: ClaimedJob,
    lease: Duration,
    cancel: Arc<AtomicBool>,
    lease_lost: Arc<AtomicBool>,
) {
    let beat = (lease / 6).max(Duration::from_millis(50));
    let mut valid_until = tokio::time::Instant::now() + lease;
    let mut tick = tokio::time::interval(beat);
    tick.tick().await;
    loop {
        tick.tick().await;
        match heartbeat(&db, &job, lease).await {
            Ok(()) => valid_until = tokio::time::Instant::now() + lease,
            Err(QueueError::LeaseLost(_)) => {
                tracing::warn!(job_id = job.id, "lease lost: another worker owns the job");
                lease_lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(job_id = job.id, error = %e, "heartbeat failed; retrying");
                if tokio::time::Instant::now() + beat >= valid_until {
                    lease_lost.store(true, Ordering::SeqCst);
                    return;
                }
                continue;
            }
        }
        if crate::db::jobs::cancel_requested(&db, job.id)
            .await
            .unwrap_or(false)
        {
            cancel.store(true, Ordering::Relaxed);
        }
    }
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// What a panicked task said, for the log and the job's error message.
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}
