//! reelforge's media engine. Everything — demuxing, decoding, scaling, compositing,
//! encoding, muxing — runs in-process through ffmpeg-next; nothing here knows about
//! Telegram, databases or object storage.
//!
//! The public surface is small: [`probe`], [`fit_image_to_frame`] (and the image helpers next
//! to it), face detection ([`FaceDetector`], [`track_faces_in_video`]), [`compose`] with its
//! request and report, caption timings, and [`synth`] (synthetic clips for the demo and the
//! offline providers). Everything else is internal to the crate.
mod audio;
mod brand;
mod caption_image;
mod caption_track;
mod captions;
mod compose;
mod compose_spec;
mod deliverable;
mod encode;
mod error;
mod faces;
mod facetrack;
mod fit;
mod gpu;
mod image_header;
mod input;
mod jpeg_lowres;
mod layout;
mod overlay;
mod preview;
mod probe;
pub mod synth;
mod text;
mod thumb;
mod tonemap;
mod track;
mod track_fit;
mod video_in;
mod voice;
mod yuv;

pub use audio::{decode_audio, Loudness};
pub use brand::{
    check_brand_files, end_card_still, logo_corner, EndCard, LogoRect, END_CARD_SECONDS,
    MAX_LOGO_PIXELS,
};
pub use caption_track::{CaptionBox, DEFAULT_ACCENT as DEFAULT_CAPTION_ACCENT};
pub use captions::{estimate_word_timings, parse_word_timings, CaptionStyle, TimedWord};
pub use compose::{
    compose, Captions, ComposeReport, ComposeRequest, OutputFormat, OutputReport, StageTime,
    TrackSummary,
};
pub use deliverable::{index_in_front, make_deliverable, Action as DeliverableAction, Deliverable};
pub use encode::nvenc_available;
pub use error::{InputProblem, MediaError, Result};
pub use faces::FaceDetector;
pub use facetrack::{track_faces_in_video, VideoFaces};
pub use fit::{
    check_pixel_count, faces_in_image, fit_image_to_frame, load_image, looks_like_image, FitMode,
};
pub use gpu::{decode_path, gpu_enabled, set_gpu};
pub use image_header::header_dimensions as image_header_size;
pub use layout::{
    carry_position, default_diameter, parse_size, place_circle, Area, CircleRect, Position,
    SafeZone, PRESET_SIZES,
};
pub use overlay::{parse_hex_color, Ring};
pub use preview::{layout_preview, LayoutPreview};
pub use probe::{probe, AudioInfo, MediaInfo, VideoInfo};
pub use thumb::video_thumbnail;
pub use track::{CropSquare, FaceSample, FaceTrack, TrackParams};
pub use voice::voice_message;

/// Worker threads for the decoder and the encoder: one per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
