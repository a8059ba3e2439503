//! The named steps of a job: what a checkpoint was saved after (the `step` column) and the
//! label of the step-duration metric. One enum, so a label cannot be misspelt.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The product prompt written (or the raw one kept).
    Prompt,
    /// The first frame fitted to the video size.
    InputImage,
    /// The video provider took the request.
    VideoSubmit,
    /// A poll of the video provider.
    VideoPoll,
    /// The provider's clip re-framed to the asked size.
    Reframe,
    /// The clip made deliverable (H.264 + AAC, index in front).
    Conform,
    /// The finished video or photo stored.
    Output,
    /// The speech made and stored.
    Speech,
    /// Who spoke it, its length and word timings.
    SpeechBy,
    /// The talking head made and stored.
    TalkingHead,
    /// The head composed over the background.
    Composite,
    /// The result recorded in the user's history.
    Generation,
    /// The upload to the user began (or was given up).
    Delivery,
    /// The user has the result.
    Delivered,
    /// A chain step fell back to the offline engine.
    Offline,
    /// A chain entry took the request.
    ProviderSubmit,
    /// What a chain entry cost, added to the job.
    ProviderCost,
    /// A chain entry failed; the next is tried.
    ProviderFailed,
}

impl Step {
    pub const ALL: [Step; 18] = [
        Step::Prompt,
        Step::InputImage,
        Step::VideoSubmit,
        Step::VideoPoll,
        Step::Reframe,
        Step::Conform,
        Step::Output,
        Step::Speech,
        Step::SpeechBy,
        Step::TalkingHead,
        Step::Composite,
        Step::Generation,
        Step::Delivery,
        Step::Delivered,
        Step::Offline,
        Step::ProviderSubmit,
        Step::ProviderCost,
        Step::ProviderFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Prompt => "prompt",
            Step::InputImage => "input_image",
            Step::VideoSubmit => "video_submit",
            Step::VideoPoll => "video_poll",
            Step::Reframe => "reframe",
            Step::Conform => "conform",
            Step::Output => "output",
            Step::Speech => "speech",
            Step::SpeechBy => "speech_by",
            Step::TalkingHead => "talking_head",
            Step::Composite => "composite",
            Step::Generation => "generation",
            Step::Delivery => "delivery",
            Step::Delivered => "delivered",
            Step::Offline => "offline",
            Step::ProviderSubmit => "provider_submit",
            Step::ProviderCost => "provider_cost",
            Step::ProviderFailed => "provider_failed",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn step_names_are_distinct_snake_case() {
        let names: std::collections::HashSet<_> =
            super::Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), super::Step::ALL.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
