//! The main operation: a background clip and a talking head become one MP4 — the background
//! covers the frame (looped or trimmed to the voice), the face-tracked head sits in a circle,
//! captions are burned in, the voice is mixed over the background's own sound.
//!
//! The background is decoded and scaled on its own thread while this thread composites and
//! feeds the encoder, so both cores stay busy.
use crate::audio::speech_segments;
use crate::audio::{
    decode_audio, fade_out_from, mix_soundtrack, normalize_loudness, Loudness, Stereo, SAMPLE_RATE,
};
use crate::brand::{check_end_card, end_card_picture, logo_sprite, Sprite};
use crate::caption_track::{CaptionTrack, TrackLayout};
use crate::captions::{estimate_word_timings, phrases_from_words, Phrase};
use crate::encode::{video_bitrate_ceiling, AudioFeed, EncodeSettings, Mp4Writer, OUTPUT_FPS};
use crate::error::{InputProblem, MediaError, Result};
use crate::facetrack::{track_faces_in_video, VideoFaces};
use crate::layout::{check_output_size, default_diameter, place_circle, Area, CircleRect};
use crate::overlay::CircleOverlay;
use crate::thumb::write_thumbnail;
use crate::track::{CropSquare, FaceTrack};
use crate::video_in::{spawn_background_reader, FrameFit, VideoReader};
use crate::yuv::Yuv420;
use std::path::{Path, PathBuf};

pub use crate::compose_spec::{
    Captions, ComposeReport, ComposeRequest, OutputFormat, OutputReport, StageTime, TrackSummary,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// The final mix's integrated loudness and true-peak ceiling (what Reels, TikTok, Shorts and
/// YouTube normalise to).
pub const TARGET_LUFS: f64 = -14.0;
pub const MAX_TRUE_PEAK_DB: f64 = -1.0;

/// Progress is reported as (frames done, frames in total).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// The bitrate ceiling comes from the duration and `max_bytes`; should the encoder still
/// overshoot the cap (a very busy picture), the video is made again aiming 20 % lower, up to
/// twice, before the cap is reported.
pub fn compose(
    req: &ComposeRequest,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<ComposeReport> {
    let result = crate::encode::within_cap(req.max_bytes, |cap, pass| {
        let mut attempt = req.clone();
        attempt.max_bytes = cap;
        compose_inner(&attempt, progress, cancel).map(|mut report| {
            report.passes = pass;
            report
        })
    });
    if result.is_err() {
        for target in std::iter::once(&req.output).chain(req.more_outputs.iter().map(|o| &o.output))
        {
            let _ = std::fs::remove_file(target);
        }
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

/// One output of the pass: its frame, circle, free area, files and brand.
struct Target {
    width: usize,
    height: usize,
    circle: CircleRect,
    area: Area,
    output: PathBuf,
    thumbnail: PathBuf,
    logo: Option<Sprite>,
    end_card: Option<Yuv420>,
}

/// The request's outputs, each checked (size, circle placement, folder) before any work.
fn targets(req: &ComposeRequest) -> Result<Vec<Target>> {
    let first = OutputFormat {
        width: req.width,
        height: req.height,
        position: req.position,
        diameter: req.diameter,
        output: req.output.clone(),
        thumbnail: req.thumbnail.clone(),
    };
    let mut targets: Vec<Target> = Vec::new();
    for format in std::iter::once(&first).chain(&req.more_outputs) {
        check_output_size(format.width, format.height)?;
        let diameter = format
            .diameter
            .unwrap_or_else(|| default_diameter(format.width, format.height));
        let area = req.safe_zone.area(format.width, format.height);
        let circle = place_circle(format.width, format.height, diameter, format.position, area)?;
        check_writable(&format.output)?;
        if targets.iter().any(|t| t.output == format.output) {
            return Err(MediaError::BadParameter(format!(
                "{} is named as the output of two formats",
                format.output.display()
            )));
        }
        let size = (format.width, format.height);
        let logo = match &req.logo {
            Some(path) => Some(logo_sprite(path, size, area, req.circle.then_some(circle))?),
            None => None,
        };
        let end_card = match &req.end_card {
            Some(card) => Some(end_card_picture(card, size, area, req.caption_accent)?),
            None => None,
        };
        targets.push(Target {
            width: format.width,
            height: format.height,
            circle,
            area,
            output: format.output.clone(),
            thumbnail: format
                .thumbnail
                .clone()
                .unwrap_or_else(|| format.output.with_extension("jpg")),
            logo,
            end_card,
        });
    }
    Ok(targets)
}

fn compose_inner(
    req: &ComposeRequest,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<ComposeReport> {
    let mut stages = Stages(Vec::new(), Instant::now());
    if !(0.0..=2.0).contains(&req.bg_volume) {
        return Err(MediaError::BadParameter(format!(
            "background volume {} is outside 0..2",
            req.bg_volume
        )));
    }
    if !(req.background_start_s.is_finite() && (0.0..=3600.0).contains(&req.background_start_s)) {
        return Err(MediaError::BadParameter(format!(
            "background start {} s is outside 0..3600",
            req.background_start_s
        )));
    }
    if let Some(card) = &req.end_card {
        check_end_card(card)?;
    }
    let targets = targets(req)?;
    // The background is opened (its stream analysis decodes a few frames) and then decoded on
    // its own thread from here on, while this thread opens the talking head and prepares the
    // audio, the face track and the captions. The reader learns how many frames the video
    // has once the voice is measured: it never decodes pictures nobody will show.
    let needed = AtomicU64::new(u64::MAX);
    std::thread::scope(|scope| {
        let sizes = targets.iter().map(|t| (t.width, t.height)).collect();
        let feed = spawn_background_reader(
            scope,
            &req.background,
            sizes,
            &needed,
            req.background_start_s,
        );
        let head = VideoReader::open(&req.talking_head, None)?;
        stages.done("probe");
        // A background that cannot be opened is reported as soon as that is known: here when
        // it already is (a file that is not media fails in a moment), else after the preparation
        // — before anything is encoded either way.
        let early = feed.opened.try_recv().ok().transpose()?;
        let prepared = prepare(req, &head, &targets, &needed, &mut stages, cancel)?;
        let (background_seconds, on_gpu) = match early {
            Some(opened) => opened,
            None => feed
                .opened
                .recv()
                .map_err(|_| MediaError::Internal("background reader stopped".into()))??,
        };
        let duration_s = prepared.frames as f64 / f64::from(OUTPUT_FPS);
        let decoder = match (on_gpu, crate::gpu::decode_path()) {
            (true, _) => "nvdec".to_string(),
            (false, path) if path == "nvdec" => "cpu (codec not decodable by NVDEC)".to_string(),
            (false, path) => path,
        };
        let encoder = render(&prepared, (feed.frames, feed.spent), head, progress, cancel)?;
        stages.done("compose_encode");

        let mut outputs = Vec::with_capacity(targets.len());
        for (target, captions) in targets.iter().zip(&prepared.captions) {
            let size_bytes = std::fs::metadata(&target.output)?.len();
            if size_bytes > req.max_bytes {
                return Err(MediaError::OverCap {
                    bytes: size_bytes,
                    cap: req.max_bytes,
                });
            }
            outputs.push(OutputReport {
                output: target.output.clone(),
                thumbnail: target.thumbnail.clone(),
                width: target.width,
                height: target.height,
                size_bytes,
                circle: target.circle,
                safe_area: target.area,
                caption_boxes: prepared
                    .phrases
                    .iter()
                    .filter_map(|p| captions.box_at((p.start_s + p.end_s) / 2.0))
                    .collect(),
                logo: target.logo.as_ref().map(|l| l.rect),
            });
        }
        let first = outputs.remove(0);
        Ok(ComposeReport {
            output: first.output,
            thumbnail: first.thumbnail,
            width: first.width,
            height: first.height,
            duration_s,
            frames: prepared.frames,
            size_bytes: first.size_bytes,
            encoder,
            decoder,
            circle: first.circle,
            caption_style: req.caption_style,
            safe_zone: req.safe_zone,
            safe_area: first.safe_area,
            captions: prepared.phrases.clone(),
            caption_boxes: first.caption_boxes,
            face_track: TrackSummary {
                samples: prepared.track.samples,
                detections: prepared.track.detections,
                fallback_center: prepared.track.fallback_center,
            },
            background_looped: background_seconds + 0.5 / f64::from(OUTPUT_FPS) < duration_s,
            loudness: prepared.loudness,
            passes: 1,
            stages: std::mem::take(&mut stages.0),
            logo: first.logo,
            end_card_s: (prepared.frames - prepared.speech_frames) as f64 / f64::from(OUTPUT_FPS),
            more_outputs: outputs,
        })
    })
}

/// Everything the frame loop needs besides the pictures.
struct Prepared<'a> {
    req: &'a ComposeRequest,
    targets: &'a [Target],
    /// Frames in all: the speech's, then the end card's.
    frames: u64,
    speech_frames: u64,
    track: FaceTrack,
    track_source_w: u32,
    phrases: Vec<Phrase>,
    /// One per target.
    captions: Vec<CaptionTrack>,
    soundtrack: Stereo,
    loudness: Option<Loudness>,
    /// One per target.
    settings: Vec<EncodeSettings>,
}

fn prepare<'a>(
    req: &'a ComposeRequest,
    head: &VideoReader,
    targets: &'a [Target],
    needed: &AtomicU64,
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
    let speech_frames = ((duration * f64::from(OUTPUT_FPS)).round() as u64).max(1);
    // The background is read for the speech only; the end card follows it.
    needed.store(speech_frames, Ordering::Relaxed);
    let end_frames = req
        .end_card
        .as_ref()
        .map_or(0, |c| (c.seconds * f64::from(OUTPUT_FPS)).round() as u64);
    let frames = speech_frames + end_frames;
    let (soundtrack, loudness) = soundtrack(req, voice.as_ref(), (speech_frames, frames));
    let settings = encode_settings(req, targets, frames as f64 / f64::from(OUTPUT_FPS))?;
    stages.done("audio");

    // Without a circle nobody looks at the face: no tracking.
    let faces = if req.circle {
        track_faces_in_video(&req.talking_head, Some(cancel))?
    } else {
        VideoFaces::centred(head.display_w, head.display_h, head.duration_s)
    };
    stages.done("face_track");

    let phrases = match &req.captions {
        Some(Captions::Script(s)) => {
            let words = estimate_word_timings(s, &speech_span(voice.as_ref(), duration));
            phrases_from_words(&words, req.caption_style)
        }
        Some(Captions::Words(w)) => phrases_from_words(w, req.caption_style),
        None => Vec::new(),
    };
    let captions = caption_tracks(req, targets, &phrases);
    stages.done("captions");
    Ok(Prepared {
        req,
        targets,
        frames,
        speech_frames,
        track_source_w: faces.width,
        track: faces.track,
        phrases,
        captions,
        soundtrack,
        loudness,
        settings,
    })
}

/// The mix of `frames` frames: the voice over the background's own sound (a damaged track of
/// the background's is left out, not fatal), fading out under the end card from
/// `speech_frames` on, at the loudness the platforms normalise to (−14 LUFS, ≤ −1 dBTP).
fn soundtrack(
    req: &ComposeRequest,
    voice: Option<&Stereo>,
    (speech_frames, frames): (u64, u64),
) -> (Stereo, Option<Loudness>) {
    let bg_audio = decode_audio(&req.background)
        .ok()
        .flatten()
        .map(|track| crate::audio::from_second(track, req.background_start_s));
    let per_frame = SAMPLE_RATE as usize / OUTPUT_FPS as usize;
    let mut mix = mix_soundtrack(
        voice,
        bg_audio.as_ref(),
        req.bg_volume,
        frames as usize * per_frame,
    );
    fade_out_from(&mut mix, speech_frames as usize * per_frame);
    let loudness = normalize_loudness(&mut mix, TARGET_LUFS, MAX_TRUE_PEAK_DB);
    (mix, loudness)
}

/// Each target's encoder settings under the bitrate ceiling of `seconds` within the cap.
fn encode_settings(
    req: &ComposeRequest,
    targets: &[Target],
    seconds: f64,
) -> Result<Vec<EncodeSettings>> {
    let max_video_bps = video_bitrate_ceiling(req.max_bytes, seconds)?;
    Ok(targets
        .iter()
        .map(|t| EncodeSettings {
            width: t.width,
            height: t.height,
            fps: OUTPUT_FPS,
            crf: req.crf,
            preset: req.preset.clone(),
            max_video_bps,
            // MEDIA_GPU=auto: NVENC where the device has one (tried once per process).
            try_nvenc: req.try_gpu_encoder || crate::gpu::nvenc_usable(),
        })
        .collect())
}

/// Each target's captions, clear of its circle (without a circle, of its safe area only).
fn caption_tracks(
    req: &ComposeRequest,
    targets: &[Target],
    phrases: &[Phrase],
) -> Vec<CaptionTrack> {
    targets
        .iter()
        .map(|t| {
            let no_circle = CircleRect {
                x: 0,
                y: t.height,
                diameter: 0,
            };
            CaptionTrack::build(
                phrases,
                &TrackLayout {
                    style: req.caption_style,
                    accent: req.caption_accent,
                    width: t.width,
                    height: t.height,
                    area: t.area,
                    circle: if req.circle { t.circle } else { no_circle },
                },
            )
        })
        .collect()
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

/// Where the voice speaks, for captions timed from a script: the measured speech segments
/// within the video (the whole video when there is no voice or it is silent).
fn speech_span(voice: Option<&Stereo>, duration: f64) -> Vec<(f64, f64)> {
    let segments: Vec<(f64, f64)> = voice
        .map(speech_segments)
        .unwrap_or_default()
        .into_iter()
        .filter(|(a, _)| *a < duration)
        .map(|(a, b)| (a, b.min(duration)))
        .collect();
    if segments.iter().map(|(a, b)| b - a).sum::<f64>() < 0.3 {
        vec![(0.0, duration)]
    } else {
        segments
    }
}

/// The frame loop: every output frame's background pictures (one per target), the head's
/// picture drawn in each target's circle, each target's captions, each target's encoder.
fn render(
    job: &Prepared<'_>,
    (backgrounds, spent): (
        mpsc::Receiver<Result<Vec<Yuv420>>>,
        mpsc::Sender<Vec<Yuv420>>,
    ),
    mut head: VideoReader,
    progress: ProgressFn<'_>,
    cancel: &AtomicBool,
) -> Result<&'static str> {
    let head_fit = FrameFit::whole(head.display_w, head.display_h, 1280);
    head.set_fit(head_fit);
    let head_scale = head_fit.out_w as f32 / job.track_source_w as f32;
    let head_len = head.duration_s.max(1.0 / f64::from(OUTPUT_FPS));

    let mut writers = job
        .settings
        .iter()
        .zip(job.targets)
        .map(|(settings, t)| Mp4Writer::create(&t.output, settings))
        .collect::<Result<Vec<_>>>()?;
    let encoder = writers[0].encoder_name;
    let mut overlays: Vec<CircleOverlay> = job
        .targets
        .iter()
        .map(|t| CircleOverlay::new(t.circle, job.req.ring))
        .collect();
    let mut head_picture = Yuv420::new(head_fit.out_w, head_fit.out_h);
    let mut audio: Vec<AudioFeed> = writers
        .iter()
        .map(|_| AudioFeed {
            track: &job.soundtrack,
            written_frames: 0,
        })
        .collect();
    let thumb_index = (job.frames / 2).min(u64::from(OUTPUT_FPS) * 2);
    let samples_per_frame = (SAMPLE_RATE / OUTPUT_FPS) as usize;
    for i in 0..job.frames {
        if cancel.load(Ordering::Relaxed) {
            return Err(MediaError::Cancelled);
        }
        let speaking = i < job.speech_frames;
        let mut pictures = if speaking {
            backgrounds
                .recv()
                .map_err(|_| MediaError::Internal("background reader stopped".into()))??
        } else {
            job.targets
                .iter()
                .map(|t| {
                    t.end_card
                        .clone()
                        .unwrap_or_else(|| Yuv420::new(t.width, t.height))
                })
                .collect()
        };
        let t = i as f64 / f64::from(OUTPUT_FPS);
        let crop = if job.req.circle && speaking {
            head.frame_at(t, &mut head_picture)?;
            let c = job.track.at(t % head_len);
            Some(CropSquare {
                cx: c.cx * head_scale,
                cy: c.cy * head_scale,
                side: c.side * head_scale,
            })
        } else {
            None
        };
        for (k, picture) in pictures.iter_mut().enumerate() {
            if let Some(crop) = crop {
                overlays[k].draw(picture, &head_picture, crop);
            }
            if speaking {
                job.captions[k].draw(picture, t);
            }
            if let Some(logo) = &job.targets[k].logo {
                logo.draw(picture);
            }
            writers[k].write_video(picture, i as i64)?;
            audio[k].feed_until(&mut writers[k], (i as usize + 1) * samples_per_frame)?;
            if i == thumb_index {
                write_thumbnail(picture, &job.targets[k].thumbnail)?;
            }
        }
        // The reader fills them again (it may have stopped: then they are simply dropped).
        if speaking {
            let _ = spent.send(pictures);
        }
        progress(i + 1, job.frames);
    }
    drop(backgrounds);
    for (feed, mut writer) in audio.iter_mut().zip(writers) {
        feed.feed_until(&mut writer, usize::MAX)?;
        writer.finish()?;
    }
    Ok(encoder)
}
