//! Server-rendered SVG charts: no JavaScript, no external requests.
//!
//! A chart is an `<svg>` with a `<title>` and `<desc>` for screen readers,
//! a `viewBox` about the size it is shown at (three a row on a wide
//! screen, one on a phone), so its text stays readable, in the panel's own
//! font stack; its numbers are also returned as rows, for the table
//! printed next to it. The time axis has three dated ticks (first, middle,
//! last), a count axis only whole numbers. Text that reaches the SVG is
//! escaped here.

use std::fmt::Write;

use crate::domain::time::Timestamp;

/// One point: a label (e.g. `Dec 1 14:00`) and a value (`None` = no data).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Bucket label, also the time axis' tick text.
    pub label: String,
    /// The value, if there was data.
    pub value: Option<f64>,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Accessible title, e.g. "Success rate, last 24 hours".
    pub title: &'a str,
    /// Unit shown on the axis, e.g. "%" or "ms".
    pub unit: &'a str,
    /// Bars (counts) or a line (rates, latencies).
    pub bars: bool,
    /// A fixed top of the scale (100 for percentages), or `None` to fit.
    pub max: Option<f64>,
    /// The values are whole numbers (counts, milliseconds): the axis shows
    /// only whole numbers.
    pub integer: bool,
}

/// The viewBox: about the size a chart is shown at (a third of the page,
/// or a phone's width), so 11-unit text stays about 11 px.
pub const W: f64 = 360.0;
/// The viewBox height.
pub const H: f64 = 180.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 10.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;
/// The panel's font stack (`--sans` in `static/app.css`).
const FONT: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const INK: &str = "#5f6b85";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A time axis label, in UTC: `Dec 1 14:00`.
pub fn time_label(t: Timestamp) -> String {
    let iso = t.to_rfc3339_secs();
    let month: usize = iso[5..7].parse().unwrap_or(1);
    let day: u32 = iso[8..10].parse().unwrap_or(1);
    format!("{} {day} {}", MONTHS[month.clamp(1, 12) - 1], &iso[11..16])
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt_num(v: f64, integer: bool) -> String {
    if integer || v >= 100.0 || v == v.trunc() {
        format!("{:.0}", v.round())
    } else {
        format!("{v:.1}")
    }
}

/// The axis' middle step: the smallest round number (1, 2, 2.5, 3, 4, 5,
/// 6 or 8 × 10ⁿ) with two steps reaching `max`, a whole number on a
/// whole-number axis, so the labels are round and, on a count axis, whole.
fn nice_step(max: f64, integer: bool) -> f64 {
    let raw = max / 2.0;
    let mut exp = raw.log10().floor();
    if !exp.is_finite() || (integer && exp < 0.0) {
        exp = 0.0;
    }
    loop {
        let p = 10f64.powf(exp);
        for m in [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0] {
            let step = m * p;
            if step >= raw && !(integer && step.fract() != 0.0) {
                return step;
            }
        }
        exp += 1.0;
    }
}

/// The top of the scale: the spec's fixed top, or twice a round step at or
/// above the largest value (never zero: an all-zero series still gets an
/// axis of 0, 1, 2).
fn top_of(spec: &Spec, largest: f64) -> f64 {
    match spec.max {
        Some(m) if m > 0.0 => m,
        _ if largest <= 0.0 => 2.0,
        _ => 2.0 * nice_step(largest, spec.integer),
    }
}

/// Renders `points` as an SVG string. With no data at all (or, on a bar
/// chart of counts, nothing but zeros) it draws an empty frame that says
/// so (an empty state, not an error). Work is linear in the number of
/// points.
pub fn render(spec: &Spec, points: &[Point]) -> String {
    let mut s = String::with_capacity(512 + points.len() * 64);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" class="chart" font-family="{FONT}" font-size="11" fill="{INK}"><title>{}</title>"#,
        esc(spec.title)
    );
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d5dd"/>"##
    );
    let largest = values.iter().cloned().fold(0.0, f64::max);
    if values.is_empty() || (spec.bars && largest <= 0.0) {
        let _ = write!(
            s,
            r##"<desc>No data in this period.</desc><text x="{}" y="{}" text-anchor="middle" font-size="13">No data in this period</text></svg>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0 + 4.0
        );
        return s;
    }
    let max = top_of(spec, largest);
    let _ = write!(
        s,
        "<desc>{} points from {} to {} (UTC); maximum {}{}.</desc>",
        points.len(),
        esc(&points[0].label),
        esc(&points[points.len() - 1].label),
        fmt_num(largest, spec.integer),
        esc(spec.unit)
    );
    // Axis labels and grid lines: top, middle, zero.
    for (frac, y) in [(1.0, TOP), (0.5, TOP + plot_h / 2.0), (0.0, TOP + plot_h)] {
        if frac == 0.5 {
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#eaecf0"/>"##,
                W - RIGHT
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{}{}</text>"##,
            LEFT - 4.0,
            y + 4.0,
            fmt_num(max * frac, spec.integer),
            esc(spec.unit)
        );
    }
    let n = points.len() as f64;
    let step = plot_w / n;
    let x_of = |i: usize| LEFT + step * (i as f64 + 0.5);
    let y_of = |v: f64| TOP + plot_h - (v / max).clamp(0.0, 1.0) * plot_h;
    if spec.bars {
        let bw = (step * 0.8).max(0.5);
        for (i, p) in points.iter().enumerate() {
            if let Some(v) = p.value {
                let y = y_of(v);
                let _ = write!(
                    s,
                    r##"<rect x="{:.2}" y="{y:.2}" width="{bw:.2}" height="{:.2}" fill="#3b82f6"><title>{}: {}</title></rect>"##,
                    x_of(i) - bw / 2.0,
                    TOP + plot_h - y,
                    esc(&p.label),
                    fmt_num(v, spec.integer)
                );
            }
        }
    } else {
        // A polyline per run of consecutive points with data: gaps stay gaps.
        let mut run = String::new();
        let flush = |run: &mut String, s: &mut String| {
            // A lone point has no line to draw: mark it with a dot.
            if let (1, Some((x, y))) = (run.split_whitespace().count(), run.trim().split_once(','))
            {
                let _ = write!(s, r##"<circle cx="{x}" cy="{y}" r="3" fill="#3b82f6"/>"##);
                run.clear();
            }
            if !run.is_empty() {
                let _ = write!(
                    s,
                    r##"<polyline fill="none" stroke="#3b82f6" stroke-width="2" points="{}"/>"##,
                    run.trim_end()
                );
                run.clear();
            }
        };
        for (i, p) in points.iter().enumerate() {
            match p.value {
                Some(v) => {
                    let _ = write!(run, "{:.2},{:.2} ", x_of(i), y_of(v));
                }
                None => flush(&mut run, &mut s),
            }
        }
        flush(&mut run, &mut s);
    }
    // Three dated ticks on the time axis: first, middle, last.
    let last = points.len() - 1;
    let mut ticks = vec![(0, "start", LEFT)];
    if last >= 2 {
        ticks.push((last / 2, "middle", x_of(last / 2)));
    }
    if last >= 1 {
        ticks.push((last, "end", W - RIGHT));
    }
    for (i, anchor, x) in ticks {
        let _ = write!(
            s,
            r##"<line x1="{0:.2}" y1="{1}" x2="{0:.2}" y2="{2}" stroke="#d0d5dd"/><text class="tick" x="{x:.2}" y="{3}" text-anchor="{anchor}">{4}</text>"##,
            x_of(i),
            TOP + plot_h,
            TOP + plot_h + 4.0,
            H - 6.0,
            esc(&points[i].label)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec<'static> {
        Spec {
            title: "Success rate <24h>",
            unit: "%",
            bars: false,
            max: Some(100.0),
            integer: false,
        }
    }

    fn counts() -> Spec<'static> {
        Spec {
            title: "Deliveries per hour",
            unit: "",
            bars: true,
            max: None,
            integer: true,
        }
    }

    /// The y axis' labels, top to bottom.
    fn y_labels(svg: &str) -> Vec<String> {
        svg.split(r#"text-anchor="end">"#)
            .skip(1)
            .map(|t| t[..t.find('<').unwrap()].to_string())
            .take(3)
            .collect()
    }

    /// The time axis' tick labels.
    fn ticks(svg: &str) -> Vec<String> {
        svg.split(r#"<text class="tick""#)
            .skip(1)
            .map(|t| {
                let t = &t[t.find('>').unwrap() + 1..];
                t[..t.find('<').unwrap()].to_string()
            })
            .collect()
    }

    fn hours(values: impl Fn(usize) -> Option<f64>) -> Vec<Point> {
        // 24 hours from 2026-11-30T14:00Z.
        let start = Timestamp::parse_rfc3339("2026-11-30T14:00:00Z").unwrap();
        (0..24)
            .map(|h| Point {
                label: time_label(start.plus_millis(h as i64 * 3_600_000)),
                value: values(h),
            })
            .collect()
    }

    #[test]
    fn time_labels_are_dated() {
        let t = Timestamp::parse_rfc3339("2026-12-01T14:00:00Z").unwrap();
        assert_eq!(time_label(t), "Dec 1 14:00");
        let t = Timestamp::parse_rfc3339("2027-01-09T03:00:00Z").unwrap();
        assert_eq!(time_label(t), "Jan 9 03:00");
    }

    #[test]
    fn the_time_axis_has_three_dated_ticks() {
        let svg = render(&counts(), &hours(|h| Some(h as f64)));
        assert_eq!(
            ticks(&svg),
            ["Nov 30 14:00", "Dec 1 01:00", "Dec 1 13:00"],
            "{svg}"
        );
        // In the panel's font, not the serif default.
        assert!(svg.contains(r#"font-family="system-ui"#), "{svg}");
    }

    #[test]
    fn a_count_axis_shows_whole_numbers() {
        // 107 at most: "53.5" would be a fraction of a delivery.
        let svg = render(&counts(), &hours(|h| Some((h * 107 / 23) as f64)));
        let y = y_labels(&svg);
        assert_eq!(y, ["120", "60", "0"], "{svg}");
        for max in [1.0, 3.0, 7.0, 53.0, 999.0] {
            let svg = render(&counts(), &hours(|h| Some(if h == 5 { max } else { 0.0 })));
            for label in y_labels(&svg) {
                let v: f64 = label.parse().unwrap();
                assert_eq!(v, v.trunc(), "whole numbers only: {svg}");
            }
            let top: f64 = y_labels(&svg)[0].parse().unwrap();
            assert!(top >= max, "{max} fits under {top}");
            assert!(!svg.contains(".5<"), "{svg}");
        }
        // Milliseconds are whole too; a small latency axis is 0, 1, 2 ms.
        let ms = Spec {
            unit: "ms",
            bars: false,
            ..counts()
        };
        assert_eq!(
            y_labels(&render(&ms, &hours(|_| Some(1.0)))),
            ["2ms", "1ms", "0ms"]
        );
        assert_eq!(
            y_labels(&render(&ms, &hours(|_| Some(0.0)))),
            ["2ms", "1ms", "0ms"],
            "an all-zero line still has an axis"
        );
        // Percentages keep their fixed top.
        assert_eq!(
            y_labels(&render(&spec(), &hours(|_| Some(99.5)))),
            ["100%", "50%", "0%"]
        );
    }

    #[test]
    fn an_empty_series_is_an_empty_state_without_an_axis() {
        // A tenant with no deliveries: every hour counts 0.
        let svg = render(&counts(), &hours(|_| Some(0.0)));
        assert!(svg.contains("No data in this period"), "{svg}");
        assert!(y_labels(&svg).is_empty(), "no 0.0 / 0.0 / 0 axis: {svg}");
        assert!(!svg.contains("0.0"), "{svg}");
    }

    #[test]
    fn no_data_is_an_empty_state() {
        let pts = hours(|_| None);
        let svg = render(&spec(), &pts);
        assert!(svg.contains("No data in this period"));
        assert!(
            svg.contains("<title>Success rate &lt;24h&gt;</title>"),
            "escaped: {svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(render(&spec(), &[]).contains("No data"));
    }

    #[test]
    fn a_lone_point_is_drawn_as_a_dot() {
        let svg = render(&spec(), &hours(|h| (h == 23).then_some(100.0)));
        assert!(svg.contains("<circle"), "{svg}");
        assert!(!svg.contains("<polyline"));
        // One point, one tick.
        let one = render(&spec(), &hours(|_| Some(50.0))[..1]);
        assert_eq!(ticks(&one).len(), 1, "{one}");
    }

    #[test]
    fn ninety_days_of_points_render_quickly_and_completely() {
        let pts: Vec<Point> = (0..90 * 24)
            .map(|i| Point {
                label: format!("h{i}"),
                value: (i % 7 != 0).then_some((i % 100) as f64),
            })
            .collect();
        let t = std::time::Instant::now();
        let svg = render(&spec(), &pts);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("h0") && svg.contains("h2159"));
        let bars = render(
            &Spec {
                bars: true,
                ..spec()
            },
            &pts,
        );
        assert_eq!(
            bars.matches("<rect").count(),
            1 + pts.iter().filter(|p| p.value.is_some()).count()
        );
    }
}
