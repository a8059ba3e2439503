//! Every inline button's data as one type: both ends (the button and its handler) go through
//! `Display` and `FromStr`, so they cannot drift apart. The wire format stays short (Telegram
//! allows 64 bytes) and stable, so buttons in old messages still parse.
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Cancel a queued or running job (under its progress message); refunded once.
    Cancel(i64),
    /// Send a finished video again (offered when an upload's outcome was unknown).
    Resend(i64),
    /// The same settings again for a finished job.
    Again(i64),
    /// The main menu.
    Menu,
    MenuItem(MenuItem),
    /// Leave the current step.
    CancelFlow,
    /// The token packs.
    Buy,
    Pay(PayButton),
    /// What to do with a photo sent without a caption.
    Photo(PhotoAction),
    Video(VideoButton),
    Product(ProductButton),
    Ugc(UgcButton),
    /// A seller's products from shop links (`bot::shop`).
    Shop(ShopButton),
    /// The brand kit (`/brand`).
    Brand(BrandButton),
    /// `/language`: `ru` or `en`.
    Language(String),
    /// `/deletedata` confirmed (or not).
    DeleteData(bool),
    /// An admin's gallery buttons.
    Gallery(GalleryButton),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GalleryButton {
    /// The new character's gender.
    Gender(String),
    /// Take a character out of the gallery.
    Remove(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuItem {
    Generate,
    Product,
    Ugc,
    History,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayButton {
    /// A pack (index in the price table): choose how to pay.
    Pack(usize),
    Stripe(usize),
    Kaspi(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoAction {
    Animate,
    ProductCard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoButton {
    Preset(String),
    Model(String),
    Seconds(u32),
    Orientation(String),
    Go,
    /// "✨ improve the prompt" on or off.
    Improve,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductButton {
    Template(String),
    Quantity(u32),
    SkipWishes,
    Go,
    /// The confirmation card's settings: tier, length, orientation (`v`, `h`, `s`).
    Tier(String),
    Seconds(u32),
    Orientation(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrandButton {
    /// Send a new logo.
    Logo,
    /// The next accent colour.
    Accent,
    /// The end card on or off.
    EndCard,
    /// Type the call to action.
    Action,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopButton {
    /// Show product `id`'s card.
    Show(i64),
    /// Write (again) three scripts for product `id`.
    Scripts(i64),
    /// Use script `n` of the current set for a UGC video.
    Use(usize),
    /// Use the first `n` scripts: one video with `n` variants.
    UseAll(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UgcButton {
    /// The talking head fills the frame (`false`) or sits on the user's background (`true`).
    Format {
        background: bool,
    },
    Gender(String),
    /// Show gallery character `n`.
    Character(usize),
    Pick(usize),
    /// Edit the character first?
    Edit(bool),
    /// Use the edited picture of this `character_edit` job.
    UseEdit(i64),
    BackToOriginal,
    VoicePage(usize),
    VoiceSample(String),
    Voice(String),
    /// Order, at the price the button showed (`None`: a button from before prices rode on it).
    Go(Option<i64>),
    /// A layout preview button.
    Layout(LayoutButton),
    /// `/overlay`: compose again with the edited layout, at the price the button showed
    /// (`None`: a button from before prices rode on it).
    Recompose(Option<i64>),
    /// The script step: take the script picked from a product's set.
    UsePicked,
    /// The confirmation: the talking head's tier.
    HeadTier(String),
    /// A finished UGC video: make it again in other languages.
    Versions(i64),
    /// The confirmation: add or drop a language version (`ru`, `kk`, `en`).
    Language(String),
    /// A language version's script as shown: take it.
    VersionTake,
    /// A language version's script as shown: type it instead.
    VersionEdit,
}

/// The layout preview's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutButton {
    /// The next caption style.
    Style,
    /// `reels`, `tiktok`, `shorts`, `none`.
    Zone(String),
    /// `tl`, `tr`, `bl`, `br`, `c`.
    Position(String),
    /// `s`, `m`, `l`.
    Size(String),
    Ring,
    Captions,
    /// Add or drop a format: `1x1`, `16x9`, `4x5`.
    Format(String),
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callback::Cancel(job) => write!(f, "job:cancel:{job}"),
            Callback::Resend(job) => write!(f, "job:resend:{job}"),
            Callback::Again(job) => write!(f, "again:{job}"),
            Callback::Menu => f.write_str("menu"),
            Callback::MenuItem(m) => f.write_str(match m {
                MenuItem::Generate => "m:gen",
                MenuItem::Product => "m:prod",
                MenuItem::Ugc => "m:ugc",
                MenuItem::History => "m:hist",
                MenuItem::Help => "m:help",
            }),
            Callback::CancelFlow => f.write_str("x"),
            Callback::Buy => f.write_str("buy"),
            Callback::Pay(PayButton::Pack(i)) => write!(f, "pay:p:{i}"),
            Callback::Pay(PayButton::Stripe(i)) => write!(f, "pay:s:{i}"),
            Callback::Pay(PayButton::Kaspi(i)) => write!(f, "pay:k:{i}"),
            Callback::Photo(PhotoAction::Animate) => f.write_str("pa:anim"),
            Callback::Photo(PhotoAction::ProductCard) => f.write_str("pa:prod"),
            Callback::Video(v) => match v {
                VideoButton::Preset(t) => write!(f, "v:preset:{t}"),
                VideoButton::Model(m) => write!(f, "v:m:{m}"),
                VideoButton::Seconds(s) => write!(f, "v:s:{s}"),
                VideoButton::Orientation(o) => write!(f, "v:o:{o}"),
                VideoButton::Go => f.write_str("v:go"),
                VideoButton::Improve => f.write_str("v:imp"),
            },
            Callback::Product(p) => match p {
                ProductButton::Template(t) => write!(f, "p:t:{t}"),
                ProductButton::Quantity(q) => write!(f, "p:q:{q}"),
                ProductButton::SkipWishes => f.write_str("p:skip"),
                ProductButton::Go => f.write_str("p:go"),
                ProductButton::Tier(t) => write!(f, "p:tier:{t}"),
                ProductButton::Seconds(n) => write!(f, "p:sec:{n}"),
                ProductButton::Orientation(o) => write!(f, "p:or:{o}"),
            },
            Callback::Language(code) => write!(f, "lang:{code}"),
            Callback::DeleteData(yes) => f.write_str(if *yes { "del:yes" } else { "del:no" }),
            Callback::Gallery(GalleryButton::Gender(g)) => write!(f, "chr:g:{g}"),
            Callback::Gallery(GalleryButton::Remove(id)) => write!(f, "chr:rm:{id}"),
            Callback::Ugc(u) => match u {
                UgcButton::Format { background } => {
                    f.write_str(if *background { "u:f:bg" } else { "u:f:head" })
                }
                UgcButton::Gender(g) => write!(f, "u:g:{g}"),
                UgcButton::Character(n) => write!(f, "u:c:{n}"),
                UgcButton::Pick(n) => write!(f, "u:pick:{n}"),
                UgcButton::Edit(yes) => f.write_str(if *yes { "u:e:yes" } else { "u:e:no" }),
                UgcButton::UseEdit(job) => write!(f, "u:use:{job}"),
                UgcButton::BackToOriginal => f.write_str("u:orig"),
                UgcButton::VoicePage(p) => write!(f, "u:vp:{p}"),
                UgcButton::VoiceSample(v) => write!(f, "u:vs:{v}"),
                UgcButton::Voice(v) => write!(f, "u:v:{v}"),
                UgcButton::Go(None) => f.write_str("u:go"),
                UgcButton::Go(Some(price)) => write!(f, "u:go:{price}"),
                UgcButton::Layout(LayoutButton::Position(p)) => write!(f, "u:lp:{p}"),
                UgcButton::Layout(LayoutButton::Size(z)) => write!(f, "u:ls:{z}"),
                UgcButton::Layout(LayoutButton::Ring) => f.write_str("u:lr"),
                UgcButton::Layout(LayoutButton::Style) => f.write_str("u:lt"),
                UgcButton::Layout(LayoutButton::Zone(z)) => write!(f, "u:lz:{z}"),
                UgcButton::Layout(LayoutButton::Captions) => f.write_str("u:lc"),
                UgcButton::Layout(LayoutButton::Format(code)) => write!(f, "u:lf:{code}"),
                UgcButton::Recompose(None) => f.write_str("u:rc"),
                UgcButton::Recompose(Some(price)) => write!(f, "u:rc:{price}"),
                UgcButton::UsePicked => f.write_str("u:pk"),
                UgcButton::HeadTier(t) => write!(f, "u:ht:{t}"),
                UgcButton::Versions(job) => write!(f, "u:vl:{job}"),
                UgcButton::Language(code) => write!(f, "u:lg:{code}"),
                UgcButton::VersionTake => f.write_str("u:vok"),
                UgcButton::VersionEdit => f.write_str("u:ved"),
            },
            Callback::Brand(b) => f.write_str(match b {
                BrandButton::Logo => "br:logo",
                BrandButton::Accent => "br:acc",
                BrandButton::EndCard => "br:end",
                BrandButton::Action => "br:act",
                BrandButton::Remove => "br:rm",
            }),
            Callback::Shop(s) => match s {
                ShopButton::Show(id) => write!(f, "shop:show:{id}"),
                ShopButton::Scripts(id) => write!(f, "shop:scr:{id}"),
                ShopButton::Use(n) => write!(f, "shop:use:{n}"),
                ShopButton::UseAll(n) => write!(f, "shop:all:{n}"),
            },
        }
    }
}

impl FromStr for Callback {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (head, rest) = s.split_once(':').unwrap_or((s, ""));
        let (what, value) = rest.split_once(':').unwrap_or((rest, ""));
        let num = |t: &str| t.parse::<i64>().map_err(|_| ());
        let index = |t: &str| t.parse::<usize>().map_err(|_| ());
        let text = |t: &str| {
            if t.is_empty() {
                Err(())
            } else {
                Ok(t.to_string())
            }
        };
        Ok(match (head, what) {
            ("job", "cancel") => Callback::Cancel(num(value)?),
            ("job", "resend") => Callback::Resend(num(value)?),
            ("again", id) => Callback::Again(num(id)?),
            ("menu", "") => Callback::Menu,
            ("m", item) => Callback::MenuItem(match item {
                "gen" => MenuItem::Generate,
                "prod" => MenuItem::Product,
                "ugc" => MenuItem::Ugc,
                "hist" => MenuItem::History,
                _ => MenuItem::Help,
            }),
            ("x", "") => Callback::CancelFlow,
            ("buy", "") => Callback::Buy,
            ("pay", "p") => Callback::Pay(PayButton::Pack(index(value)?)),
            ("pay", "s") => Callback::Pay(PayButton::Stripe(index(value)?)),
            ("pay", "k") => Callback::Pay(PayButton::Kaspi(index(value)?)),
            ("pa", "anim") => Callback::Photo(PhotoAction::Animate),
            ("pa", "prod") => Callback::Photo(PhotoAction::ProductCard),
            ("v", "preset") => Callback::Video(VideoButton::Preset(text(value)?)),
            ("v", "m") => Callback::Video(VideoButton::Model(text(value)?)),
            ("v", "s") => Callback::Video(VideoButton::Seconds(value.parse().map_err(|_| ())?)),
            ("v", "o") => Callback::Video(VideoButton::Orientation(text(value)?)),
            ("v", "go") => Callback::Video(VideoButton::Go),
            ("v", "imp") => Callback::Video(VideoButton::Improve),
            ("p", "t") => Callback::Product(ProductButton::Template(text(value)?)),
            ("p", "q") => {
                Callback::Product(ProductButton::Quantity(value.parse().map_err(|_| ())?))
            }
            ("p", "skip") => Callback::Product(ProductButton::SkipWishes),
            ("p", "go") => Callback::Product(ProductButton::Go),
            ("p", "tier") => Callback::Product(ProductButton::Tier(text(value)?)),
            ("p", "sec") => {
                Callback::Product(ProductButton::Seconds(value.parse().map_err(|_| ())?))
            }
            ("p", "or") => Callback::Product(ProductButton::Orientation(text(value)?)),
            ("u", "f") => Callback::Ugc(UgcButton::Format {
                background: match value {
                    "bg" => true,
                    "head" => false,
                    _ => return Err(()),
                },
            }),
            ("u", "g") if value == "female" || value == "male" => {
                Callback::Ugc(UgcButton::Gender(value.to_string()))
            }
            ("u", "c") => Callback::Ugc(UgcButton::Character(index(value)?)),
            ("u", "pick") => Callback::Ugc(UgcButton::Pick(index(value)?)),
            ("u", "e") => Callback::Ugc(UgcButton::Edit(match value {
                "yes" => true,
                "no" => false,
                _ => return Err(()),
            })),
            ("u", "use") => Callback::Ugc(UgcButton::UseEdit(num(value)?)),
            ("u", "orig") => Callback::Ugc(UgcButton::BackToOriginal),
            ("u", "vp") => Callback::Ugc(UgcButton::VoicePage(index(value)?)),
            ("u", "vs") => Callback::Ugc(UgcButton::VoiceSample(text(value)?)),
            ("u", "v") => Callback::Ugc(UgcButton::Voice(text(value)?)),
            ("u", "go") if value.is_empty() => Callback::Ugc(UgcButton::Go(None)),
            ("u", "go") => Callback::Ugc(UgcButton::Go(Some(num(value)?))),
            ("u", "lp") if ["tl", "tr", "bl", "br", "c"].contains(&value) => {
                Callback::Ugc(UgcButton::Layout(LayoutButton::Position(value.to_string())))
            }
            ("u", "ls") if ["s", "m", "l"].contains(&value) => {
                Callback::Ugc(UgcButton::Layout(LayoutButton::Size(value.to_string())))
            }
            ("u", "lr") => Callback::Ugc(UgcButton::Layout(LayoutButton::Ring)),
            ("u", "lt") => Callback::Ugc(UgcButton::Layout(LayoutButton::Style)),
            ("u", "lz") if value.parse::<media::SafeZone>().is_ok() => {
                Callback::Ugc(UgcButton::Layout(LayoutButton::Zone(value.to_string())))
            }
            ("u", "lc") => Callback::Ugc(UgcButton::Layout(LayoutButton::Captions)),
            ("u", "lf") if ["9x16", "1x1", "16x9", "4x5"].contains(&value) => {
                Callback::Ugc(UgcButton::Layout(LayoutButton::Format(value.to_string())))
            }
            ("u", "rc") if value.is_empty() => Callback::Ugc(UgcButton::Recompose(None)),
            ("u", "rc") => Callback::Ugc(UgcButton::Recompose(Some(num(value)?))),
            ("u", "pk") => Callback::Ugc(UgcButton::UsePicked),
            ("u", "ht")
                if !value.is_empty()
                    && value.len() <= 20
                    && value.chars().all(|c| c.is_ascii_lowercase()) =>
            {
                Callback::Ugc(UgcButton::HeadTier(value.to_string()))
            }
            ("u", "vl") => Callback::Ugc(UgcButton::Versions(num(value)?)),
            ("u", "lg") if ["ru", "kk", "en"].contains(&value) => {
                Callback::Ugc(UgcButton::Language(value.to_string()))
            }
            ("u", "vok") => Callback::Ugc(UgcButton::VersionTake),
            ("u", "ved") => Callback::Ugc(UgcButton::VersionEdit),
            ("br", "logo") => Callback::Brand(BrandButton::Logo),
            ("br", "acc") => Callback::Brand(BrandButton::Accent),
            ("br", "end") => Callback::Brand(BrandButton::EndCard),
            ("br", "act") => Callback::Brand(BrandButton::Action),
            ("br", "rm") => Callback::Brand(BrandButton::Remove),
            ("shop", "show") => Callback::Shop(ShopButton::Show(num(value)?)),
            ("shop", "scr") => Callback::Shop(ShopButton::Scripts(num(value)?)),
            ("shop", "use") if index(value)? < 3 => Callback::Shop(ShopButton::Use(index(value)?)),
            ("shop", "all") if (2..=3).contains(&index(value)?) => {
                Callback::Shop(ShopButton::UseAll(index(value)?))
            }
            ("lang", code @ ("ru" | "kk" | "en")) => Callback::Language(code.to_string()),
            ("del", "yes") => Callback::DeleteData(true),
            ("del", "no") => Callback::DeleteData(false),
            ("chr", "g") => Callback::Gallery(GalleryButton::Gender(text(value)?)),
            ("chr", "rm") => Callback::Gallery(GalleryButton::Remove(num(value)?)),
            _ => return Err(()),
        })
    }
}

impl Callback {
    /// The button's data, as Telegram carries it.
    pub fn data(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_reads_back_as_itself() {
        let all = [
            Callback::Cancel(7),
            Callback::Language("en".into()),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Position("tr".into()))),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Size("l".into()))),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Ring)),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Captions)),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Style)),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Zone("tiktok".into()))),
            Callback::Ugc(UgcButton::Recompose(None)),
            Callback::Ugc(UgcButton::Recompose(Some(90))),
            Callback::Ugc(UgcButton::UsePicked),
            Callback::Ugc(UgcButton::HeadTier("economy".into())),
            Callback::Ugc(UgcButton::Versions(41)),
            Callback::Ugc(UgcButton::Language("kk".into())),
            Callback::Ugc(UgcButton::VersionTake),
            Callback::Ugc(UgcButton::VersionEdit),
            Callback::Shop(ShopButton::Show(5)),
            Callback::Brand(BrandButton::Logo),
            Callback::Brand(BrandButton::Accent),
            Callback::Brand(BrandButton::EndCard),
            Callback::Brand(BrandButton::Action),
            Callback::Brand(BrandButton::Remove),
            Callback::Shop(ShopButton::Scripts(9)),
            Callback::Shop(ShopButton::Use(2)),
            Callback::Shop(ShopButton::UseAll(3)),
            Callback::DeleteData(true),
            Callback::DeleteData(false),
            Callback::Gallery(GalleryButton::Gender("male".into())),
            Callback::Gallery(GalleryButton::Remove(4)),
            Callback::Resend(12),
            Callback::Again(3),
            Callback::Menu,
            Callback::MenuItem(MenuItem::Generate),
            Callback::MenuItem(MenuItem::Help),
            Callback::CancelFlow,
            Callback::Buy,
            Callback::Pay(PayButton::Pack(1)),
            Callback::Pay(PayButton::Stripe(2)),
            Callback::Pay(PayButton::Kaspi(0)),
            Callback::Photo(PhotoAction::Animate),
            Callback::Photo(PhotoAction::ProductCard),
            Callback::Video(VideoButton::Preset("quality".into())),
            Callback::Video(VideoButton::Model("q1080".into())),
            Callback::Video(VideoButton::Seconds(12)),
            Callback::Video(VideoButton::Orientation("square".into())),
            Callback::Video(VideoButton::Go),
            Callback::Video(VideoButton::Improve),
            Callback::Product(ProductButton::Template("studio".into())),
            Callback::Product(ProductButton::Quantity(5)),
            Callback::Product(ProductButton::SkipWishes),
            Callback::Product(ProductButton::Go),
            Callback::Product(ProductButton::Tier("quality".into())),
            Callback::Product(ProductButton::Seconds(12)),
            Callback::Product(ProductButton::Orientation("h".into())),
            Callback::Ugc(UgcButton::Format { background: true }),
            Callback::Ugc(UgcButton::Format { background: false }),
            Callback::Ugc(UgcButton::Gender("female".into())),
            Callback::Ugc(UgcButton::Character(4)),
            Callback::Ugc(UgcButton::Pick(4)),
            Callback::Ugc(UgcButton::Edit(true)),
            Callback::Ugc(UgcButton::Edit(false)),
            Callback::Ugc(UgcButton::UseEdit(99)),
            Callback::Ugc(UgcButton::BackToOriginal),
            Callback::Ugc(UgcButton::VoicePage(2)),
            Callback::Ugc(UgcButton::VoiceSample("21m00Tcm4TlvDq8ikWAM".into())),
            Callback::Ugc(UgcButton::Voice("ru+f3".into())),
            Callback::Ugc(UgcButton::Go(None)),
            Callback::Ugc(UgcButton::Go(Some(1560))),
            Callback::Ugc(UgcButton::Layout(LayoutButton::Format("1x1".into()))),
        ];
        for c in all {
            let data = c.to_string();
            assert!(data.len() <= 64, "Telegram allows 64 bytes: {data}");
            assert_eq!(data.parse::<Callback>(), Ok(c), "{data}");
        }
    }

    #[test]
    fn foreign_or_broken_data_is_refused() {
        for bad in [
            "job:cancel:x",
            "v:s:four",
            "u:g:robot",
            "u:e:maybe",
            "nonsense",
            "pay:p:",
        ] {
            assert!(bad.parse::<Callback>().is_err(), "{bad}");
        }
    }
}
