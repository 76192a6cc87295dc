//! `memoraxc fmt`.

/// Arguments of `memoraxc fmt`.
#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Only verify that the files are formatted; exit 1 if not.
    #[arg(long)]
    pub check: bool,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: FmtArgs) -> u8 {
    let mut code = super::EXIT_OK;
    for f in &args.files {
        let text = match std::fs::read(f).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            _ => {
                eprintln!("error: cannot read `{}` as UTF-8", f.display());
                code = super::EXIT_USER;
                continue;
            }
        };
        let mut d = crate::diag::Diagnostics::default();
        let id = d.add_file(f.display().to_string(), text.clone());
        let (ast, errs) = crate::syntax::parse(&text, id);
        if !errs.is_empty() {
            for e in errs {
                d.push(e);
            }
            eprint!("{}", d.render_with(super::check::use_color()));
            code = super::EXIT_USER;
            continue;
        }
        let out = crate::syntax::printer::print_file(&ast);
        if out == text {
            continue;
        }
        if args.check {
            eprintln!("{}: not formatted", f.display());
            code = super::EXIT_USER;
        } else if let Err(e) = std::fs::write(f, out) {
            eprintln!("error: cannot write `{}`: {e}", f.display());
            return super::EXIT_RUNTIME;
        } else {
            eprintln!("formatted {}", f.display());
        }
    }
    code
}
