//! A still of a composite's first frame, made before anything is paid for: the background's
//! first picture, the character's portrait in the circle (cropped around the face as the
//! talking head's track crops it), the first caption — drawn with the same layout, overlay
//! and caption code as [`crate::compose`], so the video matches the still. Well under a
//! second at 720×1280.
use crate::caption_track::{CaptionTrack, TrackLayout, DEFAULT_ACCENT};
use crate::captions::{estimate_word_timings, phrases_from_words, CaptionStyle};
use crate::error::Result;
use crate::faces::FaceDetector;
use crate::fit::{fit_rgb, largest_face, load_image, looks_like_image, FitMode};
use crate::layout::{
    check_output_size, default_diameter, place_circle, CircleRect, Position, SafeZone,
};
use crate::overlay::{CircleOverlay, Ring};
use crate::track::{clamp_inside, CropSquare, TrackParams};
use crate::video_in::{FrameFit, VideoReader};
use crate::yuv::{rgb_to_yuv420, Yuv420};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct LayoutPreview {
    /// The user's background clip (or a still); `None`: the portrait fills the frame.
    pub background: Option<PathBuf>,
    /// The second of the clip the video starts at (its frame is drawn).
    pub background_start_s: f64,
    pub portrait: PathBuf,
    /// The script: its first phrase is drawn as the first caption.
    pub caption: Option<String>,
    pub caption_style: CaptionStyle,
    pub safe_zone: SafeZone,
    pub width: usize,
    pub height: usize,
    pub position: Position,
    pub diameter: Option<usize>,
    pub ring: Option<Ring>,
    /// The brand's logo (drawn as [`crate::compose`] draws it).
    pub logo: Option<PathBuf>,
    /// JPEG written here.
    pub output: PathBuf,
}

/// Renders the still; returns where the circle went.
pub fn layout_preview(req: &LayoutPreview) -> Result<Option<CircleRect>> {
    check_output_size(req.width, req.height)?;
    let (w, h) = (req.width, req.height);
    let portrait = load_image(&req.portrait)?;
    let mut picture = match &req.background {
        Some(bg) if !looks_like_image(bg) => {
            let mut reader = VideoReader::open(bg, Some(w * h))?;
            reader.set_fit(FrameFit::cover(reader.display_w, reader.display_h, w, h));
            let mut p = Yuv420::new(w, h);
            reader.frame_at(req.background_start_s.max(0.0), &mut p)?;
            p
        }
        other => {
            let still = match other {
                Some(path) => load_image(path)?,
                None => portrait.clone(),
            };
            let fitted = fit_rgb(&still, w as u32, h as u32, FitMode::Cover, None)?;
            rgb_to_yuv420(fitted.as_raw(), w, h)
        }
    };
    let mut circle = None;
    if req.background.is_some() {
        let diameter = req.diameter.unwrap_or_else(|| default_diameter(w, h));
        let rect = place_circle(w, h, diameter, req.position, req.safe_zone.area(w, h))?;
        let (pw, ph) = (
            portrait.width() as usize / 2 * 2,
            portrait.height() as usize / 2 * 2,
        );
        let rgb = image_crop_even(&portrait, pw, ph);
        let head = rgb_to_yuv420(&rgb, pw, ph);
        let face = largest_face(&portrait, &mut FaceDetector::new());
        let side_of = |face_h: f32| face_h * TrackParams::default().face_to_crop;
        let crop = match face {
            Some(f) => {
                let (cx, cy) = f.center();
                CropSquare {
                    cx,
                    cy,
                    side: side_of(f.height).min(pw.min(ph) as f32),
                }
            }
            None => CropSquare {
                cx: pw as f32 / 2.0,
                cy: ph as f32 / 2.0,
                side: pw.min(ph) as f32,
            },
        };
        // Talking heads frame the portrait's centre square (the offline animator shows its
        // central 86 %): the crop stays inside that window, as the head video's track does.
        let window = pw.min(ph) as f32 * 0.86;
        let (wx, wy) = ((pw as f32 - window) / 2.0, (ph as f32 - window) / 2.0);
        let inner = clamp_inside(
            CropSquare {
                cx: crop.cx - wx,
                cy: crop.cy - wy,
                side: crop.side.min(window),
            },
            window,
            window,
        );
        let crop = CropSquare {
            cx: inner.cx + wx,
            cy: inner.cy + wy,
            side: inner.side,
        };
        CircleOverlay::new(rect, req.ring).draw(&mut picture, &head, crop);
        circle = Some(rect);
    }
    if let Some(script) = &req.caption {
        let words = estimate_word_timings(script, &[(0.0, 10.0)]);
        let phrases = phrases_from_words(&words, req.caption_style);
        let track = CaptionTrack::build(
            &phrases[..phrases.len().min(1)],
            &TrackLayout {
                style: req.caption_style,
                accent: DEFAULT_ACCENT,
                width: w,
                height: h,
                area: req.safe_zone.area(w, h),
                circle: circle.unwrap_or(CircleRect {
                    x: 0,
                    y: h,
                    diameter: 0,
                }),
            },
        );
        // The first phrase as it rests, its first word lit (karaoke).
        if let Some(first) = phrases.first() {
            let t = (first.start_s + 0.2).min((first.start_s + first.end_s) / 2.0);
            track.draw(&mut picture, t);
        }
    }
    // The brand's logo, where the video puts it.
    if let Some(logo) = &req.logo {
        crate::brand::logo_sprite(logo, (w, h), req.safe_zone.area(w, h), circle)?
            .draw(&mut picture);
    }
    // Full size (a phone shows it full screen), JPEG quality 85.
    crate::thumb::write_jpeg(&picture, &req.output, 85)?;
    Ok(circle)
}

/// The RGB bytes of the image's top-left `w`×`h` (even sizes for 4:2:0).
fn image_crop_even(img: &image::RgbImage, w: usize, h: usize) -> Vec<u8> {
    let full = img.width() as usize;
    let raw = img.as_raw();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        out.extend_from_slice(&raw[y * full * 3..y * full * 3 + w * 3]);
    }
    out
}
