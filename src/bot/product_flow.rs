//! Product cards: photo → description → template → wishes (or skip) → quantity 1/2/3/5 →
//! a confirmation card (product, template, quantity, cost) → N paid jobs. "Make another with
//! this product" comes back to the template choice with the same photo and description.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, ProductButton};
use super::dialogue::Dialogue;
use super::texts::Lang;
use crate::pipelines::product::{self, ProductParams, Template};
use crate::queue::NewJob;

pub const QUANTITIES: [u32; 4] = [1, 2, 3, 5];
const TIER: &str = "fast";
const SECONDS: u32 = 8;
const SIZE: &str = "720x1280";
pub const MAX_DESCRIPTION_CHARS: usize = 600;

fn unit_price(ctx: &Ctx<'_>) -> i64 {
    ctx.app
        .prices
        .video_tokens(TIER, "720p", SECONDS)
        .unwrap_or(0)
}

fn name_of(t: &Template, lang: Lang) -> &str {
    match lang {
        Lang::Ru => &t.name_ru,
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

pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: ProductButton,
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
            let tpl = templates_list()
                .into_iter()
                .find(|t| t.id == template)
                .map(|t| name_of(&t, ctx.lang).to_string())
                .unwrap_or_else(|| template.clone());
            let card = ctx.t(
                "product.confirm",
                &[
                    ("description", &description),
                    ("template", &tpl),
                    ("wishes", &wishes.clone().unwrap_or_else(|| "—".into())),
                    ("quantity", &quantity),
                    ("price", &(unit_price(ctx) * i64::from(quantity))),
                ],
            );
            ctx.save(&Dialogue::ProductConfirm {
                photo,
                description,
                template,
                wishes,
                quantity,
            })
            .await?;
            ctx.say_with(
                card,
                keyboard(vec![row(&[
                    ctx.button("product.go", Callback::Product(ProductButton::Go).data()),
                    ctx.button("flow.cancel", Callback::CancelFlow.data()),
                ])]),
            )
            .await?;
        }
        (
            Dialogue::ProductConfirm {
                photo,
                description,
                template,
                wishes,
                quantity,
            },
            ProductButton::Go,
        ) => {
            let params = ProductParams {
                image: photo,
                description,
                template,
                wishes,
                tier: TIER.into(),
                seconds: SECONDS,
                size: SIZE.into(),
            };
            let unit = unit_price(ctx);
            let jobs = (0..quantity)
                .map(|_| NewJob {
                    user_id: ctx.user,
                    spec: crate::jobs::JobSpec::ProductVideo(params.clone()),
                    cost_tokens: unit,
                    max_attempts: 4,
                })
                .collect();
            if !ctx.submit(jobs, None).await?.is_empty() {
                ctx.save(&Dialogue::Idle).await?;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}
