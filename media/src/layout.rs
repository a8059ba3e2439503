//! Where things go on the output frame: output sizes, the platforms' safe zones, the circle's
//! diameter and position, and a caption band that stays clear of the circle.
use crate::error::{MediaError, Result};
use serde::Serialize;

/// The sizes the product offers; any other even size between 128 and 1920 per side works too.
pub const PRESET_SIZES: [(usize, usize); 6] = [
    (720, 1280),
    (1080, 1920),
    (720, 720),
    (1080, 1080),
    (1280, 720),
    (1920, 1080),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    BottomLeft,
    BottomRight,
    TopLeft,
    TopRight,
    Center,
    /// Top-left corner of the circle's bounding square, in output pixels.
    At {
        x: i64,
        y: i64,
    },
}

impl std::str::FromStr for Position {
    type Err = MediaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "bottom-left" => Self::BottomLeft,
            "bottom-right" => Self::BottomRight,
            "top-left" => Self::TopLeft,
            "top-right" => Self::TopRight,
            "center" | "centre" => Self::Center,
            other => {
                let (x, y) = other.split_once(',').ok_or_else(|| bad_position(s))?;
                let x = x.trim().parse().map_err(|_| bad_position(s))?;
                let y = y.trim().parse().map_err(|_| bad_position(s))?;
                Self::At { x, y }
            }
        })
    }
}

fn bad_position(s: &str) -> MediaError {
    MediaError::BadParameter(format!(
        "position '{s}' is not one of bottom-left, bottom-right, top-left, top-right, center or X,Y"
    ))
}

/// Parses `WxH` and checks it is an even size the encoder and phones accept.
pub fn parse_size(s: &str) -> Result<(usize, usize)> {
    let bad = || MediaError::BadParameter(format!("size '{s}' is not WIDTHxHEIGHT, e.g. 720x1280"));
    let (w, h) = s
        .trim()
        .to_ascii_lowercase()
        .split_once('x')
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .ok_or_else(bad)?;
    let w: usize = w.parse().map_err(|_| bad())?;
    let h: usize = h.parse().map_err(|_| bad())?;
    check_output_size(w, h)?;
    Ok((w, h))
}

pub fn check_output_size(w: usize, h: usize) -> Result<()> {
    if !(128..=1920).contains(&w)
        || !(128..=1920).contains(&h)
        || !w.is_multiple_of(2)
        || !h.is_multiple_of(2)
    {
        return Err(MediaError::BadParameter(format!(
            "output size {w}x{h} is not allowed: each side must be even and between 128 and 1920"
        )));
    }
    Ok(())
}

/// The parts of a vertical video that Reels, TikTok or Shorts cover with their own interface
/// (name, description, music, the like/comment/share column). Captions and the circle stay
/// inside the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SafeZone {
    /// Instagram/Facebook Reels — Meta Business Help Center, "Reels safe zones": keep the top
    /// 14 %, the bottom 35 % and 6 % on each side free of text and logos.
    #[default]
    Reels,
    /// TikTok — TikTok Ads Manager's 9:16 safe-zone overlay (1080×1920: about 130 px top,
    /// 370 px bottom for the caption and sound bar, 140 px right for the action column,
    /// 60 px left): 7 % top, 19 % bottom, 13 % right, 6 % left.
    Tiktok,
    /// YouTube Shorts — YouTube Help's Shorts layout guidance (title, subscribe and the
    /// progress bar at the bottom, the action column at the right, search and the menu at
    /// the top): 12 % top, 22 % bottom, 12 % right, 5 % left.
    Shorts,
    /// Only the edge margin.
    None,
}

/// Margins as fractions of the frame: top, bottom, left, right.
struct Margins(f64, f64, f64, f64);

impl SafeZone {
    pub const ALL: [SafeZone; 4] = [
        SafeZone::Reels,
        SafeZone::Tiktok,
        SafeZone::Shorts,
        SafeZone::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SafeZone::Reels => "reels",
            SafeZone::Tiktok => "tiktok",
            SafeZone::Shorts => "shorts",
            SafeZone::None => "none",
        }
    }

    fn margins(self) -> Margins {
        match self {
            SafeZone::Reels => Margins(0.14, 0.35, 0.06, 0.06),
            SafeZone::Tiktok => Margins(0.07, 0.19, 0.06, 0.13),
            SafeZone::Shorts => Margins(0.12, 0.22, 0.05, 0.12),
            SafeZone::None => Margins(0.0, 0.0, 0.0, 0.0),
        }
    }

    /// The free area of a `width`×`height` frame. The apps overlay their interface on a
    /// full-screen vertical video, so a zone applies to portrait frames only; every frame
    /// keeps the edge margin.
    pub fn area(self, width: usize, height: usize) -> Area {
        let m = edge_margin(width, height);
        let Margins(top, bottom, left, right) = if height > width {
            self.margins()
        } else {
            SafeZone::None.margins()
        };
        let px = |f: f64, side: usize| ((f * side as f64).ceil() as usize).max(m).div_ceil(2) * 2;
        Area {
            left: px(left, width),
            top: px(top, height),
            right: width - px(right, width),
            bottom: height - px(bottom, height),
        }
    }
}

impl std::fmt::Display for SafeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SafeZone {
    type Err = MediaError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|z| z.name() == s)
            .ok_or_else(|| {
                MediaError::BadParameter(format!(
                    "safe zone '{s}' is not one of reels, tiktok, shorts, none"
                ))
            })
    }
}

/// The part of the frame captions and the circle may use: x in `left..right`, y in
/// `top..bottom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Area {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

impl Area {
    pub fn width(&self) -> usize {
        self.right - self.left
    }
    pub fn height(&self) -> usize {
        self.bottom - self.top
    }
}

/// The circle's bounding square on the output frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CircleRect {
    pub x: usize,
    pub y: usize,
    pub diameter: usize,
}

/// Default diameter: 45 % of the output width, even.
pub fn default_diameter(width: usize, height: usize) -> usize {
    (((width as f64 * 0.45) as usize).min(height) / 2 * 2).max(2)
}

/// Margin between the circle and the frame edge: 4 % of the short side, even.
pub fn edge_margin(width: usize, height: usize) -> usize {
    ((width.min(height) as f64 * 0.04) as usize) / 2 * 2
}

/// A circle position on a `from` frame (width, height, circle diameter) for a `to` frame: a
/// named position stays named (it lands in the same corner of that frame's safe area); an
/// `X,Y` spot keeps the circle's centre at the same fraction of the frame, pulled inside the
/// frame when the new one is narrower.
pub fn carry_position(
    position: Position,
    from: (usize, usize, usize),
    to: (usize, usize, usize),
) -> Position {
    let Position::At { x, y } = position else {
        return position;
    };
    let (fw, fh, fd) = from;
    let (tw, th, td) = to;
    let cx = (x as f64 + fd as f64 / 2.0) / fw.max(1) as f64;
    let cy = (y as f64 + fd as f64 / 2.0) / fh.max(1) as f64;
    let place = |c: f64, side: usize| {
        (c * side as f64 - td as f64 / 2.0).clamp(0.0, side.saturating_sub(td) as f64) as i64
    };
    Position::At {
        x: place(cx, tw),
        y: place(cy, th),
    }
}

/// Places the circle: the named positions sit in the corners (or the centre) of `area`, a
/// circle larger than the area allows is made smaller to fit it; `X,Y` is the caller's exact
/// choice and only has to fit the frame.
pub fn place_circle(
    width: usize,
    height: usize,
    diameter: usize,
    position: Position,
    area: Area,
) -> Result<CircleRect> {
    let margin = edge_margin(width, height);
    let room = match position {
        Position::At { .. } => width.min(height),
        _ => width.min(height).saturating_sub(2 * margin),
    };
    if diameter < 16 || diameter > room {
        return Err(MediaError::BadParameter(format!(
            "a circle of {diameter} px does not fit a {width}x{height} frame (allowed 16 to {} px)",
            room
        )));
    }
    let diameter = match position {
        Position::At { .. } => diameter / 2 * 2,
        _ => diameter.min(area.width()).min(area.height()).max(16) / 2 * 2,
    };
    let (right, bottom) = (
        area.right.saturating_sub(diameter).max(area.left),
        area.bottom.saturating_sub(diameter).max(area.top),
    );
    let (x, y) = match position {
        Position::BottomLeft => (area.left, bottom),
        Position::BottomRight => (right, bottom),
        Position::TopLeft => (area.left, area.top),
        Position::TopRight => (right, area.top),
        Position::Center => (
            (area.left + area.right).saturating_sub(diameter) / 2,
            (area.top + area.bottom).saturating_sub(diameter) / 2,
        ),
        Position::At { x, y } => {
            if x < 0 || y < 0 || x as usize + diameter > width || y as usize + diameter > height {
                return Err(MediaError::BadParameter(format!(
                    "a {diameter} px circle at {x},{y} goes outside the {width}x{height} frame"
                )));
            }
            (x as usize, y as usize)
        }
    };
    // Chroma is subsampled 2×2: even coordinates keep the circle's edge crisp in colour too.
    Ok(CircleRect {
        x: x / 2 * 2,
        y: y / 2 * 2,
        diameter,
    })
}

/// Vertical centre for a caption block of `block_h` pixels: as close as possible to the lower
/// third (78 % of the height) inside `area`, staying clear of the circle by a margin.
pub fn caption_center_y(
    width: usize,
    height: usize,
    block_h: usize,
    circle: CircleRect,
    area: Area,
) -> usize {
    let margin = edge_margin(width, height).max(8);
    let preferred = height as f64 * 0.78;
    let half = block_h as f64 / 2.0;
    let lo_limit = area.top as f64 + half;
    let hi_limit = area.bottom as f64 - half;
    let busy_top = circle.y as f64 - margin as f64 - half;
    let busy_bottom = (circle.y + circle.diameter) as f64 + margin as f64 + half;
    // Centres in (busy_top, busy_bottom) would overlap the circle.
    let mut best: Option<f64> = None;
    for (lo, hi) in [(lo_limit, busy_top), (busy_bottom, hi_limit)] {
        if lo <= hi {
            let c = preferred.clamp(lo, hi);
            if best
                .map(|b| (c - preferred).abs() < (b - preferred).abs())
                .unwrap_or(true)
            {
                best = Some(c);
            }
        }
    }
    best.unwrap_or(preferred.clamp(lo_limit.min(hi_limit), hi_limit.max(lo_limit))) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_circle_sits_bottom_left_with_a_margin() {
        let d = default_diameter(720, 1280);
        assert_eq!(d, 324);
        let none = SafeZone::None.area(720, 1280);
        let c = place_circle(720, 1280, d, Position::BottomLeft, none).unwrap();
        assert_eq!(
            c,
            CircleRect {
                x: 28,
                y: 1280 - 28 - 324,
                diameter: 324
            }
        );
        let tr = place_circle(
            1920,
            1080,
            default_diameter(1920, 1080),
            Position::TopRight,
            SafeZone::Reels.area(1920, 1080),
        )
        .unwrap();
        assert_eq!((tr.x + tr.diameter, tr.y), (1920 - 42, 42));
    }

    #[test]
    fn custom_position_must_fit_the_frame() {
        let area = SafeZone::Reels.area(720, 1280);
        assert!(place_circle(720, 1280, 300, Position::At { x: 500, y: 0 }, area).is_err());
        assert_eq!(
            place_circle(720, 1280, 300, Position::At { x: 11, y: 21 }, area).unwrap(),
            CircleRect {
                x: 10,
                y: 20,
                diameter: 300
            }
        );
        assert!("12,abc".parse::<Position>().is_err());
        assert_eq!(
            "40,60".parse::<Position>().unwrap(),
            Position::At { x: 40, y: 60 }
        );
    }

    #[test]
    fn sizes_are_parsed_and_odd_ones_refused() {
        assert_eq!(parse_size("1080x1920").unwrap(), (1080, 1920));
        assert!(parse_size("721x1280").is_err());
        assert!(parse_size("4000x4000").is_err());
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn captions_move_above_a_bottom_circle_and_stay_low_for_a_top_one() {
        let none = SafeZone::None.area(720, 1280);
        let bottom = place_circle(720, 1280, 324, Position::BottomLeft, none).unwrap();
        let y = caption_center_y(720, 1280, 100, bottom, none);
        assert!(
            y + 50 + 28 <= bottom.y,
            "caption {y} overlaps circle at {}",
            bottom.y
        );
        let top = place_circle(720, 1280, 324, Position::TopRight, none).unwrap();
        assert_eq!(
            caption_center_y(720, 1280, 100, top, none),
            (1280.0 * 0.78) as usize
        );
    }

    #[test]
    fn every_size_zone_and_position_keeps_the_circle_and_captions_in_the_free_area() {
        let positions = [
            Position::BottomLeft,
            Position::BottomRight,
            Position::TopLeft,
            Position::TopRight,
            Position::Center,
        ];
        for (w, h) in PRESET_SIZES {
            for zone in SafeZone::ALL {
                let area = zone.area(w, h);
                let m = edge_margin(w, h);
                assert!(
                    area.left >= m && area.top >= m && area.right <= w - m && area.bottom <= h - m
                );
                if h > w && zone != SafeZone::None {
                    // The documented bands are kept free (fractions of the frame).
                    let Margins(top, bottom, left, right) = zone.margins();
                    assert!(area.top as f64 >= top * h as f64, "{zone} {w}x{h}");
                    assert!(
                        (h - area.bottom) as f64 >= bottom * h as f64,
                        "{zone} {w}x{h}"
                    );
                    assert!(area.left as f64 >= left * w as f64);
                    assert!((w - area.right) as f64 >= right * w as f64);
                }
                for pos in positions {
                    let c = place_circle(w, h, default_diameter(w, h), pos, area).unwrap();
                    let ctx = format!("{w}x{h} {zone} {pos:?} {c:?} {area:?}");
                    assert!(c.x >= area.left && c.x + c.diameter <= area.right, "{ctx}");
                    assert!(c.y >= area.top && c.y + c.diameter <= area.bottom, "{ctx}");
                    assert!(
                        c.diameter
                            >= default_diameter(w, h).min(area.width()).min(area.height()) - 2
                    );
                    for block_h in [60, 140] {
                        let cy = caption_center_y(w, h, block_h, c, area);
                        let (top, bottom) = (cy - block_h / 2, cy + block_h / 2);
                        assert!(
                            top >= area.top && bottom <= area.bottom,
                            "caption {top}..{bottom} {ctx}"
                        );
                        // Clear of the circle wherever the area leaves a band for it (a
                        // centred circle on a landscape frame leaves none).
                        let band = block_h + edge_margin(w, h).max(8);
                        let room = c.y >= area.top + band || c.y + c.diameter + band <= area.bottom;
                        let clear = bottom <= c.y || top >= c.y + c.diameter;
                        assert!(
                            clear || !room,
                            "caption {top}..{bottom} overlaps the circle {ctx}"
                        );
                    }
                }
            }
        }
        // The reels zone moves a bottom circle above the bottom 35 %.
        let reels = place_circle(
            720,
            1280,
            324,
            Position::BottomLeft,
            SafeZone::Reels.area(720, 1280),
        )
        .unwrap();
        assert!(reels.y + reels.diameter <= 832);
        assert!("youtube".parse::<SafeZone>().is_err());
        assert_eq!("TikTok".parse::<SafeZone>().unwrap(), SafeZone::Tiktok);
    }
}
