//! A campaign's language versions (`languages`, `translations`): each variant made in up to
//! two more languages, its scripts the client's or translated by the chat model, each variant's
//! versions one album (see `pipelines::versions`).
use super::campaigns::{field, CampaignRequest};
use super::{Api, Problem};
use crate::orders::campaign::{LABELS, MAX_LANGUAGES};
use crate::products::translate;

/// The scripts' own language: `script_language`, else the video's `language`, else what the
/// first script's letters say.
fn base_language(req: &CampaignRequest, scripts: &[String]) -> String {
    req.script_language
        .clone()
        .or_else(|| {
            req.video
                .get("language")
                .and_then(|l| l.as_str())
                .map(|l| l.split(['+', '-']).next().unwrap_or(l).to_string())
        })
        .unwrap_or_else(|| {
            translate::language_of(scripts.first().map_or("", String::as_str)).to_string()
        })
}

/// Every job the campaign makes: each variant's script, then its versions, in order.
pub(super) async fn plan(
    s: &Api,
    user: i64,
    req: &CampaignRequest,
    scripts: Vec<String>,
) -> Result<Vec<(String, Option<String>, String)>, Problem> {
    let languages = req.languages.clone().unwrap_or_default();
    let base = base_language(req, &scripts);
    if languages.len() >= MAX_LANGUAGES {
        return Err(field(
            "languages",
            format!("at most {} more languages", MAX_LANGUAGES - 1),
        ));
    }
    for (i, l) in languages.iter().enumerate() {
        if !translate::LANGUAGES.contains(&l.as_str()) {
            return Err(field("languages", format!("'{l}' is not ru, kk or en")));
        }
        if *l == base {
            return Err(field(
                "languages",
                format!("{l} is the scripts' own language"),
            ));
        }
        if languages[..i].contains(l) {
            return Err(field("languages", format!("{l} is named twice")));
        }
    }
    let given = req.translations.clone().unwrap_or_default();
    if let Some(extra) = given.keys().find(|l| !languages.contains(l)) {
        return Err(field(
            "translations",
            format!("{extra} is not one of `languages`"),
        ));
    }
    let mut versions: Vec<(String, Vec<String>)> = Vec::new();
    for l in &languages {
        let texts = match given.get(l) {
            Some(texts) => checked_given(l, texts, scripts.len())?,
            None => translated(s, user, l, &scripts).await?,
        };
        versions.push((l.clone(), texts));
    }
    let mut planned = Vec::new();
    for (i, script) in scripts.into_iter().enumerate() {
        planned.push((LABELS[i].to_string(), None, script));
        for (l, texts) in &versions {
            planned.push((LABELS[i].to_string(), Some(l.clone()), texts[i].clone()));
        }
    }
    Ok(planned)
}

/// The client's scripts in `language`: one per variant, each within the limit and in that
/// language's letters.
fn checked_given(language: &str, texts: &[String], n: usize) -> Result<Vec<String>, Problem> {
    if texts.len() != n {
        return Err(field(
            "translations",
            format!("{language}: one script per variant ({n})"),
        ));
    }
    for t in texts {
        let chars = t.chars().count();
        if t.trim().is_empty() || chars > crate::orders::MAX_SCRIPT_CHARS {
            return Err(field(
                "translations",
                format!(
                    "{language}: 1 to {} characters",
                    crate::orders::MAX_SCRIPT_CHARS
                ),
            ));
        }
        let fits = match language {
            "kk" => translate::language_of(t) == "kk" || chars <= 40,
            other => translate::language_of(t) == other,
        };
        if !fits {
            return Err(field(
                "translations",
                format!("{language}: a script is not written in that language"),
            ));
        }
    }
    Ok(texts.to_vec())
}

/// Each script translated into `language` by the chat model (counted as a script set).
async fn translated(
    s: &Api,
    user: i64,
    language: &str,
    scripts: &[String],
) -> Result<Vec<String>, Problem> {
    let Some(model) = &s.scripts.model else {
        return Err(field(
            "languages",
            format!(
                "no chat model is configured to translate into {language}: send `translations`"
            ),
        ));
    };
    super::products::count_script_set(s, user).await?;
    let mut out = Vec::new();
    for script in scripts {
        match translate::translate(model, script, language).await {
            Ok(text) => out.push(text),
            Err(why) => {
                return Err(field(
                    "languages",
                    format!(
                        "the translation into {language} was refused ({why}): send `translations`"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// A version speaks its language: an offline voice keeps its variant (`ru+f3` → `kk+f3`).
pub(super) fn speak_in(p: &mut crate::jobs::UgcParams, language: Option<&str>) {
    let Some(language) = language else {
        return;
    };
    p.language = match p.language.split_once('+') {
        Some((_, variant)) => format!("{language}+{variant}"),
        None => language.to_string(),
    };
}

/// The album group of a variant's versions: the same for a repeat of the request.
pub(super) fn group_of(key: &str, label: &str) -> String {
    let hash = crate::storage::sha256_hex(key.as_bytes());
    format!("c{}{label}", &hash[..16])
}
