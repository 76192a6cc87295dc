//! `memoraxc blocks`.

use crate::check::registry::{self, Def, Entry};

/// Arguments of `memoraxc blocks`.
#[derive(clap::Args, Debug)]
pub struct BlocksArgs {
    /// A block, head, algorithm or optimizer name; without one, list all.
    pub name: Option<String>,
    /// Output format of the list: `text`, or `md` (the README's block table).
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// The whole registry as a Markdown table (the README embeds it; a test keeps them equal).
pub fn markdown_table() -> String {
    let mut out = String::from("| name | kind | signature | description |\n|---|---|---|---|\n");
    for e in registry::all() {
        let first = e
            .doc
            .split(". ")
            .next()
            .unwrap_or(e.doc)
            .trim_end_matches('.');
        let sig = e.sig.to_string().replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            e.name,
            e.cat.name(),
            sig,
            first.replace('|', "\\|")
        ));
    }
    out
}

fn default_text(d: &Def) -> String {
    match d {
        Def::Req => "required".into(),
        Def::Int(v) => crate::syntax::printer::int_lit(*v),
        Def::Float(v) => crate::syntax::printer::float_lit(*v),
        Def::Bool(b) => b.to_string(),
        Def::Sym(s) => s.to_string(),
        Def::None => "none".into(),
        Def::Same(o) => format!("= {o}"),
    }
}

/// Documentation of one entry as text.
pub fn entry_doc(e: &Entry) -> String {
    let mut out = format!(
        "{} ({})\n  {}\n  signature: {}\n",
        e.name,
        e.cat.name(),
        e.doc,
        e.sig
    );
    if !e.params.is_empty() {
        out.push_str("  parameters:\n");
        for p in e.params {
            let alias = if p.aliases.is_empty() {
                String::new()
            } else {
                format!(" (alias: {})", p.aliases.join(", "))
            };
            out.push_str(&format!(
                "    {:<24} {:<10} {}{alias}; {}\n",
                p.name,
                default_text(&p.def),
                p.doc,
                p.ty.describe()
            ));
        }
    }
    out
}

/// Run the subcommand; returns the exit code.
pub fn run(args: BlocksArgs) -> u8 {
    match args.name {
        None if args.format == "md" => {
            print!("{}", markdown_table());
            super::EXIT_OK
        }
        None if args.format != "text" => {
            eprintln!(
                "error: unknown format `{}` (expected `text` or `md`)",
                args.format
            );
            super::EXIT_USAGE
        }
        None => {
            let mut last = None;
            for e in registry::all() {
                if last != Some(e.cat) {
                    println!("\n{}s:", e.cat.name());
                    last = Some(e.cat);
                }
                let first = e.doc.split(". ").next().unwrap_or(e.doc);
                println!("  {:<20} {}", e.name, first);
            }
            super::EXIT_OK
        }
        Some(n) => match registry::lookup(&n) {
            Some(e) => {
                print!("{}", entry_doc(e));
                super::EXIT_OK
            }
            None => {
                let names: Vec<&str> = registry::all().map(|e| e.name).collect();
                match crate::check::eval::suggest(&n, names) {
                    Some(s) => eprintln!("error: unknown block `{n}`; did you mean `{s}`?"),
                    None => eprintln!("error: unknown block `{n}` (`memoraxc blocks` lists all)"),
                }
                super::EXIT_USER
            }
        },
    }
}
