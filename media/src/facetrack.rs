//! Following the face through a talking-head video: decode, detect on a downscaled copy of
//! sampled frames, and smooth the result into a crop path (see [`crate::track`]).
use crate::error::{MediaError, Result};
use crate::faces::{FaceDetector, DETECTION_LONG_SIDE};
use crate::track::{build_track, FaceSample, FaceTrack, TrackParams};
use crate::video_in::{FrameFit, VideoReader};
use crate::yuv::Yuv420;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Detections per second of video: enough to follow a head, cheap enough for 2 cores.
pub const SAMPLES_PER_SECOND: f64 = 4.0;
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

pub fn track_faces_in_video(path: &Path, cancel: Option<&AtomicBool>) -> Result<VideoFaces> {
    let mut reader = VideoReader::open(path, true)?;
    let (dw, dh) = (reader.display_w, reader.display_h);
    let fit = FrameFit::whole(dw, dh, DETECTION_LONG_SIDE);
    reader.set_fit(fit);
    let back = dw as f32 / fit.out_w as f32;
    let duration = reader.duration_s.max(0.04);
    let mut picture = Yuv420::new(fit.out_w, fit.out_h);
    let mut detector = FaceDetector::new();
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
            .map(|f| crate::faces::FaceBox { x: f.x * back, y: f.y * back, width: f.width * back, height: f.height * back, score: f.score });
        samples.push(FaceSample { time_s: t, face });
    }
    let track = build_track(&samples, dw, dh, duration, 1.0 / TRACK_RATE, TrackParams::default());
    Ok(VideoFaces { width: dw, height: dh, duration_s: duration, samples, track })
}
