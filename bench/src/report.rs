//! Figures collected during a run, and the two files written from them:
//! docs/benchmarks.md (tables for people) and docs/benchmarks.json (for programs).

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

/// The systems, in the order tables list them. The first is Homeline's
/// headless engine, the reference every ratio divides by.
pub const HOMELINE: &str = "homeline";
pub const HOMELINE_APP: &str = "homeline-app";
pub const BARESIP: &str = "baresip";
pub const JSSIP: &str = "jssip-chromium";
pub const SYSTEM_ORDER: [&str; 4] = [HOMELINE, HOMELINE_APP, BARESIP, JSSIP];

pub fn system_label(system: &str) -> &str {
    match system {
        HOMELINE => "Homeline engine, headless (`homeline-cli`; bench helper in register/accounts)",
        HOMELINE_APP => "Homeline desktop app (Tauri + WebKitGTK)",
        BARESIP => "baresip (native SIP phone, UDP)",
        JSSIP => "JsSIP 3.13 in headless Chromium (browser softphone)",
        other => other,
    }
}

/// One figure of one scenario, with every run's value per system.
#[derive(Debug, Clone)]
pub struct Metric {
    pub scenario: String,
    pub metric: String,
    pub unit: String,
    /// Lower is better for every figure measured so far (time, memory, CPU).
    pub systems: Vec<(String, Vec<f64>)>,
    /// Systems that were asked for but produced no figure, and why.
    pub missing: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Some(Stats { median, min: v[0], max: v[n - 1] })
}

/// Everything one `homeline-bench` run measured, and about what.
#[derive(Debug, Default)]
pub struct Report {
    pub metrics: Vec<Metric>,
    /// Scenario → one paragraph saying what is measured and how.
    pub descriptions: Vec<(String, String, String)>,
    pub header: Vec<(String, String)>,
    pub notes: Vec<String>,
    /// (scenario, text): shown under that scenario's tables.
    pub scenario_notes: Vec<(String, String)>,
    /// A chart beside benchmarks.md (file name), shown above the summary.
    pub chart: Option<String>,
}

impl Report {
    /// Say what a scenario measures (title, paragraph), once.
    pub fn describe(&mut self, scenario: &str, title: &str, text: &str) {
        if !self.descriptions.iter().any(|(s, _, _)| s == scenario) {
            self.descriptions.push((scenario.into(), title.into(), text.into()));
        }
    }

    fn metric_mut(&mut self, scenario: &str, metric: &str, unit: &str) -> &mut Metric {
        let at = match self.metrics.iter().position(|m| m.scenario == scenario && m.metric == metric) {
            Some(i) => i,
            None => {
                self.metrics.push(Metric {
                    scenario: scenario.into(),
                    metric: metric.into(),
                    unit: unit.into(),
                    systems: Vec::new(),
                    missing: Vec::new(),
                });
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[at]
    }

    /// A remark shown under `scenario`'s tables.
    pub fn note(&mut self, scenario: &str, text: &str) {
        self.scenario_notes.push((scenario.into(), text.into()));
    }

    /// Record one run's value.
    pub fn add(&mut self, scenario: &str, metric: &str, unit: &str, system: &str, value: f64) {
        let m = self.metric_mut(scenario, metric, unit);
        match m.systems.iter_mut().find(|(s, _)| s == system) {
            Some((_, runs)) => runs.push(value),
            None => m.systems.push((system.into(), vec![value])),
        }
    }

    /// Record that `system` gave no figure for this metric in some run, and why.
    pub fn missing(&mut self, scenario: &str, metric: &str, unit: &str, system: &str, why: &str) {
        let m = self.metric_mut(scenario, metric, unit);
        if !m.missing.iter().any(|(s, w)| s == system && w == why) {
            m.missing.push((system.into(), why.into()));
        }
    }

    pub fn to_json(&self) -> Value {
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| {
                let mut systems = Map::new();
                for (system, runs) in ordered(&m.systems) {
                    if let Some(s) = stats(runs) {
                        systems.insert(
                            system.clone(),
                            json!({"median": round(s.median), "min": round(s.min), "max": round(s.max),
                                   "runs": runs.iter().map(|v| round(*v)).collect::<Vec<_>>()}),
                        );
                    }
                }
                let mut out = json!({"scenario": m.scenario, "metric": m.metric, "unit": m.unit, "systems": systems});
                if !m.missing.is_empty() {
                    out["missing"] = m.missing.iter().map(|(s, w)| json!({"system": s, "why": w})).collect();
                }
                out
            })
            .collect();
        Value::Array(metrics)
    }

    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks: Homeline beside the browser softphone and a native SIP phone\n");
        let _ = writeln!(
            md,
            "Generated by `homeline-bench` (crate `bench/`); do not edit by hand — run the command below again.\n\
             Every figure is the median of the runs, with the range (min–max) beside it; lower is better for all of them.\n\
             \"Homeline ÷\" divides Homeline's median by that system's: below 1 means Homeline uses less.\n\
             Machine-readable copy: [benchmarks.json](benchmarks.json).\n"
        );
        for (k, v) in &self.header {
            let _ = writeln!(md, "- **{k}**: {v}");
        }
        md.push('\n');
        for note in &self.notes {
            let _ = writeln!(md, "> {note}\n");
        }
        if let Some(chart) = &self.chart {
            let _ = writeln!(
                md,
                "![Headline figures: each system's median, bars scaled to the largest of each figure]({chart})\n"
            );
        }
        self.write_summary(&mut md);
        for (scenario, title, text) in &self.descriptions {
            let metrics: Vec<&Metric> = self.metrics.iter().filter(|m| &m.scenario == scenario).collect();
            if metrics.is_empty() {
                continue;
            }
            let _ = writeln!(md, "## {title}\n\n{text}\n");
            for m in metrics {
                write_table(&mut md, m);
            }
            for (_, text) in self.scenario_notes.iter().filter(|(s, _)| s == scenario) {
                let _ = writeln!(md, "- {text}");
            }
            md.push('\n');
        }
        md
    }
}

impl Report {
    /// One line per figure: every system's median side by side.
    fn write_summary(&self, md: &mut String) {
        if self.metrics.is_empty() {
            return;
        }
        let present: Vec<&str> =
            SYSTEM_ORDER.iter().copied().filter(|s| self.metrics.iter().any(|m| m.systems.iter().any(|(x, _)| x == s))).collect();
        let _ = writeln!(md, "## At a glance (medians)\n");
        let _ = write!(md, "| figure |");
        for s in &present {
            let _ = write!(md, " {} |", short_label(s));
        }
        let _ = write!(md, "\n|---|");
        for _ in &present {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for m in &self.metrics {
            let _ = write!(md, "| {} ({}) |", m.metric, m.unit);
            for s in &present {
                let cell = m.systems.iter().find(|(x, _)| x == s).and_then(|(_, runs)| stats(runs)).map(|st| fmt(st.median));
                let _ = write!(md, " {} |", cell.unwrap_or_else(|| "—".into()));
            }
            md.push('\n');
        }
        md.push('\n');
    }
}

fn short_label(system: &str) -> &str {
    match system {
        HOMELINE => "Homeline engine (CLI)",
        HOMELINE_APP => "Homeline app",
        BARESIP => "baresip",
        JSSIP => "JsSIP + Chromium",
        other => other,
    }
}

fn write_table(md: &mut String, m: &Metric) {
    let _ = writeln!(md, "### {} ({})\n", m.metric, m.unit);
    let reference = |name: &str| m.systems.iter().find(|(s, _)| s == name).and_then(|(_, runs)| stats(runs));
    let homeline = reference(HOMELINE);
    let app = reference(HOMELINE_APP);
    let with_app = app.is_some();
    if m.systems.is_empty() {
        for (system, why) in &m.missing {
            let _ = writeln!(md, "*{}: no figure — {why}*\n", system_label(system));
        }
        return;
    }
    let _ = write!(md, "| system | median | min–max | runs | Homeline ÷ |");
    if with_app {
        let _ = write!(md, " app ÷ |");
    }
    let _ = write!(md, "\n|---|---:|---:|---:|---:|");
    if with_app {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for (system, runs) in ordered(&m.systems) {
        let Some(s) = stats(runs) else { continue };
        let ratio = |r: &Option<Stats>| match r {
            Some(r) if system != HOMELINE && system != HOMELINE_APP && s.median > 0.0 => fmt_ratio(r.median / s.median),
            _ => "—".into(),
        };
        let _ = write!(
            md,
            "| {} | {} | {}–{} | {} | {} |",
            system_label(system),
            fmt(s.median),
            fmt(s.min),
            fmt(s.max),
            runs.len(),
            ratio(&homeline)
        );
        if with_app {
            let _ = write!(md, " {} |", ratio(&app));
        }
        md.push('\n');
    }
    for (system, why) in &m.missing {
        let _ = writeln!(md, "\n*{}: no figure — {why}*", system_label(system));
    }
    md.push('\n');
}

fn ordered(systems: &[(String, Vec<f64>)]) -> Vec<(&String, &Vec<f64>)> {
    let rank = |s: &str| SYSTEM_ORDER.iter().position(|o| *o == s).unwrap_or(SYSTEM_ORDER.len());
    let mut v: Vec<(&String, &Vec<f64>)> = systems.iter().map(|(s, r)| (s, r)).collect();
    v.sort_by_key(|(s, _)| rank(s));
    v
}

/// Three significant figures, at most three decimals.
fn fmt(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Two significant figures: 0.39, 0.046, 0.0047, 41.
fn fmt_ratio(r: f64) -> String {
    if r == 0.0 || r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 0.1 {
        format!("{r:.2}")
    } else {
        let decimals = (-r.log10().floor()) as usize + 1;
        format!("{r:.decimals$}")
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_runs() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]).map(|s| s.median), Some(2.0));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]).map(|s| (s.median, s.min, s.max)), Some((2.5, 1.0, 4.0)));
        assert!(stats(&[]).is_none());
    }

    #[test]
    fn ratios_keep_two_significant_figures() {
        assert_eq!(fmt_ratio(0.39), "0.39");
        assert_eq!(fmt_ratio(0.0467), "0.047");
        assert_eq!(fmt_ratio(0.00467), "0.0047");
        assert_eq!(fmt_ratio(41.86), "42");
        assert_eq!(fmt_ratio(0.0), "0");
    }

    #[test]
    fn json_has_every_system_with_its_runs() {
        let mut r = Report::default();
        r.add("startup", "launch → registered", "ms", JSSIP, 900.0);
        r.add("startup", "launch → registered", "ms", HOMELINE, 30.0);
        r.add("startup", "launch → registered", "ms", HOMELINE, 40.0);
        let j = r.to_json();
        assert_eq!(j[0]["systems"][HOMELINE]["median"], json!(35.0));
        assert_eq!(j[0]["systems"][JSSIP]["runs"], json!([900.0]));
        let md = r.to_markdown();
        assert!(md.is_empty() || md.contains("Benchmarks"));
    }
}
