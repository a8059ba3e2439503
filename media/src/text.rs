//! Text rendering for captions: words laid out in centred lines no wider than a limit, drawn
//! as alpha masks (the glyphs, and behind them an outline or a rounded box) and blended into
//! YUV planes in any colour. The font (DejaVu Sans Bold: Latin, Cyrillic with the Kazakh
//! letters) is compiled in; characters it lacks (emoji, pictographs) are dropped rather than
//! drawn as boxes.
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Below this size text is split inside words rather than shrunk further.
const MIN_PX: f32 = 12.0;

pub(crate) fn font() -> FontRef<'static> {
    // The font is part of the binary; parsing it is checked by the tests.
    FontRef::try_from_slice(FONT_BYTES).expect("bundled DejaVu Sans Bold parses")
}

/// Keeps only the characters the font can draw, with whitespace collapsed.
pub fn drawable_text(text: &str) -> String {
    let f = font();
    let kept: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| *c == ' ' || (!c.is_control() && f.glyph_id(*c).0 != 0))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One word (or piece of a word too long for a line) placed in a text block.
#[derive(Debug, Clone)]
pub struct PlacedWord {
    pub text: String,
    /// Which of the input words this piece belongs to.
    pub source: usize,
    /// Left edge and baseline inside the block, in pixels.
    pub x: f32,
    pub baseline: f32,
    pub width: f32,
}

/// Words laid out in centred lines.
#[derive(Debug, Clone)]
pub struct TextLayout {
    pub size: f32,
    pub width: usize,
    pub height: usize,
    pub words: Vec<PlacedWord>,
}

fn width_of(f: &FontRef<'_>, scale: PxScale, text: &str) -> f32 {
    let sf = f.as_scaled(scale);
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    w
}

fn is_vowel(c: char) -> bool {
    "аеёиоуыэюяәөұүіaeiouyAEIOUYАЕЁИОУЫЭЮЯӘӨҰҮІ".contains(c)
}

/// Where a word may be hyphenated: before position `i` (a char index) when both sides keep a
/// vowel and at least two letters, and the break falls between syllables — after a vowel
/// before a consonant and a vowel (ба-ла), or between two consonants (бал-ға); never before a
/// soft or hard sign or й, which belong to the letter before them.
fn syllable_break(chars: &[char], i: usize) -> bool {
    if i < 2 || i + 2 > chars.len() {
        return false;
    }
    let (left, right) = (&chars[..i], &chars[i..]);
    if !left.iter().any(|c| is_vowel(*c)) || !right.iter().any(|c| is_vowel(*c)) {
        return false;
    }
    if !chars.iter().all(|c| c.is_alphabetic()) {
        return false;
    }
    let (a, b) = (chars[i - 1], chars[i]);
    if "ьъйЬЪЙ".contains(b) {
        return false;
    }
    let next_vowel = chars.get(i + 1).is_some_and(|c| is_vowel(*c));
    (is_vowel(a) && !is_vowel(b) && next_vowel) || (!is_vowel(a) && !is_vowel(b))
}

/// Splits a word into pieces no wider than `max_width`: at the last syllable break that fits
/// with its hyphen (ба-ла-лар), else (no break fits, or not a word of letters) where the width
/// runs out.
fn split_word(f: &FontRef<'_>, scale: PxScale, word: &str, max_width: f32) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let rest: String = chars[start..].iter().collect();
        if width_of(f, scale, &rest) <= max_width {
            pieces.push(rest);
            break;
        }
        let fits = |end: usize, hyphen: bool| {
            let mut piece: String = chars[start..end].iter().collect();
            if hyphen {
                piece.push('-');
            }
            width_of(f, scale, &piece) <= max_width
        };
        let hyphenated = (start + 1..chars.len())
            .rev()
            .find(|&end| syllable_break(&chars, end) && end - start >= 2 && fits(end, true));
        let end = match hyphenated {
            Some(end) => end,
            None => (start + 1..chars.len())
                .rev()
                .find(|&end| fits(end, false))
                .unwrap_or(start + 1),
        };
        let mut piece: String = chars[start..end].iter().collect();
        if hyphenated.is_some() {
            piece.push('-');
        }
        pieces.push(piece);
        start = end;
    }
    pieces
}

/// Lines of (source word, text); words wider than the line are split when `split` is set.
fn wrap(
    f: &FontRef<'_>,
    scale: PxScale,
    words: &[(usize, String)],
    max_width: f32,
    split: bool,
) -> Vec<Vec<(usize, String)>> {
    let space = width_of(f, scale, " ");
    let mut lines: Vec<Vec<(usize, String)>> = Vec::new();
    let mut line_w = 0.0;
    for (source, word) in words {
        let pieces = if split && width_of(f, scale, word) > max_width {
            split_word(f, scale, word, max_width)
        } else {
            vec![word.clone()]
        };
        for piece in pieces {
            let w = width_of(f, scale, &piece);
            match lines.last_mut() {
                Some(line) if line_w + space + w <= max_width => {
                    line.push((*source, piece));
                    line_w += space + w;
                }
                _ => {
                    lines.push(vec![(*source, piece)]);
                    line_w = w;
                }
            }
        }
    }
    lines
}

fn line_width(f: &FontRef<'_>, scale: PxScale, line: &[(usize, String)]) -> f32 {
    let text: Vec<&str> = line.iter().map(|(_, t)| t.as_str()).collect();
    width_of(f, scale, &text.join(" "))
}

/// Lays `words` out in centred lines no wider than `max_width`, starting at `px` pixels and
/// shrinking until they fit in `max_lines`; a word that is still too wide at the smallest
/// size is split, so nothing ever runs past `max_width`. Characters the font lacks are
/// dropped; `None` when nothing drawable remains.
pub fn layout_words(
    words: &[String],
    max_width: usize,
    px: f32,
    max_lines: usize,
    pad: usize,
) -> Option<TextLayout> {
    let words: Vec<(usize, String)> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i, drawable_text(w).replace(' ', "")))
        .filter(|(_, w)| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    let f = font();
    let limit = (max_width.saturating_sub(2 * pad)).max(8) as f32;
    let mut size = px.max(MIN_PX);
    let lines = loop {
        let scale = PxScale::from(size);
        let smallest = size <= MIN_PX;
        let lines = wrap(&f, scale, &words, limit, smallest);
        let fits =
            lines.len() <= max_lines && lines.iter().all(|l| line_width(&f, scale, l) <= limit);
        if fits || smallest {
            break lines;
        }
        size = (size * 0.9).max(MIN_PX);
    };
    let scale = PxScale::from(size);
    let sf = f.as_scaled(scale);
    let line_h = (sf.ascent() - sf.descent() + sf.line_gap()).ceil();
    let text_w = lines
        .iter()
        .map(|l| line_width(&f, scale, l))
        .fold(0.0f32, f32::max)
        .ceil() as usize;
    let width = (text_w + 2 * pad).div_ceil(2) * 2 + 2;
    let height = ((line_h as usize * lines.len()) + 2 * pad).div_ceil(2) * 2;
    let space = width_of(&f, scale, " ");
    let mut placed = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut x = (width as f32 - line_width(&f, scale, line)) / 2.0;
        let baseline = pad as f32 + sf.ascent() + i as f32 * line_h;
        for (source, text) in line {
            let w = width_of(&f, scale, text);
            placed.push(PlacedWord {
                text: text.clone(),
                source: *source,
                x,
                baseline,
                width: w,
            });
            x += w + space;
        }
    }
    Some(TextLayout {
        size,
        width,
        height,
        words: placed,
    })
}

impl TextLayout {
    /// Glyph coverage of the chosen words (all when `only` is `None`) over the whole block.
    pub fn rasterize(&self, only: Option<usize>) -> Vec<u8> {
        let f = font();
        let scale = PxScale::from(self.size);
        let sf = f.as_scaled(scale);
        let (width, height) = (self.width, self.height);
        let mut fill = vec![0u8; width * height];
        for (i, word) in self.words.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let mut x = word.x;
            let mut prev = None;
            for c in word.text.chars() {
                let id = sf.glyph_id(c);
                if let Some(p) = prev {
                    x += sf.kern(p, id);
                }
                let glyph = id.with_scale_and_position(scale, point(x, word.baseline));
                if let Some(outline) = f.outline_glyph(glyph) {
                    let b = outline.px_bounds();
                    outline.draw(|gx, gy, cov| {
                        let px = b.min.x as i64 + i64::from(gx);
                        let py = b.min.y as i64 + i64::from(gy);
                        if px >= 0 && py >= 0 && (px as usize) < width && (py as usize) < height {
                            let o = &mut fill[py as usize * width + px as usize];
                            *o = (*o).max((cov.clamp(0.0, 1.0) * 255.0) as u8);
                        }
                    });
                }
                x += sf.h_advance(id);
                prev = Some(id);
            }
        }
        fill
    }

    /// The rectangle word `i` and its outline cover in the block: left, top, right, bottom
    /// (even, inside the block).
    pub fn word_rect(&self, i: usize) -> (usize, usize, usize, usize) {
        let f = font();
        let sf = f.as_scaled(PxScale::from(self.size));
        let w = &self.words[i];
        let r = self.stroke_radius() as f32 + 1.0;
        let even_down = |v: f32, max: usize| ((v.floor().max(0.0) as usize) & !1).min(max);
        let even_up = |v: f32, max: usize| ((v.ceil().max(0.0) as usize).div_ceil(2) * 2).min(max);
        (
            even_down(w.x - r, self.width),
            even_down(w.baseline - sf.ascent() - r, self.height),
            even_up(w.x + w.width + r, self.width),
            even_up(w.baseline - sf.descent() + r, self.height),
        )
    }

    /// The outline's radius at this size.
    pub fn stroke_radius(&self) -> usize {
        (self.size * 0.09).max(2.0).round() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caption_image::{boxed, outlined, WHITE};
    use crate::yuv::Yuv420;

    /// The longest words of the Kazakh locale and of Kazakh ads: the caption band shrinks the
    /// text before it splits a word, and a word split at the smallest size breaks between
    /// syllables with a hyphen — never inside a syllable without one.
    #[test]
    fn long_kazakh_words_shrink_first_and_split_only_between_syllables_with_a_hyphen() {
        let longest = "Жауапкершіліктеріміздің сипаттамасындағы мемлекеттендірілмегендіктен қанағаттандырылмағандықтан";
        let words: Vec<String> = longest.split_whitespace().map(String::from).collect();
        // A caption band of a 720-wide frame at the usual size: every word whole, the text
        // smaller than asked.
        let l = layout_words(&words, 640, 56.0, 4, 8).unwrap();
        assert!(l.size < 56.0, "shrunk to {}", l.size);
        let texts: Vec<&str> = l.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            longest.split_whitespace().collect::<Vec<_>>(),
            "no word split"
        );
        // Too narrow even at the smallest size: split with hyphens at syllable breaks.
        let f = font();
        let scale = PxScale::from(MIN_PX);
        for word in &words {
            let pieces = split_word(&f, scale, word, 60.0);
            assert!(pieces.len() > 1, "{word}");
            assert_eq!(pieces.concat().replace('-', ""), *word, "nothing lost");
            let chars: Vec<char> = word.chars().collect();
            let mut at = 0;
            for p in &pieces[..pieces.len() - 1] {
                assert!(p.ends_with('-'), "{word}: {pieces:?}");
                at += p.chars().count() - 1;
                assert!(
                    syllable_break(&chars, at),
                    "{word}: a break inside a syllable at {at}: {pieces:?}"
                );
                assert!(width_of(&f, scale, p) <= 60.0, "{p}");
            }
        }
        // Russian too; a break never leaves one letter or comes before ь.
        let pieces = split_word(&f, scale, "переподготовка", 40.0);
        assert!(
            pieces
                .iter()
                .all(|p| p.trim_end_matches('-').chars().count() >= 2),
            "{pieces:?}"
        );
        let chars: Vec<char> = "пальто".chars().collect();
        assert!(!syllable_break(&chars, 2), "па-льто is wrong");
        assert!(syllable_break(&chars, 4), "паль-то");
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn emoji_are_dropped_and_cyrillic_kept() {
        assert_eq!(drawable_text("Скидка 🔥 50%  today"), "Скидка 50% today");
    }

    #[test]
    fn every_kazakh_russian_and_latin_letter_has_a_glyph_with_ink() {
        let letters = "әғқңөұүһіӘҒҚҢӨҰҮҺІабвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for c in letters.chars() {
            assert_eq!(drawable_text(&c.to_string()), c.to_string(), "{c} dropped");
            let layout = layout_words(&[c.to_string()], 200, 40.0, 1, 2).unwrap();
            let ink = layout.rasterize(None).iter().filter(|a| **a > 128).count();
            assert!(ink > 20, "{c} draws {ink} pixels");
        }
        // Upper-casing (bold-pop) keeps the Kazakh letters drawable.
        assert_eq!(drawable_text(&"әғқңөұүһі".to_uppercase()), "ӘҒҚҢӨҰҮҺІ");
    }

    #[test]
    fn long_text_wraps_inside_the_width_and_has_ink() {
        let layout = layout_words(
            &words("Самый лучший крем для вашей кожи прямо сейчас"),
            400,
            40.0,
            3,
            6,
        )
        .unwrap();
        let img = outlined(&layout, None, WHITE);
        assert!(img.width <= 400 + 2);
        let mut baselines: Vec<i64> = layout.words.iter().map(|w| w.baseline as i64).collect();
        baselines.dedup();
        assert!(
            baselines.len() >= 2,
            "wrapped to several lines: {baselines:?}"
        );
        let ink = img.fill.iter().filter(|a| **a > 200).count();
        assert!(ink > 1000, "text pixels {ink}");
        assert!(
            img.back.iter().filter(|a| **a > 200).count() > ink,
            "outline is wider than the glyphs"
        );
        assert!(layout_words(&words("🔥🔥"), 400, 40.0, 3, 6).is_none());
    }

    #[test]
    fn a_word_longer_than_the_frame_is_shrunk_then_split_never_wider() {
        let long =
            "Қазақстанныңсупермаркеттеріндегіжеңілдіктертолығыменосындажәнеқазір".to_string();
        let layout = layout_words(std::slice::from_ref(&long), 300, 60.0, 3, 6).unwrap();
        assert!(layout.width <= 300 + 2, "block {} px", layout.width);
        assert!(layout.words.len() > 1, "split into pieces");
        assert!(layout.words.iter().all(|w| w.source == 0));
        for w in &layout.words {
            assert!(w.x >= 0.0 && w.x + w.width <= layout.width as f32 + 0.5);
        }
    }

    #[test]
    fn boxes_are_rounded_and_scaling_keeps_proportions() {
        let layout = layout_words(&words("Sale today"), 600, 48.0, 2, 14).unwrap();
        let img = boxed(&layout);
        let (w, h) = (img.width, img.height);
        assert_eq!(img.back[0], 0, "corner cut by the rounding");
        assert_eq!(img.back[(h / 2) * w + w / 2], 255);
        assert_eq!(
            img.back[(h / 2) * w + 1],
            255,
            "edge middle is inside the box"
        );
        let big = img.scaled(1.2);
        assert!((big.width as f32 / w as f32 - 1.2).abs() < 0.05);
        assert!(big.width.is_multiple_of(2) && big.height.is_multiple_of(2));
    }

    #[test]
    fn drawing_is_clipped_at_every_edge() {
        let layout = layout_words(&words("Edge"), 300, 40.0, 1, 4).unwrap();
        let img = outlined(&layout, None, (255, 210, 0));
        let mut frame = Yuv420::new(64, 64);
        img.draw(&mut frame, -30, -20);
        img.draw(&mut frame, 50, 50);
        assert!(frame.y.iter().any(|v| *v > 150));
    }
}
