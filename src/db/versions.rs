//! Language versions of one ad (see `pipelines::versions`): a group per order, its members'
//! jobs, when each was ready to be sent and which album carried it.
use crate::db::{now_ms, Db, DbError};

/// One member of a group as its album sender sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub job: i64,
    pub position: i64,
    /// When its video was made and it began waiting for the album (`None`: still being made).
    pub ready_ms: Option<i64>,
    /// The member whose album is carrying it now.
    pub sending_by: Option<i64>,
    /// The album message that carried it (0: its user could not be reached).
    pub album_message: Option<i64>,
    /// The album's upload outcome was unknown.
    pub uncertain: bool,
    /// An album carrying it was refused: it is sent by itself.
    pub alone: bool,
    /// Its job ended (done, failed, cancelled or refused).
    pub ended: bool,
}

/// A group: how many versions the order made, who sends now, and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub size: i64,
    pub sender: Option<(i64, i64)>,
    pub members: Vec<Member>,
}

impl Group {
    pub fn member(&self, job: i64) -> Option<&Member> {
        self.members.iter().find(|m| m.job == job)
    }
}

/// Groups are kept per user: a key chosen by one user never names another's group.
fn key(user: i64, group: &str) -> String {
    format!("{user}:{group}")
}

/// Links a version's job to its group (made by the ordering service right after the job).
pub async fn link(
    db: &Db,
    group: &str,
    user: i64,
    size: i64,
    job: i64,
    position: i64,
) -> Result<(), DbError> {
    let group = &key(user, group);
    on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO version_groups (group_key, user_id, size, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (group_key) DO NOTHING")
            .bind(group).bind(user).bind(size).bind(now_ms()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO version_members (job_id, group_key, position) VALUES ($1, $2, $3) ON CONFLICT (job_id) DO NOTHING")
            .bind(job).bind(group).bind(position).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// The group `group` of `user` (another user's is `None`).
pub async fn group(db: &Db, group: &str, user: i64) -> Result<Option<Group>, DbError> {
    let group = &key(user, group);
    type Head = (i64, Option<i64>, Option<i64>);
    type Row = (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        bool,
        bool,
        String,
    );
    let head: Option<Head> = on_db!(db, p => sqlx::query_as(
        "SELECT size, sender_job, sender_ms FROM version_groups WHERE group_key = $1 AND user_id = $2",
    ).bind(group).bind(user).fetch_optional(p).await?);
    let Some((size, sender, since)) = head else {
        return Ok(None);
    };
    let rows: Vec<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT m.job_id, m.position, m.ready_ms, m.sending_by, m.album_message, m.uncertain, m.alone, j.state
         FROM version_members m JOIN jobs j ON j.id = m.job_id
         WHERE m.group_key = $1 ORDER BY m.position, m.job_id",
    ).bind(group).fetch_all(p).await?);
    Ok(Some(Group {
        size,
        sender: sender.zip(since),
        members: rows
            .into_iter()
            .map(|r| Member {
                job: r.0,
                position: r.1,
                ready_ms: r.2,
                sending_by: r.3,
                album_message: r.4,
                uncertain: r.5,
                alone: r.6,
                ended: matches!(r.7.as_str(), "done" | "failed" | "cancelled" | "rejected"),
            })
            .collect(),
    }))
}

/// Notes that `job`'s video is made and waits for the album (kept from the first time).
pub async fn ready(db: &Db, job: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE version_members SET ready_ms = $2 WHERE job_id = $1 AND ready_ms IS NULL")
        .bind(job).bind(now_ms()).execute(p).await?.rows_affected());
    Ok(())
}

/// `job` is no longer ready to be carried (its own album was refused: it commits again on its
/// next try); `alone`: nor carries or is carried again.
pub async fn unready(db: &Db, job: i64, alone: bool) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE version_members SET ready_ms = NULL, alone = (alone OR $2) WHERE job_id = $1")
        .bind(job).bind(alone).execute(p).await?.rows_affected());
    Ok(())
}

/// Marks `members` as sent alone from now on (an album carrying them was refused).
pub async fn alone(db: &Db, members: &[i64]) -> Result<(), DbError> {
    for m in members {
        on_db!(db, p => sqlx::query("UPDATE version_members SET alone = TRUE WHERE job_id = $1")
            .bind(m).execute(p).await?.rows_affected());
    }
    Ok(())
}

/// Makes `job` the group's sender unless another member is sending (one whose claim is older
/// than `stale_ms` is taken over: its album's members were marked before it began). `true`
/// when `job` sends now.
pub async fn claim(
    db: &Db,
    (user, group): (i64, &str),
    job: i64,
    stale_ms: i64,
) -> Result<bool, DbError> {
    let group = &key(user, group);
    let now = now_ms();
    let claimed = on_db!(db, p => sqlx::query(
        "UPDATE version_groups SET sender_job = $2, sender_ms = $3
         WHERE group_key = $1 AND (sender_job IS NULL OR sender_job = $2 OR sender_ms < $4)",
    ).bind(group).bind(job).bind(now).bind(now - stale_ms).execute(p).await?.rows_affected());
    Ok(claimed == 1)
}

/// Marks `members` as carried by `sender`'s album before it is sent; returns those marked
/// (one another sender took meanwhile, or one settled, is not).
pub async fn sending(db: &Db, sender: i64, members: &[i64]) -> Result<Vec<i64>, DbError> {
    let mut marked = Vec::new();
    for m in members {
        let n = on_db!(db, p => sqlx::query("UPDATE version_members SET sending_by = $2 WHERE job_id = $1 AND sending_by IS NULL AND album_message IS NULL AND uncertain = FALSE")
            .bind(m).bind(sender).execute(p).await?.rows_affected());
        if n == 1 {
            marked.push(*m);
        }
    }
    Ok(marked)
}

/// How `sender`'s album ended for the members it carried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sent {
    /// Delivered in the album with this message (0: the user cannot be reached).
    Album(i64),
    /// Its outcome is unknown: each member offers a re-send.
    Uncertain,
    /// Nothing was sent: the members wait for the next album.
    NotSent,
}

/// Records how `sender`'s album ended, for every member it carried, and lets the next sender
/// claim the group.
pub async fn sent(
    db: &Db,
    (user, group): (i64, &str),
    sender: i64,
    outcome: Sent,
) -> Result<(), DbError> {
    let group = &key(user, group);
    let q = match outcome {
        Sent::Album(_) => "UPDATE version_members SET album_message = $2, sending_by = NULL WHERE sending_by = $1 AND group_key = $3",
        Sent::Uncertain => "UPDATE version_members SET uncertain = TRUE, sending_by = NULL WHERE sending_by = $1 AND group_key = $3 AND $2 = 0",
        Sent::NotSent => "UPDATE version_members SET sending_by = NULL WHERE sending_by = $1 AND group_key = $3 AND $2 = 0",
    };
    let message = match outcome {
        Sent::Album(m) => m,
        _ => 0,
    };
    on_db!(db, p => {
        let mut tx = p.begin().await?;
        sqlx::query(q).bind(sender).bind(message).bind(group).execute(&mut *tx).await?;
        sqlx::query("UPDATE version_groups SET sender_job = NULL, sender_ms = NULL WHERE group_key = $1 AND sender_job = $2")
            .bind(group).bind(sender).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}
