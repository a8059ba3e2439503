//! API keys: `rf_<prefix>_<secret>` — the prefix (12 hex) finds the key, the secret (32 hex,
//! 128 bits from the OS) is checked against its stored SHA-256 in constant time. The full key
//! is shown once, when it is made (from the bot's `/api` or the console), and never stored.
use crate::db::api::{self, ApiKey};
use crate::db::{Db, DbError};
use sha2::{Digest, Sha256};

/// Random bytes as hex, from the operating system's generator.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS generator failing means no secure randomness at all: nothing safe to hand out.
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    hex::encode(buf)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Makes a key for `user`; returns the full key (show it once) and its prefix, or `None` when
/// the user already holds [`api::MAX_LIVE_KEYS`] live keys (revoke one first).
pub async fn create(db: &Db, user: i64) -> Result<Option<(String, String)>, DbError> {
    let prefix = random_hex(6);
    let secret = random_hex(16);
    Ok(api::create_key(db, user, &prefix, &sha256_hex(&secret))
        .await?
        .map(|_| (format!("rf_{prefix}_{secret}"), prefix)))
}

/// The live key a bearer token names, or `None` (unknown, wrong secret, revoked).
pub async fn verify(db: &Db, token: &str) -> Result<Option<ApiKey>, DbError> {
    let Some((prefix, secret)) = token
        .strip_prefix("rf_")
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    if prefix.len() != 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(key) = api::key_by_prefix(db, prefix).await? else {
        return Ok(None);
    };
    let matches =
        crate::http::constant_time_eq(sha256_hex(secret).as_bytes(), key.secret_sha256.as_bytes());
    Ok((matches && key.revoked_ms.is_none()).then_some(key))
}

/// One line per key of a user (prefix, made, last used, revoked) for the bot and console.
pub async fn describe(db: &Db, user: i64) -> Result<Vec<String>, DbError> {
    let when = |ms: i64| {
        let days = (crate::db::now_ms() - ms) / 86_400_000;
        if days == 0 {
            "today".to_string()
        } else {
            format!("{days} d ago")
        }
    };
    Ok(api::keys_of(db, user)
        .await?
        .iter()
        .map(|k| {
            format!(
                "rf_{}_… made {}, {}{}",
                k.prefix,
                when(k.created_ms),
                k.last_used_ms
                    .map_or("never used".to_string(), |t| format!("used {}", when(t))),
                if k.revoked_ms.is_some() {
                    ", REVOKED"
                } else {
                    ""
                }
            )
        })
        .collect())
}
