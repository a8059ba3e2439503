//! One layer of settings (a file, the environment, the flags) and the settings' names.
use serde::Deserialize;

/// One layer of settings; `None` means "not set here".
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub database_url: Option<String>,
    pub storage_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    pub providers: Option<String>,
    pub http_addr: Option<String>,
    pub telegram_bot_token: Option<String>,
    pub telegram_api_url: Option<String>,
    pub admin_ids: Option<String>,
    pub pricing_file: Option<String>,
    pub video_tiers: Option<String>,
    pub llm_url: Option<String>,
    pub llm_model: Option<String>,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub openai_api_keys: Option<String>,
    pub fal_api_keys: Option<String>,
    pub kie_api_keys: Option<String>,
    pub elevenlabs_api_keys: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub public_url: Option<String>,
    pub admin_chat_id: Option<String>,
    pub kaspi_phone: Option<String>,
    pub daily_job_limit: Option<String>,
    pub job_cooldown_s: Option<String>,
    pub telegram_proxy: Option<String>,
    pub provider_proxy: Option<String>,
    pub metrics_token: Option<String>,
    pub provider_deadline_s: Option<String>,
    pub user_actions_per_hour: Option<String>,
    pub talking_head_chain: Option<String>,
    pub breaker_failures: Option<String>,
    pub breaker_cooldown_s: Option<String>,
    pub tts_chain: Option<String>,
    pub image_edit_chain: Option<String>,
    pub allow_loss_fallback: Option<String>,
    pub breaker_failure_rate: Option<String>,
    pub console_token: Option<String>,
    pub api_rate_per_min: Option<String>,
    pub api_upload_mb_per_day: Option<String>,
    pub api_webhook_private_ok: Option<String>,
    pub product_fetch_private_ok: Option<String>,
    pub trusted_proxies: Option<String>,
    pub policy_dir: Option<String>,
    pub media_gpu: Option<String>,
    pub rust_log: Option<String>,
    pub log_format: Option<String>,
    pub openai_base_url: Option<String>,
    pub fal_base_url: Option<String>,
    pub kie_base_url: Option<String>,
    pub elevenlabs_base_url: Option<String>,
    pub s3_public_endpoint: Option<String>,
    pub worker_http_addr: Option<String>,
}

/// The names, in the order of [`Layer`]'s fields: environment variables and README table.
pub const SETTING_NAMES: [&str; 56] = [
    "DATABASE_URL",
    "STORAGE_URL",
    "S3_ENDPOINT",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "PROVIDERS",
    "HTTP_ADDR",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "ADMIN_IDS",
    "PRICING_FILE",
    "VIDEO_TIERS",
    "LLM_URL",
    "LLM_MODEL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OPENAI_API_KEYS",
    "FAL_API_KEYS",
    "KIE_API_KEYS",
    "ELEVENLABS_API_KEYS",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "PUBLIC_URL",
    "ADMIN_CHAT_ID",
    "KASPI_PHONE",
    "DAILY_JOB_LIMIT",
    "JOB_COOLDOWN_S",
    "TELEGRAM_PROXY",
    "PROVIDER_PROXY",
    "METRICS_TOKEN",
    "PROVIDER_DEADLINE_S",
    "USER_ACTIONS_PER_HOUR",
    "TALKING_HEAD_CHAIN",
    "BREAKER_FAILURES",
    "BREAKER_COOLDOWN_S",
    "TTS_CHAIN",
    "IMAGE_EDIT_CHAIN",
    "ALLOW_LOSS_FALLBACK",
    "BREAKER_FAILURE_RATE",
    "CONSOLE_TOKEN",
    "API_RATE_PER_MIN",
    "API_UPLOAD_MB_PER_DAY",
    "API_WEBHOOK_PRIVATE_OK",
    "PRODUCT_FETCH_PRIVATE_OK",
    "TRUSTED_PROXIES",
    "POLICY_DIR",
    "MEDIA_GPU",
    "RUST_LOG",
    "LOG_FORMAT",
    "OPENAI_BASE_URL",
    "FAL_BASE_URL",
    "KIE_BASE_URL",
    "ELEVENLABS_BASE_URL",
    "S3_PUBLIC_ENDPOINT",
    "WORKER_HTTP_ADDR",
];

impl Layer {
    fn slots(&mut self) -> [&mut Option<String>; 56] {
        [
            &mut self.database_url,
            &mut self.storage_url,
            &mut self.s3_endpoint,
            &mut self.s3_region,
            &mut self.s3_access_key_id,
            &mut self.s3_secret_access_key,
            &mut self.providers,
            &mut self.http_addr,
            &mut self.telegram_bot_token,
            &mut self.telegram_api_url,
            &mut self.admin_ids,
            &mut self.pricing_file,
            &mut self.video_tiers,
            &mut self.llm_url,
            &mut self.llm_model,
            &mut self.stripe_secret_key,
            &mut self.stripe_webhook_secret,
            &mut self.openai_api_keys,
            &mut self.fal_api_keys,
            &mut self.kie_api_keys,
            &mut self.elevenlabs_api_keys,
            &mut self.webhook_url,
            &mut self.webhook_secret,
            &mut self.public_url,
            &mut self.admin_chat_id,
            &mut self.kaspi_phone,
            &mut self.daily_job_limit,
            &mut self.job_cooldown_s,
            &mut self.telegram_proxy,
            &mut self.provider_proxy,
            &mut self.metrics_token,
            &mut self.provider_deadline_s,
            &mut self.user_actions_per_hour,
            &mut self.talking_head_chain,
            &mut self.breaker_failures,
            &mut self.breaker_cooldown_s,
            &mut self.tts_chain,
            &mut self.image_edit_chain,
            &mut self.allow_loss_fallback,
            &mut self.breaker_failure_rate,
            &mut self.console_token,
            &mut self.api_rate_per_min,
            &mut self.api_upload_mb_per_day,
            &mut self.api_webhook_private_ok,
            &mut self.product_fetch_private_ok,
            &mut self.trusted_proxies,
            &mut self.policy_dir,
            &mut self.media_gpu,
            &mut self.rust_log,
            &mut self.log_format,
            &mut self.openai_base_url,
            &mut self.fal_base_url,
            &mut self.kie_base_url,
            &mut self.elevenlabs_base_url,
            &mut self.s3_public_endpoint,
            &mut self.worker_http_addr,
        ]
    }

    /// Values from environment-style variables (`DATABASE_URL`, …); also accepts the singular
    /// `*_API_KEY` for one key.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut layer = Layer::default();
        for (slot, name) in layer.slots().into_iter().zip(SETTING_NAMES) {
            *slot = get(name).or_else(|| {
                name.strip_suffix('S')
                    .filter(|n| n.ends_with("_API_KEY"))
                    .and_then(&get)
            });
        }
        layer
    }

    /// A TOML configuration file: keys in lower case, values written as TOML does — strings,
    /// and also numbers and booleans without quotes (`daily_job_limit = 30`,
    /// `api_webhook_private_ok = true`) and lists (`admin_ids = [1, 2]`).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut strings = toml::Table::new();
        for (key, value) in table {
            let text = scalar(&value).ok_or_else(|| {
                format!("{key} must be a string, a number, a boolean or a list of them")
            })?;
            strings.insert(key, toml::Value::String(text));
        }
        toml::Value::Table(strings)
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_string())
    }

    /// `self` with every value set in `over` replaced by it.
    pub fn overlaid(mut self, mut over: Layer) -> Self {
        for (mine, theirs) in self.slots().into_iter().zip(over.slots()) {
            if let Some(v) = theirs.take() {
                *mine = Some(v);
            }
        }
        self
    }
}

/// A TOML value as the setting's text: booleans as 1 / 0 (how the environment writes them),
/// lists joined with commas.
fn scalar(v: &toml::Value) -> Option<String> {
    Some(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()?
            .join(","),
        toml::Value::Datetime(_) | toml::Value::Table(_) => return None,
    })
}
