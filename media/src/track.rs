//! Turning sparse, noisy face detections into a smooth crop path: pick one face per sample,
//! drop outliers, fit the centre locally (a window that narrows with the head's speed, so a
//! fast head is followed without lag and a still one does not jitter), bridge gaps, and let
//! the crop size follow the face slowly.
use crate::faces::FaceBox;
use crate::track_fit::{local_quadratic, motion, variable_average};
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
///
/// The centre at each step is a local quadratic fit (tricube-weighted) of the detections
/// around it, in a window that narrows where the head moves fast — a quadratic follows a
/// turning head without the lag of an average — then lightly averaged so it glides from frame
/// to frame. The size follows the face slowly (a zoom is followed, detector noise is not).
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
    let mut sizes: Vec<f32> = kept.iter().map(|(_, f)| f.height.max(f.width)).collect();
    sizes.sort_by(f32::total_cmp);
    let median_face = sizes[sizes.len() / 2];
    let times: Vec<f64> = (0..steps).map(|i| i as f64 * step_s).collect();
    // How lively the head is around each step, in face sizes per second: its speed plus what
    // its acceleration adds over half the window (a turning head is fast too), from a wide
    // quadratic fit. 0 = still, 1 = fast.
    let wide = params.smoothing_s;
    let raw_k: Vec<(f32, f32)> = times
        .iter()
        .map(|t| {
            let (v, a) = motion(&kept, *t, wide);
            let m = (v + a * wide as f32 / 2.0) / median_face.max(1.0);
            (((m - 0.25) / 1.25).clamp(0.0, 1.0), 0.0)
        })
        .collect();
    let k_radius = ((0.15 / step_s).round() as usize).max(1);
    let liveliness: Vec<f32> = moving_average(&raw_k, k_radius)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // A still head: the detections joined by lines, then a wide average (noise is flattened).
    // A moving one: a local quadratic over a short window (it follows a turn without lag),
    // then a short average. Blended in between, so the path has no seams.
    let raw: Vec<(f32, f32)> = times
        .iter()
        .zip(&liveliness)
        .map(|(t, k)| {
            let (lx, ly) = interpolate_center(&kept, *t);
            if *k == 0.0 {
                return (lx, ly);
            }
            let window = wide * (1.0 - 0.6 * f64::from(*k));
            let (qx, qy) = local_quadratic(&kept, *t, window).unwrap_or((lx, ly));
            (lx + (qx - lx) * k, ly + (qy - ly) * k)
        })
        .collect();
    let radii: Vec<usize> = liveliness
        .iter()
        .map(|k| {
            let seconds = wide / 2.0 * (1.0 - 0.8 * f64::from(*k));
            ((seconds / step_s).round() as usize).max(1)
        })
        .collect();
    let smooth = variable_average(&variable_average(&raw, &radii), &radii);
    // The size: the face's, averaged over about a second either side.
    let size_radius = ((0.5 / step_s).round() as usize).max(1);
    let raw_sizes: Vec<(f32, f32)> = times
        .iter()
        .map(|t| (interpolate_size(&kept, *t), 0.0))
        .collect();
    let sizes = moving_average(&moving_average(&raw_sizes, size_radius), size_radius);
    let crops = smooth
        .into_iter()
        .zip(sizes)
        .map(|((cx, cy), (face, _))| {
            let side = (face * params.face_to_crop).clamp(16.0_f32.min(max_side), max_side);
            clamp_inside(CropSquare { cx, cy, side }, w, h)
        })
        .collect();
    FaceTrack {
        crops,
        step_s,
        samples: samples.len(),
        detections,
        fallback_center: false,
    }
}

fn interpolate_size(kept: &[(f64, FaceBox)], t: f64) -> f32 {
    interpolate(kept, t, |f| (f.height.max(f.width), 0.0)).0
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
    interpolate(kept, t, FaceBox::center)
}

/// A pair of values of the detections (`of`) at `t`: linear between the two around it, held
/// at the ends.
fn interpolate(kept: &[(f64, FaceBox)], t: f64, of: impl Fn(&FaceBox) -> (f32, f32)) -> (f32, f32) {
    let after = kept.partition_point(|(ts, _)| *ts < t);
    if after == 0 {
        return of(&kept[0].1);
    }
    if after == kept.len() {
        return of(&kept[kept.len() - 1].1);
    }
    let (t0, f0) = kept[after - 1];
    let (t1, f1) = kept[after];
    let a = if t1 > t0 {
        ((t - t0) / (t1 - t0)) as f32
    } else {
        0.0
    };
    let ((x0, y0), (x1, y1)) = (of(&f0), of(&f1));
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

    /// Off-centre distances (share of the crop side) of a track against the true path.
    fn errors(t: &FaceTrack, truth: impl Fn(f64) -> (f32, f32), from: f64, to: f64) -> Vec<f32> {
        let mut e: Vec<f32> = (0..)
            .map(|k| from + k as f64 / 30.0)
            .take_while(|x| *x < to)
            .map(|x| {
                let c = t.at(x);
                let (tx, ty) = truth(x);
                (c.cx - tx).hypot(c.cy - ty) / c.side
            })
            .collect();
        e.sort_by(f32::total_cmp);
        e
    }

    #[test]
    fn a_fast_gliding_zooming_head_is_followed_without_lag() {
        // ±150 px with a 2 s period, ±70 px vertically, the face zooming ±15 % (3 s period);
        // detections at 12 Hz with ±4 px of detector noise.
        let truth = |t: f64| {
            let a = std::f64::consts::PI * t;
            (
                (480.0 + 150.0 * a.sin()) as f32,
                (320.0 + 70.0 * (a + 1.0).sin()) as f32,
            )
        };
        let samples: Vec<FaceSample> = (0..72)
            .map(|i| {
                let t = i as f64 / 12.0;
                let (x, y) = truth(t);
                let noise = if i % 2 == 0 { 4.0 } else { -4.0 };
                let size =
                    150.0 * (1.0 + 0.15 * (2.0 * std::f64::consts::PI * t / 3.0).sin()) as f32;
                FaceSample {
                    time_s: t,
                    face: Some(face_at(x + noise, y - noise, size)),
                }
            })
            .collect();
        let t = build_track(&samples, 1280, 960, 6.0, 1.0 / 30.0, TrackParams::default());
        let e = errors(&t, truth, 0.5, 5.5);
        let (median, p90) = (e[e.len() / 2], e[e.len() * 9 / 10]);
        assert!(
            median < 0.02 && p90 < 0.04,
            "median {median:.3} p90 {p90:.3}"
        );
        // The crop follows the zoom: bigger when the face is bigger.
        assert!(
            t.at(0.75).side > t.at(2.25).side * 1.15,
            "{} vs {}",
            t.at(0.75).side,
            t.at(2.25).side
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
