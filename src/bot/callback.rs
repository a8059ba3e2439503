//! Button data for the buttons that act on a job, as one type: both ends (the button and its
//! handler) go through `Display` and `FromStr`, so they cannot drift apart.
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// Cancel a queued or running job (under its progress message); refunded once.
    Cancel(i64),
    /// Send a finished video again (offered when an upload's outcome was unknown).
    Resend(i64),
    /// The same settings again for a finished job.
    Again(i64),
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callback::Cancel(job) => write!(f, "job:cancel:{job}"),
            Callback::Resend(job) => write!(f, "job:resend:{job}"),
            Callback::Again(job) => write!(f, "again:{job}"),
        }
    }
}

impl FromStr for Callback {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let parts: Vec<&str> = s.split(':').collect();
        let job = |t: &str| t.parse::<i64>().map_err(|_| ());
        match parts.as_slice() {
            ["job", "cancel", id] => Ok(Callback::Cancel(job(id)?)),
            ["job", "resend", id] => Ok(Callback::Resend(job(id)?)),
            ["again", id] => Ok(Callback::Again(job(id)?)),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Callback;

    #[test]
    fn every_callback_reads_back_as_itself() {
        for c in [Callback::Cancel(7), Callback::Resend(12), Callback::Again(3)] {
            let data = c.to_string();
            assert!(data.len() <= 64, "Telegram allows 64 bytes: {data}");
            assert_eq!(data.parse::<Callback>(), Ok(c));
        }
        assert!("job:cancel:x".parse::<Callback>().is_err());
        assert!("menu".parse::<Callback>().is_err());
    }
}
