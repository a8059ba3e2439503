//! A seller's products (see `crate::products`): stored per user for reuse.
use crate::db::{now_ms, Db, DbError};
use crate::products::ProductFacts;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredProduct {
    pub id: i64,
    pub user_id: i64,
    pub facts: ProductFacts,
    /// The main photo as stored (an object key), when one could be read.
    pub image_key: Option<String>,
    /// The page it was read from (`None`: told by the seller).
    pub source_url: Option<String>,
    pub created_ms: i64,
}

type Row = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
);

fn from_row(r: Row) -> StoredProduct {
    StoredProduct {
        id: r.0,
        user_id: r.1,
        facts: ProductFacts {
            name: r.2,
            description: r.3,
            brand: r.4,
            price: r.5,
            currency: r.6,
            images: serde_json::from_str(&r.7).unwrap_or_default(),
        },
        image_key: r.8,
        source_url: r.9,
        created_ms: r.10,
    }
}

pub async fn insert(
    db: &Db,
    user: i64,
    facts: &ProductFacts,
    image_key: Option<&str>,
    source_url: Option<&str>,
) -> Result<i64, DbError> {
    let images = serde_json::to_string(&facts.images).unwrap_or_else(|_| "[]".into());
    Ok(on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO products (user_id, name, description, brand, price, currency, images, image_key, source_url, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(user)
    .bind(&facts.name)
    .bind(&facts.description)
    .bind(&facts.brand)
    .bind(&facts.price)
    .bind(&facts.currency)
    .bind(&images)
    .bind(image_key)
    .bind(source_url)
    .bind(now_ms())
    .fetch_one(p)
    .await?))
}

/// A product of `user` (another user's is `None`, as if it did not exist).
pub async fn get(db: &Db, user: i64, id: i64) -> Result<Option<StoredProduct>, DbError> {
    let row: Option<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT id, user_id, name, description, brand, price, currency, images, image_key, source_url, created_ms
         FROM products WHERE id = $1 AND user_id = $2",
    ).bind(id).bind(user).fetch_optional(p).await?);
    Ok(row.map(from_row))
}

/// The user's products, newest first.
pub async fn list(db: &Db, user: i64, limit: i64) -> Result<Vec<StoredProduct>, DbError> {
    let rows: Vec<Row> = on_db!(db, p => sqlx::query_as(
        "SELECT id, user_id, name, description, brand, price, currency, images, image_key, source_url, created_ms
         FROM products WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    ).bind(user).bind(limit).fetch_all(p).await?);
    Ok(rows.into_iter().map(from_row).collect())
}

/// How many products a user keeps at most (the oldest go when a new one comes).
pub const MAX_PER_USER: i64 = 50;

/// Forgets the user's products beyond the newest [`MAX_PER_USER`].
pub async fn trim(db: &Db, user: i64) -> Result<u64, DbError> {
    Ok(on_db!(db, p => sqlx::query(
        "DELETE FROM products WHERE user_id = $1 AND id NOT IN
           (SELECT id FROM products WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
    )
    .bind(user)
    .bind(MAX_PER_USER)
    .execute(p)
    .await?
    .rows_affected()))
}

/// Keeps the scripts just written for `product` as the user's current set (one per user).
pub async fn keep_scripts(db: &Db, user: i64, product: i64, scripts: &str) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO product_scripts (user_id, product_id, scripts, picked, created_ms) VALUES ($1, $2, $3, NULL, $4)
         ON CONFLICT (user_id) DO UPDATE SET product_id = $2, scripts = $3, picked = NULL, created_ms = $4",
    )
    .bind(user)
    .bind(product)
    .bind(scripts)
    .bind(now_ms())
    .execute(p)
    .await?
    .rows_affected());
    Ok(())
}

/// The user's current script set: (product id, scripts as JSON, the picked text).
pub async fn scripts_of(
    db: &Db,
    user: i64,
) -> Result<Option<(i64, String, Option<String>)>, DbError> {
    Ok(on_db!(db, p => sqlx::query_as(
        "SELECT product_id, scripts, picked FROM product_scripts WHERE user_id = $1 AND created_ms > $2",
    )
    .bind(user)
    .bind(now_ms() - SCRIPTS_KEPT_MS)
    .fetch_optional(p)
    .await?))
}

/// How long a written set stays offered (a day).
pub const SCRIPTS_KEPT_MS: i64 = 24 * 3_600_000;

/// Marks `text` as the picked script (`None`: used up, or none), with the `variants` ordered
/// with it.
pub async fn pick_script(
    db: &Db,
    user: i64,
    text: Option<&str>,
    variants: &[String],
) -> Result<(), DbError> {
    let variants = serde_json::to_string(variants).unwrap_or_else(|_| "[]".into());
    on_db!(db, p => sqlx::query("UPDATE product_scripts SET picked = $2, variants = $3 WHERE user_id = $1")
        .bind(user)
        .bind(text)
        .bind(&variants)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Forgets the variants picked with a script (the seller typed a script of their own).
pub async fn drop_variants(db: &Db, user: i64) -> Result<(), DbError> {
    on_db!(db, p => sqlx::query("UPDATE product_scripts SET variants = NULL WHERE user_id = $1")
        .bind(user)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// The scripts picked to be ordered with the first (variants B, C), while one is picked.
pub async fn picked_variants(db: &Db, user: i64) -> Result<Vec<String>, DbError> {
    let row: Option<Option<String>> = on_db!(db, p => sqlx::query_scalar(
        "SELECT variants FROM product_scripts WHERE user_id = $1 AND picked IS NOT NULL AND created_ms > $2",
    )
    .bind(user)
    .bind(now_ms() - SCRIPTS_KEPT_MS)
    .fetch_optional(p)
    .await?);
    Ok(row
        .flatten()
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}
