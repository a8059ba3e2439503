//! Admin commands in the chat (ids in `ADMIN_IDS`): `/topup @user|id amount` (the user is
//! told), `/users`, `/stats`, `/user <id>`, `/job <id>`, `/ban`, `/unban`, `/refund <job>`, `/providers`; and feedback
//! from users forwarded to the admin chat.
use super::app::{Ctx, HandlerError, HandlerResult};
use super::texts::Lang;
use crate::admin::{self, AdminError};
use teloxide::prelude::*;
use teloxide::types::ChatId;

pub async fn run(ctx: &Ctx<'_>, command: &str, rest: &str, message_id: i32) -> HandlerResult {
    let db = &ctx.app.db;
    let args: Vec<&str> = rest.split_whitespace().collect();
    let usage = |u: &str| ctx.t("adm.usage", &[("usage", &u)]);
    let tr = |key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]| ctx.t(key, args);
    let reply = match (command, args.as_slice()) {
        // A Kaspi order: credited once (the order is the key) and closed.
        ("topup", [order]) if order.starts_with('#') => match order[1..].parse::<i64>() {
            Ok(order) => topup_order(ctx, order).await?,
            Err(_) => usage("/topup #order or /topup @username|id amount"),
        },
        ("topup", [who, amount]) => match amount.parse::<i64>() {
            Ok(amount) if amount > 0 => topup_user(ctx, who, amount, message_id).await?,
            _ => usage("/topup @username|id amount (a positive number of tokens)"),
        },
        ("topup", _) => usage("/topup #order, or /topup @username|id amount"),
        ("users", _) => users(ctx).await?,
        ("stats", _) => admin::stats(db, &ctx.app.prices).await?.render_in(&tr),
        ("providers", _) => {
            let lines = crate::admin::provider_report_in(db, &tr).await?;
            if lines.is_empty() {
                ctx.t("adm.no_calls", &[])
            } else {
                lines.join("\n")
            }
        }
        ("user", [who]) => admin::user_card_in(db, who, &tr)
            .await
            .unwrap_or_else(|e| e.message_in(&tr)),
        ("user", _) => usage("/user @username|id"),
        ("job", [id]) => match id.trim_start_matches('#').parse::<i64>() {
            Ok(id) => admin::job_card_in(db, id, &tr)
                .await
                .unwrap_or_else(|e| e.message_in(&tr)),
            Err(_) => usage("/job <id>"),
        },
        ("job", _) => usage("/job <id>"),
        ("ban" | "unban", [who]) => match admin::find_user(db, who).await {
            Ok(u) => {
                admin::set_banned(db, u.id, command == "ban").await?;
                let key = if command == "ban" {
                    "adm.banned"
                } else {
                    "adm.unbanned"
                };
                ctx.t(key, &[("user", &u.id)])
            }
            Err(e) => e.message_in(&tr),
        },
        ("ban" | "unban", _) => usage(&format!("/{command} @username|id")),
        ("refund", [job]) => match job.trim_start_matches('#').parse::<i64>() {
            Ok(job) => refund(ctx, job).await?,
            Err(_) => usage("/refund <job id>"),
        },
        _ => usage("/refund <job id>"),
    };
    ctx.say(reply).await
}

/// `/topup #N`: a Kaspi order credited once (the order is the key) and closed; the user told.
async fn topup_order(ctx: &Ctx<'_>, order: i64) -> Result<String, HandlerError> {
    let db = &ctx.app.db;
    Ok(match crate::db::orders::credit_order(db, order).await? {
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
            ctx.t(
                "adm.order_credited",
                &[
                    ("order", &order),
                    ("user", &user),
                    ("tokens", &tokens),
                    ("balance", &balance),
                ],
            )
        }
        crate::db::orders::OrderCredit::AlreadyCredited { user } => {
            reward_order(ctx, order).await;
            ctx.t("adm.order_repeat", &[("order", &order), ("user", &user)])
        }
        crate::db::orders::OrderCredit::NoSuchOrder => ctx.t("adm.no_order", &[("order", &order)]),
        crate::db::orders::OrderCredit::NotPendingKaspi {
            user,
            method,
            status,
        } => ctx.t(
            "adm.order_not_kaspi",
            &[
                ("order", &order),
                ("user", &user),
                ("method", &method),
                ("status", &status),
            ],
        ),
    })
}

/// `/topup @user N`: tokens from the operator, once per command message.
async fn topup_user(
    ctx: &Ctx<'_>,
    who: &str,
    amount: i64,
    message_id: i32,
) -> Result<String, HandlerError> {
    let db = &ctx.app.db;
    let tr = |key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]| ctx.t(key, args);
    Ok(match admin::find_user(db, who).await {
        Ok(u) => {
            let key = format!("tg:topup:{}:{}", ctx.chat.0, message_id);
            match admin::topup(db, u.id, amount, &key).await? {
                Some(balance) => {
                    notify(ctx, u.id, &u.language, "admin.topped_up", amount, balance).await;
                    ctx.t(
                        "adm.topped",
                        &[("user", &u.id), ("amount", &amount), ("balance", &balance)],
                    )
                }
                None => ctx.t("adm.topup_repeat", &[]),
            }
        }
        Err(e) => e.message_in(&tr),
    })
}

/// `/users`: the most recently seen users.
async fn users(ctx: &Ctx<'_>) -> Result<String, HandlerError> {
    let db = &ctx.app.db;
    Ok({
        let (total, users) = admin::recent_users(db, 15).await?;
        let mut lines = vec![ctx.t("adm.users_head", &[("total", &total)])];
        for u in users {
            let banned = if u.banned {
                ctx.t("adm.banned_short", &[])
            } else {
                String::new()
            };
            lines.push(ctx.t(
                "adm.user_line",
                &[
                    ("id", &u.id),
                    ("name", &u.username.as_deref().unwrap_or("-")),
                    ("balance", &u.balance),
                    ("banned", &banned),
                ],
            ));
        }
        lines.join("\n")
    })
}

/// `/refund <job>`: what the job still holds given back once; the user told.
async fn refund(ctx: &Ctx<'_>, job: i64) -> Result<String, HandlerError> {
    let db = &ctx.app.db;
    let tr = |key: &str, args: &[(&str, &(dyn std::fmt::Display + Sync))]| ctx.t(key, args);
    Ok(match admin::refund_job(db, job).await {
        Ok(Some((user, amount))) => {
            let (lang, balance) = user_lang_balance(ctx, user).await;
            notify(ctx, user, &lang, "admin.refunded", amount, balance).await;
            ctx.t(
                "adm.refunded",
                &[("job", &job), ("amount", &amount), ("user", &user)],
            )
        }
        Ok(None) => ctx.t("adm.refund_repeat", &[("job", &job)]),
        Err(e @ (AdminError::NoSuchJob(_) | AdminError::NothingToRefund(_))) => e.message_in(&tr),
        Err(e) => return Err(e.into()),
    })
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
            ctx.t(
                "adm.feedback",
                &[("user", &ctx.user), ("who", &who), ("text", &text)],
            ),
        )
        .await?;
    ctx.say(ctx.t("feedback.thanks", &[])).await
}
