//! What the job tests share: a stand-in for the bot that records deliveries (or refuses them
//! like Telegram's 400), the services with offline defaults, and a worker run until the given
//! jobs finish.
#![allow(dead_code)]
use reelforge::db::jobs::{self as queue, JobRow};
use reelforge::db::Db;
use reelforge::failure::ErrorClass;
use reelforge::jobs::JobState;
use reelforge::pipelines::delivery::DeliverFuture;
use reelforge::pipelines::video_backend::VideoRouter;
use reelforge::pipelines::Services;
use reelforge::pipelines::{Deliver, DeliverError, Delivery, Pipelines, RemoteProviders, Sent};
use reelforge::providers::ProviderError;
use reelforge::queue::worker::{run_worker, WorkerConfig};
use reelforge::storage::folder::FolderStore;
use reelforge::storage::Storage;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Bot {
    pub videos: Mutex<Vec<(Delivery, serde_json::Value)>>,
    pub photos: Mutex<Vec<serde_json::Value>>,
    pub refuse: bool,
    /// Albums carrying more than one language version are refused (a file Telegram will not
    /// take among them).
    pub refuse_albums: bool,
    /// The process "dies" right after Telegram received the upload (before it answered).
    pub crash_after_upload: std::sync::atomic::AtomicBool,
    /// Jobs whose user was offered "didn't get it? send again".
    pub resend_offers: Mutex<Vec<i64>>,
    /// What the operator was alerted about.
    pub alerts: Mutex<Vec<String>>,
}

impl Bot {
    pub fn refusing() -> Self {
        Self {
            refuse: true,
            ..Self::default()
        }
    }
    pub fn delivered(&self) -> Vec<Delivery> {
        self.videos
            .lock()
            .unwrap()
            .iter()
            .map(|(d, _)| d.clone())
            .collect()
    }
}

impl Deliver for Bot {
    fn alert_operator(&self, text: String) -> DeliverFuture<'_, ()> {
        self.alerts.lock().unwrap().push(text);
        Box::pin(async {})
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a, Result<Sent, DeliverError>> {
        Box::pin(async move {
            if self.refuse || (self.refuse_albums && d.versions.len() > 1) {
                return Err(DeliverError::NotSent(ProviderError::new(
                    "telegram",
                    ErrorClass::BadUserInput,
                    "400 Bad Request: wrong file identifier/HTTP URL specified",
                )));
            }
            let probe = crate::common::ffprobe(&d.video);
            self.videos.lock().unwrap().push((d.clone(), probe));
            if self
                .crash_after_upload
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                panic!("the worker died while Telegram was answering");
            }
            Ok(Sent {
                message_id: 1,
                file_id: "BAACAgIAAxkBAAI-file-id".to_string(),
            })
        })
    }
    fn deliver_photo<'a>(
        &'a self,
        _user: i64,
        _job: i64,
        photo: &'a Path,
    ) -> DeliverFuture<'a, Result<Sent, DeliverError>> {
        Box::pin(async move {
            self.photos
                .lock()
                .unwrap()
                .push(crate::common::ffprobe(photo));
            Ok(Sent {
                message_id: 2,
                file_id: "photo-file-id".to_string(),
            })
        })
    }
    fn offer_resend(&self, _user: i64, job: i64) -> DeliverFuture<'_, Result<(), ProviderError>> {
        self.resend_offers.lock().unwrap().push(job);
        Box::pin(async { Ok(()) })
    }
}

/// A folder store under `dir` with the offline defaults; adjust the fields before use.
pub fn services(db: &Db, dir: &Path, bot: Arc<dyn Deliver>) -> Services {
    // As `serve` and `worker` do at start: what the workers record lands in the registry.
    reelforge::metrics::install();
    Services {
        db: db.clone(),
        storage: Arc::new(Storage::Folder(
            FolderStore::new(dir.join("files")).unwrap(),
        )),
        deliver: bot,
        work_dir: dir.join("work"),
        worker_name: "w".into(),
        video: VideoRouter::local(),
        prompt_writer: None,
        remote: RemoteProviders::default(),
        provider_deadlines: reelforge::config::ProviderDeadlines::uniform(Duration::from_secs(
            1800,
        )),
    }
}

/// Services as [`services`] with the gallery portrait `gallery/anna.jpg` stored.
pub async fn services_with_portrait(db: &Db, dir: &Path, bot: Arc<dyn Deliver>) -> Services {
    let services = services(db, dir, bot);
    reelforge::storage::ObjectStore::put_file(
        services.storage.as_ref(),
        "gallery/anna.jpg",
        Path::new(crate::common::ASTRONAUT),
        "image/jpeg",
    )
    .await
    .unwrap();
    services
}

/// A worker (`concurrency` jobs at a time) running until the returned sender fires.
pub fn spawn_worker(
    db: &Db,
    services: impl Into<Arc<Services>>,
    concurrency: usize,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    spawn_worker_with_lease(db, services, concurrency, Duration::from_secs(30))
}

/// Like [`spawn_worker`], holding jobs for `lease` (a crashed attempt is taken over after it).
pub fn spawn_worker_with_lease(
    db: &Db,
    services: impl Into<Arc<Services>>,
    concurrency: usize,
    lease: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let cfg = WorkerConfig {
        name: "w".into(),
        concurrency,
        lease,
        poll: Duration::from_millis(20),
        per_user_running: 3,
        grace: Duration::from_secs(5),
    };
    let worker = tokio::spawn(run_worker(
        db.clone(),
        Arc::new(Pipelines(services.into())),
        cfg,
        rx,
    ));
    (stop, worker)
}

/// Runs one worker until every job is done or failed (snoozed jobs are brought forward) and
/// returns their final rows.
pub async fn run_jobs(db: &Db, services: impl Into<Arc<Services>>, jobs: &[i64]) -> Vec<JobRow> {
    run_jobs_within(db, services, jobs, Duration::from_secs(30)).await
}

/// [`run_jobs`] allowing each job `patience` (heavy jobs on the suite's two shared cores).
pub async fn run_jobs_within(
    db: &Db,
    services: impl Into<Arc<Services>>,
    jobs: &[i64],
    patience: Duration,
) -> Vec<JobRow> {
    let (stop, worker) = spawn_worker(db, services, 2);
    let mut rows = Vec::new();
    for id in jobs {
        crate::common::eventually(patience, || async {
            let row = queue::job(db, *id).await.unwrap().unwrap();
            if row.state == JobState::Snoozed {
                queue::bring_forward(db, *id).await.unwrap();
            }
            row.state.is_terminal()
        })
        .await;
        rows.push(queue::job(db, *id).await.unwrap().unwrap());
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    rows
}

/// Puts `tokens` on a user's balance as a payment (the user must exist).
pub async fn pay(db: &Db, user: i64, tokens: i64) {
    reelforge::db::ledger::credit(
        db,
        user,
        tokens,
        reelforge::db::ledger::Reason::Payment,
        &format!("test-payment:{user}:{}", reelforge::db::now_ms()),
        None,
    )
    .await
    .unwrap();
}
