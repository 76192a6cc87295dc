//! `memoraxc fmt`.

/// Arguments of `memoraxc fmt`.
#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: FmtArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
