//! The command line: one file per subcommand; this file only dispatches.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod blocks;
pub mod check;
pub mod envs;
pub mod eval;
pub mod expand;
pub mod explain;
pub mod fmt;
pub mod plot;
pub mod report;
pub mod summary;
pub mod sweep;
pub mod train;
pub mod vs_memorax;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: diagnostics or user error.
pub const EXIT_USER: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: runtime failure (I/O, divergence).
pub const EXIT_RUNTIME: u8 = 3;

#[cfg(feature = "cuda")]
macro_rules! backends {
    () => {
        "cpu, cuda"
    };
}
#[cfg(not(feature = "cuda"))]
macro_rules! backends {
    () => {
        "cpu"
    };
}

/// `memoraxc --version`: the version and the backends compiled in.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (backends: ", backends!(), ")");

/// memoraxc: write memory-RL agents in `.mx`, check them, train them.
#[derive(Parser, Debug)]
#[command(name = "memoraxc", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// All subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, resolve and check files; print all diagnostics.
    Check(check::CheckArgs),
    /// Print files in canonical form (in place, or verify with --check).
    Fmt(fmt::FmtArgs),
    /// Per-block table: path, block, in → out, carry, params; totals and the architecture hash.
    Summary(summary::SummaryArgs),
    /// Print the fully elaborated operative config of an agent.
    Expand(expand::ExpandArgs),
    /// List blocks, or document one.
    Blocks(blocks::BlocksArgs),
    /// Explain a diagnostic code.
    Explain(explain::ExplainArgs),
    /// List environments, or run a random-policy baseline.
    Envs(envs::EnvsArgs),
    /// Check, lower and train an agent; writes a run directory.
    Train(train::TrainArgs),
    /// Evaluate a saved policy greedily.
    Eval(eval::EvalArgs),
    /// Throughput benchmarks of the SPEC §9 workloads (SPS, wall, peak RSS, FLOP/s).
    Bench(bench::BenchArgs),
    /// Learning curves (return vs env steps; mean ± band over seeds) as PNG or SVG.
    Plot(plot::PlotArgs),
    /// Seed and hyperparameter sweeps, locally or as a Slurm job array; `status`, `resubmit`.
    Sweep(sweep::SweepArgs),
    /// Per-configuration statistics over seeds (mean, IQM, 95% bootstrap CIs) as a paper table.
    Report(report::ReportArgs),
}

/// When the process started (for time-to-first-step figures).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Parse arguments and run; returns the process exit code.
pub fn run() -> u8 {
    STARTED.get_or_init(std::time::Instant::now);
    // bridged environments: the checker asks the bridge for their spaces through this hook
    crate::check::external::install(std::sync::Arc::new(crate::envs::bridge::spaces));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Expand(a) => expand::run(a),
        Command::Blocks(a) => blocks::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Envs(a) => envs::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Report(a) => report::run(a),
    }
}
