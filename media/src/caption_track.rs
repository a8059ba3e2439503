//! Captions on the timeline: every phrase rendered once in its style and placed inside the
//! safe area (clear of the circle), with the few extra images the animated styles need — the
//! karaoke word in the accent colour at each step of its pop, the bold-pop group at each step
//! of its entrance. Drawing a frame only blends ready images.
use crate::caption_image::{boxed, outlined, outlined_word, CaptionImage, WHITE};
use crate::captions::{CaptionStyle, Phrase};
use crate::layout::{caption_center_y, Area, CircleRect};
use crate::text::{layout_words, TextLayout};
use crate::yuv::Yuv420;

/// Scale of a popping word or group on consecutive steps of [`POP_STEP_S`]; the last is at rest.
const POP: [f32; 4] = [1.22, 1.12, 1.05, 1.0];
const POP_STEP_S: f64 = 0.035;
/// The default accent: a warm yellow that reads on faces, skies and products alike.
pub const DEFAULT_ACCENT: (u8, u8, u8) = (255, 214, 0);

#[derive(Debug, Clone)]
struct Placed {
    image: CaptionImage,
    x: i64,
    y: i64,
}

impl Placed {
    /// Copies of `image` scaled by each pop step, each centred on (`cx`, `cy`).
    fn pops(image: &CaptionImage, cx: f32, cy: f32) -> Vec<Placed> {
        POP.iter()
            .map(|s| {
                let image = if *s == 1.0 {
                    image.clone()
                } else {
                    image.scaled(*s)
                };
                let x = (cx - image.width as f32 / 2.0).round() as i64;
                let y = (cy - image.height as f32 / 2.0).round() as i64;
                Placed { image, x, y }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct WordPop {
    start: f64,
    steps: Vec<Placed>,
}

#[derive(Debug, Clone)]
struct Item {
    start: f64,
    end: f64,
    /// The phrase; more than one image: its entrance pop.
    entrance: Vec<Placed>,
    /// Karaoke: the highlighted word, one per placed word piece.
    words: Vec<WordPop>,
}

/// Where a caption block went, for tests and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CaptionBox {
    pub x: i64,
    pub y: i64,
    pub width: usize,
    pub height: usize,
}

pub struct CaptionTrack {
    items: Vec<Item>,
}

pub struct TrackLayout {
    pub style: CaptionStyle,
    pub accent: (u8, u8, u8),
    pub width: usize,
    pub height: usize,
    pub area: Area,
    pub circle: CircleRect,
}

fn pop_index(t: f64, start: f64, steps: usize) -> usize {
    (((t - start).max(0.0) / POP_STEP_S) as usize).min(steps - 1)
}

impl CaptionTrack {
    pub fn build(phrases: &[Phrase], l: &TrackLayout) -> Self {
        let short = l.width.min(l.height) as f32;
        let (px, max_lines) = match l.style {
            CaptionStyle::BoldPop => ((short * 0.085).max(22.0), 2),
            _ => ((short * 0.062).max(18.0), 3),
        };
        // A little narrower than the area: the pop grows past the block.
        let max_w = (l.area.width() as f32 * 0.94) as usize;
        let pad_of = |px: f32| match l.style {
            CaptionStyle::Boxed => (px * 0.35) as usize,
            _ => ((px * 0.09).max(2.0) as usize) + 2,
        };
        let items = phrases
            .iter()
            .filter_map(|p| {
                let words: Vec<String> = if p.words.is_empty() {
                    p.text.split_whitespace().map(String::from).collect()
                } else {
                    p.words.iter().map(|w| w.word.clone()).collect()
                };
                let layout = layout_words(&words, max_w, px, max_lines, pad_of(px))?;
                let base = match l.style {
                    CaptionStyle::Boxed => boxed(&layout),
                    _ => outlined(&layout, None, WHITE),
                };
                let cy = caption_center_y(l.width, l.height, base.height, l.circle, l.area);
                let x = (l.area.left + l.area.width().saturating_sub(base.width) / 2) as i64;
                let y = cy.saturating_sub(base.height / 2) as i64;
                let entrance = if l.style == CaptionStyle::BoldPop {
                    let (cx, cy) = (
                        x as f32 + base.width as f32 / 2.0,
                        y as f32 + base.height as f32 / 2.0,
                    );
                    Placed::pops(&base, cx, cy)
                } else {
                    vec![Placed { image: base, x, y }]
                };
                let words = if l.style == CaptionStyle::Karaoke && !p.words.is_empty() {
                    karaoke_words(&layout, p, l.accent, x, y)
                } else {
                    Vec::new()
                };
                Some(Item {
                    start: p.start_s,
                    end: p.end_s,
                    entrance,
                    words,
                })
            })
            .collect();
        CaptionTrack { items }
    }

    /// The block shown at `t` (its resting size), if any.
    pub fn box_at(&self, t: f64) -> Option<CaptionBox> {
        let item = self.item_at(t)?;
        let rest = item.entrance.last()?;
        Some(CaptionBox {
            x: rest.x,
            y: rest.y,
            width: rest.image.width,
            height: rest.image.height,
        })
    }

    fn item_at(&self, t: f64) -> Option<&Item> {
        self.items.iter().find(|i| t >= i.start && t < i.end)
    }

    pub fn draw(&self, frame: &mut Yuv420, t: f64) {
        let Some(item) = self.item_at(t) else {
            return;
        };
        let e = &item.entrance[pop_index(t, item.start, item.entrance.len())];
        e.image.draw(frame, e.x, e.y);
        // The word being spoken: the last one that has started (it stays lit in a pause).
        if let Some(word) = item.words.iter().rev().find(|w| t >= w.start) {
            let same_start = item
                .words
                .iter()
                .filter(|o| o.start == word.start)
                .collect::<Vec<_>>();
            for w in same_start {
                let s = &w.steps[pop_index(t, w.start, w.steps.len())];
                s.image.draw(frame, s.x, s.y);
            }
        }
    }
}

/// One accent image per placed word piece, at each pop step, centred on the word.
fn karaoke_words(
    layout: &TextLayout,
    phrase: &Phrase,
    accent: (u8, u8, u8),
    x: i64,
    y: i64,
) -> Vec<WordPop> {
    layout
        .words
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let timed = phrase.words.get(w.source)?;
            let rect = layout.word_rect(i);
            let image = outlined_word(layout, i, accent);
            let cx = x as f32 + (rect.0 + rect.2) as f32 / 2.0;
            let cy = y as f32 + (rect.1 + rect.3) as f32 / 2.0;
            Some(WordPop {
                start: timed.start,
                steps: Placed::pops(&image, cx, cy),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::captions::{estimate_word_timings, phrases_from_words};
    use crate::layout::SafeZone;

    const SCRIPT: &str = "Скидка на все кремы только сегодня! Қазір келіңіз, бағасы төмен.";

    fn make(style: CaptionStyle) -> (CaptionTrack, Vec<Phrase>, TrackLayout) {
        let words = estimate_word_timings(SCRIPT, &[(0.2, 3.0), (3.4, 6.0)]);
        let phrases = phrases_from_words(&words, style);
        let layout = TrackLayout {
            style,
            accent: DEFAULT_ACCENT,
            width: 720,
            height: 1280,
            area: SafeZone::Reels.area(720, 1280),
            circle: CircleRect {
                x: 44,
                y: 508,
                diameter: 324,
            },
        };
        (CaptionTrack::build(&phrases, &layout), phrases, layout)
    }

    fn grey() -> Yuv420 {
        let mut f = Yuv420::new(720, 1280);
        f.y.fill(120);
        f
    }

    /// Chroma pixels in the accent colour (yellow: low U), as (count, mean x, width of the run).
    fn accent_pixels(f: &Yuv420) -> (usize, f64, usize) {
        let cw = f.width / 2;
        let xs: Vec<usize> =
            f.u.iter()
                .enumerate()
                .filter(|(_, u)| **u < 70)
                .map(|(i, _)| i % cw)
                .collect();
        let n = xs.len();
        let mean = xs.iter().sum::<usize>() as f64 / n.max(1) as f64;
        let span = xs.iter().max().unwrap_or(&0) - xs.iter().min().unwrap_or(&0);
        (n, mean, span)
    }

    #[test]
    fn karaoke_lights_the_spoken_word_and_pops_it() {
        let (track, phrases, _) = make(CaptionStyle::Karaoke);
        let p = &phrases[0];
        assert!(p.words.len() >= 3);
        let at = |t: f64| {
            let mut f = grey();
            track.draw(&mut f, t);
            accent_pixels(&f)
        };
        let w0 = at(p.words[0].start + 0.2);
        let w1 = at(p.words[1].start + 0.2);
        assert!(w0.0 > 50 && w1.0 > 50, "accent pixels {w0:?} {w1:?}");
        assert!(w1.1 > w0.1 + 10.0, "the light moves right: {w0:?} → {w1:?}");
        // The pop: the word is larger when it starts than at rest.
        let start = at(p.words[1].start + 0.001);
        assert!(
            start.2 > w1.2 && start.0 > w1.0,
            "pop {start:?} rest {w1:?}"
        );
        // Only one word is lit: a classic track has no accent at all.
        let (classic, _, _) = make(CaptionStyle::Classic);
        let mut f = grey();
        classic.draw(&mut f, p.words[1].start + 0.2);
        assert_eq!(accent_pixels(&f).0, 0);
        assert!(
            f.y.iter().filter(|v| **v > 200).count() > 500,
            "white text drawn"
        );
    }

    #[test]
    fn bold_pop_shows_few_upper_case_words_that_pop_in() {
        let (track, phrases, _) = make(CaptionStyle::BoldPop);
        assert!(phrases.iter().all(|p| p.words.len() <= 3));
        assert!(phrases.iter().any(|p| p.text.contains("ҚАЗІР")));
        let p = &phrases[1];
        let entering = track.item_at(p.start_s + 0.001).unwrap();
        let first = &entering.entrance[pop_index(p.start_s + 0.001, p.start_s, 4)];
        let rest = track.box_at(p.start_s + 0.3).unwrap();
        assert!(
            first.image.width > rest.width + 10,
            "{} vs {}",
            first.image.width,
            rest.width
        );
        // Bold-pop letters are bigger than classic ones.
        let (classic, _, _) = track_style_height(CaptionStyle::Classic);
        let (bold, _, _) = track_style_height(CaptionStyle::BoldPop);
        assert!(bold > classic, "bold {bold} classic {classic}");
    }

    fn track_style_height(style: CaptionStyle) -> (usize, (), ()) {
        let (t, p, _) = make(style);
        let one_line = p
            .iter()
            .filter_map(|x| t.box_at((x.start_s + x.end_s) / 2.0))
            .map(|b| b.height)
            .min()
            .unwrap();
        (one_line, (), ())
    }

    #[test]
    fn boxed_darkens_a_rounded_box_behind_white_text() {
        let (track, phrases, _) = make(CaptionStyle::Boxed);
        let t = (phrases[0].start_s + phrases[0].end_s) / 2.0;
        let b = track.box_at(t).unwrap();
        let mut f = grey();
        track.draw(&mut f, t);
        let at = |x: i64, y: i64| f.y[y as usize * 720 + x as usize];
        // Just inside the box's left edge, mid-height: the box (no text there).
        assert!(at(b.x + 3, b.y + b.height as i64 / 2) < 70);
        // The corner is rounded away: background there.
        assert_eq!(at(b.x, b.y), 120);
        assert!(f.y.iter().filter(|v| **v > 220).count() > 300, "white text");
    }

    #[test]
    fn every_style_stays_inside_the_safe_area_and_clear_of_the_circle() {
        for style in CaptionStyle::ALL {
            let (track, phrases, l) = make(style);
            for p in &phrases {
                for t in [p.start_s + 0.001, (p.start_s + p.end_s) / 2.0] {
                    let b = track.box_at(t).unwrap();
                    let ctx = format!("{style} {b:?} {:?}", l.area);
                    assert!(
                        b.x >= l.area.left as i64 && b.x + b.width as i64 <= l.area.right as i64,
                        "{ctx}"
                    );
                    assert!(
                        b.y >= l.area.top as i64 && b.y + b.height as i64 <= l.area.bottom as i64,
                        "{ctx}"
                    );
                    assert!(b.y + b.height as i64 <= l.circle.y as i64, "{ctx}");
                }
            }
        }
    }
}
