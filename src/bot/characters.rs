//! The character gallery managed from Telegram by admins: `/addcharacter` → a photo (checked:
//! it decodes, is at least 256 px on its short side, and shows exactly one face) → gender →
//! name; `/characters` lists them with a remove button each. Stored in the database and the
//! object store, so it works the same with S3 in Docker; the UGC gallery shows them first, in
//! the order added.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::callback::{Callback, GalleryButton};
use super::dialogue::Dialogue;
use teloxide::types::FileId;

const MIN_SIDE: u32 = 256;

pub async fn start(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.save(&Dialogue::AddCharacterPhoto).await?;
    ctx.say(ctx.t("gallery.send_photo", &[])).await
}

/// The portrait: kept only with one face, big enough.
pub async fn photo(ctx: &Ctx<'_>, file: FileId, size: u32) -> HandlerResult {
    let Some(path) = super::uploads::download(ctx, &file, size, "jpg").await? else {
        return Ok(());
    };
    let p = path.clone();
    let checked = tokio::task::spawn_blocking(move || media::faces_in_image(&p)).await?;
    let problem = match &checked {
        Err(e) => Some(super::uploads::reason_for(ctx, e)),
        Ok((w, h, _)) if (*w).min(*h) < MIN_SIDE => Some(ctx.t(
            "gallery.too_small",
            &[("w", w), ("h", h), ("min", &MIN_SIDE)],
        )),
        Ok((_, _, faces)) if faces.len() != 1 => {
            Some(ctx.t("gallery.faces", &[("n", &faces.len())]))
        }
        Ok(_) => None,
    };
    if let Some(why) = problem {
        let _ = std::fs::remove_file(&path);
        return ctx
            .say(ctx.t("gallery.bad_photo", &[("reason", &why)]))
            .await;
    }
    let key = crate::pipelines::store_file(&ctx.app.storage, "gallery", &path, "jpg", "image/jpeg")
        .await
        .map_err(|e| format!("{e:?}"))?;
    let _ = std::fs::remove_file(&path);
    ctx.save(&Dialogue::AddCharacterGender { key }).await?;
    ctx.say_with(
        ctx.t("gallery.ask_gender", &[]),
        keyboard(vec![row(&[
            ctx.button(
                "ugc.female",
                Callback::Gallery(GalleryButton::Gender("female".into())).data(),
            ),
            ctx.button(
                "ugc.male",
                Callback::Gallery(GalleryButton::Gender("male".into())).data(),
            ),
        ])]),
    )
    .await
}

pub async fn name(ctx: &Ctx<'_>, key: String, gender: String, text: &str) -> HandlerResult {
    let name: String = text.trim().chars().take(40).collect();
    if name.is_empty() {
        return ctx.say(ctx.t("gallery.ask_name", &[])).await;
    }
    let id = crate::db::characters::add(&ctx.app.db, &gender, &name, &key).await?;
    ctx.save(&Dialogue::Idle).await?;
    ctx.say(ctx.t("gallery.added", &[("name", &name), ("id", &id)]))
        .await
}

/// `/characters`: every character with a remove button.
pub async fn list(ctx: &Ctx<'_>) -> HandlerResult {
    let all = crate::db::characters::list(&ctx.app.db, None).await?;
    if all.is_empty() {
        return ctx.say(ctx.t("gallery.none", &[])).await;
    }
    let lines: Vec<String> = all
        .iter()
        .map(|c| format!("#{} {} ({})", c.id, c.name, c.gender))
        .collect();
    let rows = all
        .iter()
        .map(|c| {
            row(&[(
                format!("✖ #{} {}", c.id, c.name),
                Callback::Gallery(GalleryButton::Remove(c.id)).data(),
            )])
        })
        .collect();
    ctx.say_with(lines.join("\n"), keyboard(rows)).await
}

pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: GalleryButton,
) -> Result<bool, HandlerError> {
    if !ctx.app.is_admin(ctx.user) {
        return Ok(false);
    }
    match (state, button) {
        (Dialogue::AddCharacterGender { key }, GalleryButton::Gender(gender))
            if gender == "female" || gender == "male" =>
        {
            ctx.save(&Dialogue::AddCharacterName { key, gender })
                .await?;
            ctx.say(ctx.t("gallery.ask_name", &[])).await?;
        }
        (_, GalleryButton::Remove(id)) => {
            let key = if crate::db::characters::remove(&ctx.app.db, id).await? {
                "gallery.removed"
            } else {
                "gallery.no_such"
            };
            ctx.say(ctx.t(key, &[("id", &id)])).await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
