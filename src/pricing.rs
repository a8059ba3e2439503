//! Prices in tokens and what each product costs at the providers. The table is
//! `assets/pricing.toml` (compiled in as the default; an operator can point `PRICING_FILE` at
//! another). Pure functions: testable without a database or a network.
use serde::{Deserialize, Serialize};

pub static DEFAULT_PRICING: &str = include_str!("../assets/pricing.toml");

fn default_referral_percent() -> i64 {
    10
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PriceTable {
    pub welcome_bonus: i64,
    /// The referrer's share of each of a friend's paid purchases, percent.
    #[serde(default = "default_referral_percent")]
    pub referral_percent: i64,
    pub kzt_per_usd: f64,
    pub video: Vec<VideoPrice>,
    pub talking_head: PerSecond,
    /// The talking head's tiers, best first (see [`PriceTable::head_tiers`]).
    #[serde(default)]
    pub talking_head_tiers: Vec<HeadTierRow>,
    pub image_edit: PerItem,
    pub compose: PerItem,
    pub packs: Vec<Pack>,
    /// What each fallback-chain entry costs (`local` and unlisted entries: nothing known).
    #[serde(default)]
    pub providers: Vec<EntryCost>,
}

/// A talking-head tier as the table names it: the chain entry that makes it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct HeadTierRow {
    pub name: String,
    pub entry: String,
}

/// A talking-head tier with its price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadTier {
    pub name: String,
    pub entry: String,
    pub tokens_per_second: i64,
    /// What a second costs us (the entry and the speech), USD.
    pub cost_usd_per_second: f64,
}

/// One chain entry's cost: per second of speech or video made, or per image.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct EntryCost {
    pub entry: String,
    #[serde(default)]
    pub usd_per_second: f64,
    #[serde(default)]
    pub usd_per_image: f64,
}

/// What a chain entry is asked to make: seconds of speech/video, or images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    Seconds(f64),
    Images(u32),
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
        if t.providers
            .iter()
            .any(|c| !(c.usd_per_second >= 0.0 && c.usd_per_image >= 0.0))
        {
            return Err(PricingError::Invalid(
                "a provider's cost must be zero or more".into(),
            ));
        }
        if t.kzt_per_usd.is_nan() || t.kzt_per_usd <= 0.0 {
            return Err(PricingError::Invalid("kzt_per_usd must be positive".into()));
        }
        // A tier is priced from its entry's cost: each must be listed, once.
        for (i, tier) in t.talking_head_tiers.iter().enumerate() {
            if tier.name.is_empty()
                || !tier.name.chars().all(|c| c.is_ascii_lowercase())
                || t.talking_head_tiers[..i]
                    .iter()
                    .any(|x| x.name == tier.name)
            {
                return Err(PricingError::Invalid(format!(
                    "talking_head_tiers: '{}' must be a new name of lower-case letters",
                    tier.name
                )));
            }
            if !t.providers.iter().any(|c| c.entry == tier.entry) {
                return Err(PricingError::Invalid(format!(
                    "talking_head_tiers: {}'s entry {} has no [[providers]] cost",
                    tier.name, tier.entry
                )));
            }
        }
        if !t.talking_head_tiers.is_empty() && t.talking_head.cost_usd_per_second <= 0.0 {
            return Err(PricingError::Invalid(
                "talking_head.cost_usd_per_second must be positive to price the tiers".into(),
            ));
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

    /// What `entry` costs in ₸ for `q`; `None` when the table does not list it (`local` is free).
    pub fn entry_cost_kzt(&self, entry: &str, q: Quantity) -> Option<f64> {
        if entry == "local" {
            return Some(0.0);
        }
        let c = self.providers.iter().find(|c| c.entry == entry)?;
        let usd = match q {
            Quantity::Seconds(s) => c.usd_per_second * s,
            Quantity::Images(n) => c.usd_per_image * f64::from(n),
        };
        Some(usd * self.kzt_per_usd)
    }

    /// The margin of a product made by each entry of the speech, talking-head and edit chains
    /// (the other steps by their chain's first entry), for `admin profit` and `/stats`.
    pub fn entry_rows(&self, chains: &EntryChains) -> Vec<ProfitRow> {
        let secs = 10.0;
        let ugc_price = crate::orders::price::ugc_tokens(self, secs);
        let first = |chain: &[String]| {
            chain
                .first()
                .and_then(|e| self.entry_cost_kzt(e, Quantity::Seconds(secs)))
                .unwrap_or(0.0)
        };
        let mut rows = Vec::new();
        for e in &chains.tts {
            if let Some(cost) = self.entry_cost_kzt(e, Quantity::Seconds(secs)) {
                rows.push(ProfitRow::new(
                    format!("UGC 10 s, speech by {e}"),
                    ugc_price,
                    cost + first(&chains.talking_head),
                ));
            }
        }
        for e in &chains.talking_head {
            if let Some(cost) = self.entry_cost_kzt(e, Quantity::Seconds(secs)) {
                rows.push(ProfitRow::new(
                    format!("UGC 10 s, head by {e}"),
                    ugc_price,
                    cost + first(&chains.tts),
                ));
            }
        }
        for e in &chains.image_edit {
            if let Some(cost) = self.entry_cost_kzt(e, Quantity::Images(1)) {
                rows.push(ProfitRow::new(
                    format!("character edit by {e}"),
                    crate::orders::price::edit_tokens(self),
                    cost,
                ));
            }
        }
        rows
    }

    pub fn talking_head_tokens(&self, seconds: u32) -> i64 {
        self.talking_head.tokens_per_second * i64::from(seconds)
    }

    /// The talking head's tiers with their prices, best first. The first is
    /// `[talking_head]`'s price; each other costs its entry's per-second cost plus the
    /// speech's, times the first's margin, rounded up. A table without tiers has one, the
    /// first chain's (`premium`).
    pub fn head_tiers(&self) -> Vec<HeadTier> {
        let usd = |entry: &str| {
            self.providers
                .iter()
                .find(|c| c.entry == entry)
                .map(|c| c.usd_per_second)
        };
        let Some(first) = self.talking_head_tiers.first() else {
            return vec![HeadTier {
                name: "premium".into(),
                entry: String::new(),
                tokens_per_second: self.talking_head.tokens_per_second,
                cost_usd_per_second: self.talking_head.cost_usd_per_second,
            }];
        };
        let speech_usd =
            (self.talking_head.cost_usd_per_second - usd(&first.entry).unwrap_or(0.0)).max(0.0);
        let margin = self.talking_head.tokens_per_second as f64
            / (self.talking_head.cost_usd_per_second * self.kzt_per_usd).max(f64::MIN_POSITIVE);
        self.talking_head_tiers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let cost = usd(&t.entry).unwrap_or(0.0) + speech_usd;
                HeadTier {
                    name: t.name.clone(),
                    entry: t.entry.clone(),
                    tokens_per_second: if i == 0 {
                        self.talking_head.tokens_per_second
                    } else {
                        (cost * self.kzt_per_usd * margin).ceil() as i64
                    },
                    cost_usd_per_second: if i == 0 {
                        self.talking_head.cost_usd_per_second
                    } else {
                        cost
                    },
                }
            })
            .collect()
    }

    /// A tier by name (`None`: the first).
    pub fn head_tier(&self, name: Option<&str>) -> Option<HeadTier> {
        let tiers = self.head_tiers();
        match name {
            None => tiers.into_iter().next(),
            Some(n) => tiers.into_iter().find(|t| t.name == n),
        }
    }

    /// Every product with its price, provider cost and margin, for `admin profit`.
    pub fn profit_rows(&self) -> Vec<ProfitRow> {
        let kzt = self.kzt_per_usd;
        let mut rows = Vec::new();
        for v in &self.video {
            for secs in [4u32, 8, 12] {
                let price = self.video_tokens(&v.tier, &v.resolution, secs).unwrap_or(0);
                // (the ordering service's quote: `orders::price::video_tokens` reads this row)
                rows.push(ProfitRow::new(
                    format!("video {} {} {secs} s", v.tier, v.resolution),
                    price,
                    v.cost_usd_per_second * f64::from(secs) * kzt,
                ));
            }
        }
        for t in self.head_tiers() {
            rows.push(ProfitRow::new(
                format!("UGC 10 s, {} (planned cost)", t.name),
                crate::orders::price::ugc_tokens_at(self, Some(&t.name), 10.0),
                t.cost_usd_per_second * 10.0 * kzt,
            ));
        }
        rows.push(ProfitRow::new(
            "image edit".into(),
            crate::orders::price::edit_tokens(self),
            self.image_edit.cost_usd * kzt,
        ));
        rows.push(ProfitRow::new(
            "compose".into(),
            crate::orders::price::recompose_tokens(self),
            self.compose.cost_usd * kzt,
        ));
        rows
    }
}

/// The entry names of the three UGC chains in the order they are tried.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryChains {
    pub tts: Vec<String>,
    pub talking_head: Vec<String>,
    pub image_edit: Vec<String>,
}

impl EntryChains {
    pub fn from_config(c: &crate::config::Chains) -> Self {
        let names = |chain: &[(String, String)]| {
            chain
                .iter()
                .map(|(p, m)| crate::config::Chains::entry_name(p, m))
                .collect()
        };
        Self {
            tts: names(&c.tts),
            talking_head: names(&c.talking_head),
            image_edit: names(&c.image_edit),
        }
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

    #[test]
    fn a_tier_needs_its_entrys_cost_and_a_name_of_its_own() {
        let table = crate::pricing::DEFAULT_PRICING;
        let missing = table.replacen(
            "entry = \"fal:fal-ai/flashtalk\"\n\n[image_edit]",
            "entry = \"fal:some/unpriced\"\n\n[image_edit]",
            1,
        );
        assert_ne!(missing, table, "the economy tier's entry was replaced");
        let e = crate::pricing::PriceTable::parse(&missing).unwrap_err();
        assert!(e.to_string().contains("no [[providers]] cost"), "{e}");
        let twice = table.replace("name = \"economy\"", "name = \"standard\"");
        assert!(crate::pricing::PriceTable::parse(&twice).is_err());
    }

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
    fn each_chain_entry_has_its_cost_and_margin() {
        let t = PriceTable::default_table();
        let chains =
            EntryChains::from_config(&crate::config::Chains::parse(Default::default()).unwrap());
        let rows = t.entry_rows(&chains);
        let row = |name: &str| rows.iter().find(|r| r.product == name).unwrap().clone();
        // 10 s of UGC: 150 × 10 + 30 = 1 530 tokens; OmniHuman 0.16 $/s and ElevenLabs 0.005 $/s.
        let omni = row("UGC 10 s, head by fal:fal-ai/bytedance/omnihuman/v1.5");
        assert_eq!(omni.price_tokens, 1530);
        assert!((omni.cost_kzt - (1.6 + 0.05) * 480.0).abs() < 1e-6);
        let flash = row("UGC 10 s, head by fal:fal-ai/flashtalk");
        assert!((flash.cost_kzt - (0.2 + 0.05) * 480.0).abs() < 1e-6);
        assert!(flash.margin_percent > omni.margin_percent);
        let local = row("UGC 10 s, head by local");
        assert!((local.cost_kzt - 0.05 * 480.0).abs() < 1e-6);
        let openai = row("UGC 10 s, speech by openai:gpt-4o-mini-tts");
        assert!((openai.cost_kzt - (0.0025 + 1.6) * 480.0).abs() < 1e-6);
        let kontext = row("character edit by fal:fal-ai/flux-pro/kontext");
        assert!((kontext.cost_kzt - 0.04 * 480.0).abs() < 1e-6);
        assert_eq!(kontext.price_tokens, 60);
        assert_eq!(t.entry_cost_kzt("fal:unknown", Quantity::Images(1)), None);
        assert!(rows.iter().all(|r| r.margin_percent > 0.0), "{rows:?}");
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
