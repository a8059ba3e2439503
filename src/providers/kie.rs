//! KIE.AI's Veo 3.1 API: `POST /api/v1/veo/generate` → `data.taskId`, then
//! `GET /api/v1/veo/record-info?taskId=` until `successFlag` is 1 (or 2/3 for failure). Every
//! answer is a `{code, msg, data}` envelope; a non-200 `code` is an error even with HTTP 200.
use super::{class_of_status, retry_after_ms, KeyRing, ProviderError};
use crate::failure::ErrorClass;
use serde_json::{json, Value};

const NAME: &str = "kie";

pub struct KieClient {
    http: reqwest::Client,
    keys: KeyRing,
    base: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VeoState {
    Generating,
    /// Done: the (temporary) result video URLs.
    Succeeded(Vec<String>),
    Failed(String),
}

impl KieClient {
    pub fn new(http: reqwest::Client, keys: Vec<String>, base: Option<&str>) -> Self {
        Self {
            http,
            keys: KeyRing::new(keys),
            base: base
                .unwrap_or("https://api.kie.ai")
                .trim_end_matches('/')
                .to_string(),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder, key: &str) -> Result<Value, ProviderError> {
        let resp = req
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(NAME, &e))?;
        let status = resp.status().as_u16();
        let retry = retry_after_ms(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| ProviderError::from_reqwest(NAME, &e))?;
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) if !(200..300).contains(&status) => {
                let err = ProviderError::new(
                    NAME,
                    class_of_status(status, retry),
                    format!("HTTP {status}"),
                );
                self.keys.note(key, err.class);
                return Err(err);
            }
            Err(e) => return Err(ProviderError::malformed(NAME, e)),
        };
        let code = v
            .get("code")
            .and_then(Value::as_u64)
            .map(|c| c as u16)
            .unwrap_or(status);
        if code == 200 && (200..300).contains(&status) {
            return Ok(v.get("data").cloned().unwrap_or(Value::Null));
        }
        let msg = v
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_string();
        let lower = msg.to_lowercase();
        let class = if lower.contains("credit") || lower.contains("balance") {
            ErrorClass::BillingOrQuota
        } else if lower.contains("sensitive")
            || lower.contains("policy")
            || lower.contains("violat")
        {
            ErrorClass::ContentRejected
        } else {
            class_of_status(code, retry)
        };
        let err = ProviderError::new(NAME, class, format!("{code}: {msg}"));
        self.keys.note(key, err.class);
        Err(err)
    }

    /// Starts a generation; `aspect_ratio` is "16:9", "9:16" or "Auto" (1:1 is refused).
    pub async fn generate(
        &self,
        prompt: &str,
        model: &str,
        aspect_ratio: &str,
        image_urls: &[String],
    ) -> Result<(String, String), ProviderError> {
        if !["16:9", "9:16", "Auto"].contains(&aspect_ratio) {
            return Err(ProviderError::new(
                NAME,
                ErrorClass::BadUserInput,
                format!("Veo does not make {aspect_ratio} videos"),
            ));
        }
        let mut body = json!({ "prompt": prompt, "model": model, "aspect_ratio": aspect_ratio });
        if !image_urls.is_empty() {
            body["imageUrls"] = json!(image_urls);
        }
        let key = self.keys.take(NAME)?;
        let data = self
            .call(
                self.http
                    .post(format!("{}/api/v1/veo/generate", self.base))
                    .json(&body),
                &key,
            )
            .await?;
        let task = data
            .get("taskId")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| ProviderError::malformed(NAME, "no data.taskId"))?;
        Ok((task, KeyRing::id_of(&key)))
    }

    /// The task's state, asked with the key that generated it (`key_id`).
    pub async fn record_info(
        &self,
        task_id: &str,
        key_id: Option<&str>,
    ) -> Result<VeoState, ProviderError> {
        let key = self.keys.take_pinned(NAME, key_id)?;
        let data = self
            .call(
                self.http
                    .get(format!("{}/api/v1/veo/record-info", self.base))
                    .query(&[("taskId", task_id)]),
                &key,
            )
            .await?;
        match data.get("successFlag").and_then(Value::as_i64) {
            Some(0) => Ok(VeoState::Generating),
            Some(1) => Ok(VeoState::Succeeded(result_urls(&data))),
            Some(2) | Some(3) => Ok(VeoState::Failed(
                data.get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("generation failed")
                    .to_string(),
            )),
            other => Err(ProviderError::malformed(
                NAME,
                format!("successFlag {other:?}"),
            )),
        }
    }
}

/// Result URLs live in `data.response.resultUrls` (a list, or a JSON string of one in older
/// answers); also accepted directly under `data`.
fn result_urls(data: &Value) -> Vec<String> {
    let holder = data.get("response").unwrap_or(data);
    match holder.get("resultUrls") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => {
            serde_json::from_str::<Vec<String>>(s).unwrap_or_else(|_| vec![s.clone()])
        }
        _ => Vec::new(),
    }
}
