//! `memoraxc eval`: evaluate a saved policy greedily.

use std::path::PathBuf;

use crate::train::{self, checkpoint};

/// Arguments of `memoraxc eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Episodes to evaluate (default: the agent's `eval_episodes`).
    #[arg(long)]
    pub episodes: Option<u64>,
    /// Checkpoint directory (default: the run's latest).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the evaluation environments.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::train::Format,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: EvalArgs) -> u8 {
    let arch = train::arch_path(&args.run);
    if !arch.exists() {
        eprintln!(
            "error: {} is not a run directory (no arch.mx)",
            args.run.display()
        );
        return super::EXIT_USER;
    }
    let json = args.format == super::train::Format::Json;
    let mut agent = match super::train::load_agent(&arch, None, &[], json) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Some(e) = args.episodes {
        agent.train.eval_episodes = e;
    }
    agent.train.seed = args.seed;
    let device = match train::device(train::Backend::Cpu) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USER;
        }
    };
    let algo = match crate::algorithms::build(&agent, &device) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USER;
        }
    };
    let ckpt = match args
        .checkpoint
        .clone()
        .map(Ok)
        .unwrap_or_else(|| checkpoint::latest(&args.run))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USER;
        }
    };
    let mut algo = algo;
    match checkpoint::load(&ckpt, &agent.hash, algo.model().clone(), None) {
        Ok((model, state)) => {
            if let Err(e) = algo.restore(model, state) {
                eprintln!("error: {}: {e}", ckpt.display());
                return super::EXIT_USER;
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USER;
        }
    }
    match train::evaluate(&agent, algo.as_ref()) {
        Some(r) => {
            if json {
                println!("{}", serde_json::to_string(&r).expect("json"));
            } else {
                println!(
                    "{} episodes: return {:.3} ± {:.3}, length {:.1}",
                    r.episodes, r.return_mean, r.return_std, r.length_mean
                );
            }
            super::EXIT_OK
        }
        None => {
            eprintln!("error: environment `{}` is not available", agent.env.id);
            super::EXIT_RUNTIME
        }
    }
}
