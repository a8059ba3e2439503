//! Audio in and out of the mix: any audio stream decoded and resampled to 48 kHz stereo
//! float, the voice normalised, the background looped under it at a set volume.
use crate::error::{InputProblem, MediaError, Result};
use crate::input::{decoder_context, open_media_for_audio};
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
    let mut input = open_media_for_audio(path)?;
    let Some(stream) = input.streams().best(ff::media::Type::Audio) else {
        return Ok(None);
    };
    let index = stream.index();
    let mut decoder = decoder_context(path, &stream)?
        .decoder()
        .audio()
        .map_err(|_| MediaError::bad_input(path, InputProblem::UnsupportedCodec("audio".into())))?;
    // The other streams' packets are not even read (a phone clip's video is most of the file).
    // SAFETY: plain field writes on the streams of the open input, before reading packets.
    unsafe {
        let ctx = input.as_mut_ptr();
        for i in (0..(*ctx).nb_streams as usize).filter(|i| *i != index) {
            (*(*(*ctx).streams.add(i))).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
        }
    }
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

/// How far the background dips under the voice (dB), and how fast.
pub const DUCK_DB: f32 = -12.0;
const DUCK_ATTACK_S: f32 = 0.05;
const DUCK_RELEASE_S: f32 = 0.3;
/// The voice level (after its normalisation) from which the background is fully ducked.
const DUCK_FULL_AT: f32 = 0.05;

/// The track from second `start` on (the whole of it when `start` is 0 or past its end).
pub fn from_second(mut track: Stereo, start: f64) -> Stereo {
    let skip = (start.max(0.0) * f64::from(SAMPLE_RATE)) as usize;
    if skip > 0 && skip < track.frames() {
        track.samples.drain(..skip * 2);
    }
    track
}

/// Fades the track linearly to silence from frame `from` to its end (nothing before it).
pub fn fade_out_from(track: &mut Stereo, from: usize) {
    let start = (2 * from).min(track.samples.len());
    let len = ((track.samples.len() - start) / 2).max(1) as f32;
    for (n, pair) in track.samples[start..].chunks_mut(2).enumerate() {
        let gain = 1.0 - n as f32 / len;
        pair.iter_mut().for_each(|s| *s *= gain);
    }
}

/// The output soundtrack: `frames` stereo frames of the voice (normalised) plus the background
/// looped to length at `bg_volume`, ducked by [`DUCK_DB`] under the voice (an envelope
/// follower on the voice, ~50 ms attack, ~300 ms release) and back in the pauses, limited to
/// [-1, 1]. Silence where neither has sound.
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
        let rate = SAMPLE_RATE as f32;
        let attack = (-1.0 / (DUCK_ATTACK_S * rate)).exp();
        let release = (-1.0 / (DUCK_RELEASE_S * rate)).exp();
        let ducked = 10f32.powf(DUCK_DB / 20.0);
        let mut env = 0.0f32;
        for i in 0..frames {
            // The voice's envelope (the mix holds only the voice so far).
            let x = mix[2 * i].abs().max(mix[2 * i + 1].abs());
            let k = if x > env { attack } else { release };
            env = k * env + (1.0 - k) * x;
            let depth = (env / DUCK_FULL_AT).min(1.0);
            let gain = bg_volume * (1.0 + (ducked - 1.0) * depth);
            for c in 0..2 {
                let j = 2 * i + c;
                mix[j] += b.samples[j % b.samples.len()] * gain;
            }
        }
    }
    for m in &mut mix {
        *m = m.clamp(-1.0, 1.0);
    }
    Stereo { samples: mix }
}

/// What [`normalize_loudness`] measured and did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Loudness {
    /// Integrated loudness before and after (LUFS, EBU R128).
    pub before_lufs: f64,
    pub after_lufs: f64,
    /// True peak after (dBTP).
    pub true_peak_db: f64,
}

/// Integrated loudness (LUFS) and, with `peak`, the true peak (dBTP; its 4× oversampling is
/// the costly part, so the gain rounds skip it).
fn measure_with(track: &Stereo, peak: bool) -> Option<(f64, f64)> {
    let mode = if peak {
        ebur128::Mode::I | ebur128::Mode::TRUE_PEAK
    } else {
        ebur128::Mode::I
    };
    let mut m = ebur128::EbuR128::new(2, SAMPLE_RATE, mode).ok()?;
    m.add_frames_f32(&track.samples).ok()?;
    let lufs = m.loudness_global().ok()?;
    let tp = if peak {
        let p = (0..2)
            .filter_map(|c| m.true_peak(c).ok())
            .fold(0.0f64, f64::max);
        20.0 * p.max(1e-9).log10()
    } else {
        f64::NEG_INFINITY
    };
    lufs.is_finite().then_some((lufs, tp))
}

fn measure(track: &Stereo) -> Option<(f64, f64)> {
    measure_with(track, true)
}

/// Brings the mix to `target_lufs` integrated loudness (EBU R128, the platforms' −14 LUFS)
/// with the true peak kept at or under `max_true_peak_db` by a look-ahead limiter. A silent
/// track is left as it is (`None`).
pub fn normalize_loudness(
    track: &mut Stereo,
    target_lufs: f64,
    max_true_peak_db: f64,
) -> Option<Loudness> {
    let (before, _) = measure_with(track, false)?;
    // Sample peaks under the ceiling with 0.7 dB of room for the peaks between samples.
    let ceiling = 10f32.powf(((max_true_peak_db - 0.7) / 20.0) as f32);
    let mut after = before;
    // Gain, then the limiter (which takes a little loudness back): a few rounds converge.
    for _ in 0..3 {
        if (after - target_lufs).abs() < 0.2 {
            break;
        }
        let gain = 10f32.powf(((target_lufs - after) / 20.0) as f32).min(16.0);
        for s in &mut track.samples {
            *s *= gain;
        }
        limit(track, ceiling);
        after = measure_with(track, false)?.0;
    }
    let (mut after, mut tp) = measure(track)?;
    if tp > max_true_peak_db {
        let trim = 10f32.powf(((max_true_peak_db - tp - 0.05) / 20.0) as f32);
        for s in &mut track.samples {
            *s *= trim;
        }
        (after, tp) = measure(track)?;
    }
    Some(Loudness {
        before_lufs: before,
        after_lufs: after,
        true_peak_db: tp,
    })
}

/// A look-ahead peak limiter: 5 ms look-ahead (the gain is already down when a peak
/// arrives), 80 ms release, stereo-linked.
fn limit(track: &mut Stereo, ceiling: f32) {
    let frames = track.frames();
    if frames == 0 {
        return;
    }
    let look = (SAMPLE_RATE as usize / 200).max(1);
    let need: Vec<f32> = (0..frames)
        .map(|i| {
            let p = track.samples[2 * i]
                .abs()
                .max(track.samples[2 * i + 1].abs());
            if p > ceiling {
                ceiling / p
            } else {
                1.0
            }
        })
        .collect();
    // The smallest gain needed within the look-ahead window (a monotonic queue).
    let mut ahead = vec![1.0f32; frames];
    let mut q: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for j in (0..frames).rev() {
        while q.back().is_some_and(|&k| need[k] >= need[j]) {
            q.pop_back();
        }
        q.push_back(j);
        while q.front().is_some_and(|&k| k > j + look) {
            q.pop_front();
        }
        ahead[j] = need[*q.front().unwrap_or(&j)];
    }
    let release = (-1.0 / (0.08 * SAMPLE_RATE as f32)).exp();
    let mut g = 1.0f32;
    for (frame, &want) in track.samples.chunks_exact_mut(2).zip(&ahead) {
        g = if want < g {
            want
        } else {
            release * g + (1.0 - release) * want
        };
        frame[0] *= g;
        frame[1] *= g;
    }
}

/// The stretches where the voice is audible, in seconds: 20 ms windows whose level is within
/// 26 dB of the loudest window, with pauses shorter than 150 ms bridged and blips shorter
/// than 80 ms dropped. Empty for silence.
pub fn speech_segments(voice: &Stereo) -> Vec<(f64, f64)> {
    let win = SAMPLE_RATE as usize / 50;
    let levels: Vec<f32> = voice
        .samples
        .chunks(win * 2)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len().max(1) as f32).sqrt())
        .collect();
    let loudest = levels.iter().copied().fold(0.0f32, f32::max);
    if loudest < 1e-4 {
        return Vec::new();
    }
    let threshold = loudest * 0.05;
    let step = win as f64 / f64::from(SAMPLE_RATE);
    let mut segments: Vec<(f64, f64)> = Vec::new();
    for (i, l) in levels.iter().enumerate() {
        if *l < threshold {
            continue;
        }
        let (a, b) = (i as f64 * step, (i + 1) as f64 * step);
        match segments.last_mut() {
            Some(last) if a - last.1 < 0.15 => last.1 = b,
            _ => segments.push((a, b)),
        }
    }
    segments.retain(|(a, b)| b - a >= 0.08);
    let end = voice.duration_s();
    segments
        .into_iter()
        .map(|(a, b)| ((a - 0.02).max(0.0), (b + 0.02).min(end)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fade_leaves_the_speech_and_ends_in_silence() {
        let mut t = Stereo {
            samples: vec![0.5; 2 * 100],
        };
        fade_out_from(&mut t, 60);
        assert!(
            t.samples[..120].iter().all(|s| *s == 0.5),
            "the speech is untouched"
        );
        assert_eq!(t.samples[120], 0.5, "the fade starts at full level");
        assert!(t.samples[198].abs() < 0.02, "and ends near silence");
        assert!(t.samples[150] < t.samples[130]);
        fade_out_from(&mut t, 500); // past the end: nothing to do, no panic
    }

    #[test]
    fn speech_segments_find_the_words_and_the_pause() {
        let frames = SAMPLE_RATE as usize * 3;
        let mut v = tone(200.0, 0.4, frames);
        // Silence 0–0.3 s, a 0.5 s pause at 1.2 s, a 40 ms click at 2.5 s, silence after 2.3 s.
        let rate = SAMPLE_RATE as f64;
        for i in 0..frames {
            let t = i as f64 / rate;
            let quiet = t < 0.3 || (1.2..1.7).contains(&t) || t >= 2.3;
            let click = (2.5..2.54).contains(&t);
            if quiet && !click {
                v.samples[2 * i] = 0.0;
                v.samples[2 * i + 1] = 0.0;
            }
        }
        let s = speech_segments(&v);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(
            (s[0].0 - 0.28).abs() < 0.03 && (s[0].1 - 1.22).abs() < 0.03,
            "{s:?}"
        );
        assert!(
            (s[1].0 - 1.68).abs() < 0.03 && (s[1].1 - 2.32).abs() < 0.03,
            "{s:?}"
        );
        assert!(speech_segments(&tone(200.0, 0.0, frames)).is_empty());
    }

    fn tone(freq: f32, amp: f32, frames: usize) -> Stereo {
        let rate = SAMPLE_RATE as f32;
        Stereo {
            samples: (0..frames)
                .flat_map(|i| {
                    let v = amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin();
                    [v, v]
                })
                .collect(),
        }
    }

    #[test]
    fn the_background_dips_twelve_db_under_the_voice_and_comes_back_in_pauses() {
        let frames = SAMPLE_RATE as usize * 4;
        // Voice for the first two seconds, then a pause.
        let mut voice = tone(220.0, 0.3, frames);
        for s in &mut voice.samples[frames..] {
            *s = 0.0;
        }
        let bg = tone(3000.0, 0.5, frames);
        let mix = mix_soundtrack(Some(&voice), Some(&bg), 0.4, frames);
        let g = voice_gain(&voice);
        // The background's part of the mix: the mix minus the (known) voice.
        let rms = |from: f32, to: f32| {
            let (a, b) = (
                (from * SAMPLE_RATE as f32) as usize,
                (to * SAMPLE_RATE as f32) as usize,
            );
            let e: f32 = (a..b)
                .map(|i| (mix.samples[2 * i] - voice.samples[2 * i] * g).powi(2))
                .sum();
            (e / (b - a) as f32).sqrt()
        };
        let under = rms(0.5, 1.9);
        let pause = rms(3.0, 3.9);
        let depth = 20.0 * (under / pause).log10();
        assert!((depth - DUCK_DB).abs() < 1.0, "ducked by {depth:.1} dB");
    }

    #[test]
    fn loudness_is_brought_to_the_target_with_the_true_peak_under_the_ceiling() {
        let mut quiet = tone(440.0, 0.02, SAMPLE_RATE as usize * 3);
        let l = normalize_loudness(&mut quiet, -14.0, -1.0).unwrap();
        assert!((l.after_lufs + 14.0).abs() < 0.5, "{l:?}");
        assert!(l.true_peak_db <= -1.0, "{l:?}");
        // Loud and peaky (a click over a hot tone): peaks limited, loudness kept near.
        let mut hot = tone(440.0, 0.9, SAMPLE_RATE as usize * 3);
        hot.samples[1000] = 1.0;
        let l = normalize_loudness(&mut hot, -14.0, -1.0).unwrap();
        assert!(
            l.true_peak_db <= -1.0 && (l.after_lufs + 14.0).abs() < 1.0,
            "{l:?}"
        );
        let mut silent = Stereo {
            samples: vec![0.0; 9600],
        };
        assert!(normalize_loudness(&mut silent, -14.0, -1.0).is_none());
        assert!(silent.samples.iter().all(|s| *s == 0.0));
    }

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
