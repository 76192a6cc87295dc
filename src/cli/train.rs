//! `memoraxc train`.

/// Arguments of `memoraxc train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: TrainArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
