//! The documented production layout as real processes: one `serve --no-workers` (bot and
//! HTTP), two `reelforge worker` processes, PostgreSQL, the S3 test server and the fake Bot
//! API. Users order videos in the chat; the workers deliver them themselves. Then a worker is
//! killed with SIGKILL in the middle of a job, and the job still ends delivered exactly once.
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use reelforge::db::jobs as queue;
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use reelforge::jobs::JobState;
use std::time::{Duration, Instant};

use crate::common::spawn_reelforge as reelforge;

/// The logs of the processes, for a failure message.
fn logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for name in ["serve", "worker-a", "worker-b"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!(
            "--- {name}\n{}\n",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    out
}

/// The shared wait, failing with the processes' logs.
async fn wait_until<F, Fut>(what: &str, logs_dir: &std::path::Path, timeout: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if !crate::common::eventually(timeout, check).await {
        panic!("timed out waiting for {what}\n{}", logs(logs_dir));
    }
}

fn assert_done_and_delivered(job: &queue::JobRow) {
    assert_eq!(
        job.state,
        JobState::Done,
        "job {}: {:?}",
        job.id,
        job.error_message
    );
    assert!(
        job.checkpoints.delivered.is_some(),
        "job {} delivered",
        job.id
    );
}

/// Waits for a text containing `needle` to `user` after the first `before` texts.
async fn wait_new_text(f: &FakeTelegram, user: i64, before: usize, needle: &str) {
    for _ in 0..2400 {
        if f.texts_to(user)[before..]
            .iter()
            .any(|t| t.contains(needle))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no '{needle}' for {user}: {:?}", f.texts_to(user));
}

/// Orders one fast 4 s video in the chat, as a user would.
async fn order_video(f: &FakeTelegram, user: i64, prompt: &str) {
    let before = f.texts_to(user).len();
    f.text(user, &format!("/generate {prompt}"));
    wait_new_text(f, user, before, "Цена").await;
    let before = f.texts_to(user).len();
    f.press(user, "v:s:4", 1000);
    wait_new_text(f, user, before, "4 с").await;
    f.press(user, "v:go", 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_topology_delivers_every_video_once_even_when_a_worker_is_killed() {
    let Some(pg) = dbs::postgres().await else {
        return;
    };
    let Ok(s3) = std::env::var("TEST_S3_ENDPOINT") else {
        return;
    };
    let db = pg.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (f, api) = FakeTelegram::start().await;
    let port = crate::common::free_port();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", pg.url.as_str()),
        ("STORAGE_URL", &format!("s3://topology-{port}/media")),
        ("S3_ENDPOINT", &s3),
        ("S3_ACCESS_KEY_ID", "test"),
        ("S3_SECRET_ACCESS_KEY", "test"),
        ("TELEGRAM_BOT_TOKEN", "123:TEST"),
        ("TELEGRAM_API_URL", &api),
        ("PROVIDERS", "local"),
        ("JOB_COOLDOWN_S", "0"),
        ("HTTP_ADDR", &format!("127.0.0.1:{port}")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let users: Vec<i64> = (101..=110).collect();
    for u in &users {
        touch_user(&db, *u, None, "ru").await.unwrap();
        ledger::credit(&db, *u, 5000, Reason::Payment, &format!("seed:{u}"), None)
            .await
            .unwrap();
    }
    let worker_args = ["worker", "--lease-s", "3", "--grace", "1"];
    // Each worker serves its /health and /metrics on its own WORKER_HTTP_ADDR (serve keeps
    // HTTP_ADDR: one .env for all of them, as on one host).
    let worker_env = |p: u16| {
        let mut e = env.clone();
        e.push(("WORKER_HTTP_ADDR".into(), format!("127.0.0.1:{p}")));
        e
    };
    let (port_a, port_b) = (crate::common::free_port(), crate::common::free_port());
    let mut procs = crate::common::Children(vec![
        reelforge("serve", &["serve", "--no-workers"], &env, dir.path()),
        reelforge("worker-a", &worker_args, &worker_env(port_a), dir.path()),
        reelforge("worker-b", &worker_args, &worker_env(port_b), dir.path()),
    ]);
    let http = reqwest::Client::new();
    for p in [port_a, port_b] {
        let url = format!("http://127.0.0.1:{p}/health");
        wait_until(
            "a worker's /health",
            dir.path(),
            Duration::from_secs(30),
            || {
                let r = http.get(&url).send();
                async move { r.await.is_ok_and(|r| r.status().is_success()) }
            },
        )
        .await;
    }
    let health = format!("http://127.0.0.1:{port}/health");
    wait_until(
        "serve to answer",
        dir.path(),
        Duration::from_secs(30),
        || {
            let r = http.get(&health).send();
            async move { r.await.is_ok_and(|r| r.status().is_success()) }
        },
    )
    .await;

    for u in &users {
        order_video(&f, *u, &format!("маяк {u}")).await;
    }
    let all_terminal = |n: usize| {
        let db = db.clone();
        async move {
            let jobs = queue::all_jobs(&db).await.unwrap();
            jobs.len() == n && jobs.iter().all(|j| j.state.is_terminal())
        }
    };
    wait_until("ten videos", dir.path(), Duration::from_secs(240), || {
        all_terminal(10)
    })
    .await;
    // The workers' own /metrics carry what they did (serve's registry does not).
    let mut finished = 0;
    for p in [port_a, port_b] {
        let text = http
            .get(format!("http://127.0.0.1:{p}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("reelforge_queue_depth"), "{text}");
        finished += text
            .lines()
            .filter(|l| l.starts_with("reelforge_jobs_finished_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as i64;
    }
    assert_eq!(
        finished, 10,
        "the ten jobs, counted by the workers that ran them"
    );
    for job in queue::all_jobs(&db).await.unwrap() {
        assert_done_and_delivered(&job);
        let (_, message) = reelforge::db::progress::message_of(&db, job.id)
            .await
            .unwrap()
            .expect("a progress message");
        let f2 = f.clone();
        wait_until(
            "the progress message to say done",
            dir.path(),
            Duration::from_secs(15),
            || {
                let last = f2.last_edit_of(message);
                async move { last.is_some_and(|t| t.contains("Готово")) }
            },
        )
        .await;
    }
    for u in &users {
        assert_eq!(f.videos_to(*u), 1, "user {u} gets exactly one video");
    }

    // A second round: a worker dies (SIGKILL) while it holds a job.
    let again = &users[..4];
    for u in again {
        order_video(&f, *u, &format!("ещё {u}")).await;
    }
    let mut victim = None;
    let until = Instant::now() + Duration::from_secs(60);
    while victim.is_none() && Instant::now() < until {
        let running = queue::all_jobs(&db)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.state == JobState::Running);
        victim = running.and_then(|j| j.worker?.rsplit('-').next()?.parse::<u32>().ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = victim.expect("a job running on a worker");
    let killed = procs
        .0
        .iter_mut()
        .find(|c| c.id() == pid)
        .expect("our worker");
    killed.kill().unwrap();
    killed.wait().unwrap();

    wait_until(
        "the second round",
        dir.path(),
        Duration::from_secs(240),
        || all_terminal(14),
    )
    .await;
    for job in queue::all_jobs(&db).await.unwrap() {
        assert_done_and_delivered(&job);
    }
    for u in &users {
        let expected = if again.contains(u) { 2 } else { 1 };
        assert_eq!(
            f.videos_to(*u),
            expected,
            "user {u}: one video per order, never two"
        );
        assert_eq!(
            ledger::balance_of(&db, *u).await.unwrap(),
            ledger::entries_sum(&db, *u).await.unwrap()
        );
    }
}
