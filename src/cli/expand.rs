//! `memoraxc expand`.

/// Arguments of `memoraxc expand`.
#[derive(clap::Args, Debug)]
pub struct ExpandArgs {
    /// Input file.
    pub file: std::path::PathBuf,
    /// Agent to expand (required when the file has several).
    #[arg(long)]
    pub agent: Option<String>,
    /// Print YAML instead of `.mx`.
    #[arg(long)]
    pub yaml: bool,
    /// Override a setting (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: ExpandArgs) -> u8 {
    let out = crate::check::check_path(&args.file, &args.set);
    super::check::print_diagnostics(&out.diagnostics, super::check::DiagFormat::Text);
    if out.diagnostics.has_errors() {
        return super::EXIT_USER;
    }
    let agents = &out.program.agents;
    let agent = match &args.agent {
        Some(n) => agents.iter().find(|a| &a.name == n),
        None if agents.len() == 1 => agents.first(),
        None => None,
    };
    let Some(a) = agent else {
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        eprintln!(
            "error[MX0215]: choose an agent with --agent (agents: {})",
            names.join(", ")
        );
        return super::EXIT_USER;
    };
    if args.yaml {
        match crate::syntax::yaml::from_mx(&a.canonical, &a.name, &a.hash) {
            Some(y) => print!("{y}"),
            None => {
                eprintln!("error: could not write `{}` as YAML", a.name);
                return super::EXIT_RUNTIME;
            }
        }
    } else {
        println!("# {} ({})", a.name, a.hash);
        print!("{}", a.canonical);
    }
    super::EXIT_OK
}
