//! What a compose is asked ([`ComposeRequest`], with its more formats [`OutputFormat`]) and
//! what it reports ([`ComposeReport`]): the compositor's public contract, apart from the
//! frame loop in [`crate::compose`].
use crate::audio::Loudness;
use crate::brand::{EndCard, LogoRect};
use crate::caption_track::{CaptionBox, DEFAULT_ACCENT};
use crate::captions::{CaptionStyle, Phrase, TimedWord};
use crate::layout::{carry_position, default_diameter, Area, CircleRect, Position, SafeZone};
use crate::overlay::Ring;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Captions {
    /// A script spread over the speech in short phrases.
    Script(String),
    /// Word timings (from TTS) that time each phrase.
    Words(Vec<TimedWord>),
}

#[derive(Debug, Clone)]
pub struct ComposeRequest {
    pub background: PathBuf,
    /// Where in the background clip the video starts (seconds; it loops from its own start
    /// after its end). 0: the first frame.
    pub background_start_s: f64,
    pub talking_head: PathBuf,
    pub voice: Option<PathBuf>,
    pub captions: Option<Captions>,
    pub caption_style: CaptionStyle,
    /// The karaoke highlight's colour (RGB).
    pub caption_accent: (u8, u8, u8),
    /// The platform interface captions and the circle keep clear of (portrait frames).
    pub safe_zone: SafeZone,
    pub width: usize,
    pub height: usize,
    pub position: Position,
    pub diameter: Option<usize>,
    pub ring: Option<Ring>,
    pub bg_volume: f32,
    pub max_bytes: u64,
    pub crf: u8,
    pub preset: String,
    pub output: PathBuf,
    /// Where the JPEG thumbnail goes (default: the output path with `.jpg`).
    pub thumbnail: Option<PathBuf>,
    pub try_gpu_encoder: bool,
    /// Draw the talking head in its circle (false: the background alone, with the voice and
    /// captions — the "talking head" format passes the head itself as the background).
    pub circle: bool,
    /// More formats of the same composite, made in the same pass: the background and the head
    /// are decoded once, the face tracked once, the audio mixed once; each format gets its own
    /// scaling, circle, captions (inside its own safe area) and encoder. Reported in
    /// [`ComposeReport::more_outputs`].
    pub more_outputs: Vec<OutputFormat>,
    /// The brand's logo (PNG with alpha, or JPEG) on every frame of every output.
    pub logo: Option<PathBuf>,
    /// A card after the speech (see [`EndCard`]): the video lasts the speech and the card.
    pub end_card: Option<EndCard>,
}

/// One more output of a [`ComposeRequest`]: its frame size, where its circle sits and its files.
#[derive(Debug, Clone)]
pub struct OutputFormat {
    pub width: usize,
    pub height: usize,
    pub position: Position,
    pub diameter: Option<usize>,
    pub output: PathBuf,
    /// Where its JPEG thumbnail goes (default: the output path with `.jpg`).
    pub thumbnail: Option<PathBuf>,
}

impl OutputFormat {
    /// A `width`×`height` output with the default circle in the bottom-left corner.
    pub fn new(width: usize, height: usize, output: impl Into<PathBuf>) -> Self {
        Self {
            width,
            height,
            position: Position::BottomLeft,
            diameter: None,
            output: output.into(),
            thumbnail: None,
        }
    }

    /// A `width`×`height` output whose circle is where `req`'s is: a named position stays
    /// named (it lands in the same corner of this format's safe area), a chosen diameter is
    /// scaled with the width, and an `X,Y` spot keeps the circle's centre at the same fraction
    /// of the frame (pulled inside the frame when the format is narrower).
    pub fn carried_from(
        req: &ComposeRequest,
        width: usize,
        height: usize,
        output: impl Into<PathBuf>,
    ) -> Self {
        let old_d = req
            .diameter
            .unwrap_or_else(|| default_diameter(req.width, req.height));
        let scale = width as f64 / req.width.max(1) as f64;
        let new_d = ((old_d as f64 * scale) as usize)
            .min(width.min(height))
            .max(16);
        let position = carry_position(
            req.position,
            (req.width, req.height, old_d),
            (width, height, new_d),
        );
        let diameter = match req.position {
            // An exact spot needs an exact size: the first format's, scaled.
            Position::At { .. } => Some(new_d),
            _ => req.diameter.map(|_| new_d),
        };
        Self {
            width,
            height,
            position,
            diameter,
            output: output.into(),
            thumbnail: None,
        }
    }
}

impl ComposeRequest {
    pub fn new(
        background: impl Into<PathBuf>,
        talking_head: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            background: background.into(),
            background_start_s: 0.0,
            talking_head: talking_head.into(),
            voice: None,
            captions: None,
            caption_style: CaptionStyle::Classic,
            caption_accent: DEFAULT_ACCENT,
            safe_zone: SafeZone::Reels,
            width: 720,
            height: 1280,
            position: Position::BottomLeft,
            diameter: None,
            ring: None,
            bg_volume: 0.15,
            max_bytes: 50 * 1024 * 1024,
            crf: 23,
            preset: "veryfast".into(),
            output: output.into(),
            thumbnail: None,
            try_gpu_encoder: false,
            circle: true,
            more_outputs: Vec::new(),
            logo: None,
            end_card: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackSummary {
    pub samples: usize,
    pub detections: usize,
    pub fallback_center: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComposeReport {
    pub output: PathBuf,
    pub thumbnail: PathBuf,
    pub width: usize,
    pub height: usize,
    pub duration_s: f64,
    pub frames: u64,
    pub size_bytes: u64,
    pub encoder: &'static str,
    /// How the background was decoded: `nvdec`, or `cpu` (with why, when the GPU is off or
    /// absent).
    pub decoder: String,
    pub circle: CircleRect,
    pub caption_style: CaptionStyle,
    pub safe_zone: SafeZone,
    /// The free area captions and the circle were placed in.
    pub safe_area: Area,
    pub captions: Vec<Phrase>,
    /// Where each phrase's caption block rests on the frame.
    pub caption_boxes: Vec<CaptionBox>,
    pub face_track: TrackSummary,
    pub background_looped: bool,
    /// The mix's loudness before and after normalisation (`None`: a silent track).
    pub loudness: Option<Loudness>,
    /// 1, or 2–3 when the first result was over the size cap and was made again aiming lower.
    pub passes: u32,
    pub stages: Vec<StageTime>,
    /// The request's [`ComposeRequest::more_outputs`], in order.
    pub more_outputs: Vec<OutputReport>,
    /// Where the logo went (none without one).
    pub logo: Option<LogoRect>,
    /// The end card's seconds at the end of `duration_s` (0 without one).
    pub end_card_s: f64,
}

/// What one of the [`ComposeRequest::more_outputs`] became.
#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    pub output: PathBuf,
    pub thumbnail: PathBuf,
    pub width: usize,
    pub height: usize,
    pub size_bytes: u64,
    pub circle: CircleRect,
    pub safe_area: Area,
    pub caption_boxes: Vec<CaptionBox>,
    pub logo: Option<LogoRect>,
}
