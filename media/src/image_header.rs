//! Image dimensions read straight from the file header, before any decoder allocates pixels:
//! the decompression-bomb check must not depend on a decoder getting that far.

/// (width, height) from a PNG, GIF, BMP, JPEG (its frame header wherever it is in the file),
/// WebP or TIFF header; `None` for other formats or a header too short to say — pass the
/// whole file: a JPEG's frame header may follow large metadata segments.
pub fn header_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let le16 = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let le32 = |o: usize| {
        b.get(o..o + 4)
            .map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]).unsigned_abs())
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"BM") {
        return Some((le32(18)?, le32(22)?));
    }
    if b.starts_with(&[0xFF, 0xD8]) {
        return jpeg_dimensions(b);
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return webp_dimensions(b);
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return tiff_dimensions(b);
    }
    None
}

/// ImageWidth (256) and ImageLength (257) of a classic TIFF's first image (BigTIFF: `None`).
fn tiff_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let little = b.starts_with(b"II");
    let u16_at = |o: usize| {
        let s = b.get(o..o + 2)?;
        Some(if little {
            u16::from_le_bytes([s[0], s[1]])
        } else {
            u16::from_be_bytes([s[0], s[1]])
        })
    };
    let u32_at = |o: usize| {
        let s = b.get(o..o + 4)?;
        Some(if little {
            u32::from_le_bytes([s[0], s[1], s[2], s[3]])
        } else {
            u32::from_be_bytes([s[0], s[1], s[2], s[3]])
        })
    };
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    let (mut w, mut h) = (None, None);
    for i in 0..entries.min(512) {
        let e = ifd + 2 + i * 12;
        let tag = u16_at(e)?;
        // SHORT (3) or LONG (4), one value, in the entry itself.
        let value = match u16_at(e + 2)? {
            3 => u32::from(u16_at(e + 8)?),
            4 => u32_at(e + 8)?,
            _ => continue,
        };
        match tag {
            256 => w = Some(value),
            257 => h = Some(value),
            _ => {}
        }
    }
    Some((w?, h?))
}

fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    while at + 9 < b.len() {
        if b[at] != 0xFF {
            return None;
        }
        let marker = b[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let h = u32::from(u16::from_be_bytes([b[at + 5], b[at + 6]]));
            let w = u32::from(u16::from_be_bytes([b[at + 7], b[at + 8]]));
            return Some((w, h));
        }
        at += 2 + len;
    }
    None
}

fn webp_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let le24 = |o: usize| {
        b.get(o..o + 3)
            .map(|s| u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    match b.get(12..16)? {
        b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
        b"VP8L" => {
            let v = b.get(21..25)?;
            let bits = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8 " => {
            let v = b.get(26..30)?;
            Some((
                u32::from(u16::from_le_bytes([v[0], v[1]]) & 0x3FFF),
                u32::from(u16::from_le_bytes([v[2], v[3]]) & 0x3FFF),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sizes_from_headers_alone() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(60_000u32.to_be_bytes());
        png.extend(40_000u32.to_be_bytes());
        assert_eq!(header_dimensions(&png), Some((60_000, 40_000)));
        let gif = b"GIF89a\x10\x00\x20\x00";
        assert_eq!(header_dimensions(gif), Some((16, 32)));
        // SOI, APP0 of length 4, SOF0 with height 300 and width 400.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 1, 44, 1, 144, 3, 0, 0,
        ];
        assert_eq!(header_dimensions(&jpeg), Some((400, 300)));
        assert_eq!(header_dimensions(b"hello world"), None);
    }

    #[test]
    fn tiff_sizes_and_late_jpeg_frame_headers_are_read() {
        // Little-endian TIFF: IFD at 8 with ImageWidth LONG 30000 and ImageLength SHORT 20000.
        let mut tiff = b"II*\0\x08\0\0\0\x02\0".to_vec();
        tiff.extend([0x00, 0x01, 4, 0, 1, 0, 0, 0]);
        tiff.extend(30_000u32.to_le_bytes());
        tiff.extend([0x01, 0x01, 3, 0, 1, 0, 0, 0]);
        tiff.extend(20_000u16.to_le_bytes());
        tiff.extend([0, 0]);
        assert_eq!(header_dimensions(&tiff), Some((30_000, 20_000)));
        let mut mm = b"MM\0*\0\0\0\x08\0\x02".to_vec();
        mm.extend([0x01, 0x00, 0, 3, 0, 0, 0, 1, 0x0F, 0xA0, 0, 0]);
        mm.extend([0x01, 0x01, 0, 3, 0, 0, 0, 1, 0x0B, 0xB8, 0, 0]);
        assert_eq!(header_dimensions(&mm), Some((4000, 3000)));
        // A JPEG whose frame header follows 200 KB of metadata (APP segments of 64 KB).
        let mut jpeg = vec![0xFF, 0xD8];
        for _ in 0..4 {
            jpeg.extend([0xFF, 0xE1, 0xFF, 0xFF]);
            jpeg.extend(vec![0u8; 0xFFFF - 2]);
        }
        jpeg.extend([0xFF, 0xC0, 0, 11, 8, 0x27, 0x10, 0x27, 0x10, 3, 0, 0]);
        assert!(jpeg.len() > 200_000);
        assert_eq!(header_dimensions(&jpeg), Some((10_000, 10_000)));
        assert_eq!(header_dimensions(&jpeg[..64 * 1024]), None);
    }
}

/// Whether a JPEG's main image is cut short: the segments are walked from SOI to the first
/// start-of-scan (so an EXIF thumbnail's own end marker inside APP1 does not count), and the
/// scan data must be followed by an end-of-image marker. Not a JPEG: `false`.
pub fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return true;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if marker == 0xDA {
            let scan = i + 2 + len;
            // Entropy-coded data never holds FF D9 (0xFF is stuffed), so the first one ends it.
            return scan > bytes.len() || !bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + len;
    }
    true
}

#[cfg(test)]
mod truncation_tests {
    #[test]
    fn a_jpeg_without_its_end_marker_is_truncated() {
        // SOI, APP0 (len 4), SOS (len 4), data, EOI.
        let whole = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x04, 0x00, 0x00,
            0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9,
        ];
        assert!(!super::jpeg_is_truncated(&whole));
        assert!(super::jpeg_is_truncated(&whole[..whole.len() - 3]));
        assert!(super::jpeg_is_truncated(&whole[..9]));
        assert!(!super::jpeg_is_truncated(b"\x89PNG\r\n\x1a\n"));
    }
}
