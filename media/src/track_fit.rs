//! The fitting behind the crop path: tricube-weighted local polynomials of the face's centre
//! (its position, speed and acceleration around a moment) and a moving average whose width
//! varies along the path.
use crate::faces::FaceBox;

/// Weighted least-squares polynomial (order 1 or 2) of the face centres within `window`
/// seconds of `t` (tricube weights), in u = (ts − t) / window: the x and y coefficients.
/// `None` when the window holds too few points on both sides.
fn local_poly(
    kept: &[(f64, FaceBox)],
    t: f64,
    window: f64,
    order: usize,
) -> Option<([f64; 3], [f64; 3])> {
    let lo = kept.partition_point(|(ts, _)| *ts < t - window);
    let hi = kept.partition_point(|(ts, _)| *ts <= t + window);
    let pts = &kept[lo..hi];
    let both_sides = pts.first().is_some_and(|p| p.0 < t) && pts.last().is_some_and(|p| p.0 > t);
    // Past the first or last detection a line carries the motion on (a head does not stop
    // because the detections do); a curve is only fitted between detections.
    let order = if both_sides { order } else { 1 };
    if pts.len() < order + 2 {
        return None;
    }
    let n = order + 1;
    let mut m = [[0.0f64; 3]; 3];
    let (mut bx, mut by) = ([0.0f64; 3], [0.0f64; 3]);
    for (ts, f) in pts {
        let u = (ts - t) / window;
        let wgt = (1.0 - u.abs().powi(3)).max(0.0).powi(3) + 1e-6;
        let basis = [1.0, u, u * u];
        let (cx, cy) = f.center();
        for i in 0..n {
            for j in 0..n {
                m[i][j] += wgt * basis[i] * basis[j];
            }
            bx[i] += wgt * basis[i] * f64::from(cx);
            by[i] += wgt * basis[i] * f64::from(cy);
        }
    }
    Some((solve_small(&m, &bx, n)?, solve_small(&m, &by, n)?))
}

/// The head's speed and acceleration magnitudes (px/s, px/s²) around `t`.
pub(crate) fn motion(kept: &[(f64, FaceBox)], t: f64, window: f64) -> (f32, f32) {
    match local_poly(kept, t, window, 2) {
        Some((x, y)) => {
            let v = x[1].hypot(y[1]) / window;
            let a = 2.0 * x[2].hypot(y[2]) / (window * window);
            (v as f32, a as f32)
        }
        None => (0.0, 0.0),
    }
}

/// The centre at `t` from a local quadratic fit.
pub(crate) fn local_quadratic(kept: &[(f64, FaceBox)], t: f64, window: f64) -> Option<(f32, f32)> {
    local_poly(kept, t, window, 2).map(|(x, y)| (x[0] as f32, y[0] as f32))
}

/// Centred moving average whose half-width varies per point.
pub(crate) fn variable_average(points: &[(f32, f32)], radii: &[usize]) -> Vec<(f32, f32)> {
    let last = points.len().saturating_sub(1) as isize;
    (0..points.len())
        .map(|i| {
            let r = radii[i] as isize;
            let (sx, sy) = (i as isize - r..=i as isize + r)
                .map(|j| points[j.clamp(0, last) as usize])
                .fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
            let n = (2 * r + 1) as f32;
            (sx / n, sy / n)
        })
        .collect()
}

/// Solves the leading `n`×`n` block of `m`·x = `b` (Gaussian elimination with pivoting).
fn solve_small(m: &[[f64; 3]; 3], b: &[f64; 3], n: usize) -> Option<[f64; 3]> {
    let mut a = [[0.0f64; 4]; 3];
    for i in 0..n {
        a[i][..n].copy_from_slice(&m[i][..n]);
        a[i][3] = b[i];
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..n {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col];
                for (v, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut x = [0.0f64; 3];
    for i in 0..n {
        x[i] = a[i][3] / a[i][i];
    }
    Some(x)
}
