//! `/buy`: the packs with their prices → card payment through a Stripe Checkout link (the
//! webhook credits it) or Kaspi instructions (an admin credits it by hand; the admin chat is
//! told about the order).
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, PayButton};
use crate::payments::create_order;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton};

pub async fn packs(ctx: &Ctx<'_>) -> HandlerResult {
    let rows = ctx
        .app
        .prices
        .packs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let off = p.discount_percent();
            let label = if off > 0 {
                format!("{} — {} ₸ (−{off}%)", p.tokens, p.price_kzt)
            } else {
                format!("{} — {} ₸", p.tokens, p.price_kzt)
            };
            row(&[(label, Callback::Pay(PayButton::Pack(i)).data())])
        })
        .collect();
    let balance = crate::db::ledger::balance_of(&ctx.app.db, ctx.user).await?;
    ctx.say_with(
        ctx.t("buy.choose", &[("balance", &balance)]),
        keyboard(rows),
    )
    .await
}

/// `pay:p:<pack>` (choose the method), `pay:s:<pack>` (Stripe), `pay:k:<pack>` (Kaspi).
pub async fn on_button(ctx: &Ctx<'_>, button: PayButton) -> Result<bool, HandlerError> {
    let (PayButton::Pack(index) | PayButton::Stripe(index) | PayButton::Kaspi(index)) = button;
    let Some(pack) = ctx.app.prices.packs.get(index).cloned() else {
        return Ok(false);
    };
    match button {
        PayButton::Pack(_) => {
            let mut buttons = Vec::new();
            if ctx.app.stripe.is_some() {
                buttons
                    .push(ctx.button("buy.card", Callback::Pay(PayButton::Stripe(index)).data()));
            }
            if ctx.app.settings.kaspi_phone.is_some() {
                buttons
                    .push(ctx.button("buy.kaspi", Callback::Pay(PayButton::Kaspi(index)).data()));
            }
            if buttons.is_empty() {
                ctx.say(ctx.t("buy.unavailable", &[])).await?;
            } else {
                ctx.say_with(
                    ctx.t(
                        "buy.method",
                        &[("tokens", &pack.tokens), ("price", &pack.price_kzt)],
                    ),
                    keyboard(vec![row(&buttons)]),
                )
                .await?;
            }
        }
        PayButton::Stripe(_) | PayButton::Kaspi(_)
            if !ctx
                .within_limit(super::rate_limit::Action::Checkout)
                .await? =>
        {
            return Ok(true);
        }
        PayButton::Stripe(_) => {
            let Some(stripe) = &ctx.app.stripe else {
                return Ok(false);
            };
            let base = ctx
                .app
                .settings
                .public_url
                .clone()
                .unwrap_or_else(|| "https://t.me".into());
            let checkout = stripe
                .checkout(
                    &ctx.app.db,
                    ctx.user,
                    pack.tokens,
                    pack.price_kzt,
                    &format!("{base}/paid"),
                    &format!("{base}/cancelled"),
                )
                .await;
            match checkout {
                Ok(c) => {
                    let url = reqwest::Url::parse(&c.url)?;
                    ctx.bot
                        .send_message(
                            ctx.chat,
                            ctx.t(
                                "buy.stripe",
                                &[("tokens", &pack.tokens), ("price", &pack.price_kzt)],
                            ),
                        )
                        .reply_markup(keyboard(vec![vec![InlineKeyboardButton::url(
                            ctx.t("buy.pay_button", &[("price", &pack.price_kzt)]),
                            url,
                        )]]))
                        .await?;
                }
                Err(e) => {
                    tracing::warn!(user_id = ctx.user, error = %e, "Stripe checkout failed");
                    ctx.say(ctx.t("buy.failed", &[])).await?;
                }
            }
        }
        PayButton::Kaspi(_) => {
            let Some(phone) = ctx.app.settings.kaspi_phone.clone() else {
                return Ok(false);
            };
            let order = create_order(
                &ctx.app.db,
                ctx.user,
                "kaspi",
                pack.tokens,
                pack.price_kzt * 100,
                "kzt",
            )
            .await?;
            ctx.say(ctx.t(
                "pay.kaspi",
                &[
                    ("amount", &pack.price_kzt),
                    ("phone", &phone),
                    ("order", &order),
                ],
            ))
            .await?;
            if let Some(admin) = ctx.app.settings.admin_chat_id {
                let _ = ctx
                    .bot
                    .send_message(
                        ChatId(admin),
                        ctx.t(
                            "adm.kaspi_order",
                            &[
                                ("order", &order),
                                ("user", &ctx.user),
                                ("tokens", &pack.tokens),
                                ("price", &pack.price_kzt),
                            ],
                        ),
                    )
                    .await;
            }
        }
    }
    Ok(true)
}
