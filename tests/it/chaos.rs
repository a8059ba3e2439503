//! `kill -9` of `serve` (bot + workers in one process) at random moments while 20 paid jobs
//! run, restarted each time, on SQLite and on PostgreSQL. Afterwards every job is terminal,
//! every balance equals the sum of its entries, and each job has exactly one delivery (or a
//! "send again" offer when an upload's outcome was lost with the process) or exactly one
//! refund — never both, never two copies. Seeded: the seed is printed, and `CHAOS_SEED=<n>`
//! replays a run.
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::db::Db;
use reelforge::jobs::JobState;
use std::process::Child;
use std::time::Duration;

const JOBS: i64 = 20;
const KILLS: usize = 5;

/// A small deterministic generator (xorshift), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn start_serve(env: &[(String, String)], dir: &std::path::Path, run: usize) -> Child {
    let args = ["serve", "--http-addr", "127.0.0.1:0", "--lease-s", "3"];
    crate::common::spawn_reelforge(&format!("serve-{run}"), &args, env, dir)
}

async fn chaos_run(db: &Db, url: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (fake, api) = FakeTelegram::start().await;
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", url),
        (
            "STORAGE_URL",
            &dir.path().join("files").display().to_string(),
        ),
        ("TELEGRAM_BOT_TOKEN", "123:TEST"),
        ("TELEGRAM_API_URL", &api),
        ("PROVIDERS", "local"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let users: Vec<i64> = (1..=JOBS).map(|i| 700 + i).collect();
    let price = crate::common::video_price("fast", 4);
    let mut jobs = Vec::new();
    for u in &users {
        touch_user(db, *u, None, "ru").await.unwrap();
        ledger::credit(
            db,
            *u,
            price * 2,
            Reason::Payment,
            &format!("seed:{u}"),
            None,
        )
        .await
        .unwrap();
        let spec = serde_json::json!({"prompt": format!("маяк {u}"), "tier": "fast", "seconds": 4, "size": "360x640"});
        let job = NewJob::from_json(*u, "text_to_video", spec, price, 4).unwrap();
        jobs.push(queue::submit(db, job).await.unwrap());
    }
    let mut rng = Rng(seed.max(1));
    for run in 0..KILLS {
        let mut serve = start_serve(&env, dir.path(), run);
        let wait = rng.between(400, 2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        serve.kill().unwrap(); // SIGKILL: no grace, no cleanup
        serve.wait().unwrap();
    }
    // The last start is left to finish; it takes the killed runs' jobs over as their (3 s)
    // leases run out.
    let mut serve = start_serve(&env, dir.path(), KILLS);
    let finished = crate::common::eventually(Duration::from_secs(400), || async {
        queue::all_jobs(db)
            .await
            .unwrap()
            .iter()
            .all(|j| j.state.is_terminal())
    })
    .await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(finished, "seed {seed}: jobs left unfinished");

    for (u, id) in users.iter().zip(&jobs) {
        let job = queue::job(db, *id).await.unwrap().unwrap();
        let entries = ledger::history(db, *u, 100).await.unwrap();
        let refunds = entries
            .iter()
            .filter(|e| e.idempotency_key == ledger::refund_key(*id))
            .count();
        let videos = fake.videos_to(*u);
        let offered = fake
            .texts_to(*u)
            .iter()
            .any(|t| t.contains("Не пришло?") || t.contains("Didn't get it?"));
        assert_eq!(
            ledger::balance_of(db, *u).await.unwrap(),
            ledger::entries_sum(db, *u).await.unwrap(),
            "seed {seed}: user {u}"
        );
        assert!(videos <= 1, "seed {seed}: job {id} sent {videos} times");
        assert!(
            refunds <= 1,
            "seed {seed}: job {id} refunded {refunds} times"
        );
        match job.state {
            JobState::Done => {
                assert_eq!(refunds, 0, "seed {seed}: job {id} delivered and refunded");
                assert!(
                    videos == 1 || offered,
                    "seed {seed}: job {id} done, nothing reached the user"
                );
            }
            _ => assert_eq!(
                refunds, 1,
                "seed {seed}: job {id} {:?} without its refund",
                job.state
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_serve_while_paid_jobs_run_loses_no_money_and_sends_no_copy() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| reelforge::db::now_ms() as u64);
    println!("chaos seed {seed} (replay with CHAOS_SEED={seed})");
    let sqlite = dbs::sqlite().await;
    chaos_run(&sqlite.db, &sqlite.url, seed).await;
    if let Some(pg) = dbs::postgres().await {
        chaos_run(&pg.db, &pg.url, seed.wrapping_add(1)).await;
    }
}
