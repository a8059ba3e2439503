//! Pages in the shapes real shops publish (Kaspi-, Wildberries-, Shopify- and WooCommerce-like
//! markup, written here, not copied).
use super::*;

fn url(s: &str) -> reqwest::Url {
    reqwest::Url::parse(s).unwrap()
}

#[test]
fn json_ld_with_several_graphs_and_relative_images() {
    let html = r#"<!doctype html><html><head>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Organization","name":"Shop LLP"}</script>
<script type="application/ld+json">
{"@context":"https://schema.org","@graph":[
  {"@type":"WebSite","name":"Мой магазин","url":"https://shop.example/"},
  {"@type":"BreadcrumbList","itemListElement":[]},
  {"@type":"WebPage","mainEntity":{"@type":"Product","name":"Крем  для лица &quot;Роса&quot;",
    "description":"<p>Увлажняет кожу<br>весь день.</p>",
    "brand":{"@type":"Brand","name":"Роса"},
    "image":["/img/cream-1.jpg","img/cream-2.jpg","https://cdn.example/cream-3.jpg"],
    "offers":{"@type":"Offer","price":"12990.00","priceCurrency":"kzt"}}}
]}
</script></head><body><h1>Крем</h1></body></html>"#;
    let p = product_from_html(html, &url("https://shop.example/catalog/cream?id=7"));
    assert_eq!(p.name, "Крем для лица \"Роса\"");
    assert_eq!(p.description, "Увлажняет кожу весь день.");
    assert_eq!(p.brand.as_deref(), Some("Роса"));
    assert_eq!(p.price.as_deref(), Some("12990"));
    assert_eq!(p.currency.as_deref(), Some("KZT"));
    assert_eq!(
        p.images,
        [
            "https://shop.example/img/cream-1.jpg",
            "https://shop.example/catalog/img/cream-2.jpg",
            "https://cdn.example/cream-3.jpg"
        ]
    );
    assert_eq!(p.price_text().as_deref(), Some("12\u{a0}990 KZT"));
    assert!(p.usable());
}

#[test]
fn a_price_as_a_number_in_a_list_of_offers_and_image_objects() {
    let html = r#"<html><head><base href="https://static.example/shop/">
<script type="application/ld+json">[{"@type":["Product","Thing"],"name":"Trail Bottle 750 ml",
 "offers":[{"@type":"Offer","availability":"OutOfStock"},{"@type":"Offer","price":19.9,"priceCurrency":"USD"}],
 "image":{"@type":"ImageObject","url":"bottle.png"}}]</script></head></html>"#;
    let p = product_from_html(html, &url("https://shop.example/p/1"));
    assert_eq!(p.name, "Trail Bottle 750 ml");
    assert_eq!(p.price.as_deref(), Some("19.9"));
    assert_eq!(p.currency.as_deref(), Some("USD"));
    assert_eq!(p.images, ["https://static.example/shop/bottle.png"]);
}

#[test]
fn json_ld_in_a_comment_after_a_broken_block_and_an_aggregate_offer() {
    let html = r#"<html><head>
<script type="application/ld+json">{"@type":"Product", broken</script>
<script type="application/ld+json"><!--
{"@type":"Product","name":"Чайник","offers":{"@type":"AggregateOffer","lowPrice":"4 990","priceCurrency":"RUB"}}
--></script></head></html>"#;
    let p = product_from_html(html, &url("https://shop.example/"));
    assert_eq!(p.name, "Чайник");
    assert_eq!(p.price.as_deref(), Some("4990"));
    assert_eq!(p.currency.as_deref(), Some("RUB"));
    assert!(p.usable(), "a name and a price");
}

#[test]
fn open_graph_only() {
    let html = r#"<html><head><title>Сумка — Shop</title>
<meta property="og:type" content="product">
<meta property="og:title" content="Сумка кожаная">
<meta property="og:description" content="Натуральная кожа, два отделения.">
<meta property="og:image" content="//cdn.shop.example/bag.webp">
<meta property="product:price:amount" content="25 000">
<meta property="product:price:currency" content="₸">
</head><body></body></html>"#;
    let p = product_from_html(html, &url("https://shop.example/bag"));
    assert_eq!(p.name, "Сумка кожаная");
    assert_eq!(p.description, "Натуральная кожа, два отделения.");
    assert_eq!(p.images, ["https://cdn.shop.example/bag.webp"]);
    assert_eq!(p.price.as_deref(), Some("25000"));
    assert_eq!(p.currency.as_deref(), Some("KZT"));
}

#[test]
fn microdata_only() {
    let html = r#"<html><body><div itemscope itemtype="http://schema.org/Product">
<h1 itemprop="name">Smart Watch X2</h1><img itemprop="image" src="/w.jpg">
<div itemprop="description">Heart rate, GPS,
   7 days of battery.</div>
<div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
<span itemprop="price" content="1299.50">1 299,50 €</span><meta itemprop="priceCurrency" content="EUR"></div>
</div></body></html>"#;
    let p = product_from_html(html, &url("http://shop.example/w"));
    assert_eq!(p.name, "Smart Watch X2");
    assert_eq!(p.description, "Heart rate, GPS, 7 days of battery.");
    assert_eq!(p.images, ["http://shop.example/w.jpg"]);
    assert_eq!(p.price.as_deref(), Some("1299.5"));
    assert_eq!(p.currency.as_deref(), Some("EUR"));
}

#[test]
fn a_title_and_a_description_are_the_last_resort_and_a_bare_title_is_not_a_product() {
    let html = r#"<html><head><title>  Кофемолка ручная | Shop</title>
<meta name="description" content="Керамические жернова, 30 г за раз."></head></html>"#;
    let p = product_from_html(html, &url("https://shop.example/"));
    assert_eq!(p.name, "Кофемолка ручная");
    assert!(p.usable());

    let bare = product_from_html(
        "<html><head><title>Home</title></head><body>hi</body></html>",
        &url("https://shop.example/"),
    );
    assert!(!bare.usable(), "{bare:?}");
    let nothing = product_from_html("", &url("https://shop.example/"));
    assert!(!nothing.usable());
    // An article's OpenGraph title is not a product's name.
    let article = product_from_html(
        r#"<meta property="og:type" content="article"><meta property="og:title" content="10 tips">"#,
        &url("https://blog.example/"),
    );
    assert!(!article.usable(), "{article:?}");
}

#[test]
fn broken_html_is_read_as_a_browser_reads_it() {
    let html = r#"<html><head><title>Lamp</title><body><div><p>unclosed <b>tags</div></span>
<script type="application/ld+json">{"@type":"Product","name":"Desk Lamp","description":"Warm light",
"image":"javascript:alert(1)"}</script><table><tr><td>"#;
    let p = product_from_html(html, &url("https://shop.example/"));
    assert_eq!(p.name, "Desk Lamp");
    assert!(p.images.is_empty(), "only http(s) images: {:?}", p.images);
}

#[test]
fn long_texts_are_cut_at_a_word() {
    let long = "слово ".repeat(600);
    let html = format!(
        r#"<script type="application/ld+json">{{"@type":"Product","name":"{}","description":"{long}"}}</script>"#,
        "N".repeat(300)
    );
    let p = product_from_html(&html, &url("https://shop.example/"));
    assert!(p.name.chars().count() <= MAX_NAME_CHARS);
    assert!(p.description.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert!(
        p.description.ends_with("слово…"),
        "{}",
        &p.description[p.description.len() - 20..]
    );
}

#[test]
fn prices_as_shops_write_them() {
    for (raw, want) in [
        ("12990", Some("12990")),
        ("12990.00", Some("12990")),
        ("1 299,50", Some("1299.5")),
        ("1.299.000", Some("1299000")),
        ("1,299.99", Some("1299.99")),
        ("от 5 000 ₸", Some("5000")),
        ("0.00", None),
        ("free", None),
        ("99999999999999999", None),
    ] {
        assert_eq!(normalise_price(raw).as_deref(), want, "{raw}");
    }
}
