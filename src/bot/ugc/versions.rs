//! Language versions of one UGC ad: on the confirmation (or on a finished video, "+ another
//! language") the user adds Русский / Қазақша / English versions. Each script is translated
//! by the chat model and shown to be taken or typed anew (typed when there is no model); each
//! version is its own video — its own speech in that language, its own talking head, the same
//! character, background, layout and brand — priced as one, and they come as one album.
use crate::bot::app::{keyboard, row, Ctx, HandlerError, HandlerResult};
use crate::bot::callback::{Callback, UgcButton};
use crate::bot::dialogue::{Dialogue, LayoutDraft, VersionDraft};
use crate::jobs::{JobSpec, UgcParams, VersionOf};
use crate::products::translate;

/// The language a confirmation's own script is in.
fn base_language(state: &Dialogue) -> &'static str {
    match state {
        Dialogue::UgcConfirm { script, .. } => translate::language_of(script),
        _ => "ru",
    }
}

/// The confirmation's language buttons: "+ Қазақша" for a language not added yet, "✓ …" to
/// drop one added.
pub fn language_row(ctx: &Ctx<'_>, state: &Dialogue) -> Vec<(String, String)> {
    let Dialogue::UgcConfirm { versions, .. } = state else {
        return Vec::new();
    };
    let base = base_language(state);
    translate::LANGUAGES
        .iter()
        .filter(|l| **l != base)
        .map(|l| {
            let name = crate::pipelines::versions::language_name(l);
            let added = versions.iter().any(|v| v.language == *l);
            let label = if added {
                format!("✓ {name}")
            } else {
                ctx.t("ugc.version_add", &[("language", &name)])
            };
            (
                label,
                Callback::Ugc(UgcButton::Language(l.to_string())).data(),
            )
        })
        .collect()
}

/// What the confirmation says about its versions (empty without any).
pub fn summary(ctx: &Ctx<'_>, state: &Dialogue) -> String {
    let Dialogue::UgcConfirm {
        versions, made_job, ..
    } = state
    else {
        return String::new();
    };
    if versions.is_empty() {
        return String::new();
    }
    let mut names: Vec<&str> = Vec::new();
    if made_job.is_none() {
        names.push(crate::pipelines::versions::language_name(base_language(
            state,
        )));
    }
    names.extend(
        versions
            .iter()
            .map(|v| crate::pipelines::versions::language_name(&v.language)),
    );
    ctx.t(
        "ugc.versions",
        &[("languages", &names.join(" · ")), ("count", &names.len())],
    )
}

/// The language versions' buttons; `Ok(false)`: not one for this state (an old message).
pub async fn on_button(
    ctx: &Ctx<'_>,
    state: Dialogue,
    button: crate::bot::callback::UgcButton,
) -> Result<bool, HandlerError> {
    use crate::bot::callback::UgcButton as B;
    let confirming = matches!(state, Dialogue::UgcConfirm { .. });
    match button {
        B::Versions(job) => return from_video(ctx, job).await,
        B::Language(code) if confirming => toggle(ctx, state, code).await?,
        B::VersionTake if confirming => take(ctx, state).await?,
        B::VersionEdit if confirming => edit(ctx, state).await?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A language button on the confirmation: drops an added version, or writes one (the chat
/// model's translation to take or replace, or the user's own text).
pub async fn toggle(ctx: &Ctx<'_>, mut state: Dialogue, language: String) -> HandlerResult {
    if language == base_language(&state) {
        return Ok(());
    }
    let Dialogue::UgcConfirm {
        versions,
        draft,
        script,
        ..
    } = &mut state
    else {
        return Ok(());
    };
    if let Some(i) = versions.iter().position(|v| v.language == language) {
        versions.remove(i);
        ctx.save(&state).await?;
        return show(ctx, &state).await;
    }
    let name = crate::pipelines::versions::language_name(&language);
    let model = ctx.app.scripts.model.clone();
    let translated = match model {
        Some(model) => {
            if let Err(minutes) = crate::products::scripts::count_set(&ctx.app.db, ctx.user).await?
            {
                ctx.say(ctx.t("limit.actions", &[("minutes", &minutes)]))
                    .await?;
                None
            } else {
                ctx.say(ctx.t("ugc.version_translating", &[("language", &name)]))
                    .await?;
                match translate::translate(&model, script, &language).await {
                    Ok(text) => Some(text),
                    Err(why) => {
                        tracing::info!(user_id = ctx.user, reason = why, "translation refused");
                        None
                    }
                }
            }
        }
        None => None,
    };
    match translated {
        Some(text) => {
            *draft = Some(VersionDraft {
                language: language.clone(),
                script: text.clone(),
                speech: None,
            });
            ctx.save(&state).await?;
            ctx.say_with(
                ctx.t(
                    "ugc.version_draft",
                    &[("language", &name), ("script", &text)],
                ),
                keyboard(vec![row(&[
                    ctx.button(
                        "ugc.version_take",
                        Callback::Ugc(UgcButton::VersionTake).data(),
                    ),
                    ctx.button(
                        "ugc.version_edit",
                        Callback::Ugc(UgcButton::VersionEdit).data(),
                    ),
                ])]),
            )
            .await
        }
        None => ask_typed(ctx, state, language).await,
    }
}

/// "Type it": the next text is the version's script.
async fn ask_typed(ctx: &Ctx<'_>, state: Dialogue, language: String) -> HandlerResult {
    let name = crate::pipelines::versions::language_name(&language);
    ctx.save(&Dialogue::UgcVersionScript {
        confirm: Box::new(state),
        language,
    })
    .await?;
    ctx.say(ctx.t("ugc.version_type", &[("language", &name)]))
        .await
}

/// "Take" under a shown translation.
pub async fn take(ctx: &Ctx<'_>, mut state: Dialogue) -> HandlerResult {
    let Dialogue::UgcConfirm { draft, .. } = &mut state else {
        return Ok(());
    };
    let Some(d) = draft.take() else {
        return Ok(());
    };
    add(ctx, state, d.language, d.script).await
}

/// Speaks a version's script (as the main script was, so it is priced on its speech and the
/// job does not pay for it again), then adds it and shows the confirmation.
async fn add(
    ctx: &Ctx<'_>,
    mut state: Dialogue,
    language: String,
    script: String,
) -> HandlerResult {
    let Dialogue::UgcConfirm { voice, .. } = &state else {
        return Ok(());
    };
    if !ctx
        .within_limit(crate::bot::rate_limit::Action::SpeechPreview)
        .await?
    {
        return Ok(());
    }
    let (voice, spoken_in) = voice_in(voice, &language);
    let Some(speech) = super::speech::preview(ctx, &voice, spoken_in, &script).await? else {
        return Ok(());
    };
    if let Dialogue::UgcConfirm {
        versions, draft, ..
    } = &mut state
    {
        *draft = None;
        versions.retain(|v| v.language != language);
        versions.push(VersionDraft {
            language,
            script,
            speech: Some(speech.to_json()),
        });
    }
    ctx.save(&state).await?;
    show(ctx, &state).await
}

/// The voice a version speaks with: an offline voice in the new language (`ru+f3` →
/// `kk+f3`), or the provider's voice told the language.
fn voice_in<'a>(voice: &str, language: &'a str) -> (String, Option<&'a str>) {
    match voice.split_once('+') {
        Some((_, variant)) => (format!("{language}+{variant}"), None),
        None => (voice.to_string(), Some(language)),
    }
}

/// "Type my own" under a shown translation.
pub async fn edit(ctx: &Ctx<'_>, mut state: Dialogue) -> HandlerResult {
    let Dialogue::UgcConfirm { draft, .. } = &mut state else {
        return Ok(());
    };
    let Some(d) = draft.take() else {
        return Ok(());
    };
    ask_typed(ctx, state, d.language).await
}

/// The version's script as the user typed it: within the script limit and written in that
/// language's letters, then added.
pub async fn typed(
    ctx: &Ctx<'_>,
    confirm: Dialogue,
    language: String,
    text: &str,
) -> HandlerResult {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let count = text.chars().count();
    let limit = crate::orders::MAX_SCRIPT_CHARS;
    if count > limit {
        return ctx
            .say(ctx.t(
                "ugc.script_too_long",
                &[("count", &count), ("limit", &limit)],
            ))
            .await;
    }
    let name = crate::pipelines::versions::language_name(&language);
    let fits = match language.as_str() {
        "kk" => translate::language_of(&text) == "kk" || count <= 40,
        other => translate::language_of(&text) == other,
    };
    if text.is_empty() || !fits {
        return ctx
            .say(ctx.t("ugc.version_wrong_language", &[("language", &name)]))
            .await;
    }
    add(ctx, confirm, language, text).await
}

/// The confirmation again, with its versions and the new total.
pub async fn show(ctx: &Ctx<'_>, state: &Dialogue) -> HandlerResult {
    let total = super::order::total_price(ctx, state).await?;
    let mut text = summary(ctx, state);
    if text.is_empty() {
        text = ctx.t("ugc.versions_none", &[]);
    }
    text.push_str("\n\n");
    text.push_str(&ctx.t("ugc.price_changed", &[("price", &total)]));
    ctx.say_with(text, super::speech::confirm_keyboard(ctx, state).await?)
        .await
}

/// "+ another language" under a finished video: its order again, for versions only.
pub async fn from_video(ctx: &Ctx<'_>, job: i64) -> Result<bool, HandlerError> {
    let Some(made) = crate::db::jobs::job(&ctx.app.db, job).await? else {
        return Ok(false);
    };
    let Some(JobSpec::UgcVideo(p)) = made.spec.clone() else {
        return Ok(false);
    };
    if made.user_id != ctx.user || made.state != crate::jobs::JobState::Done {
        return Ok(false);
    }
    let state = Dialogue::UgcConfirm {
        background: p.background.clone(),
        character: p.portrait.clone(),
        voice: super::speech::voice_of(&p),
        script: p.script.clone(),
        speech: None,
        price: 0,
        layout: LayoutDraft {
            layout: p.layout.clone(),
            ..LayoutDraft::default()
        },
        head_tier: p.head_tier.clone(),
        versions: Vec::new(),
        draft: None,
        made_job: Some(job),
    };
    ctx.save(&state).await?;
    ctx.say_with(
        ctx.t("ugc.versions_pick", &[]),
        keyboard(vec![
            row(&language_row(ctx, &state)),
            row(&[ctx.button("flow.cancel", Callback::CancelFlow.data())]),
        ]),
    )
    .await?;
    Ok(true)
}

/// The specs of an order's language versions: each a copy of `main` (the same character,
/// background, layout, brand and tier) with its script, its language and a voice that speaks
/// it, all in one album group. `with_main`: the main video is ordered with them (else it is
/// made already). Returns the specs in order, the main first when it is ordered.
pub fn specs(main: &UgcParams, versions: &[VersionDraft], with_main: bool) -> Vec<JobSpec> {
    if versions.is_empty() {
        return vec![JobSpec::UgcVideo(main.clone())];
    }
    let of = (versions.len() + usize::from(with_main)) as u8;
    let group = VersionOf {
        group: crate::db::api_keys::random_hex(8),
        of,
    };
    let mut specs = Vec::new();
    if with_main {
        specs.push(JobSpec::UgcVideo(UgcParams {
            versions: Some(group.clone()),
            ..main.clone()
        }));
    }
    for v in versions {
        // An offline voice keeps its variant in the new language (`ru+f3` → `kk+f3`); a
        // provider's voice stays, and the speech chain skips entries that cannot speak it.
        let language = match voice_in(&main.language, &v.language) {
            (offline, None) => offline,
            (_, Some(_)) => v.language.clone(),
        };
        specs.push(JobSpec::UgcVideo(UgcParams {
            script: v.script.clone(),
            language,
            variant: None,
            versions: Some(group.clone()),
            ..main.clone()
        }));
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main() -> UgcParams {
        serde_json::from_value(serde_json::json!({
            "portrait": "p.jpg", "script": "Привет, это крем Роса!", "language": "ru+f3",
            "background": "bg.mp4"
        }))
        .unwrap()
    }

    #[test]
    fn versions_copy_the_order_in_their_language_in_one_group() {
        let versions = [
            VersionDraft {
                language: "kk".into(),
                script: "Сәлем, бұл Роса кремі!".into(),
                speech: None,
            },
            VersionDraft {
                language: "en".into(),
                script: "Hi, this is Rosa cream!".into(),
                speech: None,
            },
        ];
        let specs = specs(&main(), &versions, true);
        let params: Vec<UgcParams> = specs
            .into_iter()
            .map(|s| match s {
                JobSpec::UgcVideo(p) => p,
                other => panic!("{other:?}"),
            })
            .collect();
        let languages: Vec<&str> = params.iter().map(|p| p.language.as_str()).collect();
        assert_eq!(languages, ["ru+f3", "kk+f3", "en+f3"]);
        let group = params[0].versions.clone().unwrap();
        assert_eq!(group.of, 3);
        assert!(params.iter().all(|p| p.versions.as_ref() == Some(&group)));
        assert!(params
            .iter()
            .all(|p| p.background.as_deref() == Some("bg.mp4") && p.portrait == "p.jpg"));
        assert_eq!(params[1].script, "Сәлем, бұл Роса кремі!");
        // Versions only (the video is made already): two in their group.
        let only = specs_of(&versions[..1]);
        assert_eq!(only.len(), 1);
    }

    fn specs_of(v: &[VersionDraft]) -> Vec<JobSpec> {
        specs(&main(), v, false)
    }

    #[test]
    fn a_version_speaks_in_its_language_with_the_same_voice() {
        assert_eq!(voice_in("ru+f3", "kk"), ("kk+f3".to_string(), None));
        assert_eq!(
            voice_in("EXAVITQu4vr4xnSDxMaL", "en"),
            ("EXAVITQu4vr4xnSDxMaL".to_string(), Some("en"))
        );
    }

    #[test]
    fn no_versions_is_the_order_alone() {
        let one = specs(&main(), &[], true);
        assert!(matches!(&one[..], [JobSpec::UgcVideo(p)] if p.versions.is_none()));
    }
}
