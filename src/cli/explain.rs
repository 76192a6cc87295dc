//! `memoraxc explain`.

/// Arguments of `memoraxc explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: ExplainArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
