//! How a call sounds, measured as a listener would: speech made with
//! espeak-ng, and received speech scored against it with ITU-T P.862 (PESQ)
//! after alignment (tests/tools/pesq_score.py, in the venv scripts/setup.sh
//! makes). The call-quality tests and the benchmarks use these.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{require_program, HarnessError};

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("the Python tools for scoring speech are missing ({python} not found): run scripts/setup.sh (make test does)")]
    MissingVenv { python: String },
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
    #[error("the scorer printed something unexpected: {output}")]
    BadOutput { output: String },
}

/// Which PESQ: wideband (P.862.2, 16 kHz: Opus) or narrowband (P.862, 8 kHz: G.711).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Wideband,
    Narrowband,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Wideband => "wb",
            Mode::Narrowband => "nb",
        }
    }
}

/// What the scorer found: the score and the levels of the aligned parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// MOS-LQO, 1 (bad) to about 4.6 (no audible difference).
    pub pesq: f64,
    /// Where the sent speech starts in the received file (negative: its start is missing there).
    pub offset_ms: f64,
    /// How much was compared, in seconds.
    pub overlap_s: f64,
    pub sent_dbfs: f64,
    pub received_dbfs: f64,
    /// Received level minus sent level.
    pub level_diff_db: f64,
}

/// The venv scripts/setup.sh makes beside the cargo target dir (the same
/// place for every checkout and CI's fresh clones); `HOMELINE_VENV` overrides.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOMELINE_VENV") {
        return PathBuf::from(dir);
    }
    // target/debug/deps/TEST-HASH (or target/debug/BENCH) → target → its parent.
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe.ancestors().find(|p| p.file_name().is_some_and(|n| n == "debug" || n == "release")).and_then(Path::parent);
    target.and_then(Path::parent).unwrap_or(Path::new("/var/cache/homeline")).join("venv")
}

/// The venv's python, or an error that says to run scripts/setup.sh.
pub fn venv_python() -> Result<PathBuf, QualityError> {
    let python = venv_dir().join("bin").join("python");
    if python.is_file() {
        Ok(python)
    } else {
        Err(QualityError::MissingVenv { python: python.display().to_string() })
    }
}

/// Spoken `text` as a 48 kHz mono 16-bit WAV at `path` (what a call's
/// microphone file takes), made with espeak-ng and sox.
pub fn speech_wav(text: &str, voice: &str, path: &Path) -> Result<(), QualityError> {
    let espeak = require_program("espeak-ng", "espeak-ng")?;
    let sox = require_program("sox", "sox")?;
    let raw = path.with_extension("espeak.wav");
    run(Command::new(espeak).args(["-v", voice, "-s", "150", "-w"]).arg(&raw).arg(text), "espeak-ng")?;
    run(Command::new(sox).arg(&raw).args(["-r", "48000", "-c", "1", "-b", "16"]).arg(path), "sox")?;
    let _ = std::fs::remove_file(raw);
    Ok(())
}

/// Scores `degraded` (what was received) against `reference` (what was sent):
/// aligned by cross-correlation, trimmed to what both hold, resampled for `mode`.
pub fn score(reference: &Path, degraded: &Path, mode: Mode) -> Result<Score, QualityError> {
    require_program("sox", "sox")?;
    let python = venv_python()?;
    let script = crate::workspace_root().join("tests/tools/pesq_score.py");
    let output = run(Command::new(python).arg(script).args(["--mode", mode.arg()]).arg(reference).arg(degraded), "pesq_score.py")?;
    let bad = || QualityError::BadOutput { output: output.clone() };
    let json: serde_json::Value = serde_json::from_str(output.trim()).map_err(|_| bad())?;
    let field = |name: &str| json[name].as_f64().ok_or_else(bad);
    Ok(Score {
        pesq: field("pesq")?,
        offset_ms: field("offset_ms")?,
        overlap_s: field("overlap_s")?,
        sent_dbfs: field("sent_dbfs")?,
        received_dbfs: field("received_dbfs")?,
        level_diff_db: field("level_diff_db")?,
    })
}

/// The PESQ score alone (see [`score`]).
pub fn pesq(reference: &Path, degraded: &Path, mode: Mode) -> Result<f64, QualityError> {
    score(reference, degraded, mode).map(|s| s.pesq)
}

/// RMS level (dBFS) of what a WAV file holds above `hz`: near nothing for
/// G.711 (8 kHz sampling), clearly there for wideband speech through Opus.
pub fn level_above_dbfs(path: &Path, hz: u32) -> Result<f64, QualityError> {
    let sox = require_program("sox", "sox")?;
    // `stats` writes to stderr; `-n` discards the audio.
    let out = Command::new(sox)
        .arg(path)
        .args(["-n", "sinc", &hz.to_string(), "stats"])
        .output()
        .map_err(|e| QualityError::Tool { tool: "sox".into(), message: e.to_string() })?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("RMS lev dB"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| if v == "-inf" { Some(-120.0) } else { v.parse().ok() })
        .ok_or(QualityError::Tool { tool: "sox stats".into(), message: text })
}

/// RMS level of 16-bit samples in dB below full scale (-120 for silence or nothing).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return -120.0;
    }
    let power = samples.iter().map(|s| (f64::from(*s) / 32768.0).powi(2)).sum::<f64>() / samples.len() as f64;
    if power > 0.0 {
        (10.0 * power.log10()).max(-120.0)
    } else {
        -120.0
    }
}

/// Runs a tool to its end; its stdout, or its stderr in the error.
fn run(command: &mut Command, tool: &str) -> Result<String, QualityError> {
    let out = command.output().map_err(|e| QualityError::Tool { tool: tool.into(), message: e.to_string() })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(QualityError::Tool { tool: tool.into(), message: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_in_dbfs() {
        assert_eq!(rms_dbfs(&[]), -120.0);
        assert_eq!(rms_dbfs(&[0; 100]), -120.0);
        let full: Vec<i16> = (0..100).map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN }).collect();
        assert!(rms_dbfs(&full).abs() < 0.01);
        let half: Vec<i16> = full.iter().map(|s| s / 2).collect();
        assert!((rms_dbfs(&half) + 6.02).abs() < 0.05);
    }
}
