//! A plain 8-bit YUV 4:2:0 picture (even width and height, rows packed) and the pixel
//! operations compose needs on it: crop with rotation, and copying to and from ffmpeg frames.
use ffmpeg_next as ff;

#[derive(Clone, Debug, PartialEq)]
pub struct Yuv420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv420 {
    pub fn new(width: usize, height: usize) -> Self {
        debug_assert!(width.is_multiple_of(2) && height.is_multiple_of(2));
        let c = (width / 2) * (height / 2);
        Self {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; c],
            v: vec![128; c],
        }
    }

    /// Copies the planes into an ffmpeg YUV420P frame of the same size.
    pub fn write_to_frame(&self, frame: &mut ff::frame::Video) {
        copy_plane_into(&self.y, self.width, self.height, frame, 0);
        copy_plane_into(&self.u, self.width / 2, self.height / 2, frame, 1);
        copy_plane_into(&self.v, self.width / 2, self.height / 2, frame, 2);
    }

    /// Crops the rectangle (`left`, `top`, size of the rotated result) out of a YUV420P frame
    /// and applies a clockwise `rotation` (0/90/180/270) on the way, into `self`.
    pub fn crop_rotated_from(
        &mut self,
        frame: &ff::frame::Video,
        rotation: u32,
        left: usize,
        top: usize,
    ) {
        let (w, h) = (self.width, self.height);
        crop_plane(frame, 0, &mut self.y, w, h, rotation, left, top);
        crop_plane(
            frame,
            1,
            &mut self.u,
            w / 2,
            h / 2,
            rotation,
            left / 2,
            top / 2,
        );
        crop_plane(
            frame,
            2,
            &mut self.v,
            w / 2,
            h / 2,
            rotation,
            left / 2,
            top / 2,
        );
    }
}

fn copy_plane_into(src: &[u8], w: usize, h: usize, frame: &mut ff::frame::Video, index: usize) {
    let stride = frame.stride(index);
    let dst = frame.data_mut(index);
    for row in 0..h {
        dst[row * stride..row * stride + w].copy_from_slice(&src[row * w..row * w + w]);
    }
}

/// `out` is `ow`×`oh` in display orientation; the source plane is in coded orientation, and
/// (`left`, `top`) is the crop origin in the *display* orientation of the scaled source.
#[allow(clippy::too_many_arguments)]
fn crop_plane(
    frame: &ff::frame::Video,
    index: usize,
    out: &mut [u8],
    ow: usize,
    oh: usize,
    rotation: u32,
    left: usize,
    top: usize,
) {
    let stride = frame.stride(index);
    let src = frame.data(index);
    let sw = frame.plane_width(index) as usize; // coded width of this plane
    let sh = frame.plane_height(index) as usize;
    match rotation {
        90 => {
            // display (x, y) ← coded (y, sh - 1 - x)
            for y in 0..oh {
                let cx = top + y;
                for x in 0..ow {
                    let cy = sh - 1 - (left + x);
                    out[y * ow + x] = src[cy * stride + cx];
                }
            }
        }
        180 => {
            for y in 0..oh {
                let cy = sh - 1 - (top + y);
                for x in 0..ow {
                    out[y * ow + x] = src[cy * stride + (sw - 1 - (left + x))];
                }
            }
        }
        270 => {
            // display (x, y) ← coded (sw - 1 - y, x)
            for y in 0..oh {
                let cx = sw - 1 - (top + y);
                for x in 0..ow {
                    out[y * ow + x] = src[(left + x) * stride + cx];
                }
            }
        }
        _ => {
            for y in 0..oh {
                let from = (top + y) * stride + left;
                out[y * ow..y * ow + ow].copy_from_slice(&src[from..from + ow]);
            }
        }
    }
}

/// Rounds down to an even number, at least 2.
pub fn even(v: f64) -> usize {
    ((v.max(2.0) as usize) / 2 * 2).max(2)
}

/// Packed RGB (BT.709, limited range) to 4:2:0; `width` and `height` must be even.
pub fn rgb_to_yuv420(rgb: &[u8], width: usize, height: usize) -> Yuv420 {
    let mut p = Yuv420::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let o = (y * width + x) * 3;
            let (r, g, b) = (
                f32::from(rgb[o]),
                f32::from(rgb[o + 1]),
                f32::from(rgb[o + 2]),
            );
            p.y[y * width + x] =
                (16.0 + (0.2126 * r + 0.7152 * g + 0.0722 * b) * 219.0 / 255.0).round() as u8;
        }
    }
    let cw = width / 2;
    for cy in 0..height / 2 {
        for cx in 0..cw {
            let mut acc = [0.0f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let o = ((2 * cy + dy) * width + 2 * cx + dx) * 3;
                for c in 0..3 {
                    acc[c] += f32::from(rgb[o + c]) / 4.0;
                }
            }
            let [r, g, b] = acc;
            let yl = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            p.u[cy * cw + cx] = (128.0 + (b - yl) / 1.8556 * 224.0 / 255.0)
                .round()
                .clamp(16.0, 240.0) as u8;
            p.v[cy * cw + cx] = (128.0 + (r - yl) / 1.5748 * 224.0 / 255.0)
                .round()
                .clamp(16.0, 240.0) as u8;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered_frame(w: u32, h: u32) -> ff::frame::Video {
        let mut f = ff::frame::Video::new(ff::format::Pixel::YUV420P, w, h);
        let stride = f.stride(0);
        for y in 0..h as usize {
            for x in 0..w as usize {
                f.data_mut(0)[y * stride + x] = (y * 10 + x) as u8;
            }
        }
        f
    }

    #[test]
    fn rotation_by_90_moves_the_bottom_left_corner_to_the_top_left() {
        // coded 4 wide × 2 high; displayed 2 wide × 4 high after a clockwise quarter turn.
        let f = numbered_frame(4, 2);
        let mut out = Yuv420::new(2, 4);
        out.crop_rotated_from(&f, 90, 0, 0);
        assert_eq!(out.y, vec![10, 0, 11, 1, 12, 2, 13, 3]);
        out.crop_rotated_from(&f, 270, 0, 0);
        assert_eq!(out.y, vec![3, 13, 2, 12, 1, 11, 0, 10]);
        let mut flat = Yuv420::new(4, 2);
        flat.crop_rotated_from(&f, 180, 0, 0);
        assert_eq!(flat.y, vec![13, 12, 11, 10, 3, 2, 1, 0]);
    }

    #[test]
    fn crop_without_rotation_takes_the_offset_window() {
        let f = numbered_frame(8, 4);
        let mut out = Yuv420::new(4, 2);
        out.crop_rotated_from(&f, 0, 2, 2);
        assert_eq!(out.y, vec![22, 23, 24, 25, 32, 33, 34, 35]);
    }
}
