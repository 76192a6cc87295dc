//! One run of a sweep (`memoraxc train --sweep DIR --index I`): the configuration's canonical
//! program with the run's seed, trained into the run directory the manifest names. A finished run
//! is skipped; an interrupted one resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::{Sweep, SweepError, marks};
use crate::check;
use crate::train::{self, Backend, RunSummary, TrainError, TrainOptions};

/// Options of one sweep run.
#[derive(Clone, Debug)]
pub struct EntryOptions {
    /// Device.
    pub backend: Backend,
    /// No dashboard.
    pub quiet: bool,
    /// Env steps between checkpoints (default: the agent's `eval_every`).
    pub checkpoint_every: Option<u64>,
    /// Set when the process should stop (Ctrl-C); the run checkpoints and stops.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Render diagnostics as JSON.
    pub json: bool,
}

/// What happened to the run.
#[derive(Debug)]
pub enum Outcome {
    /// It had finished before; nothing was done.
    AlreadyDone(PathBuf),
    /// It trained to the end now (`resumed`: from a checkpoint of an earlier attempt).
    Finished {
        /// The training summary.
        summary: RunSummary,
        /// Whether it continued an interrupted attempt.
        resumed: bool,
    },
    /// It stopped early (interrupt); it resumes when launched again.
    Interrupted(RunSummary),
}

/// Why a sweep run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The sweep or the index is unusable.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// Training failed (recorded in `failed.json`).
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// The checked agent of run `index`: its configuration's program with `train.seed` set.
pub fn agent_of(sweep: &Sweep, index: usize, json: bool) -> Result<check::ir::Agent, SweepError> {
    let e = &sweep.entries[index];
    let cfg = &sweep.spec.configs[e.config];
    let name = sweep.dir.join(super::SPEC_FILE);
    let out = check::check_source(
        &name.display().to_string(),
        &cfg.program,
        &[format!("train.seed={}", e.seed)],
    );
    if out.diagnostics.has_errors() {
        return Err(SweepError::Diagnostics(out.diagnostics.render(json)));
    }
    let agent = out
        .program
        .agents
        .into_iter()
        .find(|a| a.name == sweep.spec.agent)
        .ok_or_else(|| SweepError::Corrupt {
            path: name.clone(),
            reason: format!(
                "configuration {} has no agent `{}`",
                e.config, sweep.spec.agent
            ),
        })?;
    if agent.hash != cfg.hash {
        return Err(SweepError::Corrupt {
            path: name,
            reason: format!(
                "configuration {} now checks to hash {}, the sweep recorded {} (was it made by \
                 another memoraxc version?)",
                e.config, agent.hash, cfg.hash
            ),
        });
    }
    Ok(agent)
}

/// Check that `index` is a run of the sweep.
pub fn check_index(sweep: &Sweep, index: usize) -> Result<(), SweepError> {
    if index >= sweep.len() {
        return Err(SweepError::User(format!(
            "--index {index}: the sweep has runs 0..={} only",
            sweep.len() - 1
        )));
    }
    Ok(())
}

fn prepare_fresh(sweep: &Sweep, index: usize, run: &Path) -> Result<(), SweepError> {
    if run.exists() {
        // an attempt that died before its first checkpoint: start over
        std::fs::remove_dir_all(run).map_err(super::io_err(run))?;
    }
    std::fs::create_dir_all(run).map_err(super::io_err(run))?;
    let e = &sweep.entries[index];
    let info = serde_json::json!({
        "sweep": sweep.dir,
        "index": e.index,
        "config": e.config,
        "seed": e.seed,
        "overrides": e.overrides,
        "label": sweep.label(e.config),
    });
    super::write_atomic(
        &run.join(marks::RUN_INFO),
        &serde_json::to_string_pretty(&info).expect("json"),
    )
}

/// Train run `index` of the sweep in `dir` (skip it when done, resume it when interrupted).
pub fn run_entry(dir: &Path, index: usize, opts: &EntryOptions) -> Result<Outcome, EntryError> {
    let sweep = Sweep::load(dir)?;
    check_index(&sweep, index)?;
    let run = sweep.run_dir(index);
    if marks::done(&run).is_some() {
        return Ok(Outcome::AlreadyDone(run));
    }
    if let Some(a) = marks::attempt(&run)
        && a.host == marks::host()
        && a.pid != std::process::id()
        && marks::run_process_alive(a.pid)
    {
        return Err(SweepError::User(format!(
            "run {index} is being trained by process {} on {} (since {})",
            a.pid, a.host, a.started
        ))
        .into());
    }
    let agent = agent_of(&sweep, index, opts.json)?;
    let resume = run.join("checkpoints").join("latest").is_file();
    if !resume {
        prepare_fresh(&sweep, index, &run)?;
    }
    marks::start(&run)?;
    let topts = TrainOptions {
        out: sweep.dir.join("runs"),
        resume: resume.then(|| run.clone()),
        run_dir: Some(run.clone()),
        quiet: opts.quiet,
        backend: opts.backend,
        checkpoint_every: opts.checkpoint_every,
        max_iterations: None,
        interrupt: opts.interrupt.clone(),
    };
    match train::run(&agent, &topts) {
        Ok(s) if s.stopped_early => {
            marks::fail(&run, "interrupted", Some(s.env_steps))?;
            Ok(Outcome::Interrupted(s))
        }
        Ok(s) => {
            let summary = serde_json::json!({
                "index": index,
                "seed": sweep.entries[index].seed,
                "hash": agent.hash,
                "env_steps": s.env_steps,
                "final_eval": s.final_eval,
                "sps": s.sps,
                "resumed": resume,
                "finished": train::rundir::timestamp(),
            });
            marks::finish(&run, &summary)?;
            Ok(Outcome::Finished {
                summary: s,
                resumed: resume,
            })
        }
        Err(e) => {
            let steps = crate::train::metrics::read(&run)
                .ok()
                .and_then(|rows| rows.last()?.get("env_steps").copied())
                .map(|s| s as u64);
            marks::fail(&run, &e.to_string(), steps)?;
            Err(e.into())
        }
    }
}
