//! `memoraxc summary`.

/// Arguments of `memoraxc summary`.
#[derive(clap::Args, Debug)]
pub struct SummaryArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: SummaryArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
