//! Users as the bot sees them: Telegram id, username, language, when first and last seen.
use super::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
    pub language: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub banned: bool,
    pub referrer_id: Option<i64>,
    pub balance: i64,
}

/// A visit: the user created on first sight, or name, language (unless chosen with
/// /language) and last seen refreshed; the row read back.
const VISIT: &str = "INSERT INTO users (id, username, language, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (id) DO UPDATE SET username = excluded.username, last_seen_ms = excluded.last_seen_ms,
         language = CASE WHEN users.language_chosen THEN users.language ELSE excluded.language END
     RETURNING id, username, language, first_seen_ms, last_seen_ms, banned, referrer_id, balance";

/// Records a visit: creates the user on first sight, refreshes name, language and last seen.
/// Returns the user and whether they are new.
pub async fn touch_user(
    db: &Db,
    id: i64,
    username: Option<&str>,
    language: &str,
) -> Result<(User, bool), DbError> {
    let now = now_ms();
    // One statement per update (the bot does this for every message it gets): create or
    // refresh, and read the row back. New when its first sighting is this one.
    let user = on_db!(db, p => sqlx::query_as::<_, User>(VISIT)
    .bind(id)
    .bind(username)
    .bind(language)
    .bind(now)
    .fetch_one(p)
    .await?);
    let created = user.first_seen_ms == now;
    Ok((user, created))
}

/// What `/start` did in its one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub user: User,
    /// First sighting of this user.
    pub new: bool,
    /// The welcome bonus granted now (0: none).
    pub bonus: i64,
    /// The balance after it.
    pub balance: i64,
}

/// `/start` in one transaction (one commit, the reply waits for nothing else): the visit
/// recorded as `touch_user` does, the conversation set to `idle_state`, and a new user's
/// welcome bonus (`bonus` tokens, once per user by its ledger key).
pub async fn start(
    db: &Db,
    id: i64,
    username: Option<&str>,
    language: &str,
    idle_state: &str,
    bonus: i64,
) -> Result<Started, DbError> {
    use crate::db::ledger::{welcome_key, Reason, Step};
    // SQLite has one writer: /starts arriving together queue here in order instead of
    // retrying on a busy database with growing sleeps (its busy handler's 1…100 ms steps).
    static SQLITE_STARTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = match db {
        Db::Sqlite(_) => Some(SQLITE_STARTS.lock().await),
        Db::Postgres(_) => None,
    };
    let now = now_ms();
    Ok(on_db!(db, p => {
        let mut tx = p.begin().await?;
        // The upsert is the first statement: SQLite takes its write lock at once.
        let user = sqlx::query_as::<_, User>(VISIT)
        .bind(id)
        .bind(username)
        .bind(language)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let new = user.first_seen_ms == now;
        let mut balance = user.balance;
        let mut granted = 0;
        // An account erased with /deletedata and started again gets no second bonus (it is
        // remembered only as a keyed hash; no secret yet means nobody was ever erased).
        let mut erased_before = false;
        if new && bonus > 0 {
            let pepper: Option<String> =
                sqlx::query_scalar("SELECT value FROM secrets WHERE name = 'erasure_pepper'")
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(pepper) = pepper {
                erased_before = sqlx::query_scalar::<_, String>("SELECT tag FROM erased_accounts WHERE tag = $1")
                    .bind(crate::db::account::erasure_tag(&pepper, id))
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            }
        }
        if new && !user.banned && bonus > 0 && !erased_before {
            if let Step::Applied(b) =
                ledger_step!(tx, id, bonus, Reason::WelcomeBonus, &welcome_key(id), None::<i64>, now)?
            {
                balance = b;
                granted = bonus;
            }
        }
        if !user.banned {
            sqlx::query(
                "INSERT INTO conversations (user_id, state, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
            )
            .bind(id)
            .bind(idle_state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Started { user, new, bonus: granted, balance }
    }))
}

pub async fn get_user(db: &Db, id: i64) -> Result<Option<User>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, User>(
        "SELECT id, username, language, first_seen_ms, last_seen_ms, banned, referrer_id, balance FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(p)
    .await?))
}

/// Marks that a banned user got their one polite refusal; true the first time only.
pub async fn mark_ban_notified(db: &Db, user: i64) -> Result<bool, DbError> {
    let n = on_db!(db, p => sqlx::query("UPDATE users SET ban_notified = TRUE WHERE id = $1 AND NOT ban_notified")
        .bind(user)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// The id of the user with this @username (any case).
pub async fn id_by_username(db: &Db, name: &str) -> Result<Option<i64>, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT id FROM users WHERE lower(username) = lower($1)")
        .bind(name)
        .fetch_optional(p)
        .await?),
    )
}

/// Bans or unbans; false when there is no such user.
pub async fn set_banned(db: &Db, user: i64, banned: bool) -> Result<bool, DbError> {
    let changed = on_db!(db, p => sqlx::query("UPDATE users SET banned = $2, ban_notified = FALSE WHERE id = $1")
        .bind(user)
        .bind(banned)
        .execute(p)
        .await?
        .rows_affected());
    Ok(changed == 1)
}

/// Users first seen since `since_ms` (all users with 0).
pub async fn count_since(db: &Db, since_ms: i64) -> Result<i64, DbError> {
    Ok(
        on_db!(db, p => sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE first_seen_ms >= $1").bind(since_ms).fetch_one(p).await?),
    )
}

/// The most recently seen users.
pub async fn recently_seen(db: &Db, limit: i64) -> Result<Vec<User>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as::<_, User>(
        "SELECT id, username, language, first_seen_ms, last_seen_ms, banned, referrer_id, balance FROM users ORDER BY last_seen_ms DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(p)
    .await?))
}
