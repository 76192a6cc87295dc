//! `memoraxc plot`: learning curves of run directories as PNG or SVG.

use std::path::PathBuf;

use crate::train::plot::{self, Band, Center, Metric, PlotOptions};

/// Arguments of `memoraxc plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Run directories (or a parent directory of runs); runs sharing a `hash` are averaged.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Output image; the format follows the extension (`.png` or `.svg`).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Plotted value (default: `eval_return` when every run has it, else `episode_return`).
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Band around the line of several runs of one configuration (default: `ci` for a sweep
    /// directory, else `std`).
    #[arg(long, value_enum)]
    pub band: Option<Band>,
    /// Line of several runs of one configuration: `mean` or `iqm`.
    #[arg(long, value_enum, default_value = "mean")]
    pub center: Center,
    /// Title (default: from the agent and metric).
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1024)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 640)]
    pub height: u32,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: PlotArgs) -> u8 {
    let opts = PlotOptions {
        metric: args.metric,
        band: args.band.unwrap_or(
            if args
                .runs
                .iter()
                .any(|r| crate::sweep::Sweep::is_sweep_dir(r))
            {
                Band::Ci
            } else {
                Band::Std
            },
        ),
        center: args.center,
        title: args.title,
        size: (args.width, args.height),
    };
    let runs = plot::expand_runs(&args.runs);
    match plot::plot_runs_with(&runs, &args.output, &opts) {
        Ok(s) => {
            let n: usize = s.curves.iter().map(|c| c.runs.len()).sum();
            println!(
                "wrote {} ({}: {} run(s), {} configuration(s))",
                args.output.display(),
                s.metric.key(),
                n,
                s.curves.len()
            );
            super::EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_user_error() {
                super::EXIT_USER
            } else {
                super::EXIT_RUNTIME
            }
        }
    }
}
