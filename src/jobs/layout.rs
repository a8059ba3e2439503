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
    /// The circle's size: `s`, `m` (default) or `l` (the layout preview's buttons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle_size: Option<String>,
    /// A white ring around the circle.
    #[serde(default)]
    pub ring: bool,
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
}

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
            captions: true,
            caption_style: media::CaptionStyle::default(),
            safe_zone: media::SafeZone::default(),
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
        let factor = match self.circle_size.as_deref() {
            Some("s") => 0.75,
            Some("l") => 1.3,
            _ => 1.0,
        };
        let diameter = ((media::default_diameter(width, height) as f64 * factor) as usize / 2 * 2)
            .min(width.min(height) / 2 * 2);
        let ring = self.ring.then(|| media::Ring {
            rgb: (255, 255, 255),
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
}
