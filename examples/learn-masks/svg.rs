//! A hand-written SVG of the loss curves: one polyline per layer, the soft loss of
//! each step divided by the layer's Wanda loss (so every layer shares one axis; the
//! dashed line at 1 is Wanda, below it is better).

use std::fmt::Write;

pub struct Curve {
    pub label: String,
    /// (step, loss / Wanda loss)
    pub points: Vec<(usize, f64)>,
}

const W: f64 = 900.0;
const H: f64 = 520.0;
const PAD_L: f64 = 60.0;
const PAD_R: f64 = 260.0;
const PAD_T: f64 = 30.0;
const PAD_B: f64 = 45.0;

pub fn render(title: &str, curves: &[Curve]) -> String {
    let steps = curves
        .iter()
        .flat_map(|c| c.points.last().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let ymax = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(1.2f64, f64::max)
        .min(3.0);
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let x = |s: f64| PAD_L + pw * s / steps;
    let y = |v: f64| PAD_T + ph * (1.0 - v.clamp(0.0, ymax) / ymax);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{PAD_L}" y="18" font-size="14">{title}</text>"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    for i in 0..=5 {
        let v = ymax * i as f64 / 5.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.2}</text>"#,
            PAD_L - 5.0,
            y(v) + 4.0
        );
        let st = steps * i as f64 / 5.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{st:.0}</text>"#,
            x(st),
            H - PAD_B + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{PAD_L}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="gray" stroke-dasharray="5,4"/>"#,
        PAD_L + pw,
        y(1.0),
        y(1.0)
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">step</text>"#,
        PAD_L + pw / 2.0,
        H - 8.0
    );
    let _ = writeln!(
        s,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">soft loss / Wanda loss</text>"#,
        PAD_T + ph / 2.0,
        PAD_T + ph / 2.0
    );
    let n = curves.len().max(1);
    for (i, c) in curves.iter().enumerate() {
        let hue = 360.0 * i as f64 / n as f64;
        let pts: Vec<String> = c
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(st, v)| format!("{:.1},{:.1}", x(st as f64), y(v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="hsl({hue:.0},70%,42%)" stroke-width="1.2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = PAD_T + 6.0 + i as f64 * (ph / n as f64).min(13.0);
        let lx = PAD_L + pw + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="hsl({hue:.0},70%,42%)" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            lx + 22.0,
            ly + 4.0,
            c.label
        );
    }
    s.push_str("</svg>\n");
    s
}
