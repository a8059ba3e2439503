//! Where each user is in a conversation, stored in the `conversations` table so a restart
//! never loses one. The state is an explicit enum (after teloxide's dialogue examples).
use crate::db::{Db, DbError};
use serde::{Deserialize, Serialize};

/// One language version of a UGC order: its language and its script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionDraft {
    pub language: String,
    pub script: String,
    /// Its previewed speech (checkpoints as JSON), carried into its job and pricing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Dialogue {
    #[default]
    Idle,
    /// A photo came without a caption: animate it or make a product card?
    PhotoAction {
        photo: String,
    },
    /// Image-to-video: waiting for what should happen in the photo.
    ImagePrompt {
        photo: String,
    },
    /// Text- or image-to-video: choosing tier, duration and orientation.
    ChoosingVideoSettings {
        prompt: String,
        image: Option<String>,
        tier: String,
        seconds: u32,
        size: String,
        /// "✨ improve": the prompt model rewrites the prompt before the provider gets it.
        #[serde(default)]
        improve: bool,
    },
    /// Product card steps.
    ProductPhoto,
    ProductDescription {
        photo: String,
    },
    ProductTemplate {
        photo: String,
        description: String,
    },
    ProductWishes {
        photo: String,
        description: String,
        template: String,
    },
    ProductQuantity {
        photo: String,
        description: String,
        template: String,
        wishes: Option<String>,
    },
    ProductConfirm {
        photo: String,
        description: String,
        template: String,
        wishes: Option<String>,
        quantity: u32,
        /// The clip settings (as text-to-video's): tier, length, frame size.
        #[serde(default = "default_tier")]
        tier: String,
        #[serde(default = "default_seconds")]
        seconds: u32,
        #[serde(default = "default_size")]
        size: String,
    },
    /// UGC steps.
    UgcFormat,
    UgcBackground,
    UgcGender {
        background: Option<String>,
    },
    UgcCharacter {
        background: Option<String>,
        gender: String,
        page: u32,
    },
    UgcEdit {
        background: Option<String>,
        /// The character as it is now (the original or the last edit).
        character: String,
        original: String,
        /// Waiting for the edit prompt (otherwise: for the "use / edit again / back" choice).
        awaiting_prompt: bool,
    },
    UgcVoice {
        background: Option<String>,
        character: String,
        page: u32,
    },
    UgcScript {
        background: Option<String>,
        character: String,
        voice: String,
    },
    UgcConfirm {
        background: Option<String>,
        character: String,
        voice: String,
        script: String,
        /// The previewed speech, reused by the job so it is not made (and paid) twice.
        #[serde(default)]
        speech: Option<String>,
        /// The price shown on the confirm button, from the preview's length.
        price: i64,
        /// Where the circle sits and how it looks (the layout preview's buttons).
        #[serde(default)]
        layout: LayoutDraft,
        /// The talking head's tier (none: the first, premium).
        #[serde(default)]
        head_tier: Option<String>,
        /// Language versions ordered with it (each its own video, one album).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        versions: Vec<VersionDraft>,
        /// A version's script shown for the user to take or type instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        draft: Option<VersionDraft>,
        /// "+ another language" on this finished video: only the versions are ordered (its
        /// own language is made already).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        made_job: Option<i64>,
    },
    /// A language version's script: the next text is it (the confirmation is kept).
    UgcVersionScript {
        confirm: Box<Dialogue>,
        language: String,
    },
    /// The next text goes to the admin chat.
    Feedback,
    /// `/brand`: waiting for the logo (a photo, or a PNG sent as a file).
    BrandLogo,
    /// `/brand`: waiting for the end card's call to action.
    BrandAction,
    /// A shop page described no product: the next text (or photo with a caption) is the
    /// product's name and description.
    ShopWords,
    /// `/overlay`: the layout of a finished UGC video edited on its still, then re-composed
    /// from its paid speech and talking head.
    OverlayEdit {
        job: i64,
        background: Option<String>,
        character: String,
        script: String,
        #[serde(default)]
        layout: LayoutDraft,
        /// The video's size (none in dialogues saved before it was kept: 720x1280).
        #[serde(default)]
        size: Option<String>,
    },
    /// An admin adds a gallery character: the photo, its gender, its name.
    AddCharacterPhoto,
    AddCharacterGender {
        key: String,
    },
    AddCharacterName {
        key: String,
        gender: String,
    },
}

fn default_tier() -> String {
    "fast".into()
}
fn default_seconds() -> u32 {
    8
}
fn default_size() -> String {
    "720x1280".into()
}

/// A UGC video's layout while it is chosen on the free preview still: the job's own
/// [`crate::jobs::Layout`] (what the order will carry) and when the still was last drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LayoutDraftRow")]
pub struct LayoutDraft {
    #[serde(flatten)]
    pub layout: crate::jobs::Layout,
    /// When the still was last drawn (presses within a second are not re-drawn).
    #[serde(default)]
    pub drawn_ms: i64,
    /// The Mini App composer's key for this draft (`/app/?draft=…`), made when the still is
    /// first shown with its button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The brand kit is left off this order (the composer's switch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_brand: bool,
}

/// A draft as stored, including dialogues saved before the job's `Layout` existed, which
/// kept the circle's size under `size`.
#[derive(Deserialize)]
struct LayoutDraftRow {
    #[serde(flatten)]
    layout: crate::jobs::Layout,
    #[serde(default)]
    drawn_ms: i64,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    no_brand: bool,
}

impl From<LayoutDraftRow> for LayoutDraft {
    fn from(row: LayoutDraftRow) -> Self {
        let mut layout = row.layout;
        if layout.circle_size.is_none() {
            layout.circle_size = row
                .size
                .filter(|s| crate::orders::rules::CIRCLE_SIZES.contains(&s.as_str()));
        }
        Self {
            layout,
            drawn_ms: row.drawn_ms,
            app: row.app,
            no_brand: row.no_brand,
        }
    }
}

impl Default for LayoutDraft {
    fn default() -> Self {
        Self {
            layout: crate::jobs::Layout::new_order(),
            drawn_ms: 0,
            app: None,
            no_brand: false,
        }
    }
}

impl std::ops::Deref for LayoutDraft {
    type Target = crate::jobs::Layout;
    fn deref(&self) -> &Self::Target {
        &self.layout
    }
}

impl std::ops::DerefMut for LayoutDraft {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.layout
    }
}

/// The user's state (Idle when there is none or it cannot be read after an upgrade).
pub async fn load(db: &Db, user: i64) -> Result<Dialogue, DbError> {
    let text = crate::db::conversations::load(db, user).await?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// The stored text of the user's state and the state it reads as (for [`replace`]).
pub async fn load_raw(db: &Db, user: i64) -> Result<(Option<String>, Dialogue), DbError> {
    let text = crate::db::conversations::load(db, user).await?;
    let state = text
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    Ok((text, state))
}

/// Writes `state` only if the stored state is still the text `expected` was read as; `false`
/// when it changed meanwhile.
pub async fn replace(
    db: &Db,
    user: i64,
    expected: Option<&str>,
    state: &Dialogue,
) -> Result<bool, DbError> {
    let Some(expected) = expected else {
        return Ok(false);
    };
    let text = serde_json::to_string(state).unwrap_or_else(|_| "{\"state\":\"idle\"}".into());
    crate::db::conversations::replace(db, user, expected, &text).await
}

/// Takes the draft `state` for ordering: the stored state becomes idle only if it still is
/// `state` (read afresh), so the chat's button, the composer's main button and another
/// process never order one draft twice. Returns the stored text to give the draft back with
/// when nothing was ordered; `None`: it was ordered or changed meanwhile.
pub async fn take(db: &Db, user: i64, state: &Dialogue) -> Result<Option<String>, DbError> {
    let (raw, stored) = load_raw(db, user).await?;
    if stored != *state {
        return Ok(None);
    }
    Ok(
        match replace(db, user, raw.as_deref(), &Dialogue::Idle).await? {
            true => raw,
            false => None,
        },
    )
}

/// Gives a taken draft back (nothing was ordered), unless the user moved on meanwhile.
pub async fn give_back(db: &Db, user: i64, taken: &str) -> Result<(), DbError> {
    let idle = serde_json::to_string(&Dialogue::Idle).unwrap_or_default();
    crate::db::conversations::replace(db, user, &idle, taken).await?;
    Ok(())
}

pub async fn save(db: &Db, user: i64, state: &Dialogue) -> Result<(), DbError> {
    let text = serde_json::to_string(state).unwrap_or_else(|_| "{\"state\":\"idle\"}".into());
    crate::db::conversations::save(db, user, &text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_saved_before_the_jobs_layout_keeps_its_circle_size() {
        let old = r#"{"position":"top-right","size":"l","ring":true,"captions":true,"caption_style":"karaoke","safe_zone":"tiktok","drawn_ms":5}"#;
        let d: LayoutDraft = serde_json::from_str(old).unwrap();
        assert_eq!(d.circle_size(), "l");
        assert_eq!(
            (d.position.as_str(), d.ring, d.drawn_ms),
            ("top-right", true, 5)
        );
        assert_eq!(d.safe_zone, media::SafeZone::Tiktok);
        let again: LayoutDraft = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(again, d);
    }
}
