//! The main operation: a background clip and a talking head become one MP4 — the background
//! covers the frame (looped or trimmed to the voice), the face-tracked head sits in a circle,
//! captions are burned in, the voice is mixed over the background's own sound.
//!
//! The background is decoded and scaled on its own thread while this thread composites and
//! feeds the encoder, so both cores stay busy.
use crate::audio::{
    decode_audio, mix_soundtrack, normalize_loudness, Loudness, Stereo, SAMPLE_RATE,
};
use crate::captions::{phrases_from_script, phrases_from_words, Phrase, TimedWord};
use crate::encode::{video_bitrate_ceiling, AudioFeed, EncodeSettings, Mp4Writer};
use crate::error::{InputProblem, MediaError, Result};
use crate::facetrack::track_faces_in_video;
use crate::layout::{
    caption_center_y, check_output_size, default_diameter, place_circle, CircleRect, Position,
};
use crate::overlay::{CircleOverlay, Ring};
use crate::text::{render_caption, CaptionImage};
use crate::thumb::write_thumbnail;
use crate::track::{CropSquare, FaceTrack};
use crate::video_in::{FrameFit, VideoReader};
use crate::yuv::Yuv420;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

pub const OUTPUT_FPS: u32 = 30;
/// The final mix's integrated loudness and true-peak ceiling (what Reels, TikTok, Shorts and
/// YouTube normalise to).
pub const TARGET_LUFS: f64 = -14.0;
pub const MAX_TRUE_PEAK_DB: f64 = -1.0;

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
    pub talking_head: PathBuf,
    pub voice: Option<PathBuf>,
    pub captions: Option<Captions>,
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
}

impl ComposeRequest {
    pub fn new(
        background: impl Into<PathBuf>,
        talking_head: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            background: background.into(),
            talking_head: talking_head.into(),
            voice: None,
            captions: None,
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
    pub circle: CircleRect,
    pub captions: Vec<Phrase>,
    pub face_track: TrackSummary,
    pub background_looped: bool,
    /// The mix's loudness before and after normalisation (`None`: a silent track).
    pub loudness: Option<Loudness>,
    pub stages: Vec<StageTime>,
}

/// Progress is reported as (frames done, frames in total).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

pub fn compose(
    req: &ComposeRequest,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<ComposeReport> {
    let result = compose_inner(req, progress, cancel);
    if result.is_err() {
        let _ = std::fs::remove_file(&req.output);
    }
    result
}

struct Stages(Vec<StageTime>, Instant);

impl Stages {
    fn done(&mut self, stage: &'static str) {
        self.0.push(StageTime {
            stage,
            seconds: self.1.elapsed().as_secs_f64(),
        });
        self.1 = Instant::now();
    }
}

fn compose_inner(
    req: &ComposeRequest,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<ComposeReport> {
    let mut stages = Stages(Vec::new(), Instant::now());
    check_output_size(req.width, req.height)?;
    if !(0.0..=2.0).contains(&req.bg_volume) {
        return Err(MediaError::BadParameter(format!(
            "background volume {} is outside 0..2",
            req.bg_volume
        )));
    }
    let diameter = req
        .diameter
        .unwrap_or_else(|| default_diameter(req.width, req.height));
    let circle = place_circle(req.width, req.height, diameter, req.position)?;
    check_writable(&req.output)?;
    // Open both videos first: a bad file is reported before any heavy work.
    let mut background = VideoReader::open(&req.background, Some(req.width * req.height))?;
    background.set_fit(FrameFit::cover(
        background.display_w,
        background.display_h,
        req.width,
        req.height,
    ));
    let background_seconds = background.duration_s;
    let head = VideoReader::open(&req.talking_head, None)?;
    stages.done("probe");

    std::thread::scope(|scope| {
        // The background starts decoding now, on its own core, while this thread prepares the
        // audio, the face track and the captions.
        let frames_rx = spawn_background_reader(scope, background, req.width, req.height);
        let prepared = prepare(req, &head, circle, background_seconds, &mut stages, cancel)?;
        let thumbnail = req
            .thumbnail
            .clone()
            .unwrap_or_else(|| req.output.with_extension("jpg"));
        let encoder = render(&prepared, frames_rx, head, &thumbnail, progress, cancel)?;
        stages.done("compose_encode");

        let size_bytes = std::fs::metadata(&req.output)?.len();
        if size_bytes > req.max_bytes {
            return Err(MediaError::Internal(format!(
                "output is {size_bytes} bytes, over the {} byte cap",
                req.max_bytes
            )));
        }
        Ok(ComposeReport {
            output: req.output.clone(),
            thumbnail,
            width: req.width,
            height: req.height,
            duration_s: prepared.frames as f64 / f64::from(OUTPUT_FPS),
            frames: prepared.frames,
            size_bytes,
            encoder,
            circle,
            captions: prepared.phrases.clone(),
            face_track: TrackSummary {
                samples: prepared.track.samples,
                detections: prepared.track.detections,
                fallback_center: prepared.track.fallback_center,
            },
            background_looped: prepared.background_looped,
            loudness: prepared.loudness,
            stages: std::mem::take(&mut stages.0),
        })
    })
}

/// Everything the frame loop needs besides the pictures.
struct Prepared<'a> {
    req: &'a ComposeRequest,
    frames: u64,
    circle: CircleRect,
    track: FaceTrack,
    track_source_w: u32,
    phrases: Vec<Phrase>,
    captions: Vec<Option<PlacedCaption>>,
    soundtrack: Stereo,
    loudness: Option<Loudness>,
    settings: EncodeSettings,
    background_looped: bool,
}

fn prepare<'a>(
    req: &'a ComposeRequest,
    head: &VideoReader,
    circle: CircleRect,
    background_seconds: f64,
    stages: &mut Stages,
    cancel: &AtomicBool,
) -> Result<Prepared<'a>> {
    let voice = match &req.voice {
        Some(p) => Some(
            decode_audio(p)?
                .ok_or_else(|| MediaError::bad_input(p, InputProblem::NoAudioStream))?,
        ),
        None => decode_audio(&req.talking_head)?,
    };
    let voice = voice.filter(|v| v.frames() > 0);
    // The background's own sound is a bonus: a damaged audio track is left out, not fatal.
    let bg_audio = decode_audio(&req.background).ok().flatten();
    let duration = voice
        .as_ref()
        .map(Stereo::duration_s)
        .unwrap_or(head.duration_s);
    if duration <= 0.0 {
        return Err(MediaError::bad_input(
            &req.talking_head,
            InputProblem::Invalid("it has no duration".into()),
        ));
    }
    let frames = ((duration * f64::from(OUTPUT_FPS)).round() as u64).max(1);
    let seconds = frames as f64 / f64::from(OUTPUT_FPS);
    let audio_frames = frames as usize * SAMPLE_RATE as usize / OUTPUT_FPS as usize;
    let mut soundtrack = mix_soundtrack(
        voice.as_ref(),
        bg_audio.as_ref(),
        req.bg_volume,
        audio_frames,
    );
    // Delivered at the loudness the platforms normalise to (−14 LUFS, ≤ −1 dBTP).
    let loudness = normalize_loudness(&mut soundtrack, TARGET_LUFS, MAX_TRUE_PEAK_DB);
    let settings = EncodeSettings {
        width: req.width,
        height: req.height,
        fps: OUTPUT_FPS,
        crf: req.crf,
        preset: req.preset.clone(),
        max_video_bps: video_bitrate_ceiling(req.max_bytes, seconds)?,
        try_nvenc: req.try_gpu_encoder,
    };
    stages.done("audio");

    let faces = track_faces_in_video(&req.talking_head, Some(cancel))?;
    stages.done("face_track");

    let (speech_start, speech_end) = voice.as_ref().map(speech_bounds).unwrap_or((0.0, duration));
    let phrases = match &req.captions {
        Some(Captions::Script(s)) => phrases_from_script(s, speech_start, speech_end.min(duration)),
        Some(Captions::Words(w)) => phrases_from_words(w),
        None => Vec::new(),
    };
    let captions = layout_captions(&phrases, req.width, req.height, circle);
    stages.done("captions");
    Ok(Prepared {
        req,
        frames,
        circle,
        track_source_w: faces.width,
        track: faces.track,
        phrases,
        captions,
        soundtrack,
        loudness,
        settings,
        background_looped: background_seconds + 0.5 / f64::from(OUTPUT_FPS) < seconds,
    })
}

/// The output's folder must exist: say so before any work, naming the path.
fn check_writable(output: &Path) -> Result<()> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(MediaError::BadParameter(format!(
            "cannot write {}: the folder {} does not exist",
            output.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// First and last moment the voice is audible (with a little air), for script captions.
fn speech_bounds(voice: &Stereo) -> (f64, f64) {
    let peak = voice.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let threshold = (peak * 0.08).max(1e-3);
    let first = voice
        .samples
        .iter()
        .position(|s| s.abs() > threshold)
        .unwrap_or(0)
        / 2;
    let last = voice
        .samples
        .iter()
        .rposition(|s| s.abs() > threshold)
        .unwrap_or(voice.samples.len())
        / 2;
    let rate = f64::from(SAMPLE_RATE);
    let start = (first as f64 / rate - 0.1).max(0.0);
    let end = (last as f64 / rate + 0.2).min(voice.duration_s());
    if end - start < 0.5 {
        (0.0, voice.duration_s())
    } else {
        (start, end)
    }
}

pub(crate) struct PlacedCaption {
    pub(crate) image: CaptionImage,
    pub(crate) x: usize,
    pub(crate) y: usize,
}

pub(crate) fn layout_captions(
    phrases: &[Phrase],
    width: usize,
    height: usize,
    circle: CircleRect,
) -> Vec<Option<PlacedCaption>> {
    let px = (width.min(height) as f32 * 0.062).max(18.0);
    let max_w = (width as f32 * 0.86) as usize;
    phrases
        .iter()
        .map(|p| {
            let image = render_caption(&p.text, max_w, px)?;
            let cy = caption_center_y(width, height, image.height, circle);
            let x = (width.saturating_sub(image.width) / 2) & !1;
            let y = cy.saturating_sub(image.height / 2) & !1;
            Some(PlacedCaption { image, x, y })
        })
        .collect()
}

/// Decodes, scales and crops background pictures for output frames 0, 1, 2, … (looping the
/// clip) until the receiver hangs up. Up to half a second of pictures waits in the queue
/// (about 20 MB at 720×1280): enough to keep the encoder fed while the face track is built.
fn spawn_background_reader<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    mut background: VideoReader,
    w: usize,
    h: usize,
) -> mpsc::Receiver<Result<Yuv420>> {
    let (tx, rx) = mpsc::sync_channel::<Result<Yuv420>>(OUTPUT_FPS as usize / 2);
    scope.spawn(move || {
        for i in 0.. {
            let mut picture = Yuv420::new(w, h);
            let t = i as f64 / f64::from(OUTPUT_FPS);
            let item = background.frame_at(t, &mut picture).map(|_| picture);
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
    });
    rx
}

fn render(
    job: &Prepared<'_>,
    backgrounds: mpsc::Receiver<Result<Yuv420>>,
    mut head: VideoReader,
    thumbnail: &Path,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<&'static str> {
    let head_fit = FrameFit::whole(head.display_w, head.display_h, 1280);
    head.set_fit(head_fit);
    let head_scale = head_fit.out_w as f32 / job.track_source_w as f32;
    let head_len = head.duration_s.max(1.0 / f64::from(OUTPUT_FPS));

    let mut writer = Mp4Writer::create(&job.req.output, &job.settings)?;
    let encoder = writer.encoder_name;
    let mut overlay = CircleOverlay::new(job.circle, job.req.ring);
    let mut head_picture = Yuv420::new(head_fit.out_w, head_fit.out_h);
    let mut audio = AudioFeed {
        track: &job.soundtrack,
        written_frames: 0,
    };
    let thumb_index = (job.frames / 2).min(u64::from(OUTPUT_FPS) * 2);
    let samples_per_frame = (SAMPLE_RATE / OUTPUT_FPS) as usize;
    for i in 0..job.frames {
        if cancel.load(Ordering::Relaxed) {
            return Err(MediaError::Cancelled);
        }
        let mut picture = backgrounds
            .recv()
            .map_err(|_| MediaError::Internal("background reader stopped".into()))??;
        let t = i as f64 / f64::from(OUTPUT_FPS);
        if job.req.circle {
            head.frame_at(t, &mut head_picture)?;
            let c = job.track.at(t % head_len);
            let crop = CropSquare {
                cx: c.cx * head_scale,
                cy: c.cy * head_scale,
                side: c.side * head_scale,
            };
            overlay.draw(&mut picture, &head_picture, crop);
        }
        if let Some(k) = job
            .phrases
            .iter()
            .position(|p| t >= p.start_s && t < p.end_s)
        {
            if let Some(Some(cap)) = job.captions.get(k) {
                cap.image.draw(&mut picture, cap.x, cap.y);
            }
        }
        writer.write_video(&picture, i as i64)?;
        audio.feed_until(&mut writer, (i as usize + 1) * samples_per_frame)?;
        if i == thumb_index {
            write_thumbnail(&picture, thumbnail)?;
        }
        progress(i + 1, job.frames);
    }
    drop(backgrounds);
    audio.feed_until(&mut writer, usize::MAX)?;
    writer.finish()?;
    Ok(encoder)
}
