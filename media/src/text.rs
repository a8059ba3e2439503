//! Caption rendering: white bold text with a dark outline, wrapped to the frame, drawn into
//! YUV planes. The font (DejaVu Sans Bold, Latin and Cyrillic) is compiled in; characters it
//! lacks (emoji, pictographs) are dropped rather than drawn as boxes.
use crate::yuv::Yuv420;
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

fn font() -> FontRef<'static> {
    // The font is part of the binary; parsing it is checked by the tests.
    FontRef::try_from_slice(FONT_BYTES).expect("bundled DejaVu Sans Bold parses")
}

/// Keeps only the characters the font can draw, with whitespace collapsed.
pub fn drawable_text(text: &str) -> String {
    let f = font();
    let kept: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| *c == ' ' || (!c.is_control() && f.glyph_id(*c).0 != 0))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Alpha masks of a rendered caption block.
#[derive(Debug, Clone)]
pub struct CaptionImage {
    pub width: usize,
    pub height: usize,
    pub fill: Vec<u8>,
    pub stroke: Vec<u8>,
}

fn line_width(f: &FontRef<'_>, scale: PxScale, line: &str) -> f32 {
    let sf = f.as_scaled(scale);
    let mut w = 0.0;
    let mut prev = None;
    for c in line.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    w
}

fn wrap(f: &FontRef<'_>, scale: PxScale, text: &str, max_width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line_width(f, scale, &format!("{line} {word}")) <= max_width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Renders `text` centred in lines no wider than `max_width`, starting at `px` pixels and
/// shrinking until it fits in three lines. `None` when nothing drawable remains.
pub fn render_caption(text: &str, max_width: usize, px: f32) -> Option<CaptionImage> {
    let text = drawable_text(text);
    if text.is_empty() {
        return None;
    }
    let f = font();
    let mut size = px;
    let mut lines = wrap(&f, PxScale::from(size), &text, max_width as f32);
    while (lines.len() > 3
        || lines
            .iter()
            .any(|l| line_width(&f, PxScale::from(size), l) > max_width as f32))
        && size > 12.0
    {
        size *= 0.9;
        lines = wrap(&f, PxScale::from(size), &text, max_width as f32);
    }
    let scale = PxScale::from(size);
    let sf = f.as_scaled(scale);
    let radius = (size * 0.09).max(2.0).round() as usize;
    let line_h = (sf.ascent() - sf.descent() + sf.line_gap()).ceil();
    let pad = radius + 2;
    let text_w = lines
        .iter()
        .map(|l| line_width(&f, scale, l))
        .fold(0.0f32, f32::max)
        .ceil() as usize;
    let width = (text_w + 2 * pad).div_ceil(2) * 2 + 2;
    let height = ((line_h as usize * lines.len()) + 2 * pad).div_ceil(2) * 2;
    let mut fill = vec![0u8; width * height];
    for (i, line) in lines.iter().enumerate() {
        let lw = line_width(&f, scale, line);
        let mut x = (width as f32 - lw) / 2.0;
        let baseline = pad as f32 + sf.ascent() + i as f32 * line_h;
        let mut prev = None;
        for c in line.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                x += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            if let Some(outline) = f.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    let px = b.min.x as i64 + i64::from(gx);
                    let py = b.min.y as i64 + i64::from(gy);
                    if px >= 0 && py >= 0 && (px as usize) < width && (py as usize) < height {
                        let o = &mut fill[py as usize * width + px as usize];
                        *o = (*o).max((cov.clamp(0.0, 1.0) * 255.0) as u8);
                    }
                });
            }
            x += sf.h_advance(id);
            prev = Some(id);
        }
    }
    let stroke = dilate(&fill, width, height, radius);
    Some(CaptionImage {
        width,
        height,
        fill,
        stroke,
    })
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

impl CaptionImage {
    /// Draws the caption with its top-left corner at (`x`, `y`) (even), clipped to the frame.
    pub fn draw(&self, frame: &mut Yuv420, x: usize, y: usize) {
        let (fw, fh) = (frame.width, frame.height);
        for row in 0..self.height.min(fh.saturating_sub(y)) {
            for col in 0..self.width.min(fw.saturating_sub(x)) {
                let i = row * self.width + col;
                let o = (y + row) * fw + x + col;
                let v = lerp(frame.y[o], 16, self.stroke[i]);
                frame.y[o] = lerp(v, 235, self.fill[i]);
            }
        }
        let cw = fw / 2;
        for row in 0..(self.height / 2).min((fh / 2).saturating_sub(y / 2)) {
            for col in 0..(self.width / 2).min(cw.saturating_sub(x / 2)) {
                let i = 2 * row * self.width + 2 * col;
                let a = (u32::from(self.stroke[i])
                    + u32::from(self.stroke[i + 1])
                    + u32::from(self.stroke[i + self.width])
                    + u32::from(self.stroke[i + self.width + 1]))
                    / 4;
                let o = (y / 2 + row) * cw + x / 2 + col;
                frame.u[o] = lerp(frame.u[o], 128, a as u8);
                frame.v[o] = lerp(frame.v[o], 128, a as u8);
            }
        }
    }
}

fn lerp(from: u8, to: u8, a: u8) -> u8 {
    let a = u32::from(a);
    ((u32::from(to) * a + u32::from(from) * (255 - a) + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_dropped_and_cyrillic_kept() {
        assert_eq!(drawable_text("Скидка 🔥 50%  today"), "Скидка 50% today");
    }

    #[test]
    fn long_text_wraps_inside_the_width_and_has_ink() {
        let img =
            render_caption("Самый лучший крем для вашей кожи прямо сейчас", 400, 40.0).unwrap();
        assert!(img.width <= 400 + 40);
        assert!(img.height > 80, "wrapped to several lines: {}", img.height);
        let ink = img.fill.iter().filter(|a| **a > 200).count();
        assert!(ink > 1000, "text pixels {ink}");
        assert!(
            img.stroke.iter().filter(|a| **a > 200).count() > ink,
            "outline is wider than the glyphs"
        );
        assert!(render_caption("🔥🔥", 400, 40.0).is_none());
    }
}
