//! The user's own account beyond the ledger: the language they chose, who referred them and
//! what that earned, promo codes, and erasing their data on request.
use crate::db::ledger::{self, Reason, Step};
use crate::db::{now_ms, Db, DbError};

/// `/language`: kept over Telegram's `language_code` from now on.
pub async fn set_language(db: &Db, user: i64, language: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE users SET language = $2, language_chosen = TRUE WHERE id = $1")
        .bind(user)
        .bind(language)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Ties a new user to the friend who invited them: once (never changed later), never to
/// themselves, only to a user who exists. True when tied now.
pub async fn tie_referrer(db: &Db, user: i64, referrer: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query(
        "UPDATE users SET referrer_id = $2 WHERE id = $1 AND referrer_id IS NULL AND id <> $2
           AND EXISTS (SELECT 1 FROM users r WHERE r.id = $2)",
    )
    .bind(user)
    .bind(referrer)
    .execute(p)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// The referrer's share of a paid purchase, credited once per payment (`payment_key` is the
/// payment's own ledger key). Returns (referrer, tokens, balance) when credited now.
pub async fn reward_referrer(
    db: &Db,
    payer: i64,
    tokens: i64,
    payment_key: &str,
    percent: i64,
) -> Result<Option<(i64, i64, i64)>, ledger::LedgerError> {
    // The payment must be the payer's: one that completed after its account was erased was
    // booked on the anonymous account (for a refund), and the id a webhook names may belong
    // to a new account by then.
    let credited_to: Option<i64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT user_id FROM ledger_entries WHERE idempotency_key = $1",
    )
    .bind(payment_key)
    .fetch_optional(p)
    .await?);
    if credited_to.is_some_and(|u| u != payer) {
        return Ok(None);
    }
    let referrer: Option<i64> =
        on_db!(db, p => sqlx::query_scalar("SELECT referrer_id FROM users WHERE id = $1")
        .bind(payer)
        .fetch_optional(p)
        .await?)
        .flatten();
    let share = tokens * percent.clamp(0, 100) / 100;
    let Some(referrer) = referrer.filter(|_| share > 0) else {
        return Ok(None);
    };
    match ledger::credit(
        db,
        referrer,
        share,
        Reason::Referral,
        &format!("referral:{payment_key}"),
        None,
    )
    .await?
    {
        ledger::Outcome::Applied { balance } => Ok(Some((referrer, share, balance))),
        ledger::Outcome::AlreadyApplied => Ok(None),
    }
}

/// (friends who came by the user's link, tokens earned from their purchases).
pub async fn referral_stats(db: &Db, user: i64) -> Result<(i64, i64), DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE referrer_id = $1),
                (SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) FROM ledger_entries WHERE user_id = $1 AND reason = 'referral')",
    )
    .bind(user)
    .fetch_one(p)
    .await?))
}

/// A promo code's name: letters, digits, `-` and `_`, 3 to 32 characters, kept upper case.
pub fn promo_name(code: &str) -> Option<String> {
    let c = code.trim().to_ascii_uppercase();
    ((3..=32).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    .then_some(c)
}

/// Makes (or replaces) a promo code worth `tokens`, `uses` redemptions, until `expires_ms`.
pub async fn create_promo(
    db: &Db,
    code: &str,
    tokens: i64,
    uses: i64,
    expires_ms: Option<i64>,
) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO promo_codes (code, tokens, uses_left, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET tokens = $2, uses_left = $3, expires_ms = $4",
    )
    .bind(code)
    .bind(tokens)
    .bind(uses)
    .bind(expires_ms)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    Credited { tokens: i64, balance: i64 },
    AlreadyUsed,
    UsedUp,
    Expired,
    NoSuchCode,
}

/// Redeems a code for `user` in one transaction: the redemption row (once per user), one use
/// taken only while uses are left and the code is not expired, and the credit — all or
/// nothing, so concurrent redemptions of a 10-use code credit exactly ten users.
pub async fn redeem(db: &Db, user: i64, code: &str) -> Result<Redeemed, ledger::LedgerError> {
    let now = now_ms();
    let key = format!("promo:{code}:{user}");
    // An account erased and started again already used the codes it redeemed before.
    if let Some(tag) = erased_tag_of(db, user).await? {
        if ledger::has_entry(db, &format!("promo:{code}:erased:{tag}")).await? {
            return Ok(Redeemed::AlreadyUsed);
        }
    }
    Ok(on_db!(db, p => {
        let mut tx = p.begin().await?;
        // The use first: a write that serialises redemptions of one code.
        let taken: Option<i64> = sqlx::query_scalar(
            "UPDATE promo_codes SET uses_left = uses_left - 1
             WHERE code = $1 AND uses_left > 0 AND (expires_ms IS NULL OR expires_ms > $2) RETURNING tokens",
        )
        .bind(code)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(tokens) = taken else {
            tx.rollback().await?;
            let row: Option<(i64, Option<i64>)> = sqlx::query_as("SELECT uses_left, expires_ms FROM promo_codes WHERE code = $1")
                .bind(code).fetch_optional(p).await?;
            let used: Option<i64> = sqlx::query_scalar("SELECT user_id FROM promo_redemptions WHERE code = $1 AND user_id = $2")
                .bind(code).bind(user).fetch_optional(p).await?;
            return Ok(match row {
                None => Redeemed::NoSuchCode,
                Some(_) if used.is_some() => Redeemed::AlreadyUsed,
                Some((_, Some(exp))) if exp <= now => Redeemed::Expired,
                Some(_) => Redeemed::UsedUp,
            });
        };
        let first = sqlx::query("INSERT INTO promo_redemptions (code, user_id, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(code).bind(user).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
        if !first {
            tx.rollback().await?;
            return Ok(Redeemed::AlreadyUsed);
        }
        match ledger_step!(tx, user, tokens, Reason::Promo, &key, None::<i64>, now)? {
            Step::Applied(balance) => {
                tx.commit().await?;
                Redeemed::Credited { tokens, balance }
            }
            Step::AlreadyApplied => {
                tx.rollback().await?;
                Redeemed::AlreadyUsed
            }
            Step::UnknownUser | Step::Insufficient => {
                tx.rollback().await?;
                return Err(ledger::LedgerError::UnknownUser(user));
            }
        }
    }))
}

/// The stored files that are this user's alone: what their jobs were made from and made, their
/// generations and uploads (the API's and the bot's: photos, clips, speech previews that never
/// became a job) — not the shared gallery, and not a file another user's job or upload also
/// names (content-addressed keys can be shared).
pub async fn files_of(db: &Db, user: i64) -> Result<Vec<String>, crate::db::jobs::QueueError> {
    let mut keys: Vec<String> = Vec::new();
    for j in crate::db::jobs::jobs_of_user(db, user, i64::MAX).await? {
        if let Some(spec) = &j.spec {
            keys.extend(spec.file_keys().into_iter().map(String::from));
        }
        let c = &j.checkpoints;
        for k in [
            &c.input_image,
            &c.voice,
            &c.alignment,
            &c.talking_head,
            &c.output,
        ]
        .into_iter()
        .flatten()
        {
            keys.push(k.clone());
        }
        if let Some(out) = &c.output {
            keys.push(format!("{out}.jpg"));
            // The extra formats made with it.
            if let Some(crate::jobs::JobSpec::UgcVideo(p) | crate::jobs::JobSpec::Recompose(p)) =
                &j.spec
            {
                keys.extend(p.more_output_keys(out).into_iter().map(|(_, key)| key));
            }
        }
    }
    let more: Vec<(String, String)> = on_db!(db, p => sqlx::query_as(
        "SELECT output_key, thumbnail_key FROM generations WHERE user_id = $1",
    )
    .bind(user)
    .fetch_all(p)
    .await?);
    for (a, b) in more {
        keys.push(a);
        keys.push(b);
    }
    let uploads: Vec<String> = on_db!(db, p => sqlx::query_scalar("SELECT object_key FROM api_uploads WHERE user_id = $1")
        .bind(user)
        .fetch_all(p)
        .await?);
    keys.extend(uploads);
    keys.sort();
    keys.dedup();
    let mut own = Vec::new();
    for k in keys
        .into_iter()
        .filter(|k| !k.starts_with("gallery/") && !k.contains(".."))
    {
        let pattern = format!("%{k}%");
        let others: i64 = on_db!(db, p => sqlx::query_scalar(
            "SELECT CAST((SELECT COUNT(*) FROM jobs WHERE user_id <> $1 AND (params LIKE $2 OR checkpoints LIKE $2))
                       + (SELECT COUNT(*) FROM api_uploads WHERE user_id <> $1 AND object_key = $3) AS BIGINT)",
        )
        .bind(user)
        .bind(&pattern)
        .bind(&k)
        .fetch_one(p)
        .await?);
        if others == 0 {
            own.push(k);
        }
    }
    Ok(own)
}

/// The erasure tag `user` would have, when any account was ever erased (`None` otherwise).
async fn erased_tag_of(db: &Db, user: i64) -> Result<Option<String>, DbError> {
    let pepper: Option<String> = on_db!(db, p => sqlx::query_scalar(
        "SELECT value FROM secrets WHERE name = 'erasure_pepper'",
    )
    .fetch_optional(p)
    .await?);
    Ok(pepper.map(|pepper| erasure_tag(&pepper, user)))
}

/// How an erased account is remembered: HMAC-SHA256 of its Telegram id under a random secret
/// kept in the database (`secrets.erasure_pepper`), hex.
pub fn erasure_tag(pepper: &str, user: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(pepper.as_bytes()).expect("HMAC takes any key length");
    mac.update(user.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What `/deletedata` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erase {
    Erased(Erased),
    /// A job is running or a payment is under way: nothing was erased.
    Busy,
    /// Tokens are owed from a reversed card payment: nothing was erased.
    Owes(i64),
    NoSuchUser,
}

/// How long a checkout that was started counts as a payment under way (a Kaspi transfer or a
/// Stripe page left open longer is abandoned).
const PENDING_PAYMENT_MS: i64 = 24 * 3_600_000;

/// What erasing a user kept: the ledger entries, moved to an anonymous number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub anonymous_id: i64,
    pub ledger_entries: i64,
}

/// Erases a user's personal data in one transaction: their ledger, orders and jobs move to a
/// new anonymous user (negative id) so accounting still adds up, jobs lose their texts and
/// file names, and everything else about them (conversation state, progress messages,
/// generations, API keys, uploads, webhook, the user row with name and language) is deleted.
pub async fn erase_user(db: &Db, user: i64) -> Result<Erase, DbError> {
    let now = now_ms();
    let anon = -(now * 1000 + (user.rem_euclid(997)));
    Ok(on_db!(db, p => {
        let mut tx = p.begin().await?;
        // A write first: the user's row is held (SQLite's one writer, PostgreSQL's row lock)
        // while the checks below and the erasure run.
        let balance: Option<i64> = sqlx::query_scalar("UPDATE users SET last_seen_ms = last_seen_ms WHERE id = $1 RETURNING balance")
            .bind(user).fetch_optional(&mut *tx).await?;
        let Some(balance) = balance else {
            tx.rollback().await?;
            return Ok(Erase::NoSuchUser);
        };
        // Re-checked inside the erasing transaction: a job made meanwhile (through the API)
        // or a payment under way keeps the data (and its files) until it ends.
        let busy: i64 = sqlx::query_scalar(
            "SELECT CAST((SELECT COUNT(*) FROM jobs WHERE user_id = $1 AND state IN ('new', 'queued', 'snoozed', 'running'))
                      + (SELECT COUNT(*) FROM orders WHERE user_id = $1 AND status = 'pending' AND created_ms > $2) AS BIGINT)",
        )
        .bind(user)
        .bind(now - PENDING_PAYMENT_MS)
        .fetch_one(&mut *tx)
        .await?;
        if busy > 0 {
            tx.rollback().await?;
            return Ok(Erase::Busy);
        }
        // What a reversed card payment left owed stays with the account until it is settled:
        // erasing it would let the same person start again clean.
        let debt: i64 = sqlx::query_scalar("SELECT debt_tokens FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
        if debt > 0 {
            tx.rollback().await?;
            return Ok(Erase::Owes(debt));
        }
        sqlx::query("INSERT INTO users (id, username, language, first_seen_ms, last_seen_ms, balance, banned) VALUES ($1, NULL, 'ru', $2, $2, $3, FALSE)")
            .bind(anon).bind(now).bind(balance).execute(&mut *tx).await?;
        // The account is remembered only as a keyed hash (no second welcome bonus), and the
        // ledger keys that spelled the Telegram id out lose it (job and payment keys name
        // jobs and sessions, not the user, and keep guarding against repeats).
        sqlx::query("INSERT INTO secrets (name, value) VALUES ('erasure_pepper', $1) ON CONFLICT (name) DO NOTHING")
            .bind(crate::db::api_keys::random_hex(32)).execute(&mut *tx).await?;
        let pepper: String = sqlx::query_scalar("SELECT value FROM secrets WHERE name = 'erasure_pepper'")
            .fetch_one(&mut *tx).await?;
        sqlx::query("INSERT INTO erased_accounts (tag, erased_ms) VALUES ($1, $2) ON CONFLICT (tag) DO NOTHING")
            .bind(erasure_tag(&pepper, user)).bind(now).execute(&mut *tx).await?;
        let id = user.to_string();
        // A promo redemption keeps its code with the tag: the account started again cannot
        // redeem the same code a second time.
        sqlx::query(
            "UPDATE ledger_entries
             SET idempotency_key = SUBSTR(idempotency_key, 1, LENGTH(idempotency_key) - LENGTH($2)) || 'erased:' || $3
             WHERE user_id = $1 AND idempotency_key LIKE 'promo:%:' || $2",
        )
        .bind(user).bind(&id).bind(erasure_tag(&pepper, user)).execute(&mut *tx).await?;
        sqlx::query(
            "UPDATE ledger_entries SET idempotency_key = 'erased:' || CAST(id AS TEXT)
             WHERE user_id = $1
               AND (idempotency_key LIKE 'user:%' OR idempotency_key LIKE 'admin:%' OR idempotency_key LIKE 'console:%')
               AND (idempotency_key LIKE '%:' || $2 || ':%' OR idempotency_key LIKE '%:' || $2)",
        )
        .bind(user).bind(&id).execute(&mut *tx).await?;
        for sql in [
            "UPDATE ledger_entries SET user_id = $2 WHERE user_id = $1",
            // A Stripe session id stays (a refund in Stripe's dashboard finds the order and the
            // referrer's share through it); other methods' references go.
            "UPDATE orders SET user_id = $2, external_id = CASE WHEN method = 'stripe' THEN external_id ELSE NULL END WHERE user_id = $1",
            "UPDATE jobs SET user_id = $2, params = '{}', checkpoints = '{}', error_message = NULL WHERE user_id = $1",
            "UPDATE users SET referrer_id = $2 WHERE referrer_id = $1",
            "UPDATE promo_redemptions SET user_id = $2 WHERE user_id = $1",
            "UPDATE api_requests SET user_id = $2 WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user).bind(anon).execute(&mut *tx).await?;
        }
        for sql in [
            "DELETE FROM generations WHERE user_id = $1",
            "DELETE FROM conversations WHERE user_id = $1",
            "DELETE FROM progress_messages WHERE chat_id = $1",
            "DELETE FROM api_keys WHERE user_id = $1",
            "DELETE FROM api_uploads WHERE user_id = $1",
            "DELETE FROM products WHERE user_id = $1",
            "DELETE FROM product_scripts WHERE user_id = $1",
            "DELETE FROM campaign_jobs WHERE campaign_id IN (SELECT id FROM campaigns WHERE user_id = $1)",
            "DELETE FROM campaigns WHERE user_id = $1",
            "DELETE FROM brand_kits WHERE user_id = $1",
            "DELETE FROM api_webhooks WHERE user_id = $1",
            "DELETE FROM api_events WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(user).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE console_audit SET target = $2 WHERE target = $1")
            .bind(format!("user:{user}")).bind(format!("user:{anon}")).execute(&mut *tx).await?;
        let entries: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries WHERE user_id = $1")
            .bind(anon).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Erase::Erased(Erased { anonymous_id: anon, ledger_entries: entries })
    }))
}

/// The referrer's share of a confirmed (Kaspi) order, once per order (call it after every
/// confirmation attempt: a repeat credits nothing).
pub async fn reward_for_order(
    db: &Db,
    order: i64,
    percent: i64,
) -> Result<Option<(i64, i64, i64)>, ledger::LedgerError> {
    let Some(o) = crate::db::orders::order(db, order).await? else {
        return Ok(None);
    };
    if o.status != "paid" {
        return Ok(None);
    }
    reward_referrer(db, o.user_id, o.tokens, &format!("order:{order}"), percent).await
}
