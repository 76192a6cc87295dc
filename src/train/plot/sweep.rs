//! Sweep directories in plots: a sweep stands for the runs under its `runs/`, and each of its
//! runs is labelled with its configuration (`sweep-run.json`).

use std::path::{Path, PathBuf};

/// The folder of runs of a sweep directory (`None` when `dir` is not a sweep).
pub fn runs_of(dir: &Path) -> Option<PathBuf> {
    let runs = dir.join("runs");
    (dir.join("manifest.jsonl").is_file() && runs.is_dir()).then_some(runs)
}

/// The configuration label of a sweep's run (`None` for runs outside a sweep).
pub fn label(run: &Path) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("sweep-run.json")).ok()?).ok()?;
    v["label"].as_str().map(str::to_string)
}
