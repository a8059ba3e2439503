//! Admin commands in the chat (ids in `ADMIN_IDS`): `/topup @user|id amount` (the user is
//! told), `/users`, `/stats`, `/user <id>`, `/job <id>`, `/ban`, `/unban`, `/refund <job>`, `/providers`; and feedback
//! from users forwarded to the admin chat.
use super::app::{Ctx, HandlerResult};
use super::texts::Lang;
use crate::admin::{self, AdminError};
use teloxide::prelude::*;
use teloxide::types::ChatId;

pub async fn run(ctx: &Ctx<'_>, command: &str, rest: &str, message_id: i32) -> HandlerResult {
    let db = &ctx.app.db;
    let args: Vec<&str> = rest.split_whitespace().collect();
    let usage = |u: &str| format!("Usage: {u}");
    let reply = match (command, args.as_slice()) {
        // A Kaspi order: credited once (the order is the key) and closed.
        ("topup", [order]) if order.starts_with('#') => match order[1..].parse::<i64>() {
            Ok(order) => match crate::db::orders::credit_order(db, order).await? {
                crate::db::orders::OrderCredit::Credited {
                    user,
                    tokens,
                    balance,
                } => {
                    let lang = crate::db::users::get_user(db, user)
                        .await?
                        .map(|u| u.language)
                        .unwrap_or_else(|| "ru".into());
                    notify(ctx, user, &lang, "admin.topped_up", tokens, balance).await;
                    reward_order(ctx, order).await;
                    format!("order #{order}: user {user} +{tokens}, balance {balance}")
                }
                crate::db::orders::OrderCredit::AlreadyCredited { user } => {
                    reward_order(ctx, order).await;
                    format!("order #{order} (user {user}) was already credited")
                }
                crate::db::orders::OrderCredit::NoSuchOrder => format!("no order #{order}"),
            },
            Err(_) => usage("/topup #order or /topup @username|id amount"),
        },
        ("topup", [who, amount]) => match amount.parse::<i64>() {
            Ok(amount) if amount > 0 => match admin::find_user(db, who).await {
                Ok(u) => {
                    let key = format!("tg:topup:{}:{}", ctx.chat.0, message_id);
                    match admin::topup(db, u.id, amount, &key).await? {
                        Some(balance) => {
                            notify(ctx, u.id, &u.language, "admin.topped_up", amount, balance)
                                .await;
                            format!("user {}: +{amount}, balance {balance}", u.id)
                        }
                        None => "this top-up was already applied".into(),
                    }
                }
                Err(e) => e.to_string(),
            },
            _ => usage("/topup @username|id amount (a positive number of tokens)"),
        },
        ("topup", _) => usage("/topup #order, or /topup @username|id amount"),
        ("users", _) => {
            let (total, users) = admin::recent_users(db, 15).await?;
            let mut lines = vec![format!("{total} users; last seen:")];
            for u in users {
                lines.push(format!(
                    "{} @{} — {} tokens{}",
                    u.id,
                    u.username.as_deref().unwrap_or("-"),
                    u.balance,
                    if u.banned { " (banned)" } else { "" }
                ));
            }
            lines.join("\n")
        }
        ("stats", _) => admin::stats(db, &ctx.app.prices).await?.render(),
        ("providers", _) => {
            let lines = crate::providers::health::report(db).await?;
            if lines.is_empty() {
                "no provider calls recorded yet".to_string()
            } else {
                lines.join("\n")
            }
        }
        ("user", [who]) => admin::user_card(db, who)
            .await
            .unwrap_or_else(|e| e.to_string()),
        ("user", _) => usage("/user @username|id"),
        ("job", [id]) => match id.trim_start_matches('#').parse::<i64>() {
            Ok(id) => admin::job_card(db, id)
                .await
                .unwrap_or_else(|e| e.to_string()),
            Err(_) => usage("/job <id>"),
        },
        ("job", _) => usage("/job <id>"),
        ("ban" | "unban", [who]) => match admin::find_user(db, who).await {
            Ok(u) => {
                admin::set_banned(db, u.id, command == "ban").await?;
                format!(
                    "user {}: {}",
                    u.id,
                    if command == "ban" {
                        "banned"
                    } else {
                        "unbanned"
                    }
                )
            }
            Err(e) => e.to_string(),
        },
        ("ban" | "unban", _) => usage(&format!("/{command} @username|id")),
        ("refund", [job]) => match job.trim_start_matches('#').parse::<i64>() {
            Ok(job) => match admin::refund_job(db, job).await {
                Ok(Some((user, amount))) => {
                    let (lang, balance) = user_lang_balance(ctx, user).await;
                    notify(ctx, user, &lang, "admin.refunded", amount, balance).await;
                    format!("job #{job}: {amount} tokens back to {user}")
                }
                Ok(None) => format!("job #{job} was already refunded"),
                Err(e @ (AdminError::NoSuchJob(_) | AdminError::NothingToRefund(_))) => {
                    e.to_string()
                }
                Err(e) => return Err(e.into()),
            },
            Err(_) => usage("/refund <job id>"),
        },
        _ => usage("/refund <job id>"),
    };
    ctx.say(reply).await
}

async fn user_lang_balance(ctx: &Ctx<'_>, user: i64) -> (String, i64) {
    let u = crate::db::users::get_user(&ctx.app.db, user)
        .await
        .ok()
        .flatten();
    (
        u.as_ref()
            .map(|u| u.language.clone())
            .unwrap_or_else(|| "ru".into()),
        u.map(|u| u.balance).unwrap_or(0),
    )
}

/// The referrer's share of a confirmed order (once per order), and a message to them.
async fn reward_order(ctx: &Ctx<'_>, order: i64) {
    let db = &ctx.app.db;
    match crate::db::account::reward_for_order(db, order, ctx.app.prices.referral_percent).await {
        Ok(Some((referrer, tokens, balance))) => {
            let lang = crate::db::users::get_user(db, referrer)
                .await
                .ok()
                .flatten()
                .map(|u| u.language)
                .unwrap_or_else(|| "ru".into());
            notify(ctx, referrer, &lang, "referral.reward", tokens, balance).await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(order, error = %e, "the referral share was not credited"),
    }
}

async fn notify(ctx: &Ctx<'_>, user: i64, lang: &str, key: &str, amount: i64, balance: i64) {
    let text = ctx.app.t(
        Lang::from_code(lang),
        key,
        &[("tokens", &amount), ("balance", &balance)],
    );
    if let Err(e) = ctx.bot.send_message(ChatId(user), text).await {
        tracing::warn!(user_id = user, error = %e, "could not tell the user about an admin change");
    }
}

/// Sends the user's words to the admin chat with who wrote them.
pub async fn forward_feedback(ctx: &Ctx<'_>, text: &str) -> HandlerResult {
    if !ctx
        .within_limit(super::rate_limit::Action::Feedback)
        .await?
    {
        return Ok(());
    }
    let Some(admin_chat) = ctx.app.settings.admin_chat_id else {
        return ctx.say(ctx.t("feedback.thanks", &[])).await;
    };
    let who = crate::db::users::get_user(&ctx.app.db, ctx.user)
        .await?
        .and_then(|u| u.username)
        .map(|n| format!("@{n}"))
        .unwrap_or_else(|| "-".into());
    ctx.bot
        .send_message(
            ChatId(admin_chat),
            format!("Feedback from {} ({who}):\n{text}", ctx.user),
        )
        .await?;
    ctx.say(ctx.t("feedback.thanks", &[])).await
}
