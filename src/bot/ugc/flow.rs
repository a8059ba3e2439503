//! UGC talking-head ads: format (talking head / on my background → a clip ≤ 15 s, ≤ 20 MB,
//! checked with probe) → gender → character gallery in pages (or the user's own photo) →
//! edit? (prompt → result → use / edit again / back to the original) → voice gallery in pages
//! with samples → script → speech preview → confirm with the price → job. `/resume` and
//! `/overlay` re-make the composite from the paid speech and talking head.
use super::catalogue::{sample, show_character, show_voices};
use crate::bot::app::BotOrder;
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{Callback, UgcButton};
use crate::bot::dialogue::Dialogue;
use crate::bot::uploads::{download, store_photo};
use crate::jobs::{EditParams, JobSpec};
use crate::storage::ObjectStore;
use teloxide::types::{FileId, MessageId};

pub use super::speech::{is_offline_voice, script, voice_of, MAX_SCRIPT_CHARS};

pub const MAX_BACKGROUND_SECONDS: f64 = 15.0;

pub async fn start(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.save(&Dialogue::UgcFormat).await?;
    ctx.say_with(
        ctx.t("ugc.format", &[]),
        keyboard(vec![row(&[
            ctx.button(
                "ugc.format_head",
                Callback::Ugc(UgcButton::Format { background: false }).data(),
            ),
            ctx.button(
                "ugc.format_bg",
                Callback::Ugc(UgcButton::Format { background: true }).data(),
            ),
        ])]),
    )
    .await
}

/// The background clip: size first, then probe (a video stream, ≤ 15 s), then stored.
pub async fn background(ctx: &Ctx<'_>, file: FileId, size: u32) -> HandlerResult {
    let Some(path) = download(ctx, &file, size, "mp4").await? else {
        return Ok(());
    };
    // A photo sent as a video is refused before FFmpeg's stream analysis would decode it.
    if media::looks_like_image(&path) {
        let _ = std::fs::remove_file(&path);
        let not_video = media::MediaError::bad_input(&path, media::InputProblem::NotMedia);
        return ctx
            .say(ctx.t(
                "input.bad_video",
                &[("reason", &crate::bot::uploads::reason_for(ctx, &not_video))],
            ))
            .await;
    }
    let p = path.clone();
    let info = tokio::task::spawn_blocking(move || media::probe(&p)).await?;
    let refusal = match &info {
        Err(e) => Some(ctx.t(
            "input.bad_video",
            &[("reason", &crate::bot::uploads::reason_for(ctx, e))],
        )),
        Ok(i) if i.video.is_none() => {
            Some(ctx.t("input.bad_video", &[("reason", &"has no picture")]))
        }
        Ok(i) if i.duration_s > MAX_BACKGROUND_SECONDS + 0.5 => Some(ctx.t(
            "input.background_too_long",
            &[("seconds", &format!("{:.0}", i.duration_s))],
        )),
        Ok(_) => None,
    };
    if let Some(why) = refusal {
        let _ = std::fs::remove_file(&path);
        return ctx.say(why).await;
    }
    let key =
        crate::pipelines::store_file(&ctx.app.storage, "backgrounds", &path, "mp4", "video/mp4")
            .await
            .map_err(|e| format!("{e:?}"))?;
    crate::bot::uploads::record(ctx, &key, "video/mp4", &path).await?;
    let _ = std::fs::remove_file(&path);
    ask_gender(ctx, Some(key)).await
}

async fn ask_gender(ctx: &Ctx<'_>, background: Option<String>) -> HandlerResult {
    ctx.save(&Dialogue::UgcGender { background }).await?;
    ctx.say_with(
        ctx.t("ugc.gender", &[]),
        keyboard(vec![row(&[
            ctx.button(
                "ugc.female",
                Callback::Ugc(UgcButton::Gender("female".into())).data(),
            ),
            ctx.button(
                "ugc.male",
                Callback::Ugc(UgcButton::Gender("male".into())).data(),
            ),
        ])]),
    )
    .await
}

/// The user's own photo as the character.
pub async fn own_character(
    ctx: &Ctx<'_>,
    background: Option<String>,
    file: FileId,
    size: u32,
) -> HandlerResult {
    let Some(key) = store_photo(ctx, file, size).await? else {
        return Ok(());
    };
    ask_edit(ctx, background, key.clone(), key).await
}

async fn ask_edit(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    original: String,
) -> HandlerResult {
    ctx.save(&Dialogue::UgcEdit {
        background,
        character,
        original,
        awaiting_prompt: false,
    })
    .await?;
    let price = crate::orders::price::edit_tokens(&ctx.app.prices);
    ctx.say_with(
        ctx.t("ugc.edit_ask", &[]),
        keyboard(vec![row(&[
            (
                ctx.t("ugc.edit_yes", &[("price", &price)]),
                Callback::Ugc(UgcButton::Edit(true)).data(),
            ),
            ctx.button("ugc.edit_no", Callback::Ugc(UgcButton::Edit(false)).data()),
        ])]),
    )
    .await
}

/// The edit prompt: a paid `character_edit` job whose result comes back as a photo with
/// "use / edit again / back to the original".
pub async fn edit_prompt(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    original: String,
    prompt: &str,
) -> HandlerResult {
    let spec = JobSpec::CharacterEdit(EditParams {
        image: character.clone(),
        prompt: prompt.to_string(),
    });
    if !ctx.submit(BotOrder::one(spec, 3)).await?.is_empty() {
        ctx.save(&Dialogue::UgcEdit {
            background,
            character,
            original,
            awaiting_prompt: false,
        })
        .await?;
    }
    Ok(())
}

pub async fn ask_script(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    voice: String,
) -> HandlerResult {
    ctx.save(&Dialogue::UgcScript {
        background,
        character,
        voice,
    })
    .await?;
    let ask = ctx.t("ugc.ask_script", &[("limit", &MAX_SCRIPT_CHARS)]);
    // A script picked from a product's set waits here: one press takes it, or the user types
    // (or pastes an edited copy of) their own.
    match crate::bot::shop::picked_script(ctx).await? {
        Some(picked) => {
            ctx.say_with(
                format!("{ask}\n\n{}\n\n{picked}", ctx.t("shop.picked_waits", &[])),
                keyboard(vec![row(&[ctx.button(
                    "shop.use_picked",
                    Callback::Ugc(UgcButton::UsePicked).data(),
                )])]),
            )
            .await
        }
        None => ctx.say(ask).await,
    }
}

pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: UgcButton,
    message: Option<MessageId>,
) -> Result<bool, HandlerError> {
    match (state, button) {
        (Dialogue::UgcFormat, UgcButton::Format { background }) => match background {
            false => ask_gender(ctx, None).await?,
            true => {
                ctx.save(&Dialogue::UgcBackground).await?;
                ctx.say(ctx.t("ugc.send_background", &[])).await?;
            }
        },
        (Dialogue::UgcGender { background }, UgcButton::Gender(value)) => {
            ctx.save(&Dialogue::UgcCharacter {
                background,
                gender: value.to_string(),
                page: 0,
            })
            .await?;
            ctx.say(ctx.t("ugc.own_photo_hint", &[])).await?;
            return show_character(ctx, &value, 0, None).await;
        }
        (
            Dialogue::UgcCharacter {
                background, gender, ..
            },
            UgcButton::Character(index),
        ) => {
            ctx.save(&Dialogue::UgcCharacter {
                background,
                gender: gender.clone(),
                page: index as u32,
            })
            .await?;
            return show_character(ctx, &gender, index, message).await;
        }
        (
            Dialogue::UgcCharacter {
                background, gender, ..
            },
            UgcButton::Pick(index),
        ) => return pick_character(ctx, background, &gender, index).await,
        (
            Dialogue::UgcEdit {
                background,
                character,
                original,
                ..
            },
            UgcButton::Edit(yes),
        ) => edit_or_voices(ctx, background, character, original, yes).await?,
        (Dialogue::UgcEdit { background, .. }, UgcButton::UseEdit(value)) => {
            let Some(edited) = edit_result(ctx, value).await? else {
                return Ok(false);
            };
            ask_voice(ctx, background, edited, 0, None).await?;
        }
        (
            Dialogue::UgcEdit {
                background,
                original,
                ..
            },
            UgcButton::BackToOriginal,
        ) => {
            ask_edit(ctx, background, original.clone(), original).await?;
        }
        (
            Dialogue::UgcVoice {
                background,
                character,
                ..
            },
            UgcButton::VoicePage(page),
        ) => ask_voice(ctx, background, character, page, message).await?,
        (Dialogue::UgcVoice { .. } | Dialogue::UgcScript { .. }, UgcButton::VoiceSample(value)) => {
            sample(ctx, &value).await?
        }
        (
            Dialogue::UgcVoice {
                background,
                character,
                ..
            }
            | Dialogue::UgcScript {
                background,
                character,
                ..
            }
            | Dialogue::UgcConfirm {
                background,
                character,
                ..
            },
            UgcButton::Voice(value),
        ) => ask_script(ctx, background, character, value).await?,
        (state @ Dialogue::UgcConfirm { .. }, UgcButton::HeadTier(tier)) => {
            return choose_tier(ctx, state, tier).await
        }
        (state @ Dialogue::UgcConfirm { .. }, UgcButton::Go(shown)) => {
            super::order::order(ctx, state, shown, message).await?
        }
        (
            state @ (Dialogue::UgcConfirm { .. } | Dialogue::OverlayEdit { .. }),
            UgcButton::Layout(change),
        ) => super::layout::change(ctx, state, change, message).await?,
        (state @ Dialogue::OverlayEdit { .. }, UgcButton::Recompose(shown)) => {
            return super::layout::recompose(ctx, state, shown).await
        }
        (state @ Dialogue::UgcScript { .. }, UgcButton::UsePicked) => {
            return use_picked(ctx, state).await
        }
        (
            state,
            button @ (UgcButton::Versions(_)
            | UgcButton::Language(_)
            | UgcButton::VersionTake
            | UgcButton::VersionEdit),
        ) => return super::versions::on_button(ctx, state, button).await,
        _ => return Ok(false),
    }
    Ok(true)
}

/// "Edit the character?": yes asks for the edit's prompt, no goes on to the voices.
async fn edit_or_voices(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    original: String,
    yes: bool,
) -> HandlerResult {
    if !yes {
        return ask_voice(ctx, background, character, 0, None).await;
    }
    ctx.save(&Dialogue::UgcEdit {
        background,
        character,
        original,
        awaiting_prompt: true,
    })
    .await?;
    ctx.say(ctx.t("ugc.edit_prompt", &[])).await
}

/// The voice gallery at `page` (in place of `message` when it is a page turn).
async fn ask_voice(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    page: usize,
    message: Option<MessageId>,
) -> HandlerResult {
    ctx.save(&Dialogue::UgcVoice {
        background,
        character,
        page: page as u32,
    })
    .await?;
    show_voices(ctx, page, message).await
}

/// A gallery character picked: stored once (a bundled one by its content), then "edit it?".
async fn pick_character(
    ctx: &Ctx<'_>,
    background: Option<String>,
    gender: &str,
    index: usize,
) -> Result<bool, HandlerError> {
    let list = super::catalogue::gallery_of(ctx, gender).await;
    let Some(c) = list.get(index) else {
        return Ok(false);
    };
    let key = match &c.key {
        Some(key) => key.clone(),
        None => {
            let key = crate::storage::content_key(
                "characters",
                &crate::storage::sha256_hex(&c.image),
                "jpg",
            );
            ctx.app
                .storage
                .put_bytes(&key, c.image.clone(), "image/jpeg")
                .await?;
            key
        }
    };
    ask_edit(ctx, background, key.clone(), key).await?;
    Ok(true)
}

/// The confirmation's tier buttons: the talking head's tier, and the new total to order at.
async fn choose_tier(
    ctx: &Ctx<'_>,
    mut state: Dialogue,
    tier: String,
) -> Result<bool, HandlerError> {
    if ctx.app.prices.head_tier(Some(&tier)).is_none() {
        return Ok(false);
    }
    if let Dialogue::UgcConfirm { head_tier, .. } = &mut state {
        *head_tier = Some(tier);
    }
    ctx.save(&state).await?;
    let total = super::order::total_price(ctx, &state).await?;
    ctx.say_with(
        ctx.t("ugc.price_changed", &[("price", &total)]),
        super::speech::confirm_keyboard(ctx, &state).await?,
    )
    .await?;
    Ok(true)
}

/// The script step's "use the picked script": the script a product's set put aside.
async fn use_picked(ctx: &Ctx<'_>, state: Dialogue) -> Result<bool, HandlerError> {
    let (
        Dialogue::UgcScript {
            background,
            character,
            voice,
        },
        Some(picked),
    ) = (state, crate::bot::shop::picked_script(ctx).await?)
    else {
        return Ok(false);
    };
    script(ctx, background, character, voice, &picked).await?;
    Ok(true)
}

/// The edited picture of a finished `character_edit` job of this user.
async fn edit_result(ctx: &Ctx<'_>, job: i64) -> Result<Option<String>, HandlerError> {
    let row = crate::db::jobs::job(&ctx.app.db, job).await?;
    Ok(row
        .filter(|j| {
            j.user_id == ctx.user
                && j.state == crate::jobs::JobState::Done
                && j.kind == Some(crate::jobs::JobKind::CharacterEdit)
        })
        .and_then(|j| j.checkpoints.output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_another_keeps_the_voice_remote_or_offline() {
        let read = |json: &str| match JobSpec::from_row("ugc_video", json).unwrap() {
            JobSpec::UgcVideo(p) => p,
            other => panic!("{other:?}"),
        };
        let remote = read(
            r#"{"portrait":"p","script":"s","voice": "21m00Tcm4TlvDq8ikWAM", "language": "ru"}"#,
        );
        let offline = read(r#"{"portrait":"p","script":"s","voice": null, "language": "ru+f3"}"#);
        assert_eq!(voice_of(&remote), "21m00Tcm4TlvDq8ikWAM");
        assert_eq!(voice_of(&offline), "ru+f3");
        assert!(is_offline_voice(&voice_of(&offline)));
        assert!(!is_offline_voice(&voice_of(&remote)));
    }
}
