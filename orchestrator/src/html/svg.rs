//! Small inline-SVG helpers: a plot frame with axes, and escaping.

use std::fmt::Write as _;

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a short, readable string.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == v.trunc() && v.abs() < 1e12 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else if a >= 1e-3 {
        format!("{v:.5}")
    } else if a >= 1e-6 {
        // Three significant digits, still without an exponent a class would have to read.
        let decimals = (2.0 - a.log10().floor()) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    };
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A plot area mapping data coordinates to pixels.
#[derive(Copy, Clone, Debug)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    /// The step between x ticks (None: about ten round ones).
    pub xstep: Option<f64>,
}

impl Frame {
    /// A frame of the usual size over [x0, x1] × [y0, y1].
    pub fn new(height: f64, x0: f64, x1: f64, y0: f64, y1: f64) -> Frame {
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let y1 = if y1 > y0 { y1 } else { y0 + 1.0 };
        Frame {
            width: 940.0,
            height,
            left: 104.0,
            right: 20.0,
            top: 14.0,
            bottom: 48.0,
            x0,
            x1,
            y0,
            y1,
            xstep: None,
        }
    }

    /// Pixel x of data x (clamped to the frame).
    pub fn x(&self, v: f64) -> f64 {
        let w = self.width - self.left - self.right;
        self.left + ((v - self.x0) / (self.x1 - self.x0)).clamp(0.0, 1.0) * w
    }

    /// Pixel y of data y (clamped to the frame).
    pub fn y(&self, v: f64) -> f64 {
        let h = self.height - self.top - self.bottom;
        self.top + (1.0 - ((v - self.y0) / (self.y1 - self.y0)).clamp(0.0, 1.0)) * h
    }

    /// The plot's bottom edge in pixels.
    pub fn floor(&self) -> f64 {
        self.height - self.bottom
    }

    /// Opening tag of the svg element (no namespace URL: inline SVG in HTML needs none).
    pub fn open(&self, label: &str) -> String {
        format!(
            "<svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">",
            self.width,
            self.height,
            self.width,
            self.height,
            esc(label)
        )
    }

    /// Axes, grid and tick labels (each y tick with its own label); `ylabel` goes up the left side.
    pub fn axes_labelled(&self, xlabel: &str, ylabel: &str, yticks: &[(f64, String)]) -> String {
        let mut s = String::new();
        let (l, r, t, b) = (self.left, self.width - self.right, self.top, self.floor());
        for (v, label) in yticks {
            let y = self.y(*v);
            let _ = write!(
                s,
                "<line class=\"grid\" x1=\"{l}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\"/>\
                 <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                l - 6.0,
                y + 5.0,
                esc(label)
            );
        }
        let step = self.xstep.unwrap_or_else(|| nice_step(self.x1 - self.x0, 10.0));
        let mut v = (self.x0 / step).ceil() * step;
        while v <= self.x1 + 1e-9 {
            let x = self.x(v);
            let _ = write!(
                s,
                "<line class=\"tickline\" x1=\"{x:.1}\" y1=\"{b}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                b + 5.0,
                b + 21.0,
                num(v)
            );
            v += step;
        }
        let _ = write!(
            s,
            "<rect class=\"frame\" x=\"{l}\" y=\"{t}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"axis\" transform=\"translate(20 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            r - l,
            b - t,
            (l + r) / 2.0,
            self.height - 6.0,
            esc(xlabel),
            (t + b) / 2.0,
            esc(ylabel)
        );
        s
    }
}

/// A round step that cuts `span` into about `parts` pieces.
pub fn nice_step(span: f64, parts: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / parts;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.99912), "0.99912");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(f64::NAN), "-");
        assert_eq!(num(5.234e-4), "0.000523");
    }

    #[test]
    fn frame_maps_and_clamps() {
        let f = Frame::new(200.0, 0.0, 10.0, 0.0, 1.0);
        assert_eq!(f.x(0.0), f.left);
        assert_eq!(f.x(20.0), f.width - f.right);
        assert_eq!(f.y(1.0), f.top);
        assert_eq!(f.y(0.0), f.floor());
        assert_eq!(nice_step(30.0, 10.0), 5.0);
        assert_eq!(nice_step(0.7, 10.0), 0.1);
    }
}
