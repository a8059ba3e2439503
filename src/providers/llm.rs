//! An OpenAI-compatible chat model that turns a seller's few words into a video prompt. It is
//! an improvement, never a dependency: any failure gives back the raw text.
use std::time::Duration;

pub struct PromptWriter {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
}

const SYSTEM: &str = "You write prompts for a text/image-to-video model that makes short product ads. \
Rewrite the user's draft into one vivid English paragraph under 80 words: the product, the scene, the camera, \
the light. Keep every fact from the draft; add no brand names, text overlays or people's faces. Reply with the prompt only.";

impl PromptWriter {
    pub fn new(http: reqwest::Client, url: &str, model: &str, key: Option<String>) -> Self {
        Self {
            http,
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key,
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
        let body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": draft}],
            "temperature": 0.7
        });
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.url))
            .json(&body)
            .timeout(Duration::from_secs(20));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
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
