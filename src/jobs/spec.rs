//! What a job is asked to make: one variant per product, each with typed parameters. The bot,
//! the admin commands and the HTTP API build a [`JobSpec`]; the pipelines `match` on it.
//! Stored as the `kind` column plus the parameters as JSON; rows written before the typed
//! contract existed load unchanged (the JSON shapes are the same: a tolerant reader, no
//! migration).
use serde::{Deserialize, Serialize};

/// Declares [`JobSpec`] and, from the same list, [`JobKind`] with its names and `ALL`: a new
/// product is one line here (plus its parameter type), and every `match` on either enum is
/// pointed out by the compiler.
macro_rules! job_contract {
    ($( $(#[$doc:meta])* $variant:ident($params:ty) = $name:literal, )+) => {
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum JobSpec {
            $( $(#[$doc])* $variant($params), )+
        }

        /// The job kinds, for counting, typical durations and log fields.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum JobKind {
            $( $variant, )+
        }

        impl JobKind {
            pub const ALL: &'static [JobKind] = &[$( JobKind::$variant, )+];

            /// The name in the `kind` column and the spec's JSON (its serde tag).
            pub fn name(self) -> &'static str {
                match self {
                    $( JobKind::$variant => $name, )+
                }
            }
        }

        impl JobSpec {
            pub fn kind(&self) -> JobKind {
                match self {
                    $( JobSpec::$variant(_) => JobKind::$variant, )+
                }
            }
        }
    };
}

job_contract! {
    TextToVideo(GenerateParams) = "text_to_video",
    ImageToVideo(GenerateParams) = "image_to_video",
    ProductVideo(ProductParams) = "product_video",
    CharacterEdit(EditParams) = "character_edit",
    UgcVideo(UgcParams) = "ugc_video",
    /// `/overlay`: the composite of a finished UGC video made again from its paid speech and
    /// talking head (carried over as checkpoints).
    Recompose(UgcParams) = "recompose",
}

impl JobKind {
    /// A stored kind by its name; `None` for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Whether the result is a video (a character edit comes back as a photo).
    pub fn makes_video(self) -> bool {
        match self {
            JobKind::CharacterEdit => false,
            JobKind::TextToVideo
            | JobKind::ImageToVideo
            | JobKind::ProductVideo
            | JobKind::UgcVideo
            | JobKind::Recompose => true,
        }
    }

    /// Whether the job composes a talking head over a background (its phase shows
    /// "composing" once the head is made).
    pub fn composes(self) -> bool {
        match self {
            JobKind::UgcVideo | JobKind::Recompose => true,
            JobKind::TextToVideo
            | JobKind::ImageToVideo
            | JobKind::ProductVideo
            | JobKind::CharacterEdit => false,
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a stored file named by a spec must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// A photo (JPEG after the upload checks): a first frame, a product, a portrait.
    Photo,
    /// A video clip: a UGC background.
    Clip,
}

impl FileRole {
    /// The content type an upload in this role was stored with.
    pub fn content_type(self) -> &'static str {
        match self {
            FileRole::Photo => "image/jpeg",
            FileRole::Clip => "video/mp4",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("job parameters of kind '{kind}': {message}")]
pub struct SpecError {
    pub kind: String,
    pub message: String,
}

impl JobSpec {
    /// The tier whose provider deadline applies: the video tier of generated and product
    /// videos, `ugc` for talking heads, `edit` for image edits.
    pub fn deadline_tier(&self) -> &str {
        match self {
            JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p) => &p.tier,
            JobSpec::ProductVideo(p) => &p.tier,
            JobSpec::CharacterEdit(_) => "edit",
            JobSpec::UgcVideo(_) | JobSpec::Recompose(_) => "ugc",
        }
    }

    /// Text-to-video, or image-to-video when the parameters carry a first frame.
    pub fn generate(p: GenerateParams) -> Self {
        if p.image.is_some() {
            JobSpec::ImageToVideo(p)
        } else {
            JobSpec::TextToVideo(p)
        }
    }

    /// The stored files the spec names (photos, portraits, backgrounds).
    pub fn file_keys(&self) -> Vec<&str> {
        self.files().into_iter().map(|(_, _, key)| key).collect()
    }

    /// The stored files the spec names: what each must be, its field, its key.
    pub fn files(&self) -> Vec<(FileRole, &'static str, &str)> {
        match self {
            JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p) => p
                .image
                .iter()
                .map(|k| (FileRole::Photo, "image", k.as_str()))
                .collect(),
            JobSpec::ProductVideo(p) => vec![(FileRole::Photo, "image", p.image.as_str())],
            JobSpec::CharacterEdit(p) => vec![(FileRole::Photo, "image", p.image.as_str())],
            JobSpec::UgcVideo(p) | JobSpec::Recompose(p) => {
                let mut keys = vec![(FileRole::Photo, "portrait", p.portrait.as_str())];
                keys.extend(
                    p.background
                        .as_deref()
                        .map(|b| (FileRole::Clip, "background", b)),
                );
                if let Some(brand) = &p.brand {
                    keys.extend(brand.logo.as_deref().map(|k| (FileRole::Photo, "logo", k)));
                    keys.extend(
                        brand
                            .end_card
                            .as_ref()
                            .and_then(|c| c.photo.as_deref())
                            .map(|k| (FileRole::Photo, "end_card", k)),
                    );
                }
                keys
            }
        }
    }

    /// The parameters as stored in the `params` column (without the kind).
    pub fn params_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("kind");
        }
        v.to_string()
    }

    /// Reads a stored row: the `kind` column and the `params` JSON.
    pub fn from_row(kind: &str, params: &str) -> Result<Self, SpecError> {
        let err = |message: String| SpecError {
            kind: kind.to_string(),
            message,
        };
        let mut v: serde_json::Value =
            serde_json::from_str(params).map_err(|e| err(e.to_string()))?;
        let o = v
            .as_object_mut()
            .ok_or_else(|| err("not a JSON object".into()))?;
        o.insert("kind".into(), serde_json::Value::String(kind.to_string()));
        serde_json::from_value(v).map_err(|e| err(e.to_string()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct GenerateParams {
    pub prompt: String,
    /// "fast" or "quality".
    pub tier: String,
    /// 4, 8 or 12.
    pub seconds: u32,
    /// "720x1280", "1280x720", …
    pub size: String,
    /// Storage key of the photo for image-to-video.
    #[serde(default)]
    pub image: Option<String>,
    /// Let the prompt model improve the prompt first (the raw text when it is unset or fails).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub improve_prompt: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ProductParams {
    pub image: String,
    pub description: String,
    pub template: String,
    #[serde(default)]
    pub wishes: Option<String>,
    pub tier: String,
    pub seconds: u32,
    pub size: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct EditParams {
    /// Storage key of the image to edit.
    pub image: String,
    pub prompt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct UgcParams {
    /// Storage key of the character portrait.
    pub portrait: String,
    /// Storage key of the user's background clip; none for the "talking head" format (the
    /// head fills the frame, with captions and the voice).
    #[serde(default)]
    pub background: Option<String>,
    pub script: String,
    #[serde(default = "default_language")]
    pub language: String,
    /// The output size.
    #[serde(default = "default_size")]
    pub size: String,
    /// The chosen voice: an ElevenLabs id, or `openai:<voice>` (an offline voice travels in
    /// `language`).
    #[serde(default)]
    pub voice: Option<String>,
    /// How the chosen voice sounds: a fallback provider speaks with its closest voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_gender: Option<crate::providers::speech::Gender>,
    /// Where the circle goes, how big, the captions and the safe zone (flattened in the JSON).
    #[serde(flatten)]
    pub layout: super::Layout,
    /// `/overlay`: make the composite again even if a cached one exists.
    #[serde(default)]
    pub force_recompose: bool,
    /// The seller's brand: a logo on every frame, the captions' accent, an end card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Brand>,
    /// The talking head's tier (`premium`, `standard`, `economy`; none: the first): its price,
    /// and the chain entries it may be made by (its own and cheaper ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_tier: Option<String>,
    /// Which hook variant of an order this is (`A`, `B`, `C`): said with the delivered video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// One language version of an ad ordered in several (`language` says which): the
    /// versions are made as jobs of their own and delivered together as one album.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<VersionOf>,
}

/// The album a language version is delivered in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionOf {
    /// The group's key (one per order).
    pub group: String,
    /// How many versions the order made.
    #[serde(deserialize_with = "whole_u8")]
    pub of: u8,
}

/// A small count as JSON has it: `3` or `3.0` (JSON Schema's integers are numbers).
fn whole_u8<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = f64::deserialize(d)?;
    if n.fract() == 0.0 && (0.0..=255.0).contains(&n) {
        Ok(n as u8)
    } else {
        Err(serde::de::Error::custom(format!(
            "{n} is not a whole number up to 255"
        )))
    }
}

/// A seller's brand as an order carries it (a copy of the brand kit when it was ordered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Brand {
    /// Storage key of the logo: a photo upload (PNG with alpha, or JPEG) of at most 2 MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// The karaoke captions' accent colour, `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_card: Option<EndCardSpec>,
}

/// The card after the speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndCardSpec {
    /// Storage key of the product photo (a photo upload, or a product's `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    /// The product's name.
    pub title: String,
    /// The price as it should read, e.g. "12 990 ₸".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    pub call_to_action: String,
    /// 1.5–2.5 s (default 2).
    #[serde(default = "default_end_card_seconds")]
    pub seconds: f64,
}

fn default_end_card_seconds() -> f64 {
    2.0
}

impl UgcParams {
    /// The script's language code (`ru`, `kk`, `en`), also for an offline voice (`kk+f3`).
    pub fn language_code(&self) -> &str {
        self.language.split('+').next().unwrap_or("ru")
    }

    /// The extra formats made with the composite `output`: (format, stored key).
    pub fn more_output_keys(&self, output: &str) -> Vec<(String, String)> {
        let Ok(main) = media::parse_size(&self.size) else {
            return Vec::new();
        };
        self.layout
            .more_outputs(main)
            .into_iter()
            .map(|(f, w, h)| (f, super::layout::more_output_key(output, w, h)))
            .collect()
    }
}

fn default_language() -> String {
    "ru".into()
}
fn default_size() -> String {
    "720x1280".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_before_the_typed_contract_still_load() {
        // The shapes the bot wrote with json! before JobSpec existed.
        let t2v = JobSpec::from_row(
            "text_to_video",
            r#"{"prompt":"a cat","tier":"fast","seconds":4,"size":"720x1280","image":null}"#,
        )
        .unwrap();
        assert_eq!(t2v.kind(), JobKind::TextToVideo);
        let ugc = JobSpec::from_row(
            "ugc_video",
            r#"{"portrait":"p.jpg","background":null,"script":"Hi","language":"ru+f3","voice":null}"#,
        )
        .unwrap();
        let JobSpec::UgcVideo(p) = ugc else {
            panic!("wrong variant")
        };
        assert_eq!((p.size.as_str(), p.layout.captions), ("720x1280", true));
        assert_eq!(p.layout, super::super::Layout::default());
    }

    #[test]
    fn a_version_count_is_read_as_json_numbers_are() {
        for (of, ok) in [("3", true), ("3.0", true), ("2.5", false), ("-1", false)] {
            let row = format!(
                r#"{{"portrait":"p.jpg","script":"Hi","versions":{{"group":"g1","of":{of}}}}}"#
            );
            assert_eq!(JobSpec::from_row("ugc_video", &row).is_ok(), ok, "{of}");
        }
    }

    #[test]
    fn a_spec_round_trips_through_its_row() {
        let spec = JobSpec::CharacterEdit(EditParams {
            image: "a.jpg".into(),
            prompt: "red hat".into(),
        });
        let back = JobSpec::from_row(spec.kind().name(), &spec.params_json()).unwrap();
        assert_eq!(back, spec);
        assert!(!spec.params_json().contains("\"kind\""));
    }

    #[test]
    fn each_kind_is_named_as_its_spec_is_tagged() {
        let schema = schemars::schema_for!(JobSpec).to_value().to_string();
        for kind in JobKind::ALL {
            assert!(
                schema.contains(&format!("\"const\":\"{}\"", kind.name())),
                "{} is the serde tag of its variant",
                kind.name()
            );
            assert_eq!(JobKind::from_name(kind.name()), Some(*kind));
        }
    }

    #[test]
    fn unknown_kinds_and_broken_params_are_named() {
        let e = JobSpec::from_row("hologram", "{}").unwrap_err();
        assert!(e.to_string().contains("hologram"), "{e}");
        assert!(JobSpec::from_row("ugc_video", "[1]").is_err());
        assert!(JobKind::from_name("recompose").is_some());
    }
}
