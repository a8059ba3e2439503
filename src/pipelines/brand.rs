//! The seller's brand in a UGC job: its files read as the compositor reads them before
//! anything is bought, then fetched into the compose request with the accent.
use super::{Scratch, Services, StepError};
use crate::failure::ErrorClass;
use crate::jobs::UgcParams;
use crate::storage::ObjectStore;

/// The order's logo and end-card photo, fetched and read as the compositor reads them.
pub(super) async fn check(s: &Services, p: &UgcParams, scratch: &Scratch) -> Result<(), StepError> {
    let Some(brand) = &p.brand else {
        return Ok(());
    };
    let mut logo = None;
    if let Some(key) = &brand.logo {
        let path = fetch(s, key, scratch, "logo").await?;
        logo = Some(path);
    }
    let mut photo = None;
    if let Some(key) = brand.end_card.as_ref().and_then(|c| c.photo.as_ref()) {
        let path = fetch(s, key, scratch, "end-card-photo").await?;
        photo = Some(path);
    }
    if let Some(path) = &logo {
        if std::fs::metadata(path).map_or(0, |m| m.len())
            > crate::orders::rules::MAX_LOGO_BYTES as u64
        {
            return Err(StepError::Fail(
                ErrorClass::BadUserInput,
                "the logo is larger than 2 MB".into(),
            ));
        }
    }
    tokio::task::spawn_blocking(move || media::check_brand_files(logo.as_deref(), photo.as_deref()))
        .await
        .map_err(|e| StepError::Fail(ErrorClass::Transient, e.to_string()))?
        .map_err(super::ugc::composite_error)
}

/// The brand of the order into the compose request: the logo and the end card's photo
/// fetched, the accent set.
pub(super) async fn into_request(
    s: &Services,
    p: &UgcParams,
    req: &mut media::ComposeRequest,
    scratch: &Scratch,
) -> Result<(), StepError> {
    let Some(brand) = &p.brand else {
        return Ok(());
    };
    if let Some(key) = &brand.logo {
        let path = fetch(s, key, scratch, "logo").await?;
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        if bytes > crate::orders::rules::MAX_LOGO_BYTES as u64 {
            return Err(StepError::Fail(
                ErrorClass::BadUserInput,
                "the logo is larger than 2 MB".into(),
            ));
        }
        req.logo = Some(path);
    }
    if let Some(accent) = brand.accent.as_deref().and_then(media::parse_hex_color) {
        req.caption_accent = accent;
    }
    if let Some(card) = &brand.end_card {
        let photo = match &card.photo {
            Some(key) => {
                let path = fetch(s, key, scratch, "end-card-photo").await?;
                Some(path)
            }
            None => None,
        };
        req.end_card = Some(media::EndCard {
            photo,
            title: card.title.clone(),
            price: card.price.clone(),
            call_to_action: card.call_to_action.clone(),
            seconds: card.seconds,
        });
    }
    Ok(())
}

/// A brand file in the job's scratch folder: fetched once per run (the check before the
/// speech and the composite after it read the same copy).
async fn fetch(
    s: &Services,
    key: &str,
    scratch: &Scratch,
    name: &str,
) -> Result<std::path::PathBuf, StepError> {
    let path = scratch.file(name);
    if !path.exists() {
        s.storage.get_to_file(key, &path).await?;
    }
    Ok(path)
}
