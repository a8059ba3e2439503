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
/// Where the head moves fast, the frames between samples are detected too: this many times
/// the base rate (12 a second).
pub const DENSE_FACTOR: usize = 3;
/// "Fast": the face moved more than this share of its size between two samples.
const FAST_MOVE_FACES: f32 = 0.25;
/// "Still": it moved less than this share of its size between two samples.
const STILL_FACES: f32 = 0.06;
/// Talking-head frames are scanned at this long side: the face fills a good part of the frame,
/// and a 256 px frame costs half of a 360 px one. Faces of 40 px and more are found here
/// ([`crate::faces::MIN_FACE_PX`], 16 % of the long side); smaller ones get the second look.
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

impl VideoFaces {
    /// No detection: the frame's centre square throughout.
    pub fn centred(width: u32, height: u32, duration_s: f64) -> Self {
        let side = width.min(height) as f32;
        VideoFaces {
            width,
            height,
            duration_s,
            samples: Vec::new(),
            track: FaceTrack {
                crops: vec![crate::track::CropSquare {
                    cx: width as f32 / 2.0,
                    cy: height as f32 / 2.0,
                    side,
                }],
                step_s: 1.0,
                samples: 0,
                detections: 0,
                fallback_center: true,
            },
        }
    }
}

/// Detects at [`TRACK_DETECTION_LONG_SIDE`]; when that finds the face in fewer than half the
/// samples (a small face in a wide shot), looks again at [`SMALL_FACE_LONG_SIDE`] before
/// falling back to the centre.
pub fn track_faces_in_video(path: &Path, cancel: Option<&AtomicBool>) -> Result<VideoFaces> {
    let quick = track_at(path, TRACK_DETECTION_LONG_SIDE, cancel)?;
    // Found in most samples: good. Found rarely or never (a small face in a wide shot): look
    // again at the finer size and keep whichever found more.
    if quick.track.detections * 2 >= quick.track.samples.max(1) {
        return Ok(quick);
    }
    let fine = track_at(path, SMALL_FACE_LONG_SIDE, cancel)?;
    let rate = |v: &VideoFaces| v.track.detections as f64 / v.track.samples.max(1) as f64;
    Ok(if rate(&fine) > rate(&quick) {
        fine
    } else {
        quick
    })
}

/// The square searched around the last face: [`SEARCH_FACES`] face sizes wide, inside the
/// frame; `None` when it would cover most of the frame anyway. Returns (x, y, width, height).
fn search_window(
    face: &crate::faces::FaceBox,
    w: usize,
    h: usize,
) -> Option<(usize, usize, usize, usize)> {
    let side = (face.width.max(face.height) * SEARCH_FACES).max(48.0);
    let (cx, cy) = face.center();
    // The corner snaps to a 16 px grid (the side grows to keep the margin): a head that
    // barely moved is searched in exactly the same pixels, so its detection does not jitter
    // with the window's position — it would otherwise look like motion.
    let x0 = ((cx - side / 2.0).clamp(0.0, w as f32) as usize) & !15;
    let y0 = ((cy - side / 2.0).clamp(0.0, h as f32) as usize) & !15;
    let x1 = (((cx + side / 2.0) as usize + 15) & !15).min(w);
    let y1 = (((cy + side / 2.0) as usize + 15) & !15).min(h);
    let (sw, sh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    let least = crate::faces::MIN_FACE_PX as usize;
    if sw < least || sh < least || sw * sh * 10 > w * h * 7 {
        return None;
    }
    Some((x0, y0, sw, sh))
}

/// How many face sizes wide the search around the last face is: a head moving a face size
/// between two looks (fast) still lies wholly inside it; a faster one is searched for again
/// in the whole frame.
const SEARCH_FACES: f32 = 3.0;

/// The second, finer look for small faces (from 8 % of the long side).
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
    // Once a face is known, the next search looks only at a square around it (a few face
    // sizes wide): the detector's cost grows with the pixels it scans, and a head moves less
    // than a face size between samples. A miss there searches the whole frame.
    let (fw, fh) = (fit.out_w, fit.out_h);
    let mut hint: Option<crate::faces::FaceBox> = None;
    let mut window: Vec<u8> = Vec::new();
    let mut detect = |detector: &mut FaceDetector, y: &[u8]| {
        let near = hint.and_then(|h| {
            let (x0, y0, w, h2) = search_window(&h, fw, fh)?;
            window.clear();
            for row in y0..y0 + h2 {
                window.extend_from_slice(&y[row * fw + x0..row * fw + x0 + w]);
            }
            // Nor can it have grown by more than 60 % since (else: the whole frame, any size).
            detector.set_max_face_size(Some((h.width.max(h.height) * 1.6) as u32));
            let found = detector
                .detect_gray(&window, w as u32, h2 as u32)
                .into_iter()
                .next();
            detector.set_max_face_size(None);
            found.map(|f| crate::faces::FaceBox {
                x: f.x + x0 as f32,
                y: f.y + y0 as f32,
                ..f
            })
        });
        let found = near.or_else(|| {
            detector
                .detect_gray(y, fw as u32, fh as u32)
                .into_iter()
                .next()
        });
        hint = found;
        found.map(|f| f.scaled(back))
    };
    // Every sample step, the frames in between are kept (small grey copies); they are looked
    // at only when the head moved fast or was lost since the last sample — dense detection
    // where the motion needs it, at no cost where it does not.
    let fine = DENSE_FACTOR;
    let step = 1.0 / (SAMPLES_PER_SECOND * fine as f64);
    let count = ((duration / step).ceil() as usize).max(1);
    let mut samples: Vec<FaceSample> = Vec::new();
    let mut between: Vec<(f64, Vec<u8>)> = Vec::new();
    let mut last: Option<crate::faces::FaceBox> = None;
    // A head that barely moved between the last two samples is looked at every other sample
    // (its frames kept like the in-between ones, in case it starts moving).
    let (mut still, mut skipped) = (false, false);
    for i in 0..count {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(MediaError::Cancelled);
        }
        let t = i as f64 * step;
        if !reader.frame_at(t, &mut picture)? {
            break;
        }
        let skip = i % fine == 0 && still && !skipped;
        if i % fine != 0 || skip {
            between.push((t, picture.y.clone()));
            skipped |= skip;
            continue;
        }
        skipped = false;
        let face = detect(&mut detector, &picture.y);
        let fast = match (last, face) {
            (Some(a), Some(b)) => {
                let (ax, ay) = a.center();
                let (bx, by) = b.center();
                (ax - bx).hypot(ay - by) > FAST_MOVE_FACES * a.height.max(8.0)
                    || (a.height - b.height).abs() > 0.2 * a.height
            }
            (None, None) => false,
            _ => true,
        };
        if fast && i > 0 {
            for (tb, y) in between.drain(..) {
                samples.push(FaceSample {
                    time_s: tb,
                    face: detect(&mut detector, &y),
                });
            }
        }
        still = match (last, face) {
            (Some(a), Some(b)) => {
                let (ax, ay) = a.center();
                let (bx, by) = b.center();
                (ax - bx).hypot(ay - by) < STILL_FACES * a.height.max(8.0)
                    && (a.height - b.height).abs() < 0.08 * a.height
            }
            _ => false,
        };
        between.clear();
        samples.push(FaceSample { time_s: t, face });
        last = face.or(last);
    }
    // The frames after the last sample: the clip's end is followed as closely as the rest.
    for (tb, y) in between.drain(..) {
        samples.push(FaceSample {
            time_s: tb,
            face: detect(&mut detector, &y),
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::FaceBox;

    fn face(x: f32, y: f32, size: f32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: size,
            height: size,
            score: 10.0,
        }
    }

    #[test]
    fn the_search_window_surrounds_the_face_on_a_16_px_grid_inside_the_frame() {
        let (x, y, w, h) = search_window(&face(100.0, 60.0, 40.0), 256, 256).unwrap();
        assert!(x % 16 == 0 && y % 16 == 0, "corner ({x}, {y}) on the grid");
        // The face with a face size of margin on every side lies inside.
        assert!(x as f32 <= 60.0 && y as f32 <= 20.0);
        assert!((x + w) as f32 >= 180.0 && (y + h) as f32 >= 140.0);
        assert!(x + w <= 256 && y + h <= 256);
        // A face that moved 3 px is searched in exactly the same pixels (no jitter).
        assert_eq!(
            search_window(&face(103.0, 61.0, 40.0), 256, 256),
            Some((x, y, w, h))
        );
        // Near the edge the window is cut at the frame.
        let (x, y, w, h) = search_window(&face(0.0, 210.0, 40.0), 256, 256).unwrap();
        assert_eq!((x, y + h), (0, 256));
        assert!(w >= 40);
    }

    #[test]
    fn a_face_filling_most_of_the_frame_is_searched_in_the_whole_frame() {
        assert_eq!(search_window(&face(40.0, 40.0, 170.0), 256, 256), None);
    }
}
