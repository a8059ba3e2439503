//! A UGC video's layout as one value: chosen on the free preview still in the chat, carried in
//! the job's spec, drawn by the preview and the composite through the same [`Layout::place`].
//! Stored flattened in the spec's JSON (`position`, `circle_size`, `ring`, `captions`,
//! `caption_style`, `safe_zone`), the shape rows had before the type existed.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Layout {
    /// `bottom-left` (default), `bottom-right`, `top-left`, `top-right`, `center`, or `X,Y`
    /// (the circle's top-left corner in output pixels).
    #[serde(default = "default_position")]
    pub position: String,
    /// The circle's size: `s`, `m` (default) or `l` (the layout preview's buttons), or a
    /// percentage of `m` from 50 to 160 (the composer's slider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle_size: Option<String>,
    /// A ring around the circle.
    #[serde(default)]
    pub ring: bool,
    /// The ring's colour, `#RRGGBB` (default white).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_color: Option<String>,
    /// Where in the background clip the video starts, in milliseconds (a clip longer than
    /// the speech need not start at its first frame); none: 0.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_ms"
    )]
    pub background_start_ms: Option<u32>,
    /// Captions of the script.
    #[serde(default = "yes")]
    pub captions: bool,
    /// `classic` (rows before styles existed), `boxed`, `karaoke` or `bold-pop`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub caption_style: media::CaptionStyle,
    /// `reels` (default), `tiktok`, `shorts` or `none`: the platform interface captions and
    /// the circle keep clear of on vertical videos.
    #[serde(default)]
    #[schemars(with = "String")]
    pub safe_zone: media::SafeZone,
    /// More formats of the same video, made in the same pass (each costs the compose price):
    /// `9:16`, `1:1`, `16:9`, `4:5`, at the main size's short side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
}

/// The aspect ratios an order may add to its main size.
pub const FORMATS: [&str; 4] = ["9:16", "1:1", "16:9", "4:5"];

/// Formats an order may add (besides its own).
pub const MAX_MORE_FORMATS: usize = 3;

/// A format's frame at the short side of `main` (even sizes): 720×1280 gives 720×720 for
/// `1:1`, 1280×720 for `16:9`, 720×900 for `4:5`.
pub fn format_size(format: &str, main: (usize, usize)) -> Option<(usize, usize)> {
    let short = main.0.min(main.1);
    let (w, h) = match format {
        "9:16" => (short, short * 16 / 9),
        "1:1" => (short, short),
        "16:9" => (short * 16 / 9, short),
        "4:5" => (short, short * 5 / 4),
        _ => return None,
    };
    Some((w / 2 * 2, h / 2 * 2))
}

/// Where an extra format of the composite `output_key` is kept: next to it, named by its size
/// (so a cached composite finds its formats, and erasure finds them from the spec).
pub fn more_output_key(output_key: &str, width: usize, height: usize) -> String {
    format!("{output_key}.{width}x{height}.mp4")
}

/// The format a frame is (`None`: another aspect).
pub fn format_of(width: usize, height: usize) -> Option<&'static str> {
    FORMATS
        .into_iter()
        .find(|f| format_size(f, (width, height)) == Some((width, height)))
}

/// Milliseconds as JSON has them: `1500` or `1500.0` (JSON Schema's integers are numbers).
fn whole_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) => {
            Ok(Some(n as u32))
        }
        Some(n) => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of milliseconds"
        ))),
    }
}

/// A circle size given as a percentage of `m` (50–160).
pub fn circle_percent(size: &str) -> Option<u32> {
    // Digits only, as the schema says: not `+100` or `0100`.
    if size.starts_with('0') || !size.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    size.parse::<u32>()
        .ok()
        .filter(|p| (MIN_CIRCLE_PERCENT..=MAX_CIRCLE_PERCENT).contains(p))
}

/// The smallest and largest circle sizes in per cent of `m`.
pub const MIN_CIRCLE_PERCENT: u32 = 50;
pub const MAX_CIRCLE_PERCENT: u32 = 160;

fn default_position() -> String {
    "bottom-left".into()
}
fn yes() -> bool {
    true
}

impl Default for Layout {
    /// What a stored spec without layout fields means (rows from before layouts).
    fn default() -> Self {
        Self {
            position: default_position(),
            circle_size: None,
            ring: false,
            ring_color: None,
            background_start_ms: None,
            captions: true,
            caption_style: media::CaptionStyle::default(),
            safe_zone: media::SafeZone::default(),
            formats: Vec::new(),
        }
    }
}

/// How a layout draws on a `width`×`height` frame: what the composite and the preview take.
#[derive(Debug, Clone)]
pub struct Placement {
    pub position: media::Position,
    pub diameter: usize,
    pub ring: Option<media::Ring>,
    pub caption_style: media::CaptionStyle,
    pub safe_zone: media::SafeZone,
}

impl Layout {
    /// The layout a new order starts with (karaoke captions, the circle bottom-left).
    pub fn new_order() -> Self {
        Self {
            circle_size: Some("m".into()),
            caption_style: media::CaptionStyle::Karaoke,
            ..Self::default()
        }
    }

    /// The circle's size button (`s`, `m`, `l`).
    pub fn circle_size(&self) -> &str {
        self.circle_size.as_deref().unwrap_or("m")
    }

    /// The position parsed, the circle's diameter and ring at `width`×`height`; the circle is
    /// placed in the safe zone exactly as the composite will place it, so a layout that does
    /// not fit is refused here.
    pub fn place(&self, width: usize, height: usize) -> Result<Placement, media::MediaError> {
        let position: media::Position = self.position.parse()?;
        self.place_at(position, width, height)
    }

    /// Where the background starts, in seconds.
    pub fn background_start_s(&self) -> f64 {
        f64::from(self.background_start_ms.unwrap_or(0)) / 1000.0
    }

    /// The extra formats' frames: (format, width, height), in the order asked.
    pub fn more_outputs(&self, main: (usize, usize)) -> Vec<(String, usize, usize)> {
        self.formats
            .iter()
            .filter_map(|f| format_size(f, main).map(|(w, h)| (f.clone(), w, h)))
            .collect()
    }

    /// The placement on an extra format of a `main`-sized video: the same corner of its safe
    /// area, the circle sized for that frame, an `X,Y` spot kept at the same fraction of it.
    pub fn place_format(
        &self,
        main: (usize, usize),
        width: usize,
        height: usize,
    ) -> Result<Placement, media::MediaError> {
        let position: media::Position = self.position.parse()?;
        let main_diameter = self.diameter_on(main.0, main.1);
        let carried = media::carry_position(
            position,
            (main.0, main.1, main_diameter),
            (width, height, self.diameter_on(width, height)),
        );
        self.place_at(carried, width, height)
    }

    /// How much bigger than `m` the circle is: `s` 0.75, `l` 1.3, a percentage as given.
    pub fn circle_factor(&self) -> f64 {
        match self.circle_size.as_deref() {
            Some("s") => 0.75,
            Some("l") => 1.3,
            Some(other) => circle_percent(other).map_or(1.0, |p| f64::from(p) / 100.0),
            None => 1.0,
        }
    }

    fn diameter_on(&self, width: usize, height: usize) -> usize {
        let factor = self.circle_factor();
        ((media::default_diameter(width, height) as f64 * factor) as usize / 2 * 2)
            .min(width.min(height) / 2 * 2)
    }

    fn place_at(
        &self,
        position: media::Position,
        width: usize,
        height: usize,
    ) -> Result<Placement, media::MediaError> {
        let diameter = self.diameter_on(width, height);
        let rgb = self
            .ring_color
            .as_deref()
            .and_then(media::parse_hex_color)
            .unwrap_or((255, 255, 255));
        let ring = self.ring.then(|| media::Ring {
            rgb,
            width: (diameter / 40).max(2),
        });
        media::place_circle(
            width,
            height,
            diameter,
            position,
            self.safe_zone.area(width, height),
        )?;
        Ok(Placement {
            position,
            diameter,
            ring,
            caption_style: self.caption_style,
            safe_zone: self.safe_zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_is_placed_as_the_composite_places_it() {
        let l = Layout::new_order();
        let p = l.place(720, 1280).unwrap();
        assert_eq!(p.diameter, media::default_diameter(720, 1280));
        let big = Layout {
            circle_size: Some("l".into()),
            ring: true,
            ..Layout::new_order()
        };
        let p = big.place(720, 1280).unwrap();
        assert!(p.diameter > media::default_diameter(720, 1280) && p.ring.is_some());
        assert!(l.place(720, 1280).unwrap().ring.is_none());
        let outside = Layout {
            position: "700,1200".into(),
            ..Layout::new_order()
        };
        assert!(outside.place(720, 1280).is_err());
        assert!(Layout {
            position: "middle".into(),
            ..Layout::new_order()
        }
        .place(720, 1280)
        .is_err());
    }

    #[test]
    fn the_composer_sizes_the_circle_by_percent_and_colours_its_ring() {
        let at = |size: &str| {
            Layout {
                circle_size: Some(size.into()),
                ..Layout::new_order()
            }
            .place(720, 1280)
            .unwrap()
            .diameter
        };
        let m = at("m");
        assert_eq!(at("100"), m);
        assert!(at("60") < at("s") && at("s") < m && m < at("l") && at("l") < at("150"));
        // Out of range is `m` (the rules refuse it before it gets here).
        assert_eq!(at("400"), m);
        let red = Layout {
            ring: true,
            ring_color: Some("#E01010".into()),
            ..Layout::new_order()
        };
        assert_eq!(
            red.place(720, 1280).unwrap().ring.unwrap().rgb,
            (0xE0, 0x10, 0x10)
        );
        assert_eq!(circle_percent("49"), None);
        assert_eq!(circle_percent("+100"), None);
        assert_eq!(circle_percent("0100"), None);
        assert_eq!(circle_percent("160"), Some(160));
    }
}
