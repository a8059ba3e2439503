//! Telegram's `initData` checked as core.telegram.org/bots/webapps documents it: the page
//! sends the raw query string Telegram gave it, and the user it names is believed only when
//! Telegram's signatures over it hold.
//!
//! - `hash`: `hex(HMAC-SHA256(key = HMAC-SHA256(key = "WebAppData", msg = bot_token),
//!   msg = data_check_string))`, the data-check-string being every field but `hash` (its
//!   `signature` included), URL-decoded, sorted by key, as `key=value` lines joined by `\n`.
//! - `signature` (Bot API 8.0, third-party validation): base64url Ed25519 over
//!   `"<bot_id>:WebAppData\n"` and the sorted `key=value` lines of every field but `hash` and
//!   `signature`, with Telegram's public key.
//!
//! Both are checked when present (at least one must be), and `auth_date` must be fresh.
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Telegram's production public key for third-party validation (hex, from the docs).
pub const TELEGRAM_PUBLIC_KEY: &str =
    "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d";
/// Telegram's test-environment public key.
pub const TELEGRAM_TEST_PUBLIC_KEY: &str =
    "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec";

/// The longest initData a page may send (Telegram's are well under 2 KB).
pub const MAX_LEN: usize = 8 * 1024;

/// Who opened the page, as Telegram signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebAppUser {
    pub id: i64,
    pub first_name: String,
    /// The user's Telegram language (`ru`, `kk`, …), when sent.
    pub language_code: Option<String>,
    pub auth_date: i64,
}

/// Why initData is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InitDataError {
    #[error("no initData")]
    Missing,
    #[error("initData is malformed")]
    Malformed,
    #[error("initData is not signed by Telegram for this bot")]
    BadSignature,
    #[error("initData is too old")]
    Stale,
    #[error("initData names no user")]
    NoUser,
}

/// What checks initData: the bot's token, Telegram's public key, and how old it may be.
#[derive(Clone)]
pub struct Verifier {
    token: String,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier { token: [redacted] }")
    }
}

impl Verifier {
    /// For the bot with `token`, checking `signature` with Telegram's production key.
    pub fn new(token: &str) -> Self {
        Self::with_public_key(token, TELEGRAM_PUBLIC_KEY)
    }

    /// With another Ed25519 public key (hex): Telegram's test environment, or a test's own.
    pub fn with_public_key(token: &str, public_key_hex: &str) -> Self {
        Self {
            token: token.to_string(),
            public_key: hex::decode(public_key_hex).unwrap_or_default(),
        }
    }

    /// The user `init_data` names, if Telegram signed it for this bot at most `max_age_s`
    /// before `now_s`.
    pub fn verify(
        &self,
        init_data: &str,
        now_s: i64,
        max_age_s: i64,
    ) -> Result<WebAppUser, InitDataError> {
        if init_data.is_empty() {
            return Err(InitDataError::Missing);
        }
        if init_data.len() > MAX_LEN {
            return Err(InitDataError::Malformed);
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(init_data.as_bytes()) {
            if fields.iter().any(|(seen, _)| *seen == k) {
                // A field twice is not what Telegram sends.
                return Err(InitDataError::Malformed);
            }
            fields.push((k.into_owned(), v.into_owned()));
        }
        fields.sort();
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let hash = get("hash");
        let signature = get("signature");
        if hash.is_none() && signature.is_none() {
            return Err(InitDataError::BadSignature);
        }
        if let Some(hash) = hash {
            if !self.hash_holds(&fields, hash) {
                return Err(InitDataError::BadSignature);
            }
        }
        if let Some(signature) = signature {
            if !self.signature_holds(&fields, signature) {
                return Err(InitDataError::BadSignature);
            }
        }
        let auth_date: i64 = get("auth_date")
            .and_then(|d| d.parse().ok())
            .ok_or(InitDataError::Malformed)?;
        if now_s - auth_date > max_age_s || auth_date - now_s > 60 {
            return Err(InitDataError::Stale);
        }
        let user: serde_json::Value = get("user")
            .and_then(|u| serde_json::from_str(u).ok())
            .ok_or(InitDataError::NoUser)?;
        let id = user["id"].as_i64().ok_or(InitDataError::NoUser)?;
        Ok(WebAppUser {
            id,
            first_name: user["first_name"].as_str().unwrap_or("").to_string(),
            language_code: user["language_code"].as_str().map(String::from),
            auth_date,
        })
    }

    fn hash_holds(&self, fields: &[(String, String)], hash: &str) -> bool {
        let Ok(expected) = hex::decode(hash) else {
            return false;
        };
        let check = lines(fields, &["hash"]);
        let mut secret = Hmac::<Sha256>::new_from_slice(b"WebAppData").expect("any key");
        secret.update(self.token.as_bytes());
        let secret = secret.finalize().into_bytes();
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("any key");
        mac.update(check.as_bytes());
        // Constant-time.
        mac.verify_slice(&expected).is_ok()
    }

    fn signature_holds(&self, fields: &[(String, String)], signature: &str) -> bool {
        use base64::Engine;
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
        else {
            return false;
        };
        let bot_id = self.token.split(':').next().unwrap_or("");
        let message = format!(
            "{bot_id}:WebAppData\n{}",
            lines(fields, &["hash", "signature"])
        );
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.public_key)
            .verify(message.as_bytes(), &sig)
            .is_ok()
    }
}

/// The sorted `key=value` lines of `fields` but `skip`, joined by `\n`.
fn lines(fields: &[(String, String)], skip: &[&str]) -> String {
    fields
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";
    /// Built by the documented algorithm with Python's `hmac` (an implementation of its own):
    /// `hmac.new(hmac.new(b"WebAppData", token, sha256).digest(), data_check_string, sha256)`.
    const SIGNED: &str = "auth_date=1700000000&query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%7D&hash=04ddc10f2c079d2f1314cc8bb3b5eed7d9cb668949283904a2764d97287ad0ca";
    const NOW: i64 = 1_700_000_600;

    #[test]
    fn the_documented_hash_is_known_to_hold() {
        let user = Verifier::new(TOKEN).verify(SIGNED, NOW, 3600).unwrap();
        assert_eq!(user.id, 279058397);
        assert_eq!(user.language_code.as_deref(), Some("ru"));
        assert_eq!(user.first_name, "Vladislav");
    }

    #[test]
    fn forged_stale_and_other_bots_init_data_is_refused() {
        let v = Verifier::new(TOKEN);
        // Another user id with the same hash.
        let forged = SIGNED.replace("279058397", "279058398");
        assert_eq!(
            v.verify(&forged, NOW, 3600),
            Err(InitDataError::BadSignature)
        );
        // Another bot's token.
        let other = Verifier::new("5768337692:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8");
        assert_eq!(
            other.verify(SIGNED, NOW, 3600),
            Err(InitDataError::BadSignature)
        );
        // Older than an hour for an order; fine for a day's viewing.
        assert_eq!(
            v.verify(SIGNED, NOW + 3600, 3600),
            Err(InitDataError::Stale)
        );
        assert!(v.verify(SIGNED, NOW + 3600, 86_400).is_ok());
        // No hash, a broken hash, a field twice, nothing.
        let unsigned = SIGNED.split("&hash=").next().unwrap();
        assert_eq!(
            v.verify(unsigned, NOW, 3600),
            Err(InitDataError::BadSignature)
        );
        assert!(v.verify(&format!("{unsigned}&hash=zz"), NOW, 3600).is_err());
        assert_eq!(
            v.verify(&format!("{SIGNED}&auth_date=1"), NOW, 3600),
            Err(InitDataError::Malformed)
        );
        assert_eq!(v.verify("", NOW, 3600), Err(InitDataError::Missing));
    }

    /// RFC 8032's first Ed25519 test vector checks the verifier's use of Ed25519 itself.
    #[test]
    fn ed25519_verifies_rfc_8032_test_1() {
        let public =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap();
        let sig = hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b").unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public)
            .verify(b"", &sig)
            .unwrap();
        assert_eq!(hex::decode(TELEGRAM_PUBLIC_KEY).unwrap().len(), 32);
    }

    /// The third-party check: a signature made as Telegram makes it (with a key of the test's
    /// own, standing in for Telegram's private key) holds; over other data, or for another bot,
    /// it does not.
    #[test]
    fn the_ed25519_signature_is_checked_without_the_token() {
        use base64::Engine;
        use ring::signature::KeyPair;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
        let public = hex::encode(pair.public_key().as_ref());
        let body = "auth_date=1700000000&user=%7B%22id%22%3A42%2C%22first_name%22%3A%22A%22%7D";
        let message =
            "5768337691:WebAppData\nauth_date=1700000000\nuser={\"id\":42,\"first_name\":\"A\"}";
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(pair.sign(message.as_bytes()).as_ref());
        let signed = format!("{body}&signature={sig}");
        // Without the token (a third party): the signature alone.
        let v = Verifier::with_public_key(TOKEN, &public);
        assert_eq!(v.verify(&signed, NOW, 3600).unwrap().id, 42);
        let forged = signed.replace("%22id%22%3A42", "%22id%22%3A43");
        assert_eq!(
            v.verify(&forged, NOW, 3600),
            Err(InitDataError::BadSignature)
        );
        let other_bot = Verifier::with_public_key("99:x", &public);
        assert!(other_bot.verify(&signed, NOW, 3600).is_err());
        // Telegram's production key did not sign it.
        assert!(Verifier::new(TOKEN).verify(&signed, NOW, 3600).is_err());
    }
}
