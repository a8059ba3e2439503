//! UGC talking-head ads: format (talking head / on my background → a clip ≤ 15 s, ≤ 20 MB,
//! checked with probe) → gender → character gallery in pages (or the user's own photo) →
//! edit? (prompt → result → use / edit again / back to the original) → voice gallery in pages
//! with samples → script → speech preview → confirm with the price → job. `/resume` and
//! `/overlay` re-make the composite from the paid speech and talking head.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::dialogue::Dialogue;
use super::handlers::{download, problem_of, store_photo};
use super::ugc_catalogue::{
    gallery, sample, send_speech, show_character, show_voices, speak_offline,
};
use crate::on_db;
use crate::queue::NewJob;
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::{FileId, MessageId};

pub const MAX_BACKGROUND_SECONDS: f64 = 15.0;
pub const MAX_SCRIPT_CHARS: usize = 300;

pub async fn start(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.save(&Dialogue::UgcFormat).await?;
    ctx.say_with(
        ctx.t("ugc.format", &[]),
        keyboard(vec![row(&[
            ctx.button("ugc.format_head", "u:f:head"),
            ctx.button("ugc.format_bg", "u:f:bg"),
        ])]),
    )
    .await
}

/// The background clip: size first, then probe (a video stream, ≤ 15 s), then stored.
pub async fn background(ctx: &Ctx<'_>, file: FileId, size: u32) -> HandlerResult {
    let Some(path) = download(ctx, &file, size, "mp4").await? else {
        return Ok(());
    };
    let p = path.clone();
    let info = tokio::task::spawn_blocking(move || media::probe(&p)).await?;
    let refusal = match &info {
        Err(e) => Some(ctx.t("input.bad_video", &[("reason", &problem_of(e))])),
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
    let _ = std::fs::remove_file(&path);
    ask_gender(ctx, Some(key)).await
}

async fn ask_gender(ctx: &Ctx<'_>, background: Option<String>) -> HandlerResult {
    ctx.save(&Dialogue::UgcGender { background }).await?;
    ctx.say_with(
        ctx.t("ugc.gender", &[]),
        keyboard(vec![row(&[
            ctx.button("ugc.female", "u:g:female"),
            ctx.button("ugc.male", "u:g:male"),
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
    let price = ctx.app.prices.image_edit.tokens;
    ctx.say_with(
        ctx.t("ugc.edit_ask", &[]),
        keyboard(vec![row(&[
            (
                ctx.t("ugc.edit_yes", &[("price", &price)]),
                "u:e:yes".into(),
            ),
            ctx.button("ugc.edit_no", "u:e:no"),
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
    let job = NewJob {
        user_id: ctx.user,
        kind: "character_edit".into(),
        params: serde_json::json!({ "image": character, "prompt": prompt }),
        cost_tokens: ctx.app.prices.image_edit.tokens,
        max_attempts: 3,
    };
    if !ctx.submit(vec![job], None).await?.is_empty() {
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
    ctx.say(ctx.t("ugc.ask_script", &[("limit", &MAX_SCRIPT_CHARS)]))
        .await
}

fn ugc_price(ctx: &Ctx<'_>, seconds: f64) -> i64 {
    ctx.app
        .prices
        .talking_head_tokens(seconds.ceil().max(1.0) as u32)
        + ctx.app.prices.compose.tokens
}

/// The script: spoken now as a preview (kept for the job), then the price and "confirm".
pub async fn script(
    ctx: &Ctx<'_>,
    background: Option<String>,
    character: String,
    voice: String,
    text: &str,
) -> HandlerResult {
    let count = text.chars().count();
    if count > MAX_SCRIPT_CHARS {
        return ctx
            .say(ctx.t(
                "ugc.script_too_long",
                &[("count", &count), ("limit", &MAX_SCRIPT_CHARS)],
            ))
            .await;
    }
    ctx.say(ctx.t("ugc.preview_wait", &[])).await?;
    let mut carried = serde_json::Map::new();
    let seconds = match &ctx.app.tts {
        Some(tts) if !voice.contains('+') => {
            let speech = tts
                .speak_with_timestamps(&voice, text, crate::providers::elevenlabs::DEFAULT_MODEL)
                .await;
            let speech = match speech {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bot: speech preview for {} failed: {e}", ctx.user);
                    return ctx.say(ctx.t("ugc.preview_failed", &[])).await;
                }
            };
            std::fs::create_dir_all(&ctx.app.work_dir)?;
            let path =
                ctx.app
                    .work_dir
                    .join(format!("{}-{}-speech.mp3", ctx.user, crate::db::now_ms()));
            tokio::fs::write(&path, &speech.audio).await?;
            let alignment = speech.alignment.to_string();
            let akey = format!(
                "alignments/{}.json",
                crate::storage::sha256_hex(alignment.as_bytes())
            );
            ctx.app
                .storage
                .put_bytes(&akey, alignment.into_bytes(), "application/json")
                .await?;
            carried.insert("alignment".into(), akey.into());
            let p = path.clone();
            let secs = tokio::task::spawn_blocking(move || media::probe(&p).map(|i| i.duration_s))
                .await??;
            let key = crate::pipelines::store_file(
                &ctx.app.storage,
                "voices",
                &path,
                "mp3",
                "audio/mpeg",
            )
            .await
            .map_err(|e| format!("{e:?}"))?;
            send_speech(ctx, &path, &ctx.t("ugc.preview_caption", &[])).await?;
            let _ = std::fs::remove_file(&path);
            carried.insert("voice".into(), key.into());
            secs
        }
        _ => {
            let (path, secs) = match speak_offline(ctx, text, &voice).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("bot: offline speech preview for {} failed: {e}", ctx.user);
                    return ctx.say(ctx.t("ugc.preview_failed", &[])).await;
                }
            };
            let key =
                crate::pipelines::store_file(&ctx.app.storage, "voices", &path, "wav", "audio/wav")
                    .await
                    .map_err(|e| format!("{e:?}"))?;
            send_speech(ctx, &path, &ctx.t("ugc.preview_caption", &[])).await?;
            let _ = std::fs::remove_file(&path);
            carried.insert("voice".into(), key.into());
            secs
        }
    };
    let price = ugc_price(ctx, seconds);
    ctx.save(&Dialogue::UgcConfirm {
        background,
        character,
        voice: voice.clone(),
        script: text.to_string(),
        speech: Some(serde_json::Value::Object(carried).to_string()),
    })
    .await?;
    ctx.say_with(
        ctx.t(
            "ugc.confirm",
            &[("seconds", &format!("{seconds:.0}")), ("price", &price)],
        ),
        keyboard(vec![
            row(&[(ctx.t("ugc.go", &[("price", &price)]), "u:go".into())]),
            row(&[
                ctx.button("ugc.change_script", format!("u:v:{voice}")),
                ctx.button("flow.cancel", "x"),
            ]),
        ]),
    )
    .await
}

pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    arg: &str,
    message: Option<MessageId>,
) -> Result<bool, HandlerError> {
    let (what, value) = arg.split_once(':').unwrap_or((arg, ""));
    match (state, what) {
        (Dialogue::UgcFormat, "f") => match value {
            "head" => ask_gender(ctx, None).await?,
            "bg" => {
                ctx.save(&Dialogue::UgcBackground).await?;
                ctx.say(ctx.t("ugc.send_background", &[])).await?;
            }
            _ => return Ok(false),
        },
        (Dialogue::UgcGender { background }, "g") if value == "female" || value == "male" => {
            ctx.save(&Dialogue::UgcCharacter {
                background,
                gender: value.to_string(),
                page: 0,
            })
            .await?;
            ctx.say(ctx.t("ugc.own_photo_hint", &[])).await?;
            return show_character(ctx, value, 0, None).await;
        }
        (
            Dialogue::UgcCharacter {
                background, gender, ..
            },
            "c",
        ) => {
            let Ok(index) = value.parse::<usize>() else {
                return Ok(false);
            };
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
            "pick",
        ) => {
            let list = gallery(&gender);
            let Some(c) = value.parse::<usize>().ok().and_then(|i| list.get(i)) else {
                return Ok(false);
            };
            let key = crate::storage::content_key(
                "characters",
                &crate::storage::sha256_hex(&c.image),
                "jpg",
            );
            ctx.app
                .storage
                .put_bytes(&key, c.image.clone(), "image/jpeg")
                .await?;
            ask_edit(ctx, background, key.clone(), key).await?;
        }
        (
            Dialogue::UgcEdit {
                background,
                character,
                original,
                ..
            },
            "e",
        ) => match value {
            "yes" => {
                ctx.save(&Dialogue::UgcEdit {
                    background,
                    character,
                    original,
                    awaiting_prompt: true,
                })
                .await?;
                ctx.say(ctx.t("ugc.edit_prompt", &[])).await?;
            }
            "no" => {
                ctx.save(&Dialogue::UgcVoice {
                    background,
                    character,
                    page: 0,
                })
                .await?;
                show_voices(ctx, 0, None).await?;
            }
            _ => return Ok(false),
        },
        (
            Dialogue::UgcEdit {
                background,
                original,
                ..
            },
            "use",
        ) => {
            let Some(edited) = edit_result(ctx, value).await? else {
                return Ok(false);
            };
            let _ = original;
            ctx.save(&Dialogue::UgcVoice {
                background,
                character: edited,
                page: 0,
            })
            .await?;
            show_voices(ctx, 0, None).await?;
        }
        (
            Dialogue::UgcEdit {
                background,
                original,
                ..
            },
            "orig",
        ) => {
            ask_edit(ctx, background, original.clone(), original).await?;
        }
        (
            Dialogue::UgcVoice {
                background,
                character,
                ..
            },
            "vp",
        ) => {
            let page = value.parse::<usize>().unwrap_or(0);
            ctx.save(&Dialogue::UgcVoice {
                background,
                character,
                page: page as u32,
            })
            .await?;
            show_voices(ctx, page, message).await?;
        }
        (Dialogue::UgcVoice { .. } | Dialogue::UgcScript { .. }, "vs") => {
            sample(ctx, value).await?
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
            "v",
        ) => ask_script(ctx, background, character, value.to_string()).await?,
        (
            Dialogue::UgcConfirm {
                background,
                character,
                voice,
                script,
                speech,
            },
            "go",
        ) => {
            let seconds = estimate_seconds(ctx, speech.as_deref()).await;
            let local_voice = voice.contains('+');
            let params = serde_json::json!({
                "portrait": character,
                "background": background,
                "script": script,
                "language": if local_voice { voice.clone() } else { ctx.lang.code().to_string() },
                "voice": if local_voice { None } else { Some(voice.clone()) },
            });
            let job = NewJob {
                user_id: ctx.user,
                kind: "ugc_video".into(),
                params,
                cost_tokens: ugc_price(ctx, seconds),
                max_attempts: 4,
            };
            if let Some(id) = message {
                let _ = ctx.bot.edit_message_reply_markup(ctx.chat, id).await;
            }
            if !ctx.submit(vec![job], speech).await?.is_empty() {
                ctx.save(&Dialogue::Idle).await?;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The preview's length, for the price (a script read at ~15 characters a second otherwise).
async fn estimate_seconds(ctx: &Ctx<'_>, speech: Option<&str>) -> f64 {
    let key = speech
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["voice"].as_str().map(String::from));
    if let Some(key) = key {
        let path = ctx
            .app
            .work_dir
            .join(format!("{}-price-{}", ctx.user, crate::db::now_ms()));
        if ctx.app.storage.get_to_file(&key, &path).await.is_ok() {
            let p = path.clone();
            let secs =
                tokio::task::spawn_blocking(move || media::probe(&p).map(|i| i.duration_s)).await;
            let _ = std::fs::remove_file(&path);
            if let Ok(Ok(s)) = secs {
                return s;
            }
        }
    }
    10.0
}

/// The edited picture of a finished `character_edit` job of this user.
async fn edit_result(ctx: &Ctx<'_>, job: &str) -> Result<Option<String>, HandlerError> {
    let Ok(job) = job.parse::<i64>() else {
        return Ok(None);
    };
    let row: Option<(i64, String, String)> = on_db!(&ctx.app.db, p => sqlx::query_as("SELECT user_id, kind, provider_ids FROM jobs WHERE id = $1 AND state = 'done'")
        .bind(job)
        .fetch_optional(p)
        .await?);
    Ok(row
        .filter(|(owner, kind, _)| *owner == ctx.user && kind == "character_edit")
        .and_then(|(_, _, ids)| serde_json::from_str::<serde_json::Value>(&ids).ok())
        .and_then(|v| v["output"].as_str().map(String::from)))
}
