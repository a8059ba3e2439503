//! Product cards: photo → description → template → wishes (or skip) → quantity 1/2/3/5 →
//! a confirmation card (product, template, quantity, cost) → N paid jobs. "Make another with
//! this product" comes back to the template choice with the same photo and description.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, ProductButton};
use super::dialogue::Dialogue;
use super::texts::Lang;
use crate::pipelines::product::{self, ProductParams, Template};
use teloxide::prelude::*;

pub const QUANTITIES: [u32; 4] = [1, 2, 3, 5];
const TIER: &str = "fast";
const SECONDS: u32 = 8;
const SIZE: &str = "720x1280";
pub use crate::orders::MAX_DESCRIPTION_CHARS;

/// One clip's price with these settings (0 when the tier does not offer the size).
fn unit_price_of(ctx: &Ctx<'_>, tier: &str, seconds: u32, size: &str) -> i64 {
    crate::orders::price::video_tokens(&ctx.app.prices, tier, size, seconds).unwrap_or(0)
}

fn unit_price(ctx: &Ctx<'_>) -> i64 {
    unit_price_of(ctx, TIER, SECONDS, SIZE)
}

fn name_of(t: &Template, lang: Lang) -> &str {
    match lang {
        Lang::Ru => &t.name_ru,
        Lang::Kk => &t.name_kk,
        Lang::En => &t.name_en,
    }
}

pub async fn start(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.save(&Dialogue::ProductPhoto).await?;
    ctx.say(ctx.t("product.send_photo", &[])).await
}

pub async fn ask_description(ctx: &Ctx<'_>, photo: String) -> HandlerResult {
    ctx.save(&Dialogue::ProductDescription { photo }).await?;
    ctx.say(ctx.t(
        "product.ask_description",
        &[("limit", &MAX_DESCRIPTION_CHARS)],
    ))
    .await
}

pub async fn description(ctx: &Ctx<'_>, photo: String, text: &str) -> HandlerResult {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return ctx
            .say(ctx.t("product.too_long", &[("limit", &MAX_DESCRIPTION_CHARS)]))
            .await;
    }
    templates(ctx, photo, text.to_string()).await
}

/// The template list for a product.
pub async fn templates(ctx: &Ctx<'_>, photo: String, description: String) -> HandlerResult {
    ctx.save(&Dialogue::ProductTemplate { photo, description })
        .await?;
    let rows = templates_list()
        .iter()
        .map(|t| {
            row(&[(
                name_of(t, ctx.lang).to_string(),
                Callback::Product(ProductButton::Template(t.id.clone())).data(),
            )])
        })
        .collect();
    ctx.say_with(ctx.t("product.choose_template", &[]), keyboard(rows))
        .await
}

fn templates_list() -> Vec<Template> {
    product::templates()
}

pub async fn wishes(
    ctx: &Ctx<'_>,
    photo: String,
    description: String,
    template: String,
    wishes: Option<&str>,
) -> HandlerResult {
    let wishes = wishes
        .map(|w| {
            w.trim()
                .chars()
                .take(MAX_DESCRIPTION_CHARS)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty());
    ctx.save(&Dialogue::ProductQuantity {
        photo,
        description,
        template,
        wishes,
    })
    .await?;
    let unit = unit_price(ctx);
    let buttons: Vec<(String, String)> = QUANTITIES
        .iter()
        .map(|q| {
            (
                ctx.t(
                    "product.quantity_button",
                    &[("n", q), ("price", &(unit * i64::from(*q)))],
                ),
                Callback::Product(ProductButton::Quantity(*q)).data(),
            )
        })
        .collect();
    ctx.say_with(
        ctx.t("product.ask_quantity", &[]),
        keyboard(vec![row(&buttons)]),
    )
    .await
}

/// The confirmation card with its settings buttons (sent, or edited in place).
async fn confirm_card(
    ctx: &Ctx<'_>,
    state: &Dialogue,
    edit: Option<teloxide::types::MessageId>,
) -> HandlerResult {
    let Dialogue::ProductConfirm {
        description,
        template,
        wishes,
        quantity,
        tier,
        seconds,
        size,
        ..
    } = state
    else {
        return Ok(());
    };
    let tpl = templates_list()
        .into_iter()
        .find(|t| &t.id == template)
        .map(|t| name_of(&t, ctx.lang).to_string())
        .unwrap_or_else(|| template.clone());
    let unit = unit_price_of(ctx, tier, *seconds, size);
    let card = ctx.t(
        "product.confirm",
        &[
            ("description", description),
            ("template", &tpl),
            ("wishes", &wishes.clone().unwrap_or_else(|| "—".into())),
            ("quantity", quantity),
            ("price", &(unit * i64::from(*quantity))),
        ],
    ) + &ctx.t(
        "product.settings",
        &[("tier", tier), ("seconds", seconds), ("size", size)],
    );
    let mark = |on: bool, t: String| if on { format!("• {t}") } else { t };
    let orientation = super::video_flow::orientation_of(size);
    let b = |text: String, button: ProductButton| (text, Callback::Product(button).data());
    let kb = keyboard(vec![
        row(&[
            b(
                mark(tier == "fast", ctx.t("product.tier_fast", &[])),
                ProductButton::Tier("fast".into()),
            ),
            b(
                mark(tier == "quality", ctx.t("product.tier_quality", &[])),
                ProductButton::Tier("quality".into()),
            ),
        ]),
        row(&[4u32, 8, 12].map(|n| {
            b(
                mark(*seconds == n, format!("{n} s")),
                ProductButton::Seconds(n),
            )
        })),
        row(
            &[("v", "↕ 9:16"), ("h", "↔ 16:9"), ("s", "◻ 1:1")].map(|(o, label)| {
                b(
                    mark(orientation == o, label.to_string()),
                    ProductButton::Orientation(o.into()),
                )
            }),
        ),
        row(&[
            ctx.button("product.go", Callback::Product(ProductButton::Go).data()),
            ctx.button("flow.cancel", Callback::CancelFlow.data()),
        ]),
    ]);
    match edit {
        Some(id) => {
            ctx.bot
                .edit_message_text(ctx.chat, id, card)
                .reply_markup(kb)
                .await?;
            Ok(())
        }
        None => ctx.say_with(card, kb).await,
    }
}

pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: ProductButton,
    message: Option<teloxide::types::MessageId>,
) -> Result<bool, HandlerError> {
    match (state, button) {
        (Dialogue::ProductTemplate { photo, description }, ProductButton::Template(value)) => {
            if !templates_list().iter().any(|t| t.id == value) {
                return Ok(false);
            }
            ctx.save(&Dialogue::ProductWishes {
                photo,
                description,
                template: value,
            })
            .await?;
            ctx.say_with(
                ctx.t("product.ask_wishes", &[]),
                keyboard(vec![row(&[ctx.button(
                    "product.skip",
                    Callback::Product(ProductButton::SkipWishes).data(),
                )])]),
            )
            .await?;
        }
        (
            Dialogue::ProductWishes {
                photo,
                description,
                template,
            },
            ProductButton::SkipWishes,
        ) => wishes(ctx, photo, description, template, None).await?,
        (
            Dialogue::ProductQuantity {
                photo,
                description,
                template,
                wishes,
            },
            ProductButton::Quantity(quantity),
        ) => {
            let Some(quantity) = Some(quantity).filter(|q| QUANTITIES.contains(q)) else {
                return Ok(false);
            };
            let state = Dialogue::ProductConfirm {
                photo,
                description,
                template,
                wishes,
                quantity,
                tier: TIER.into(),
                seconds: SECONDS,
                size: SIZE.into(),
            };
            ctx.save(&state).await?;
            confirm_card(ctx, &state, None).await?;
        }
        (
            mut state @ Dialogue::ProductConfirm { .. },
            change @ (ProductButton::Tier(_)
            | ProductButton::Seconds(_)
            | ProductButton::Orientation(_)),
        ) => {
            let Dialogue::ProductConfirm {
                tier,
                seconds,
                size,
                ..
            } = &mut state
            else {
                return Ok(false);
            };
            match change {
                ProductButton::Tier(t) if ["fast", "quality"].contains(&t.as_str()) => *tier = t,
                ProductButton::Seconds(n) if [4, 8, 12].contains(&n) => *seconds = n,
                ProductButton::Orientation(o) if ["v", "h", "s"].contains(&o.as_str()) => {
                    *size = super::video_flow::size_for(&o, false)
                }
                _ => return Ok(false),
            }
            ctx.save(&state).await?;
            confirm_card(ctx, &state, message).await?;
        }
        (
            Dialogue::ProductConfirm {
                photo,
                description,
                template,
                wishes,
                quantity,
                tier,
                seconds,
                size,
            },
            ProductButton::Go,
        ) => {
            let unit = unit_price_of(ctx, &tier, seconds, &size);
            if unit <= 0 {
                return Ok(false);
            }
            let params = ProductParams {
                image: photo,
                description,
                template,
                wishes,
                tier,
                seconds,
                size,
            };
            let mut order =
                super::app::BotOrder::one(crate::jobs::JobSpec::ProductVideo(params.clone()), 4);
            order.specs = vec![crate::jobs::JobSpec::ProductVideo(params); quantity as usize];
            if !ctx.submit(order).await?.is_empty() {
                ctx.save(&Dialogue::Idle).await?;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}
