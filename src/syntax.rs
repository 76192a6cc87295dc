//! Syntax: source map, pest parser (the only place naming pest types), AST with spans, printer.

pub mod ast;
pub mod comments;
mod parser;
pub mod printer;
pub mod yaml;

pub use parser::{MAX_NESTING, parse_override_value};

use crate::diag::{Diag, FileId};

/// Parse a source text; returns the AST (broken items left out) and every syntax error.
pub fn parse(src: &str, file: FileId) -> (ast::File, Vec<Diag>) {
    parser::parse_file(src, file)
}

/// Canonical formatting of a source text; `None` when it has syntax errors.
pub fn format_source(src: &str) -> Option<String> {
    let (f, diags) = parse(src, FileId(0));
    if diags.is_empty() {
        Some(printer::print_file(&f))
    } else {
        None
    }
}
