//! An OpenAI-compatible chat model (`LLM_URL`): it turns a seller's few words into a video
//! prompt ([`PromptWriter`]) and writes ad scripts from a product
//! (`crate::products::scripts`). It is an improvement, never a dependency: any failure gives
//! back the raw text or the templates.
use std::time::Duration;

/// `POST {url}/chat/completions` with a system and a user message.
#[derive(Clone)]
pub struct ChatModel {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
}

impl ChatModel {
    pub fn new(http: reqwest::Client, url: &str, model: &str, key: Option<String>) -> Self {
        Self {
            http,
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key,
        }
    }

    /// The assistant's reply, or `None` on any failure. `json`: asks for a JSON object
    /// (`response_format`), which the caller still checks.
    pub async fn reply(
        &self,
        system: &str,
        user: &str,
        json: bool,
        temperature: f64,
        timeout: Duration,
    ) -> Option<String> {
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": temperature,
            // Three short scripts or one prompt: a page that asks for an essay is not paid for.
            "max_tokens": 1000
        });
        if json {
            body["response_format"] = serde_json::json!({"type": "json_object"});
        }
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.url))
            .json(&body)
            .timeout(timeout);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            tracing::info!(status = resp.status().as_u16(), "the chat model refused");
            return None;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        Some(
            v["choices"][0]["message"]["content"]
                .as_str()?
                .trim()
                .to_string(),
        )
    }
}

pub struct PromptWriter {
    chat: ChatModel,
}

const SYSTEM: &str = "You write prompts for a text/image-to-video model that makes short product ads. \
Rewrite the user's draft into one vivid English paragraph under 80 words: the product, the scene, the camera, \
the light. Keep every fact from the draft; add no brand names, text overlays or people's faces. Reply with the prompt only.";

impl PromptWriter {
    pub fn new(http: reqwest::Client, url: &str, model: &str, key: Option<String>) -> Self {
        Self {
            chat: ChatModel::new(http, url, model, key),
        }
    }

    /// The improved prompt, or `draft` itself when the model fails or answers nonsense.
    pub async fn improve(&self, draft: &str) -> String {
        self.ask(draft)
            .await
            .filter(|p| p.len() >= 20 && p.len() <= 2000)
            .unwrap_or_else(|| draft.to_string())
    }

    async fn ask(&self, draft: &str) -> Option<String> {
        self.chat
            .reply(SYSTEM, draft, false, 0.7, Duration::from_secs(20))
            .await
    }
}
