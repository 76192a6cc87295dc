//! `manifest.jsonl`: one line per run (index, configuration, overrides, seed, run directory).
//! Built from `sweep.yaml` at creation; on load it must equal what that grid gives, line by line.

use serde::{Deserialize, Serialize};

use super::Spec;

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Run index (`train --sweep DIR --index I`, the Slurm array task id).
    pub index: usize,
    /// Configuration index in `sweep.yaml`.
    pub config: usize,
    /// The configuration's `key=value` overrides.
    pub overrides: Vec<String>,
    /// Seed (`train.seed`).
    pub seed: u64,
    /// Run directory, relative to the sweep directory.
    pub run: String,
}

/// The runs of a sweep: configurations in order, each with every seed (seeds vary fastest).
pub fn build(spec: &Spec) -> Vec<Entry> {
    let n = spec.configs.len() * spec.seeds.len();
    let width = n.saturating_sub(1).to_string().len().max(4);
    let mut out = Vec::with_capacity(n);
    for c in &spec.configs {
        for &seed in &spec.seeds {
            let index = out.len();
            out.push(Entry {
                index,
                config: c.index,
                overrides: c.overrides.clone(),
                seed,
                run: format!("runs/{index:0width$}"),
            });
        }
    }
    out
}

/// The manifest's text: one JSON object per line.
pub fn render(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| serde_json::to_string(e).expect("json") + "\n")
        .collect()
}

/// Parse the manifest; errors name the line and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let e: Entry = serde_json::from_str(line).map_err(|e| {
            format!(
                "line {}: not a manifest entry ({e}); the manifest was edited or damaged",
                i + 1
            )
        })?;
        out.push(e);
    }
    if out.is_empty() {
        return Err("empty manifest".into());
    }
    Ok(out)
}

/// Check parsed entries against the grid of `spec`; the first difference names its line.
pub fn verify(entries: &[Entry], spec: &Spec) -> Result<(), String> {
    let expected = build(spec);
    for (i, (got, want)) in entries.iter().zip(&expected).enumerate() {
        if got != want {
            return Err(format!(
                "line {}: {} does not match the sweep's grid (expected {}); the manifest was \
                 edited by hand or belongs to another sweep",
                i + 1,
                serde_json::to_string(got).expect("json"),
                serde_json::to_string(want).expect("json"),
            ));
        }
    }
    if entries.len() != expected.len() {
        return Err(format!(
            "{} runs listed, the grid in sweep.yaml has {}; the manifest was edited or truncated",
            entries.len(),
            expected.len()
        ));
    }
    Ok(())
}
