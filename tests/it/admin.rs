//! `reelforge admin profit` prints every product's price, provider cost and margin.
use crate::common;

use common::*;

#[test]
fn profit_lists_old_prices_margins_and_packs() {
    let r = reelforge(&["admin", "profit", "--kzt-per-usd", "500"]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(out.contains("500.0 ₸ per USD"));
    let fast8 = out
        .lines()
        .find(|l| l.starts_with("video fast 720p 8 s"))
        .unwrap();
    // 742 tokens against 8 s × $0.10 × 500 ₸ = 400 ₸: 46.1 % margin.
    assert!(
        fast8.contains("742") && fast8.contains("400") && fast8.contains("46.1%"),
        "{fast8}"
    );
    assert!(out.contains("3115") && out.contains("1928"));
    assert!(out.contains("7420 tokens for   5936 ₸  (−20 %)"), "{out}");
}

#[test]
fn a_broken_pricing_file_is_named() {
    let d = tmp();
    let bad = p(d.path(), "pricing.toml");
    std::fs::write(&bad, "welcome_bonus = [").unwrap();
    let r = reelforge(&["admin", "profit", "--pricing", s(&bad)]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("pricing.toml") && err.contains("not valid TOML"),
        "{err}"
    );
}

#[tokio::test]
async fn topup_credits_once_per_key_and_history_shows_it() {
    let d = tmp();
    let url = format!("sqlite://{}/rf.db", d.path().display());
    let db = reelforge::db::Db::connect(&url).await.unwrap();
    reelforge::db::users::touch_user(&db, 12, None, "ru")
        .await
        .unwrap();
    reelforge::db::ledger::grant_welcome_bonus(&db, 12, 100)
        .await
        .unwrap();
    reelforge::db::ledger::grant_welcome_bonus(&db, 12, 100)
        .await
        .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_reelforge"))
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = run(&[
        "admin",
        "topup",
        "--user",
        "12",
        "--amount",
        "742",
        "--key",
        "kaspi:0042",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("balance 842"),
        "welcome bonus counted once"
    );
    let again = run(&[
        "admin",
        "topup",
        "--user",
        "12",
        "--amount",
        "742",
        "--key",
        "kaspi:0042",
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already applied"));
    let history =
        String::from_utf8_lossy(&run(&["admin", "history", "--user", "12"]).stdout).to_string();
    assert!(
        history.contains("balance 842")
            && history.contains("admin_topup")
            && history.contains("welcome_bonus"),
        "{history}"
    );
    let nobody = run(&["admin", "topup", "--user", "999", "--amount", "5"]);
    assert_eq!(nobody.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("user 999 does not exist"));
}

#[tokio::test]
async fn users_user_ban_refund_and_stats_from_the_command_line() {
    let d = tmp();
    let url = format!("sqlite://{}/rf.db", d.path().display());
    let db = reelforge::db::Db::connect(&url).await.unwrap();
    reelforge::db::users::touch_user(&db, 12, Some("anna"), "ru")
        .await
        .unwrap();
    reelforge::db::ledger::grant_welcome_bonus(&db, 12, 1000)
        .await
        .unwrap();
    let job = reelforge::db::jobs::submit(
        &db,
        reelforge::db::jobs::NewJob::from_json(
            12,
            "text_to_video",
            serde_json::json!({"prompt": "x", "tier": "fast", "seconds": 8, "size": "720x1280"}),
            742,
            1,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_reelforge"))
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, users, _) = run(&["admin", "users"]);
    assert_eq!(code, Some(0));
    assert!(
        users.contains("1 users") && users.contains("@anna") && users.contains("258 tokens"),
        "{users}"
    );
    let (_, card, _) = run(&["admin", "user", "@anna"]);
    assert!(
        card.contains("balance 258") && card.contains("queued 1"),
        "{card}"
    );
    let (_, banned, _) = run(&["admin", "ban", "12"]);
    assert!(banned.contains("user 12: banned"), "{banned}");
    assert!(
        reelforge::db::users::get_user(&db, 12)
            .await
            .unwrap()
            .unwrap()
            .banned
    );
    run(&["admin", "unban", "@anna"]);
    assert!(
        !reelforge::db::users::get_user(&db, 12)
            .await
            .unwrap()
            .unwrap()
            .banned
    );
    let (_, refunded, _) = run(&["admin", "refund", &job.to_string()]);
    assert!(
        refunded.contains("742 tokens back to user 12"),
        "{refunded}"
    );
    let (_, twice, _) = run(&["admin", "refund", &job.to_string()]);
    assert!(twice.contains("already refunded"), "{twice}");
    assert_eq!(
        reelforge::db::ledger::balance_of(&db, 12).await.unwrap(),
        1000
    );
    let (_, stats, _) = run(&["admin", "stats"]);
    assert!(
        stats.contains("users: 1") && stats.contains("queued 1"),
        "{stats}"
    );
    let (code, _, err) = run(&["admin", "user", "@nobody"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no user '@nobody'"), "{err}");
}

#[tokio::test]
async fn refunding_a_job_that_never_took_tokens_gives_nothing() {
    let t = crate::dbs::sqlite().await;
    let db = t.db.clone();
    reelforge::db::users::touch_user(&db, 13, None, "ru")
        .await
        .unwrap();
    // 10 tokens on the balance: a 742-token job is rejected and never debited.
    reelforge::db::ledger::credit(
        &db,
        13,
        10,
        reelforge::db::ledger::Reason::Payment,
        "p13",
        None,
    )
    .await
    .unwrap();
    let spec = serde_json::json!({"prompt": "x", "tier": "fast", "seconds": 8, "size": "720x1280"});
    let refused = reelforge::db::jobs::submit(
        &db,
        reelforge::db::jobs::NewJob::from_json(13, "text_to_video", spec, 742, 1).unwrap(),
    )
    .await;
    assert!(refused.is_err());
    let job = reelforge::db::jobs::all_jobs(&db).await.unwrap()[0].clone();
    assert_eq!(job.state, "rejected");
    let err = reelforge::admin::refund_job(&db, job.id).await.unwrap_err();
    assert!(err.to_string().contains("no tokens to refund"), "{err}");
    assert_eq!(
        reelforge::db::ledger::balance_of(&db, 13).await.unwrap(),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kaspi_order_is_credited_once_by_however_many_admins_and_closed() {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rf.db", d.path().display());
    let db = reelforge::db::Db::connect(&url).await.unwrap();
    reelforge::db::users::touch_user(&db, 14, None, "ru")
        .await
        .unwrap();
    let (tokens, kzt) = crate::common::pack(1);
    let order = reelforge::payments::create_order(&db, 14, "kaspi", tokens, kzt * 100, "kzt")
        .await
        .unwrap();
    // Two admins confirm the same transfer at once, and one re-runs the command later.
    let (a, b) = tokio::join!(
        reelforge::db::orders::credit_order(&db, order),
        reelforge::db::orders::credit_order(&db, order)
    );
    let credited = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|c| matches!(c, reelforge::db::orders::OrderCredit::Credited { .. }))
        .count();
    assert_eq!(credited, 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["admin", "topup", "--order", &order.to_string()])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("already credited"),
        "{text}"
    );
    assert_eq!(
        reelforge::db::ledger::balance_of(&db, 14).await.unwrap(),
        tokens
    );
    let closed = reelforge::payments::order(&db, order)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.status, "paid");
    let stats = reelforge::admin::stats(&db, &crate::common::prices())
        .await
        .unwrap();
    assert_eq!(stats.revenue_kzt, kzt, "the order counts in revenue");
}

/// A Kaspi confirmation (`/topup #N`, the console, `admin topup --order`) credits only a
/// pending Kaspi order: a card order — paid by Stripe already, or still open — is refused with
/// the reason and credits nothing (it used to be credited a second time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_pending_kaspi_order_is_confirmed() {
    use reelforge::db::orders::{credit_order, OrderCredit};
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rf.db", d.path().display());
    let db = reelforge::db::Db::connect(&url).await.unwrap();
    reelforge::db::users::touch_user(&db, 15, None, "ru")
        .await
        .unwrap();
    let (tokens, kzt) = crate::common::pack(1);
    let paid_by_card =
        reelforge::payments::create_order(&db, 15, "stripe", tokens, kzt * 100, "kzt")
            .await
            .unwrap();
    assert!(reelforge::db::orders::mark_paid(&db, paid_by_card)
        .await
        .unwrap());
    let open_card = reelforge::payments::create_order(&db, 15, "stripe", tokens, kzt * 100, "kzt")
        .await
        .unwrap();
    for order in [paid_by_card, open_card] {
        let outcome = credit_order(&db, order).await.unwrap();
        assert!(
            matches!(&outcome, OrderCredit::NotPendingKaspi { method, .. } if method == "stripe"),
            "{outcome:?}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reelforge"))
        .args(["admin", "topup", "--order", &paid_by_card.to_string()])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("only a pending Kaspi order"),
        "{text}"
    );
    assert_eq!(reelforge::db::ledger::balance_of(&db, 15).await.unwrap(), 0);
}
