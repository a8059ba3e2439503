//! Every video we hand over plays everywhere: Telegram's inline player, Reels, TikTok, Shorts.
//! A provider's clip is checked against what they all accept — H.264 in 8-bit 4:2:0, an even
//! size within 128–1920, constant frame rate up to 60, AAC audio (a silent MP4 is shown by
//! Telegram as a GIF), the index (`moov`) before the data so playback starts at once, and the
//! size cap — then kept as it is, remuxed with the index in front (no re-encoding), or
//! re-encoded (H.264 High yuv420p, 30 fps CFR, AAC 48 kHz stereo at −14 LUFS) at a bitrate
//! that fits the cap (see [`compose`]).
use crate::compose::{compose, ComposeRequest};
use crate::error::{InputProblem, MediaError, Result};
use crate::input::open_media;
use crate::probe::probe;
use ffmpeg_next as ff;
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::AtomicBool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Already fine: copied.
    Kept,
    /// Streams fine, index moved to the front.
    Remuxed,
    /// Decoded and encoded again.
    Reencoded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deliverable {
    pub action: Action,
    /// Why it was not kept as it was.
    pub reasons: Vec<String>,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
}

/// What keeps a clip from being delivered as it is.
struct Findings {
    /// Reasons to re-encode.
    encode: Vec<String>,
    /// Reasons to remux.
    remux: Vec<String>,
    /// The picture's display size.
    size: (u32, u32),
}

fn check(input: &Path, max_bytes: u64) -> Result<Findings> {
    let info = probe(input)?;
    let v = info
        .video
        .as_ref()
        .ok_or_else(|| MediaError::bad_input(input, InputProblem::NoVideoStream))?;
    let mut encode = Vec::new();
    if v.codec != "h264" {
        encode.push(format!("the video is {} (H.264 plays everywhere)", v.codec));
    }
    if !matches!(v.pixel_format.as_str(), "yuv420p" | "yuvj420p") {
        encode.push(format!(
            "the pixels are {} (8-bit 4:2:0 plays everywhere)",
            v.pixel_format
        ));
    }
    let (w, h) = (v.display_width, v.display_height);
    if !w.is_multiple_of(2) || !h.is_multiple_of(2) || w.max(h) > 1920 || w.min(h) < 128 {
        encode.push(format!("the size {w}x{h} is odd or outside 128–1920"));
    }
    if v.rotation != 0 {
        encode.push(format!(
            "the picture is rotated {}° by metadata",
            v.rotation
        ));
    }
    if v.variable_frame_rate || v.frame_rate > 60.5 {
        encode.push(format!(
            "the frame rate is {} ({:.1} fps)",
            if v.variable_frame_rate {
                "variable"
            } else {
                "too high"
            },
            v.frame_rate
        ));
    }
    if matches!(v.color_transfer.as_str(), "smpte2084" | "arib-std-b67") {
        encode.push("the video is HDR (phones show it washed out)".into());
    }
    match &info.audio {
        None => {
            encode.push("there is no audio track (Telegram shows a silent MP4 as a GIF)".into())
        }
        Some(a) if a.codec != "aac" => {
            encode.push(format!("the audio is {} (AAC plays everywhere)", a.codec))
        }
        Some(a) if a.channels > 2 => encode.push(format!("the audio has {} channels", a.channels)),
        Some(_) => {}
    }
    if info.size_bytes > max_bytes {
        encode.push(format!(
            "it is {:.1} MB, over the {:.1} MB cap",
            info.size_bytes as f64 / 1_048_576.0,
            max_bytes as f64 / 1_048_576.0
        ));
    }
    let mut remux = Vec::new();
    if !index_in_front(input)? {
        remux.push("the index (moov) is at the end: playback would wait for the whole file".into());
    }
    Ok(Findings {
        encode,
        remux,
        size: (w, h),
    })
}

/// Writes a deliverable copy of `input` to `output` (an MP4 of at most `max_bytes`).
pub fn make_deliverable(
    input: &Path,
    output: &Path,
    max_bytes: u64,
    cancel: &AtomicBool,
) -> Result<Deliverable> {
    let Findings {
        encode,
        remux,
        size: (w, h),
    } = check(input, max_bytes)?;
    let action = if !encode.is_empty() {
        reencode(input, output, target_size(w, h), max_bytes, cancel)?;
        Action::Reencoded
    } else if !remux.is_empty() {
        remux_faststart(input, output)?;
        Action::Remuxed
    } else {
        std::fs::copy(input, output)?;
        Action::Kept
    };
    let out = probe(output)?;
    let v = out
        .video
        .as_ref()
        .ok_or_else(|| MediaError::Internal("the deliverable lost its video".into()))?;
    Ok(Deliverable {
        action,
        reasons: if encode.is_empty() { remux } else { encode },
        size_bytes: out.size_bytes,
        width: v.display_width,
        height: v.display_height,
        duration_s: out.duration_s,
    })
}

/// The output size: the picture's display size, shrunk to 1920 on the long side (or grown to
/// 128 on the short one), even.
fn target_size(w: u32, h: u32) -> (usize, usize) {
    let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    let s = (1920.0 / w.max(h)).min(1.0).max(128.0 / w.min(h));
    let even = |v: f64| ((v.round() as usize).max(128) / 2 * 2).min(1920);
    (even(w * s), even(h * s))
}

/// H.264 High + AAC at −14 LUFS through compose (no circle, no captions); compose keeps the
/// result under the cap.
fn reencode(
    input: &Path,
    output: &Path,
    (w, h): (usize, usize),
    max_bytes: u64,
    cancel: &AtomicBool,
) -> Result<()> {
    let mut req = ComposeRequest::new(input, input, output);
    req.width = w;
    req.height = h;
    req.circle = false;
    req.bg_volume = 0.0;
    req.crf = 20;
    req.max_bytes = max_bytes;
    let report = compose(&req, &|_, _| {}, cancel)?;
    let _ = std::fs::remove_file(&report.thumbnail);
    Ok(())
}

/// Copies the video and audio streams into an MP4 with the index in front.
pub fn remux_faststart(input: &Path, output: &Path) -> Result<()> {
    let mut ictx = open_media(input)?;
    let mut octx = ff::format::output_as(&output, "mp4")?;
    let best: Vec<usize> = [ff::media::Type::Video, ff::media::Type::Audio]
        .into_iter()
        .filter_map(|t| ictx.streams().best(t).map(|s| s.index()))
        .collect();
    let mut map = vec![None; ictx.nb_streams() as usize];
    for index in best {
        let st = ictx
            .stream(index)
            .ok_or_else(|| MediaError::Internal("stream vanished".into()))?;
        let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None))?;
        ost.set_parameters(st.parameters());
        // SAFETY: the stream's codec parameters are owned by `octx`, alive here; a zero tag
        // lets the MP4 muxer choose its own.
        unsafe {
            (*ost.parameters().as_mut_ptr()).codec_tag = 0;
        }
        map[index] = Some((ost.index(), st.time_base()));
    }
    let mut opts = ff::Dictionary::new();
    opts.set("movflags", "+faststart");
    octx.write_header_with(opts)?;
    for (stream, mut packet) in ictx.packets() {
        let Some((oi, in_tb)) = map.get(stream.index()).copied().flatten() else {
            continue;
        };
        let out_tb = octx
            .stream(oi)
            .map(|s| s.time_base())
            .ok_or_else(|| MediaError::Internal("output stream vanished".into()))?;
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.set_stream(oi);
        packet.write_interleaved(&mut octx)?;
    }
    octx.write_trailer()?;
    Ok(())
}

/// Whether the file's top-level `moov` box comes before its `mdat` (MP4/MOV); other
/// containers count as not (they are remuxed into MP4).
pub fn index_in_front(path: &Path) -> Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut at = 0u64;
    while at + 8 <= len {
        f.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 16];
        let n = f.read(&mut head)?;
        if n < 8 {
            break;
        }
        let mut size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = &head[4..8];
        if size == 1 && n >= 16 {
            size = u64::from_be_bytes(head[8..16].try_into().unwrap_or([0; 8]));
        } else if size == 0 {
            size = len - at;
        }
        match kind {
            b"moov" => return Ok(true),
            b"mdat" => return Ok(false),
            _ => {}
        }
        if size < 8 {
            break;
        }
        at += size;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_even_and_inside_the_limits() {
        assert_eq!(target_size(3840, 2160), (1920, 1080));
        assert_eq!(target_size(721, 1281), (720, 1280));
        assert_eq!(target_size(100, 200), (128, 256));
        assert_eq!(target_size(1080, 1920), (1080, 1920));
    }
}
