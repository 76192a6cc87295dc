//! `memoraxc blocks`.

/// Arguments of `memoraxc blocks`.
#[derive(clap::Args, Debug)]
pub struct BlocksArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: BlocksArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
