//! Charts drawn on the server as SVG (stacked bars with a legend): no script, nothing
//! fetched, and they scale to a phone's width through the `viewBox`.
use maud::{html, Markup};

/// Colours of the series without a meaning of their own, in order.
const COLOURS: [&str; 8] = [
    "#2563eb", "#0891b2", "#7c3aed", "#f59e0b", "#db2777", "#65a30d", "#6b7280", "#9333ea",
];

/// A series' colour: job states get colours that mean what they say, the same on every chart
/// (done green, failed red, cancelled grey, rejected amber, waiting and running neutral
/// blues); other series take the palette in order.
pub fn colour(name: &str, k: usize) -> &'static str {
    match name {
        "done" => "#16a34a",
        "failed" => "#dc2626",
        "cancelled" => "#a1a1aa",
        "rejected" => "#d97706",
        "queued" => "#93c5fd",
        "running" => "#3b82f6",
        "snoozed" => "#6366f1",
        _ => COLOURS[k % COLOURS.len()],
    }
}

/// A drawn segment: y, height, colour, tooltip.
type Segment<'a> = (f64, f64, &'a str, String);

/// One bar: its label and the values of each series stacked in it.
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
}

/// A stacked bar chart of `bars` with `series` names; `unit` follows the largest value.
pub fn stacked_bars(title: &str, series: &[String], bars: &[Bar], unit: &str) -> Markup {
    let (w, h, left, bottom, top) = (640.0, 240.0, 48.0, 34.0, 10.0);
    let max = bars
        .iter()
        .map(|b| b.values.iter().sum::<f64>())
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (h - bottom - top) / max
    } else {
        0.0
    };
    let n = bars.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let bar_w = (slot * 0.7).max(1.0);
    // At most ~8 labels under the bars, so they stay readable on a phone.
    let every = (bars.len() / 8).max(1);
    // Each bar's x and its stacked segments: (y, height, colour, tooltip).
    let drawn: Vec<(&Bar, f64, Vec<Segment>)> = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let x = left + i as f64 * slot + (slot - bar_w) / 2.0;
            let mut y = h - bottom;
            let mut segments = Vec::new();
            for (k, v) in b.values.iter().enumerate().filter(|(_, v)| **v > 0.0) {
                let bh = v * scale;
                y -= bh;
                let name = series.get(k).map_or("", String::as_str);
                segments.push((
                    y,
                    bh,
                    colour(name, k),
                    format!("{} — {name}: {}", b.label, fmt_num(*v)),
                ));
            }
            (b, x, segments)
        })
        .collect();
    html! {
        div class="chart" {
            strong { (title) }
            @if bars.is_empty() || max == 0.0 {
                p class="muted" { "nothing in this period" }
            } @else {
                svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(title) {
                    line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#9ca3af" {}
                    text x="4" y=(top + 10.0) font-size="11" fill="#6b7280" { (fmt_num(max)) " " (unit) }
                    text x="4" y=(h - bottom) font-size="11" fill="#6b7280" { "0" }
                    @for (i, (b, x, segments)) in drawn.iter().enumerate() {
                        @for (y, bh, colour, tip) in segments {
                            rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{bar_w:.1}")) height=(format!("{bh:.1}")) fill=(colour) {
                                title { (tip) }
                            }
                        }
                        @if i % every == 0 {
                            text x=(format!("{:.1}", x + bar_w / 2.0)) y=(h - bottom + 14.0) font-size="10" text-anchor="middle" fill="#374151" { (b.label) }
                        }
                    }
                    @for (k, name) in series.iter().enumerate() {
                        rect x=(left + k as f64 * 100.0) y=(h - 12.0) width="10" height="10" fill=(colour(name, k)) {}
                        text x=(left + 14.0 + k as f64 * 100.0) y=(h - 3.0) font-size="11" fill="#374151" { (name) }
                    }
                }
            }
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_to_scale_with_a_legend() {
        let svg = stacked_bars(
            "Jobs",
            &["done".into(), "failed".into()],
            &[
                Bar {
                    label: "10:00".into(),
                    values: vec![3.0, 1.0],
                },
                Bar {
                    label: "11:00".into(),
                    values: vec![0.0, 0.0],
                },
            ],
            "jobs",
        )
        .into_string();
        assert_eq!(
            svg.matches("<rect").count(),
            2 + 2,
            "two segments and two legend keys"
        );
        assert!(svg.contains("4 jobs"), "{svg}");
        let empty = stacked_bars("Jobs", &[], &[], "jobs").into_string();
        assert!(empty.contains("nothing in this period"));
    }

    #[test]
    fn job_states_have_the_colours_they_mean_in_bars_and_legend() {
        let series: Vec<String> = ["done", "failed", "cancelled"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let bars = [Bar {
            label: "today".into(),
            values: vec![2.0, 1.0, 1.0],
        }];
        let svg = stacked_bars("Jobs", &series, &bars, "jobs").into_string();
        // Each state's colour appears twice: its segment and its legend square.
        for (state, colour) in [
            ("done", "#16a34a"),
            ("failed", "#dc2626"),
            ("cancelled", "#a1a1aa"),
        ] {
            assert_eq!(svg.matches(colour).count(), 2, "{state}: {svg}");
        }
        assert_eq!(
            colour("failed", 0),
            colour("failed", 5),
            "the same on every chart"
        );
        assert_ne!(colour("kaspi", 0), colour("done", 0));
    }
}
