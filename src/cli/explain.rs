//! `memoraxc explain`.

/// Arguments of `memoraxc explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A diagnostic code such as `MX0303`; without one, list all codes.
    pub code: Option<String>,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: ExplainArgs) -> u8 {
    use crate::diag::codes;
    match args.code {
        None => {
            for c in codes::all() {
                println!("{}  {}", c.code, c.title);
            }
            super::EXIT_OK
        }
        Some(c) => match codes::lookup(&c) {
            Some(info) => {
                println!("{}: {}\n\n{}", info.code, info.title, info.explain);
                super::EXIT_OK
            }
            None => {
                eprintln!("error: unknown code `{c}` (`memoraxc explain` lists all)");
                super::EXIT_USER
            }
        },
    }
}
