//! fal.ai queue API: submit to `queue.fal.run/{endpoint}`, then use the `status_url`,
//! `response_url` and `cancel_url` the submit answer gives (they drop the endpoint's sub-path,
//! so building them by hand is wrong for e.g. `fal-ai/bytedance/omnihuman/v1.5`).
use super::{class_of_status, retry_after_ms, send_checked, KeyRing, ProviderError};
use crate::failure::ErrorClass;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const NAME: &str = "fal";
pub const OMNIHUMAN_V15: &str = "fal-ai/bytedance/omnihuman/v1.5";
pub const NANO_BANANA_EDIT: &str = "fal-ai/nano-banana/edit";

pub struct FalClient {
    http: reqwest::Client,
    keys: KeyRing,
    base: String,
}

/// What submit returns; saved with the job so a restart polls the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalRequest {
    pub request_id: String,
    pub status_url: String,
    pub response_url: String,
    pub cancel_url: String,
    /// Which API key made the request (`KeyRing::id_of`): its polls use the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FalStatus {
    InQueue {
        position: Option<u64>,
    },
    InProgress,
    /// Finished — successfully or not: the result tells.
    Completed,
}

impl FalClient {
    pub fn new(http: reqwest::Client, keys: Vec<String>, base: Option<&str>) -> Self {
        Self {
            http,
            keys: KeyRing::new(keys),
            base: base
                .unwrap_or("https://queue.fal.run")
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// Fetches a result file (fal's CDN URL) through the same client — and so the same
    /// `PROVIDER_PROXY` — as the API calls, capped in size and time.
    pub async fn download(
        &self,
        url: &str,
        max_bytes: u64,
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, ProviderError> {
        super::download_capped(self.http.get(url), "fal", max_bytes, timeout).await
    }

    fn key(&self) -> Result<String, ProviderError> {
        self.keys.take(NAME)
    }

    async fn call(&self, req: reqwest::RequestBuilder, key: &str) -> Result<Value, ProviderError> {
        let resp = send_checked(
            &self.keys,
            key,
            NAME,
            req.header("Authorization", format!("Key {key}")),
            classify_error,
        )
        .await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(NAME, &e))?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::malformed(NAME, e))
    }

    pub async fn submit(&self, endpoint: &str, input: &Value) -> Result<FalRequest, ProviderError> {
        let key = self.key()?;
        let v = self
            .call(
                self.http
                    .post(format!("{}/{endpoint}", self.base))
                    .json(input),
                &key,
            )
            .await?;
        let mut request: FalRequest =
            serde_json::from_value(v).map_err(|e| ProviderError::malformed(NAME, e))?;
        request.key_id = Some(KeyRing::id_of(&key));
        Ok(request)
    }

    /// The key that submitted `req` (older saved requests: the next key).
    fn key_of(&self, req: &FalRequest) -> Result<String, ProviderError> {
        self.keys.take_pinned(NAME, req.key_id.as_deref())
    }

    pub async fn status(&self, req: &FalRequest) -> Result<FalStatus, ProviderError> {
        let key = self.key_of(req)?;
        let v = self.call(self.http.get(&req.status_url), &key).await?;
        match v.get("status").and_then(Value::as_str) {
            Some("IN_QUEUE") => Ok(FalStatus::InQueue {
                position: v.get("queue_position").and_then(Value::as_u64),
            }),
            Some("IN_PROGRESS") => Ok(FalStatus::InProgress),
            Some("COMPLETED") => Ok(FalStatus::Completed),
            other => Err(ProviderError::malformed(
                NAME,
                format!("unknown status {other:?}"),
            )),
        }
    }

    /// The model's output once completed (a failed request answers here with its error).
    pub async fn result(&self, req: &FalRequest) -> Result<Value, ProviderError> {
        let key = self.key_of(req)?;
        self.call(self.http.get(&req.response_url), &key).await
    }

    pub async fn cancel(&self, req: &FalRequest) -> Result<(), ProviderError> {
        let key = self.key_of(req)?;
        match self.call(self.http.put(&req.cancel_url), &key).await {
            Ok(_) => Ok(()),
            // Already finished or gone: nothing left to cancel.
            Err(e) if e.class == ErrorClass::BadUserInput => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `{"detail":[{"loc","msg","type"}]}` for model errors, `{"detail":"...","error_type":"..."}`
/// for infrastructure errors; `X-Fal-Retryable` overrides.
fn classify_error(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let first = v
        .get("detail")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let kind = first
        .and_then(|d| d.get("type"))
        .or_else(|| v.get("error_type"))
        .and_then(Value::as_str)
        .or_else(|| {
            headers
                .get("x-fal-error-type")
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
        .to_string();
    let message = first
        .and_then(|d| d.get("msg"))
        .or_else(|| v.get("detail").filter(|d| d.is_string()))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let retryable = headers
        .get("x-fal-retryable")
        .or_else(|| headers.get("x-fal-needs-retry"))
        .and_then(|h| h.to_str().ok())
        .map(|s| s == "true" || s == "1");
    let class = if kind.contains("content_policy")
        || kind.contains("nsfw")
        || kind.contains("safety")
    {
        ErrorClass::ContentRejected
    } else if retryable == Some(true) || kind.ends_with("_timeout") || kind.starts_with("runner_") {
        ErrorClass::Transient
    } else if status == 403
        && (kind.contains("balance") || message.to_lowercase().contains("balance"))
    {
        ErrorClass::BillingOrQuota
    } else {
        class_of_status(status, retry_after_ms(headers))
    };
    ProviderError::new(
        NAME,
        class,
        if kind.is_empty() {
            message
        } else {
            format!("{kind}: {message}")
        },
    )
}

/// `result.video.url` of OmniHuman and other video models.
pub fn video_url(result: &Value) -> Option<&str> {
    result.get("video")?.get("url")?.as_str()
}

/// `result.images[0].url` of nano-banana edit.
pub fn first_image_url(result: &Value) -> Option<&str> {
    result
        .get("images")?
        .as_array()?
        .first()?
        .get("url")?
        .as_str()
}
