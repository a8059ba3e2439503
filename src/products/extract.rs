//! What a shop page says about its product, read the way search engines and link previews read
//! it: schema.org `Product` in JSON-LD first (any `@graph`, any nesting, offers as object or
//! list, price as text or number, images as text, list or `ImageObject`), then OpenGraph
//! (`og:*`, `product:price:*`), then microdata (`itemtype=…/Product`), then the `<title>` and
//! the meta description. Each field comes from the first source that has it. HTML is parsed
//! by `scraper` (html5ever, the parser browsers' specification describes), so broken markup is
//! read as a browser would read it.
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

/// A product as read from a page (or told by the seller): every text trimmed, whitespace
/// collapsed, tags stripped, within the limits below.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProductFacts {
    pub name: String,
    pub description: String,
    pub brand: Option<String>,
    /// A decimal number as text, `.` for the decimal point ("12990", "19.99").
    pub price: Option<String>,
    /// ISO 4217 code, upper case.
    pub currency: Option<String>,
    /// Absolute http(s) URLs, the main image first.
    pub images: Vec<String>,
}

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 1500;
pub const MAX_IMAGES: usize = 8;

impl ProductFacts {
    /// Whether this is enough to write an ad from: a name and at least one of a description,
    /// a price or an image (a bare `<title>` is not a product).
    pub fn usable(&self) -> bool {
        !self.name.is_empty()
            && (!self.description.is_empty() || self.price.is_some() || !self.images.is_empty())
    }

    /// Fills what is missing here from `other`.
    fn fill_from(&mut self, other: ProductFacts) {
        if self.name.is_empty() {
            self.name = other.name;
        }
        if self.description.is_empty() {
            self.description = other.description;
        }
        if self.brand.is_none() {
            self.brand = other.brand;
        }
        if self.price.is_none() {
            self.price = other.price;
            if self.currency.is_none() {
                self.currency = other.currency;
            }
        }
        for image in other.images {
            if !self.images.contains(&image) && self.images.len() < MAX_IMAGES {
                self.images.push(image);
            }
        }
    }

    /// The price as people write it: "12 990 KZT", "19.99 USD".
    pub fn price_text(&self) -> Option<String> {
        let price = self.price.as_deref()?;
        let (int, frac) = price.split_once('.').unwrap_or((price, ""));
        let mut grouped = group_thousands(int, '\u{a0}');
        if !frac.is_empty() && frac.chars().any(|c| c != '0') {
            grouped.push('.');
            grouped.push_str(frac);
        }
        Some(match self.currency.as_deref() {
            Some(c) => format!("{grouped} {c}"),
            None => grouped,
        })
    }
}

/// Digits in groups of three: "12990" → "12 990" with `sep` between the groups.
pub fn group_thousands(digits: &str, sep: char) -> String {
    let mut grouped = String::new();
    let n = digits.chars().count();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            grouped.push(sep);
        }
        grouped.push(c);
    }
    grouped
}

/// Reads the product of an HTML page found at `page_url` (relative image URLs are resolved
/// against it, or against the page's `<base href>`).
pub fn product_from_html(html: &str, page_url: &reqwest::Url) -> ProductFacts {
    let doc = Html::parse_document(html);
    let base = select_first(&doc, "base[href]")
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page_url.join(href.trim()).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut facts = ProductFacts::default();
    for found in [
        json_ld(&doc, &base),
        open_graph(&doc, &base),
        microdata(&doc, &base),
        title_and_meta(&doc),
    ] {
        facts.fill_from(found);
    }
    facts
}

fn selector(css: &str) -> Selector {
    // The selectors below are constants; a typo is caught by the tests.
    Selector::parse(css).unwrap_or_else(|_| panic!("bad selector {css}"))
}

fn select_first<'a>(doc: &'a Html, css: &str) -> Option<ElementRef<'a>> {
    doc.select(&selector(css)).next()
}

/// Text without tags and entities, whitespace collapsed, cut at a word within `max` chars.
pub fn clean_text(raw: &str, max: usize) -> String {
    let text: String = if raw.contains('<') || raw.contains('&') {
        Html::parse_fragment(raw)
            .root_element()
            .text()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        raw.to_string()
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cut_at_word(&collapsed, max)
}

fn cut_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let at = cut
        .rfind(' ')
        .filter(|&i| i > cut.len() / 2)
        .unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end_matches([',', ';', ':', ' ']))
}

/// A price as written in markup ("1 299,00", "12990", 19.99, "от 5 000 ₸") as a plain decimal.
pub fn normalise_price(raw: &str) -> Option<String> {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .collect();
    let kept = kept.trim_matches(|c| c == '.' || c == ',');
    if kept.is_empty() {
        return None;
    }
    // The last separator followed by one or two digits is the decimal point; any other is a
    // thousands separator ("1.299.000", "1,299.50", "1 299,5").
    let last = kept.rfind(['.', ',']);
    let (int, frac) = match last {
        Some(i) if kept.len() - i - 1 <= 2 => (&kept[..i], &kept[i + 1..]),
        _ => (kept, ""),
    };
    let int: String = int.chars().filter(char::is_ascii_digit).collect();
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if int.len() > 12 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let value = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    (value != "0").then_some(value)
}

fn currency(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let code = match code.as_str() {
        "₸" | "ТГ" | "ТЕНГЕ" => "KZT".to_string(),
        "₽" | "РУБ" | "РУБ." | "RUR" => "RUB".to_string(),
        "$" => "USD".to_string(),
        "€" => "EUR".to_string(),
        _ => code,
    };
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())).then_some(code)
}

/// Longest URL kept (a photo's or the page's).
pub const MAX_URL_CHARS: usize = 2000;

fn absolute_image(base: &reqwest::Url, raw: &str) -> Option<String> {
    if raw.len() > MAX_URL_CHARS {
        return None;
    }
    let url = base.join(raw.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_URL_CHARS)
        .then(|| url.to_string())
}

// ---- JSON-LD ----

fn json_ld(doc: &Html, base: &reqwest::Url) -> ProductFacts {
    let mut facts = ProductFacts::default();
    for script in doc.select(&selector(r#"script[type="application/ld+json" i]"#)) {
        let text: String = script.text().collect();
        let Some(value) = parse_lenient(&text) else {
            continue;
        };
        let mut products = Vec::new();
        find_products(&value, 0, &mut products);
        for product in products {
            facts.fill_from(from_ld_product(product, base));
        }
    }
    facts
}

/// JSON as shops write it: sometimes wrapped in an HTML comment or CDATA, sometimes with raw
/// line breaks inside strings.
fn parse_lenient(text: &str) -> Option<Value> {
    let t = text.trim();
    let t = t
        .strip_prefix("<!--")
        .and_then(|t| t.strip_suffix("-->"))
        .unwrap_or(t);
    let t = t.trim();
    let t = t
        .strip_prefix("//<![CDATA[")
        .or_else(|| t.strip_prefix("<![CDATA["))
        .unwrap_or(t);
    let t = t
        .strip_suffix("//]]>")
        .or_else(|| t.strip_suffix("]]>"))
        .unwrap_or(t);
    serde_json::from_str(t).ok().or_else(|| {
        let flat: String = t
            .chars()
            .map(|c| {
                if c == '\n' || c == '\r' || c == '\t' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        serde_json::from_str(&flat).ok()
    })
}

fn is_product_type(v: &Value) -> bool {
    let is = |s: &str| {
        let s = s.rsplit('/').next().unwrap_or(s);
        matches!(
            s,
            "Product" | "ProductGroup" | "IndividualProduct" | "ProductModel"
        )
    };
    match v.get("@type") {
        Some(Value::String(s)) => is(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(is),
        _ => false,
    }
}

/// Every Product object in the document, in order, however it is nested (`@graph`,
/// `mainEntity`, lists), at most 8 levels deep.
fn find_products<'a>(v: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
    if depth > 8 || out.len() >= 4 {
        return;
    }
    match v {
        Value::Array(items) => items.iter().for_each(|i| find_products(i, depth + 1, out)),
        Value::Object(map) => {
            if is_product_type(v) {
                out.push(v);
                return;
            }
            for (key, child) in map {
                if key != "offers" && key != "review" {
                    find_products(child, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn ld_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(|x| ld_text(Some(x))),
        Value::Object(o) => ld_text(o.get("name").or_else(|| o.get("@value"))),
        _ => None,
    }
}

fn from_ld_product(p: &Value, base: &reqwest::Url) -> ProductFacts {
    let mut facts = ProductFacts {
        name: clean_text(&ld_text(p.get("name")).unwrap_or_default(), MAX_NAME_CHARS),
        description: clean_text(
            &ld_text(p.get("description")).unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
        ),
        brand: ld_text(p.get("brand"))
            .map(|b| clean_text(&b, 80))
            .filter(|b| !b.is_empty()),
        ..Default::default()
    };
    let offers: Vec<&Value> = match p.get("offers") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    for offer in offers {
        let spec = offer.get("priceSpecification");
        let spec = spec
            .and_then(|s| s.as_array().and_then(|a| a.first()))
            .or(spec);
        let price = ["price", "lowPrice", "highPrice"]
            .iter()
            .find_map(|k| ld_text(offer.get(*k)))
            .or_else(|| ld_text(spec.and_then(|s| s.get("price"))))
            .and_then(|raw| normalise_price(&raw));
        if let Some(price) = price {
            facts.price = Some(price);
            facts.currency = ld_text(offer.get("priceCurrency"))
                .or_else(|| ld_text(spec.and_then(|s| s.get("priceCurrency"))))
                .and_then(|c| currency(&c));
            break;
        }
    }
    let mut images = Vec::new();
    collect_ld_images(p.get("image"), &mut images);
    facts.images = images
        .iter()
        .filter_map(|i| absolute_image(base, i))
        .take(MAX_IMAGES)
        .collect();
    facts
}

fn collect_ld_images(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Array(a)) => a.iter().for_each(|x| collect_ld_images(Some(x), out)),
        Some(Value::Object(o)) => {
            collect_ld_images(o.get("contentUrl").or_else(|| o.get("url")), out)
        }
        _ => {}
    }
}

// ---- OpenGraph ----

fn meta_content(doc: &Html, names: &[&str]) -> Option<String> {
    for name in names {
        for attr in ["property", "name", "itemprop"] {
            let css = format!(r#"meta[{attr}="{name}" i][content]"#);
            if let Some(v) = select_first(doc, &css)
                .and_then(|m| m.value().attr("content"))
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

fn open_graph(doc: &Html, base: &reqwest::Url) -> ProductFacts {
    let og_type = meta_content(doc, &["og:type"]).unwrap_or_default();
    let price = meta_content(doc, &["product:price:amount", "og:price:amount"])
        .and_then(|p| normalise_price(&p));
    let mut facts = ProductFacts {
        name: clean_text(
            &meta_content(doc, &["og:title", "twitter:title"]).unwrap_or_default(),
            MAX_NAME_CHARS,
        ),
        description: clean_text(
            &meta_content(doc, &["og:description", "twitter:description"]).unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
        ),
        brand: meta_content(doc, &["product:brand", "og:brand"]).map(|b| clean_text(&b, 80)),
        currency: price.as_ref().and_then(|_| {
            meta_content(doc, &["product:price:currency", "og:price:currency"])
                .and_then(|c| currency(&c))
        }),
        price,
        images: Vec::new(),
    };
    for css in [
        r#"meta[property="og:image:secure_url" i][content]"#,
        r#"meta[property="og:image" i][content]"#,
        r#"meta[property="og:image:url" i][content]"#,
        r#"meta[name="twitter:image" i][content]"#,
    ] {
        for m in doc.select(&selector(css)) {
            if let Some(url) = m
                .value()
                .attr("content")
                .and_then(|c| absolute_image(base, c))
            {
                if !facts.images.contains(&url) && facts.images.len() < MAX_IMAGES {
                    facts.images.push(url);
                }
            }
        }
    }
    // An OpenGraph title on an article or a home page is no product name; its image and
    // description still help.
    if !og_type.is_empty()
        && !og_type.to_ascii_lowercase().contains("product")
        && facts.price.is_none()
    {
        facts.name.clear();
    }
    facts
}

// ---- microdata ----

fn microdata(doc: &Html, base: &reqwest::Url) -> ProductFacts {
    let Some(scope) = doc.select(&selector("[itemscope][itemtype]")).find(|e| {
        e.value()
            .attr("itemtype")
            .is_some_and(|t| t.split_whitespace().any(|t| t.ends_with("/Product")))
    }) else {
        return ProductFacts::default();
    };
    let prop = |name: &str| -> Option<String> {
        let css = format!(r#"[itemprop~="{name}"]"#);
        let el = scope.select(&selector(&css)).next()?;
        let v = el.value();
        let raw = v
            .attr("content")
            .or_else(|| v.attr("src"))
            .or_else(|| v.attr("href"))
            .map(str::to_string)
            .unwrap_or_else(|| el.text().collect::<Vec<_>>().join(" "));
        let raw = raw.trim().to_string();
        (!raw.is_empty()).then_some(raw)
    };
    let price = prop("price")
        .or_else(|| prop("lowPrice"))
        .and_then(|p| normalise_price(&p));
    ProductFacts {
        name: clean_text(&prop("name").unwrap_or_default(), MAX_NAME_CHARS),
        description: clean_text(
            &prop("description").unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
        ),
        brand: prop("brand").map(|b| clean_text(&b, 80)),
        currency: price
            .as_ref()
            .and_then(|_| prop("priceCurrency").and_then(|c| currency(&c))),
        price,
        images: prop("image")
            .and_then(|i| absolute_image(base, &i))
            .into_iter()
            .collect(),
    }
}

// ---- title and meta description ----

fn title_and_meta(doc: &Html) -> ProductFacts {
    let title = select_first(doc, "title")
        .map(|t| t.text().collect::<String>())
        .unwrap_or_default();
    // "Name — Shop" / "Name | Shop": the shop's part goes.
    let name = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .split(" | ")
        .next()
        .unwrap_or_default()
        .split(" — ")
        .next()
        .unwrap_or_default()
        .to_string();
    ProductFacts {
        name: clean_text(&name, MAX_NAME_CHARS),
        description: clean_text(
            &meta_content(doc, &["description"]).unwrap_or_default(),
            MAX_DESCRIPTION_CHARS,
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
