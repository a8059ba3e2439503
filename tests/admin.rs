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
