//! A seller's brand on every output: a logo (PNG with alpha, or JPEG) fitted to at most 18 % of
//! the width in a corner of the safe area clear of the circle, and an end card after the
//! speech — the product photo, its name, the price in the accent colour and a call to action —
//! while the background's sound fades out. The layout preview draws both with this code, so
//! what the seller saw is what the video shows.
use crate::caption_image::{outlined, WHITE};
use crate::error::{InputProblem, MediaError, Result};
use crate::layout::{edge_margin, Area, CircleRect};
use crate::text::layout_words;
use crate::yuv::{rgb_to_yuv420, Yuv420};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The logo's largest width, as a share of the frame's.
pub const LOGO_MAX_WIDTH: f64 = 0.18;
/// …and height (a tall logo on a landscape frame).
pub const LOGO_MAX_HEIGHT: f64 = 0.12;
/// How long an end card may last (seconds).
pub const END_CARD_SECONDS: std::ops::RangeInclusive<f64> = 1.5..=2.5;

/// The last seconds of the video.
#[derive(Debug, Clone, PartialEq)]
pub struct EndCard {
    /// The product photo (shown whole, above the texts).
    pub photo: Option<PathBuf>,
    /// The product's name.
    pub title: String,
    /// The price as it should read ("12 990 ₸").
    pub price: Option<String>,
    /// "Order in the link below", …
    pub call_to_action: String,
    /// 1.5–2.5 s.
    pub seconds: f64,
}

/// Where a logo went on a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogoRect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// A picture with an alpha mask, ready to blend into YUV 4:2:0 frames at its place.
#[derive(Debug, Clone)]
pub(crate) struct Sprite {
    pub rect: LogoRect,
    y: Vec<u8>,
    a: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// The mask averaged over each 2×2 block (for the chroma planes).
    a2: Vec<u8>,
}

impl Sprite {
    pub fn draw(&self, frame: &mut Yuv420) {
        let LogoRect {
            x,
            y,
            width,
            height,
        } = self.rect;
        let fw = frame.width;
        for row in 0..height.min(frame.height.saturating_sub(y)) {
            for col in 0..width.min(fw.saturating_sub(x)) {
                let i = row * width + col;
                let o = (y + row) * fw + x + col;
                frame.y[o] = lerp(frame.y[o], self.y[i], self.a[i]);
            }
        }
        let (cw, w2) = (fw / 2, width / 2);
        for row in 0..(height / 2).min((frame.height / 2).saturating_sub(y / 2)) {
            for col in 0..w2.min(cw.saturating_sub(x / 2)) {
                let i = row * w2 + col;
                let o = (y / 2 + row) * cw + x / 2 + col;
                frame.u[o] = lerp(frame.u[o], self.u[i], self.a2[i]);
                frame.v[o] = lerp(frame.v[o], self.v[i], self.a2[i]);
            }
        }
    }
}

fn lerp(from: u8, to: u8, a: u8) -> u8 {
    let a = u32::from(a);
    ((u32::from(to) * a + u32::from(from) * (255 - a) + 127) / 255) as u8
}

/// The largest logo decoded (pixels): a logo is small; a 10 000 × 10 000 PNG of one colour
/// is 400 KB on disk and 400 MB decoded.
pub const MAX_LOGO_PIXELS: u64 = 4_000_000;

/// The largest end-card photo decoded (pixels).
pub const MAX_CARD_PHOTO_PIXELS: u64 = 24_000_000;

/// A picture's bytes, its size read from its header and held to `max_pixels` before anything
/// is decoded (`what` names it in the refusal).
fn header_within(path: &Path, max_pixels: u64, what: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| MediaError::bad_input(path, InputProblem::Unreadable(e.to_string())))?;
    let (w, h) = crate::image_header::header_dimensions(&bytes).ok_or_else(|| {
        MediaError::bad_input(
            path,
            InputProblem::Invalid("its header does not give the image's size".into()),
        )
    })?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(MediaError::bad_input(
            path,
            InputProblem::TooLarge(format!(
                "{what} of {w}×{h} is over {} megapixels",
                max_pixels / 1_000_000
            )),
        ));
    }
    Ok(bytes)
}

/// Reads a logo: PNG (with its alpha) or JPEG, at most [`MAX_LOGO_PIXELS`].
fn load_rgba(path: &Path) -> Result<image::RgbaImage> {
    let bytes = header_within(path, MAX_LOGO_PIXELS, "a logo")?;
    let img = image::load_from_memory(&bytes).map_err(|e| {
        MediaError::bad_input(
            path,
            InputProblem::Invalid(format!("it does not decode: {e}")),
        )
    })?;
    Ok(img.into_rgba8())
}

/// The end card's photo: a photo we decode, at most [`MAX_CARD_PHOTO_PIXELS`].
fn load_card_photo(path: &Path) -> Result<image::RgbImage> {
    header_within(path, MAX_CARD_PHOTO_PIXELS, "an end card photo")?;
    crate::fit::load_image(path)
}

/// Reads the brand's files as the compositor will — the logo and the end card's photo — so
/// an order whose files cannot be used is refused before anything is bought for it.
pub fn check_brand_files(logo: Option<&Path>, photo: Option<&Path>) -> Result<()> {
    if let Some(logo) = logo {
        load_rgba(logo)?;
    }
    if let Some(photo) = photo {
        load_card_photo(photo)?;
    }
    Ok(())
}

/// The corner a `lw`×`lh` logo goes in: the top-right of the safe area, else the top-left,
/// the bottom-right, the bottom-left — the first that stays clear of the circle (by the edge
/// margin).
pub fn logo_corner(
    (width, height): (usize, usize),
    area: Area,
    circle: Option<CircleRect>,
    (lw, lh): (usize, usize),
) -> (usize, usize) {
    let m = edge_margin(width, height);
    let right = area.right.saturating_sub(lw).max(area.left);
    let bottom = area.bottom.saturating_sub(lh).max(area.top);
    let corners = [
        (right, area.top),
        (area.left, area.top),
        (right, bottom),
        (area.left, bottom),
    ];
    let clear = |(x, y): (usize, usize)| match circle {
        None => true,
        Some(c) => {
            x + lw + m <= c.x
                || c.x + c.diameter + m <= x
                || y + lh + m <= c.y
                || c.y + c.diameter + m <= y
        }
    };
    let (x, y) = corners
        .into_iter()
        .find(|c| clear(*c))
        .unwrap_or(corners[0]);
    (x & !1, y & !1)
}

/// The logo fitted to a `width`×`height` frame and placed (see [`logo_corner`]).
pub(crate) fn logo_sprite(
    path: &Path,
    (width, height): (usize, usize),
    area: Area,
    circle: Option<CircleRect>,
) -> Result<Sprite> {
    let rgba = load_rgba(path)?;
    let (iw, ih) = (rgba.width().max(1) as f64, rgba.height().max(1) as f64);
    let scale = (width as f64 * LOGO_MAX_WIDTH / iw)
        .min(height as f64 * LOGO_MAX_HEIGHT / ih)
        .min(area.width() as f64 / iw);
    let lw = (((iw * scale) as usize) / 2 * 2).max(2);
    let lh = (((ih * scale) as usize) / 2 * 2).max(2);
    let fitted = image::imageops::resize(
        &rgba,
        lw as u32,
        lh as u32,
        image::imageops::FilterType::Lanczos3,
    );
    let (x, y) = logo_corner((width, height), area, circle, (lw, lh));
    let rgb: Vec<u8> = fitted.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect();
    let a: Vec<u8> = fitted.pixels().map(|p| p[3]).collect();
    let yuv = rgb_to_yuv420(&rgb, lw, lh);
    let mut a2 = Vec::with_capacity((lw / 2) * (lh / 2));
    for row in 0..lh / 2 {
        for col in 0..lw / 2 {
            let i = 2 * row * lw + 2 * col;
            let sum = u32::from(a[i])
                + u32::from(a[i + 1])
                + u32::from(a[i + lw])
                + u32::from(a[i + lw + 1]);
            a2.push((sum / 4) as u8);
        }
    }
    Ok(Sprite {
        rect: LogoRect {
            x,
            y,
            width: lw,
            height: lh,
        },
        y: yuv.y,
        a,
        u: yuv.u,
        v: yuv.v,
        a2,
    })
}

/// Checks an end card's length and texts.
pub(crate) fn check_end_card(card: &EndCard) -> Result<()> {
    if !END_CARD_SECONDS.contains(&card.seconds) {
        return Err(MediaError::BadParameter(format!(
            "an end card lasts 1.5 to 2.5 s (got {})",
            card.seconds
        )));
    }
    if card.title.trim().is_empty() {
        return Err(MediaError::BadParameter(
            "an end card needs the product's name".into(),
        ));
    }
    Ok(())
}

/// The end card of a `width`×`height` frame: a dark card, the photo whole in the upper half of
/// the safe area, then the name, the price in `accent` and the call to action, centred.
pub(crate) fn end_card_picture(
    card: &EndCard,
    (width, height): (usize, usize),
    area: Area,
    accent: (u8, u8, u8),
) -> Result<Yuv420> {
    let mut canvas =
        image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([17, 17, 22]));
    let gap = (height as f64 * 0.02) as usize;
    let mut y = area.top + gap;
    if let Some(photo) = &card.photo {
        let img = load_card_photo(photo)?;
        let (bw, bh) = (area.width(), (area.height() as f64 * 0.5) as usize);
        let s = (bw as f64 / f64::from(img.width().max(1)))
            .min(bh as f64 / f64::from(img.height().max(1)));
        let (pw, ph) = (
            ((f64::from(img.width()) * s) as u32).max(1),
            ((f64::from(img.height()) * s) as u32).max(1),
        );
        let fitted = image::imageops::resize(&img, pw, ph, image::imageops::FilterType::Triangle);
        let px = area.left + (bw.saturating_sub(pw as usize)) / 2;
        image::imageops::overlay(&mut canvas, &fitted, px as i64, y as i64);
        y += ph as usize + 2 * gap;
    } else {
        y = area.top + area.height() / 4;
    }
    let mut picture = rgb_to_yuv420(canvas.as_raw(), width, height);
    let short = width.min(height) as f32;
    // (text, size in px, most lines, colour)
    type Line<'a> = (&'a str, f32, usize, (u8, u8, u8));
    let lines: [Line; 3] = [
        (card.title.as_str(), short * 0.075, 3, WHITE),
        (card.price.as_deref().unwrap_or(""), short * 0.09, 1, accent),
        (card.call_to_action.as_str(), short * 0.06, 2, WHITE),
    ];
    for (text, px, max_lines, colour) in lines {
        let words: Vec<String> = text.split_whitespace().map(String::from).collect();
        let Some(layout) = layout_words(&words, area.width(), px, max_lines, 4) else {
            continue;
        };
        if y + layout.height > area.bottom {
            break;
        }
        let image = outlined(&layout, None, colour);
        let x = area.left + area.width().saturating_sub(layout.width) / 2;
        image.draw(&mut picture, x as i64, y as i64);
        y += layout.height + gap;
    }
    Ok(picture)
}

/// Writes the end card of a `width`×`height` frame (with the logo where the video puts it) as
/// a JPEG: the still the seller approves, and what the video's last frames show.
/// `circle`: the video's circle, which the logo keeps clear of on every frame.
pub fn end_card_still(
    card: &EndCard,
    (width, height): (usize, usize),
    safe_zone: crate::layout::SafeZone,
    accent: (u8, u8, u8),
    (logo, circle): (Option<&Path>, Option<CircleRect>),
    output: &Path,
) -> Result<()> {
    crate::layout::check_output_size(width, height)?;
    check_end_card(card)?;
    let area = safe_zone.area(width, height);
    let mut picture = end_card_picture(card, (width, height), area, accent)?;
    if let Some(logo) = logo {
        logo_sprite(logo, (width, height), area, circle)?.draw(&mut picture);
    }
    crate::thumb::write_jpeg(&picture, output, 92)
}
