//! Turning sparse, noisy face detections into a smooth crop path: pick one face per sample,
//! drop outliers, interpolate across gaps, smooth the centre with a zero-lag moving average and
//! hold the crop size steady, so the circle never jitters or jumps.
use crate::faces::FaceBox;
use serde::Serialize;

/// A detection (or none) at a moment of the talking head.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FaceSample {
    pub time_s: f64,
    pub face: Option<FaceBox>,
}

/// The square of the source frame shown in the circle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CropSquare {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
}

impl CropSquare {
    pub fn left(&self) -> f32 {
        self.cx - self.side / 2.0
    }
    pub fn top(&self) -> f32 {
        self.cy - self.side / 2.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FaceTrack {
    /// Crop for each step of `step_s` from time 0.
    pub crops: Vec<CropSquare>,
    pub step_s: f64,
    pub samples: usize,
    pub detections: usize,
    /// True when no face was found at all and the frame centre was used.
    pub fallback_center: bool,
}

impl FaceTrack {
    /// The crop at time `t` (held at the ends).
    pub fn at(&self, t: f64) -> CropSquare {
        let i =
            ((t / self.step_s).round().max(0.0) as usize).min(self.crops.len().saturating_sub(1));
        self.crops[i]
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TrackParams {
    /// Crop side as a multiple of the detected face height (head, hair and a little shoulder).
    pub face_to_crop: f32,
    /// Width of each of the two centred moving-average passes, in seconds.
    pub smoothing_s: f64,
    /// A detection whose centre is further than this many face sizes from its neighbours is a
    /// false positive.
    pub outlier_faces: f32,
}

impl Default for TrackParams {
    fn default() -> Self {
        Self {
            face_to_crop: 2.2,
            smoothing_s: 0.8,
            outlier_faces: 0.8,
        }
    }
}

/// Builds a dense crop path for a `width`×`height` source lasting `duration_s`.
pub fn build_track(
    samples: &[FaceSample],
    width: u32,
    height: u32,
    duration_s: f64,
    step_s: f64,
    params: TrackParams,
) -> FaceTrack {
    let (w, h) = (width as f32, height as f32);
    let steps = ((duration_s / step_s).ceil() as usize).max(1);
    let kept = reject_outliers(samples, params.outlier_faces);
    let detections = samples.iter().filter(|s| s.face.is_some()).count();
    let max_side = w.min(h);
    if kept.is_empty() {
        let c = CropSquare {
            cx: w / 2.0,
            cy: h / 2.0,
            side: max_side,
        };
        return FaceTrack {
            crops: vec![c; steps],
            step_s,
            samples: samples.len(),
            detections,
            fallback_center: true,
        };
    }
    // One steady size for the whole clip: the median face, so the circle never "breathes".
    let mut sizes: Vec<f32> = kept.iter().map(|(_, f)| f.height.max(f.width)).collect();
    sizes.sort_by(f32::total_cmp);
    let side =
        (sizes[sizes.len() / 2] * params.face_to_crop).clamp(16.0_f32.min(max_side), max_side);

    let raw: Vec<(f32, f32)> = (0..steps)
        .map(|i| interpolate_center(&kept, i as f64 * step_s))
        .collect();
    let radius = ((params.smoothing_s / step_s / 2.0).round() as usize).max(1);
    // Two box passes make a triangular kernel: detector noise at a few hertz is flattened
    // while a real head movement still gets through without lag.
    let smooth = moving_average(&moving_average(&raw, radius), radius);
    let crops = smooth
        .into_iter()
        .map(|(cx, cy)| clamp_inside(CropSquare { cx, cy, side }, w, h))
        .collect();
    FaceTrack {
        crops,
        step_s,
        samples: samples.len(),
        detections,
        fallback_center: false,
    }
}

/// Keeps one face per sample and drops those far from the median of their neighbours.
fn reject_outliers(samples: &[FaceSample], outlier_faces: f32) -> Vec<(f64, FaceBox)> {
    let found: Vec<(f64, FaceBox)> = samples
        .iter()
        .filter_map(|s| s.face.map(|f| (s.time_s, f)))
        .collect();
    if found.len() < 3 {
        return found;
    }
    let mut kept = Vec::with_capacity(found.len());
    for i in 0..found.len() {
        let lo = i.saturating_sub(3);
        let hi = (i + 4).min(found.len());
        let mut xs: Vec<f32> = found[lo..hi].iter().map(|(_, f)| f.center().0).collect();
        let mut ys: Vec<f32> = found[lo..hi].iter().map(|(_, f)| f.center().1).collect();
        xs.sort_by(f32::total_cmp);
        ys.sort_by(f32::total_cmp);
        let (mx, my) = (xs[xs.len() / 2], ys[ys.len() / 2]);
        let (cx, cy) = found[i].1.center();
        let limit = found[i].1.height.max(8.0) * outlier_faces;
        if (cx - mx).hypot(cy - my) <= limit {
            kept.push(found[i]);
        }
    }
    kept
}

fn interpolate_center(kept: &[(f64, FaceBox)], t: f64) -> (f32, f32) {
    let after = kept.partition_point(|(ts, _)| *ts < t);
    if after == 0 {
        return kept[0].1.center();
    }
    if after == kept.len() {
        return kept[kept.len() - 1].1.center();
    }
    let (t0, f0) = kept[after - 1];
    let (t1, f1) = kept[after];
    let a = if t1 > t0 {
        ((t - t0) / (t1 - t0)) as f32
    } else {
        0.0
    };
    let (x0, y0) = f0.center();
    let (x1, y1) = f1.center();
    (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a)
}

/// Centred (zero-lag) moving average; the ends are padded with their own value so the window
/// stays full and the first and last frames are smoothed like the rest.
pub fn moving_average(points: &[(f32, f32)], radius: usize) -> Vec<(f32, f32)> {
    let last = points.len().saturating_sub(1) as isize;
    let n = (2 * radius + 1) as f32;
    (0..points.len() as isize)
        .map(|i| {
            let (sx, sy) = (i - radius as isize..=i + radius as isize)
                .map(|j| points[j.clamp(0, last) as usize])
                .fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
            (sx / n, sy / n)
        })
        .collect()
}

/// Moves a square inside the frame (its size is at most the short side already).
pub fn clamp_inside(c: CropSquare, w: f32, h: f32) -> CropSquare {
    let half = c.side / 2.0;
    CropSquare {
        cx: c.cx.clamp(half, (w - half).max(half)),
        cy: c.cy.clamp(half, (h - half).max(half)),
        side: c.side,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(x: f32, y: f32, size: f32) -> FaceBox {
        FaceBox {
            x: x - size / 2.0,
            y: y - size / 2.0,
            width: size,
            height: size,
            score: 5.0,
        }
    }

    #[test]
    fn no_detection_falls_back_to_the_frame_centre() {
        let samples: Vec<FaceSample> = (0..10)
            .map(|i| FaceSample {
                time_s: i as f64 * 0.25,
                face: None,
            })
            .collect();
        let t = build_track(&samples, 640, 480, 2.5, 1.0 / 30.0, TrackParams::default());
        assert!(t.fallback_center);
        assert_eq!(
            t.at(1.0),
            CropSquare {
                cx: 320.0,
                cy: 240.0,
                side: 480.0
            }
        );
    }

    #[test]
    fn jittery_detections_give_a_smooth_path() {
        // Detections wobble ±6 px around a fixed point every sample.
        let samples: Vec<FaceSample> = (0..40)
            .map(|i| {
                let wobble = if i % 2 == 0 { 6.0 } else { -6.0 };
                FaceSample {
                    time_s: i as f64 * 0.25,
                    face: Some(face_at(300.0 + wobble, 200.0 - wobble, 80.0)),
                }
            })
            .collect();
        let t = build_track(&samples, 640, 480, 10.0, 1.0 / 30.0, TrackParams::default());
        let max_step = t
            .crops
            .windows(2)
            .map(|w| (w[1].cx - w[0].cx).abs().max((w[1].cy - w[0].cy).abs()))
            .fold(0.0, f32::max);
        assert!(max_step < 1.0, "frame-to-frame step {max_step} px");
        assert!((t.at(5.0).cx - 300.0).abs() < 3.0);
    }

    #[test]
    fn gaps_are_bridged_and_a_false_positive_is_ignored() {
        let mut samples: Vec<FaceSample> = (0..20)
            .map(|i| FaceSample {
                time_s: i as f64 * 0.25,
                face: Some(face_at(100.0 + i as f32 * 10.0, 240.0, 60.0)),
            })
            .collect();
        for s in &mut samples[8..12] {
            s.face = None; // the face turned away for a second
        }
        samples[15].face = Some(face_at(600.0, 50.0, 40.0)); // a poster on the wall
        let t = build_track(&samples, 640, 480, 5.0, 1.0 / 30.0, TrackParams::default());
        assert!(!t.fallback_center);
        let mid = t.at(2.5); // inside the gap: between the faces at 2.0 s (180 px) and 3.0 s (220 px)
        assert!((mid.cx - 200.0).abs() < 8.0, "bridged centre {}", mid.cx);
        let near_outlier = t.at(3.75);
        assert!(
            (near_outlier.cy - 240.0).abs() < 5.0,
            "outlier pulled the crop to {}",
            near_outlier.cy
        );
        assert!(
            t.crops.iter().all(|c| (c.side - 132.0).abs() < 0.01),
            "size must stay constant"
        );
    }

    #[test]
    fn crops_stay_inside_the_frame() {
        let samples = [FaceSample {
            time_s: 0.0,
            face: Some(face_at(5.0, 5.0, 100.0)),
        }];
        let t = build_track(&samples, 320, 240, 1.0, 0.1, TrackParams::default());
        let c = t.at(0.5);
        assert!(
            c.left() >= 0.0
                && c.top() >= 0.0
                && c.left() + c.side <= 320.0
                && c.top() + c.side <= 240.0
        );
    }
}
