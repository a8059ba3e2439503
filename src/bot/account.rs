//! The user's own account: `/language`, `/referral` (deep link, friends, earnings),
//! `/promo CODE` (and `/promo new …` for admins), `/orders` (receipts), `/terms`,
//! `/privacy`, `/refunds`, and `/deletedata`; plus the `/start ref_…` and `/start promo_…`
//! deep links.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::Callback;
use super::texts::Lang;
use crate::db::account::{self, Redeemed};

/// `/start <param>`: a friend's link ties a new user to them; a promo link redeems the code.
pub async fn start_param(ctx: &Ctx<'_>, param: &str, new: bool) -> HandlerResult {
    let param = param.trim();
    if let Some(code) = param.strip_prefix("ref_") {
        let referrer = code.parse::<i64>().ok();
        if let (Some(referrer), true) = (referrer, new) {
            if account::tie_referrer(&ctx.app.db, ctx.user, referrer).await? {
                ctx.say(ctx.t("referral.joined", &[])).await?;
            }
        }
    } else if let Some(code) = param.strip_prefix("promo_") {
        redeem(ctx, code).await?;
    }
    Ok(())
}

/// `/language`: the choice, kept over Telegram's setting.
pub async fn language(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.say_with(
        ctx.t("language.ask", &[]),
        keyboard(vec![row(&[
            (
                "Русский".to_string(),
                Callback::Language("ru".into()).data(),
            ),
            (
                "Қазақша".to_string(),
                Callback::Language("kk".into()).data(),
            ),
            (
                "English".to_string(),
                Callback::Language("en".into()).data(),
            ),
        ])]),
    )
    .await
}

pub async fn set_language(ctx: &Ctx<'_>, code: &str) -> Result<bool, HandlerError> {
    let lang = Lang::from_code(code);
    account::set_language(&ctx.app.db, ctx.user, lang.code()).await?;
    let text = ctx.app.t(lang, "language.set", &[]);
    ctx.say(text).await?;
    Ok(true)
}

/// `/referral`: the user's link, how many friends came by it, what it earned.
pub async fn referral(ctx: &Ctx<'_>) -> HandlerResult {
    use teloxide::prelude::Requester;
    let me = ctx.bot.get_me().await?;
    let bot_name = me.username.clone().unwrap_or_default();
    let (friends, earned) = account::referral_stats(&ctx.app.db, ctx.user).await?;
    let link = format!("https://t.me/{bot_name}?start=ref_{}", ctx.user);
    ctx.say(ctx.t(
        "referral.text",
        &[
            ("link", &link),
            ("percent", &ctx.app.prices.referral_percent),
            ("friends", &friends),
            ("earned", &earned),
        ],
    ))
    .await
}

/// `/promo CODE` for users; `/promo new CODE TOKENS [USES] [DAYS]` for admins.
pub async fn promo(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        ["new", rest @ ..] if ctx.app.is_admin(ctx.user) => {
            let tr = |key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]| ctx.t(key, args);
            let reply = match new_promo(&ctx.app.db, rest, &tr).await? {
                Ok(text) => text,
                Err(usage) => usage,
            };
            ctx.say(reply).await
        }
        [code] => redeem(ctx, code).await,
        _ => ctx.say(ctx.t("promo.usage", &[])).await,
    }
}

/// Makes a promo code from `CODE TOKENS [USES] [DAYS]`; `Err(usage)` when the words are wrong.
pub async fn new_promo(
    db: &crate::db::Db,
    words: &[&str],
    t: crate::admin::Tr<'_>,
) -> Result<Result<String, String>, crate::db::DbError> {
    let usage = t("adm.promo_usage", &[]);
    let (Some(code), Some(tokens)) = (
        words.first().and_then(|c| account::promo_name(c)),
        words
            .get(1)
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| (1..=1_000_000).contains(t)),
    ) else {
        return Ok(Err(usage));
    };
    let uses = match words.get(2) {
        None => 1,
        Some(u) => match u.parse::<i64>() {
            Ok(u) if u > 0 => u,
            _ => return Ok(Err(usage)),
        },
    };
    let expires = match words.get(3) {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(d) if d > 0 => Some(crate::db::now_ms() + d * 86_400_000),
            _ => return Ok(Err(usage)),
        },
    };
    account::create_promo(db, &code, tokens, uses, expires).await?;
    let days = match expires {
        Some(_) => t("adm.promo_days", &[("days", &words[3])]),
        None => String::new(),
    };
    Ok(Ok(t(
        "adm.promo_made",
        &[
            ("code", &code),
            ("tokens", &tokens),
            ("uses", &uses),
            ("days", &days),
        ],
    )))
}

async fn redeem(ctx: &Ctx<'_>, code: &str) -> HandlerResult {
    let Some(code) = account::promo_name(code) else {
        return ctx.say(ctx.t("promo.unknown", &[])).await;
    };
    let key = match account::redeem(&ctx.app.db, ctx.user, &code).await? {
        Redeemed::Credited { tokens, balance } => {
            return ctx
                .say(ctx.t(
                    "promo.credited",
                    &[("tokens", &tokens), ("balance", &balance)],
                ))
                .await
        }
        Redeemed::AlreadyUsed => "promo.already",
        Redeemed::UsedUp => "promo.used_up",
        Redeemed::Expired => "promo.expired",
        Redeemed::NoSuchCode => "promo.unknown",
    };
    ctx.say(ctx.t(key, &[])).await
}

/// `/orders`: the user's payments with their state, and a receipt for each paid one.
pub async fn orders(ctx: &Ctx<'_>) -> HandlerResult {
    let orders = crate::db::console::orders(&ctx.app.db, ctx.user, 20).await?;
    if orders.is_empty() {
        return ctx.say(ctx.t("orders.none", &[])).await;
    }
    let mut lines = vec![ctx.t("orders.title", &[])];
    for o in &orders {
        let date = crate::dates::when(o.paid_ms.unwrap_or(o.created_ms));
        let state = ctx.t(&format!("orders.state.{}", o.status), &[]);
        let method = if o.method == "kaspi" {
            "Kaspi"
        } else {
            "Stripe"
        };
        lines.push(ctx.t(
            "orders.line",
            &[
                ("id", &o.id),
                ("date", &date),
                ("amount", &(o.amount_minor / 100)),
                ("currency", &o.currency),
                ("tokens", &o.tokens),
                ("method", &method),
                ("state", &state),
            ],
        ));
        if o.status == "paid" {
            lines.push(ctx.t(
                "orders.receipt",
                &[
                    ("id", &o.id),
                    ("date", &date),
                    ("amount", &(o.amount_minor / 100)),
                    ("tokens", &o.tokens),
                ],
            ));
        } else if o.method == "kaspi" && o.status == "pending" {
            lines.push(ctx.t("orders.kaspi_pending", &[("id", &o.id)]));
        }
    }
    ctx.say(lines.join("\n")).await
}

/// `/terms`, `/privacy`, `/refunds`: the operator's file (`POLICY_DIR/<name>.<lang>.md`), or the
/// bundled default.
pub async fn policy(ctx: &Ctx<'_>, name: &str) -> HandlerResult {
    let lang = ctx.lang.code();
    let from_dir = ctx
        .app
        .policy_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join(format!("{name}.{lang}.md"))).ok());
    let text = from_dir.unwrap_or_else(|| bundled_policy(name, ctx.lang).to_string());
    ctx.say(text).await
}

fn bundled_policy(name: &str, lang: Lang) -> &'static str {
    match (name, lang) {
        ("terms", Lang::Ru) => include_str!("../../assets/policies/terms.ru.md"),
        ("terms", Lang::En) => include_str!("../../assets/policies/terms.en.md"),
        ("privacy", Lang::Ru) => include_str!("../../assets/policies/privacy.ru.md"),
        ("privacy", Lang::En) => include_str!("../../assets/policies/privacy.en.md"),
        ("terms", Lang::Kk) => include_str!("../../assets/policies/terms.kk.md"),
        ("privacy", Lang::Kk) => include_str!("../../assets/policies/privacy.kk.md"),
        (_, Lang::Ru) => include_str!("../../assets/policies/refunds.ru.md"),
        (_, Lang::Kk) => include_str!("../../assets/policies/refunds.kk.md"),
        (_, Lang::En) => include_str!("../../assets/policies/refunds.en.md"),
    }
}

/// `/deletedata`: what will be erased and kept, and a confirmation.
pub async fn delete_data(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.say_with(
        ctx.t("delete.ask", &[]),
        keyboard(vec![row(&[
            ctx.button("delete.yes", Callback::DeleteData(true).data()),
            ctx.button("delete.no", Callback::DeleteData(false).data()),
        ])]),
    )
    .await
}

pub async fn confirm_delete(ctx: &Ctx<'_>, yes: bool) -> Result<bool, HandlerError> {
    if !yes {
        ctx.say(ctx.t("delete.kept", &[])).await?;
        return Ok(true);
    }
    let db = &ctx.app.db;
    if !crate::db::jobs::unfinished_jobs_of_user(db, ctx.user)
        .await?
        .is_empty()
    {
        ctx.say(ctx.t("delete.busy", &[])).await?;
        return Ok(true);
    }
    // The files are listed first (erasing anonymises the jobs that name them), the data is
    // erased in one transaction that re-checks no job runs and no payment is under way, and
    // only then are the files deleted.
    let files = account::files_of(db, ctx.user).await?;
    let erased = match account::erase_user(db, ctx.user).await? {
        account::Erase::Erased(erased) => erased,
        account::Erase::Busy => {
            ctx.say(ctx.t("delete.busy", &[])).await?;
            return Ok(true);
        }
        account::Erase::Owes(debt) => {
            ctx.say(ctx.t("delete.debt", &[("tokens", &debt)])).await?;
            return Ok(true);
        }
        account::Erase::NoSuchUser => return Ok(true),
    };
    let mut removed = 0;
    for key in &files {
        match crate::storage::ObjectStore::delete(ctx.app.storage.as_ref(), key).await {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(error = %e, "a file could not be deleted"),
        }
        // A composite of theirs cached for reuse, and a speech preview kept for a while.
        crate::db::cache::forget_object(db, key).await?;
    }
    tracing::info!(
        files = removed,
        ledger_entries = erased.ledger_entries,
        "a user's data was erased on request"
    );
    ctx.say(ctx.t(
        "delete.done",
        &[("files", &removed), ("entries", &erased.ledger_entries)],
    ))
    .await?;
    Ok(true)
}
