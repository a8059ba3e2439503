//! Worker processes: claim, heartbeat, run the job's handler, record the outcome. Global
//! concurrency is a semaphore; shutdown stops claiming, waits a grace period for running jobs
//! and releases the rest back to the queue.
use super::{
    cancel_running, claim_next, complete, fail, heartbeat, snooze, ClaimedJob, QueueError,
};
use crate::db::Db;
use crate::failure::ErrorClass;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// How one run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Done,
    /// Waiting on a provider: come back later without using up an attempt.
    Snooze(Duration),
    Fail(ErrorClass, String),
}

/// What a handler gets: the job, the database, and a cancel flag set when the user cancels.
pub struct JobCtx {
    pub db: Db,
    pub job: ClaimedJob,
    pub cancel: Arc<AtomicBool>,
}

impl JobCtx {
    pub fn provider_id(&self, step: &str) -> Option<String> {
        self.job.provider_id(step)
    }
    /// Save before waiting on the provider: after a crash the job resumes polling this id.
    pub async fn save_provider_id(
        &mut self,
        step: &str,
        request_id: &str,
    ) -> Result<(), QueueError> {
        super::save_provider_id(&self.db, &mut self.job, step, request_id).await
    }
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
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
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        match claim_next(&db, &cfg.name, cfg.lease, cfg.per_user_running).await {
            Ok(Some(job)) => {
                let (db, handler, lease) = (db.clone(), handler.clone(), cfg.lease);
                running.spawn(async move {
                    let _permit = permit;
                    run_one(db, handler, job, lease).await
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll) => {}
                    _ = shutdown.changed() => break,
                }
            }
            Err(e) => {
                drop(permit);
                eprintln!("{}: claim failed: {e}", cfg.name);
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
    release_held(&db, &cfg.name).await;
}

/// Jobs this worker still holds after its tasks were stopped go back to the queue now rather
/// than waiting for their leases to expire.
async fn release_held(db: &Db, worker: &str) {
    let now = crate::db::now_ms();
    let _ = crate::on_db!(db, p => sqlx::query(
        "UPDATE jobs SET state = 'queued', run_at_ms = $2, attempts = attempts - 1, lease_until_ms = NULL, updated_ms = $2
         WHERE worker = $1 AND state = 'running'",
    )
    .bind(worker)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()));
}

async fn run_one<H: Handler>(db: Db, handler: Arc<H>, job: ClaimedJob, lease: Duration) {
    let cancel = Arc::new(AtomicBool::new(false));
    // Aborted on drop too, so a handler that panics or a task that is killed stops renewing
    // the lease, and another worker can take the job over when it runs out.
    let beat = AbortOnDrop(tokio::spawn(keep_lease(
        db.clone(),
        job.clone(),
        lease,
        cancel.clone(),
    )));
    let mut ctx = JobCtx {
        db: db.clone(),
        job,
        cancel: cancel.clone(),
    };
    let outcome = handler.run(&mut ctx).await;
    drop(beat);
    let job = ctx.job;
    let result = if cancel.load(Ordering::Relaxed) {
        cancel_running(&db, &job).await
    } else {
        match outcome {
            StepOutcome::Done => complete(&db, &job).await,
            StepOutcome::Snooze(d) => snooze(&db, &job, d).await,
            StepOutcome::Fail(class, msg) => {
                fail(&db, &job, class, &msg, jitter()).await.map(|_| ())
            }
        }
    };
    if let Err(e) = result {
        // A lost lease means another worker owns the job now: nothing to do here.
        eprintln!("job {}: {e}", job.id);
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Heartbeats at a third of the lease and watches for a user's cancel request.
async fn keep_lease(db: Db, job: ClaimedJob, lease: Duration, cancel: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        if heartbeat(&db, &job, lease).await.is_err() {
            return;
        }
        if super::cancel_requested(&db, job.id).await.unwrap_or(false) {
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
