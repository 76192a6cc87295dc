//! The state of each run of a sweep (done / running / failed / pending), from the run
//! directories and, for runs submitted to Slurm, the scheduler.

use std::path::Path;

use serde::Serialize;

use super::{Sweep, marks, slurm};

/// State of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Finished (`done.json`).
    Done,
    /// A process (or Slurm task) is working on it.
    Running,
    /// The last attempt failed, was interrupted or killed; it resumes from its last checkpoint.
    Failed,
    /// Not started (or queued).
    Pending,
}

impl State {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Running => "running",
            State::Failed => "failed",
            State::Pending => "pending",
        }
    }
}

/// One run's status line.
#[derive(Clone, Debug, Serialize)]
pub struct RunStatus {
    /// Run index.
    pub index: usize,
    /// Configuration index.
    pub config: usize,
    /// Seed.
    pub seed: u64,
    /// The state.
    pub state: State,
    /// Env steps logged so far.
    pub env_steps: Option<u64>,
    /// Details: the failure, the process or Slurm task, the queue state.
    pub detail: String,
}

/// Env steps of the last metrics row of a run.
pub fn logged_steps(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).ok()?;
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let row: serde_json::Value = serde_json::from_str(last).ok()?;
    row["env_steps"].as_f64().map(|s| s as u64)
}

/// The state of every run; `use_slurm`: ask Slurm about submitted runs when it is there.
pub fn status(sweep: &Sweep, use_slurm: bool) -> Vec<RunStatus> {
    let subs = slurm::submissions(sweep);
    let queue = if use_slurm && !subs.is_empty() {
        let mut jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
        jobs.dedup();
        slurm::query(&jobs)
    } else {
        None
    };
    let host = marks::host();
    sweep
        .entries
        .iter()
        .map(|e| {
            let run = sweep.run_dir(e.index);
            let env_steps = logged_steps(&run);
            let job = subs
                .iter()
                .rev()
                .find(|s| s.indices.contains(&e.index))
                .map(|s| s.job.clone());
            let (state, detail) = if let Some(d) = marks::done(&run) {
                let ret = d["final_eval"]["return_mean"].as_f64();
                let detail = ret.map(|r| format!("return {r:.3}")).unwrap_or_default();
                (State::Done, detail)
            } else if let (Some(q), Some(job)) = (&queue, &job) {
                slurm_state(q, job, e.index, &run)
            } else {
                local_state(&run, &host)
            };
            RunStatus {
                index: e.index,
                config: e.config,
                seed: e.seed,
                state,
                env_steps,
                detail,
            }
        })
        .collect()
}

fn failure_detail(run: &Path) -> String {
    match marks::failure(run) {
        Some(f) if f.reason == "interrupted" => format!(
            "interrupted at step {}; resumes from its checkpoint",
            f.env_steps.unwrap_or(0)
        ),
        Some(f) => f.reason,
        None => "failed".into(),
    }
}

fn local_state(run: &Path, host: &str) -> (State, String) {
    if let Some(a) = marks::attempt(run) {
        if a.host != host {
            let on = a.slurm.map(|j| format!(" (Slurm {j})")).unwrap_or_default();
            return (State::Running, format!("on {}{on}", a.host));
        }
        if marks::run_process_alive(a.pid) {
            return (State::Running, format!("pid {}", a.pid));
        }
        return (
            State::Failed,
            format!(
                "process {} is gone (killed?); resumes from its checkpoint",
                a.pid
            ),
        );
    }
    if marks::failure(run).is_some() {
        return (State::Failed, failure_detail(run));
    }
    (State::Pending, String::new())
}

fn slurm_state(
    q: &std::collections::HashMap<(String, usize), String>,
    job: &str,
    index: usize,
    run: &Path,
) -> (State, String) {
    let task = format!("job {job}_{index}");
    match q.get(&(job.to_string(), index)).map(String::as_str) {
        Some("RUNNING" | "COMPLETING" | "CONFIGURING") => (State::Running, task),
        Some(
            st @ ("PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "SUSPENDED"
            | "RESIZING"),
        ) => (State::Pending, format!("{task} {}", st.to_lowercase())),
        Some(st) => {
            let why = if marks::failure(run).is_some() {
                failure_detail(run)
            } else {
                "not finished".into()
            };
            (
                State::Failed,
                format!("{task} {}: {why}", st.to_lowercase()),
            )
        }
        None => (
            State::Failed,
            format!("{task} has left the queue without finishing"),
        ),
    }
}
