//! `/brand`: the seller's brand kit, set once and copied into every UGC order until changed —
//! the logo (a PNG with transparency sent as a file, or a photo; at most 2 MB), the captions'
//! accent colour, an end card after the speech (the product of the picked script: its photo,
//! name and price) and its call to action. The layout still shows the logo before paying.
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{BrandButton, Callback};
use crate::bot::dialogue::Dialogue;
use crate::db::brand::BrandKit;
use crate::jobs::{Brand, EndCardSpec};
use teloxide::types::FileId;

/// The accent colours offered (the first is the captions' own yellow).
pub const ACCENTS: [&str; 5] = ["#FFD600", "#FF3B6B", "#2ECC71", "#3DA5FF", "#FFFFFF"];

/// `/brand`: the kit as it is, with its buttons.
pub async fn show(ctx: &Ctx<'_>) -> HandlerResult {
    let kit = crate::db::brand::get(&ctx.app.db, ctx.user)
        .await?
        .unwrap_or_default();
    let yes_no = |on: bool| ctx.t(if on { "brand.on" } else { "brand.off" }, &[]);
    let action = kit
        .call_to_action
        .clone()
        .unwrap_or_else(|| ctx.t("brand.default_action", &[]));
    let text = ctx.t(
        "brand.card",
        &[
            ("logo", &yes_no(kit.logo_key.is_some())),
            ("accent", &kit.accent.as_deref().unwrap_or(ACCENTS[0])),
            ("end_card", &yes_no(kit.end_card)),
            ("action", &action),
        ],
    );
    let b = |key: &str, button: BrandButton| ctx.button(key, Callback::Brand(button).data());
    ctx.say_with(
        text,
        keyboard(vec![
            row(&[
                b("brand.logo", BrandButton::Logo),
                b("brand.accent", BrandButton::Accent),
            ]),
            row(&[
                b("brand.end_card", BrandButton::EndCard),
                b("brand.action", BrandButton::Action),
            ]),
            row(&[b("brand.remove", BrandButton::Remove)]),
        ]),
    )
    .await
}

pub async fn on_button(ctx: &Ctx<'_>, button: BrandButton) -> HandlerResult {
    let db = &ctx.app.db;
    let mut kit = crate::db::brand::get(db, ctx.user)
        .await?
        .unwrap_or_default();
    match button {
        BrandButton::Logo => {
            ctx.save(&Dialogue::BrandLogo).await?;
            return ctx.say(ctx.t("brand.send_logo", &[])).await;
        }
        BrandButton::Action => {
            ctx.save(&Dialogue::BrandAction).await?;
            return ctx.say(ctx.t("brand.send_action", &[])).await;
        }
        BrandButton::Accent => {
            let now = kit.accent.as_deref().unwrap_or(ACCENTS[0]);
            let i = ACCENTS.iter().position(|a| *a == now).unwrap_or(0);
            kit.accent = Some(ACCENTS[(i + 1) % ACCENTS.len()].to_string());
        }
        BrandButton::EndCard => kit.end_card = !kit.end_card,
        BrandButton::Remove => {
            crate::db::brand::remove(db, ctx.user).await?;
            return show(ctx).await;
        }
    }
    crate::db::brand::put(db, ctx.user, &kit).await?;
    show(ctx).await
}

/// The logo: at most 2 MB, an image that decodes, kept as sent (a PNG keeps its transparency).
pub async fn logo(ctx: &Ctx<'_>, file: FileId, size: u32) -> HandlerResult {
    let max = crate::orders::rules::MAX_LOGO_BYTES;
    if i64::from(size) > max {
        return ctx.say(ctx.t("brand.logo_too_large", &[])).await;
    }
    let Some(path) = crate::bot::uploads::download(ctx, &file, size, "img").await? else {
        return Ok(());
    };
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len() as i64);
    if bytes > max {
        let _ = std::fs::remove_file(&path);
        return ctx.say(ctx.t("brand.logo_too_large", &[])).await;
    }
    // Decodes within the budget, and is read as the compositor reads a logo (≤ 4 MP).
    let checked = match crate::orders::files::check_photo(&path).await? {
        Ok(()) => {
            let p = path.clone();
            tokio::task::spawn_blocking(move || media::check_brand_files(Some(&p), None)).await?
        }
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&path);
        let reason = crate::bot::uploads::reason_for(ctx, &e);
        return ctx
            .say(ctx.t("input.bad_photo", &[("reason", &reason)]))
            .await;
    }
    let png = std::fs::read(&path)?.starts_with(b"\x89PNG");
    let (ext, mime) = if png {
        ("png", "image/png")
    } else {
        ("jpg", "image/jpeg")
    };
    let key = crate::pipelines::store_file(&ctx.app.storage, "brand", &path, ext, mime)
        .await
        .map_err(|e| format!("{e:?}"))?;
    crate::bot::uploads::record(ctx, &key, mime, &path).await?;
    let _ = std::fs::remove_file(&path);
    let mut kit = crate::db::brand::get(&ctx.app.db, ctx.user)
        .await?
        .unwrap_or_default();
    kit.logo_key = Some(key);
    crate::db::brand::put(&ctx.app.db, ctx.user, &kit).await?;
    ctx.save(&Dialogue::Idle).await?;
    show(ctx).await
}

/// The end card's call to action (at most 100 characters).
pub async fn action(ctx: &Ctx<'_>, text: &str) -> HandlerResult {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() || text.chars().count() > crate::orders::rules::MAX_END_CARD_ACTION {
        return ctx.say(ctx.t("brand.send_action", &[])).await;
    }
    let mut kit = crate::db::brand::get(&ctx.app.db, ctx.user)
        .await?
        .unwrap_or_default();
    kit.call_to_action = Some(text);
    crate::db::brand::put(&ctx.app.db, ctx.user, &kit).await?;
    ctx.save(&Dialogue::Idle).await?;
    show(ctx).await
}

/// What an order carries of the user's kit: the logo, the accent, and the end card when it is
/// on and the order is for a product (the one whose script was picked).
pub async fn for_order(ctx: &Ctx<'_>) -> Result<Option<Brand>, HandlerError> {
    let Some(kit) = crate::db::brand::get(&ctx.app.db, ctx.user).await? else {
        return Ok(None);
    };
    let product = match crate::db::products::scripts_of(&ctx.app.db, ctx.user).await? {
        Some((id, _, Some(_))) if kit.end_card => {
            crate::db::products::get(&ctx.app.db, ctx.user, id).await?
        }
        _ => None,
    };
    Ok(Some(brand_of(ctx, &kit, product.as_ref())))
}

fn brand_of(
    ctx: &Ctx<'_>,
    kit: &BrandKit,
    product: Option<&crate::db::products::StoredProduct>,
) -> Brand {
    Brand {
        logo: kit.logo_key.clone(),
        accent: kit.accent.clone(),
        // A product without a name has no card (its texts are the page's: kept in bounds).
        end_card: product
            .filter(|p| !p.facts.name.trim().is_empty())
            .map(|p| EndCardSpec {
                photo: p.image_key.clone(),
                title: p
                    .facts
                    .name
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(80)
                    .collect(),
                price: p
                    .facts
                    .price_text()
                    .map(|t| t.chars().filter(|c| !c.is_control()).take(30).collect()),
                call_to_action: kit
                    .call_to_action
                    .clone()
                    .unwrap_or_else(|| ctx.t("brand.default_action", &[])),
                seconds: 2.0,
            }),
    }
}

/// The kit's logo for the layout still, if any.
pub async fn logo_key(ctx: &Ctx<'_>) -> Result<Option<String>, crate::db::DbError> {
    Ok(crate::db::brand::get(&ctx.app.db, ctx.user)
        .await?
        .and_then(|k| k.logo_key))
}
