//! `reelforge admin profit` prints every product's price, provider cost and margin.
mod common;

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
    reelforge::ledger::grant_welcome_bonus(&db, 12, 100)
        .await
        .unwrap();
    reelforge::ledger::grant_welcome_bonus(&db, 12, 100)
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
