//! The operator console in a real headless Chromium (Debian's `chromium` through
//! `chromium-driver`) against a running `reelforge serve`: every page signed out redirects
//! to the sign-in page (and every action refuses), a wrong token is refused, then the
//! operator signs in, sees the overview's charts drawn from seeded jobs and payments, finds
//! a user, tops up once however often the form is sent, opens a job and plays its video,
//! and confirms a Kaspi transfer once. Each page's screenshot is saved and checked not blank.
use crate::common;
use crate::dbs;
use crate::fake_tg::FakeTelegram;
use crate::webdriver::Browser;
use reelforge::db::jobs::{self as queue, NewJob};
use reelforge::db::ledger::{self, Reason};
use reelforge::db::users::touch_user;
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "console-token-for-the-browser-test-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_runs_the_business_from_the_console_in_a_real_browser() {
    let t = dbs::sqlite().await;
    let db = t.db.clone();
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    touch_user(&db, 301, Some("anna_shop"), "ru").await.unwrap();
    touch_user(&db, 302, Some("boris"), "en").await.unwrap();
    ledger::credit(&db, 301, 3000, Reason::Payment, "seed:301", None)
        .await
        .unwrap();
    // Payments: a paid Stripe order and a Kaspi transfer waiting for the operator.
    let stripe = reelforge::db::orders::create_order(&db, 301, "stripe", 1484, 133_600, "KZT")
        .await
        .unwrap();
    reelforge::db::orders::mark_paid(&db, stripe).await.unwrap();
    let kaspi = reelforge::db::orders::create_order(&db, 302, "kaspi", 742, 74_200, "KZT")
        .await
        .unwrap();
    // Jobs: one that makes a video, one that fails as bad input (its "photo" does not decode:
    // a spec the ordering service takes, so the console can retry it).
    std::fs::create_dir_all(dir.path().join("files/uploads")).unwrap();
    std::fs::write(dir.path().join("files/uploads/junk.jpg"), b"not a photo").unwrap();
    let video_job = queue::submit(
        &db,
        NewJob::from_json(
            301,
            "text_to_video",
            json!({"prompt": "a red kite", "tier": "fast", "seconds": 4, "size": "720x1280"}),
            371,
            3,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let failing = queue::submit(
        &db,
        NewJob::from_json(
            301,
            "character_edit",
            json!({"image": "uploads/junk.jpg", "prompt": "red hat"}),
            60,
            3,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let serve =
        common::LocalServe::start(&t.url, dir.path(), &tg_url, &[("CONSOLE_TOKEN", TOKEN)]).await;
    let base = serve.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    common::wait_until(
        "the seeded jobs to end",
        Duration::from_secs(60),
        || async {
            let a = queue::job(&db, video_job).await.unwrap().unwrap().state;
            let b = queue::job(&db, failing).await.unwrap().unwrap().state;
            a.is_final() && b.is_final()
        },
    )
    .await;

    // Signed out: every page redirects to the sign-in page, every action is refused.
    for path in [
        "/console".to_string(),
        "/console/users?q=anna".into(),
        "/console/users/301".into(),
        format!("/console/jobs/{video_job}"),
        format!("/console/jobs/{video_job}/video"),
        "/console/jobs".into(),
        "/console/payments".into(),
        "/console/providers".into(),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/console/login", "{path}");
    }
    for path in [
        "/console/users/301/topup".to_string(),
        "/console/users/301/ban".into(),
        "/console/users/301/keys".into(),
        "/console/logout".into(),
        format!("/console/payments/{kaspi}/confirm"),
        format!("/console/jobs/{failing}/action"),
    ] {
        let r = http
            .post(format!("{base}{path}"))
            .form(&[
                ("csrf", "x"),
                ("amount", "999"),
                ("reason", "r"),
                ("nonce", "n"),
                ("banned", "1"),
                ("action", "refund"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
    }
    // A forged or stale session cookie is no session.
    for cookie in [
        "rf_console=9999999999999.token.00.deadbeef",
        "rf_console=",
        "other=1",
    ] {
        let r = http
            .get(format!("{base}/console/users/301"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{cookie}");
    }
    assert_eq!(
        ledger::balance_of(&db, 301).await.unwrap(),
        3000 - 371 - 60 + 60,
        "nothing changed"
    );

    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let b = Browser::start(dir.path()).await;
    let shot = |name: &str| shots.join(format!("{name}.png"));

    b.go(&format!("{base}/console/payments")).await;
    assert!(
        b.url().await.ends_with("/console/login"),
        "{}",
        b.url().await
    );
    assert!(
        b.screenshot(&shot("sign-in")).await > 5,
        "the sign-in page is blank"
    );
    // A wrong token.
    b.type_into("input[name=token]", "not-the-token").await;
    b.click("#sign-in").await;
    b.wait_text("That token is not right.").await;
    assert!(b.url().await.ends_with("/console/login"));
    // The right one.
    b.type_into("input[name=token]", TOKEN).await;
    b.click("#sign-in").await;
    b.wait_url("/console").await;
    b.wait_text("Jobs per hour by state").await;
    // The overview's charts are drawn from the seeded data.
    assert!(
        b.count(".chart svg rect").await >= 4,
        "{}",
        b.source().await
    );
    assert_eq!(b.text("#revenue").await, "1,336 ₸");
    // The video was made offline: it cost nothing, and the offline backend is named as the
    // provider that served it — the same finished job the state counts show.
    assert_eq!(b.text("#spend").await, "0 ₸");
    // Every talking-head tier with its price and margin, as the quote prices it.
    let tiers = b.text("#tiers").await;
    for tier in reelforge::pricing::PriceTable::default_table().head_tiers() {
        assert!(
            tiers.contains(&format!(
                "{} {} {}",
                tier.name, tier.entry, tier.tokens_per_second
            )),
            "{tier:?} in {tiers}"
        );
    }
    let served = b.text("#by-entry").await;
    assert!(served.contains("local"), "{served}");
    let done = queue::all_jobs(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state == reelforge::jobs::JobState::Done)
        .count();
    assert_eq!(done, 1);
    assert!(
        served
            .lines()
            .any(|l| l.starts_with("local") && l.contains(" 1 ")),
        "{served}"
    );
    assert!(
        b.source().await.contains("bad_user_input"),
        "failures by class"
    );
    assert!(
        b.screenshot(&shot("overview")).await > 20,
        "the overview is blank"
    );
    b.go(&format!("{base}/console?period=30d")).await;
    assert!(b.count(".chart svg rect").await >= 4);
    // The jobs list names what made each finished job.
    b.go(&format!("{base}/console/jobs")).await;
    b.wait_text("video: local").await;

    // Find a user and top up once, however often the form is sent.
    b.go(&format!("{base}/console/users")).await;
    b.type_into("input[name=q]", "anna").await;
    b.click("#search").await;
    // The results page (the list before the search shows recent users, 302 among them).
    b.wait_text("value=\"anna\"").await;
    assert!(b.text("#users").await.contains("301"));
    assert!(!b.text("#users").await.contains("302"));
    b.click("#users a[href='/console/users/301']").await;
    b.wait_url("/console/users/301").await;
    b.wait_text("Top up").await;
    let before = ledger::balance_of(&db, 301).await.unwrap();
    b.type_into("#topup input[name=amount]", "50").await;
    b.type_into("#topup input[name=reason]", "sorry for the wait")
        .await;
    // A double click sends the form twice.
    b.script("const f = document.getElementById('topup'); f.requestSubmit(); f.requestSubmit();")
        .await;
    common::wait_until("the top-up", Duration::from_secs(10), || async {
        ledger::balance_of(&db, 301).await.unwrap() != before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        ledger::balance_of(&db, 301).await.unwrap(),
        before + 50,
        "one top-up"
    );
    b.go(&format!("{base}/console/users/301")).await;
    assert_eq!(b.text("#balance").await, (before + 50).to_string());
    assert!(
        b.source().await.contains("sorry for the wait"),
        "the reason is in the audit log"
    );
    assert!(b.screenshot(&shot("user")).await > 20);

    // A job page plays its video.
    b.go(&format!("{base}/console/jobs/{video_job}")).await;
    assert_eq!(b.text("#state").await, "done");
    let mut duration = 0.0;
    for _ in 0..50 {
        duration = b
            .script("return document.getElementById('result').duration || 0")
            .await
            .as_f64()
            .unwrap_or(0.0);
        if duration > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        (duration - 4.0).abs() < 0.5,
        "the video reports {duration} s"
    );
    assert!(b.count("#timeline tr").await >= 3, "the events timeline");
    assert!(b.screenshot(&shot("job")).await > 20);
    // The failed job is refunded already: no refund button; retry queues a free copy once.
    b.go(&format!("{base}/console/jobs/{failing}")).await;
    assert!(b.find("#job-refund").await.is_none());
    b.click("#job-retry").await;
    b.wait_text("A new job was queued").await;
    b.go(&format!("{base}/console/jobs/{failing}")).await;
    b.click("#job-retry").await;
    b.wait_text("A new job was queued").await;
    let retries: Vec<_> = queue::all_jobs(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind.is_some_and(|k| k.name() == "character_edit") && j.cost_tokens == 0)
        .collect();
    assert_eq!(retries.len(), 1, "retried once");
    b.go(&format!("{base}/console/jobs?state=failed")).await;
    assert!(b.source().await.contains(&format!("#{failing}")));
    assert!(b.screenshot(&shot("jobs")).await > 20);

    // Confirm the Kaspi transfer: credited once, the order closed.
    b.go(&format!("{base}/console/payments")).await;
    b.click("button.confirm").await;
    b.wait_text("confirmed and credited").await;
    assert_eq!(ledger::balance_of(&db, 302).await.unwrap(), 742);
    assert_eq!(
        reelforge::db::orders::order(&db, kaspi)
            .await
            .unwrap()
            .unwrap()
            .status,
        "paid"
    );
    assert!(
        b.find("button.confirm").await.is_none(),
        "nothing left to confirm"
    );
    assert!(b.screenshot(&shot("payments")).await > 20);
    b.go(&format!("{base}/console/providers")).await;
    assert!(b.screenshot(&shot("providers")).await > 5);
    // CONSOLE_SHOTS=<dir> keeps the screenshots for a person to look at.
    if let Ok(keep) = std::env::var("CONSOLE_SHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for e in std::fs::read_dir(&shots).unwrap().flatten() {
            std::fs::copy(e.path(), std::path::Path::new(&keep).join(e.file_name())).unwrap();
        }
    }
}

/// Console sessions are the server's: signing out ends the session wherever its cookie was
/// copied, a Telegram sign-in link works once, and the page that shows a new API key is not
/// stored by the browser or a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_on_sign_out_a_telegram_link_works_once_and_new_keys_are_not_cached() {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let t = dbs::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (_tg, tg_url) = FakeTelegram::start().await;
    touch_user(&t.db, 301, Some("anna"), "ru").await.unwrap();
    let serve = common::LocalServe::start(
        &t.url,
        dir.path(),
        &tg_url,
        &[("CONSOLE_TOKEN", TOKEN), ("ADMIN_IDS", "555")],
    )
    .await;
    let base = serve.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie_of = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let page = |cookie: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}/console/users/301"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let r = http
        .post(format!("{base}/console/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = cookie_of(&r);
    // First use: the empty pages say what to do.
    let get = |path: &'static str| {
        let (http, base, cookie) = (http.clone(), base.clone(), cookie.clone());
        async move {
            http.get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let overview = get("/console").await;
    assert!(
        overview.contains("id=\"first-use\"") && overview.contains("/start"),
        "{overview}"
    );
    assert!(
        overview.contains("href=\"/console/jobs?state=failed\""),
        "{overview}"
    );
    let payments = get("/console/payments").await;
    assert!(
        payments.contains("id=\"no-payments\"") && payments.contains("STRIPE_SECRET_KEY"),
        "{payments}"
    );
    let jobs = get("/console/jobs").await;
    assert!(jobs.contains("id=\"no-jobs\""), "{jobs}");
    // An account whose card payment came back is flagged for the operator, with its debt.
    dbs::exec(
        &t.db,
        "UPDATE users SET debt_tokens = 129, flagged_ms = 1700000000000 WHERE id = 301",
    )
    .await;
    let list = http
        .get(format!("{base}/console/users"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("id=\"flagged\"")
            && list.contains("/console/users/301")
            && list.contains("129"),
        "{list}"
    );
    let (status, html) = page(cookie.clone()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("129 tokens still owed"), "{html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    // A new API key's page: no-store.
    let r = http
        .post(format!("{base}/console/users/301/keys"))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str()), ("action", "create")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // Signed out: the same cookie, copied before, opens nothing.
    let r = http
        .post(format!("{base}/console/logout"))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(page(cookie).await.0, 303, "the session ended on the server");

    // The Telegram Login Widget's redirect, signed as Telegram signs it: once.
    let now = reelforge::db::now_ms() / 1000;
    let fields = [
        ("auth_date", now.to_string()),
        ("first_name", "Anna".to_string()),
        ("id", "555".to_string()),
    ];
    let lines: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let key = Sha256::digest(b"123:TEST");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(lines.join("\n").as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    let link =
        format!("{base}/console/telegram?auth_date={now}&first_name=Anna&id=555&hash={hash}");
    let first = http.get(&link).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 303);
    assert_eq!(page(cookie_of(&first)).await.0, 200);
    let replay = http.get(&link).send().await.unwrap();
    assert!(
        replay
            .headers()
            .get("set-cookie")
            .is_none_or(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "a replayed sign-in link makes no session"
    );
    assert_ne!(replay.status().as_u16(), 303, "refused, not signed in");
}
