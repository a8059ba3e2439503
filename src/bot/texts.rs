//! User-facing texts from `assets/locales/{ru,en}.toml`: Russian by default, English for users
//! whose Telegram language is not Russian. `{name}` placeholders are filled by [`Texts::get`].
use std::collections::HashMap;

static RU: &str = include_str!("../../assets/locales/ru.toml");
static EN: &str = include_str!("../../assets/locales/en.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// From Telegram's `language_code`; unknown means Russian, the bot's main audience.
    pub fn from_telegram(code: Option<&str>) -> Self {
        match code {
            Some(c) if !c.is_empty() && !c.to_ascii_lowercase().starts_with("ru") => Self::En,
            _ => Self::Ru,
        }
    }

    /// As stored in the database ("ru" / "en").
    pub fn code(self) -> &'static str {
        match self {
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Self {
        if code == "en" {
            Self::En
        } else {
            Self::Ru
        }
    }
}

pub struct Texts {
    ru: HashMap<String, String>,
    en: HashMap<String, String>,
}

impl Texts {
    /// The bundled locales (their parity is checked by the tests).
    pub fn bundled() -> Self {
        Self {
            ru: toml::from_str(RU).unwrap_or_default(),
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
    fn both_languages_have_the_same_keys_and_placeholders() {
        let t = Texts::bundled();
        assert!(t.keys(Lang::Ru).len() >= 25);
        assert_eq!(t.keys(Lang::Ru), t.keys(Lang::En));
        for key in t.keys(Lang::Ru) {
            let holes = |s: String| {
                s.split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(
                holes(t.get(Lang::Ru, key, &[])),
                holes(t.get(Lang::En, key, &[])),
                "{key}"
            );
        }
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
