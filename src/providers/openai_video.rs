//! OpenAI's videos API (Sora 2): create (multipart, `seconds` as the string "4"/"8"/"12",
//! optional `input_reference` image of exactly the video size), poll, download the MP4.
//! Announced to shut down on 2026-09-24, so it sits behind the tier → provider mapping.
use super::{
    class_of_status, download_capped, retry_after_ms, send_checked, KeyRing, ProviderError,
};
use crate::failure::ErrorClass;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

const NAME: &str = "openai";

pub struct OpenAiVideo {
    http: reqwest::Client,
    keys: KeyRing,
    base: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VideoJob {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub progress: Option<f64>,
    #[serde(default)]
    pub error: Option<VideoError>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VideoError {
    pub code: String,
    pub message: String,
}

/// A poll: the job, and how long the server asks us to wait before the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    pub job: VideoJob,
    pub poll_after: Duration,
}

pub struct CreateVideo<'a> {
    pub prompt: &'a str,
    pub model: &'a str,
    pub seconds: u32,
    pub size: &'a str,
    /// First frame: JPEG/PNG/WebP bytes of exactly `size` pixels.
    pub input_reference: Option<(Vec<u8>, &'a str)>,
}

impl OpenAiVideo {
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

    fn key(&self) -> Result<String, ProviderError> {
        self.keys.take(NAME)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        key: &str,
    ) -> Result<reqwest::Response, ProviderError> {
        send_checked(&self.keys, key, NAME, req.bearer_auth(key), classify_error).await
    }

    /// Starts a video; returns the job and the id of the key that made it (polls and the
    /// download must use the same account, see [`KeyRing::id_of`]).
    pub async fn create(&self, c: CreateVideo<'_>) -> Result<(VideoJob, String), ProviderError> {
        if ![4, 8, 12].contains(&c.seconds) {
            return Err(ProviderError::new(
                NAME,
                ErrorClass::BadUserInput,
                format!("{} s is not 4, 8 or 12", c.seconds),
            ));
        }
        let mut form = reqwest::multipart::Form::new()
            .text("prompt", c.prompt.to_string())
            .text("model", c.model.to_string())
            .text("seconds", c.seconds.to_string())
            .text("size", c.size.to_string());
        if let Some((bytes, mime)) = c.input_reference {
            let ext = mime.rsplit('/').next().unwrap_or("jpg");
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(format!("reference.{ext}"))
                .mime_str(mime)
                .map_err(|e| ProviderError::new(NAME, ErrorClass::BadUserInput, e.to_string()))?;
            form = form.part("input_reference", part);
        }
        let key = self.key()?;
        let resp = self
            .send(
                self.http
                    .post(format!("{}/videos", self.base))
                    .multipart(form),
                &key,
            )
            .await?;
        let job = resp
            .json()
            .await
            .map_err(|e| ProviderError::malformed(NAME, e))?;
        Ok((job, KeyRing::id_of(&key)))
    }

    pub async fn retrieve(&self, id: &str, key_id: Option<&str>) -> Result<Poll, ProviderError> {
        let key = self.keys.take_pinned(NAME, key_id)?;
        let resp = self
            .send(self.http.get(format!("{}/videos/{id}", self.base)), &key)
            .await?;
        let poll_after = resp
            .headers()
            .get("openai-poll-after-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(10));
        let job: VideoJob = resp
            .json()
            .await
            .map_err(|e| ProviderError::malformed(NAME, e))?;
        Ok(Poll { job, poll_after })
    }

    /// The finished MP4 (assets expire about an hour after completion: store it at once).
    pub async fn download(
        &self,
        id: &str,
        key_id: Option<&str>,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ProviderError> {
        let key = self.keys.take_pinned(NAME, key_id)?;
        let request = self
            .http
            .get(format!("{}/videos/{id}/content?variant=video", self.base))
            .bearer_auth(key);
        download_capped(request, NAME, max_bytes, Duration::from_secs(300)).await
    }
}

/// What a finished job's failure means: moderation is never retried.
pub fn class_of_failed_job(err: Option<&VideoError>) -> ErrorClass {
    match err {
        Some(e)
            if e.code.contains("moderation")
                || e.code.contains("policy")
                || e.code.contains("safety") =>
        {
            ErrorClass::ContentRejected
        }
        Some(e) if e.code.contains("rate_limit") => ErrorClass::RateLimited {
            retry_after_ms: None,
        },
        Some(e) if e.code.contains("server_error") || e.code.contains("internal") => {
            ErrorClass::Transient
        }
        _ => ErrorClass::Permanent,
    }
}

/// `{"error":{"message","type","param","code"}}`.
pub(crate) fn classify_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = v.get("error");
    let code = e
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = e
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let class = if code == "insufficient_quota"
        || kind == "insufficient_quota"
        || code == "billing_hard_limit_reached"
    {
        ErrorClass::BillingOrQuota
    } else if code.contains("moderation") || code.contains("content_policy") {
        ErrorClass::ContentRejected
    } else {
        class_of_status(status, retry_after_ms(headers))
    };
    ProviderError::new(NAME, class, message)
}
