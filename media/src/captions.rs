//! Caption timing: phrases built from word timings — the provider's (our JSON or ElevenLabs'
//! character alignment) or, for speech without them, estimated from the script's syllables
//! spread over the measured speech segments — and the caption styles.
use crate::error::{MediaError, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phrase {
    pub text: String,
    pub start_s: f64,
    pub end_s: f64,
    /// The phrase's words with their own times (what karaoke highlights).
    pub words: Vec<TimedWord>,
}

/// How captions look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptionStyle {
    /// White bold text with a dark outline.
    #[default]
    Classic,
    /// White text on a rounded translucent box.
    Boxed,
    /// The phrase shown, the word being spoken in the accent colour with a short pop.
    Karaoke,
    /// One to three words at a time, upper case, large, popping in.
    BoldPop,
}

impl CaptionStyle {
    pub const ALL: [CaptionStyle; 4] = [
        CaptionStyle::Classic,
        CaptionStyle::Boxed,
        CaptionStyle::Karaoke,
        CaptionStyle::BoldPop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CaptionStyle::Classic => "classic",
            CaptionStyle::Boxed => "boxed",
            CaptionStyle::Karaoke => "karaoke",
            CaptionStyle::BoldPop => "bold-pop",
        }
    }

    /// The next style (the bot's "style" button cycles through them).
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Words and characters a phrase may hold in this style.
    fn limits(self) -> (usize, usize) {
        match self {
            CaptionStyle::BoldPop => (3, 16),
            _ => (MAX_WORDS, MAX_CHARS),
        }
    }
}

impl std::fmt::Display for CaptionStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CaptionStyle {
    type Err = MediaError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s || (s == "boldpop" && *c == CaptionStyle::BoldPop))
            .ok_or_else(|| {
                MediaError::BadParameter(format!(
                    "caption style '{s}' is not one of classic, boxed, karaoke, bold-pop"
                ))
            })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TimedWord {
    #[serde(alias = "text")]
    pub word: String,
    pub start: f64,
    pub end: f64,
}

/// A phrase holds at most this many words and characters: one glance on a phone.
const MAX_WORDS: usize = 4;
const MAX_CHARS: usize = 26;

fn ends_sentence(word: &str) -> bool {
    word.ends_with(['.', '!', '?', '…', ';', ':'])
}

fn group_words<T>(
    words: &[T],
    text_of: impl Fn(&T) -> &str,
    (max_words, max_chars): (usize, usize),
) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut chars = 0;
    for (i, w) in words.iter().enumerate() {
        let len = text_of(w).chars().count();
        if i > start && (i - start >= max_words || chars + 1 + len > max_chars) {
            groups.push(start..i);
            start = i;
            chars = 0;
        }
        chars += len + usize::from(i > start);
        let comma_break = text_of(w).ends_with(',') && i - start >= 1;
        if ends_sentence(text_of(w)) || comma_break {
            groups.push(start..i + 1);
            start = i + 1;
            chars = 0;
        }
    }
    if start < words.len() {
        groups.push(start..words.len());
    }
    groups
}

/// Phrases from word timings, grouped for `style`; each stays up until the next one starts
/// (or its last word ends). Bold-pop phrases are upper case.
pub fn phrases_from_words(words: &[TimedWord], style: CaptionStyle) -> Vec<Phrase> {
    let words: Vec<&TimedWord> = words.iter().filter(|w| !w.word.trim().is_empty()).collect();
    let groups = group_words(&words, |w| w.word.trim(), style.limits());
    let case = |s: &str| {
        if style == CaptionStyle::BoldPop {
            s.to_uppercase()
        } else {
            s.to_string()
        }
    };
    let mut phrases: Vec<Phrase> = groups
        .iter()
        .map(|g| {
            let ws = &words[g.clone()];
            Phrase {
                text: ws
                    .iter()
                    .map(|w| case(w.word.trim()))
                    .collect::<Vec<_>>()
                    .join(" "),
                start_s: ws[0].start,
                end_s: ws[ws.len() - 1].end,
                words: ws
                    .iter()
                    .map(|w| TimedWord {
                        word: case(w.word.trim()),
                        ..(*w).clone()
                    })
                    .collect(),
            }
        })
        .collect();
    for i in 1..phrases.len() {
        let next_start = phrases[i].start_s;
        if next_start - phrases[i - 1].end_s < 0.6 {
            phrases[i - 1].end_s = next_start;
        }
    }
    phrases
}

/// Syllables in a word: its vowel groups (Latin, Russian and Kazakh vowels), at least one.
fn syllables(word: &str) -> usize {
    const VOWELS: &str = "aeiouyаеёиоуыэюяәөұүіAEIOUYАЕЁИОУЫЭЮЯӘӨҰҮІ";
    // Every Cyrillic vowel letter is a syllable; Latin vowels count per group ("ea", "ou").
    let mut count = 0;
    let mut in_vowel = false;
    for c in word.chars() {
        let v = VOWELS.contains(c);
        if v && (!in_vowel || !c.is_ascii()) {
            count += 1;
        }
        in_vowel = v;
    }
    // Digits are read out: "50%" takes longer than its letters say.
    count += word.chars().filter(char::is_ascii_digit).count();
    count += 2 * word.chars().filter(|c| *c == '%').count();
    count.max(1)
}

/// Word timings for speech that came without them: the script's words spread over the
/// measured speech `segments` (start, end seconds) in proportion to their syllables, so
/// long words last longer and the pauses between segments fall between words.
pub fn estimate_word_timings(script: &str, segments: &[(f64, f64)]) -> Vec<TimedWord> {
    let words: Vec<&str> = script.split_whitespace().collect();
    let segments: Vec<(f64, f64)> = segments.iter().copied().filter(|(a, b)| b > a).collect();
    if words.is_empty() || segments.is_empty() {
        return Vec::new();
    }
    let total_speech: f64 = segments.iter().map(|(a, b)| b - a).sum();
    // A small constant per word: even a one-syllable word takes a moment.
    let weights: Vec<f64> = words.iter().map(|w| syllables(w) as f64 + 0.4).collect();
    let total_weight: f64 = weights.iter().sum();
    // Speech time `s` (0..total_speech) → clock time, walking the segments.
    let clock = |s: f64| -> (usize, f64) {
        let mut left = s;
        for (i, (a, b)) in segments.iter().enumerate() {
            if left <= b - a + 1e-9 {
                return (i, a + left.min(b - a));
            }
            left -= b - a;
        }
        let last = segments.len() - 1;
        (last, segments[last].1)
    };
    let mut done = 0.0;
    let mut out = Vec::with_capacity(words.len());
    for (word, w) in words.iter().zip(&weights) {
        let s0 = done / total_weight * total_speech;
        done += w;
        let s1 = done / total_weight * total_speech;
        // Just past the previous word's end: a start on a segment's end belongs to the next.
        let (seg0, mut start) = clock(if s0 > 0.0 { s0 + 1e-6 } else { 0.0 });
        let (seg1, mut end) = clock(s1);
        if seg0 != seg1 {
            // The word straddles a pause: it belongs to the side holding most of it.
            let before = segments[seg0].1 - start;
            let after = end - segments[seg1].0;
            if after > before {
                start = segments[seg1].0;
            } else {
                end = segments[seg0].1;
            }
        }
        out.push(TimedWord {
            word: word.to_string(),
            start,
            end: end.max(start),
        });
    }
    out
}

#[derive(Deserialize)]
struct Alignment {
    characters: Vec<String>,
    character_start_times_seconds: Vec<f64>,
    character_end_times_seconds: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TimingsFile {
    Words(Vec<TimedWord>),
    WordsObject { words: Vec<TimedWord> },
    ElevenLabs { alignment: Alignment },
    Alignment(Alignment),
}

/// Reads word timings: `[{"word","start","end"}]`, `{"words": [...]}`, or ElevenLabs'
/// with-timestamps response (`alignment` with per-character times).
pub fn parse_word_timings(json: &str) -> Result<Vec<TimedWord>> {
    let parsed: TimingsFile = serde_json::from_str(json).map_err(|e| {
        MediaError::BadParameter(format!(
            "word timings are not valid JSON of a known shape: {e}"
        ))
    })?;
    let words = match parsed {
        TimingsFile::Words(w) | TimingsFile::WordsObject { words: w } => w,
        TimingsFile::ElevenLabs { alignment } | TimingsFile::Alignment(alignment) => {
            words_from_alignment(&alignment)
        }
    };
    if words
        .iter()
        .any(|w| !(w.start.is_finite() && w.end.is_finite()) || w.end < w.start || w.start < 0.0)
    {
        return Err(MediaError::BadParameter(
            "word timings have a word that ends before it starts".into(),
        ));
    }
    Ok(words)
}

fn words_from_alignment(a: &Alignment) -> Vec<TimedWord> {
    let mut words = Vec::new();
    let mut current: Option<TimedWord> = None;
    let n = a
        .characters
        .len()
        .min(a.character_start_times_seconds.len())
        .min(a.character_end_times_seconds.len());
    for i in 0..n {
        let ch = &a.characters[i];
        if ch.trim().is_empty() {
            words.extend(current.take());
            continue;
        }
        let (s, e) = (
            a.character_start_times_seconds[i],
            a.character_end_times_seconds[i],
        );
        match current.as_mut() {
            Some(w) => {
                w.word.push_str(ch);
                w.end = e;
            }
            None => {
                current = Some(TimedWord {
                    word: ch.clone(),
                    start: s,
                    end: e,
                })
            }
        }
    }
    words.extend(current);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_timings_drive_phrase_times() {
        let json = r#"[{"word":"Buy","start":0.2,"end":0.4},{"word":"now.","start":0.45,"end":0.8},
                       {"word":"Limited","start":2.0,"end":2.4},{"word":"offer","start":2.45,"end":2.9}]"#;
        let p = phrases_from_words(&parse_word_timings(json).unwrap(), CaptionStyle::Classic);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].text.as_str(), p[0].start_s, p[0].end_s),
            ("Buy now.", 0.2, 0.8)
        );
        assert_eq!((p[1].start_s, p[1].end_s), (2.0, 2.9));
    }

    #[test]
    fn estimated_words_follow_syllables_and_skip_the_pauses() {
        let segments = [(0.5, 2.0), (2.6, 4.0)];
        let w = estimate_word_timings("Привет! Это невероятно выгодное предложение.", &segments);
        assert_eq!(w.len(), 5);
        assert!((w[0].start - 0.5).abs() < 1e-3);
        assert!((w.last().unwrap().end - 4.0).abs() < 1e-3);
        for pair in w.windows(2) {
            assert!(pair[1].start >= pair[0].end - 1e-9, "{pair:?}");
        }
        // No word is timed inside the pause.
        assert!(w
            .iter()
            .all(|x| !(x.start > 2.0 + 1e-6 && x.start < 2.6 - 1e-6)));
        // "невероятно" (5 syllables) lasts longer than "Это" (2).
        assert!(w[2].end - w[2].start > 1.8 * (w[1].end - w[1].start));
        assert_eq!(syllables("әңгіме"), 3);
        assert_eq!(syllables("50%"), 4);
    }

    #[test]
    fn bold_pop_groups_are_short_and_upper_case() {
        let words =
            estimate_word_timings("Скидка на все кремы только сегодня, қазір!", &[(0.0, 4.0)]);
        let p = phrases_from_words(&words, CaptionStyle::BoldPop);
        assert!(p
            .iter()
            .all(|x| x.words.len() <= 3 && x.text == x.text.to_uppercase()));
        assert!(p.iter().any(|x| x.text.contains("ҚАЗІР")));
        assert!(p.iter().all(|x| x.text.chars().count() <= 16), "{p:?}");
        let classic = phrases_from_words(&words, CaptionStyle::Classic);
        assert!(classic.iter().any(|x| x.words.len() == 4), "{classic:?}");
        assert_eq!(
            "bold_pop".parse::<CaptionStyle>().unwrap(),
            CaptionStyle::BoldPop
        );
        assert!("comic-sans".parse::<CaptionStyle>().is_err());
        assert_eq!(CaptionStyle::BoldPop.next(), CaptionStyle::Classic);
    }

    #[test]
    fn elevenlabs_alignment_becomes_words() {
        let json = r#"{"audio_base64":"","alignment":{"characters":["H","i"," ","y","o","u"],
            "character_start_times_seconds":[0.0,0.1,0.2,0.3,0.4,0.5],
            "character_end_times_seconds":[0.1,0.2,0.3,0.4,0.5,0.6]}}"#;
        let w = parse_word_timings(json).unwrap();
        assert_eq!(
            w,
            vec![
                TimedWord {
                    word: "Hi".into(),
                    start: 0.0,
                    end: 0.2
                },
                TimedWord {
                    word: "you".into(),
                    start: 0.3,
                    end: 0.6
                }
            ]
        );
        assert!(parse_word_timings("{\"nope\":1}").is_err());
    }
}
