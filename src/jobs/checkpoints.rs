//! What a job's steps have made so far, saved before the next step starts, so a retried or
//! resumed job skips finished steps, never pays a provider twice and never delivers twice.
//! Stored as JSON in the `checkpoints` column; older rows (step name → string) load as they are.
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checkpoints {
    /// Storage key of the photo fitted to the video size (image-to-video, product cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image: Option<String>,
    /// The product prompt after the prompt writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The chain entry that made a generated video (`local`, `openai:sora-2`, `kie:veo3`…):
    /// the console's "made by" and its provider spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_by: Option<String>,
    /// The video or image provider's request (its id, or its saved URLs for fal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// When the first provider request of this job was submitted: a request still waiting
    /// past the deadline is cancelled and the job refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_ms: Option<i64>,
    /// Which API key submitted `request`: polls, downloads and cancels use the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<String>,
    /// Storage key of the speech (UGC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// How long the speech runs (s), measured when it was made: a UGC price rests on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_seconds: Option<f64>,
    /// The speech length a price was quoted at from the script (the API's UGC orders): the job
    /// settles on the measured speech before the talking head (see `orders::price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_speech_seconds: Option<f64>,
    /// Storage key of the word timings of the speech (UGC, ElevenLabs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<String>,
    /// The talking-head provider's request (UGC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talking_head_request: Option<String>,
    /// Storage key of the talking-head clip (UGC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talking_head: Option<String>,
    /// The talking-head chain entry (`provider:model`) that made `talking_head`, or that
    /// `talking_head_request` waits on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talking_head_by: Option<String>,
    /// The speech chain entry that spoke `voice` (`elevenlabs:<model>`, `openai:<model>`, `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_by: Option<String>,
    /// The voice that stood in for the chosen one when a fallback spoke ("OpenAI «nova»
    /// (female)"), shown in the progress message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_note: Option<String>,
    /// The image-edit chain entry that made `output`, or that `request` waits on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_by: Option<String>,
    /// What the providers cost so far for this job (₸, pricing table): a fallback that would
    /// take it over the price is skipped (`ALLOW_LOSS_FALLBACK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_kzt: Option<f64>,
    /// Storage key of the finished video (or edited photo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Row id in `generations`.
    #[serde(
        default,
        deserialize_with = "id_or_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub generation: Option<i64>,
    /// When the upload to the user began. Set before sending: a crash or timeout after it
    /// leaves the outcome unknown, and the video is not sent again blindly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_started_ms: Option<i64>,
    /// The delivered message; written before the job is marked done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Delivered>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivered {
    /// The chat message that carries the video (0 when unknown).
    pub message_id: i64,
    /// Telegram's file id, for re-sends without an upload (empty when unknown).
    pub file_id: String,
    /// The upload's outcome was unknown; the user was offered a re-send instead of a second
    /// automatic copy.
    #[serde(default)]
    pub uncertain: bool,
    /// Telegram refused the send for good because the user cannot be reached (they blocked
    /// the bot, or the chat is gone): the job stays done and paid, the video waits in
    /// `/history` for when they come back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
}

/// Rows from before the typed contract saved the generation id as text.
fn id_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrText {
        Id(i64),
        Text(String),
    }
    Ok(match Option::<IdOrText>::deserialize(d)? {
        Some(IdOrText::Id(n)) => Some(n),
        Some(IdOrText::Text(t)) => t.parse().ok(),
        None => None,
    })
}

impl Checkpoints {
    /// Reads the stored JSON; an unreadable value counts as "nothing done yet".
    /// A value that is known to be the service's own (a dialogue's carried speech); see
    /// [`Checkpoints::read`] for a job's stored row.
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// A job's stored checkpoints, or why they cannot be read: a worker must not take an
    /// unreadable value for "nothing done yet" and pay a provider twice.
    pub fn read(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("checkpoints cannot be read: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The steps a recompose carries over from the job it remakes (already paid for).
    pub fn carried_for_recompose(&self) -> Option<Checkpoints> {
        Some(Checkpoints {
            voice: Some(self.voice.clone()?),
            talking_head: Some(self.talking_head.clone()?),
            alignment: self.alignment.clone(),
            speech_seconds: self.speech_seconds,
            speech_by: self.speech_by.clone(),
            talking_head_by: self.talking_head_by.clone(),
            ..Checkpoints::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rows_with_text_ids_load() {
        let c = Checkpoints::from_json(
            r#"{"voice":"v.wav","talking_head":"h.mp4","generation":"17","output":"o.mp4"}"#,
        );
        assert_eq!(c.generation, Some(17));
        assert_eq!(c.voice.as_deref(), Some("v.wav"));
        assert_eq!(Checkpoints::from_json("garbage"), Checkpoints::default());
    }

    #[test]
    fn recompose_carries_speech_and_head_only() {
        let mut c = Checkpoints::from_json(r#"{"voice":"v","talking_head":"h","output":"o"}"#);
        let carried = c.carried_for_recompose().unwrap();
        assert_eq!(carried.output, None);
        assert_eq!(carried.talking_head.as_deref(), Some("h"));
        c.talking_head = None;
        assert!(c.carried_for_recompose().is_none());
    }
}
