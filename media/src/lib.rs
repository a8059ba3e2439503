//! reelforge's media engine. Everything — demuxing, decoding, scaling, compositing,
//! encoding, muxing — runs in-process through ffmpeg-next; nothing here knows about
//! Telegram, databases or object storage.
pub mod audio;
pub mod captions;
pub mod compose;
pub mod encode;
pub mod error;
pub mod faces;
pub mod facetrack;
pub mod fit;
pub mod image_header;
pub mod input;
pub mod jpeg_lowres;
pub mod layout;
pub mod overlay;
pub mod probe;
pub mod synth;
pub mod text;
pub mod thumb;
pub mod tonemap;
pub mod track;
pub mod video_in;
pub mod yuv;

pub use compose::{compose, Captions, ComposeReport, ComposeRequest};
pub use error::{InputProblem, MediaError, Result};
pub use fit::{fit_image_to_frame, FitMode};
pub use layout::Position;
pub use probe::{probe, MediaInfo};

/// Worker threads for the decoder and the encoder: one per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
