//! `product_video`: a seller's photo + description + template (+ wishes) → a prompt, improved
//! by a chat model when one is configured (raw text otherwise) → an image-to-video clip.
//! Quantity N makes N jobs, each charged and refunded on its own.
use super::generate::{self, GenerateParams};
use super::{Services, StepError};
use crate::db::Db;
use crate::failure::ErrorClass;
use crate::queue::worker::JobCtx;
use serde::{Deserialize, Serialize};

static TEMPLATES: &str = include_str!("../../assets/product_templates.toml");

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Template {
    pub id: String,
    pub name_ru: String,
    pub name_kk: String,
    pub name_en: String,
    pub prompt: String,
}

#[derive(Deserialize)]
struct TemplateFile {
    templates: Vec<Template>,
}

/// The bundled templates (checked by the tests).
pub fn templates() -> Vec<Template> {
    toml::from_str::<TemplateFile>(TEMPLATES)
        .map(|f| f.templates)
        .unwrap_or_default()
}

pub use crate::jobs::ProductParams;

/// The draft prompt: the template with the description and wishes filled in.
pub fn draft_prompt(template: &Template, description: &str, wishes: Option<&str>) -> String {
    let wishes = wishes
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| format!("Also: {w}."))
        .unwrap_or_default();
    template
        .prompt
        .replace("{description}", description.trim())
        .replace("{wishes}", &wishes)
        .trim()
        .to_string()
}

pub async fn run(s: &Services, ctx: &mut JobCtx, p: ProductParams) -> Result<(), StepError> {
    let prompt = match ctx.checkpoints().prompt.clone() {
        Some(saved) => saved,
        None => {
            let template = templates()
                .into_iter()
                .find(|t| t.id == p.template)
                .ok_or_else(|| {
                    StepError::Fail(
                        ErrorClass::BadUserInput,
                        format!("unknown template '{}'", p.template),
                    )
                })?;
            let draft = draft_prompt(&template, &p.description, p.wishes.as_deref());
            let prompt = match &s.prompt_writer {
                Some(w) => w.improve(&draft).await,
                None => draft,
            };
            let saved = prompt.clone();
            ctx.checkpoint(crate::jobs::Step::Prompt, |c| c.prompt = Some(saved))
                .await?;
            prompt
        }
    };
    let gen = GenerateParams {
        improve_prompt: false,
        prompt,
        tier: p.tier,
        seconds: p.seconds,
        size: p.size,
        image: Some(p.image),
    };
    generate::run_with(s, ctx, gen, crate::jobs::JobKind::ProductVideo).await
}

/// Queues `quantity` product videos through the ordering service, each at its quoted price.
/// All or nothing on the balance: when it cannot cover them all, none is queued.
pub async fn submit_product_jobs(
    db: &Db,
    prices: &crate::pricing::PriceTable,
    user: i64,
    params: &ProductParams,
    quantity: u32,
) -> Result<Vec<i64>, crate::orders::OrderError> {
    let spec = crate::jobs::JobSpec::ProductVideo(params.clone());
    let order = crate::orders::Order::priced(prices, spec, None, 4)?;
    let made =
        crate::orders::submit_all(db, user, vec![order; quantity as usize], Vec::new()).await?;
    match made.refused {
        Some(e) => Err(e),
        None => Ok(made.ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_the_description_and_optional_wishes() {
        let all = templates();
        assert!(all.len() >= 4);
        let studio = all.iter().find(|t| t.id == "studio").unwrap();
        let p = draft_prompt(studio, " Крем для рук, 50 мл ", Some("розовый фон"));
        assert!(
            p.contains("Крем для рук, 50 мл.") && p.ends_with("Also: розовый фон."),
            "{p}"
        );
        let skipped = draft_prompt(studio, "Mug", None);
        assert!(
            !skipped.contains("{wishes}") && !skipped.contains("Also"),
            "{skipped}"
        );
    }
}
