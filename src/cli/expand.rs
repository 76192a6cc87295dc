//! `memoraxc expand`.

/// Arguments of `memoraxc expand`.
#[derive(clap::Args, Debug)]
pub struct ExpandArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: ExpandArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
