//! The job as one typed contract: what it makes ([`JobSpec`]), where it is in the queue
//! ([`JobState`]), what its steps have made ([`Checkpoints`]) and, from those three, the one
//! phase a user sees ([`phase`]). Everything that reads a job goes through these types.
mod checkpoints;
pub mod layout;
mod spec;
mod step;

pub use checkpoints::{Checkpoints, Delivered};
pub use layout::{Layout, Placement};
pub use spec::{
    Brand, EditParams, EndCardSpec, FileRole, GenerateParams, JobKind, JobSpec, ProductParams,
    SpecError, UgcParams, VersionOf,
};
pub use step::Step;

use crate::failure::ErrorClass;

/// Where a job is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Recorded, tokens not yet taken (only inside `submit`'s transaction, or left half-way).
    New,
    Queued,
    /// Waiting on a provider; back at `run_at`.
    Snoozed,
    Running,
    Done,
    Failed,
    Cancelled,
    /// Refused at submission (balance too low); nothing was taken.
    Rejected,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::New,
        JobState::Queued,
        JobState::Snoozed,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobState::New => "new",
            JobState::Queued => "queued",
            JobState::Snoozed => "snoozed",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Rejected => "rejected",
        }
    }

    /// Done, failed, cancelled or rejected: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled | JobState::Rejected
        )
    }

    /// Unknown names read as `Failed`, so a job is never shown as still running by mistake.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or(JobState::Failed)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled | JobState::Rejected
        )
    }
}

impl PartialEq<&str> for JobState {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl PartialEq<str> for JobState {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user is told about a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Queued,
    /// A failed attempt is waiting for its retry.
    Retrying,
    Generating,
    Composing,
    Uploading,
    Done,
    Failed(ErrorClass),
    Cancelled,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Done | Phase::Failed(_) | Phase::Cancelled)
    }
}

/// The one place that turns a job's state and checkpoints into what its user sees.
pub fn phase(
    state: JobState,
    kind: JobKind,
    checkpoints: &Checkpoints,
    error_class: Option<ErrorClass>,
) -> Phase {
    let class = || error_class.unwrap_or(ErrorClass::Permanent);
    match state {
        JobState::Done => Phase::Done,
        JobState::Cancelled => Phase::Cancelled,
        JobState::Failed | JobState::Rejected => Phase::Failed(class()),
        JobState::New | JobState::Queued if error_class.is_some() => Phase::Retrying,
        JobState::New | JobState::Queued => Phase::Queued,
        JobState::Snoozed | JobState::Running => {
            let c = checkpoints;
            if c.delivered.is_some()
                || c.delivery_started_ms.is_some()
                || (c.output.is_some() && kind.makes_video())
            {
                Phase::Uploading
            } else if kind == JobKind::Recompose || (kind.composes() && c.talking_head.is_some()) {
                Phase::Composing
            } else {
                Phase::Generating
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_follows_the_checkpoints() {
        let mut c = Checkpoints::default();
        let ugc = JobKind::UgcVideo;
        assert_eq!(phase(JobState::Queued, ugc, &c, None), Phase::Queued);
        assert_eq!(
            phase(JobState::Queued, ugc, &c, Some(ErrorClass::Transient)),
            Phase::Retrying
        );
        assert_eq!(phase(JobState::Running, ugc, &c, None), Phase::Generating);
        c.talking_head = Some("h".into());
        assert_eq!(phase(JobState::Running, ugc, &c, None), Phase::Composing);
        c.output = Some("o".into());
        assert_eq!(phase(JobState::Snoozed, ugc, &c, None), Phase::Uploading);
        // A character edit's output is a photo still being shown, not an upload phase.
        let edit = Checkpoints {
            output: Some("e.jpg".into()),
            ..Checkpoints::default()
        };
        assert_eq!(
            phase(JobState::Running, JobKind::CharacterEdit, &edit, None),
            Phase::Generating
        );
        assert_eq!(phase(JobState::Done, ugc, &c, None), Phase::Done);
        assert!(phase(JobState::Cancelled, ugc, &c, None).is_final());
    }

    #[test]
    fn state_names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::from_name(s.name()), s);
        }
        assert_eq!(JobState::from_name("??"), JobState::Failed);
    }
}
