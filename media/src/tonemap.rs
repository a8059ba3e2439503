//! HDR phone clips (iPhone HLG, PQ from other phones) turned into SDR BT.709 so they do not
//! look washed out: 10-bit BT.2020 YUV → linear light (PQ EOTF or HLG inverse OETF + OOTF) →
//! BT.709 primaries → a soft-knee curve that keeps diffuse white bright and rolls highlights
//! off → BT.709 gamma → 8-bit limited-range YUV 4:2:0.
use ffmpeg_next as ff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrTransfer {
    Pq,
    Hlg,
}

impl HdrTransfer {
    /// The transfer of a stream's colour parameters, when it is HDR.
    pub fn from_trc(trc: ff::ffi::AVColorTransferCharacteristic) -> Option<Self> {
        match trc {
            ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 => Some(Self::Pq),
            ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 => Some(Self::Hlg),
            _ => None,
        }
    }
}

/// Nits that map to SDR white (BT.2408 HDR reference white).
const REFERENCE_WHITE_NITS: f32 = 203.0;
/// Below this (in units of reference white) light passes unchanged; above, it is rolled off.
const KNEE: f32 = 0.75;

/// Linear light in units of reference white for each 10-bit-quantised non-linear value.
fn eotf_table(transfer: HdrTransfer) -> Vec<f32> {
    (0..1024)
        .map(|i| {
            let e = i as f32 / 1023.0;
            let nits = match transfer {
                HdrTransfer::Pq => pq_eotf(e) * 10_000.0,
                // Scene light × the 1000-nit display's system gamma (applied per channel: a
                // close and cheap approximation of the luminance-based OOTF).
                HdrTransfer::Hlg => hlg_inverse_oetf(e).powf(1.2) * 1000.0,
            };
            nits / REFERENCE_WHITE_NITS
        })
        .collect()
}

pub fn pq_eotf(e: f32) -> f32 {
    let (m1, m2) = (0.159_301_76, 78.843_75);
    let (c1, c2, c3) = (0.835_937_5, 18.851_563, 18.6875);
    let p = e.max(0.0).powf(1.0 / m2);
    ((p - c1).max(0.0) / (c2 - c3 * p)).powf(1.0 / m1)
}

pub fn hlg_inverse_oetf(e: f32) -> f32 {
    let (a, b, c) = (0.178_832_77, 0.284_668_92, 0.559_910_7);
    if e <= 0.5 {
        e * e / 3.0
    } else {
        (((e - c) / a).exp() + b) / 12.0
    }
}

/// Soft knee: identity up to [`KNEE`], then an exponential approach to 1.
pub fn roll_off(l: f32) -> f32 {
    if l <= KNEE {
        l.max(0.0)
    } else {
        KNEE + (1.0 - KNEE) * (1.0 - (-(l - KNEE) / (1.0 - KNEE)).exp())
    }
}

/// Converts `src` (YUV420P10LE, BT.2020) into `dst` (YUV420P, BT.709), same size.
pub struct ToneMapper {
    eotf: Vec<f32>,
    gamma: Vec<u8>,
}

const GAMMA_STEPS: usize = 4096;

impl ToneMapper {
    pub fn new(transfer: HdrTransfer) -> Self {
        // BT.709 encoding of linear light in [0, 1], as 0–255 non-linear values.
        let gamma = (0..GAMMA_STEPS)
            .map(|i| {
                let l = i as f32 / (GAMMA_STEPS - 1) as f32;
                (l.powf(1.0 / 2.4) * 255.0).round() as u8
            })
            .collect();
        Self {
            eotf: eotf_table(transfer),
            gamma,
        }
    }

    /// One pixel: 10-bit limited-range BT.2020 Y'CbCr → 8-bit full-range BT.709 R'G'B'.
    fn pixel(&self, y: u16, cb: f32, cr: f32) -> [f32; 3] {
        let yn = (f32::from(y) - 64.0) / 876.0;
        let r = yn + 1.4746 * cr;
        let g = yn - 0.164_55 * cb - 0.571_35 * cr;
        let b = yn + 1.8814 * cb;
        let lin = |v: f32| self.eotf[(v.clamp(0.0, 1.0) * 1023.0).round() as usize];
        let (r, g, b) = (lin(r), lin(g), lin(b));
        // BT.2020 → BT.709 primaries.
        let r7 = 1.6605 * r - 0.5876 * g - 0.0728 * b;
        let g7 = -0.1246 * r + 1.1329 * g - 0.0083 * b;
        let b7 = -0.0182 * r - 0.1006 * g + 1.1187 * b;
        // Roll off on the brightest channel so hues keep their ratios.
        let peak = r7.max(g7).max(b7);
        let k = if peak > KNEE {
            roll_off(peak) / peak
        } else {
            1.0
        };
        let enc = |v: f32| {
            f32::from(self.gamma[((v * k).clamp(0.0, 1.0) * (GAMMA_STEPS - 1) as f32) as usize])
        };
        [enc(r7), enc(g7), enc(b7)]
    }

    pub fn convert(&self, src: &ff::frame::Video, dst: &mut ff::frame::Video) {
        let (w, h) = (src.width() as usize, src.height() as usize);
        let sample = |plane: usize, x: usize, y: usize| -> u16 {
            let d = src.data(plane);
            let o = y * src.stride(plane) + 2 * x;
            u16::from_le_bytes([d[o], d[o + 1]])
        };
        let (ys, us, vs) = (dst.stride(0), dst.stride(1), dst.stride(2));
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                let cb = (f32::from(sample(1, cx, cy)) - 512.0) / 896.0;
                let cr = (f32::from(sample(2, cx, cy)) - 512.0) / 896.0;
                let mut sum = [0.0f32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (2 * cx + dx, 2 * cy + dy);
                    let [r, g, b] = self.pixel(sample(0, x, y), cb, cr);
                    let luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                    dst.data_mut(0)[y * ys + x] = (16.0 + luma * 219.0 / 255.0).round() as u8;
                    sum[0] += r;
                    sum[1] += g;
                    sum[2] += b;
                }
                let [r, g, b] = sum.map(|v| v / 4.0);
                let luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                let u = 128.0 + (b - luma) / 1.8556 * 224.0 / 255.0;
                let v = 128.0 + (r - luma) / 1.5748 * 224.0 / 255.0;
                dst.data_mut(1)[cy * us + cx] = u.round().clamp(16.0, 240.0) as u8;
                dst.data_mut(2)[cy * vs + cx] = v.round().clamp(16.0, 240.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pq_reference_white_and_peak() {
        // PQ code 0.58 is about 203 nits; 1.0 is 10 000 nits.
        assert!(
            (pq_eotf(0.58) * 10_000.0 - 203.0).abs() < 6.0,
            "{}",
            pq_eotf(0.58) * 10_000.0
        );
        assert!((pq_eotf(1.0) - 1.0).abs() < 1e-4);
        assert!((hlg_inverse_oetf(0.5) - 1.0 / 12.0).abs() < 1e-6);
        assert!((hlg_inverse_oetf(1.0) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn knee_keeps_midtones_and_never_exceeds_white() {
        assert_eq!(roll_off(0.5), 0.5);
        assert!(roll_off(1.0) > 0.85 && roll_off(1.0) < 1.0);
        assert!(roll_off(50.0) <= 1.0);
        assert!(roll_off(2.0) > roll_off(1.5));
    }

    #[test]
    fn hdr_reference_white_becomes_bright_sdr_grey() {
        let tm = ToneMapper::new(HdrTransfer::Pq);
        let y10 = (64.0 + 0.58 * 876.0) as u16;
        let [r, g, b] = tm.pixel(y10, 0.0, 0.0);
        assert!(
            r > 220.0 && (r - g).abs() < 2.0 && (g - b).abs() < 2.0,
            "{r} {g} {b}"
        );
    }
}
