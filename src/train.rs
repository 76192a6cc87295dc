//! Runs: the training driver, run directories, metrics, TensorBoard logs, checkpoints, dashboard.

pub mod checkpoint;
pub mod dashboard;
pub mod metrics;
pub mod plot;
pub mod rundir;
pub mod tensorboard;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;

use crate::algorithms::{self, AlgoError, eval};
use crate::check::ir;

/// Which device trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// burn-flex on the CPU.
    Cpu,
    /// burn-cuda (requires the `cuda` feature).
    Cuda,
}

/// Options of one training run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Parent of the run directory.
    pub out: PathBuf,
    /// Continue this run directory from its latest checkpoint.
    pub resume: Option<PathBuf>,
    /// Write a fresh run into exactly this directory instead of `<out>/<agent>-<timestamp>`
    /// (runs of a sweep).
    pub run_dir: Option<PathBuf>,
    /// No dashboard or progress lines.
    pub quiet: bool,
    /// Device.
    pub backend: Backend,
    /// Env steps between checkpoints (default: `eval_every`).
    pub checkpoint_every: Option<u64>,
    /// Stop (with a checkpoint) after this many iterations (tests, interrupted runs).
    pub max_iterations: Option<u64>,
    /// Set when Ctrl-C was pressed.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            out: PathBuf::from("runs"),
            resume: None,
            run_dir: None,
            quiet: true,
            backend: Backend::Cpu,
            checkpoint_every: None,
            max_iterations: None,
            interrupt: None,
        }
    }
}

/// What a finished (or stopped) run produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// Env steps taken.
    pub env_steps: u64,
    /// Final evaluation (when the run completed).
    pub final_eval: Option<eval::EvalResult>,
    /// Mean training episode return of the last logged iteration.
    pub last_train_return: Option<f32>,
    /// Steady-state env steps per second.
    pub sps: f64,
    /// True when the run stopped early (interrupt or iteration cap).
    pub stopped_early: bool,
    /// When the first environment step of this process was taken.
    pub first_step: Option<Instant>,
}

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Algorithm failure (divergence, configuration).
    #[error(transparent)]
    Algo(#[from] AlgoError),
    /// Checkpoint failure.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// File system failure.
    #[error("{0}")]
    Io(String),
    /// The backend is not compiled in.
    #[error("{0}")]
    Backend(String),
}

/// The training device for a backend.
pub fn device(backend: Backend) -> Result<Device, TrainError> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        #[cfg(feature = "cuda")]
        Backend::Cuda => Ok(Device::cuda(0usize).autodiff()),
        #[cfg(not(feature = "cuda"))]
        Backend::Cuda => Err(TrainError::Backend(
            "this memoraxc was built without CUDA: rebuild with `--features cuda`".into(),
        )),
    }
}

/// Train a checked agent; writes the run directory and returns a summary.
pub fn run(agent: &ir::Agent, opts: &TrainOptions) -> Result<RunSummary, TrainError> {
    let device = device(opts.backend)?;
    device.seed(agent.train.seed);
    let mut algo = algorithms::build(agent, &device)?;
    let dir = match &opts.resume {
        Some(dir) => {
            let ckpt = checkpoint::latest(dir)?;
            let target = algo.state().target;
            let (model, state) =
                checkpoint::load(&ckpt, &agent.hash, algo.model().clone(), target)?;
            algo.restore(model, state)
                .map_err(|reason| checkpoint::CheckpointError::Invalid { path: ckpt, reason })?;
            metrics::truncate_after(dir, algo.env_steps())
                .map_err(|e| TrainError::Io(format!("{}: {e}", dir.display())))?;
            dir.clone()
        }
        None => match &opts.run_dir {
            Some(dir) => rundir::create_at(dir, agent),
            None => rundir::create(&opts.out, agent),
        }
        .map_err(|e| TrainError::Io(e.to_string()))?,
    };
    let io = |e: std::io::Error| TrainError::Io(format!("{}: {e}", dir.display()));
    let mut metrics = metrics::MetricsWriter::open(&dir).map_err(io)?;
    let mut tb = tensorboard::EventWriter::create(&dir).map_err(io)?;
    let total = agent.train.steps;
    let eval_every = agent.train.eval_every.max(1);
    let ckpt_every = opts.checkpoint_every.unwrap_or(eval_every).max(1);
    let mut dash = dashboard::Dashboard::new(total, algo.env_steps(), opts.quiet);
    let started = Instant::now();
    let (mut next_eval, mut next_ckpt) = (
        next_multiple(algo.env_steps(), eval_every),
        next_multiple(algo.env_steps(), ckpt_every),
    );
    let mut iterations = 0u64;
    let mut last_return = None;
    let mut recent = std::collections::VecDeque::new();
    let mut stopped_early = false;
    let mut first_step = None;
    let (mut sps_steps, mut sps_time) = (0u64, 0f64);
    while algo.env_steps() < total {
        if opts
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
            || opts.max_iterations.is_some_and(|m| iterations >= m)
        {
            stopped_early = true;
            break;
        }
        let t0 = Instant::now();
        first_step.get_or_insert(t0);
        let progress = algo.env_steps() as f64 / total as f64;
        let stats = match algo.iterate(progress) {
            Ok(s) => s,
            Err(e) => {
                dash.finish();
                return Err(e.into());
            }
        };
        let dt = t0.elapsed().as_secs_f64();
        if iterations > 0 {
            sps_steps += stats.env_steps;
            sps_time += dt;
        }
        iterations += 1;
        let steps = algo.env_steps();
        let mut row: BTreeMap<String, f64> = BTreeMap::new();
        row.insert("env_steps".into(), steps as f64);
        row.insert("wall_s".into(), started.elapsed().as_secs_f64());
        row.insert("sps".into(), stats.env_steps as f64 / dt.max(1e-9));
        if let Some((r, l, n)) = stats.episodes {
            row.insert("episode_return".into(), r as f64);
            row.insert("episode_length".into(), l as f64);
            row.insert("episodes".into(), n as f64);
            last_return = Some(r);
            recent.push_back(r);
            if recent.len() > 10 {
                recent.pop_front();
            }
        }
        for (k, v) in &stats.scalars {
            let key = if k.contains('/') {
                k.clone()
            } else {
                format!("loss/{k}")
            };
            row.insert(key, *v as f64);
        }
        if steps >= next_eval || steps >= total {
            next_eval = next_multiple(steps, eval_every);
            if let Some(e) = evaluate(agent, algo.as_ref()) {
                row.insert("eval_return".into(), e.return_mean);
                row.insert("eval_return_std".into(), e.return_std);
                row.insert("eval_length".into(), e.length_mean);
                dash.println(&format!(
                    "step {steps}: eval return {:.3} ± {:.3}",
                    e.return_mean, e.return_std
                ));
            }
        }
        metrics.write(&row).map_err(io)?;
        let tb_rows: Vec<(String, f64)> = row
            .iter()
            .filter(|(k, _)| *k != "env_steps")
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        tb.scalars(steps, &tb_rows).map_err(io)?;
        let mean_recent = if recent.is_empty() {
            f32::NAN
        } else {
            recent.iter().sum::<f32>() / recent.len() as f32
        };
        dash.update(
            steps,
            total,
            &format!("sps {:.0}  return {:.2}", row["sps"], mean_recent),
        );
        if steps >= next_ckpt {
            next_ckpt = next_multiple(steps, ckpt_every);
            checkpoint::save(&dir, steps, &agent.hash, algo.model(), algo.state())?;
        }
    }
    dash.finish();
    checkpoint::save(
        &dir,
        algo.env_steps(),
        &agent.hash,
        algo.model(),
        algo.state(),
    )?;
    let final_eval = if stopped_early {
        None
    } else {
        evaluate(agent, algo.as_ref())
    };
    if let Some(e) = &final_eval {
        let s = serde_json::to_string_pretty(e).expect("json");
        std::fs::write(dir.join("eval.json"), s).map_err(io)?;
    }
    plot::write_run_curve(&dir);
    let sps = if sps_time > 0.0 {
        sps_steps as f64 / sps_time
    } else {
        0.0
    };
    Ok(RunSummary {
        dir,
        env_steps: algo.env_steps(),
        final_eval,
        last_train_return: last_return,
        sps,
        stopped_early,
        first_step,
    })
}

fn next_multiple(steps: u64, every: u64) -> u64 {
    (steps / every + 1) * every
}

/// Greedy evaluation of an algorithm's current policy on fresh environments.
pub fn evaluate(agent: &ir::Agent, algo: &dyn algorithms::Algorithm) -> Option<eval::EvalResult> {
    let episodes = agent.train.eval_episodes as usize;
    let envs = agent
        .hparams
        .get("num_eval_envs")
        .and_then(ir::Value::as_int)
        .unwrap_or(16) as usize;
    let squash = agent.networks.iter().flat_map(|n| &n.heads).any(|(_, h)| {
        h.args
            .get("squash")
            .and_then(ir::Value::as_bool)
            .unwrap_or(false)
    });
    eval::evaluate(
        algo.model(),
        algo.policy_head(),
        &agent.env.id,
        envs.min(episodes.max(1)),
        episodes,
        agent.train.seed.wrapping_add(0x5EED),
        squash,
    )
}

/// Path of a run's stored canonical program.
pub fn arch_path(run: &Path) -> PathBuf {
    run.join("arch.mx")
}
