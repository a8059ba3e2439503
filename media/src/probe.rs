//! What is inside a media file: container, streams, codecs, frame rate (and whether it varies),
//! and the display size after rotation, read from the display-matrix side data.
use crate::error::{InputProblem, MediaError, Result};
use crate::input::{open_media, MAX_VIDEO_PIXELS};
use ffmpeg_next as ff;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct MediaInfo {
    pub container: String,
    pub duration_s: f64,
    pub size_bytes: u64,
    pub bit_rate: i64,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub codec: String,
    pub pixel_format: String,
    pub coded_width: u32,
    pub coded_height: u32,
    /// Clockwise rotation to apply for display: 0, 90, 180 or 270.
    pub rotation: u32,
    pub display_width: u32,
    pub display_height: u32,
    pub frame_rate: f64,
    pub variable_frame_rate: bool,
    pub duration_s: f64,
    pub color_transfer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_s: f64,
}

pub fn probe(path: &Path) -> Result<MediaInfo> {
    let mut input = open_media(path)?;
    let size_bytes = std::fs::metadata(path)?.len();
    let container = input.format().name().to_string();
    let duration_s = if input.duration() > 0 {
        input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    let bit_rate = input.bit_rate();

    let video = match input.streams().best(ff::media::Type::Video) {
        Some(stream) if !is_cover_art(&stream) => Some(video_info(path, &stream, duration_s)?),
        _ => None,
    };
    let audio = input
        .streams()
        .best(ff::media::Type::Audio)
        .map(|s| audio_info(&s, duration_s));
    if video.is_none() && audio.is_none() {
        return Err(MediaError::bad_input(path, InputProblem::NotMedia));
    }
    let mut info = MediaInfo {
        container,
        duration_s,
        size_bytes,
        bit_rate,
        video,
        audio,
    };
    if let Some(v) = info.video.as_mut() {
        let index = input
            .streams()
            .best(ff::media::Type::Video)
            .map(|s| s.index())
            .unwrap_or(0);
        v.variable_frame_rate |= timestamps_vary(&mut input, index);
    }
    Ok(info)
}

/// An attached picture (album art) is not a video stream.
pub(crate) fn is_cover_art(stream: &ff::format::stream::Stream) -> bool {
    stream
        .disposition()
        .contains(ff::format::stream::Disposition::ATTACHED_PIC)
}

fn video_info(
    path: &Path,
    stream: &ff::format::stream::Stream,
    container_s: f64,
) -> Result<VideoInfo> {
    let params = stream.parameters();
    // SAFETY: the parameters belong to a live stream of an open input.
    let (w, h, fmt, trc) = unsafe {
        let p = &*params.as_ptr();
        (
            p.width.max(0) as u32,
            p.height.max(0) as u32,
            p.format,
            p.color_trc,
        )
    };
    if w == 0 || h == 0 {
        return Err(MediaError::bad_input(
            path,
            InputProblem::Invalid("its video stream has no frame size".into()),
        ));
    }
    if u64::from(w) * u64::from(h) > MAX_VIDEO_PIXELS {
        return Err(MediaError::bad_input(
            path,
            InputProblem::TooLarge(format!("{w}×{h} video frames are larger than 8K")),
        ));
    }
    let rotation = stream_rotation(stream);
    let (display_width, display_height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    let avg = rational(stream.avg_frame_rate());
    let real = rational(stream.rate());
    let frame_rate = if avg > 0.0 { avg } else { real };
    let variable_frame_rate = avg > 0.0 && real > 0.0 && ((avg - real).abs() / real) > 0.01;
    // SAFETY: a valid enum value read from ffmpeg; the name is a static string.
    let pixel_format = unsafe {
        c_name(ff::ffi::av_get_pix_fmt_name(std::mem::transmute::<
            i32,
            ff::ffi::AVPixelFormat,
        >(fmt)))
    };
    let color_transfer = unsafe { c_name(ff::ffi::av_color_transfer_name(trc)) };
    Ok(VideoInfo {
        codec: codec_name(params.id()),
        pixel_format,
        coded_width: w,
        coded_height: h,
        rotation,
        display_width,
        display_height,
        frame_rate,
        variable_frame_rate,
        duration_s: stream_duration(stream).unwrap_or(container_s),
        color_transfer,
    })
}

fn audio_info(stream: &ff::format::stream::Stream, container_s: f64) -> AudioInfo {
    let params = stream.parameters();
    // SAFETY: as above.
    let (rate, channels) = unsafe {
        let p = &*params.as_ptr();
        (
            p.sample_rate.max(0) as u32,
            p.ch_layout.nb_channels.max(0) as u16,
        )
    };
    AudioInfo {
        codec: codec_name(params.id()),
        sample_rate: rate,
        channels,
        duration_s: stream_duration(stream).unwrap_or(container_s),
    }
}

/// Clockwise degrees from the display matrix, falling back to the legacy `rotate` tag.
pub fn stream_rotation(stream: &ff::format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix
            && side.data().len() >= 36
        {
            let mut m = [0i32; 9];
            for (i, v) in m.iter_mut().enumerate() {
                let b = &side.data()[i * 4..i * 4 + 4];
                *v = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            }
            // SAFETY: the matrix holds 9 i32 values as av_display_rotation_get expects.
            let ccw = unsafe { ff::ffi::av_display_rotation_get(m.as_ptr()) };
            if ccw.is_finite() {
                return normalise_rotation(-ccw);
            }
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|r| r.parse::<f64>().ok())
        .map(normalise_rotation)
        .unwrap_or(0)
}

/// Rounds any angle to the nearest quarter turn in [0, 360).
pub fn normalise_rotation(deg: f64) -> u32 {
    let quarter = (deg / 90.0).round() as i64;
    (quarter.rem_euclid(4) * 90) as u32
}

fn stream_duration(stream: &ff::format::stream::Stream) -> Option<f64> {
    let d = stream.duration();
    (d > 0).then(|| d as f64 * rational(stream.time_base()))
}

/// Sorted packet timestamps of the first few seconds: a variable frame rate shows as steps that
/// differ from the typical step by more than a fifth.
fn timestamps_vary(input: &mut ff::format::context::Input, index: usize) -> bool {
    let mut pts: Vec<i64> = Vec::with_capacity(300);
    let mut packet = ff::Packet::empty();
    while pts.len() < 300 {
        match packet.read(input) {
            Ok(()) if packet.stream() == index => {
                if let Some(p) = packet.pts() {
                    pts.push(p)
                }
            }
            Ok(()) => {}
            Err(_) => break,
        }
    }
    frame_steps_vary(&mut pts)
}

pub(crate) fn frame_steps_vary(pts: &mut [i64]) -> bool {
    pts.sort_unstable();
    let mut steps: Vec<i64> = pts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    if steps.len() < 4 {
        return false;
    }
    steps.sort_unstable();
    let median = steps[steps.len() / 2] as f64;
    let outliers = steps
        .iter()
        .filter(|s| ((**s as f64) - median).abs() > median * 0.2)
        .count();
    outliers * 20 > steps.len()
}

pub(crate) fn rational(r: ff::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}

fn codec_name(id: ff::codec::Id) -> String {
    ff::codec::decoder::find(id)
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| format!("{id:?}").to_lowercase())
}

unsafe fn c_name(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        "unknown".into()
    } else {
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_snaps_to_quarter_turns() {
        assert_eq!(normalise_rotation(-90.0), 270);
        assert_eq!(normalise_rotation(90.0), 90);
        assert_eq!(normalise_rotation(180.0), 180);
        assert_eq!(normalise_rotation(-180.0), 180);
        assert_eq!(normalise_rotation(359.0), 0);
    }

    #[test]
    fn steady_timestamps_are_constant_rate_and_jittered_ones_variable() {
        let mut steady: Vec<i64> = (0..100).map(|i| i * 512).collect();
        assert!(!frame_steps_vary(&mut steady));
        let mut t = 0;
        let mut vfr: Vec<i64> = (0..100)
            .map(|i| {
                t += if i % 3 == 0 { 1000 } else { 512 };
                t
            })
            .collect();
        assert!(frame_steps_vary(&mut vfr));
    }
}
