//! The `memoraxc` binary: everything lives in the library; this only maps the exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(memoraxc::cli::run())
}
