//! UGC talking-head ads: format (talking head / on my background → a clip ≤ 15 s, ≤ 20 MB,
//! checked with probe) → gender → character gallery in pages (or the user's own photo) →
//! edit? (prompt → result → use / edit again / back to the original) → voice gallery in pages
//! with samples → script → speech preview → confirm with the price → job. `/resume` and
//! `/overlay` re-make the composite from the paid speech and talking head.
use super::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use super::dialogue::Dialogue;
use super::handlers::{download, problem_of, store_photo};
use crate::on_db;
use crate::queue::NewJob;
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::{FileId, InputFile, InputMedia, InputMediaPhoto, MessageId};

pub const MAX_BACKGROUND_SECONDS: f64 = 15.0;
pub const MAX_SCRIPT_CHARS: usize = 300;
const VOICES_PER_PAGE: usize = 4;
static BUNDLED_PORTRAIT: &[u8] = include_bytes!("../../assets/samples/astronaut.jpg");

/// A gallery character: its name and picture.
pub struct Character {
    pub name: String,
    pub image: Vec<u8>,
}

/// The gallery for a gender: `assets/characters/<gender>/*.jpg` under the working directory
/// (operators add their portraits there), with the bundled portrait when that is empty.
pub fn gallery(gender: &str) -> Vec<Character> {
    let dir = std::path::Path::new("assets/characters").join(gender);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out: Vec<Character> = files
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .filter_map(|p| {
            Some(Character {
                name: p.file_stem()?.to_string_lossy().replace('_', " "),
                image: std::fs::read(&p).ok()?,
            })
        })
        .collect();
    if out.is_empty() && gender == "female" {
        out.push(Character {
            name: "Eileen".into(),
            image: BUNDLED_PORTRAIT.to_vec(),
        });
    }
    out
}

/// A voice: id (ElevenLabs voice id, or an espeak-ng voice offline), name, sample URL.
pub struct VoiceOption {
    pub id: String,
    pub name: String,
    pub preview: Option<String>,
}

const LOCAL_VOICES: [(&str, &str); 6] = [
    ("ru+f3", "Алина (ru)"),
    ("ru+m3", "Борис (ru)"),
    ("ru+f4", "Вера (ru)"),
    ("ru+m1", "Глеб (ru)"),
    ("en+f3", "Emma (en)"),
    ("en+m3", "James (en)"),
];

async fn voices(ctx: &Ctx<'_>) -> Vec<VoiceOption> {
    if let Some(tts) = &ctx.app.tts {
        match tts.voices(100, None).await {
            Ok((list, _)) if !list.is_empty() => {
                return list
                    .into_iter()
                    .map(|v| VoiceOption {
                        id: v.voice_id,
                        name: v.name,
                        preview: v.preview_url,
                    })
                    .collect()
            }
            Ok(_) => {}
            Err(e) => eprintln!("bot: ElevenLabs voices failed, offering the offline ones: {e}"),
        }
    }
    LOCAL_VOICES
        .iter()
        .map(|(id, name)| VoiceOption {
            id: id.to_string(),
            name: name.to_string(),
            preview: None,
        })
        .collect()
}

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

fn gallery_keyboard(
    ctx: &Ctx<'_>,
    index: usize,
    count: usize,
) -> teloxide::types::InlineKeyboardMarkup {
    let mut nav = Vec::new();
    if index > 0 {
        nav.push(("◀".to_string(), format!("u:c:{}", index - 1)));
    }
    nav.push(ctx.button("ugc.choose", format!("u:pick:{index}")));
    if index + 1 < count {
        nav.push(("▶".to_string(), format!("u:c:{}", index + 1)));
    }
    keyboard(vec![row(&nav)])
}

async fn show_character(
    ctx: &Ctx<'_>,
    gender: &str,
    index: usize,
    edit: Option<MessageId>,
) -> Result<bool, HandlerError> {
    let list = gallery(gender);
    let Some(c) = list.get(index) else {
        ctx.say(ctx.t("ugc.gallery_empty", &[])).await?;
        return Ok(true);
    };
    let caption = ctx.t(
        "ugc.character",
        &[
            ("name", &c.name),
            ("n", &(index + 1)),
            ("count", &list.len()),
        ],
    );
    let kb = gallery_keyboard(ctx, index, list.len());
    let photo = InputFile::memory(c.image.clone()).file_name("character.jpg");
    if let Some(id) = edit {
        let media = InputMedia::Photo(InputMediaPhoto::new(photo.clone()).caption(caption.clone()));
        if ctx
            .bot
            .edit_message_media(ctx.chat, id, media)
            .reply_markup(kb.clone())
            .await
            .is_ok()
        {
            return Ok(true);
        }
    }
    ctx.bot
        .send_photo(ctx.chat, photo)
        .caption(caption)
        .reply_markup(kb)
        .await?;
    Ok(true)
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

async fn show_voices(ctx: &Ctx<'_>, page: usize, edit: Option<MessageId>) -> HandlerResult {
    let list = voices(ctx).await;
    let pages = list.len().div_ceil(VOICES_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let mut rows: Vec<_> = list
        .iter()
        .skip(page * VOICES_PER_PAGE)
        .take(VOICES_PER_PAGE)
        .map(|v| {
            row(&[
                (format!("▶ {}", v.name), format!("u:vs:{}", v.id)),
                (format!("✅ {}", v.name), format!("u:v:{}", v.id)),
            ])
        })
        .collect();
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(("◀".to_string(), format!("u:vp:{}", page - 1)));
    }
    if page + 1 < pages {
        nav.push(("▶".to_string(), format!("u:vp:{}", page + 1)));
    }
    if !nav.is_empty() {
        rows.push(row(&nav));
    }
    let text = ctx.t("ugc.voices", &[("page", &(page + 1)), ("pages", &pages)]);
    if let Some(id) = edit {
        if ctx
            .bot
            .edit_message_text(ctx.chat, id, text.clone())
            .reply_markup(keyboard(rows.clone()))
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
    ctx.say_with(text, keyboard(rows)).await
}

/// A voice sample: the provider's preview, or a sentence spoken offline.
async fn sample(ctx: &Ctx<'_>, voice: &str) -> HandlerResult {
    let list = voices(ctx).await;
    let Some(v) = list.iter().find(|v| v.id == voice) else {
        return ctx.say(ctx.t("input.stale_button", &[])).await;
    };
    if let Some(url) = v
        .preview
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
    {
        ctx.bot
            .send_voice(ctx.chat, InputFile::url(url))
            .caption(v.name.clone())
            .await?;
        return Ok(());
    }
    let text = ctx.t("ugc.sample_text", &[("name", &v.name)]);
    let (path, _) = speak_offline(ctx, &text, &v.id).await?;
    send_speech(ctx, &path, &v.name).await?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn speak_offline(
    ctx: &Ctx<'_>,
    text: &str,
    voice: &str,
) -> Result<(std::path::PathBuf, f64), HandlerError> {
    std::fs::create_dir_all(&ctx.app.work_dir)?;
    let path = ctx
        .app
        .work_dir
        .join(format!("{}-{}-speech.wav", ctx.user, crate::db::now_ms()));
    crate::providers::local::speak(text, voice, &path).await?;
    let p = path.clone();
    let secs =
        tokio::task::spawn_blocking(move || media::probe(&p).map(|i| i.duration_s)).await??;
    Ok((path, secs))
}

/// Speech as a voice message when Telegram plays it as one (MP3), as a file otherwise (WAV).
async fn send_speech(ctx: &Ctx<'_>, path: &std::path::Path, caption: &str) -> HandlerResult {
    let file = InputFile::file(path);
    if path.extension().is_some_and(|e| e == "mp3") {
        ctx.bot
            .send_voice(ctx.chat, file)
            .caption(caption.to_string())
            .await?;
    } else {
        ctx.bot
            .send_document(ctx.chat, file)
            .caption(caption.to_string())
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

/// The user's latest UGC job: (id, state, cost).
async fn latest_ugc(
    ctx: &Ctx<'_>,
    states: &str,
) -> Result<Option<(i64, String, i64)>, HandlerError> {
    let sql = format!(
        "SELECT id, state, cost_tokens FROM jobs WHERE user_id = $1 AND kind IN ('ugc_video', 'recompose') AND state IN ({states}) ORDER BY id DESC LIMIT 1"
    );
    Ok(
        on_db!(&ctx.app.db, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ctx.user).fetch_optional(p).await?),
    )
}

/// `/resume`: a UGC video whose composite failed is made again from its paid speech and
/// talking head (its tokens were returned, so it costs what it cost before).
pub async fn resume(ctx: &Ctx<'_>) -> HandlerResult {
    if let Some((id, ..)) = latest_ugc(ctx, "'queued', 'snoozed', 'running'").await? {
        let status = super::progress::queued_text(ctx.app, id, ctx.lang).await?;
        return ctx
            .say(ctx.t("ugc.still_running", &[("id", &id), ("status", &status)]))
            .await;
    }
    let Some((id, _, cost)) = latest_ugc(ctx, "'failed'").await? else {
        return ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await;
    };
    recompose(ctx, id, cost).await
}

/// `/overlay`: the last finished UGC video composed again, ignoring the cache.
pub async fn overlay(ctx: &Ctx<'_>) -> HandlerResult {
    let Some((id, ..)) = latest_ugc(ctx, "'done'").await? else {
        return ctx.say(ctx.t("ugc.nothing_to_overlay", &[])).await;
    };
    recompose(ctx, id, ctx.app.prices.compose.tokens).await
}

async fn recompose(ctx: &Ctx<'_>, original: i64, price: i64) -> HandlerResult {
    match crate::pipelines::recompose::recompose_job(&ctx.app.db, ctx.user, original, price).await?
    {
        Some((job, carried)) => {
            ctx.submit(vec![job], Some(carried)).await?;
            Ok(())
        }
        None => ctx.say(ctx.t("ugc.nothing_to_resume", &[])).await,
    }
}
