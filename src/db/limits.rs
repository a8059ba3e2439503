//! Fixed-window counters in the database, so a limit holds across every `serve` process
//! behind a load balancer: the API's requests per key per minute, the console's failed
//! sign-ins per client per ten minutes.
use super::{now_ms, Db, DbError};

/// A window's state after a hit or a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Hits in the current window (this one included when counted).
    pub hits: i64,
    /// Milliseconds until the window ends.
    pub ends_in_ms: i64,
}

fn window_of(now: i64, window_ms: i64) -> (i64, i64) {
    let start = now - now.rem_euclid(window_ms);
    (start, start + window_ms - now)
}

/// Counts one hit of `subject` in `scope` and returns the window's count (one statement).
/// The count stops at `cap + 1`: a client refused for the rest of the window writes nothing
/// more. The subject's older windows are dropped when a new one starts.
pub async fn hit(
    db: &Db,
    scope: &str,
    subject: &str,
    window_ms: i64,
    cap: i64,
) -> Result<Window, DbError> {
    let (start, ends_in_ms) = window_of(now_ms(), window_ms);
    let counted: Option<i64> = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO rate_windows (scope, subject, window_start, hits) VALUES ($1, $2, $3, 1)
         ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = rate_windows.hits + 1
         WHERE rate_windows.hits <= $4
         RETURNING hits",
    )
    .bind(scope)
    .bind(subject)
    .bind(start)
    .bind(cap)
    .fetch_optional(p)
    .await?);
    let Some(hits) = counted else {
        return Ok(Window {
            hits: cap + 1,
            ends_in_ms,
        });
    };
    if hits == 1 {
        on_db!(db, p => sqlx::query("DELETE FROM rate_windows WHERE scope = $1 AND subject = $2 AND window_start < $3")
            .bind(scope)
            .bind(subject)
            .bind(start)
            .execute(p)
            .await?
            .rows_affected());
    }
    Ok(Window { hits, ends_in_ms })
}

/// The current window's count without counting.
pub async fn look(db: &Db, scope: &str, subject: &str, window_ms: i64) -> Result<Window, DbError> {
    let (start, ends_in_ms) = window_of(now_ms(), window_ms);
    let hits: Option<i64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT hits FROM rate_windows WHERE scope = $1 AND subject = $2 AND window_start = $3",
    )
    .bind(scope)
    .bind(subject)
    .bind(start)
    .fetch_optional(p)
    .await?);
    Ok(Window {
        hits: hits.unwrap_or(0),
        ends_in_ms,
    })
}

/// Takes back one hit (a sign-in that turned out right is not a failure).
pub async fn undo(db: &Db, scope: &str, subject: &str, window_ms: i64) -> Result<(), DbError> {
    let (start, _) = window_of(now_ms(), window_ms);
    on_db!(db, p => sqlx::query(
        "UPDATE rate_windows SET hits = hits - 1 WHERE scope = $1 AND subject = $2 AND window_start = $3 AND hits > 0",
    )
    .bind(scope)
    .bind(subject)
    .bind(start)
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// Drops windows that ended before `before_ms` (the workers' hourly housekeeping: subjects
/// that never came back, such as one-off client addresses).
pub async fn prune(db: &Db, before_ms: i64) -> Result<u64, DbError> {
    Ok(
        on_db!(db, p => sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
        .bind(before_ms)
        .execute(p)
        .await?
        .rows_affected()),
    )
}
