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
pub const LINPHONE: &str = "linphonec";
pub const SYSTEM_ORDER: [&str; 5] = [HOMELINE, HOMELINE_APP, BARESIP, LINPHONE, JSSIP];

pub fn system_label(system: &str) -> &str {
    match system {
        HOMELINE => "Homeline engine, headless (`homeline-cli`; bench helper in register/accounts)",
        HOMELINE_APP => "Homeline desktop app (Tauri + WebKitGTK)",
        BARESIP => "baresip (native SIP phone, UDP)",
        LINPHONE => "linphonec 5.1 (native SIP phone, liblinphone, UDP)",
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
    /// Which of the report's runs measured it (an index into `Report::runs`).
    pub run: usize,
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

/// One `homeline-bench` run: when, where and how it was started, and its
/// remarks. A report merged with `--merge` holds several.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// (name, value) as the report shows them: Date, Machine, Command, Runs, versions…
    pub header: Vec<(String, String)>,
    /// Remarks about the whole run (shown once above the tables).
    pub notes: Vec<String>,
}

impl RunInfo {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.header.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// "2026-11-25 18:22 UTC, `make bench`"
    fn when_and_how(&self) -> String {
        format!("{}, {}", self.get("Date").unwrap_or("date unknown"), self.get("Command").unwrap_or("command unknown"))
    }
}

/// Everything one `homeline-bench` run measured, and about what; after
/// [`merge`], the figures of several runs, each scenario from one of them.
#[derive(Debug, Default)]
pub struct Report {
    pub metrics: Vec<Metric>,
    /// Scenario → one paragraph saying what is measured and how.
    pub descriptions: Vec<(String, String, String)>,
    /// This run's remarks while it measures (moved into its `RunInfo` by `seal`).
    pub notes: Vec<String>,
    /// (scenario, text): shown under that scenario's tables.
    pub scenario_notes: Vec<(String, String)>,
    /// A chart beside benchmarks.md (file name), shown above the summary.
    pub chart: Option<String>,
    /// The runs whose figures these are (one until merged); `Metric::run` indexes it.
    pub runs: Vec<RunInfo>,
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
                    run: 0,
                });
                self.metrics.len() - 1
            }
        };
        &mut self.metrics[at]
    }

    /// The run is over: its header (date, machine, command…) and notes
    /// become the report's one run.
    pub fn seal(&mut self, header: Vec<(String, String)>) {
        self.runs = vec![RunInfo { header, notes: std::mem::take(&mut self.notes) }];
        for m in &mut self.metrics {
            m.run = 0;
        }
    }

    /// Scenarios in the order they first appear (descriptions, then figures).
    pub fn scenarios(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let all = self.descriptions.iter().map(|(s, _, _)| s).chain(self.metrics.iter().map(|m| &m.scenario));
        for s in all {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// Whether any system has a figure in `scenario`.
    pub fn has_figures(&self, scenario: &str) -> bool {
        self.metrics.iter().any(|m| m.scenario == scenario && m.systems.iter().any(|(_, runs)| !runs.is_empty()))
    }

    /// The run that measured `scenario`.
    pub fn run_of(&self, scenario: &str) -> Option<usize> {
        self.metrics.iter().find(|m| m.scenario == scenario).map(|m| m.run)
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

    /// docs/benchmarks.json: `{"format": 2, "runs": […], "scenarios": […], "metrics": […]}`.
    /// Each metric names its scenario, unit, the run that measured it, and per
    /// system the median, min, max and every run's value.
    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "run": i + 1,
                    "date": r.get("Date").unwrap_or_default(),
                    "command": r.get("Command").unwrap_or_default().trim_matches('`'),
                    "header": r.header.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                    "notes": r.notes,
                })
            })
            .collect();
        let scenarios: Vec<Value> = self
            .scenarios()
            .iter()
            .map(|s| {
                let (title, text) = self
                    .descriptions
                    .iter()
                    .find(|(d, _, _)| d == s)
                    .map(|(_, t, x)| (t.as_str(), x.as_str()))
                    .unwrap_or((s.as_str(), ""));
                let notes: Vec<&String> = self.scenario_notes.iter().filter(|(n, _)| n == s).map(|(_, t)| t).collect();
                json!({"scenario": s, "title": title, "text": text, "notes": notes, "run": self.run_of(s).unwrap_or(0) + 1})
            })
            .collect();
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
                let mut out = json!({"scenario": m.scenario, "metric": m.metric, "unit": m.unit, "run": m.run + 1, "systems": systems});
                if !m.missing.is_empty() {
                    out["missing"] = m.missing.iter().map(|(s, w)| json!({"system": s, "why": w})).collect();
                }
                out
            })
            .collect();
        json!({"format": 2, "runs": runs, "scenarios": scenarios, "metrics": metrics})
    }

    /// Read a report back from benchmarks.json. `markdown` is benchmarks.md
    /// beside it: the first format (a bare array of metrics, before
    /// `--merge`) kept the run's date, command and the scenarios' texts only there.
    pub fn from_json(value: &Value, markdown: Option<&str>) -> Result<Report, String> {
        let (metrics_json, legacy) = match value {
            Value::Array(a) => (a, true),
            Value::Object(o) => (o.get("metrics").and_then(Value::as_array).ok_or("no \"metrics\" array")?, false),
            _ => return Err("neither an array of metrics nor a report object".into()),
        };
        let mut report = Report::default();
        for m in metrics_json {
            let field = |name: &str| m[name].as_str().map(str::to_owned).ok_or_else(|| format!("a metric without \"{name}\": {m}"));
            let mut systems = Vec::new();
            if let Some(map) = m["systems"].as_object() {
                for (system, figures) in map {
                    let runs: Vec<f64> = figures["runs"].as_array().map(|r| r.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
                    systems.push((system.clone(), runs));
                }
            }
            let missing = m["missing"]
                .as_array()
                .map(|a| a.iter().map(|x| (x["system"].as_str().unwrap_or("?").to_owned(), x["why"].as_str().unwrap_or("").to_owned())).collect())
                .unwrap_or_default();
            let run = m["run"].as_u64().map(|r| r.saturating_sub(1) as usize).unwrap_or(0);
            report.metrics.push(Metric { scenario: field("scenario")?, metric: field("metric")?, unit: field("unit")?, systems, missing, run });
        }
        if legacy {
            parse_legacy_markdown(&mut report, markdown.unwrap_or_default());
            return Ok(report);
        }
        for r in value["runs"].as_array().into_iter().flatten() {
            let header = r["header"]
                .as_array()
                .map(|h| h.iter().map(|x| (x["name"].as_str().unwrap_or("").to_owned(), x["value"].as_str().unwrap_or("").to_owned())).collect())
                .unwrap_or_default();
            let notes = r["notes"].as_array().map(|n| n.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default();
            report.runs.push(RunInfo { header, notes });
        }
        for s in value["scenarios"].as_array().into_iter().flatten() {
            let text = |k: &str| s[k].as_str().unwrap_or("").to_owned();
            let scenario = text("scenario");
            report.descriptions.push((scenario.clone(), text("title"), text("text")));
            for n in s["notes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                report.scenario_notes.push((scenario.clone(), n.to_owned()));
            }
        }
        let known = report.runs.len();
        if let Some(m) = report.metrics.iter().find(|m| m.run >= known) {
            return Err(format!("metric \"{}\" names run {} of {known}", m.metric, m.run + 1));
        }
        Ok(report)
    }

    /// Read `dir`/benchmarks.json (and benchmarks.md for the first format).
    pub fn load(dir: &std::path::Path) -> Result<Report, String> {
        let json_path = dir.join("benchmarks.json");
        let text = std::fs::read_to_string(&json_path).map_err(|e| format!("reading {}: {e}", json_path.display()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", json_path.display()))?;
        let md = std::fs::read_to_string(dir.join("benchmarks.md")).ok();
        Report::from_json(&value, md.as_deref()).map_err(|e| format!("{}: {e}", json_path.display()))
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
        let several = self.runs.len() > 1;
        if several {
            let _ = writeln!(
                md,
                "This report joins {} runs (`homeline-bench --only … --merge` measures some scenarios again and keeps the \
                 others' figures): each scenario below names the run that measured it.\n",
                self.runs.len()
            );
        }
        for (i, run) in self.runs.iter().enumerate() {
            if several {
                let mine: Vec<String> = self.scenarios().into_iter().filter(|s| self.run_of(s) == Some(i)).collect();
                let _ = writeln!(md, "**Run {}** — the figures of: {}\n", i + 1, mine.join(", "));
            }
            for (k, v) in &run.header {
                let _ = writeln!(md, "- **{k}**: {v}");
            }
            md.push('\n');
        }
        let mut shown: Vec<&String> = Vec::new();
        for note in self.runs.iter().flat_map(|r| &r.notes).chain(&self.notes) {
            if !shown.contains(&note) {
                shown.push(note);
                let _ = writeln!(md, "> {note}\n");
            }
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
            if several {
                if let Some(run) = self.run_of(scenario).and_then(|i| self.runs.get(i).map(|r| (i, r))) {
                    let _ = writeln!(md, "*Measured in run {}: {}.*\n", run.0 + 1, run.1.when_and_how());
                }
            }
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

/// `new` (one sealed run) laid over `old`: each scenario `new` has figures
/// for is taken from `new` whole (its description, tables and notes); every
/// other scenario keeps `old`'s, with the run that measured it. A scenario
/// `new` tried but got no figure for keeps `old`'s figures, with a note
/// saying so (also returned, for the console). Scenarios are put in `order`
/// (unknown ones last); runs no scenario comes from any more are dropped.
/// How a run's note on what it could not measure yet begins (main.rs writes it).
const NOT_MEASURED: &str = "Not measured yet:";

pub fn merge(old: Report, new: Report, order: &[&str]) -> (Report, Vec<String>) {
    let mut warnings = Vec::new();
    let new_run = new.runs.first().cloned().unwrap_or_default();
    let mut scenarios = old.scenarios();
    for s in new.scenarios() {
        if !scenarios.contains(&s) {
            scenarios.push(s);
        }
    }
    let rank = |s: &str| order.iter().position(|o| *o == s).unwrap_or(order.len());
    scenarios.sort_by_key(|s| rank(s));

    let mut out = Report { runs: old.runs.clone(), ..Report::default() };
    // What a run did not measure describes the harness as it was then: the newest run's
    // list replaces the older ones (they name scenarios measured since).
    if new_run.notes.iter().any(|n| n.starts_with(NOT_MEASURED)) {
        for r in &mut out.runs {
            r.notes.retain(|n| !n.starts_with(NOT_MEASURED));
        }
    }
    out.runs.push(new_run.clone());
    let new_index = out.runs.len() - 1;
    for s in &scenarios {
        let in_new = new.scenarios().contains(s);
        let take_new = in_new && (new.has_figures(s) || !old.has_figures(s));
        let (from, run) = if take_new { (&new, Some(new_index)) } else { (&old, None) };
        out.metrics.extend(from.metrics.iter().filter(|m| &m.scenario == s).cloned().map(|mut m| {
            if let Some(r) = run {
                m.run = r;
            }
            m
        }));
        out.descriptions.extend(from.descriptions.iter().filter(|(d, _, _)| d == s).cloned());
        out.scenario_notes.extend(from.scenario_notes.iter().filter(|(n, _)| n == s).cloned());
        if in_new && !take_new {
            let why: Vec<String> = new
                .metrics
                .iter()
                .filter(|m| &m.scenario == s)
                .flat_map(|m| m.missing.iter().map(|(sys, w)| format!("{sys}: {w}")))
                .fold(Vec::new(), |mut acc, w| {
                    if !acc.contains(&w) {
                        acc.push(w);
                    }
                    acc
                });
            let text = format!(
                "Measured again on {} and got no figure ({}); the figures above are the earlier run's.",
                new_run.when_and_how(),
                if why.is_empty() { "no reason given".to_owned() } else { why.join("; ") }
            );
            warnings.push(format!("{s}: {text}"));
            out.scenario_notes.push((s.clone(), text));
        }
    }
    // Keep only the runs something still comes from, in their order.
    let used: Vec<usize> = (0..out.runs.len()).filter(|i| out.metrics.iter().any(|m| m.run == *i)).collect();
    out.runs = used.iter().map(|i| out.runs[*i].clone()).collect();
    for m in &mut out.metrics {
        m.run = used.iter().position(|i| *i == m.run).unwrap_or(0);
    }
    (out, warnings)
}

/// The first JSON format had no run or scenario text: take them from the
/// benchmarks.md written with it — the `- **Name**: value` lines above the
/// first section, the `> ` notes, and per `## ` section its paragraph, the
/// `### metric (unit)` tables that say which scenario it is, and its `- ` notes.
fn parse_legacy_markdown(report: &mut Report, md: &str) {
    let mut run = RunInfo::default();
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in md.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push((title.trim().to_owned(), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push(line);
        } else if let Some(rest) = line.strip_prefix("- **") {
            if let Some((k, v)) = rest.split_once("**: ") {
                run.header.push((k.to_owned(), v.to_owned()));
            }
        } else if let Some(note) = line.strip_prefix("> ") {
            run.notes.push(note.to_owned());
        }
    }
    report.runs = vec![run];
    for (title, body) in sections {
        let text: Vec<&str> = body.iter().copied().take_while(|l| !l.starts_with("### ") && !l.starts_with('|')).collect();
        let text = text.join("\n").trim().to_owned();
        let scenario = body
            .iter()
            .filter_map(|l| l.strip_prefix("### "))
            .find_map(|h| report.metrics.iter().find(|m| format!("{} ({})", m.metric, m.unit) == h.trim()).map(|m| m.scenario.clone()));
        let Some(scenario) = scenario else { continue };
        let notes: Vec<(String, String)> =
            body.iter().filter_map(|l| l.strip_prefix("- ")).map(|n| (scenario.clone(), n.to_owned())).collect();
        report.descriptions.push((scenario, title, text));
        report.scenario_notes.extend(notes);
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
        let several = self.runs.len() > 1;
        if several {
            let _ = write!(md, " run |");
        }
        let _ = write!(md, "\n|---|");
        for _ in &present {
            let _ = write!(md, "---:|");
        }
        if several {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for m in &self.metrics {
            let _ = write!(md, "| {} ({}) |", m.metric, m.unit);
            for s in &present {
                let cell = m.systems.iter().find(|(x, _)| x == s).and_then(|(_, runs)| stats(runs)).map(|st| fmt(st.median));
                let _ = write!(md, " {} |", cell.unwrap_or_else(|| "—".into()));
            }
            if several {
                let _ = write!(md, " {} |", m.run + 1);
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
        LINPHONE => "linphonec",
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
#[allow(clippy::unwrap_used)]
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
        assert_eq!(j["metrics"][0]["systems"][HOMELINE]["median"], json!(35.0));
        assert_eq!(j["metrics"][0]["systems"][JSSIP]["runs"], json!([900.0]));
        let md = r.to_markdown();
        assert!(md.is_empty() || md.contains("Benchmarks"));
    }

    fn one_run(date: &str, command: &str, figures: &[(&str, &str, f64)]) -> Report {
        let mut r = Report::default();
        for (scenario, metric, value) in figures {
            r.describe(scenario, &format!("About {scenario}"), &format!("How {scenario} is measured ({date})."));
            r.add(scenario, metric, "ms", HOMELINE, *value);
            r.note(scenario, &format!("{scenario} note from {date}"));
        }
        r.notes.push("Not measured yet: something.".into());
        r.seal(vec![("Date".into(), date.into()), ("Command".into(), format!("`{command}`"))]);
        r
    }

    const ORDER: [&str; 3] = ["startup", "network", "package"];

    #[test]
    fn merge_replaces_the_measured_scenarios_and_keeps_the_others_with_their_run() {
        let old = one_run("2026-01-01 10:00 UTC", "make bench", &[("startup", "launch", 7.0), ("network", "change", 900.0)]);
        let command = "make bench BENCH_ARGS=\"--only network,package --merge\"";
        let new = one_run("2026-02-02 10:00 UTC", command, &[("package", "size", 13.0), ("network", "change", 800.0)]);
        let (merged, warnings) = merge(old, new, &ORDER);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(merged.runs.len(), 2);
        assert_eq!(merged.scenarios(), ["startup", "network", "package"]);
        let figure = |s: &str| merged.metrics.iter().find(|m| m.scenario == s).map(|m| (m.systems[0].1.clone(), m.run)).unwrap();
        assert_eq!(figure("startup"), (vec![7.0], 0));
        assert_eq!(figure("network"), (vec![800.0], 1));
        assert_eq!(figure("package"), (vec![13.0], 1));
        let network_notes: Vec<&str> = merged.scenario_notes.iter().filter(|(s, _)| s == "network").map(|(_, t)| t.as_str()).collect();
        assert_eq!(network_notes, ["network note from 2026-02-02 10:00 UTC"]);
        let md = merged.to_markdown();
        assert!(md.contains("This report joins 2 runs"), "{md}");
        assert!(md.contains("**Run 1** — the figures of: startup\n"), "{md}");
        assert!(md.contains("**Run 2** — the figures of: network, package\n"), "{md}");
        assert!(md.contains(&format!("*Measured in run 2: 2026-02-02 10:00 UTC, `{command}`.*")), "{md}");
        assert_eq!(md.matches("> Not measured yet: something.").count(), 1, "{md}");

        // The newest run's list of what is not measured yet replaces the older runs' lists.
        let mut newer = one_run("2026-03-03 10:00 UTC", "make bench", &[("package", "size", 14.0)]);
        newer.runs[0].notes = vec!["Not measured yet: something else.".into()];
        let (latest, _) = merge(Report::from_json(&merged.to_json(), None).unwrap(), newer, &ORDER);
        let md = latest.to_markdown();
        assert!(md.contains("> Not measured yet: something else."), "{md}");
        assert!(!md.contains("> Not measured yet: something."), "{md}");

        // Through the file and back, then merged again: run 1 goes once nothing comes from it.
        let again = Report::from_json(&merged.to_json(), None).unwrap();
        assert_eq!(again.to_json(), merged.to_json());
        let newest = one_run("2026-03-03 10:00 UTC", "homeline-bench --only startup --merge", &[("startup", "launch", 6.0)]);
        let (merged, _) = merge(again, newest, &ORDER);
        assert_eq!(merged.runs.len(), 2);
        assert_eq!(merged.runs[0].get("Date"), Some("2026-02-02 10:00 UTC"));
        assert_eq!(merged.run_of("startup"), Some(1));
        assert_eq!(merged.run_of("package"), Some(0));
        assert_eq!(merged.to_json()["metrics"][0]["run"], json!(2));
    }

    #[test]
    fn a_scenario_that_got_no_figure_keeps_the_earlier_one_and_says_so() {
        let old = one_run("2026-01-01 10:00 UTC", "make bench", &[("network", "change", 900.0)]);
        let mut new = Report::default();
        new.describe("network", "About network", "How.");
        new.missing("network", "change", "ms", HOMELINE, "no namespaces here");
        new.seal(vec![("Date".into(), "2026-02-02 10:00 UTC".into()), ("Command".into(), "`x`".into())]);
        let (merged, warnings) = merge(old, new, &ORDER);
        assert_eq!(merged.metrics[0].systems[0].1, vec![900.0]);
        assert_eq!(merged.runs.len(), 1);
        assert_eq!(warnings.len(), 1);
        let said = merged.scenario_notes.iter().any(|(_, t)| t.contains("no namespaces here") && t.contains("2026-02-02"));
        assert!(said, "{:?}", merged.scenario_notes);
    }

    #[test]
    fn the_first_format_is_read_with_its_markdown() {
        let r = one_run("2026-01-01 10:00 UTC", "make bench", &[("startup", "launch", 7.0), ("network", "change", 900.0)]);
        let md = r.to_markdown();
        // The first format: a bare array of metrics, the rest only in the markdown.
        let metrics = r.to_json()["metrics"].as_array().cloned().unwrap_or_default();
        let legacy: Vec<Value> = metrics
            .into_iter()
            .map(|mut m| {
                m.as_object_mut().map(|o| o.remove("run"));
                m
            })
            .collect();
        let back = Report::from_json(&Value::Array(legacy), Some(&md)).unwrap();
        assert_eq!(back.runs[0].header, r.runs[0].header);
        assert_eq!(back.runs[0].notes, r.runs[0].notes);
        assert_eq!(back.descriptions, r.descriptions);
        assert_eq!(back.scenario_notes, r.scenario_notes);
        assert_eq!(back.to_json(), r.to_json());
    }
}
