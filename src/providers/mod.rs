//! Clients for the AI providers, each a real HTTP client (reqwest + rustls) built from the
//! documented request and response shapes. Every failure becomes a [`ProviderError`] with one
//! [`ErrorClass`], which decides retry or refund. Several API keys per provider are rotated,
//! and a key that hit a rate limit or quota rests for a while.
pub mod chain;
pub mod elevenlabs;
pub mod fal;
pub mod health;
pub mod kie;
pub mod llm;
pub mod local;
pub mod openai_speech;
pub mod openai_video;
pub mod speech;

use crate::failure::ErrorClass;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{provider}: {message} ({})", class.name())]
pub struct ProviderError {
    pub provider: &'static str,
    pub class: ErrorClass,
    pub message: String,
}

impl ProviderError {
    pub fn new(provider: &'static str, class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            provider,
            class,
            message: message.into(),
        }
    }

    /// A transport failure: timeouts and connection errors are worth a retry.
    pub fn from_reqwest(provider: &'static str, e: &reqwest::Error) -> Self {
        let class = if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        let what = if e.is_timeout() {
            "timed out".to_string()
        } else {
            format!("request failed: {}", without_url(e))
        };
        Self::new(provider, class, what)
    }

    /// A response body that does not parse as the documented shape.
    pub fn malformed(provider: &'static str, what: impl std::fmt::Display) -> Self {
        Self::new(
            provider,
            ErrorClass::Transient,
            format!("malformed response: {what}"),
        )
    }
}

/// reqwest's messages can include the URL, and a presigned URL or a query key is a secret.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// `Retry-After` in seconds (or an HTTP date, treated as a minute).
pub fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    Some(v.trim().parse::<u64>().map(|s| s * 1000).unwrap_or(60_000))
}

/// The class of an HTTP status when the body says nothing more specific.
pub fn class_of_status(status: u16, retry_after: Option<u64>) -> ErrorClass {
    match status {
        429 => ErrorClass::RateLimited {
            retry_after_ms: retry_after,
        },
        402 => ErrorClass::BillingOrQuota,
        401 | 403 => ErrorClass::BillingOrQuota,
        400 | 404 | 413 | 415 | 422 => ErrorClass::BadUserInput,
        408 | 409 | 425 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Sends a request that already carries `key`: a 2xx answer is returned as is; any other is
/// turned into a [`ProviderError`] by the provider's `classify` (its documented error body),
/// and a rate limit or quota error rests the key.
pub async fn send_checked(
    keys: &KeyRing,
    key: &str,
    provider: &'static str,
    request: reqwest::RequestBuilder,
    classify: fn(u16, &reqwest::header::HeaderMap, &[u8]) -> ProviderError,
) -> Result<reqwest::Response, ProviderError> {
    let resp = request
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(provider, &e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let err = classify(status, &headers, &body);
    keys.note(key, err.class);
    Err(err)
}

/// One HTTP client setup for every provider: connect and overall timeouts, optional proxy.
pub fn http_client(timeout: Duration, proxy: Option<&str>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent("reelforge/0.1");
    if let Some(p) = proxy {
        // Named without its password (and without reqwest's message, which may repeat it).
        let shown = crate::config::redact_url(p);
        let proxy = reqwest::Proxy::all(p).map_err(|_| {
            format!(
                "PROVIDER_PROXY '{shown}' is not a valid http://, https:// or socks5:// proxy URL"
            )
        })?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| e.to_string())
}

/// API keys of one provider, used round-robin; a key that hit a rate limit or quota rests
/// until its cooldown ends (the others carry on).
pub struct KeyRing {
    keys: Vec<String>,
    state: Mutex<(usize, Vec<Option<Instant>>)>,
}

impl KeyRing {
    pub fn new(keys: Vec<String>) -> Self {
        let n = keys.len();
        Self {
            keys,
            state: Mutex::new((0, vec![None; n])),
        }
    }

    /// The next key that is not resting, or `None` when all are (or there are none).
    pub fn next(&self) -> Option<String> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for _ in 0..self.keys.len() {
            let i = st.0 % self.keys.len();
            st.0 = st.0.wrapping_add(1);
            if st.1[i].is_none_or(|until| until <= now) {
                return Some(self.keys[i].clone());
            }
        }
        None
    }

    /// A key for a call: with none configured that is the operator's problem (billing class, no
    /// retry); with all resting it is a rate limit until the first one wakes up.
    pub fn take(&self, provider: &'static str) -> Result<String, ProviderError> {
        if let Some(k) = self.next() {
            return Ok(k);
        }
        if self.keys.is_empty() {
            return Err(ProviderError::new(
                provider,
                ErrorClass::BillingOrQuota,
                "no API key configured",
            ));
        }
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let wait =
            st.1.iter()
                .flatten()
                .map(|until| until.saturating_duration_since(now))
                .min()
                .unwrap_or_default();
        Err(ProviderError::new(
            provider,
            ErrorClass::RateLimited {
                retry_after_ms: Some(wait.as_millis() as u64),
            },
            "every API key is resting after rate limits",
        ))
    }

    /// A stable, non-secret name for `key` (saved with a provider request, so polls, downloads
    /// and cancels use the key — the account — that made it).
    pub fn id_of(key: &str) -> String {
        crate::storage::sha256_hex(key.as_bytes())[..12].to_string()
    }

    /// The key named `id` when given and still configured (even if resting: a request belongs
    /// to its account), the next key otherwise.
    pub fn take_pinned(
        &self,
        provider: &'static str,
        id: Option<&str>,
    ) -> Result<String, ProviderError> {
        if let Some(key) = id.and_then(|id| self.keys.iter().find(|k| Self::id_of(k) == id)) {
            return Ok(key.clone());
        }
        self.take(provider)
    }

    /// Rests `key` for `cooldown`.
    pub fn rest(&self, key: &str, cooldown: Duration) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            st.1[i] = Some(Instant::now() + cooldown);
        }
    }

    /// Records the outcome of a call made with `key`: rate limits and quota errors rest it.
    pub fn note(&self, key: &str, class: ErrorClass) {
        match class {
            ErrorClass::RateLimited { retry_after_ms } => {
                self.rest(key, Duration::from_millis(retry_after_ms.unwrap_or(60_000)))
            }
            ErrorClass::BillingOrQuota => self.rest(key, Duration::from_secs(15 * 60)),
            _ => {}
        }
    }
}

/// Runs a GET and reads the body into memory, refusing more than `max_bytes` and a body that
/// ends before its announced length.
pub async fn download_capped(
    request: reqwest::RequestBuilder,
    provider: &'static str,
    max_bytes: u64,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let mut resp = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| ProviderError::from_reqwest(provider, &e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(ProviderError::new(
            provider,
            class_of_status(status, retry_after_ms(resp.headers())),
            format!("download answered HTTP {status}"),
        ));
    }
    let expected = resp.content_length();
    if expected.is_some_and(|n| n > max_bytes) {
        return Err(ProviderError::new(
            provider,
            ErrorClass::Permanent,
            format!(
                "download is {} bytes, over the {max_bytes} byte cap",
                expected.unwrap_or(0)
            ),
        ));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max_bytes {
                    return Err(ProviderError::new(
                        provider,
                        ErrorClass::Permanent,
                        format!("download passed the {max_bytes} byte cap"),
                    ));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(ProviderError::new(
                    provider,
                    ErrorClass::Transient,
                    format!("download broke off: {}", without_url(&e)),
                ))
            }
        }
    }
    if expected.is_some_and(|n| n != body.len() as u64) {
        return Err(ProviderError::new(
            provider,
            ErrorClass::Transient,
            format!(
                "download truncated: {} of {} bytes",
                body.len(),
                expected.unwrap_or(0)
            ),
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_bad_proxy_is_named_without_its_password() {
        for bad in [
            "http://user:s3cret@[::1",
            "http://user:s3cret@exa mple.com:80",
        ] {
            let err = super::http_client(std::time::Duration::from_secs(1), Some(bad)).unwrap_err();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("PROVIDER_PROXY"), "{err}");
        }
    }

    use super::*;

    #[test]
    fn keys_rotate_and_a_rate_limited_key_rests() {
        let ring = KeyRing::new(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(
            [ring.next(), ring.next(), ring.next(), ring.next()],
            [
                Some("a".into()),
                Some("b".into()),
                Some("c".into()),
                Some("a".into())
            ]
        );
        ring.note(
            "b",
            ErrorClass::RateLimited {
                retry_after_ms: Some(60_000),
            },
        );
        let used: Vec<_> = (0..4).map(|_| ring.next().unwrap()).collect();
        assert!(!used.contains(&"b".to_string()), "{used:?}");
        ring.note("a", ErrorClass::BillingOrQuota);
        ring.note("c", ErrorClass::BillingOrQuota);
        assert_eq!(ring.next(), None, "every key resting");
        match ring.take("fal").unwrap_err().class {
            ErrorClass::RateLimited {
                retry_after_ms: Some(ms),
            } => assert!(ms > 50_000 && ms <= 60_000, "{ms}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            KeyRing::new(vec![]).take("fal").unwrap_err().class,
            ErrorClass::BillingOrQuota
        );
    }

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(
            class_of_status(429, Some(5000)),
            ErrorClass::RateLimited {
                retry_after_ms: Some(5000)
            }
        );
        assert_eq!(class_of_status(503, None), ErrorClass::Transient);
        assert_eq!(class_of_status(402, None), ErrorClass::BillingOrQuota);
        assert_eq!(class_of_status(422, None), ErrorClass::BadUserInput);
        assert_eq!(class_of_status(418, None), ErrorClass::Permanent);
    }
}
