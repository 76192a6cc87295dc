//! Metrics files: `metrics.jsonl` (one object per log point) and `metrics.csv` (fixed columns).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Columns of `metrics.csv`, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "env_steps",
    "wall_s",
    "sps",
    "episode_return",
    "episode_length",
    "episodes",
    "eval_return",
    "eval_return_std",
    "eval_length",
];

/// Appends metrics rows to the run directory.
pub struct MetricsWriter {
    jsonl: BufWriter<File>,
    csv: BufWriter<File>,
}

impl MetricsWriter {
    /// Open (append) the metrics files of a run directory.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let csv_path = dir.join("metrics.csv");
        let new_csv = !csv_path.exists();
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
        };
        let mut csv = BufWriter::new(open(&csv_path)?);
        if new_csv {
            writeln!(csv, "{}", CSV_COLUMNS.join(","))?;
        }
        Ok(MetricsWriter {
            jsonl: BufWriter::new(open(&dir.join("metrics.jsonl"))?),
            csv,
        })
    }

    /// Write one row.
    pub fn write(&mut self, row: &BTreeMap<String, f64>) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.jsonl, row)?;
        writeln!(self.jsonl)?;
        let cells: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|c| row.get(*c).map(|v| format!("{v}")).unwrap_or_default())
            .collect();
        writeln!(self.csv, "{}", cells.join(","))?;
        self.jsonl.flush()?;
        self.csv.flush()
    }
}

/// Drop rows logged after `env_steps` (a run resumed from an earlier checkpoint logs them again).
pub fn truncate_after(dir: &Path, env_steps: u64) -> std::io::Result<()> {
    let keep = |steps: Option<f64>| steps.is_some_and(|s| s <= env_steps as f64);
    let rewrite = |name: &str, header: bool, steps: &dyn Fn(&str) -> Option<f64>| {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            if (header && i == 0) || keep(steps(line)) {
                out.push_str(line);
                out.push('\n');
            }
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, out)?;
        std::fs::rename(&tmp, &path)
    };
    rewrite("metrics.jsonl", false, &|l| {
        serde_json::from_str::<BTreeMap<String, f64>>(l)
            .ok()
            .and_then(|r| r.get("env_steps").copied())
    })?;
    rewrite("metrics.csv", true, &|l| {
        l.split(',').next().and_then(|c| c.parse().ok())
    })
}

/// Read `metrics.jsonl` of a run.
pub fn read(dir: &Path) -> std::io::Result<Vec<BTreeMap<String, f64>>> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl"))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
