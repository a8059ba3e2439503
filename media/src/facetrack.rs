//! Following the face through a talking-head video: decode, detect on a downscaled copy of
//! sampled frames, and smooth the result into a crop path (see [`crate::track`]).
use crate::error::{MediaError, Result};
use crate::faces::FaceDetector;
use crate::track::{build_track, FaceSample, FaceTrack, TrackParams};
use crate::video_in::{FrameFit, VideoReader};
use crate::yuv::Yuv420;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Detections per second of video: enough to follow a head, cheap enough for 2 cores.
pub const SAMPLES_PER_SECOND: f64 = 4.0;
/// Talking-head frames are scanned at this long side: the face fills a good part of the frame,
/// so it is still 30+ px here, and a 256 px frame costs half of a 360 px one.
pub const TRACK_DETECTION_LONG_SIDE: u32 = 256;
/// The crop path has one entry per output frame at this rate.
pub const TRACK_RATE: f64 = 30.0;

#[derive(Debug, Clone, Serialize)]
pub struct VideoFaces {
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
    /// Detections in display pixels of the source.
    pub samples: Vec<FaceSample>,
    pub track: FaceTrack,
}

/// Detects at [`TRACK_DETECTION_LONG_SIDE`]; when that finds no face at all (a small face in a
/// wide shot), looks again at [`SMALL_FACE_LONG_SIDE`] before falling back to the centre.
pub fn track_faces_in_video(path: &Path, cancel: Option<&AtomicBool>) -> Result<VideoFaces> {
    let quick = track_at(path, TRACK_DETECTION_LONG_SIDE, cancel)?;
    if !quick.track.fallback_center {
        return Ok(quick);
    }
    track_at(path, SMALL_FACE_LONG_SIDE, cancel)
}

/// The second, finer look for small faces.
pub const SMALL_FACE_LONG_SIDE: u32 = 480;

fn track_at(path: &Path, long_side: u32, cancel: Option<&AtomicBool>) -> Result<VideoFaces> {
    let mut reader = VideoReader::open(path, Some((long_side * long_side) as usize))?;
    let (dw, dh) = (reader.display_w, reader.display_h);
    let fit = FrameFit::whole(dw, dh, long_side);
    reader.set_fit(fit);
    let back = dw as f32 / fit.out_w as f32;
    let duration = reader.duration_s.max(0.04);
    let mut picture = Yuv420::new(fit.out_w, fit.out_h);
    let mut detector = FaceDetector::new();
    detector.set_min_face_size((fit.out_w.min(fit.out_h) / 10) as u32);
    let mut samples = Vec::new();
    let count = ((duration * SAMPLES_PER_SECOND).ceil() as usize).max(1);
    for i in 0..count {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(MediaError::Cancelled);
        }
        let t = i as f64 / SAMPLES_PER_SECOND;
        if !reader.frame_at(t, &mut picture)? {
            break;
        }
        let face = detector
            .detect_gray(&picture.y, fit.out_w as u32, fit.out_h as u32)
            .into_iter()
            .next()
            .map(|f| crate::faces::FaceBox {
                x: f.x * back,
                y: f.y * back,
                width: f.width * back,
                height: f.height * back,
                score: f.score,
            });
        samples.push(FaceSample { time_s: t, face });
    }
    let track = build_track(
        &samples,
        dw,
        dh,
        duration,
        1.0 / TRACK_RATE,
        TrackParams::default(),
    );
    Ok(VideoFaces {
        width: dw,
        height: dh,
        duration_s: duration,
        samples,
        track,
    })
}
