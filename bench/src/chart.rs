//! The headline figures as one PNG bar chart (docs/benchmarks.png): for each
//! figure, one bar per system, scaled to the largest, with its median.
//!
//! Drawn by hand into an RGB buffer and written with the `png` crate: a
//! plotting library with text needs a font stack (plotters + ab_glyph or
//! font-kit) that costs more build time on 2 cores than this whole file. The
//! text uses a 3×5 pixel font, drawn at 3× size.

use std::path::Path;

use crate::report::{stats, Report, BARESIP, HOMELINE, HOMELINE_APP, JSSIP, SYSTEM_ORDER};

/// (scenario, metric, title on the chart).
const HEADLINES: [(&str, &str, &str); 6] = [
    ("idle", "memory (PSS), idle registered", "memory idle, MiB PSS"),
    ("callcpu", "memory (PSS), in one established call (caller)", "memory in a call, MiB PSS"),
    ("callcpu", "CPU, one established call (caller)", "CPU in a call, % of a core"),
    ("idle", "CPU, idle registered", "CPU idle, % of a core"),
    ("callsetup", "dial → the callee rings (INVITE there)", "dial to ringing, ms"),
    ("callsetup", "answer → first audio at the caller", "answer to first audio, ms"),
];

const WIDTH: usize = 900;
const SCALE: usize = 3;
const LABEL_W: usize = 230;
const VALUE_W: usize = 110;
const ROW_H: usize = 24;
const TITLE_H: usize = 30;
const GAP: usize = 14;
const BG: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [30, 30, 30];

fn color(system: &str) -> [u8; 3] {
    match system {
        HOMELINE => [46, 125, 50],
        HOMELINE_APP => [129, 199, 132],
        BARESIP => [96, 125, 139],
        JSSIP => [230, 81, 0],
        _ => [120, 120, 120],
    }
}

fn label(system: &str) -> &str {
    match system {
        HOMELINE => "homeline cli",
        HOMELINE_APP => "homeline app",
        BARESIP => "baresip",
        JSSIP => "jssip+chromium",
        other => other,
    }
}

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self { width, height, pixels: BG.iter().copied().cycle().take(width * height * 3).collect() }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, rgb: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let i = (yy * self.width + xx) * 3;
                self.pixels[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Text from the 3×5 font at `SCALE`; returns the x after it.
    fn text(&mut self, mut x: usize, y: usize, text: &str, rgb: [u8; 3]) -> usize {
        for c in text.chars() {
            let rows = glyph(c);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        self.rect(x + col * SCALE, y + r * SCALE, SCALE, SCALE, rgb);
                    }
                }
            }
            x += 4 * SCALE;
        }
        x
    }

    fn write_png(&self, path: &Path) -> Result<(), String> {
        let file = std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let (w, h) = (u32::try_from(self.width).unwrap_or(0), u32::try_from(self.height).unwrap_or(0));
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| format!("writing {}: {e}", path.display()))?;
        writer.write_image_data(&self.pixels).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Draw the headline chart from `report`; `Ok(false)` when it holds none of the headline figures.
pub fn headline_png(report: &Report, path: &Path) -> Result<bool, String> {
    let groups: Vec<(&str, Vec<(&str, f64)>)> = HEADLINES
        .iter()
        .filter_map(|(scenario, metric, title)| {
            let m = report.metrics.iter().find(|m| m.scenario == *scenario && m.metric == *metric)?;
            let bars: Vec<(&str, f64)> = SYSTEM_ORDER
                .iter()
                .filter_map(|s| m.systems.iter().find(|(x, _)| x == s).and_then(|(_, runs)| stats(runs)).map(|st| (*s, st.median)))
                .collect();
            (!bars.is_empty()).then_some((*title, bars))
        })
        .collect();
    if groups.is_empty() {
        return Ok(false);
    }
    let height = GAP + groups.iter().map(|(_, bars)| TITLE_H + bars.len() * ROW_H + GAP).sum::<usize>();
    let mut c = Canvas::new(WIDTH, height);
    let bar_max = WIDTH - LABEL_W - VALUE_W - GAP;
    let mut y = GAP;
    for (title, bars) in &groups {
        c.text(GAP, y + 4, title, INK);
        y += TITLE_H;
        let max = bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
        for (system, value) in bars {
            c.text(GAP, y + 4, label(system), INK);
            let len = if max > 0.0 { ((value / max) * bar_max as f64).round() as usize } else { 0 };
            c.rect(LABEL_W, y + 2, len.max(2), ROW_H - 6, color(system));
            c.text(LABEL_W + len.max(2) + 8, y + 4, &number(*value), INK);
            y += ROW_H;
        }
        y += GAP;
        c.rect(GAP, y - GAP / 2, WIDTH - 2 * GAP, 1, [210, 210, 210]);
    }
    c.write_png(path)?;
    Ok(true)
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Rows of a 3×5 glyph, top first, 3 bits each (MSB left). Unknown characters are blank.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_lowercase() {
        'a' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'b' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'c' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'd' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'e' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'f' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'g' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'h' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'i' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'j' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'k' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'l' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'm' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'n' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'o' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'p' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'r' => [0b110, 0b101, 0b110, 0b101, 0b101],
        's' => [0b011, 0b100, 0b010, 0b001, 0b110],
        't' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'u' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'v' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'w' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'x' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b110, 0b001, 0b010, 0b100, 0b111],
        '3' => [0b110, 0b001, 0b010, 0b001, 0b110],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b110, 0b001, 0b110],
        '6' => [0b011, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b110],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ',' => [0b000, 0b000, 0b000, 0b010, 0b100],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '(' => [0b010, 0b100, 0b100, 0b100, 0b010],
        ')' => [0b010, 0b001, 0b001, 0b001, 0b010],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        _ => [0; 5],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn draws_a_png_with_one_row_per_system_of_each_headline() {
        let mut report = Report::default();
        report.add("idle", "memory (PSS), idle registered", "MiB", HOMELINE, 6.5);
        report.add("idle", "memory (PSS), idle registered", "MiB", JSSIP, 366.0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.png");
        assert!(headline_png(&report, &path).unwrap());
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width as usize, WIDTH);
        assert_eq!(info.height as usize, GAP + TITLE_H + 2 * ROW_H + GAP);
        assert!(!headline_png(&Report::default(), &path).unwrap());
    }
}
