//! Media made without any provider: a talking head animated from a still portrait (it sways,
//! breathes and nods with the loudness of the voice) and a moving colour background. The
//! offline demo and the no-key `local` provider set use these.
use crate::audio::{Stereo, SAMPLE_RATE};
use crate::encode::{AudioFeed, EncodeSettings, Mp4Writer};
use crate::error::Result;
use crate::fit::{fit_rgb, FitMode};
use crate::yuv::{rgb_to_yuv420, Yuv420};
use fast_image_resize as fr;
use image::RgbImage;
use std::path::Path;

const FPS: u32 = 30;

fn settings(width: usize, height: usize) -> EncodeSettings {
    EncodeSettings {
        width,
        height,
        fps: FPS,
        crf: 20,
        preset: "veryfast".into(),
        max_video_bps: 8_000_000,
        try_nvenc: false,
    }
}

/// Loudness of the voice (0–1) around time `t`.
pub fn loudness_at(voice: &Stereo, t: f64) -> f32 {
    let centre = (t * f64::from(SAMPLE_RATE)) as usize;
    let half = (SAMPLE_RATE / FPS) as usize;
    let lo = centre.saturating_sub(half).min(voice.frames());
    let hi = (centre + half).min(voice.frames());
    if hi <= lo {
        return 0.0;
    }
    let sum: f32 = voice.samples[lo * 2..hi * 2].iter().map(|s| s * s).sum();
    ((sum / ((hi - lo) * 2) as f32).sqrt() * 4.0).min(1.0)
}

/// Writes a `size`×`size` talking head of the portrait lasting as long as `voice`, with the
/// voice as its sound.
pub fn animate_portrait(
    portrait: &RgbImage,
    voice: &Stereo,
    size: usize,
    out: &Path,
) -> Result<()> {
    let size = size / 2 * 2;
    let base = fit_rgb(
        portrait,
        (size as f32 * 1.2) as u32,
        (size as f32 * 1.2) as u32,
        FitMode::Cover,
        None,
    )?;
    let (bw, bh) = base.dimensions();
    let src = fr::images::ImageRef::new(bw, bh, base.as_raw(), fr::PixelType::U8x3)
        .map_err(|e| crate::MediaError::Internal(format!("portrait: {e}")))?;
    let mut writer = Mp4Writer::create(out, &settings(size, size))?;
    let frames = ((voice.duration_s() * f64::from(FPS)).round() as u64).max(1);
    let mut resizer = fr::Resizer::new();
    let mut dst = fr::images::Image::new(size as u32, size as u32, fr::PixelType::U8x3);
    let mut feed = AudioFeed {
        track: voice,
        written_frames: 0,
    };
    let mut smooth = 0.0f32;
    for i in 0..frames {
        let t = i as f64 / f64::from(FPS);
        smooth = smooth * 0.6 + loudness_at(voice, t) * 0.4;
        // A window of the enlarged portrait that moves: slow sway, breathing, a nod on loud syllables.
        let side = f64::from(bw) * (0.86 - 0.04 * f64::from(smooth) + 0.01 * (t * 1.3).sin());
        let cx = f64::from(bw) / 2.0 + (t * 0.7).sin() * f64::from(bw) * 0.03;
        let cy = f64::from(bh) / 2.0 + (t * 0.9).cos() * f64::from(bh) * 0.015
            - f64::from(smooth) * f64::from(bh) * 0.015;
        let left = (cx - side / 2.0).clamp(0.0, f64::from(bw) - side);
        let top = (cy - side / 2.0).clamp(0.0, f64::from(bh) - side);
        let opts = fr::ResizeOptions::new()
            .crop(left, top, side, side)
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
        resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| crate::MediaError::Internal(format!("portrait resize: {e}")))?;
        let picture = rgb_to_yuv420(dst.buffer(), size, size);
        writer.write_video(&picture, i as i64)?;
        feed.feed_until(&mut writer, (i as usize + 1) * (SAMPLE_RATE / FPS) as usize)?;
    }
    feed.feed_until(&mut writer, usize::MAX)?;
    writer.finish()
}

/// A `width`×`height` clip of drifting colour bands and a soft hum, `seconds` long.
pub fn moving_background(width: usize, height: usize, seconds: f64, out: &Path) -> Result<()> {
    let mut writer = Mp4Writer::create(out, &settings(width, height))?;
    let frames = ((seconds * f64::from(FPS)).round() as u64).max(1);
    let hum = Stereo {
        samples: (0..(seconds * f64::from(SAMPLE_RATE)) as usize)
            .flat_map(|n| {
                let s =
                    ((n as f32 / SAMPLE_RATE as f32) * 220.0 * std::f32::consts::TAU).sin() * 0.2;
                [s, s]
            })
            .collect(),
    };
    let mut feed = AudioFeed {
        track: &hum,
        written_frames: 0,
    };
    let mut picture = Yuv420::new(width, height);
    for i in 0..frames {
        let t = i as f32 / FPS as f32;
        for y in 0..height {
            let band = ((y as f32 / height as f32) * 6.0 + t * 0.8).sin();
            let row = &mut picture.y[y * width..(y + 1) * width];
            for (x, v) in row.iter_mut().enumerate() {
                let wave = ((x as f32 / width as f32) * 4.0 - t * 1.1).cos();
                *v = (110.0 + 45.0 * band + 25.0 * wave) as u8;
            }
        }
        for (k, (u, v)) in picture.u.iter_mut().zip(picture.v.iter_mut()).enumerate() {
            let cy = (k / (width / 2)) as f32 / (height / 2) as f32;
            *u = (128.0 + 40.0 * (cy * 3.0 + t * 0.5).sin()) as u8;
            *v = (128.0 + 40.0 * (cy * 2.0 - t * 0.4).cos()) as u8;
        }
        writer.write_video(&picture, i as i64)?;
        feed.feed_until(&mut writer, (i as usize + 1) * (SAMPLE_RATE / FPS) as usize)?;
    }
    feed.feed_until(&mut writer, usize::MAX)?;
    writer.finish()
}

/// A `width`×`height` clip of `seconds` that slowly pushes in on a still image (cover-fitted),
/// with a silent soundtrack: the offline stand-in for image-to-video models.
pub fn still_clip(
    image: &RgbImage,
    width: usize,
    height: usize,
    seconds: f64,
    out: &Path,
) -> Result<()> {
    let (width, height) = (width / 2 * 2, height / 2 * 2);
    let base = fit_rgb(
        image,
        (width as f32 * 1.15) as u32,
        (height as f32 * 1.15) as u32,
        FitMode::Cover,
        None,
    )?;
    let (bw, bh) = base.dimensions();
    let src = fr::images::ImageRef::new(bw, bh, base.as_raw(), fr::PixelType::U8x3)
        .map_err(|e| crate::MediaError::Internal(format!("still: {e}")))?;
    let mut writer = Mp4Writer::create(out, &settings(width, height))?;
    let frames = ((seconds * f64::from(FPS)).round() as u64).max(1);
    let silence = Stereo {
        samples: vec![0.0; frames as usize * (SAMPLE_RATE / FPS) as usize * 2],
    };
    let mut feed = AudioFeed {
        track: &silence,
        written_frames: 0,
    };
    let mut resizer = fr::Resizer::new();
    let mut dst = fr::images::Image::new(width as u32, height as u32, fr::PixelType::U8x3);
    for i in 0..frames {
        // From the whole enlarged picture to 87 % of it: a slow push-in.
        let k = 1.0 - 0.13 * (i as f64 / frames as f64);
        let (cw, ch) = (f64::from(bw) * k, f64::from(bh) * k);
        let opts = fr::ResizeOptions::new()
            .crop(
                (f64::from(bw) - cw) / 2.0,
                (f64::from(bh) - ch) / 2.0,
                cw,
                ch,
            )
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
        resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| crate::MediaError::Internal(format!("still resize: {e}")))?;
        writer.write_video(&rgb_to_yuv420(dst.buffer(), width, height), i as i64)?;
        feed.feed_until(&mut writer, (i as usize + 1) * (SAMPLE_RATE / FPS) as usize)?;
    }
    feed.feed_until(&mut writer, usize::MAX)?;
    writer.finish()
}
