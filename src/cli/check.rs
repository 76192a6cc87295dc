//! `memoraxc check`.

use std::io::IsTerminal;

/// Output format of diagnostics.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DiagFormat {
    /// Human-readable (miette).
    #[default]
    Text,
    /// JSON.
    Json,
}

/// Arguments of `memoraxc check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Diagnostic format.
    #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
    pub format: DiagFormat,
    /// Override a setting: `--set optimizer.lr=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// True when colored output should be used on stderr.
pub fn use_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Print diagnostics of a check run to stderr (text) or stdout (json).
pub fn print_diagnostics(d: &crate::diag::Diagnostics, format: DiagFormat) {
    match format {
        DiagFormat::Json => println!("{}", d.render(true)),
        DiagFormat::Text => {
            let s = d.render_with(use_color());
            if !s.is_empty() {
                eprint!("{s}");
            }
        }
    }
}

/// Run the subcommand; returns the exit code.
pub fn run(args: CheckArgs) -> u8 {
    let mut failed = false;
    for f in &args.files {
        let out = crate::check::check_path(f, &args.set);
        print_diagnostics(&out.diagnostics, args.format);
        let d = &out.diagnostics;
        if d.has_errors() {
            failed = true;
        }
        if args.format == DiagFormat::Text {
            let (e, w) = (d.error_count(), d.warning_count());
            if e > 0 {
                eprintln!("{}: {e} error(s), {w} warning(s)", f.display());
            } else {
                let n = out.program.agents.len();
                eprintln!(
                    "{}: ok ({n} agent(s), {} let(s), {w} warning(s))",
                    f.display(),
                    out.program.lets.len()
                );
            }
        }
    }
    if failed {
        super::EXIT_USER
    } else {
        super::EXIT_OK
    }
}
