//! A seller's products in the chat: a shop link pasted anywhere outside a step becomes a
//! product card (read with the API's intake), "✍️ Scripts" writes three hooks for a UGC ad in
//! the user's language, and the one picked waits at the script step of the UGC flow.
//! `/products` lists the products kept. A page that describes no product gets "send a photo
//! and a few words instead", and the next message becomes the product.
use crate::bot::app::{keyboard, row, Ctx, HandlerResult};
use crate::bot::callback::{Callback, ShopButton};
use crate::bot::dialogue::Dialogue;
use crate::db::products::StoredProduct;
use crate::products::scripts::Script;
use crate::products::{IntakeError, ProductFacts};
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::InputFile;

/// Whether a message is a link to read (not a sentence that happens to contain a dot): one
/// word that starts with a scheme or `www.`, or has a path after its host.
pub fn as_link(text: &str) -> Option<reqwest::Url> {
    let t = text.trim();
    if t.is_empty() || t.chars().any(char::is_whitespace) {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let linkish = lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("www.")
        || lower
            .split_once('/')
            .is_some_and(|(host, _)| host.contains('.'));
    if !linkish {
        return None;
    }
    crate::products::page::parse_link(t).ok()
}

/// A pasted link: read it, keep the product, show its card.
pub async fn from_link(ctx: &Ctx<'_>, url: reqwest::Url) -> HandlerResult {
    ctx.say(ctx.t("shop.reading", &[])).await?;
    match ctx.app.intake.from_link(ctx.user, &url).await {
        Ok(product) => show(ctx, &product).await,
        Err(IntakeError::NothingUsable) => {
            ctx.save(&Dialogue::ShopWords).await?;
            ctx.say(ctx.t("shop.nothing", &[])).await
        }
        Err(IntakeError::TooMany(minutes)) => {
            ctx.say(ctx.t("limit.actions", &[("minutes", &minutes)]))
                .await
        }
        Err(IntakeError::Fetch(e)) => {
            tracing::info!(user_id = ctx.user, reason = %e, "a shop link could not be read");
            let detail = match &e {
                crate::products::FetchError::Status(code) => code.to_string(),
                crate::products::FetchError::NotHtml(kind) => kind.chars().take(60).collect(),
                _ => String::new(),
            };
            ctx.say(ctx.t(e.key(), &[("detail", &detail)])).await
        }
        Err(IntakeError::Db(e)) => Err(e.into()),
    }
}

/// The seller's own words for a product: the first line is its name, the rest describes it
/// (a photo with the words as its caption becomes the product's photo).
pub async fn from_words(ctx: &Ctx<'_>, text: &str, photo: Option<String>) -> HandlerResult {
    let (name, rest) = text.trim().split_once('\n').unwrap_or((text.trim(), ""));
    use crate::products::extract::{clean_text, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
    let facts = ProductFacts {
        name: clean_text(name, MAX_NAME_CHARS),
        description: clean_text(rest, MAX_DESCRIPTION_CHARS),
        ..Default::default()
    };
    if facts.name.is_empty() {
        return ctx.say(ctx.t("shop.nothing", &[])).await;
    }
    ctx.save(&Dialogue::Idle).await?;
    let product = ctx
        .app
        .intake
        .from_words(ctx.user, &facts, photo.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    show(ctx, &product).await
}

fn card_text(ctx: &Ctx<'_>, p: &StoredProduct) -> String {
    let mut lines = vec![format!("🛍 {}", p.facts.name)];
    if let Some(brand) = &p.facts.brand {
        lines.push(ctx.t("shop.brand", &[("brand", brand)]));
    }
    if let Some(price) = p.facts.price_text() {
        lines.push(ctx.t("shop.price", &[("price", &price)]));
    }
    if !p.facts.description.is_empty() {
        let short: String = p.facts.description.chars().take(400).collect();
        let more = if p.facts.description.chars().count() > 400 {
            "…"
        } else {
            ""
        };
        lines.push(format!("\n{short}{more}"));
    }
    lines.push(String::new());
    lines.push(ctx.t("shop.card_next", &[]));
    lines.join("\n")
}

/// The product's card: its photo (when one was read) with the name, brand, price and the
/// start of its description, and the button that writes scripts.
pub async fn show(ctx: &Ctx<'_>, p: &StoredProduct) -> HandlerResult {
    let kb = keyboard(vec![row(&[ctx.button(
        "shop.write_scripts",
        Callback::Shop(ShopButton::Scripts(p.id)).data(),
    )])]);
    let text = card_text(ctx, p);
    if let Some(key) = &p.image_key {
        if let Ok(bytes) = ctx.app.storage.get_bytes(key).await {
            // A caption holds 1024 characters; the card stays well under.
            let caption: String = text.chars().take(1000).collect();
            let sent = ctx
                .bot
                .send_photo(ctx.chat, InputFile::memory(bytes).file_name("product.jpg"))
                .caption(caption)
                .reply_markup(kb.clone())
                .await;
            if sent.is_ok() {
                return Ok(());
            }
        }
    }
    ctx.say_with(text, kb).await
}

/// `/products`: the newest ten, one button each.
pub async fn list(ctx: &Ctx<'_>) -> HandlerResult {
    let products = crate::db::products::list(&ctx.app.db, ctx.user, 10).await?;
    if products.is_empty() {
        return ctx.say(ctx.t("shop.none_yet", &[])).await;
    }
    let rows = products
        .iter()
        .map(|p| {
            let label: String = p.facts.name.chars().take(40).collect();
            row(&[(label, Callback::Shop(ShopButton::Show(p.id)).data())])
        })
        .collect();
    ctx.say_with(ctx.t("shop.list", &[]), keyboard(rows)).await
}

pub async fn on_button(ctx: &Ctx<'_>, button: ShopButton) -> HandlerResult {
    match button {
        ShopButton::Show(id) => match crate::db::products::get(&ctx.app.db, ctx.user, id).await? {
            Some(p) => show(ctx, &p).await,
            None => ctx.say(ctx.t("shop.gone", &[])).await,
        },
        ShopButton::Scripts(id) => write_scripts(ctx, id).await,
        ShopButton::Use(index) => use_script(ctx, index, 0).await,
        ShopButton::UseAll(n) => use_script(ctx, 0, n.saturating_sub(1)).await,
    }
}

const LETTERS: [&str; 3] = ["A", "B", "C"];

/// Three scripts for the product (the chat model or the templates), kept as the user's
/// current set, shown with their speech length and a button each.
async fn write_scripts(ctx: &Ctx<'_>, id: i64) -> HandlerResult {
    let Some(p) = crate::db::products::get(&ctx.app.db, ctx.user, id).await? else {
        return ctx.say(ctx.t("shop.gone", &[])).await;
    };
    if let Err(minutes) = crate::products::scripts::count_set(&ctx.app.db, ctx.user).await? {
        return ctx
            .say(ctx.t("limit.actions", &[("minutes", &minutes)]))
            .await;
    }
    ctx.say(ctx.t("shop.writing", &[])).await?;
    let scripts = ctx.app.scripts.write(&p.facts, ctx.lang.code()).await;
    let json = serde_json::to_string(&scripts)?;
    crate::db::products::keep_scripts(&ctx.app.db, ctx.user, p.id, &json).await?;
    // Sent as HTML: every text from the page or the model is escaped (a product name could
    // carry a link otherwise).
    let mut text = vec![ctx.t("shop.scripts_intro", &[("name", &escape(&p.facts.name))])];
    for (letter, s) in LETTERS.iter().zip(&scripts) {
        text.push(format!(
            "\n<b>{letter} · {}</b> · ~{} {}\n{}",
            escape(&s.hook),
            s.seconds,
            ctx.t("shop.seconds", &[]),
            escape(&s.text)
        ));
    }
    text.push(format!("\n{}", ctx.t("shop.scripts_pick", &[])));
    let buttons: Vec<(String, String)> = LETTERS
        .iter()
        .enumerate()
        .take(scripts.len())
        .map(|(i, letter)| {
            (
                ctx.t("shop.use", &[("letter", letter)]),
                Callback::Shop(ShopButton::Use(i)).data(),
            )
        })
        .collect();
    // Variants: the same video with two or three of the hooks, each its own job.
    let many: Vec<(String, String)> = (2..=scripts.len().min(3))
        .map(|n| {
            (
                ctx.t("shop.use_many", &[("letters", &LETTERS[..n].join(" + "))]),
                Callback::Shop(ShopButton::UseAll(n)).data(),
            )
        })
        .collect();
    let kb = keyboard(vec![
        row(&buttons),
        row(&many),
        row(&[ctx.button(
            "shop.more",
            Callback::Shop(ShopButton::Scripts(p.id)).data(),
        )]),
    ]);
    ctx.bot
        .send_message(ctx.chat, text.join("\n"))
        .parse_mode(teloxide::types::ParseMode::Html)
        .reply_markup(kb)
        .await?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The picked script waits for the script step (with `also` more after it, ordered as its
/// variants); the UGC flow starts.
async fn use_script(ctx: &Ctx<'_>, index: usize, also: usize) -> HandlerResult {
    let Some((_, json, _)) = crate::db::products::scripts_of(&ctx.app.db, ctx.user).await? else {
        return ctx.say(ctx.t("shop.gone", &[])).await;
    };
    let scripts: Vec<Script> = serde_json::from_str(&json).unwrap_or_default();
    let Some(script) = scripts.get(index) else {
        return ctx.say(ctx.t("shop.gone", &[])).await;
    };
    let variants: Vec<String> = scripts
        .iter()
        .skip(index + 1)
        .take(also)
        .map(|s| s.text.clone())
        .collect();
    crate::db::products::pick_script(&ctx.app.db, ctx.user, Some(&script.text), &variants).await?;
    let letters = LETTERS[index.min(2)..=(index + variants.len()).min(2)].join(" + ");
    ctx.say(ctx.t("shop.picked", &[("letter", &letters)]))
        .await?;
    crate::bot::ugc::flow::start(ctx).await
}

/// The script picked from a product's set, if one waits.
pub async fn picked_script(ctx: &Ctx<'_>) -> Result<Option<String>, crate::db::DbError> {
    Ok(crate::db::products::scripts_of(&ctx.app.db, ctx.user)
        .await?
        .and_then(|(_, _, picked)| picked))
}
