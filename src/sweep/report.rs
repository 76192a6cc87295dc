//! `memoraxc report`: per-configuration statistics over seeds — number of seeds, mean and
//! interquartile mean with 95 % stratified-bootstrap confidence intervals — of the final
//! evaluation return (or another metric), from sweep directories and run directories.

mod format;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Sweep, SweepError};
use crate::stats::{self, Bootstrap, Estimate};

pub use format::{Format, render};

/// The score of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Final evaluation return (`eval.json` `return_mean`).
    Return,
    /// Final evaluation episode length (`eval.json` `length_mean`).
    Length,
    /// The last logged value of a `metrics.jsonl` key (e.g. `episode_return`).
    Key(String),
}

impl Metric {
    /// Parse `--metric`.
    pub fn parse(s: &str) -> Metric {
        match s {
            "return" | "eval_return" => Metric::Return,
            "length" | "eval_length" => Metric::Length,
            k => Metric::Key(k.to_string()),
        }
    }

    /// Description for captions.
    pub fn describe(&self) -> String {
        match self {
            Metric::Return => "final evaluation return".into(),
            Metric::Length => "final evaluation episode length".into(),
            Metric::Key(k) => format!("last logged `{k}`"),
        }
    }

    /// The score of the run in `dir`, if it has one.
    pub fn score(&self, dir: &Path) -> Option<f64> {
        let eval = |field: &str| -> Option<f64> {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("eval.json")).ok()?).ok()?;
            v[field].as_f64()
        };
        match self {
            Metric::Return => eval("return_mean"),
            Metric::Length => eval("length_mean"),
            Metric::Key(k) => crate::train::metrics::read(dir)
                .ok()?
                .iter()
                .rev()
                .find_map(|r| r.get(k).copied()),
        }
    }
}

/// One run of a configuration.
#[derive(Clone, Debug, Serialize)]
pub struct RunScore {
    /// The run directory.
    pub dir: PathBuf,
    /// Its environment (the bootstrap stratum).
    pub env: String,
    /// Its score (`None`: unfinished or missing).
    pub score: Option<f64>,
}

/// A configuration with its runs.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Label (a sweep configuration's overrides, else the agent name).
    pub label: String,
    /// Agent name.
    pub agent: String,
    /// Architecture hash.
    pub hash: String,
    /// Canonical `.mx` program.
    pub program: String,
    /// Runs (seeds).
    pub runs: Vec<RunScore>,
}

/// Statistics of one configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The configuration.
    #[serde(flatten)]
    pub group: Group,
    /// Runs with a score.
    pub n: usize,
    /// Runs without one (unfinished).
    pub missing: usize,
    /// Environments of the scored runs.
    pub envs: Vec<String>,
    /// The scores.
    pub scores: Vec<f64>,
    /// Mean with its 95 % CI.
    pub mean: Estimate,
    /// IQM with its 95 % CI.
    pub iqm: Estimate,
}

fn read_text(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn config_field(dir: &Path, key: &str) -> Option<String> {
    let v: crate::syntax::yaml::Value =
        crate::syntax::yaml::from_str(&read_text(&dir.join("config.yaml"))?).ok()?;
    v.get(key)?.as_str().map(str::to_string)
}

fn add(groups: &mut Vec<Group>, g: Group) {
    match groups.iter_mut().find(|x| x.hash == g.hash) {
        Some(x) => x.runs.extend(g.runs),
        None => groups.push(g),
    }
}

/// Collect configurations from sweep directories and run directories (or parents of runs);
/// configurations with the same hash are merged.
pub fn collect(dirs: &[PathBuf], metric: &Metric) -> Result<Vec<Group>, SweepError> {
    let mut groups = Vec::new();
    let score = |dir: PathBuf| RunScore {
        env: config_field(&dir, "env").unwrap_or_default(),
        score: metric.score(&dir),
        dir,
    };
    for d in dirs {
        if !d.exists() {
            return Err(SweepError::User(format!(
                "{}: no such directory",
                d.display()
            )));
        }
        if Sweep::is_sweep_dir(d) {
            let s = Sweep::load(d)?;
            for c in &s.spec.configs {
                let runs = s
                    .entries
                    .iter()
                    .filter(|e| e.config == c.index)
                    .map(|e| score(s.run_dir(e.index)))
                    .collect();
                add(
                    &mut groups,
                    Group {
                        label: s.label(c.index),
                        agent: s.spec.agent.clone(),
                        hash: c.hash.clone(),
                        program: c.program.clone(),
                        runs,
                    },
                );
            }
            continue;
        }
        let runs = crate::train::plot::expand_runs(std::slice::from_ref(d));
        for r in runs {
            if !r.join("hash").is_file() {
                return Err(SweepError::User(format!(
                    "{}: neither a sweep directory nor a run directory (no sweep.yaml, no hash)",
                    r.display()
                )));
            }
            let hash = read_text(&r.join("hash"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let agent = config_field(&r, "agent").unwrap_or_else(|| "agent".into());
            add(
                &mut groups,
                Group {
                    label: agent.clone(),
                    agent,
                    hash,
                    program: read_text(&r.join("arch.mx")).unwrap_or_default(),
                    runs: vec![score(r)],
                },
            );
        }
    }
    if groups.is_empty() {
        return Err(SweepError::User("no runs found".into()));
    }
    Ok(groups)
}

/// Statistics of each configuration: strata are the environments of its runs.
pub fn summarise(groups: Vec<Group>, boot: Bootstrap) -> Vec<Row> {
    groups
        .into_iter()
        .map(|g| {
            let mut envs: Vec<String> = Vec::new();
            let mut strata: Vec<Vec<f64>> = Vec::new();
            let mut scores = Vec::new();
            for r in &g.runs {
                let Some(s) = r.score.filter(|s| s.is_finite()) else {
                    continue;
                };
                scores.push(s);
                match envs.iter().position(|e| *e == r.env) {
                    Some(i) => strata[i].push(s),
                    None => {
                        envs.push(r.env.clone());
                        strata.push(vec![s]);
                    }
                }
            }
            let mean = stats::stratified_bootstrap(&strata, stats::mean, boot);
            let iqm = stats::stratified_bootstrap(&strata, stats::iqm, boot);
            Row {
                n: scores.len(),
                missing: g.runs.len() - scores.len(),
                envs,
                scores,
                mean,
                iqm,
                group: g,
            }
        })
        .collect()
}
