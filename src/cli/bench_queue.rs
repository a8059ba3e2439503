//! `reelforge bench-queue`: the queue's own overhead — submit N jobs, let W workers claim and
//! complete them with a handler that does nothing, and print jobs per second. Used by
//! `make bench` on SQLite and (when `BENCH_POSTGRES_URL` is set) PostgreSQL.
use super::CliError;
use clap::Args;
use reelforge::db::jobs as queue;
use reelforge::db::Db;
use reelforge::queue::worker::{run_worker, Handler, JobCtx, StepOutcome, WorkerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchQueueArgs {
    /// Database to measure (a throw-away SQLite file by default).
    #[arg(long)]
    database_url: Option<String>,
    /// Jobs to run.
    #[arg(long, default_value_t = 2000)]
    jobs: usize,
    /// Workers (claim loops, as `reelforge worker` runs one).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Jobs each worker runs at once (`reelforge worker --concurrency`); a worker with free slots
    /// claims up to that many jobs per claim.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

struct Nothing;

impl Handler for Nothing {
    async fn run(&self, _ctx: &mut JobCtx) -> StepOutcome {
        StepOutcome::Done
    }
}

pub fn run(a: BenchQueueArgs) -> Result<(), CliError> {
    let dir = tempfile_dir()?;
    let url = a
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::Internal(e.to_string()))?;
    let result = rt.block_on(async move {
        let db = Db::connect(&url)
            .await
            .map_err(|e| CliError::BadInput(format!("{e}.")))?;
        let user = 9_000_000 + i64::from(std::process::id());
        reelforge::db::users::touch_user(&db, user, None, "en")
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?;
        let spec = reelforge::jobs::JobSpec::CharacterEdit(reelforge::jobs::EditParams {
            image: "bench.jpg".into(),
            prompt: "nothing".into(),
        });
        let prices = reelforge::pricing::PriceTable::default_table();
        let submit_start = Instant::now();
        for _ in 0..a.jobs {
            // Through the ordering service as every job, free: the user is a throw-away one.
            let order = reelforge::orders::Order::free(&prices, spec.clone(), 1)
                .map_err(|e| CliError::Internal(e.to_string()))?;
            reelforge::orders::submit(&db, user, order, None, reelforge::orders::Channel::Service)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?;
        }
        let submitted = submit_start.elapsed();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let start = Instant::now();
        let mut handles = Vec::new();
        for w in 0..a.workers.max(1) {
            let cfg = WorkerConfig {
                name: format!("bench-{w}"),
                concurrency: a.concurrency.max(1),
                lease: Duration::from_secs(60),
                poll: Duration::from_millis(1),
                per_user_running: 1_000_000,
                grace: Duration::from_secs(5),
            };
            handles.push(tokio::spawn(run_worker(
                db.clone(),
                Arc::new(Nothing),
                cfg,
                rx.clone(),
            )));
        }
        loop {
            let (left, _) = queue::queue_depth(&db)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?;
            let running = queue::counts_by_state(&db)
                .await
                .map_err(|e| CliError::Internal(e.to_string()))?
                .iter()
                .filter(|(s, _)| s == "running")
                .map(|(_, n)| *n)
                .sum::<i64>();
            if left == 0 && running == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = start.elapsed();
        let _ = stop.send(true);
        for h in handles {
            let _ = h.await;
        }
        println!(
            "{} database: {} jobs, {} workers × {} slots: submitted at {:.0} jobs/s, ran at {:.0} jobs/s",
            db.kind(),
            a.jobs,
            a.workers,
            a.concurrency,
            a.jobs as f64 / submitted.as_secs_f64(),
            a.jobs as f64 / took.as_secs_f64()
        );
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("reelforge-bench-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
