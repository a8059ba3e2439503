//! The speech chain (`TTS_CHAIN`, default ElevenLabs → OpenAI `gpt-4o-mini-tts` → espeak-ng):
//! the bot's speech preview and the UGC job's speech step both speak through it. An entry
//! whose breaker is open, or a fallback that would cost more than the order brings, is
//! skipped; a provider failure moves on to the next entry; a refusal of the text is final.
//! The chosen voice names its provider (an ElevenLabs id, `openai:<voice>`, an espeak-ng voice
//! such as `ru+f3`); another entry speaks with its closest voice of the same gender and
//! language, and the result says so, for the chat and the progress message.
use super::chain::{Admit, ChainPolicy, Order};
use super::elevenlabs::ElevenLabs;
use super::openai_speech::{self, OpenAiSpeech};
use super::{local, ProviderError};
use crate::db::Db;
use crate::failure::ErrorClass;
use crate::pricing::Quantity;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// ElevenLabs premade voices used when the chosen voice is another provider's.
const ELEVENLABS_FEMALE: &str = "21m00Tcm4TlvDq8ikWAM";
const ELEVENLABS_MALE: &str = "pNInz6obpgDQGcFmaJgB";

/// Roughly how many characters a voice speaks per second (for the cost of a fallback
/// before it has spoken).
const CHARS_PER_SECOND: f64 = 15.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    /// ElevenLabs' `labels.gender`, or an espeak-ng variant (`ru+f3`, `en+m1`).
    pub fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "female" | "woman" => Some(Self::Female),
            "male" | "man" => Some(Self::Male),
            _ => None,
        }
    }
    pub fn of_espeak_voice(voice: &str) -> Option<Self> {
        match voice.split_once('+').map(|(_, v)| v.chars().next()) {
            Some(Some('f')) => Some(Self::Female),
            Some(Some('m')) => Some(Self::Male),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
        }
    }
}

pub enum Engine {
    ElevenLabs(Arc<ElevenLabs>, String),
    OpenAi(Arc<OpenAiSpeech>, String),
    Local,
}

/// The languages ElevenLabs documents for its models (elevenlabs.io/docs/overview/models):
/// `eleven_multilingual_v2` speaks these 29; `eleven_flash_v2_5` and `eleven_turbo_v2_5` add
/// Hungarian, Norwegian and Vietnamese. Neither speaks Kazakh; `eleven_v3` (74 languages,
/// Kazakh and Russian among them) does.
const ELEVEN_MULTILINGUAL_V2: [&str; 29] = [
    "en", "ja", "zh", "de", "hi", "fr", "ko", "pt", "it", "es", "id", "nl", "tr", "fil", "pl",
    "sv", "bg", "ro", "ar", "cs", "el", "fi", "hr", "ms", "sk", "da", "ta", "uk", "ru",
];
const ELEVEN_V2_5_MORE: [&str; 3] = ["hu", "no", "vi"];

impl Engine {
    /// Whether this entry speaks `language` (`kk`, `ru-RU`, or an offline voice such as
    /// `kk+f3`), by its provider's documentation: a script in a language an entry does not
    /// speak skips that entry instead of failing there first.
    pub fn speaks(&self, language: &str) -> bool {
        let base = language
            .split(['+', '-', '_'])
            .next()
            .unwrap_or(language)
            .to_ascii_lowercase();
        match self {
            Engine::ElevenLabs(_, model) => match model.as_str() {
                "eleven_multilingual_v2" => ELEVEN_MULTILINGUAL_V2.contains(&base.as_str()),
                "eleven_flash_v2_5" | "eleven_turbo_v2_5" => {
                    ELEVEN_MULTILINGUAL_V2.contains(&base.as_str())
                        || ELEVEN_V2_5_MORE.contains(&base.as_str())
                }
                // eleven_v3 and models without a published list: not refused here.
                _ => true,
            },
            // OpenAI's speech follows Whisper's languages (Kazakh and Russian among them).
            Engine::OpenAi(..) => true,
            // espeak-ng ships voices for the languages the product offers (ru, kk, en).
            Engine::Local => true,
        }
    }
}

pub struct Entry {
    /// `elevenlabs:<model>`, `openai:<model>` or `local`.
    pub name: String,
    pub engine: Engine,
}

impl Entry {
    pub fn local() -> Self {
        Self {
            name: "local".into(),
            engine: Engine::Local,
        }
    }
}

/// The chain in order (empty = espeak-ng only) and how its entries are admitted.
#[derive(Default)]
pub struct SpeechChain {
    pub entries: Vec<Entry>,
    pub policy: ChainPolicy,
}

/// What the user asked for.
#[derive(Debug, Clone, Copy)]
pub struct Wish<'a> {
    /// The chosen voice (`None`: each entry's default for the gender and language).
    pub voice: Option<&'a str>,
    pub gender: Option<Gender>,
    /// `ru`, `en`, … (or an espeak-ng voice such as `ru+f3`, whose language is taken).
    pub language: &'a str,
}

/// Which provider a chosen voice belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    ElevenLabs,
    OpenAi,
    Local,
}

fn owner_of(voice: &str) -> Owner {
    if voice.starts_with("openai:") {
        Owner::OpenAi
    } else if voice.contains('+') || (voice.len() <= 3 && local::is_voice_name(voice)) {
        Owner::Local
    } else {
        Owner::ElevenLabs
    }
}

impl Wish<'_> {
    fn gender(&self) -> Option<Gender> {
        self.gender
            .or_else(|| self.voice.and_then(Gender::of_espeak_voice))
    }
    fn language(&self) -> &str {
        let lang = self.language.split('+').next().unwrap_or("");
        if local::is_voice_name(lang) {
            lang
        } else {
            "en"
        }
    }
    /// The voice `engine` speaks with, and whether it is a stand-in for the chosen one.
    fn voice_for(&self, engine: &Engine) -> (String, bool) {
        let chosen = self.voice.map(|v| (v, owner_of(v)));
        let gender = self.gender();
        match engine {
            Engine::ElevenLabs(..) => match chosen {
                Some((v, Owner::ElevenLabs)) => (v.to_string(), false),
                other => (
                    match gender {
                        Some(Gender::Male) => ELEVENLABS_MALE,
                        _ => ELEVENLABS_FEMALE,
                    }
                    .to_string(),
                    other.is_some(),
                ),
            },
            Engine::OpenAi(..) => match chosen {
                Some((v, Owner::OpenAi)) => (v.trim_start_matches("openai:").to_string(), false),
                other => (
                    match gender {
                        Some(Gender::Female) => openai_speech::FEMALE_VOICE,
                        Some(Gender::Male) => openai_speech::MALE_VOICE,
                        None => openai_speech::NEUTRAL_VOICE,
                    }
                    .to_string(),
                    other.is_some(),
                ),
            },
            Engine::Local => match chosen {
                Some((v, Owner::Local)) => (v.to_string(), false),
                other => {
                    let variant = match gender {
                        Some(Gender::Male) => "m3",
                        _ => "f3",
                    };
                    (format!("{}+{variant}", self.language()), other.is_some())
                }
            },
        }
    }
}

/// Speech made by one entry of the chain.
#[derive(Debug, Clone)]
pub struct Spoken {
    pub audio: Vec<u8>,
    /// `mp3` or `wav`.
    pub ext: &'static str,
    /// ElevenLabs' character alignment (word-timed captions); `None` = timings estimated.
    pub alignment: Option<serde_json::Value>,
    /// The entry that spoke.
    pub by: String,
    /// Set when another voice stood in for the chosen one: "OpenAI «nova» (female)".
    pub substitute: Option<String>,
    pub cost_kzt: f64,
}

impl Spoken {
    pub fn mime(&self) -> &'static str {
        if self.ext == "mp3" {
            "audio/mpeg"
        } else {
            "audio/wav"
        }
    }
}

fn label(engine: &Engine, voice: &str, gender: Option<Gender>) -> String {
    let who = match engine {
        Engine::ElevenLabs(..) => "ElevenLabs",
        Engine::OpenAi(..) => "OpenAI",
        Engine::Local => "espeak-ng (offline)",
    };
    match gender {
        Some(g) => format!("{who} «{voice}» ({})", g.word()),
        None => format!("{who} «{voice}»"),
    }
}

/// Speaks `text` through the chain. Alerts for the operator (a breaker this call opened) are
/// pushed to `alerts` whatever the outcome; `scratch` holds the offline voice's WAV a moment.
pub async fn speak(
    chain: &SpeechChain,
    db: &Db,
    text: &str,
    wish: Wish<'_>,
    order: Option<Order>,
    scratch: &Path,
    alerts: &mut Vec<String>,
) -> Result<Spoken, ProviderError> {
    let local_only = [Entry::local()];
    let entries: &[Entry] = if chain.entries.is_empty() {
        &local_only
    } else {
        &chain.entries
    };
    let seconds = Quantity::Seconds(text.chars().count() as f64 / CHARS_PER_SECOND);
    let mut last_error = None;
    for (position, entry) in entries.iter().enumerate() {
        let admitted = chain
            .policy
            .admit(db, position, &entry.name, seconds, order)
            .await
            .map_err(|e| ProviderError::new("speech", ErrorClass::Transient, e.to_string()))?;
        if admitted != Admit::Use {
            continue;
        }
        if !entry.engine.speaks(wish.language) {
            tracing::info!(entry = %entry.name, language = wish.language, "skipped: it does not speak this language");
            continue;
        }
        let (voice, stand_in) = wish.voice_for(&entry.engine);
        let asked = Instant::now();
        let made = match &entry.engine {
            Engine::ElevenLabs(client, model) => client
                .speak_with_timestamps(&voice, text, model)
                .await
                .map(|s| (s.audio, "mp3", Some(s.alignment))),
            Engine::OpenAi(client, model) => client
                .speak(model, &voice, text)
                .await
                .map(|audio| (audio, "mp3", None)),
            Engine::Local => {
                let wav = scratch.join(format!("speech-{}.wav", crate::db::now_ms()));
                std::fs::create_dir_all(scratch).map_err(|e| {
                    ProviderError::new("local", ErrorClass::Transient, e.to_string())
                })?;
                let spoken = local::speak(text, &voice, &wav).await;
                let audio = spoken.and_then(|()| {
                    std::fs::read(&wav).map_err(|e| {
                        ProviderError::new("local", ErrorClass::Transient, e.to_string())
                    })
                });
                let _ = std::fs::remove_file(&wav);
                audio.map(|a| (a, "wav", None))
            }
        };
        let db_error = |e: crate::db::DbError| {
            ProviderError::new("speech", ErrorClass::Transient, e.to_string())
        };
        match made {
            Ok((audio, ext, alignment)) => {
                let cost_kzt = if matches!(entry.engine, Engine::Local) {
                    0.0
                } else {
                    chain
                        .policy
                        .succeeded(db, &entry.name, seconds, asked.elapsed())
                        .await
                        .map_err(db_error)?
                };
                let substitute = stand_in.then(|| label(&entry.engine, &voice, wish.gender()));
                if let Some(s) = &substitute {
                    tracing::info!(entry = %entry.name, voice = %s, "speech by a fallback voice");
                }
                return Ok(Spoken {
                    audio,
                    ext,
                    alignment,
                    by: entry.name.clone(),
                    substitute,
                    cost_kzt,
                });
            }
            Err(e) => {
                if !matches!(entry.engine, Engine::Local) {
                    if let Some(alert) = chain
                        .policy
                        .failed(db, &entry.name, &e, asked.elapsed())
                        .await
                        .map_err(db_error)?
                    {
                        alerts.push(alert);
                    }
                }
                if !super::chain::moves_on(&e) {
                    return Err(e);
                }
                tracing::warn!(entry = %entry.name, error = %e, "speech failed: trying the next provider");
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        ProviderError::new(
            "speech",
            ErrorClass::Transient,
            "every speech provider is skipped for now (circuit breakers open)",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_speak_the_languages_their_providers_document() {
        let eleven = |model: &str| {
            Engine::ElevenLabs(
                Arc::new(ElevenLabs::new(reqwest::Client::new(), vec![], None)),
                model.into(),
            )
        };
        assert!(!eleven("eleven_multilingual_v2").speaks("kk"));
        assert!(eleven("eleven_multilingual_v2").speaks("ru"));
        assert!(eleven("eleven_multilingual_v2").speaks("en-US"));
        assert!(!eleven("eleven_flash_v2_5").speaks("kk"));
        assert!(eleven("eleven_flash_v2_5").speaks("vi"));
        assert!(eleven("eleven_v3").speaks("kk"));
        assert!(Engine::Local.speaks("kk+f3"));
    }

    /// A Kazakh script skips ElevenLabs' multilingual model without calling it: the offline
    /// voice (the next entry) speaks, and the chat is told which voice stood in.
    #[tokio::test]
    async fn a_kazakh_script_skips_an_entry_that_cannot_speak_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display()))
            .await
            .unwrap();
        // An ElevenLabs that would answer nothing useful: the test fails if it is called.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let app = axum::Router::new().fallback(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let chain = SpeechChain {
            entries: vec![
                Entry {
                    name: "elevenlabs:eleven_multilingual_v2".into(),
                    engine: Engine::ElevenLabs(
                        Arc::new(ElevenLabs::new(
                            reqwest::Client::new(),
                            vec!["k".into()],
                            Some(&base),
                        )),
                        "eleven_multilingual_v2".into(),
                    ),
                },
                Entry::local(),
            ],
            policy: Default::default(),
        };
        let wish = Wish {
            voice: Some("EXAVITQu4vr4xnSDxMaL"),
            gender: Some(Gender::Female),
            language: "kk",
        };
        let mut alerts = Vec::new();
        let spoken = speak(
            &chain,
            &db,
            "Сәлеметсіз бе",
            wish,
            None,
            dir.path(),
            &mut alerts,
        )
        .await
        .unwrap();
        assert_eq!(spoken.by, "local");
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "never asked"
        );
        assert!(
            spoken.substitute.is_some(),
            "the chat says which voice speaks"
        );
    }

    #[test]
    fn a_fallback_speaks_with_the_closest_voice_of_the_same_gender_and_language() {
        let openai = Engine::OpenAi(
            Arc::new(OpenAiSpeech::new(reqwest::Client::new(), vec![], None)),
            "gpt-4o-mini-tts".into(),
        );
        let female_el = Wish {
            voice: Some("EXAVITQu4vr4xnSDxMaL"),
            gender: Some(Gender::Female),
            language: "ru",
        };
        assert_eq!(female_el.voice_for(&openai), ("nova".into(), true));
        assert_eq!(female_el.voice_for(&Engine::Local), ("ru+f3".into(), true));
        let male_offline = Wish {
            voice: Some("en+m1"),
            gender: None,
            language: "en+m1",
        };
        assert_eq!(male_offline.voice_for(&openai), ("onyx".into(), true));
        assert_eq!(
            male_offline.voice_for(&Engine::Local),
            ("en+m1".into(), false)
        );
        let own = Wish {
            voice: Some("openai:coral"),
            gender: Some(Gender::Female),
            language: "en",
        };
        assert_eq!(own.voice_for(&openai), ("coral".into(), false));
        let none = Wish {
            voice: None,
            gender: None,
            language: "-f/etc/passwd",
        };
        assert_eq!(none.voice_for(&openai), ("alloy".into(), false));
        assert_eq!(none.voice_for(&Engine::Local), ("en+f3".into(), false));
        assert_eq!(Gender::from_label("Male"), Some(Gender::Male));
        assert_eq!(Gender::of_espeak_voice("ru+f4"), Some(Gender::Female));
    }
}
