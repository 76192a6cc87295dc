//! The local launcher: each run is a subprocess of this memoraxc executable
//! (`train --sweep DIR --index I`), at most `jobs` at a time, with one progress display for the
//! whole sweep. Finished runs are skipped; interrupted ones resume from their checkpoints.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::status::logged_steps;
use super::{Sweep, SweepError, io_err, marks};

/// Options of a local launch.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Runs at a time.
    pub jobs: usize,
    /// Compute threads of each run (`RAYON_NUM_THREADS` of the subprocesses).
    pub threads_per_run: usize,
    /// `cpu` or `cuda`.
    pub backend: String,
    /// No progress display or per-run lines.
    pub quiet: bool,
    /// The memoraxc executable to run.
    pub exe: PathBuf,
    /// Set on Ctrl-C: no new runs start; running ones checkpoint and stop.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// Default runs at a time: the cores over the threads each run uses.
pub fn default_jobs(threads_per_run: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / threads_per_run.max(1)).max(1)
}

/// What a local launch did.
#[derive(Clone, Debug, Default)]
pub struct LocalOutcome {
    /// Runs that were already done and skipped.
    pub skipped: Vec<usize>,
    /// Runs that finished now.
    pub finished: Vec<usize>,
    /// Runs that failed (with the reason).
    pub failed: Vec<(usize, String)>,
    /// Runs interrupted (Ctrl-C) or never started because of it.
    pub interrupted: Vec<usize>,
    /// Wall time of the launch.
    pub wall_s: f64,
}

struct Running {
    index: usize,
    child: Child,
}

/// Run the given runs of the sweep on this machine.
pub fn launch(
    sweep: &Sweep,
    indices: &[usize],
    o: &LocalOptions,
) -> Result<LocalOutcome, SweepError> {
    let started = Instant::now();
    let mut out = LocalOutcome::default();
    let mut queue: std::collections::VecDeque<usize> = indices
        .iter()
        .copied()
        .filter(|&i| {
            let done = marks::done(&sweep.run_dir(i)).is_some();
            if done {
                out.skipped.push(i);
            }
            !done
        })
        .collect();
    let steps_of = |i: usize| -> u64 {
        let cfg = &sweep.spec.configs[sweep.entries[i].config];
        total_steps(&cfg.program)
    };
    let total: u64 = queue.iter().map(|&i| steps_of(i)).sum();
    let bar = progress_bar(total, o.quiet);
    let say = |msg: String| {
        if o.quiet {
        } else if bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            bar.println(msg);
        }
    };
    if !out.skipped.is_empty() {
        say(format!(
            "{} run(s) already done, skipped",
            out.skipped.len()
        ));
    }
    let logs = sweep.dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    let interrupted = || {
        o.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    };
    let mut running: Vec<Running> = Vec::new();
    let mut finished_steps = 0u64;
    let mut forwarded = false;
    loop {
        while running.len() < o.jobs.max(1) && !interrupted() {
            let Some(i) = queue.pop_front() else { break };
            running.push(Running {
                index: i,
                child: spawn(sweep, i, o)?,
            });
        }
        if running.is_empty() {
            break;
        }
        if interrupted() && !forwarded {
            forwarded = true;
            for r in &running {
                // the children stop at their next iteration with a checkpoint
                let _ = Command::new("kill")
                    .args(["-INT", &r.child.id().to_string()])
                    .status();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut k = 0;
        while k < running.len() {
            let status = running[k].child.try_wait().map_err(io_err(&sweep.dir))?;
            let Some(status) = status else {
                k += 1;
                continue;
            };
            let r = running.swap_remove(k);
            let run = sweep.run_dir(r.index);
            finished_steps += logged_steps(&run).unwrap_or(0);
            if let Some(d) = marks::done(&run) {
                let ret = d["final_eval"]["return_mean"].as_f64().unwrap_or(f64::NAN);
                say(format!("run {} done: return {ret:.3}", r.index));
                out.finished.push(r.index);
            } else if status.success() {
                say(format!("run {} interrupted", r.index));
                out.interrupted.push(r.index);
            } else {
                let reason = match marks::failure(&run) {
                    Some(f) => f.reason,
                    None => {
                        // killed by a signal: the run could not record it
                        let why = format!("process exited with {status}");
                        if run.exists() {
                            let steps = logged_steps(&run);
                            marks::fail(&run, &why, steps)?;
                        }
                        why
                    }
                };
                say(format!(
                    "run {} failed: {reason} (log: {})",
                    r.index,
                    log_path(sweep, r.index).display()
                ));
                out.failed.push((r.index, reason));
            }
        }
        let live: u64 = running
            .iter()
            .map(|r| logged_steps(&sweep.run_dir(r.index)).unwrap_or(0))
            .sum();
        bar.set_position((finished_steps + live).min(total));
        bar.set_message(format!(
            "{} done · {} running · {} failed · {} waiting",
            out.finished.len() + out.skipped.len(),
            running.len(),
            out.failed.len(),
            queue.len()
        ));
    }
    bar.finish_and_clear();
    out.interrupted.extend(queue);
    out.wall_s = started.elapsed().as_secs_f64();
    Ok(out)
}

/// `train.steps` of a canonical program (0 when it cannot be read).
fn total_steps(program: &str) -> u64 {
    let out = crate::check::check_source("sweep", program, &[]);
    out.program
        .agents
        .first()
        .map(|a| a.train.steps)
        .unwrap_or(0)
}

/// The log file of a locally launched run.
pub fn log_path(sweep: &Sweep, index: usize) -> PathBuf {
    sweep.dir.join("logs").join(format!("run-{index}.log"))
}

fn spawn(sweep: &Sweep, index: usize, o: &LocalOptions) -> Result<Child, SweepError> {
    let log = log_path(sweep, index);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io_err(&log))?;
    let err = file.try_clone().map_err(io_err(&log))?;
    Command::new(&o.exe)
        .arg("train")
        .arg("--sweep")
        .arg(&sweep.dir)
        .args(["--index", &index.to_string(), "--quiet", "--backend"])
        .arg(&o.backend)
        .env("RAYON_NUM_THREADS", o.threads_per_run.max(1).to_string())
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| SweepError::Tool(format!("cannot start {}: {e}", o.exe.display())))
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template(
            "sweep [{elapsed_precise}] {bar:30} {pos}/{len} env steps  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.enable_steady_tick(Duration::from_millis(500));
    b
}
