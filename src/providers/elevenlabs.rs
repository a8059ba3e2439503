//! ElevenLabs text-to-speech: `POST /v1/text-to-speech/{voice_id}` (audio bytes) and its
//! `/with-timestamps` variant (base64 audio + per-character alignment for word-timed captions),
//! `GET /v2/voices` for the voice gallery. Auth header `xi-api-key`.
use super::{class_of_status, retry_after_ms, send_checked, KeyRing, ProviderError};
use crate::failure::ErrorClass;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

const NAME: &str = "elevenlabs";
pub const DEFAULT_MODEL: &str = "eleven_multilingual_v2";

pub struct ElevenLabs {
    http: reqwest::Client,
    keys: KeyRing,
    base: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Voice {
    pub voice_id: String,
    pub name: String,
    #[serde(default)]
    pub preview_url: Option<String>,
    /// `gender`, `accent`, `age`, … as ElevenLabs describes the voice.
    #[serde(default)]
    pub labels: std::collections::HashMap<String, String>,
}

/// Audio plus the alignment JSON (the shape `media::parse_word_timings` reads).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedSpeech {
    pub audio: Vec<u8>,
    pub alignment: Value,
}

impl ElevenLabs {
    pub fn new(http: reqwest::Client, keys: Vec<String>, base: Option<&str>) -> Self {
        Self {
            http,
            keys: KeyRing::new(keys),
            base: base
                .unwrap_or("https://api.elevenlabs.io")
                .trim_end_matches('/')
                .to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        let key = self.keys.take(NAME)?;
        send_checked(
            &self.keys,
            &key,
            NAME,
            req.header("xi-api-key", &key),
            classify_error,
        )
        .await
    }

    /// MP3 (44.1 kHz, 128 kb/s) of `text` in `voice_id`.
    pub async fn speak(
        &self,
        voice_id: &str,
        text: &str,
        model: &str,
    ) -> Result<Vec<u8>, ProviderError> {
        let req = self
            .http
            .post(format!("{}/v1/text-to-speech/{voice_id}", self.base))
            .query(&[("output_format", "mp3_44100_128")])
            .json(&json!({ "text": text, "model_id": model }));
        let resp = self.send(req).await?;
        Ok(resp
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(NAME, &e))?
            .to_vec())
    }

    pub async fn speak_with_timestamps(
        &self,
        voice_id: &str,
        text: &str,
        model: &str,
    ) -> Result<TimedSpeech, ProviderError> {
        let req = self
            .http
            .post(format!(
                "{}/v1/text-to-speech/{voice_id}/with-timestamps",
                self.base
            ))
            .query(&[("output_format", "mp3_44100_128")])
            .json(&json!({ "text": text, "model_id": model }));
        let v: Value = self
            .send(req)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::malformed(NAME, e))?;
        let b64 = v
            .get("audio_base64")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::malformed(NAME, "no audio_base64"))?;
        let audio = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ProviderError::malformed(NAME, e))?;
        let alignment = v
            .get("alignment")
            .cloned()
            .ok_or_else(|| ProviderError::malformed(NAME, "no alignment"))?;
        Ok(TimedSpeech { audio, alignment })
    }

    /// One page of voices (`page_token` from the previous page's `next_page_token`).
    pub async fn voices(
        &self,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<(Vec<Voice>, Option<String>), ProviderError> {
        let mut req = self
            .http
            .get(format!("{}/v2/voices", self.base))
            .query(&[("page_size", page_size.to_string())]);
        if let Some(t) = page_token {
            req = req.query(&[("next_page_token", t)]);
        }
        let v: Value = self
            .send(req)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::malformed(NAME, e))?;
        let voices: Vec<Voice> =
            serde_json::from_value(v.get("voices").cloned().unwrap_or(Value::Array(vec![])))
                .map_err(|e| ProviderError::malformed(NAME, e))?;
        let next = v
            .get("next_page_token")
            .and_then(Value::as_str)
            .map(String::from)
            .filter(|_| v.get("has_more").and_then(Value::as_bool).unwrap_or(true));
        Ok((voices, next))
    }
}

/// `{"detail":{"status":"<code>","message":"..."}}`.
fn classify_error(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> ProviderError {
    let retry = retry_after_ms(headers);
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = v.get("detail");
    let code = detail
        .and_then(|d| d.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = detail
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let class = match code {
        "quota_exceeded" | "invalid_api_key" | "payment_required" => ErrorClass::BillingOrQuota,
        "max_character_limit_exceeded" | "voice_not_found" => ErrorClass::BadUserInput,
        "too_many_concurrent_requests" | "system_busy" => ErrorClass::RateLimited {
            retry_after_ms: retry,
        },
        _ => class_of_status(status, retry),
    };
    ProviderError::new(
        NAME,
        class,
        if code.is_empty() {
            message
        } else {
            format!("{code}: {message}")
        },
    )
}
