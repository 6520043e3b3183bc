//! Inline SVG charts for report.html: horizontal bar charts (one row per
//! label, one bar per series) and line charts (one point per run). Pure
//! functions from figures to markup; every text is escaped.

use super::html::escape;
use std::fmt::Write as _;

/// One series of a chart: its name (the legend) and its colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub color: &'static str,
}

/// Backups in every chart.
pub const BACKUP: Series = Series {
    name: "backup",
    color: "#2b6cb0",
};
/// Restores in every chart.
pub const RESTORE: Series = Series {
    name: "restore",
    color: "#2f855a",
};
/// Phase and run durations.
pub const SECONDS: Series = Series {
    name: "seconds",
    color: "#b7791f",
};

/// One row of a bar chart: a label and one value per series (None: no bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

const WIDTH: f64 = 760.0;
const BAR_H: f64 = 14.0;
const ROW_GAP: f64 = 8.0;
const TOP: f64 = 28.0;
const CHAR_W: f64 = 7.0;
const VALUE_W: f64 = 80.0;

/// A figure with three significant digits at most (0.000542, 5.66, 77.3,
/// 1234), so small throughputs do not read as 0.
pub fn figure(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 100.0 {
        0
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 9) as usize
    };
    format!("{v:.decimals$}")
}

/// The length of a bar for `value` when `max` fills `span` pixels.
pub fn bar_length(value: f64, max: f64, span: f64) -> f64 {
    if max <= 0.0 || !value.is_finite() || value <= 0.0 {
        0.0
    } else {
        (value / max).min(1.0) * span
    }
}

/// Width of the label column: the longest label, within 60..=280 pixels.
fn label_width(rows: &[Row]) -> f64 {
    let chars = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    (chars as f64 * CHAR_W + 12.0).clamp(60.0, 280.0)
}

fn legend(out: &mut String, series: &[Series]) {
    let mut x = 0.0;
    for s in series {
        let _ = write!(
            out,
            r#"<rect x="{x}" y="4" width="12" height="12" fill="{}"/><text x="{}" y="14">{}</text>"#,
            s.color,
            x + 16.0,
            escape(s.name)
        );
        x += 16.0 + s.name.len() as f64 * CHAR_W + 20.0;
    }
}

/// A horizontal bar chart: one row per label, one bar per series, the value
/// after each bar. `class` names the chart (`<svg class="chart {class}">`).
pub fn bar_chart(class: &str, unit: &str, series: &[Series], rows: &[Row]) -> String {
    let label_w = label_width(rows);
    let span = WIDTH - label_w - VALUE_W;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().flatten())
        .fold(0.0_f64, |m, v| m.max(*v));
    let row_h = series.len() as f64 * BAR_H + ROW_GAP;
    let height = TOP + rows.len() as f64 * row_h + 4.0;
    let mut out = format!(
        r#"<svg class="chart {}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">"#,
        escape(class)
    );
    legend(&mut out, series);
    for (i, row) in rows.iter().enumerate() {
        let y0 = TOP + i as f64 * row_h;
        let _ = write!(
            out,
            r#"<text class="label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y0 + row_h / 2.0,
            escape(&row.label)
        );
        for (j, (s, v)) in series.iter().zip(&row.values).enumerate() {
            let y = y0 + j as f64 * BAR_H;
            let Some(v) = v else { continue };
            let len = bar_length(*v, max, span);
            let _ = write!(
                out,
                r#"<rect class="bar {name}" x="{label_w}" y="{y}" width="{len:.1}" height="{h}" fill="{color}"><title>{label} {name}: {v} {unit}</title></rect><text class="value" x="{tx:.1}" y="{ty}">{v} {unit}</text>"#,
                name = escape(s.name),
                h = BAR_H - 2.0,
                color = s.color,
                label = escape(&row.label),
                unit = escape(unit),
                tx = label_w + len + 4.0,
                ty = y + BAR_H - 4.0,
                v = figure(*v),
            );
        }
    }
    out.push_str("</svg>");
    out
}

const LINE_H: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 60.0;
const BOTTOM: f64 = 40.0;

/// Where point `i` of `n` sits across `span` pixels (one point: the middle).
pub fn point_x(i: usize, n: usize, span: f64) -> f64 {
    if n <= 1 {
        span / 2.0
    } else {
        i as f64 * span / (n - 1) as f64
    }
}

/// A line chart: `labels` along the x axis (oldest to newest), one line per
/// series (`values[s][i]`, None: no point), y from 0 to the largest value.
pub fn line_chart(
    class: &str,
    unit: &str,
    series: &[Series],
    labels: &[String],
    values: &[Vec<Option<f64>>],
) -> String {
    let span_x = WIDTH - LEFT - RIGHT;
    let span_y = LINE_H - TOP - BOTTOM;
    let max = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0_f64, |m, v| m.max(*v));
    let y_of = |v: f64| TOP + span_y - bar_length(v, max, span_y);
    let mut out = format!(
        r#"<svg class="chart {}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{LINE_H}" viewBox="0 0 {WIDTH} {LINE_H}" role="img">"#,
        escape(class)
    );
    legend(&mut out, series);
    let _ = write!(
        out,
        r##"<line class="axis" x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}" stroke="#888"/><text x="{lx}" y="{ty}" text-anchor="end">{top}</text><text x="{lx}" y="{b}" text-anchor="end">0</text><text x="{lx}" y="{uy}" text-anchor="end">{unit}</text>"##,
        b = TOP + span_y,
        r = LEFT + span_x,
        lx = LEFT - 6.0,
        ty = TOP + 4.0,
        uy = TOP + span_y / 2.0,
        top = figure(max),
        unit = escape(unit),
    );
    let n = labels.len();
    for (i, label) in labels.iter().enumerate() {
        // Every label when they fit, else about eight of them.
        if n <= 8 || i % n.div_ceil(8) == 0 || i + 1 == n {
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                LEFT + point_x(i, n, span_x),
                TOP + span_y + 16.0,
                escape(label)
            );
        }
    }
    for (s, vals) in series.iter().zip(values) {
        let pts: Vec<(f64, f64, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (LEFT + point_x(i, n, span_x), y_of(v), v)))
            .collect();
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line {}" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            escape(s.name),
            s.color,
            path.join(" ")
        );
        for (x, y, v) in pts {
            let _ = write!(
                out,
                r#"<circle class="point {}" cx="{x:.1}" cy="{y:.1}" r="4" fill="{}"><title>{}: {} {}</title></circle>"#,
                escape(s.name),
                s.color,
                escape(s.name),
                figure(v),
                escape(unit)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        assert_eq!(bar_length(5.0, 10.0, 200.0), 100.0);
        assert_eq!(bar_length(10.0, 10.0, 200.0), 200.0);
        assert_eq!(bar_length(0.0, 10.0, 200.0), 0.0);
        assert_eq!(bar_length(3.0, 0.0, 200.0), 0.0);
        assert_eq!(bar_length(f64::NAN, 1.0, 200.0), 0.0);
    }

    #[test]
    fn figures_keep_three_significant_digits() {
        assert_eq!(figure(0.000542), "0.000542");
        assert_eq!(figure(5.664), "5.66");
        assert_eq!(figure(77.33), "77.3");
        assert_eq!(figure(1234.5), "1234");
        assert_eq!(figure(0.0), "0");
        assert_eq!(figure(f64::NAN), "-");
    }

    #[test]
    fn points_spread_across_the_width() {
        assert_eq!(point_x(0, 1, 100.0), 50.0);
        assert_eq!(point_x(0, 3, 100.0), 0.0);
        assert_eq!(point_x(1, 3, 100.0), 50.0);
        assert_eq!(point_x(2, 3, 100.0), 100.0);
    }

    #[test]
    fn bar_chart_has_a_bar_per_value_and_escapes_labels() {
        let rows = vec![
            Row {
                label: "data<&>".into(),
                values: vec![Some(10.0), Some(5.0)],
            },
            Row {
                label: "home".into(),
                values: vec![Some(2.5), None],
            },
        ];
        let svg = bar_chart("throughput", "MiB/s", &[BACKUP, RESTORE], &rows);
        assert_eq!(svg.matches(r#"<rect class="bar backup""#).count(), 2);
        assert_eq!(svg.matches(r#"<rect class="bar restore""#).count(), 1);
        assert!(svg.contains("data&lt;&amp;&gt;"), "{svg}");
        assert!(!svg.contains("data<&>"));
        let label_w = label_width(&rows);
        let span = WIDTH - label_w - VALUE_W;
        // The largest value fills the span; half of it, half the span.
        assert!(svg.contains(&format!(r#"width="{span:.1}""#)), "{svg}");
        assert!(
            svg.contains(&format!(r#"width="{:.1}""#, span / 2.0)),
            "{svg}"
        );
    }

    #[test]
    fn line_chart_has_a_point_per_value() {
        let labels = vec!["r1".to_string(), "r2".into(), "r3".into()];
        let svg = line_chart(
            "trend",
            "s",
            &[SECONDS],
            &labels,
            &[vec![Some(10.0), None, Some(20.0)]],
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("<polyline").count(), 1);
        // The largest value is at the top of the plot, 0 at its bottom.
        assert!(svg.contains(&format!(r#"cy="{TOP:.1}""#)), "{svg}");
        assert!(svg.contains(">r2</text>"));
    }
}
