//! User-facing texts from `assets/locales/{ru,kk,en}.toml`: Russian by default, Kazakh for
//! users whose Telegram language is Kazakh, English for the others. `{name}` placeholders are
//! filled by [`Texts::get`].
use std::collections::HashMap;

static RU: &str = include_str!("../../assets/locales/ru.toml");
static EN: &str = include_str!("../../assets/locales/en.toml");
static KK: &str = include_str!("../../assets/locales/kk.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    Kk,
    En,
}

impl Lang {
    /// From Telegram's `language_code`; unknown means Russian, the bot's main audience.
    pub fn from_telegram(code: Option<&str>) -> Self {
        match code.map(str::to_ascii_lowercase) {
            Some(c) if c.starts_with("kk") => Self::Kk,
            Some(c) if !c.is_empty() && !c.starts_with("ru") => Self::En,
            _ => Self::Ru,
        }
    }

    /// As stored in the database ("ru" / "kk" / "en").
    pub fn code(self) -> &'static str {
        match self {
            Self::Ru => "ru",
            Self::Kk => "kk",
            Self::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Self {
        match code {
            "en" => Self::En,
            "kk" => Self::Kk,
            _ => Self::Ru,
        }
    }
}

pub struct Texts {
    ru: HashMap<String, String>,
    kk: HashMap<String, String>,
    en: HashMap<String, String>,
}

impl Texts {
    /// The bundled locales (their parity is checked by the tests).
    pub fn bundled() -> Self {
        Self {
            ru: toml::from_str(RU).unwrap_or_default(),
            kk: toml::from_str(KK).unwrap_or_default(),
            en: toml::from_str(EN).unwrap_or_default(),
        }
    }

    /// The text for `key` with `{placeholders}` filled; the key itself if it is missing, so a
    /// gap shows up in review instead of as silence.
    pub fn get(
        &self,
        lang: Lang,
        key: &str,
        args: &[(&str, &(dyn std::fmt::Display + Sync))],
    ) -> String {
        let table = match lang {
            Lang::Ru => &self.ru,
            Lang::Kk => &self.kk,
            Lang::En => &self.en,
        };
        let mut text = table.get(key).cloned().unwrap_or_else(|| key.to_string());
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), &value.to_string());
        }
        text
    }

    pub fn keys(&self, lang: Lang) -> Vec<&String> {
        let mut k: Vec<&String> = match lang {
            Lang::Ru => self.ru.keys().collect(),
            Lang::Kk => self.kk.keys().collect(),
            Lang::En => self.en.keys().collect(),
        };
        k.sort();
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ErrorClass;

    #[test]
    fn the_three_languages_have_the_same_keys_and_placeholders() {
        let t = Texts::bundled();
        assert!(t.keys(Lang::Ru).len() >= 25);
        assert_eq!(t.keys(Lang::Ru), t.keys(Lang::En));
        assert_eq!(t.keys(Lang::Ru), t.keys(Lang::Kk));
        for key in t.keys(Lang::Ru) {
            let holes = |s: String| {
                s.split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                    .collect::<std::collections::BTreeSet<_>>()
            };
            let ru = holes(t.get(Lang::Ru, key, &[]));
            assert_eq!(ru, holes(t.get(Lang::En, key, &[])), "{key}");
            assert_eq!(ru, holes(t.get(Lang::Kk, key, &[])), "{key} (kk)");
        }
    }

    /// Kazakh is written, not copied: no text is empty, and none is the Russian one unless it
    /// has no words to translate (symbols, placeholders, brand and model names).
    #[test]
    fn kazakh_texts_are_filled_and_not_left_in_russian() {
        let t = Texts::bundled();
        let wordless = |s: &str| {
            let without_holes: String = s
                .split('{')
                .enumerate()
                .map(|(i, p)| {
                    if i == 0 {
                        p
                    } else {
                        p.split_once('}').map_or("", |(_, r)| r)
                    }
                })
                .collect();
            !without_holes
                .chars()
                .any(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё'))
        };
        // Loanwords Kazakh writes as Russian does (ролик, промокод, караоке, логотип; «с» for
        // seconds).
        let same_in_kazakh = [
            "brand.logo",
            "menu.ugc",
            "kind.ugc_video",
            "reason.promo",
            "layout.style.karaoke",
            "video.seconds",
        ];
        for key in t.keys(Lang::Kk) {
            let (kk, ru) = (t.get(Lang::Kk, key, &[]), t.get(Lang::Ru, key, &[]));
            assert!(!kk.trim().is_empty(), "{key} is empty in kk");
            assert!(
                kk != ru || wordless(&ru) || same_in_kazakh.contains(&key.as_str()),
                "{key} is left in Russian: {kk}"
            );
        }
        assert_eq!(Lang::from_telegram(Some("kk")), Lang::Kk);
        assert_eq!(Lang::from_telegram(Some("kk-KZ")), Lang::Kk);
        assert_eq!(Lang::from_code(Lang::Kk.code()), Lang::Kk);
        assert!(t.get(Lang::Kk, "language.set", &[]).contains("қазақша"));
    }

    #[test]
    fn every_error_class_has_a_message_and_placeholders_are_filled() {
        let t = Texts::bundled();
        for class in [
            ErrorClass::Transient,
            ErrorClass::RateLimited {
                retry_after_ms: None,
            },
            ErrorClass::ContentRejected,
            ErrorClass::BillingOrQuota,
            ErrorClass::BadUserInput,
            ErrorClass::Permanent,
        ] {
            assert_ne!(
                t.get(Lang::Ru, class.message_key(), &[]),
                class.message_key()
            );
        }
        let reason = t.get(Lang::Ru, ErrorClass::ContentRejected.message_key(), &[]);
        let text = t.get(
            Lang::Ru,
            "progress.failed_refunded",
            &[("reason", &reason), ("tokens", &742)],
        );
        assert!(
            text.contains("модерацией") && text.contains("(742)"),
            "{text}"
        );
        assert_eq!(Lang::from_telegram(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_telegram(None), Lang::Ru);
        assert_eq!(Lang::from_telegram(Some("en")), Lang::En);
        assert_eq!(Lang::from_telegram(Some("de")), Lang::En);
    }
}
