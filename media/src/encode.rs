//! Writing the result: H.264 High 4:2:0 (libx264, or NVENC where the GPU has an encoder) and
//! AAC 48 kHz stereo in an MP4 with the index at the front (`+faststart`), under a bitrate
//! ceiling that keeps the file below the size cap.
use crate::audio::{Stereo, SAMPLE_RATE};
use crate::error::{MediaError, Result};
use crate::yuv::Yuv420;
use ffmpeg_next as ff;
use std::path::Path;

/// Frames per second of every composite (the background and the head are resampled to it).
pub const OUTPUT_FPS: u32 = 30;

pub const AUDIO_BITRATE: u64 = 128_000;
const AAC_FRAME: usize = 1024;

#[derive(Debug, Clone)]
pub struct EncodeSettings {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub crf: u8,
    pub preset: String,
    /// Video bitrate ceiling in bits per second (from [`video_bitrate_ceiling`]).
    pub max_video_bps: u64,
    /// Try the GPU encoder first (falls back to libx264 when it cannot be opened).
    pub try_nvenc: bool,
}

/// Seconds of video the encoder's rate buffer (VBV) holds: it may spend them on top of the
/// ceiling at any point, so the budget leaves room for them.
pub const VBV_SECONDS: f64 = 0.5;

/// The video bitrate that keeps `duration_s` of output under `max_bytes` with the audio
/// track, ~4 % container overhead and the rate buffer's burst, or an error when even a poor
/// picture would not fit.
pub fn video_bitrate_ceiling(max_bytes: u64, duration_s: f64) -> Result<u64> {
    let duration = duration_s.max(0.1);
    let video_bits = max_bytes as f64 * 8.0 * 0.96 - AUDIO_BITRATE as f64 * duration;
    // Worst case the encoder spends ceiling × duration plus one full buffer.
    let video = video_bits / (duration + VBV_SECONDS);
    if video < 150_000.0 {
        return Err(MediaError::BadParameter(format!(
            "{duration_s:.1} s of video cannot fit in {:.1} MB; allow a larger size or use a shorter voice",
            max_bytes as f64 / 1_048_576.0
        )));
    }
    Ok(video as u64)
}

/// Runs `make(cap, pass)` (pass 1, 2, 3) while it reports [`MediaError::OverCap`], aiming 20 %
/// lower each time; the last over-cap error names the caller's `cap`.
pub fn within_cap<T>(cap: u64, mut make: impl FnMut(u64, u32) -> Result<T>) -> Result<T> {
    let mut aim = cap;
    let mut pass = 1;
    loop {
        match make(aim, pass) {
            Err(MediaError::OverCap { bytes, .. }) if pass >= MAX_PASSES => {
                return Err(MediaError::OverCap { bytes, cap });
            }
            Err(MediaError::OverCap { .. }) => {
                aim = aim / 5 * 4;
                pass += 1;
            }
            other => return other,
        }
    }
}

/// The first pass and up to two more aiming lower.
const MAX_PASSES: u32 = 3;

pub struct Mp4Writer {
    output: ff::format::context::Output,
    video: ff::encoder::Video,
    audio: ff::encoder::Audio,
    video_tb: ff::Rational,
    audio_tb: ff::Rational,
    frame: ff::frame::Video,
    audio_pts: i64,
    pub encoder_name: &'static str,
}

impl Mp4Writer {
    pub fn create(path: &Path, s: &EncodeSettings) -> Result<Self> {
        crate::input::init_ffmpeg();
        let mut output = ff::format::output_as(&path, "mp4")?;
        let global_header = output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let (video, encoder_name) = open_video_encoder(s, global_header)?;
        let audio = open_audio_encoder(global_header)?;
        let video_tb = ff::Rational(1, s.fps as i32);
        let audio_tb = ff::Rational(1, SAMPLE_RATE as i32);
        {
            let mut st = output.add_stream(ff::encoder::find(ff::codec::Id::H264))?;
            st.set_parameters(&video);
            st.set_time_base(video_tb);
        }
        {
            let mut st = output.add_stream(ff::encoder::find(ff::codec::Id::AAC))?;
            st.set_parameters(&audio);
            st.set_time_base(audio_tb);
        }
        let mut opts = ff::Dictionary::new();
        opts.set("movflags", "+faststart");
        output.write_header_with(opts)?;
        let frame =
            ff::frame::Video::new(ff::format::Pixel::YUV420P, s.width as u32, s.height as u32);
        Ok(Self {
            output,
            video,
            audio,
            video_tb,
            audio_tb,
            frame,
            audio_pts: 0,
            encoder_name,
        })
    }

    pub fn write_video(&mut self, picture: &Yuv420, index: i64) -> Result<()> {
        picture.write_to_frame(&mut self.frame);
        self.frame.set_pts(Some(index));
        self.video.send_frame(&self.frame)?;
        self.drain_video()
    }

    /// Encodes whole AAC frames of `samples` (interleaved stereo), continuing the timeline.
    pub fn write_audio(&mut self, samples: &[f32]) -> Result<()> {
        for chunk in samples.chunks(AAC_FRAME * 2) {
            let n = chunk.len() / 2;
            let mut frame = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                n,
                ff::ChannelLayout::STEREO,
            );
            frame.set_rate(SAMPLE_RATE);
            for ch in 0..2 {
                let plane = frame.plane_mut::<f32>(ch);
                for (i, v) in plane.iter_mut().enumerate().take(n) {
                    *v = chunk[i * 2 + ch];
                }
            }
            frame.set_pts(Some(self.audio_pts));
            self.audio_pts += n as i64;
            self.audio.send_frame(&frame)?;
            self.drain_audio()?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.video.send_eof()?;
        self.drain_video()?;
        self.audio.send_eof()?;
        self.drain_audio()?;
        self.output.write_trailer()?;
        Ok(())
    }

    fn drain_video(&mut self) -> Result<()> {
        drain(&mut self.video, &mut self.output, 0, self.video_tb, true)
    }

    fn drain_audio(&mut self) -> Result<()> {
        drain(&mut self.audio, &mut self.output, 1, self.audio_tb, false)
    }
}

/// Moves every finished packet of one encoder into the muxer. Video packets without a
/// duration get one frame, so the stream lasts as long as its frames.
fn drain(
    encoder: &mut ff::encoder::Encoder,
    output: &mut ff::format::context::Output,
    stream: usize,
    encoder_tb: ff::Rational,
    one_frame_duration: bool,
) -> Result<()> {
    let stream_tb = output
        .stream(stream)
        .map(|s| s.time_base())
        .unwrap_or(encoder_tb);
    let mut packet = ff::Packet::empty();
    while encoder.receive_packet(&mut packet).is_ok() {
        packet.set_stream(stream);
        if one_frame_duration && packet.duration() <= 0 {
            packet.set_duration(1);
        }
        packet.rescale_ts(encoder_tb, stream_tb);
        packet.write_interleaved(output)?;
    }
    Ok(())
}

/// Writes a whole soundtrack in AAC frame sized pieces, keeping a remainder for the next call.
pub struct AudioFeed<'a> {
    pub track: &'a Stereo,
    pub written_frames: usize,
}

impl AudioFeed<'_> {
    /// Sends everything up to `until_frames` (stereo frames), in multiples of the AAC frame
    /// except at the very end.
    pub fn feed_until(&mut self, writer: &mut Mp4Writer, until_frames: usize) -> Result<()> {
        let end = until_frames.min(self.track.frames());
        let whole = if end == self.track.frames() {
            end
        } else {
            self.written_frames + (end - self.written_frames.min(end)) / AAC_FRAME * AAC_FRAME
        };
        if whole > self.written_frames {
            writer.write_audio(&self.track.samples[self.written_frames * 2..whole * 2])?;
            self.written_frames = whole;
        }
        Ok(())
    }
}

/// True when this host can open an NVENC H.264 session (a GPU with an encoder and its driver);
/// "has CUDA" is not enough — H100/H200 have no NVENC.
pub fn nvenc_available() -> bool {
    crate::input::init_ffmpeg();
    let probe = EncodeSettings {
        width: 256,
        height: 256,
        fps: 30,
        crf: 23,
        preset: "veryfast".into(),
        max_video_bps: 1_000_000,
        try_nvenc: true,
    };
    open_h264(&probe, false, "h264_nvenc").is_ok()
}

fn open_video_encoder(
    s: &EncodeSettings,
    global_header: bool,
) -> Result<(ff::encoder::Video, &'static str)> {
    if s.try_nvenc {
        if let Ok(enc) = open_h264(s, global_header, "h264_nvenc") {
            return Ok((enc, "h264_nvenc"));
        }
    }
    let enc = open_h264(s, global_header, "libx264")
        .map_err(|e| MediaError::Internal(format!("cannot open libx264: {e}")))?;
    Ok((enc, "libx264"))
}

fn open_h264(
    s: &EncodeSettings,
    global_header: bool,
    name: &str,
) -> Result<ff::encoder::Video, ff::Error> {
    let codec = ff::encoder::find_by_name(name).ok_or(ff::Error::EncoderNotFound)?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()?;
    enc.set_width(s.width as u32);
    enc.set_height(s.height as u32);
    enc.set_format(ff::format::Pixel::YUV420P);
    enc.set_time_base(ff::Rational(1, s.fps as i32));
    enc.set_frame_rate(Some(ff::Rational(s.fps as i32, 1)));
    enc.set_gop(s.fps * 2);
    enc.set_colorspace(ff::color::Space::BT709);
    enc.set_color_range(ff::color::Range::MPEG);
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("profile", "high");
    opts.set("maxrate", &s.max_video_bps.to_string());
    opts.set(
        "bufsize",
        &((s.max_video_bps as f64 * VBV_SECONDS) as u64).to_string(),
    );
    if name == "libx264" {
        opts.set("preset", &s.preset);
        opts.set("crf", &s.crf.to_string());
        opts.set("threads", &crate::cores().to_string());
    } else {
        opts.set("preset", "p4");
        opts.set("rc", "vbr");
        opts.set("cq", &s.crf.to_string());
    }
    // SAFETY: plain field writes before the encoder is opened.
    unsafe {
        let raw = enc.as_mut_ptr();
        (*raw).color_primaries = ff::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        (*raw).color_trc = ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT709;
    }
    enc.open_with(opts)
}

fn open_audio_encoder(global_header: bool) -> Result<ff::encoder::Audio> {
    let codec = ff::encoder::find(ff::codec::Id::AAC)
        .ok_or_else(|| MediaError::Internal("no AAC encoder in this FFmpeg".into()))?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()?;
    enc.set_rate(SAMPLE_RATE as i32);
    enc.set_channel_layout(ff::ChannelLayout::STEREO);
    // SAFETY: the legacy channel count must match the layout on FFmpeg 5.
    unsafe {
        (*enc.as_mut_ptr()).channels = 2;
    }
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_bit_rate(AUDIO_BITRATE as usize);
    enc.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    Ok(enc.open_as(codec)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A maker that is over its cap for the first `over` passes (by 10 %), then fits.
    fn maker(over: u32, calls: &mut Vec<(u64, u32)>) -> impl FnMut(u64, u32) -> Result<u64> + '_ {
        move |cap, pass| {
            calls.push((cap, pass));
            if pass <= over {
                Err(MediaError::OverCap {
                    bytes: cap + cap / 10,
                    cap,
                })
            } else {
                Ok(cap - 1)
            }
        }
    }

    #[test]
    fn an_over_cap_result_is_made_again_aiming_twenty_percent_lower() {
        let mut calls = Vec::new();
        let made = within_cap(1_000_000, maker(1, &mut calls)).unwrap();
        assert_eq!(calls, vec![(1_000_000, 1), (800_000, 2)]);
        assert!(made <= 1_000_000);

        let mut calls = Vec::new();
        within_cap(1_000_000, maker(2, &mut calls)).unwrap();
        assert_eq!(calls, vec![(1_000_000, 1), (800_000, 2), (640_000, 3)]);

        let mut calls = Vec::new();
        within_cap(1_000_000, maker(0, &mut calls)).unwrap();
        assert_eq!(calls.len(), 1, "a result within the cap is made once");
    }

    #[test]
    fn three_passes_over_the_cap_report_the_callers_cap() {
        let mut calls = Vec::new();
        let err = within_cap(1_000_000, maker(9, &mut calls)).unwrap_err();
        assert_eq!(calls.len(), 3);
        match err {
            MediaError::OverCap { bytes, cap } => {
                assert_eq!(
                    cap, 1_000_000,
                    "the cap the caller asked for, not the last aim"
                );
                assert_eq!(bytes, 704_000, "the last pass's size");
            }
            other => panic!("{other:?}"),
        }
        // Other errors are not retried.
        let mut passes = 0;
        let err = within_cap(1_000_000, |_, _| -> Result<()> {
            passes += 1;
            Err(MediaError::Cancelled)
        })
        .unwrap_err();
        assert!(matches!(err, MediaError::Cancelled) && passes == 1);
    }

    #[test]
    fn bitrate_ceiling_keeps_a_minute_under_fifty_megabytes() {
        let bps = video_bitrate_ceiling(50 * 1024 * 1024, 60.0).unwrap();
        // Worst case: the ceiling for the whole minute plus one full rate buffer.
        let bytes = (bps as f64 * (60.0 + VBV_SECONDS) + AUDIO_BITRATE as f64 * 60.0) / 8.0;
        assert!(bytes < 50.0 * 1024.0 * 1024.0 * 0.97, "{bytes}");
        assert!(bps > 6_000_000, "a minute still gets a good bitrate: {bps}");
    }

    #[test]
    fn impossible_budget_is_refused_with_a_reason() {
        let err = video_bitrate_ceiling(100_000, 120.0).unwrap_err();
        assert!(err.to_string().contains("cannot fit"));
    }
}
