//! Audio in and out of the mix: any audio stream decoded and resampled to 48 kHz stereo
//! float, the voice normalised, the background looped under it at a set volume.
use crate::error::{InputProblem, MediaError, Result};
use crate::input::{decoder_context, open_media};
use ffmpeg_next as ff;
use std::path::Path;

pub const SAMPLE_RATE: u32 = 48_000;

/// Interleaved stereo samples at [`SAMPLE_RATE`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stereo {
    pub samples: Vec<f32>,
}

impl Stereo {
    pub fn frames(&self) -> usize {
        self.samples.len() / 2
    }
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(SAMPLE_RATE)
    }
}

/// Decodes the best audio stream of `path`; `Ok(None)` when the file has none.
pub fn decode_audio(path: &Path) -> Result<Option<Stereo>> {
    let mut input = open_media(path)?;
    let Some(stream) = input.streams().best(ff::media::Type::Audio) else {
        return Ok(None);
    };
    let index = stream.index();
    let mut decoder = decoder_context(path, &stream)?
        .decoder()
        .audio()
        .map_err(|_| MediaError::bad_input(path, InputProblem::UnsupportedCodec("audio".into())))?;
    let mut out = Stereo::default();
    let mut resampler: Option<ff::software::resampling::Context> = None;
    let mut frame = ff::frame::Audio::empty();
    let mut packet = ff::Packet::empty();
    let mut eof = false;
    loop {
        match decoder.receive_frame(&mut frame) {
            Ok(()) => {
                resample_into(&mut resampler, &mut frame, &mut out)?;
                continue;
            }
            Err(ff::Error::Eof) => break,
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
            Err(_) => continue,
        }
        if eof {
            break;
        }
        loop {
            match packet.read(&mut input) {
                Ok(()) if packet.stream() == index => {
                    let _ = decoder.send_packet(&packet);
                    break;
                }
                Ok(()) => {}
                Err(_) => {
                    eof = true;
                    let _ = decoder.send_eof();
                    break;
                }
            }
        }
    }
    if let Some(r) = resampler.as_mut() {
        loop {
            let mut tail = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                4096,
                ff::ChannelLayout::STEREO,
            );
            r.flush(&mut tail)?;
            if tail.samples() == 0 {
                break;
            }
            out.samples.extend_from_slice(
                &tail
                    .plane::<(f32, f32)>(0)
                    .iter()
                    .flat_map(|(l, r)| [*l, *r])
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(Some(out))
}

fn resample_into(
    resampler: &mut Option<ff::software::resampling::Context>,
    frame: &mut ff::frame::Audio,
    out: &mut Stereo,
) -> Result<()> {
    if frame.samples() == 0 || frame.rate() == 0 {
        return Ok(());
    }
    if frame.channel_layout().is_empty() {
        frame.set_channel_layout(ff::ChannelLayout::default(i32::from(frame.channels())));
    }
    let stale = resampler.as_ref().map(|r| {
        let i = r.input();
        i.format != frame.format()
            || i.rate != frame.rate()
            || i.channel_layout != frame.channel_layout()
    });
    if stale.unwrap_or(true) {
        *resampler = Some(ff::software::resampling::Context::get(
            frame.format(),
            frame.channel_layout(),
            frame.rate(),
            ff::format::Sample::F32(ff::format::sample::Type::Packed),
            ff::ChannelLayout::STEREO,
            SAMPLE_RATE,
        )?);
    }
    let Some(r) = resampler.as_mut() else {
        return Ok(());
    };
    // Room for the whole converted frame plus what swr may hold back, so nothing piles up.
    let capacity = frame.samples() * SAMPLE_RATE as usize / frame.rate() as usize + 512;
    let mut converted = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Packed),
        capacity,
        ff::ChannelLayout::STEREO,
    );
    r.run(frame, &mut converted)?;
    let n = converted.samples();
    let data = converted.data(0);
    out.samples.reserve(n * 2);
    for chunk in data[..n * 8].chunks_exact(4) {
        out.samples
            .push(f32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    Ok(())
}

/// Gain that brings speech to a comfortable level (RMS about −18 dBFS) without clipping
/// its peaks or boosting near-silence into noise.
pub fn voice_gain(voice: &Stereo) -> f32 {
    if voice.samples.is_empty() {
        return 1.0;
    }
    let peak = voice.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let rms =
        (voice.samples.iter().map(|s| s * s).sum::<f32>() / voice.samples.len() as f32).sqrt();
    if peak < 1e-4 || rms < 1e-4 {
        return 1.0;
    }
    (0.126 / rms).min(0.95 / peak).clamp(0.25, 4.0)
}

/// The output soundtrack: `frames` stereo frames of the voice (normalised) plus the background
/// looped to length at `bg_volume`, limited to [-1, 1]. Silence where neither has sound.
pub fn mix_soundtrack(
    voice: Option<&Stereo>,
    background: Option<&Stereo>,
    bg_volume: f32,
    frames: usize,
) -> Stereo {
    let mut mix = vec![0.0f32; frames * 2];
    if let Some(v) = voice {
        let g = voice_gain(v);
        for (m, s) in mix.iter_mut().zip(&v.samples) {
            *m = s * g;
        }
    }
    if let Some(b) = background.filter(|b| !b.samples.is_empty() && bg_volume > 0.0) {
        for (i, m) in mix.iter_mut().enumerate() {
            *m += b.samples[i % b.samples.len()] * bg_volume;
        }
    }
    for m in &mut mix {
        *m = m.clamp(-1.0, 1.0);
    }
    Stereo { samples: mix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_loops_under_the_voice_at_its_volume() {
        let voice = Stereo {
            samples: vec![0.0; 8],
        };
        let bg = Stereo {
            samples: vec![0.5, 0.5, -0.5, -0.5],
        };
        let mix = mix_soundtrack(Some(&voice), Some(&bg), 0.2, 4);
        assert_eq!(
            mix.samples,
            vec![0.1, 0.1, -0.1, -0.1, 0.1, 0.1, -0.1, -0.1]
        );
    }

    #[test]
    fn mix_is_silent_without_sources_and_has_the_asked_length() {
        let mix = mix_soundtrack(None, None, 0.15, 480);
        assert_eq!(mix.samples.len(), 960);
        assert!(mix.samples.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn quiet_voice_is_raised_but_peaks_never_clip() {
        let quiet = Stereo {
            samples: (0..4800)
                .map(|i| if i % 100 == 0 { 0.5 } else { 0.01 })
                .collect(),
        };
        let g = voice_gain(&quiet);
        assert!(g > 1.0 && 0.5 * g <= 0.95 + 1e-6, "gain {g}");
    }
}
