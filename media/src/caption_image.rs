//! A rendered caption: glyph coverage in one colour over a backing — an outline (classic,
//! karaoke, bold-pop) or a rounded translucent box — in another, blended into YUV planes,
//! clipped on every side; scaled copies make the "pop" of the animated styles.
use crate::overlay::rgb_to_yuv709;
use crate::text::TextLayout;
use crate::yuv::Yuv420;

/// A rendered caption: glyph coverage in one colour over a backing (outline or box) in
/// another, with the backing's opacity.
#[derive(Debug, Clone)]
pub struct CaptionImage {
    pub width: usize,
    pub height: usize,
    pub fill: Vec<u8>,
    pub back: Vec<u8>,
    pub fill_yuv: (u8, u8, u8),
    pub back_yuv: (u8, u8, u8),
    pub back_opacity: u8,
}

pub const WHITE: (u8, u8, u8) = (255, 255, 255);
const NEAR_BLACK: (u8, u8, u8) = (12, 12, 12);

/// White (or `color`) glyphs with a dark outline: the classic caption.
pub fn outlined(layout: &TextLayout, only: Option<usize>, color: (u8, u8, u8)) -> CaptionImage {
    let fill = layout.rasterize(only);
    let back = dilate(&fill, layout.width, layout.height, layout.stroke_radius());
    CaptionImage {
        width: layout.width,
        height: layout.height,
        fill,
        back,
        fill_yuv: rgb_to_yuv709(color.0, color.1, color.2),
        back_yuv: rgb_to_yuv709(NEAR_BLACK.0, NEAR_BLACK.1, NEAR_BLACK.2),
        back_opacity: 255,
    }
}

/// Word `i` alone in `color` with its outline, cropped to [`TextLayout::word_rect`].
pub fn outlined_word(layout: &TextLayout, i: usize, color: (u8, u8, u8)) -> CaptionImage {
    let alone = TextLayout {
        words: vec![layout.words[i].clone()],
        ..layout.clone()
    };
    let rect = layout.word_rect(i);
    let mut image = CaptionImage {
        width: layout.width,
        height: layout.height,
        fill: alone.rasterize(None),
        back: Vec::new(),
        fill_yuv: rgb_to_yuv709(color.0, color.1, color.2),
        back_yuv: rgb_to_yuv709(NEAR_BLACK.0, NEAR_BLACK.1, NEAR_BLACK.2),
        back_opacity: 255,
    };
    image.back = vec![0; image.fill.len()];
    let mut cropped = image.crop(rect);
    cropped.back = dilate(
        &cropped.fill,
        cropped.width,
        cropped.height,
        layout.stroke_radius(),
    );
    cropped
}

/// White glyphs on a rounded, translucent dark box.
pub fn boxed(layout: &TextLayout) -> CaptionImage {
    let fill = layout.rasterize(None);
    let (w, h) = (layout.width, layout.height);
    let radius = (layout.size * 0.45).min(h as f32 / 2.0);
    let mut back = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            // Signed distance to a rounded rectangle filling the block.
            let px = (x as f32 + 0.5 - w as f32 / 2.0).abs() - (w as f32 / 2.0 - radius);
            let py = (y as f32 + 0.5 - h as f32 / 2.0).abs() - (h as f32 / 2.0 - radius);
            let outside = (px.max(0.0).powi(2) + py.max(0.0).powi(2)).sqrt() + px.max(py).min(0.0);
            back[y * w + x] = ((radius - outside).clamp(0.0, 1.0) * 255.0) as u8;
        }
    }
    CaptionImage {
        width: w,
        height: h,
        fill,
        back,
        fill_yuv: rgb_to_yuv709(255, 255, 255),
        back_yuv: rgb_to_yuv709(0, 0, 0),
        back_opacity: 165,
    }
}

/// Grey-level dilation with a disc: the outline around the glyphs.
fn dilate(src: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let offsets: Vec<(isize, isize)> = (-(r as isize)..=r as isize)
        .flat_map(|dy| (-(r as isize)..=r as isize).map(move |dx| (dx, dy)))
        .filter(|(dx, dy)| dx * dx + dy * dy <= (r * r + r) as isize)
        .collect();
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut m = 0u8;
            for (dx, dy) in &offsets {
                let (sx, sy) = (x as isize + dx, y as isize + dy);
                if sx >= 0 && sy >= 0 && (sx as usize) < w && (sy as usize) < h {
                    m = m.max(src[sy as usize * w + sx as usize]);
                    if m == 255 {
                        break;
                    }
                }
            }
            out[y * w + x] = m;
        }
    }
    out
}

fn scale_mask(src: &[u8], w: usize, h: usize, nw: usize, nh: usize) -> Vec<u8> {
    let mut out = vec![0u8; nw * nh];
    let (sx, sy) = (w as f32 / nw as f32, h as f32 / nh as f32);
    for y in 0..nh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, ty) = (fy as usize, fy.fract());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..nw {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (x0, tx) = (fx as usize, fx.fract());
            let x1 = (x0 + 1).min(w - 1);
            let top = f32::from(src[y0 * w + x0]) * (1.0 - tx) + f32::from(src[y0 * w + x1]) * tx;
            let bot = f32::from(src[y1 * w + x0]) * (1.0 - tx) + f32::from(src[y1 * w + x1]) * tx;
            out[y * nw + x] = (top * (1.0 - ty) + bot * ty).round() as u8;
        }
    }
    out
}

impl CaptionImage {
    /// The part of the image in `left..right` × `top..bottom`.
    pub fn crop(&self, (left, top, right, bottom): (usize, usize, usize, usize)) -> CaptionImage {
        let (w, h) = (
            right.saturating_sub(left).max(2),
            bottom.saturating_sub(top).max(2),
        );
        let cut = |m: &[u8]| -> Vec<u8> {
            let mut out = vec![0u8; w * h];
            for row in 0..h.min(self.height.saturating_sub(top)) {
                for col in 0..w.min(self.width.saturating_sub(left)) {
                    out[row * w + col] = m[(top + row) * self.width + left + col];
                }
            }
            out
        };
        CaptionImage {
            width: w,
            height: h,
            fill: cut(&self.fill),
            back: cut(&self.back),
            ..self.clone()
        }
    }

    /// The image scaled by `s` (bilinear; even size): the frames of a "pop".
    pub fn scaled(&self, s: f32) -> CaptionImage {
        let nw = ((self.width as f32 * s).round() as usize)
            .div_ceil(2)
            .max(1)
            * 2;
        let nh = ((self.height as f32 * s).round() as usize)
            .div_ceil(2)
            .max(1)
            * 2;
        CaptionImage {
            width: nw,
            height: nh,
            fill: scale_mask(&self.fill, self.width, self.height, nw, nh),
            back: scale_mask(&self.back, self.width, self.height, nw, nh),
            ..self.clone()
        }
    }

    /// Draws the caption with its top-left corner at (`x`, `y`) (rounded down to even),
    /// clipped to the frame on every side.
    pub fn draw(&self, frame: &mut Yuv420, x: i64, y: i64) {
        let (x, y) = (x & !1, y & !1);
        let (fw, fh) = (frame.width as i64, frame.height as i64);
        let ba = u32::from(self.back_opacity);
        let (by, bu, bv) = self.back_yuv;
        let (fy, fu, fv) = self.fill_yuv;
        let cols = (0.max(-x)..(self.width as i64).min(fw - x)).step_by(1);
        for row in 0.max(-y)..(self.height as i64).min(fh - y) {
            for col in cols.clone() {
                let i = (row * self.width as i64 + col) as usize;
                let o = ((y + row) * fw + x + col) as usize;
                let back = (u32::from(self.back[i]) * ba / 255) as u8;
                let v = lerp(frame.y[o], by, back);
                frame.y[o] = lerp(v, fy, self.fill[i]);
            }
        }
        let (cw, ch) = (fw / 2, fh / 2);
        let (cx, cy) = (x / 2, y / 2);
        let w = self.width as i64;
        for row in 0.max(-cy)..(self.height as i64 / 2).min(ch - cy) {
            for col in 0.max(-cx)..(w / 2).min(cw - cx) {
                let i = (2 * row * w + 2 * col) as usize;
                let w = self.width;
                let avg = |m: &[u8]| {
                    ((u32::from(m[i]) + u32::from(m[i + 1]) + u32::from(m[i + w]))
                        + u32::from(m[i + w + 1]))
                        / 4
                };
                let back = (avg(&self.back) * ba / 255) as u8;
                let fill = avg(&self.fill) as u8;
                let o = ((cy + row) * cw + cx + col) as usize;
                frame.u[o] = lerp(lerp(frame.u[o], bu, back), fu, fill);
                frame.v[o] = lerp(lerp(frame.v[o], bv, back), fv, fill);
            }
        }
    }
}

fn lerp(from: u8, to: u8, a: u8) -> u8 {
    let a = u32::from(a);
    ((u32::from(to) * a + u32::from(from) * (255 - a) + 127) / 255) as u8
}
