//! Caption timing: a script split into short phrases spread over the speech, or phrases
//! built from word timings (our JSON or ElevenLabs' character alignment).
use crate::error::{MediaError, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phrase {
    pub text: String,
    pub start_s: f64,
    pub end_s: f64,
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

fn group_words<T>(words: &[T], text_of: impl Fn(&T) -> &str) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut chars = 0;
    for (i, w) in words.iter().enumerate() {
        let len = text_of(w).chars().count();
        if i > start && (i - start >= MAX_WORDS || chars + 1 + len > MAX_CHARS) {
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

/// Spreads the script's phrases over [`speech_start`, `speech_end`] in proportion to their
/// length (long phrases stay longer), with no gaps.
pub fn phrases_from_script(script: &str, speech_start: f64, speech_end: f64) -> Vec<Phrase> {
    let words: Vec<&str> = script.split_whitespace().collect();
    if words.is_empty() || speech_end <= speech_start {
        return Vec::new();
    }
    let groups = group_words(&words, |w| w);
    let texts: Vec<String> = groups.iter().map(|g| words[g.clone()].join(" ")).collect();
    let weights: Vec<f64> = texts
        .iter()
        .map(|t| t.chars().count() as f64 + 3.0)
        .collect();
    let total: f64 = weights.iter().sum();
    let span = speech_end - speech_start;
    let mut t = speech_start;
    texts
        .into_iter()
        .zip(weights)
        .map(|(text, w)| {
            let start = t;
            t += span * w / total;
            Phrase {
                text,
                start_s: start,
                end_s: t,
            }
        })
        .collect()
}

/// Phrases from word timings; each stays up until the next one starts (or its last word ends).
pub fn phrases_from_words(words: &[TimedWord]) -> Vec<Phrase> {
    let words: Vec<&TimedWord> = words.iter().filter(|w| !w.word.trim().is_empty()).collect();
    let groups = group_words(&words, |w| w.word.trim());
    let mut phrases: Vec<Phrase> = groups
        .iter()
        .map(|g| {
            let ws = &words[g.clone()];
            Phrase {
                text: ws
                    .iter()
                    .map(|w| w.word.trim())
                    .collect::<Vec<_>>()
                    .join(" "),
                start_s: ws[0].start,
                end_s: ws[ws.len() - 1].end,
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
    fn script_phrases_are_short_cover_the_speech_and_do_not_overlap() {
        let p = phrases_from_script(
            "Привет! Это наш новый крем для лица, он увлажняет кожу весь день и пахнет летом.",
            0.5,
            8.5,
        );
        assert!(p.len() >= 4);
        assert_eq!(p[0].text, "Привет!");
        assert!((p[0].start_s - 0.5).abs() < 1e-9 && (p.last().unwrap().end_s - 8.5).abs() < 1e-9);
        for w in p.windows(2) {
            assert!((w[0].end_s - w[1].start_s).abs() < 1e-9);
        }
        assert!(p
            .iter()
            .all(|x| x.text.split(' ').count() <= MAX_WORDS
                && x.text.chars().count() <= MAX_CHARS + 12));
    }

    #[test]
    fn word_timings_drive_phrase_times() {
        let json = r#"[{"word":"Buy","start":0.2,"end":0.4},{"word":"now.","start":0.45,"end":0.8},
                       {"word":"Limited","start":2.0,"end":2.4},{"word":"offer","start":2.45,"end":2.9}]"#;
        let p = phrases_from_words(&parse_word_timings(json).unwrap());
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].text.as_str(), p[0].start_s, p[0].end_s),
            ("Buy now.", 0.2, 0.8)
        );
        assert_eq!((p[1].start_s, p[1].end_s), (2.0, 2.9));
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
