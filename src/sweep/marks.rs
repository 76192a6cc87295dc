//! Markers in the run directory of a sweep run: `attempt.json` while a process works on it,
//! `done.json` once it finished (with its final evaluation), `failed.json` when an attempt failed
//! or was interrupted, and `sweep-run.json` describing the run (index, configuration, seed).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{SweepError, write_atomic};

/// Marker of a finished run.
pub const DONE: &str = "done.json";
/// Marker of the attempt in progress.
pub const ATTEMPT: &str = "attempt.json";
/// Marker of a failed (or interrupted) attempt.
pub const FAILED: &str = "failed.json";
/// Description of the run within its sweep.
pub const RUN_INFO: &str = "sweep-run.json";

/// A process working on a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// When it started (UTC `YYYYmmdd-HHMMSS`).
    pub started: String,
    /// `<array job>_<task>` under Slurm.
    pub slurm: Option<String>,
}

/// Why an attempt ended without finishing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error, or `interrupted`.
    pub reason: String,
    /// Env steps reached (the run resumes from its last checkpoint).
    pub env_steps: Option<u64>,
    /// When (UTC `YYYYmmdd-HHMMSS`).
    pub at: String,
}

/// Name of this host.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether process `pid` on this host is alive and a memoraxc sweep run (Linux `/proc`; elsewhere
/// assumed alive).
pub fn run_process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    std::fs::read(proc.join(pid.to_string()).join("cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("--sweep"))
        .unwrap_or(false)
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write<T: Serialize>(path: &Path, v: &T) -> Result<(), SweepError> {
    write_atomic(path, &serde_json::to_string_pretty(v).expect("json"))
}

/// The attempt recorded in a run directory.
pub fn attempt(run: &Path) -> Option<Attempt> {
    read(&run.join(ATTEMPT))
}

/// The failure recorded in a run directory.
pub fn failure(run: &Path) -> Option<Failure> {
    read(&run.join(FAILED))
}

/// The `done.json` of a finished run.
pub fn done(run: &Path) -> Option<serde_json::Value> {
    read(&run.join(DONE))
}

/// Record that this process starts working on the run (clears an earlier failure).
pub fn start(run: &Path) -> Result<(), SweepError> {
    let slurm = match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(j), Ok(t)) => Some(format!("{j}_{t}")),
        _ => std::env::var("SLURM_JOB_ID").ok(),
    };
    let a = Attempt {
        pid: std::process::id(),
        host: host(),
        started: crate::train::rundir::timestamp(),
        slurm,
    };
    write(&run.join(ATTEMPT), &a)?;
    let _ = std::fs::remove_file(run.join(FAILED));
    Ok(())
}

/// Record that the run finished, with `summary` (env steps, final evaluation).
pub fn finish(run: &Path, summary: &serde_json::Value) -> Result<(), SweepError> {
    write(&run.join(DONE), summary)?;
    let _ = std::fs::remove_file(run.join(ATTEMPT));
    Ok(())
}

/// Record that the attempt ended without finishing.
pub fn fail(run: &Path, reason: &str, env_steps: Option<u64>) -> Result<(), SweepError> {
    let f = Failure {
        reason: reason.to_string(),
        env_steps,
        at: crate::train::rundir::timestamp(),
    };
    write(&run.join(FAILED), &f)?;
    let _ = std::fs::remove_file(run.join(ATTEMPT));
    Ok(())
}
