//! OpenAI's speech endpoint, the second choice of the speech chain: `POST /v1/audio/speech`
//! with JSON `model`, `input`, `voice`, `response_format`; the answer's body is the audio.
//! It gives no word timings (captions estimate them, as for offline speech). Errors have
//! OpenAI's usual `{"error": {"message", "type", "code"}}` shape.
use super::{send_checked, KeyRing, ProviderError};
use serde_json::json;

const NAME: &str = "openai";

/// OpenAI's voices by the gender they sound; `alloy` when the chosen voice's is unknown.
pub const FEMALE_VOICE: &str = "nova";
pub const MALE_VOICE: &str = "onyx";
pub const NEUTRAL_VOICE: &str = "alloy";

pub struct OpenAiSpeech {
    http: reqwest::Client,
    keys: KeyRing,
    base: String,
}

impl OpenAiSpeech {
    pub fn new(http: reqwest::Client, keys: Vec<String>, base: Option<&str>) -> Self {
        Self {
            http,
            keys: KeyRing::new(keys),
            base: base
                .unwrap_or("https://api.openai.com/v1")
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// MP3 of `text` spoken by `voice` with `model` (e.g. `gpt-4o-mini-tts`).
    pub async fn speak(
        &self,
        model: &str,
        voice: &str,
        text: &str,
    ) -> Result<Vec<u8>, ProviderError> {
        let key = self.keys.take(NAME)?;
        let req = self
            .http
            .post(format!("{}/audio/speech", self.base))
            .bearer_auth(&key)
            .json(
                &json!({ "model": model, "input": text, "voice": voice, "response_format": "mp3" }),
            );
        let resp = send_checked(
            &self.keys,
            &key,
            NAME,
            req,
            super::openai_video::classify_error,
        )
        .await?;
        let audio = resp
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(NAME, &e))?;
        if audio.is_empty() {
            return Err(ProviderError::malformed(NAME, "the speech came back empty"));
        }
        Ok(audio.to_vec())
    }
}
