//! Where things go on the output frame: output sizes, the circle's diameter and position,
//! and a caption band that stays clear of the circle.
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

pub fn place_circle(
    width: usize,
    height: usize,
    diameter: usize,
    position: Position,
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
    let diameter = diameter / 2 * 2;
    let (right, bottom) = (width - margin - diameter, height - margin - diameter);
    let (x, y) = match position {
        Position::BottomLeft => (margin, bottom),
        Position::BottomRight => (right, bottom),
        Position::TopLeft => (margin, margin),
        Position::TopRight => (right, margin),
        Position::Center => ((width - diameter) / 2, (height - diameter) / 2),
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
/// third (78 % of the height) while staying clear of the circle by a margin.
pub fn caption_center_y(width: usize, height: usize, block_h: usize, circle: CircleRect) -> usize {
    let margin = edge_margin(width, height).max(8);
    let preferred = height as f64 * 0.78;
    let half = block_h as f64 / 2.0;
    let lo_limit = margin as f64 + half;
    let hi_limit = height as f64 - margin as f64 - half;
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
        let c = place_circle(720, 1280, d, Position::BottomLeft).unwrap();
        assert_eq!(
            c,
            CircleRect {
                x: 28,
                y: 1280 - 28 - 324,
                diameter: 324
            }
        );
        let tr =
            place_circle(1920, 1080, default_diameter(1920, 1080), Position::TopRight).unwrap();
        assert_eq!((tr.x + tr.diameter, tr.y), (1920 - 42, 42));
    }

    #[test]
    fn custom_position_must_fit_the_frame() {
        assert!(place_circle(720, 1280, 300, Position::At { x: 500, y: 0 }).is_err());
        assert_eq!(
            place_circle(720, 1280, 300, Position::At { x: 11, y: 21 }).unwrap(),
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
        let bottom = place_circle(720, 1280, 324, Position::BottomLeft).unwrap();
        let y = caption_center_y(720, 1280, 100, bottom);
        assert!(
            y + 50 + 28 <= bottom.y,
            "caption {y} overlaps circle at {}",
            bottom.y
        );
        let top = place_circle(720, 1280, 324, Position::TopRight).unwrap();
        assert_eq!(
            caption_center_y(720, 1280, 100, top),
            (1280.0 * 0.78) as usize
        );
    }
}
