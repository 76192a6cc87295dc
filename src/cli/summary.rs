//! `memoraxc summary`.

use crate::report::summary::{self, Format};

/// Arguments of `memoraxc summary`.
#[derive(clap::Args, Debug)]
pub struct SummaryArgs {
    /// Input file.
    pub file: std::path::PathBuf,
    /// Agent to summarise (default: every agent, or every architecture `let`).
    #[arg(long)]
    pub agent: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Input width for architecture `let`s.
    #[arg(long, default_value_t = crate::check::DEFAULT_LET_INPUT)]
    pub input: usize,
    /// Override a setting (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: SummaryArgs) -> u8 {
    let out = crate::check::check_path_with(&args.file, &args.set, args.input.clamp(1, 1 << 20));
    super::check::print_diagnostics(&out.diagnostics, super::check::DiagFormat::Text);
    if out.diagnostics.has_errors() {
        return super::EXIT_USER;
    }
    let p = &out.program;
    let mut sums = Vec::new();
    match &args.agent {
        Some(name) => match p.agents.iter().find(|a| &a.name == name) {
            Some(a) => sums.push(summary::agent_summary(a)),
            None => {
                let names: Vec<&str> = p.agents.iter().map(|a| a.name.as_str()).collect();
                eprintln!(
                    "error[MX0215]: no agent `{name}` in {} (agents: {})",
                    args.file.display(),
                    names.join(", ")
                );
                return super::EXIT_USER;
            }
        },
        None if !p.agents.is_empty() => sums.extend(p.agents.iter().map(summary::agent_summary)),
        None => sums.extend(p.lets.iter().map(|(n, b)| summary::let_summary(n, b))),
    }
    if args.format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&sums).unwrap_or_default()
        );
        return super::EXIT_OK;
    }
    for (i, s) in sums.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", summary::render(s, args.format));
    }
    super::EXIT_OK
}
