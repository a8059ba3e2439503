//! The UGC galleries: characters by gender — the ones the operator added from Telegram
//! (`/addcharacter`, in the order added), then `assets/characters/<gender>/*.jpg`, the bundled
//! portrait when there are none — three per page as an album with numbered buttons and ◀ ▶;
//! voices (ElevenLabs, or espeak-ng voices offline) in pages with samples; and sending speech
//! so Telegram can play it.
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{Callback, UgcButton};
use crate::storage::ObjectStore;
use teloxide::prelude::*;
use teloxide::types::{InputFile, InputMedia, InputMediaPhoto, MessageId};

const VOICES_PER_PAGE: usize = 4;
/// Characters per gallery page (one album).
pub const CHARACTERS_PER_PAGE: usize = 3;
static BUNDLED_PORTRAIT: &[u8] = include_bytes!("../../../assets/samples/astronaut.jpg");

/// A gallery character: its name and picture (`key`: already in storage, added by the
/// operator).
pub struct Character {
    pub name: String,
    pub image: Vec<u8>,
    pub key: Option<String>,
}

/// The gallery of a gender: the operator's characters first, then the folder's (the bundled
/// portrait only when there are no others).
pub async fn gallery_of(ctx: &Ctx<'_>, gender: &str) -> Vec<Character> {
    let mut out = Vec::new();
    match crate::db::characters::list(&ctx.app.db, Some(gender)).await {
        Ok(list) => {
            for c in list {
                match ctx.app.storage.get_bytes(&c.object_key).await {
                    Ok(image) => out.push(Character {
                        name: c.name,
                        image,
                        key: Some(c.object_key),
                    }),
                    Err(e) => tracing::warn!(error = %e, "a gallery portrait is missing"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "the gallery could not be read"),
    }
    let folder = gallery(gender);
    let only_bundled = folder.len() == 1 && folder[0].image == BUNDLED_PORTRAIT;
    if out.is_empty() || !only_bundled {
        out.extend(folder);
    }
    out
}

/// The gallery for a gender: `assets/characters/<gender>/*.jpg` under the working directory
/// (operators add their portraits there), with the bundled portrait when that is empty.
pub fn gallery(gender: &str) -> Vec<Character> {
    gallery_in(std::path::Path::new("assets/characters"), gender)
}

/// The gallery under `root/<gender>/`: JPEG and PNG files in name order, the file name as the
/// character's name (`_` for spaces).
pub fn gallery_in(root: &std::path::Path, gender: &str) -> Vec<Character> {
    let dir = root.join(gender);
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
                key: None,
            })
        })
        .collect();
    if out.is_empty() && gender == "female" {
        out.push(Character {
            name: "Eileen".into(),
            image: BUNDLED_PORTRAIT.to_vec(),
            key: None,
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

const LOCAL_VOICES: [(&str, &str); 8] = [
    ("ru+f3", "Алина (ru)"),
    ("ru+m3", "Борис (ru)"),
    ("ru+f4", "Вера (ru)"),
    ("ru+m1", "Глеб (ru)"),
    ("kk+f3", "Айгерім (kk)"),
    ("kk+m3", "Арман (kk)"),
    ("en+f3", "Emma (en)"),
    ("en+m3", "James (en)"),
];

pub async fn voices(ctx: &Ctx<'_>) -> Vec<VoiceOption> {
    if let Some(tts) = &ctx.app.tts {
        match tts.voices(100, None).await {
            Ok((list, _)) if !list.is_empty() => {
                if let Ok(mut genders) = ctx.app.voice_genders.lock() {
                    for v in &list {
                        let label = v.labels.get("gender").map(String::as_str).unwrap_or("");
                        if let Some(g) = crate::providers::speech::Gender::from_label(label) {
                            genders.insert(v.voice_id.clone(), g);
                        }
                    }
                }
                return list
                    .into_iter()
                    .map(|v| VoiceOption {
                        id: v.voice_id,
                        name: v.name,
                        preview: v.preview_url,
                    })
                    .collect();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(provider = "elevenlabs", error = %e, "voices failed; offering the offline ones")
            }
        }
    }
    // espeak-ng's voices, the user's language first (Kazakh: espeak-ng's `kk`).
    let mine = format!("{}+", ctx.lang.code());
    let mut offline: Vec<&(&str, &str)> = LOCAL_VOICES.iter().collect();
    offline.sort_by_key(|(id, _)| !id.starts_with(&mine));
    offline
        .into_iter()
        .map(|(id, name)| VoiceOption {
            id: id.to_string(),
            name: name.to_string(),
            preview: None,
        })
        .collect()
}

/// ◀ and ▶ between gallery pages.
fn page_nav(page: usize, pages: usize) -> Vec<(String, String)> {
    let mut nav = Vec::new();
    if page > 0 {
        nav.push((
            "◀".to_string(),
            Callback::Ugc(UgcButton::Character(page - 1)).data(),
        ));
    }
    if page + 1 < pages {
        nav.push((
            "▶".to_string(),
            Callback::Ugc(UgcButton::Character(page + 1)).data(),
        ));
    }
    nav
}

/// Gallery page `page` of a gender: up to three portraits as an album, then numbered buttons
/// to choose and ◀ ▶ (a page of one is a photo with its buttons, edited in place).
pub async fn show_character(
    ctx: &Ctx<'_>,
    gender: &str,
    page: usize,
    edit: Option<MessageId>,
) -> Result<bool, HandlerError> {
    let list = gallery_of(ctx, gender).await;
    if list.is_empty() {
        ctx.say(ctx.t("ugc.gallery_empty", &[])).await?;
        return Ok(true);
    }
    let pages = list.len().div_ceil(CHARACTERS_PER_PAGE);
    let page = page.min(pages - 1);
    let first = page * CHARACTERS_PER_PAGE;
    let shown: Vec<&Character> = list.iter().skip(first).take(CHARACTERS_PER_PAGE).collect();
    if let [c] = shown.as_slice() {
        let caption = ctx.t(
            "ugc.character",
            &[
                ("name", &c.name),
                ("n", &(first + 1)),
                ("count", &list.len()),
            ],
        );
        let mut buttons =
            vec![ctx.button("ugc.choose", Callback::Ugc(UgcButton::Pick(first)).data())];
        buttons.extend(page_nav(page, pages));
        let kb = keyboard(vec![row(&buttons)]);
        let photo = InputFile::memory(c.image.clone()).file_name("character.jpg");
        if let Some(id) = edit {
            let media =
                InputMedia::Photo(InputMediaPhoto::new(photo.clone()).caption(caption.clone()));
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
        return Ok(true);
    }
    let album: Vec<InputMedia> = shown
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let photo = InputFile::memory(c.image.clone()).file_name(format!("character-{i}.jpg"));
            InputMedia::Photo(InputMediaPhoto::new(photo).caption(format!(
                "{} · {}",
                first + i + 1,
                c.name
            )))
        })
        .collect();
    ctx.bot.send_media_group(ctx.chat, album).await?;
    let numbers: Vec<(String, String)> = (0..shown.len())
        .map(|i| {
            (
                (first + i + 1).to_string(),
                Callback::Ugc(UgcButton::Pick(first + i)).data(),
            )
        })
        .collect();
    let mut rows = vec![row(&numbers)];
    let nav = page_nav(page, pages);
    if !nav.is_empty() {
        rows.push(row(&nav));
    }
    ctx.say_with(
        ctx.t(
            "ugc.gallery_page",
            &[("page", &(page + 1)), ("pages", &pages)],
        ),
        keyboard(rows),
    )
    .await?;
    Ok(true)
}

pub async fn show_voices(ctx: &Ctx<'_>, page: usize, edit: Option<MessageId>) -> HandlerResult {
    let list = voices(ctx).await;
    let pages = list.len().div_ceil(VOICES_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let mut rows: Vec<_> = list
        .iter()
        .skip(page * VOICES_PER_PAGE)
        .take(VOICES_PER_PAGE)
        .map(|v| {
            row(&[
                (
                    format!("▶ {}", v.name),
                    Callback::Ugc(UgcButton::VoiceSample(v.id.clone())).data(),
                ),
                (
                    format!("✅ {}", v.name),
                    Callback::Ugc(UgcButton::Voice(v.id.clone())).data(),
                ),
            ])
        })
        .collect();
    let mut nav = Vec::new();
    if page > 0 {
        nav.push((
            "◀".to_string(),
            Callback::Ugc(UgcButton::VoicePage(page - 1)).data(),
        ));
    }
    if page + 1 < pages {
        nav.push((
            "▶".to_string(),
            Callback::Ugc(UgcButton::VoicePage(page + 1)).data(),
        ));
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
pub async fn sample(ctx: &Ctx<'_>, voice: &str) -> HandlerResult {
    if !ctx
        .within_limit(crate::bot::rate_limit::Action::VoiceSample)
        .await?
    {
        return Ok(());
    }
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
    let path = speak_offline(ctx, &text, &v.id).await?;
    send_speech(ctx, &path, &v.name).await?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// `text` spoken by espeak-ng with `voice` into a WAV file under the work folder.
pub async fn speak_offline(
    ctx: &Ctx<'_>,
    text: &str,
    voice: &str,
) -> Result<std::path::PathBuf, HandlerError> {
    std::fs::create_dir_all(&ctx.app.work_dir)?;
    let path = ctx
        .app
        .work_dir
        .join(format!("{}-{}-speech.wav", ctx.user, crate::db::now_ms()));
    crate::providers::local::speak(text, voice, &path).await?;
    Ok(path)
}

/// Speech (a preview, a voice sample: WAV offline, MP3 from a provider) as a voice message
/// Telegram plays inline: encoded in-process to Ogg Opus and sent with `sendVoice` and its
/// duration. Should the encoding fail, the file is sent as it is (a document) — the user
/// still hears it.
pub async fn send_speech(ctx: &Ctx<'_>, path: &std::path::Path, caption: &str) -> HandlerResult {
    let ogg = path.with_extension("voice.ogg");
    let (src, dst) = (path.to_path_buf(), ogg.clone());
    let encoded = tokio::task::spawn_blocking(move || media::voice_message(&src, &dst)).await?;
    match encoded {
        Ok(seconds) => {
            let sent = ctx
                .bot
                .send_voice(ctx.chat, InputFile::file(&ogg))
                .caption(caption.to_string())
                .duration(seconds.ceil().max(1.0) as u32)
                .await;
            let _ = std::fs::remove_file(&ogg);
            sent?;
        }
        Err(e) => {
            let _ = std::fs::remove_file(&ogg);
            tracing::warn!(user_id = ctx.user, error = %e, "speech could not be made a voice message");
            ctx.bot
                .send_document(ctx.chat, InputFile::file(path))
                .caption(caption.to_string())
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gallery_lists_portraits_in_order_and_falls_back_to_the_bundled_one() {
        let dir = tempfile::tempdir().unwrap();
        let men = dir.path().join("male");
        std::fs::create_dir_all(&men).unwrap();
        for name in ["b_Boris.jpg", "a_Arman.png", "notes.txt"] {
            std::fs::write(men.join(name), b"img").unwrap();
        }
        let names: Vec<String> = gallery_in(dir.path(), "male")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, vec!["a Arman", "b Boris"]);
        let women = gallery_in(dir.path(), "female");
        assert_eq!(women.len(), 1);
        assert_eq!(women[0].image, BUNDLED_PORTRAIT);
    }
}
