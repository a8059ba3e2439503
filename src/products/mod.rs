//! Product intake, shared by the bot and the API: a shop link becomes a product (name,
//! description, brand, price, photos) read from the page ([`extract`]) fetched with the
//! webhooks' guard ([`page`]); its main photo is fetched, checked like an upload (header size,
//! the decode budget) and stored. A seller without a link tells the name and a few words.
//! Products are kept per user for reuse, and [`scripts`] writes ad scripts from them.
pub mod extract;
pub mod page;
pub mod scripts;
pub mod translate;

pub use extract::ProductFacts;
pub use page::FetchError;

use crate::db::products::StoredProduct;
use crate::db::Db;
use crate::egress::Reach;
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;

/// Links a user may read per hour (each costs us a fetch of up to 13 MB).
pub const READS_PER_HOUR: i64 = 30;

/// Why no product came of a link.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The page gives no product: the seller is asked for a photo and a few words instead.
    #[error("the page does not describe a product (no schema.org Product, OpenGraph or microdata with a name)")]
    NothingUsable,
    #[error("too many links read in the last hour; try again in {0} minutes")]
    TooMany(i64),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// What intake needs: shared by the bot and the API.
pub struct Intake {
    pub db: Db,
    pub storage: Arc<Storage>,
    pub http: reqwest::Client,
    pub reach: Reach,
    pub work_dir: PathBuf,
    /// The fetch of a page ([`page::DEADLINE`]); its photos share as long again.
    pub deadline: std::time::Duration,
    /// Links read at once in this process: each may hold a 3 MB page, its parsed document and
    /// a 10 MB photo.
    reading: Arc<tokio::sync::Semaphore>,
}

/// Links read at once per process.
pub const READING_AT_ONCE: usize = 4;

/// Tags a page may have to be parsed (a real product page has tens of thousands; a page of
/// a million tiny elements would take hundreds of MB as a document).
pub const MAX_TAGS: usize = 200_000;

impl Intake {
    pub fn new(
        db: Db,
        storage: Arc<Storage>,
        reach: Reach,
        work_dir: PathBuf,
    ) -> Result<Self, String> {
        Ok(Self {
            http: page::client(&reach)?,
            db,
            storage,
            reach,
            work_dir,
            deadline: page::DEADLINE,
            reading: Arc::new(tokio::sync::Semaphore::new(READING_AT_ONCE)),
        })
    }

    /// Reads the product at `url` for `user` and keeps it.
    pub async fn from_link(
        &self,
        user: i64,
        url: &reqwest::Url,
    ) -> Result<StoredProduct, IntakeError> {
        let window = crate::db::limits::hit(
            &self.db,
            "product_read",
            &user.to_string(),
            3_600_000,
            READS_PER_HOUR,
        )
        .await?;
        if window.hits > READS_PER_HOUR {
            return Err(IntakeError::TooMany(window.ends_in_ms / 60_000 + 1));
        }
        let _reading = self
            .reading
            .acquire()
            .await
            .map_err(|_| IntakeError::Fetch(FetchError::Unreachable))?;
        let started = std::time::Instant::now();
        let fetched = page::fetch_page(&self.http, url, &self.reach, self.deadline).await?;
        if fetched.body.iter().filter(|b| **b == b'<').count() > MAX_TAGS {
            return Err(IntakeError::Fetch(FetchError::TooLarge(
                page::MAX_PAGE_BYTES >> 20,
            )));
        }
        let source = fetched.url.clone();
        // Parsing is CPU work: off the async threads.
        let facts = tokio::task::spawn_blocking(move || {
            let html = page::decode_html(&fetched);
            extract::product_from_html(&html, &fetched.url)
        })
        .await
        .map_err(|_| IntakeError::Fetch(FetchError::Unreachable))?;
        if !facts.usable() {
            tracing::info!(
                host = source.host_str().unwrap_or(""),
                "a shop page gave no product"
            );
            return Err(IntakeError::NothingUsable);
        }
        // The photos share one more page deadline, however many are tried.
        let until = started + self.deadline * 2;
        let image_key = self.store_main_photo(user, &facts, until).await;
        let source = Some(source.as_str()).filter(|u| u.len() <= extract::MAX_URL_CHARS);
        let id = crate::db::products::insert(&self.db, user, &facts, image_key.as_deref(), source)
            .await?;
        crate::db::products::trim(&self.db, user).await?;
        tracing::info!(
            product = id,
            photo = image_key.is_some(),
            "a product was read from a shop page"
        );
        Ok(self.stored(user, id).await?)
    }

    /// Keeps a product the seller described (a photo they sent may come with it).
    pub async fn from_words(
        &self,
        user: i64,
        facts: &ProductFacts,
        image_key: Option<&str>,
    ) -> Result<StoredProduct, IntakeError> {
        let id = crate::db::products::insert(&self.db, user, facts, image_key, None).await?;
        crate::db::products::trim(&self.db, user).await?;
        Ok(self.stored(user, id).await?)
    }

    async fn stored(&self, user: i64, id: i64) -> Result<StoredProduct, crate::db::DbError> {
        crate::db::products::get(&self.db, user, id)
            .await?
            .ok_or(crate::db::DbError::Sql(sqlx::Error::RowNotFound))
    }

    /// The first of the page's photos (up to three tried) that is a photo we decode, stored
    /// and recorded as the user's; `None` when none is.
    async fn store_main_photo(
        &self,
        user: i64,
        facts: &ProductFacts,
        until: std::time::Instant,
    ) -> Option<String> {
        for src in facts.images.iter().take(3) {
            let Ok(url) = reqwest::Url::parse(src) else {
                continue;
            };
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.store_photo(user, &url, left).await {
                Ok(key) => return Some(key),
                Err(why) => tracing::info!(reason = %why, "a product photo was skipped"),
            }
        }
        None
    }

    async fn store_photo(
        &self,
        user: i64,
        url: &reqwest::Url,
        deadline: std::time::Duration,
    ) -> Result<String, String> {
        let photo = page::fetch_photo(&self.http, url, &self.reach, deadline)
            .await
            .map_err(|e| e.to_string())?;
        let (ext, content_type) = match photo.body.get(..4) {
            Some([0xFF, 0xD8, 0xFF, _]) => ("jpg", "image/jpeg"),
            Some([0x89, b'P', b'N', b'G']) => ("png", "image/png"),
            Some(b"RIFF") => ("webp", "image/webp"),
            _ => {
                return Err(format!(
                    "not a JPEG, PNG or WebP photo ({})",
                    photo.content_type
                ))
            }
        };
        // Removed however this ends (a client that hangs up drops the request mid-way).
        let scratch = ScratchFile(self.work_dir.join(format!(
            "product-{}.{ext}",
            crate::db::api_keys::random_hex(8)
        )));
        let path = &scratch.0;
        std::fs::write(path, &photo.body).map_err(|e| e.to_string())?;
        let key = match crate::orders::files::check_photo(path).await {
            Ok(Ok(())) => {
                crate::pipelines::store_file(&self.storage, "products", path, ext, content_type)
                    .await
                    .map_err(|e| format!("{e:?}"))
            }
            Ok(Err(e)) => Err(crate::orders::files::problem_of(&e)),
            Err(e) => Err(e.to_string()),
        }?;
        crate::db::api::record_product_photo(
            &self.db,
            user,
            &key,
            content_type,
            photo.body.len() as i64,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(key)
    }
}

/// A file of ours in the work folder, removed when dropped.
struct ScratchFile(PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
