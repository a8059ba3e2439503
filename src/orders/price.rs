//! The one price function. Every surface shows and charges what [`quote`] says: the bot's
//! buttons, the API's `price` and `/v1/prices`, the console and the operator's profit report.
//!
//! A UGC video is priced on the speech that is bought: the bot speaks the script as a preview
//! before the user pays and quotes its measured length; the API cannot wait for that, so it
//! quotes from the script ([`SPEECH_CHARS_PER_SECOND`]) and the job settles once its speech is
//! made ([`settle_speech`]): a shorter speech gives the rest back in one ledger step, a speech
//! more than [`SPEECH_OVERRUN`] longer than quoted is refused before the talking head is
//! bought (the job fails as bad input and is refunded), within that the quote stands.
use super::{Invalid, Valid};
use crate::jobs::JobSpec;
use crate::pricing::{resolution_of, PriceTable};

/// How many characters of a script a voice speaks per second, for the API's quote.
pub const SPEECH_CHARS_PER_SECOND: f64 = 15.0;
/// How much longer than quoted a speech may run before the job is refused (10 %).
pub const SPEECH_OVERRUN: f64 = 0.10;

/// A price in tokens and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    pub tokens: i64,
    /// The speech length a UGC price was computed from (measured or estimated).
    pub speech_seconds: Option<f64>,
    /// Whether `speech_seconds` is an estimate from the script (settled after the speech).
    pub estimated: bool,
}

impl Quote {
    /// Nothing to pay (an operator's retry or benchmark).
    pub fn free() -> Self {
        Self::fixed(0)
    }

    fn fixed(tokens: i64) -> Self {
        Self {
            tokens,
            speech_seconds: None,
            estimated: false,
        }
    }
}

/// The price of a UGC video whose speech runs `seconds`: whole seconds of talking head plus
/// the composite (the first talking-head tier).
pub fn ugc_tokens(prices: &PriceTable, seconds: f64) -> i64 {
    prices.talking_head_tokens(seconds.ceil().max(1.0) as u32) + prices.compose.tokens
}

/// [`ugc_tokens`] at a talking-head `tier` (`None`, or one the table does not name: the first).
pub fn ugc_tokens_at(prices: &PriceTable, tier: Option<&str>, seconds: f64) -> i64 {
    let per_second = prices
        .head_tier(tier)
        .map_or(prices.talking_head.tokens_per_second, |t| {
            t.tokens_per_second
        });
    per_second * seconds.ceil().max(1.0) as i64 + prices.compose.tokens
}

/// The price of `more` formats besides a video's own: one compose each (the head and the
/// speech are paid once).
pub fn formats_tokens(prices: &PriceTable, more: usize) -> i64 {
    prices.compose.tokens * more as i64
}

/// The speech length a UGC price was computed from (whole seconds), for a price recorded
/// before the speech's length was kept with it.
pub fn speech_seconds_of_ugc_price(prices: &PriceTable, tokens: i64) -> Option<f64> {
    let per = prices.talking_head.tokens_per_second;
    (per > 0 && tokens > prices.compose.tokens)
        .then(|| ((tokens - prices.compose.tokens) / per) as f64)
}

/// The speech length the API quotes a script at: 15 characters a second, where a digit or
/// any other number sign counts as ten (numbers are spoken as words: "1234567" is 4–5 s), a
/// symbol other than punctuation as six (`%`, `+`, `=` are read as words) and a CJK character
/// as five. Quoting long is safe — the rest comes back once the speech is measured — while
/// quoting short gets the order refused after its speech was bought.
pub fn estimated_speech_seconds(script: &str) -> f64 {
    let weight: f64 = script
        .chars()
        .map(|c| match c {
            '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' => 5.0,
            c if c.is_numeric() => 10.0,
            '%' | '+' | '=' | '<' | '>' | '@' | '#' | '$' | '&' | '*' | '^' | '~' | '|' | '\\' => {
                6.0
            }
            c if c.is_alphabetic() || c.is_whitespace() || c.is_ascii_punctuation() => 1.0,
            '«' | '»' | '—' | '–' | '…' | '“' | '”' | '„' | '’' => 1.0,
            _ => 6.0,
        })
        .sum();
    // Kazakh is spoken at about 12 characters a second (its words are long and every vowel
    // is voiced), not Russian's 15.
    let weight = if crate::products::translate::has_kazakh_letters(script) {
        weight * KAZAKH_SLOWER
    } else {
        weight
    };
    (weight / SPEECH_CHARS_PER_SECOND).ceil().max(1.0)
}

/// How much longer a Kazakh script takes to speak than a Russian one of the same length
/// (measured with espeak-ng's `kk` voice: 12–13 characters a second).
const KAZAKH_SLOWER: f64 = 1.25;

/// The price of a character edit.
pub fn edit_tokens(prices: &PriceTable) -> i64 {
    prices.image_edit.tokens
}

/// The price of a composite made again from a paid speech and talking head (`/overlay`, a
/// layout change).
pub fn recompose_tokens(prices: &PriceTable) -> i64 {
    prices.compose.tokens
}

/// The price of one video of `tier` at `size` and `seconds` (`None`: not offered).
pub fn video_tokens(prices: &PriceTable, tier: &str, size: &str, seconds: u32) -> Option<i64> {
    prices.video_tokens(tier, resolution_of(size), seconds)
}

/// The price of `valid`. `measured_speech` is the previewed speech's length, when the
/// surface has it (the bot); a UGC video without it is quoted from its script.
pub fn quote(
    prices: &PriceTable,
    valid: &Valid,
    measured_speech: Option<f64>,
) -> Result<Quote, Invalid> {
    let video = |tier: &str, size: &str, seconds: u32| {
        video_tokens(prices, tier, size, seconds)
            .map(Quote::fixed)
            .ok_or_else(|| Invalid {
                field: "tier",
                message: format!("'{tier}' at {size} is not offered"),
            })
    };
    Ok(match valid.spec() {
        JobSpec::TextToVideo(p) | JobSpec::ImageToVideo(p) => video(&p.tier, &p.size, p.seconds)?,
        JobSpec::ProductVideo(p) => video(&p.tier, &p.size, p.seconds)?,
        JobSpec::CharacterEdit(_) => Quote::fixed(edit_tokens(prices)),
        JobSpec::Recompose(p) => {
            Quote::fixed(recompose_tokens(prices) + formats_tokens(prices, p.layout.formats.len()))
        }
        JobSpec::UgcVideo(p) => {
            let (seconds, estimated) = match measured_speech.filter(|s| s.is_finite() && *s > 0.0) {
                Some(s) => (s, false),
                None => (estimated_speech_seconds(&p.script), true),
            };
            Quote {
                tokens: ugc_tokens_at(prices, p.head_tier.as_deref(), seconds)
                    + formats_tokens(prices, p.layout.formats.len()),
                speech_seconds: Some(seconds),
                estimated,
            }
        }
    })
}

/// What a UGC job does once its speech is made and measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settlement {
    /// The price stands.
    Keep,
    /// The speech was shorter: the price becomes `tokens`, the rest goes back.
    Lower { tokens: i64 },
    /// The speech runs more than 10 % past the quote: refused before the talking head.
    Refuse {
        quoted_tokens: i64,
        needed_tokens: i64,
    },
}

/// Settles a UGC job (`p`: its tier and formats) quoted at `quoted_seconds` of speech from
/// its script and charged `charged` tokens, whose speech measured `seconds`. A job charged
/// nothing (an operator's retry) stays free.
pub fn settle_speech(
    prices: &PriceTable,
    charged: i64,
    (quoted_seconds, seconds): (f64, f64),
    p: &crate::jobs::UgcParams,
) -> Settlement {
    if charged <= 0 || !seconds.is_finite() || seconds <= 0.0 {
        return Settlement::Keep;
    }
    let needed = ugc_tokens_at(prices, p.head_tier.as_deref(), seconds)
        + formats_tokens(prices, p.layout.formats.len());
    if seconds > quoted_seconds * (1.0 + SPEECH_OVERRUN) {
        Settlement::Refuse {
            quoted_tokens: charged,
            needed_tokens: needed.max(charged),
        }
    } else if needed < charged {
        Settlement::Lower { tokens: needed }
    } else {
        Settlement::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_talking_head_tier_is_priced_from_its_entry_with_the_tables_margin() {
        let t = PriceTable::default_table();
        let tiers = t.head_tiers();
        let names: Vec<&str> = tiers.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["premium", "standard", "economy"]);
        // premium: the table's 150/s over $0.165/s; standard: Fabric $0.15 + speech $0.005;
        // economy: FlashTalk $0.02 + $0.005 — at the same margin (150 / (0.165 × 480)).
        let per: Vec<i64> = tiers.iter().map(|x| x.tokens_per_second).collect();
        assert_eq!(per, [150, 141, 23]);
        assert_eq!(ugc_tokens_at(&t, Some("economy"), 20.0), 23 * 20 + 30);
        assert_eq!(ugc_tokens_at(&t, None, 20.0), ugc_tokens(&t, 20.0));
        // A 20 s economy ad is about a dollar, not six.
        assert!(ugc_tokens_at(&t, Some("economy"), 20.0) < 600);
        let mut p: crate::jobs::UgcParams =
            serde_json::from_value(serde_json::json!({"portrait": "p", "script": "s"})).unwrap();
        p.head_tier = Some("economy".into());
        assert_eq!(
            settle_speech(&t, 490, (20.0, 10.0), &p),
            Settlement::Lower {
                tokens: 23 * 10 + 30
            }
        );
    }

    #[test]
    fn a_speech_settles_down_refuses_far_over_and_keeps_a_small_overrun() {
        let t = PriceTable::default_table();
        let plain: crate::jobs::UgcParams =
            serde_json::from_value(serde_json::json!({"portrait": "p", "script": "s"})).unwrap();
        let mut two = plain.clone();
        two.layout.formats = vec!["1:1".into(), "16:9".into()];
        // 150 tokens a second + 30 for the composite.
        let quoted = ugc_tokens(&t, 10.0);
        assert_eq!(quoted, 1530);
        assert_eq!(
            settle_speech(&t, quoted, (10.0, 4.2), &plain),
            Settlement::Lower { tokens: 780 }
        );
        assert_eq!(
            settle_speech(&t, quoted, (10.0, 10.0), &plain),
            Settlement::Keep
        );
        assert_eq!(
            settle_speech(&t, quoted, (10.0, 10.9), &plain),
            Settlement::Keep
        );
        assert_eq!(
            settle_speech(&t, quoted, (10.0, 12.0), &plain),
            Settlement::Refuse {
                quoted_tokens: 1530,
                needed_tokens: 1830
            }
        );
        assert_eq!(settle_speech(&t, 0, (10.0, 60.0), &plain), Settlement::Keep);
        // Two more formats: two composes more, kept through the settlement.
        let with_formats = quoted + formats_tokens(&t, 2);
        assert_eq!(with_formats, 1590);
        assert_eq!(
            settle_speech(&t, with_formats, (10.0, 4.2), &two),
            Settlement::Lower { tokens: 840 }
        );
        assert_eq!(
            settle_speech(&t, with_formats, (10.0, 10.0), &two),
            Settlement::Keep
        );
        // Numbers and CJK are quoted longer than their characters suggest.
        assert_eq!(estimated_speech_seconds("1234567 2345678"), 10.0);
        // Kazakh is quoted slower than Russian of the same length.
        let kk = "Сіз де таңертең бетке крем жағасыз ба? «Роса» кремі күні бойы ылғалдандырады.";
        let ru = "Вы тоже мажете лицо кремом утром? Крем «Роса» увлажняет весь день, правда же!";
        assert_eq!((kk.chars().count(), ru.chars().count()), (77, 77));
        assert_eq!(estimated_speech_seconds(ru), 6.0);
        assert_eq!(estimated_speech_seconds(kk), 7.0);
        assert_eq!(
            estimated_speech_seconds("今日は新しい商品を紹介します"),
            5.0
        );
        // Punctuation is silent, `%` is a word: 28 letters and marks + 2 digits + `%`.
        assert_eq!(
            estimated_speech_seconds("Скидка 50 % — «только сегодня»!"),
            4.0
        );
    }
}
