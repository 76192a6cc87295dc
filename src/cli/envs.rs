//! `memoraxc envs`.

/// Arguments of `memoraxc envs`.
#[derive(clap::Args, Debug)]
pub struct EnvsArgs {
    /// Input files.
    pub files: Vec<std::path::PathBuf>,
}

/// Run the subcommand; returns the exit code.
pub fn run(_args: EnvsArgs) -> u8 {
    eprintln!("not yet available");
    super::EXIT_RUNTIME
}
