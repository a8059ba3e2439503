//! The circular talking head: an antialiased circle mask with an optional ring, the face
//! crop sampled straight into it, blended into the Y, U and V planes of the background. Only
//! the circle's bounding square is touched.
use crate::layout::CircleRect;
use crate::track::CropSquare;
use crate::yuv::Yuv420;

/// Coverage (0–255) of a disc of `radius` centred in a `size`×`size` grid, with a one-pixel
/// antialiased edge.
pub fn disc_mask(size: usize, radius: f32) -> Vec<u8> {
    let c = size as f32 / 2.0;
    let mut m = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            let d = ((x as f32 + 0.5 - c).powi(2) + (y as f32 + 0.5 - c).powi(2)).sqrt();
            m[y * size + x] = ((radius - d + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    m
}

/// Average of each 2×2 block: the mask for a subsampled chroma plane.
pub fn halve_mask(mask: &[u8], size: usize) -> Vec<u8> {
    let h = size / 2;
    let mut out = vec![0u8; h * h];
    for y in 0..h {
        for x in 0..h {
            let s = u32::from(mask[2 * y * size + 2 * x])
                + u32::from(mask[2 * y * size + 2 * x + 1])
                + u32::from(mask[(2 * y + 1) * size + 2 * x])
                + u32::from(mask[(2 * y + 1) * size + 2 * x + 1]);
            out[y * h + x] = ((s + 2) / 4) as u8;
        }
    }
    out
}

/// BT.709 limited-range YUV of an sRGB colour.
pub fn rgb_to_yuv709(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let u = (b - y) / 1.8556;
    let v = (r - y) / 1.5748;
    (
        (16.0 + 219.0 * y).round() as u8,
        (128.0 + 224.0 * u).round().clamp(16.0, 240.0) as u8,
        (128.0 + 224.0 * v).round().clamp(16.0, 240.0) as u8,
    )
}

/// Parses `#RRGGBB`, `RRGGBB` or `#RGB`.
pub fn parse_hex_color(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.trim().trim_start_matches('#');
    // Hex digits only (ASCII): slicing by byte below is then slicing by character.
    if !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let expand = |c: u8| c * 17;
    match h.len() {
        6 => Some((
            u8::from_str_radix(&h[0..2], 16).ok()?,
            u8::from_str_radix(&h[2..4], 16).ok()?,
            u8::from_str_radix(&h[4..6], 16).ok()?,
        )),
        3 => {
            let v: Vec<u8> = h
                .chars()
                .map(|c| c.to_digit(16).map(|d| d as u8))
                .collect::<Option<_>>()?;
            Some((expand(v[0]), expand(v[1]), expand(v[2])))
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ring {
    pub rgb: (u8, u8, u8),
    pub width: usize,
}

/// Precomputed masks for one circle size and ring.
pub struct CircleOverlay {
    pub rect: CircleRect,
    face_y: Vec<u8>,
    face_c: Vec<u8>,
    ring_y: Vec<u8>,
    ring_c: Vec<u8>,
    ring_yuv: (u8, u8, u8),
    has_ring: bool,
}

impl CircleOverlay {
    pub fn new(rect: CircleRect, ring: Option<Ring>) -> Self {
        let d = rect.diameter;
        let outer = d as f32 / 2.0;
        let ring = ring.filter(|r| r.width > 0);
        let inner = ring
            .map(|r| (outer - r.width as f32).max(1.0))
            .unwrap_or(outer);
        let face_y = disc_mask(d, inner);
        let ring_y = if ring.is_some() {
            disc_mask(d, outer)
        } else {
            Vec::new()
        };
        Self {
            rect,
            face_c: halve_mask(&face_y, d),
            ring_c: if ring.is_some() {
                halve_mask(&ring_y, d)
            } else {
                Vec::new()
            },
            face_y,
            ring_y,
            ring_yuv: ring
                .map(|r| rgb_to_yuv709(r.rgb.0, r.rgb.1, r.rgb.2))
                .unwrap_or((235, 128, 128)),
            has_ring: ring.is_some(),
        }
    }

    /// Draws the `crop` of `head` (in `head`'s pixels) as the circle onto `frame`.
    pub fn draw(&mut self, frame: &mut Yuv420, head: &Yuv420, crop: CropSquare) {
        let d = self.rect.diameter;
        let (x, y) = (self.rect.x, self.rect.y);
        let fw = frame.width;
        if self.has_ring {
            fill_masked(&mut frame.y, fw, x, y, d, &self.ring_y, self.ring_yuv.0);
            fill_masked(
                &mut frame.u,
                fw / 2,
                x / 2,
                y / 2,
                d / 2,
                &self.ring_c,
                self.ring_yuv.1,
            );
            fill_masked(
                &mut frame.v,
                fw / 2,
                x / 2,
                y / 2,
                d / 2,
                &self.ring_c,
                self.ring_yuv.2,
            );
        }
        let scale = crop.side / d as f32;
        let luma = Square {
            left: crop.left(),
            top: crop.top(),
            scale,
            size: d,
        };
        blend_sampled(
            (&head.y, head.width, head.height),
            luma,
            &self.face_y,
            (&mut frame.y, fw, x, y),
        );
        let chroma = Square {
            left: crop.left() / 2.0,
            top: crop.top() / 2.0,
            scale,
            size: d / 2,
        };
        let (cw, ch) = (head.width / 2, head.height / 2);
        blend_sampled(
            (&head.u, cw, ch),
            chroma,
            &self.face_c,
            (&mut frame.u, fw / 2, x / 2, y / 2),
        );
        blend_sampled(
            (&head.v, cw, ch),
            chroma,
            &self.face_c,
            (&mut frame.v, fw / 2, x / 2, y / 2),
        );
    }
}

/// The `size`×`size` square of output pixels sampled from (`left`, `top`) with `scale` source
/// pixels per output pixel.
#[derive(Clone, Copy)]
struct Square {
    left: f32,
    top: f32,
    scale: f32,
    size: usize,
}

/// Bilinear samples of `square` from the source plane (pixels, width, height), blended by
/// `mask` straight into the destination plane (pixels, stride, x, y) — only within each row's
/// span of the mask. Fixed-point weights (1/256) with the column positions computed once per
/// call.
fn blend_sampled(
    (src, sw, sh): (&[u8], usize, usize),
    square: Square,
    mask: &[u8],
    (plane, stride, x, y): (&mut [u8], usize, usize, usize),
) {
    let Square {
        left,
        top,
        scale,
        size,
    } = square;
    let max_x = (sw - 1) as f32;
    let max_y = (sh - 1) as f32;
    // Per output column: the left source column and the weight of the right one.
    let cols: Vec<(usize, usize, u32)> = (0..size)
        .map(|ox| {
            let fx = (left + (ox as f32 + 0.5) * scale - 0.5).clamp(0.0, max_x);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(sw - 1);
            (x0, x1, ((fx - x0 as f32) * 256.0) as u32)
        })
        .collect();
    for oy in 0..size {
        let row_mask = &mask[oy * size..(oy + 1) * size];
        let (Some(first), Some(last)) = (
            row_mask.iter().position(|m| *m != 0),
            row_mask.iter().rposition(|m| *m != 0),
        ) else {
            continue;
        };
        let fy = (top + (oy as f32 + 0.5) * scale - 0.5).clamp(0.0, max_y);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(sh - 1);
        let wy = ((fy - y0 as f32) * 256.0) as u32;
        let (r0, r1) = (&src[y0 * sw..y0 * sw + sw], &src[y1 * sw..y1 * sw + sw]);
        let start = (y + oy) * stride + x;
        let row_out = &mut plane[start + first..=start + last];
        for ((o, &(x0, x1, wx)), &a) in row_out
            .iter_mut()
            .zip(&cols[first..=last])
            .zip(&row_mask[first..=last])
        {
            let top_v = u32::from(r0[x0]) * (256 - wx) + u32::from(r0[x1]) * wx;
            let bot_v = u32::from(r1[x0]) * (256 - wx) + u32::from(r1[x1]) * wx;
            let v = (top_v * (256 - wy) + bot_v * wy + (1 << 15)) >> 16;
            let a = u32::from(a);
            *o = if a == 255 {
                v as u8
            } else {
                ((v * a + u32::from(*o) * (255 - a) + 127) / 255) as u8
            };
        }
    }
}

fn fill_masked(
    plane: &mut [u8],
    stride: usize,
    x: usize,
    y: usize,
    size: usize,
    mask: &[u8],
    value: u8,
) {
    for row in 0..size {
        let dst = &mut plane[(y + row) * stride + x..(y + row) * stride + x + size];
        for (i, d) in dst.iter_mut().enumerate() {
            let a = u32::from(mask[row * size + i]);
            if a > 0 {
                *d = ((u32::from(value) * a + u32::from(*d) * (255 - a) + 127) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_that_are_not_hex_digits_are_refused_not_sliced() {
        assert_eq!(parse_hex_color("#aéaaa"), None);
        assert_eq!(parse_hex_color("#FFD600"), Some((255, 214, 0)));
        assert_eq!(parse_hex_color("fff"), Some((255, 255, 255)));
        assert_eq!(parse_hex_color("#GGGGGG"), None);
    }

    #[test]
    fn disc_mask_is_solid_inside_empty_outside_and_soft_at_the_edge() {
        let m = disc_mask(100, 50.0);
        assert_eq!(m[50 * 100 + 50], 255);
        assert_eq!(m[0], 0);
        let edge = m[50 * 100 + 99];
        assert!(edge > 0 && edge < 255, "edge pixel {edge}");
        let covered: u32 = m.iter().map(|v| u32::from(*v)).sum::<u32>() / 255;
        let area = std::f32::consts::PI * 50.0 * 50.0;
        assert!(
            (covered as f32 - area).abs() / area < 0.01,
            "area {covered} vs {area}"
        );
    }

    #[test]
    fn ring_colour_surrounds_the_face_and_corners_keep_the_background() {
        let rect = CircleRect {
            x: 0,
            y: 0,
            diameter: 40,
        };
        let mut overlay = CircleOverlay::new(
            rect,
            Some(Ring {
                rgb: (255, 255, 255),
                width: 4,
            }),
        );
        let mut frame = Yuv420::new(40, 40);
        let mut head = Yuv420::new(40, 40);
        head.y.fill(100);
        overlay.draw(
            &mut frame,
            &head,
            CropSquare {
                cx: 20.0,
                cy: 20.0,
                side: 40.0,
            },
        );
        assert_eq!(frame.y[20 * 40 + 20], 100, "face in the middle");
        assert_eq!(frame.y[20 * 40 + 1], 235, "white ring at the edge");
        assert_eq!(frame.y[0], 16, "corner untouched");
    }

    #[test]
    fn hex_colours_parse() {
        assert_eq!(parse_hex_color("#ff8000"), Some((255, 128, 0)));
        assert_eq!(parse_hex_color("fff"), Some((255, 255, 255)));
        assert_eq!(parse_hex_color("#12345"), None);
        assert_eq!(rgb_to_yuv709(255, 255, 255), (235, 128, 128));
        assert_eq!(rgb_to_yuv709(0, 0, 0), (16, 128, 128));
    }
}
