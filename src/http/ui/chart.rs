//! Server-rendered SVG charts: no JavaScript, no external requests.
//!
//! A chart is an `<svg>` with a `<title>` and `<desc>` for screen readers,
//! a `viewBox` so it scales to a phone's width, and its numbers also
//! returned as rows, for the table printed next to it. Text that reaches
//! the SVG is escaped here.

use std::fmt::Write;

/// One point: a label (e.g. `10:00`) and a value (`None` = no data).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Bucket label.
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
}

const W: f64 = 640.0;
const H: f64 = 200.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Renders `points` as an SVG string. With no data at all it draws an
/// empty frame that says so (an empty state, not an error). Work is linear
/// in the number of points.
pub fn render(spec: &Spec, points: &[Point]) -> String {
    let mut s = String::with_capacity(512 + points.len() * 64);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="chart" preserveAspectRatio="none"><title>{}</title>"#,
        esc(spec.title)
    );
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d5dd"/>"##
    );
    if values.is_empty() {
        let _ = write!(
            s,
            r##"<desc>No data in this period.</desc><text x="{}" y="{}" text-anchor="middle" fill="#667085" font-size="14">No data in this period</text></svg>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
        return s;
    }
    let max = spec
        .max
        .unwrap_or_else(|| values.iter().cloned().fold(0.0, f64::max))
        .max(1e-9);
    let _ = write!(
        s,
        "<desc>{} points from {} to {}; maximum {} {}.</desc>",
        points.len(),
        esc(&points[0].label),
        esc(&points[points.len() - 1].label),
        fmt_num(values.iter().cloned().fold(0.0, f64::max)),
        esc(spec.unit)
    );
    // Axis labels: top, middle, zero.
    for (frac, y) in [(1.0, TOP), (0.5, TOP + plot_h / 2.0), (0.0, TOP + plot_h)] {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#667085">{}{}</text>"##,
            LEFT - 4.0,
            y + 4.0,
            fmt_num(max * frac),
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
                    fmt_num(v)
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
    // First and last labels on the time axis.
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="{}" font-size="11" fill="#667085">{}</text><text x="{}" y="{}" text-anchor="end" font-size="11" fill="#667085">{}</text></svg>"##,
        H - 6.0,
        esc(&points[0].label),
        W - 8.0,
        H - 6.0,
        esc(&points[points.len() - 1].label)
    );
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
        }
    }

    #[test]
    fn no_data_is_an_empty_state() {
        let pts: Vec<Point> = (0..24)
            .map(|h| Point {
                label: format!("{h:02}:00"),
                value: None,
            })
            .collect();
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
        let mut pts: Vec<Point> = (0..24)
            .map(|h| Point {
                label: format!("{h:02}:00"),
                value: None,
            })
            .collect();
        pts[23].value = Some(100.0);
        let svg = render(&spec(), &pts);
        assert!(svg.contains("<circle"), "{svg}");
        assert!(!svg.contains("<polyline"));
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
