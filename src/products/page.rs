//! Fetching a shop page or its product photo on a seller's behalf, with the webhooks' guard
//! ([`crate::egress`]): public addresses only, checked on the address connected to, each
//! redirect checked again before it is followed (at most 5), a size cap read as it streams
//! (the `Content-Length` is not trusted), one deadline for the whole fetch, pages that are HTML
//! only, and a browser's `User-Agent` (shops answer bots with captchas or nothing).
use crate::egress::Reach;
use std::time::Duration;

/// Largest page read (3 MB) and photo (10 MB).
pub const MAX_PAGE_BYTES: usize = 3 * 1024 * 1024;
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// The whole fetch, redirects included.
pub const DEADLINE: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 5;
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Why a page or photo could not be read; each has a plain message for the seller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("this is not an http(s) link")]
    NotALink,
    #[error("the link points to a local or private address")]
    PrivateAddress,
    #[error("the site cannot be reached")]
    Unreachable,
    #[error("the site answered with HTTP {0}")]
    Status(u16),
    #[error("the link does not lead to a web page (it sent {0})")]
    NotHtml(String),
    #[error("the page is larger than {0} MB")]
    TooLarge(usize),
    #[error("the site did not answer in time (10 seconds)")]
    Timeout,
    #[error("the site redirects too many times")]
    TooManyRedirects,
    /// Only the web's own ports (80, 443) are fetched from public addresses.
    #[error("the link uses port {0}; only 80 and 443 are read")]
    Port(u16),
}

impl FetchError {
    /// The locale key of the seller-facing text (`product.fetch.*`).
    pub fn key(&self) -> &'static str {
        match self {
            FetchError::NotALink | FetchError::Port(_) => "product.fetch.not_a_link",
            FetchError::PrivateAddress => "product.fetch.private",
            FetchError::Unreachable | FetchError::TooManyRedirects => "product.fetch.unreachable",
            FetchError::Status(_) => "product.fetch.status",
            FetchError::NotHtml(_) => "product.fetch.not_html",
            FetchError::TooLarge(_) => "product.fetch.too_large",
            FetchError::Timeout => "product.fetch.timeout",
        }
    }
}

/// What was read: the address it was finally read from, its type and bytes.
pub struct Fetched {
    pub url: reqwest::Url,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A link as a seller pastes it: `kaspi.kz/shop/p/…` gets `https://`; spaces around go.
pub fn parse_link(text: &str) -> Result<reqwest::Url, FetchError> {
    let t = text.trim();
    let with_scheme = if t.contains("://") {
        t.to_string()
    } else {
        format!("https://{t}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|_| FetchError::NotALink)?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url
            .host_str()
            .is_some_and(|h| h.contains('.') || h.contains(':') || h == "localhost")
        && url.username().is_empty()
        && url.password().is_none()
        && with_scheme.len() <= 2000
        && !t.chars().any(char::is_whitespace);
    ok.then_some(url).ok_or(FetchError::NotALink)
}

/// The client for pages and photos (one per call site; cheap to keep).
pub fn client(reach: &Reach) -> Result<reqwest::Client, String> {
    crate::egress::builder(reach)
        .user_agent(USER_AGENT)
        .timeout(DEADLINE)
        .build()
        .map_err(|e| format!("the page client cannot be built: {e}"))
}

/// Fetches a shop page: HTML only, at most [`MAX_PAGE_BYTES`].
pub async fn fetch_page(
    http: &reqwest::Client,
    url: &reqwest::Url,
    reach: &Reach,
    deadline: Duration,
) -> Result<Fetched, FetchError> {
    let accept = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5";
    let page = fetch(http, url, reach, MAX_PAGE_BYTES, accept, deadline).await?;
    let html_type =
        page.content_type.contains("text/html") || page.content_type.contains("application/xhtml");
    let looks_html = || {
        let head =
            String::from_utf8_lossy(&page.body[..page.body.len().min(512)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        head.starts_with("<!doctype html") || head.starts_with("<html")
    };
    if html_type || (page.content_type.is_empty() && looks_html()) {
        Ok(page)
    } else {
        Err(FetchError::NotHtml(if page.content_type.is_empty() {
            "something without a type".into()
        } else {
            page.content_type
        }))
    }
}

/// Fetches a product photo (its bytes are checked as a photo by the caller).
pub async fn fetch_photo(
    http: &reqwest::Client,
    url: &reqwest::Url,
    reach: &Reach,
    deadline: Duration,
) -> Result<Fetched, FetchError> {
    let accept = "image/avif,image/webp,image/*;q=0.9";
    fetch(http, url, reach, MAX_PHOTO_BYTES, accept, deadline).await
}

async fn fetch(
    http: &reqwest::Client,
    url: &reqwest::Url,
    reach: &Reach,
    max_bytes: usize,
    accept: &str,
    deadline: Duration,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(deadline, fetch_within(http, url, reach, max_bytes, accept)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout),
    }
}

async fn fetch_within(
    http: &reqwest::Client,
    url: &reqwest::Url,
    reach: &Reach,
    max_bytes: usize,
    accept: &str,
) -> Result<Fetched, FetchError> {
    let mut at = url.clone();
    for _hop in 0..=MAX_REDIRECTS {
        if !matches!(at.scheme(), "http" | "https") || at.host_str().is_none() {
            return Err(FetchError::NotALink);
        }
        // A shop is on the web's ports: other ports of public hosts are not probed for anyone.
        let port = at.port_or_known_default().unwrap_or(0);
        if *reach == Reach::Public && port != 80 && port != 443 {
            return Err(FetchError::Port(port));
        }
        // An address literal never meets the client's resolver: it is checked here, and a
        // name is checked again by the resolver on the address connected to.
        crate::egress::check_url(&at, reach).await.map_err(|e| {
            if e.contains("does not resolve") {
                FetchError::Unreachable
            } else {
                FetchError::PrivateAddress
            }
        })?;
        let resp = http
            .get(at.clone())
            .header(reqwest::header::ACCEPT, accept)
            .header(reqwest::header::ACCEPT_LANGUAGE, "ru,kk;q=0.9,en;q=0.8")
            .send()
            .await
            .map_err(|e| {
                if format!("{e:?}").contains("public addresses") {
                    FetchError::PrivateAddress
                } else if e.is_timeout() {
                    FetchError::Timeout
                } else {
                    FetchError::Unreachable
                }
            })?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| at.join(l).ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            at = next;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if resp
            .content_length()
            .is_some_and(|n| n as usize > max_bytes)
        {
            return Err(FetchError::TooLarge(max_bytes >> 20));
        }
        let body = read_capped(resp, max_bytes).await?;
        return Ok(Fetched {
            url: at,
            content_type,
            body,
        });
    }
    Err(FetchError::TooManyRedirects)
}

/// Reads a body chunk by chunk, stopping as soon as it passes `max_bytes`.
async fn read_capped(mut resp: reqwest::Response, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        if e.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Unreachable
        }
    })? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The page's text in its declared charset (`Content-Type`, then `<meta charset>`), UTF-8
/// otherwise — windows-1251 shop pages still exist.
pub fn decode_html(page: &Fetched) -> String {
    let declared = |s: &str| {
        s.split(';')
            .filter_map(|p| p.trim().strip_prefix("charset="))
            .next()
            .map(|c| c.trim_matches(['"', '\'']).to_string())
    };
    let from_meta = || {
        let head =
            String::from_utf8_lossy(&page.body[..page.body.len().min(2048)]).to_ascii_lowercase();
        let at = head.find("charset=")?;
        let rest = &head[at + 8..];
        let rest = rest.trim_start_matches(['"', '\'']);
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))?;
        Some(rest[..end].to_string())
    };
    let label = declared(&page.content_type).or_else(from_meta);
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(&page.body).0.into_owned()
}
