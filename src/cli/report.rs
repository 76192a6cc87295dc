//! `memoraxc report`: per-configuration statistics over seeds (n, mean, IQM, 95 % stratified
//! bootstrap CIs) as a paper table with each configuration's `.mx` snippet and hash.

use std::path::PathBuf;

use crate::stats::Bootstrap;
use crate::sweep::report::{self, Format, Metric};

/// Arguments of `memoraxc report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Sweep directories, run directories or parents of runs.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Score of each run: `return` (final evaluation), `length`, or any `metrics.jsonl` key
    /// (its last logged value).
    #[arg(long, default_value = "return")]
    pub metric: String,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = crate::stats::DEFAULT_REPS)]
    pub bootstrap_reps: usize,
    /// Seed of the bootstrap (the report is deterministic for a given seed).
    #[arg(long, default_value_t = crate::stats::DEFAULT_SEED)]
    pub bootstrap_seed: u64,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: ReportArgs) -> u8 {
    let metric = Metric::parse(&args.metric);
    let groups = match report::collect(&args.dirs, &metric) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let boot = Bootstrap {
        reps: args.bootstrap_reps,
        seed: args.bootstrap_seed,
        ..Bootstrap::default()
    };
    let rows = report::summarise(groups, boot);
    if rows.iter().all(|r| r.n == 0) {
        eprintln!(
            "error: no run has a {} yet (unfinished runs?)",
            metric.describe()
        );
        return super::EXIT_USER;
    }
    let text = report::render(&rows, args.format, &metric, &boot);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: {}: {e}", path.display());
                return super::EXIT_RUNTIME;
            }
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    super::EXIT_OK
}
