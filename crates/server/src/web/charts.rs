//! Charts drawn by the server as SVG: lines, bars, columns and a donut. No script and
//! no file from elsewhere; they render offline and print as they look.

use std::fmt::Write;

const PALETTE: &[&str] = &[
    "#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c92a2a", "#5c940d",
    "#862e9c", "#495057",
];

/// The colour of series `i`.
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A short form of a number for an axis: 1.2k, 3.4M, 5万 is avoided on purpose (the
/// axis is read in both languages).
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A round step for about `n` ticks up to `max`.
fn nice_step(max: f64, n: usize) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// One named series of a line chart.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const L: f64 = 52.0;
const R: f64 = 12.0;
const T: f64 = 12.0;
const B: f64 = 28.0;

fn open(out: &mut String, title: &str, h: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
}

fn y_axis(out: &mut String, max: f64, unit_percent: bool) -> (f64, f64) {
    let step = nice_step(max, 4);
    let top = (max / step).ceil().max(1.0) * step;
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = T + (H - T - B) * (1.0 - v / top);
        let label = if unit_percent {
            format!("{v:.0}%")
        } else {
            short(v)
        };
        let _ = write!(
            out,
            r##"<line x1="{L}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e9ecef"/><text x="{lx}" y="{ty:.1}" text-anchor="end" class="tick">{label}</text>"##,
            x2 = W - R,
            lx = L - 6.0,
            ty = y + 4.0
        );
        v += step;
    }
    (top, step)
}

fn x_labels(out: &mut String, labels: &[String], x_of: impl Fn(usize) -> f64) {
    let n = labels.len();
    let every = n.div_ceil(8).max(1);
    for (i, l) in labels.iter().enumerate() {
        // The last label always shows; a regular one too close before it does not.
        let regular = i % every == 0 && i + every / 2 < n.saturating_sub(1);
        if regular || i + 1 == n {
            // The last label ends at the axis's end instead of running past it.
            let anchor = if i + 1 == n && n > 1 { "end" } else { "middle" };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="{anchor}" class="tick">{}</text>"#,
                x_of(i).min(W - 2.0),
                H - 8.0,
                esc(l)
            );
        }
    }
}

fn legend(names: &[&str]) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            out,
            r#"<li><svg class="swatch" width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="{}"/></svg>{}</li>"#,
            colour(i),
            esc(n)
        );
    }
    out.push_str("</ul>");
    out
}

/// A line chart of one or more series over the same labels; `guides` are horizontal
/// reference lines (value, label), for example the 55 % and 85 % of an ABC curve.
pub fn line(
    title: &str,
    labels: &[String],
    series: &[Series],
    guides: &[(f64, &str)],
    percent: bool,
) -> String {
    let mut out = String::new();
    open(&mut out, title, H);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(guides.iter().map(|g| g.0))
        .fold(0.0f64, f64::max);
    let (top, _) = y_axis(&mut out, max, percent);
    let n = labels.len().max(2);
    let x_of = |i: usize| L + (W - L - R) * i as f64 / (n - 1) as f64;
    let y_of = |v: f64| T + (H - T - B) * (1.0 - v / top);
    for (v, label) in guides {
        let y = y_of(*v);
        let _ = write!(
            out,
            r##"<line x1="{L}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#c92a2a" stroke-dasharray="4 3"/><text x="{x2}" y="{ty:.1}" text-anchor="end" class="guide">{t}</text>"##,
            x2 = W - R,
            ty = y - 4.0,
            t = esc(label)
        );
    }
    for (k, s) in series.iter().enumerate() {
        let mut d = String::new();
        for (i, v) in s.values.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x_of(i),
                y_of(*v)
            );
        }
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>"#,
            colour(k),
            esc(&s.name)
        );
    }
    x_labels(&mut out, labels, x_of);
    out.push_str("</svg>");
    if series.len() > 1 {
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        out.push_str(&legend(&names));
    }
    out
}

/// Vertical columns, one per label, stacked when there is more than one series.
pub fn columns(title: &str, labels: &[String], series: &[Series]) -> String {
    let mut out = String::new();
    open(&mut out, title, H);
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0f64, f64::max);
    let (top, _) = y_axis(&mut out, max, false);
    let slot = (W - L - R) / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let x_of = |i: usize| L + slot * (i as f64 + 0.5);
    for (i, label) in labels.iter().enumerate() {
        let mut base = 0.0;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let y1 = T + (H - T - B) * (1.0 - (base + v) / top);
            let h = (H - T - B) * v / top;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{y1:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{} · {}: {}</title></rect>"#,
                x_of(i) - bar / 2.0,
                colour(k),
                esc(label),
                esc(&s.name),
                short(v)
            );
            base += v;
        }
    }
    x_labels(&mut out, labels, x_of);
    out.push_str("</svg>");
    if series.len() > 1 {
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        out.push_str(&legend(&names));
    }
    out
}

/// Horizontal bars with their values written beside them.
pub fn bars(title: &str, items: &[(String, f64, String)]) -> String {
    let row = 26.0;
    let h = (items.len().max(1) as f64) * row + 8.0;
    let mut out = String::new();
    open(&mut out, title, h);
    let max = items.iter().map(|i| i.1).fold(0.0f64, f64::max).max(1e-9);
    // The label column and the room after the longest bar for its value fit the
    // longest text at the larger of the two sizes chart text is drawn at (a third-width
    // card), so that no text runs out of the chart; the bars keep at least 160 units.
    let fit = |min: f64, texts: &mut dyn Iterator<Item = &String>| {
        texts
            .map(|t| text_width(t, 18.0) + 12.0)
            .fold(min, f64::max)
    };
    let label_w = fit(150.0, &mut items.iter().map(|i| &i.0)).min(W * 0.3);
    let value_w = fit(110.0, &mut items.iter().map(|i| &i.2)).min(W - label_w - 160.0);
    let span = W - label_w - value_w;
    for (k, (label, v, shown)) in items.iter().enumerate() {
        let y = 4.0 + k as f64 * row;
        let w = (span * v / max).max(if *v > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            out,
            r#"<text x="{lx}" y="{ty:.1}" text-anchor="end" class="label">{l}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="{bh}" rx="3" fill="{c}"/><text x="{vx:.1}" y="{ty:.1}" class="value">{s}</text>"#,
            lx = label_w - 8.0,
            ty = y + 14.0,
            l = esc(label),
            bh = row - 8.0,
            c = colour(0),
            vx = label_w + w + 6.0,
            s = esc(shown)
        );
    }
    out.push_str("</svg>");
    out
}

/// An estimate of how wide `s` is drawn at `size` units: Latin letters, digits and
/// punctuation about 0.6 em, CJK and other wide characters 1 em.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum::<f64>()
        * size
}

/// A donut of shares with a legend that gives each share in per cent.
pub fn donut(title: &str, items: &[(String, f64)]) -> String {
    let total: f64 = items.iter().map(|i| i.1.max(0.0)).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<div class="donut"><svg class="chart" viewBox="0 0 200 200" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
    let (cx, cy, r, inner) = (100.0, 100.0, 90.0, 54.0);
    if total <= 0.0 {
        let _ = write!(
            out,
            r##"<circle cx="{cx}" cy="{cy}" r="{r}" fill="#e9ecef"/>"##
        );
    } else {
        let mut a0 = -std::f64::consts::FRAC_PI_2;
        for (k, (label, v)) in items.iter().enumerate() {
            let frac = v.max(0.0) / total;
            if frac <= 0.0 {
                continue;
            }
            if frac >= 0.9999 {
                let _ = write!(
                    out,
                    r#"<circle cx="{cx}" cy="{cy}" r="{r}" fill="{}"><title>{}</title></circle>"#,
                    colour(k),
                    esc(label)
                );
                break;
            }
            let a1 = a0 + frac * std::f64::consts::TAU;
            let large = if frac > 0.5 { 1 } else { 0 };
            let (x0, y0) = (cx + r * a0.cos(), cy + r * a0.sin());
            let (x1, y1) = (cx + r * a1.cos(), cy + r * a1.sin());
            let _ = write!(
                out,
                r#"<path d="M{cx},{cy} L{x0:.2},{y0:.2} A{r},{r} 0 {large} 1 {x1:.2},{y1:.2} Z" fill="{}"><title>{}: {:.1}%</title></path>"#,
                colour(k),
                esc(label),
                frac * 100.0
            );
            a0 = a1;
        }
    }
    let _ = write!(
        out,
        r##"<circle cx="{cx}" cy="{cy}" r="{inner}" fill="#fff"/></svg>"##
    );
    out.push_str(r#"<ul class="legend">"#);
    for (k, (label, v)) in items.iter().enumerate() {
        let pct = if total > 0.0 { v / total * 100.0 } else { 0.0 };
        let _ = write!(
            out,
            r#"<li><svg class="swatch" width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="{}"/></svg>{} <b>{pct:.1}%</b></li>"#,
            colour(k),
            esc(label)
        );
    }
    out.push_str("</ul></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_are_well_formed() {
        let s = line(
            "a<b",
            &["1".into(), "2".into()],
            &[Series {
                name: "x&y".into(),
                values: vec![1.0, 3.0],
            }],
            &[(2.0, "55%")],
            false,
        );
        assert!(s.contains("a&lt;b") && !s.contains("a<b"));
        assert_eq!(s.matches("<svg").count(), s.matches("</svg>").count());
        let d = donut("share", &[("a".into(), 1.0), ("b".into(), 3.0)]);
        assert!(d.contains("25.0%") && d.contains("75.0%"));
        let e = donut("none", &[]);
        assert!(e.contains("circle"));
        let b = bars("b", &[("92#".into(), 10.0, "¥10".into())]);
        assert!(b.contains("¥10"));
    }

    #[test]
    fn a_bar_chart_keeps_its_longest_value_inside() {
        let long = "¥3,936,917.55 · 354,775.03 L".to_string();
        let items = vec![
            ("92#".to_string(), 3_936_917.0, long.clone()),
            ("机油".to_string(), 496_336.0, "¥496,336.00".to_string()),
        ];
        let b = bars("products", &items);
        // The longest bar's value starts at the x written before it, and must end
        // inside the 640-unit chart when drawn at 18 units.
        let at = b.find(&long).unwrap();
        let x: f64 = b[..at]
            .rsplit("x=\"")
            .next()
            .and_then(|t| t.split('"').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            x + text_width(&long, 18.0) <= W,
            "value at {x} runs past {W}"
        );
        // A long label moves the bars right rather than running out on the left.
        let named = bars("n", &[("冰红茶 500ml 整箱装".into(), 1.0, "¥1".into())]);
        let x: f64 = named
            .split("<rect x=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            x - 8.0 >= text_width("冰红茶 500ml 整箱装", 18.0),
            "bars start at {x}"
        );
        // Short texts leave the bars their usual room.
        let short_only = bars("s", &[("a".into(), 1.0, "¥1".into())]);
        assert!(short_only.contains(r#"width="380.0""#), "{short_only}");
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(100.0, 4), 50.0);
        assert_eq!(nice_step(7.0, 4), 2.0);
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(short(2_500_000.0), "2.5M");
    }
}
