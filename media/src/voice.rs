//! Voice messages: any audio (an offline WAV preview, a provider's MP3) as Ogg Opus, the
//! format Telegram plays inline as a voice bubble (`sendVoice`). Mono, 48 kHz, 32 kb/s, in
//! 20 ms frames; the speech's duration comes back for the message.
use crate::audio::{decode_audio, SAMPLE_RATE};
use crate::error::{InputProblem, MediaError, Result};
use ffmpeg_next as ff;
use std::path::Path;

/// 20 ms at 48 kHz: the frame size libopus takes.
const OPUS_FRAME: usize = 960;
const VOICE_BITRATE: usize = 32_000;

/// Encodes the audio of `input` into `output` as Ogg Opus; returns its duration in seconds.
pub fn voice_message(input: &Path, output: &Path) -> Result<f64> {
    crate::input::init_ffmpeg();
    let stereo = decode_audio(input)?
        .ok_or_else(|| MediaError::bad_input(input, InputProblem::NoAudioStream))?;
    let mono: Vec<f32> = stereo
        .samples
        .chunks(2)
        .map(|lr| (lr[0] + lr.get(1).copied().unwrap_or(lr[0])) / 2.0)
        .collect();
    if mono.is_empty() {
        return Err(MediaError::bad_input(input, InputProblem::NoAudioStream));
    }
    let codec = ff::encoder::find_by_name("libopus")
        .ok_or_else(|| MediaError::Internal("no libopus encoder in this FFmpeg".into()))?;
    let mut out = ff::format::output_as(output, "ogg")?;
    let global_header = out
        .format()
        .flags()
        .contains(ff::format::Flags::GLOBAL_HEADER);
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()?;
    enc.set_rate(SAMPLE_RATE as i32);
    enc.set_channel_layout(ff::ChannelLayout::MONO);
    // SAFETY: the legacy channel count must match the layout on FFmpeg 5.
    unsafe {
        (*enc.as_mut_ptr()).channels = 1;
    }
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Packed));
    enc.set_bit_rate(VOICE_BITRATE);
    enc.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("application", "voip");
    let mut enc = enc.open_as_with(codec, opts)?;
    {
        let mut st = out.add_stream(codec)?;
        st.set_parameters(&enc);
        st.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    }
    out.write_header()?;
    let tb = ff::Rational(1, SAMPLE_RATE as i32);
    let mut pts = 0i64;
    for chunk in mono.chunks(OPUS_FRAME) {
        // The last frame is padded with silence to a whole one.
        let mut frame = ff::frame::Audio::new(
            ff::format::Sample::F32(ff::format::sample::Type::Packed),
            OPUS_FRAME,
            ff::ChannelLayout::MONO,
        );
        frame.set_rate(SAMPLE_RATE);
        let plane = frame.plane_mut::<f32>(0);
        plane[..chunk.len()].copy_from_slice(chunk);
        plane[chunk.len()..].fill(0.0);
        frame.set_pts(Some(pts));
        pts += OPUS_FRAME as i64;
        enc.send_frame(&frame)?;
        write_packets(&mut enc, &mut out, tb)?;
    }
    enc.send_eof()?;
    write_packets(&mut enc, &mut out, tb)?;
    out.write_trailer()?;
    Ok(mono.len() as f64 / f64::from(SAMPLE_RATE))
}

fn write_packets(
    enc: &mut ff::encoder::Audio,
    out: &mut ff::format::context::Output,
    tb: ff::Rational,
) -> Result<()> {
    let stream_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(tb);
    let mut packet = ff::Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        packet.set_stream(0);
        packet.rescale_ts(tb, stream_tb);
        packet.write_interleaved(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wav_becomes_ogg_opus_of_the_same_length() {
        let dir = tempfile::tempdir().unwrap();
        // 1.5 s of a 220 Hz tone, 16-bit mono PCM at 22 050 Hz (what espeak-ng writes).
        let rate = 22_050u32;
        let samples: Vec<i16> = (0..(rate as usize * 3 / 2))
            .map(|i| {
                ((i as f32 * 220.0 * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16
            })
            .collect();
        let mut wav = Vec::new();
        let data_len = (samples.len() * 2) as u32;
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data_len).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate * 2).to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        let path = dir.path().join("speech.wav");
        std::fs::write(&path, wav).unwrap();
        let wav = path;
        let ogg = dir.path().join("speech.ogg");
        let secs = super::voice_message(&wav, &ogg).unwrap();
        assert!((secs - 1.5).abs() < 0.05, "{secs}");
        let info = crate::probe(&ogg).unwrap();
        let audio = info.audio.unwrap();
        assert_eq!(audio.codec, "opus");
        assert_eq!(info.container, "ogg");
        assert!((info.duration_s - 1.5).abs() < 0.1, "{}", info.duration_s);
    }
}
