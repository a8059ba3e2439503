//! Errors a caller can act on: the input is bad (tell the user), the work was cancelled, or
//! something broke inside (log it, retry or report).
use std::path::{Path, PathBuf};

/// What is wrong with an input file, in words a user understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputProblem {
    Missing,
    Unreadable(String),
    Empty,
    Truncated,
    NotMedia,
    NoVideoStream,
    NoAudioStream,
    UnsupportedCodec(String),
    DecompressionBomb { width: u64, height: u64, limit: u64 },
    TooLarge(String),
    NotAnImage,
    Invalid(String),
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => write!(f, "does not exist"),
            Self::Unreadable(why) => write!(f, "cannot be read ({why})"),
            Self::Empty => write!(f, "is empty (0 bytes)"),
            Self::Truncated => write!(f, "is truncated or damaged: the file ends before its media data"),
            Self::NotMedia => write!(f, "is not a video, audio or image file that can be read"),
            Self::NoVideoStream => write!(f, "has no video stream"),
            Self::NoAudioStream => write!(f, "has no audio stream"),
            Self::UnsupportedCodec(c) => write!(f, "uses an unsupported codec ({c})"),
            Self::DecompressionBomb { width, height, limit } => write!(
                f,
                "is a decompression bomb: {width}×{height} pixels is more than the {limit} pixel limit"
            ),
            Self::TooLarge(why) => write!(f, "is too large: {why}"),
            Self::NotAnImage => write!(f, "is not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF)"),
            Self::Invalid(why) => write!(f, "is invalid: {why}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The caller's input is at fault; the message names the file and the problem.
    #[error("{}: the file {problem}", path.display())]
    BadInput {
        path: PathBuf,
        problem: InputProblem,
    },
    /// A parameter (size, position, colour, …) is out of range.
    #[error("{0}")]
    BadParameter(String),
    #[error("cancelled")]
    Cancelled,
    /// The encoded result came out larger than the size cap.
    #[error("output is {bytes} bytes, over the {cap} byte cap")]
    OverCap { bytes: u64, cap: u64 },
    #[error("internal media error: {0}")]
    Internal(String),
}

impl MediaError {
    pub fn bad_input(path: &Path, problem: InputProblem) -> Self {
        Self::BadInput {
            path: path.to_path_buf(),
            problem,
        }
    }

    /// True when the failure is the caller's input or parameters, never worth a retry.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::BadInput { .. } | Self::BadParameter(_))
    }
}

impl From<ffmpeg_next::Error> for MediaError {
    fn from(e: ffmpeg_next::Error) -> Self {
        Self::Internal(format!("ffmpeg: {e}"))
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(format!("i/o: {e}"))
    }
}

pub type Result<T, E = MediaError> = std::result::Result<T, E>;
