//! `memoraxc check`.

/// Arguments of `memoraxc check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: CheckArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
