//! `memoraxc train`: check, lower and train an agent.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::check::{self, ir};
use crate::train::{self, Backend, TrainOptions};

/// Arguments of `memoraxc train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The `.mx` file holding the agent (optional with `--resume`).
    pub file: Option<PathBuf>,
    /// Agent to train (required when the file has several).
    #[arg(long)]
    pub agent: Option<String>,
    /// Override a setting, checked like source text (e.g. `train.steps=20_000`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seed (same as `--set train.seed=S`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Parent directory of the run directory.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Device backend.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Backend,
    /// Continue a run directory from its latest checkpoint.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<PathBuf>,
    /// Train run `--index` of a sweep directory (settings from the sweep; a finished run is
    /// skipped, an interrupted one resumes).
    #[arg(long, value_name = "DIR", requires = "index",
          conflicts_with_all = ["file", "agent", "set", "seed", "resume"])]
    pub sweep: Option<PathBuf>,
    /// Index of the run in the sweep's manifest (with `--sweep`).
    #[arg(long, value_name = "I", requires = "sweep")]
    pub index: Option<usize>,
    /// Env steps between checkpoints (default: the agent's `eval_every`).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// No dashboard or progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Diagnostics format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Output format of diagnostics and the final summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable.
    Text,
    /// JSON.
    Json,
}

/// Check a file (with overrides) and pick one agent; prints diagnostics and returns an exit code
/// on failure.
pub fn load_agent(
    file: &std::path::Path,
    agent: Option<&str>,
    overrides: &[String],
    json: bool,
) -> Result<ir::Agent, u8> {
    let out = check::check_path(file, overrides);
    let rendered = out.diagnostics.render(json);
    if !rendered.is_empty() {
        eprint!("{rendered}");
    }
    if out.diagnostics.has_errors() {
        return Err(super::EXIT_USER);
    }
    let agents = out.program.agents;
    match agent {
        Some(name) => agents.into_iter().find(|a| a.name == name).ok_or_else(|| {
            eprintln!("error: no agent `{name}` in {}", file.display());
            super::EXIT_USER
        }),
        None if agents.len() == 1 => Ok(agents.into_iter().next().expect("one agent")),
        None if agents.is_empty() => {
            eprintln!("error: {} defines no agent", file.display());
            Err(super::EXIT_USER)
        }
        None => {
            let names: Vec<_> = agents.iter().map(|a| a.name.as_str()).collect();
            eprintln!(
                "error: {} defines several agents; pick one with --agent ({})",
                file.display(),
                names.join(", ")
            );
            Err(super::EXIT_USER)
        }
    }
}

/// Run the subcommand; returns the exit code.
pub fn run(args: TrainArgs) -> u8 {
    if let (Some(dir), Some(index)) = (&args.sweep, args.index) {
        return super::sweep::train_entry(dir, index, &args);
    }
    let mut overrides = args.set.clone();
    if let Some(s) = args.seed {
        overrides.push(format!("train.seed={s}"));
    }
    let json = args.format == Format::Json;
    let file = match (&args.file, &args.resume) {
        (Some(f), _) => f.clone(),
        (None, Some(run)) => train::arch_path(run),
        (None, None) => {
            eprintln!("error: give an agent file, or --resume RUN");
            return super::EXIT_USAGE;
        }
    };
    if !file.exists() {
        eprintln!("error: {}: no such file", file.display());
        return super::EXIT_USER;
    }
    let agent = match load_agent(&file, args.agent.as_deref(), &overrides, json) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let opts = TrainOptions {
        out: args.out.clone(),
        resume: args.resume.clone(),
        run_dir: None,
        quiet: args.quiet,
        backend: args.backend,
        checkpoint_every: args.checkpoint_every,
        max_iterations: None,
        interrupt: Some(interrupt),
    };
    if !args.quiet {
        eprintln!(
            "training `{}` ({}) on {} for {} env steps",
            agent.name, agent.algorithm, agent.env.id, agent.train.steps
        );
    }
    match train::run(&agent, &opts) {
        Ok(s) => {
            let summary = serde_json::json!({
                "run": s.dir,
                "env_steps": s.env_steps,
                "sps": s.sps,
                "stopped_early": s.stopped_early,
                "final_eval": s.final_eval,
                "peak_rss_mb": super::bench::peak_rss_mb(),
                "first_step_s": s.first_step.and_then(|t| super::STARTED.get().map(|p| t.duration_since(*p).as_secs_f64())),
            });
            if json {
                println!("{summary}");
            } else {
                println!("run directory: {}", s.dir.display());
                println!("env steps: {}  steady SPS: {:.0}", s.env_steps, s.sps);
                match &s.final_eval {
                    Some(e) => println!(
                        "final eval: return {:.3} ± {:.3} over {} episodes (length {:.1})",
                        e.return_mean, e.return_std, e.episodes, e.length_mean
                    ),
                    None => println!(
                        "stopped early; resume with: memoraxc train --resume {}",
                        s.dir.display()
                    ),
                }
            }
            super::EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                train::TrainError::Checkpoint(_) | train::TrainError::Backend(_) => {
                    super::EXIT_USER
                }
                _ => super::EXIT_RUNTIME,
            }
        }
    }
}
