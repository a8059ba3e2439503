//! Prices in tokens and what each product costs at the providers. The table is
//! `assets/pricing.toml` (compiled in as the default; an operator can point `PRICING_FILE` at
//! another). Pure functions: testable without a database or a network.
use serde::{Deserialize, Serialize};

pub static DEFAULT_PRICING: &str = include_str!("../assets/pricing.toml");

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PriceTable {
    pub welcome_bonus: i64,
    pub kzt_per_usd: f64,
    pub video: Vec<VideoPrice>,
    pub talking_head: PerSecond,
    pub image_edit: PerItem,
    pub compose: PerItem,
    pub packs: Vec<Pack>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct VideoPrice {
    pub tier: String,
    pub resolution: String,
    pub tokens_per_8s: i64,
    pub cost_usd_per_second: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PerSecond {
    pub tokens_per_second: i64,
    pub cost_usd_per_second: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PerItem {
    pub tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Pack {
    pub tokens: i64,
    pub price_kzt: i64,
}

impl Pack {
    /// Discount against 1 token = 1 ₸, in whole percent.
    pub fn discount_percent(&self) -> i64 {
        (100.0 - self.price_kzt as f64 * 100.0 / self.tokens as f64).round() as i64
    }
}

/// "720x1280" → "720p", "1080x1920" → "1080p": the price row a frame size falls in.
pub fn resolution_of(size: &str) -> &'static str {
    let short = size
        .split('x')
        .filter_map(|n| n.trim().parse::<u32>().ok())
        .min()
        .unwrap_or(720);
    if short >= 1080 {
        "1080p"
    } else {
        "720p"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("pricing table is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("pricing table: {0}")]
    Invalid(String),
}

impl PriceTable {
    pub fn parse(text: &str) -> Result<Self, PricingError> {
        let t: Self = toml::from_str(text)?;
        if t.video.iter().any(|v| v.tokens_per_8s <= 0)
            || t.packs.iter().any(|p| p.tokens <= 0 || p.price_kzt <= 0)
        {
            return Err(PricingError::Invalid(
                "every price and pack must be positive".into(),
            ));
        }
        if t.kzt_per_usd.is_nan() || t.kzt_per_usd <= 0.0 {
            return Err(PricingError::Invalid("kzt_per_usd must be positive".into()));
        }
        Ok(t)
    }

    /// The table in `path` (`PRICING_FILE`), or the bundled one; errors name the file.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default_table());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot be read ({e})", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn default_table() -> Self {
        // The bundled table is checked by the tests; failing here means a broken build.
        Self::parse(DEFAULT_PRICING).expect("bundled assets/pricing.toml is valid")
    }

    fn video_row(&self, tier: &str, resolution: &str) -> Option<&VideoPrice> {
        self.video
            .iter()
            .find(|v| v.tier == tier && v.resolution == resolution)
    }

    /// Tokens for `seconds` of video, or `None` when that tier/resolution is not offered.
    pub fn video_tokens(&self, tier: &str, resolution: &str, seconds: u32) -> Option<i64> {
        self.video_row(tier, resolution)
            .map(|v| (v.tokens_per_8s as f64 * f64::from(seconds) / 8.0).round() as i64)
    }

    pub fn talking_head_tokens(&self, seconds: u32) -> i64 {
        self.talking_head.tokens_per_second * i64::from(seconds)
    }

    /// Every product with its price, provider cost and margin, for `admin profit`.
    pub fn profit_rows(&self) -> Vec<ProfitRow> {
        let kzt = self.kzt_per_usd;
        let mut rows = Vec::new();
        for v in &self.video {
            for secs in [4u32, 8, 12] {
                let price = self.video_tokens(&v.tier, &v.resolution, secs).unwrap_or(0);
                rows.push(ProfitRow::new(
                    format!("video {} {} {secs} s", v.tier, v.resolution),
                    price,
                    v.cost_usd_per_second * f64::from(secs) * kzt,
                ));
            }
        }
        rows.push(ProfitRow::new(
            "talking head 10 s".into(),
            self.talking_head_tokens(10),
            self.talking_head.cost_usd_per_second * 10.0 * kzt,
        ));
        rows.push(ProfitRow::new(
            "image edit".into(),
            self.image_edit.tokens,
            self.image_edit.cost_usd * kzt,
        ));
        rows.push(ProfitRow::new(
            "compose".into(),
            self.compose.tokens,
            self.compose.cost_usd * kzt,
        ));
        rows
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfitRow {
    pub product: String,
    pub price_tokens: i64,
    pub cost_kzt: f64,
    pub margin_percent: f64,
}

impl ProfitRow {
    fn new(product: String, price_tokens: i64, cost_kzt: f64) -> Self {
        let margin_percent = if price_tokens > 0 {
            (price_tokens as f64 - cost_kzt) * 100.0 / price_tokens as f64
        } else {
            0.0
        };
        Self {
            product,
            price_tokens,
            cost_kzt,
            margin_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_reproduce_the_old_prices() {
        let t = PriceTable::default_table();
        assert_eq!(t.video_tokens("fast", "720p", 8), Some(742));
        assert_eq!(t.video_tokens("quality", "720p", 8), Some(1928));
        assert_eq!(t.video_tokens("quality", "1080p", 8), Some(3115));
        assert_eq!(t.video_tokens("fast", "720p", 4), Some(371));
        assert_eq!(t.video_tokens("fast", "1080p", 8), None, "not offered");
        let packs: Vec<(i64, i64, i64)> = t
            .packs
            .iter()
            .map(|p| (p.tokens, p.price_kzt, p.discount_percent()))
            .collect();
        assert_eq!(
            packs,
            vec![
                (742, 742, 0),
                (1484, 1336, 10),
                (3710, 3154, 15),
                (7420, 5936, 20)
            ]
        );
    }

    #[test]
    fn profit_is_price_minus_provider_cost() {
        let t = PriceTable::default_table();
        let rows = t.profit_rows();
        let fast8 = rows
            .iter()
            .find(|r| r.product == "video fast 720p 8 s")
            .unwrap();
        assert_eq!(fast8.price_tokens, 742);
        assert!((fast8.cost_kzt - 0.8 * 480.0).abs() < 1e-9);
        assert!((fast8.margin_percent - (742.0 - 384.0) * 100.0 / 742.0).abs() < 1e-9);
    }

    #[test]
    fn broken_tables_are_refused_with_a_reason() {
        assert!(PriceTable::parse("welcome_bonus = ").is_err());
        let negative = DEFAULT_PRICING.replace("tokens_per_8s = 742", "tokens_per_8s = -1");
        assert!(matches!(
            PriceTable::parse(&negative),
            Err(PricingError::Invalid(_))
        ));
    }
}
