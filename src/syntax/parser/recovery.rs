//! Syntax-error reporting and recovery for the parser: pest errors → diagnostics with a
//! human description of what was expected, the nesting pre-check, and the "junk" rules that let
//! one run report several syntax errors.

use std::cell::RefCell;

use pest::Parser;
use pest::iterators::Pair;

use super::{Ctx, MAX_NESTING, MxParser, Rule};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::Sp;

/// Length of `text` without trailing whitespace and comments (pest spans of rules ending in a
/// repetition include the implicit whitespace after them).
pub(super) fn trimmed_len(text: &str) -> usize {
    let mut end = text.len();
    loop {
        let t = text[..end].trim_end();
        end = t.len();
        let line_start = t.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let mut in_str = false;
        let mut esc = false;
        let mut cut = None;
        for (i, c) in t[line_start..].char_indices() {
            if in_str {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_str = false;
                }
            } else if c == '"' {
                in_str = true;
            } else if c == '#' {
                cut = Some(line_start + i);
                break;
            }
        }
        match cut {
            Some(c) => end = c,
            None => return end,
        }
    }
}

fn describe(r: &Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::ident | Rule::name => "a name",
        Rule::kw_import => "`import`",
        Rule::kw_let => "`let`",
        Rule::kw_agent => "`agent`",
        Rule::kw_carry => "`carry`",
        Rule::string => "a string",
        Rule::int => "an integer",
        Rule::float => "a number",
        Rule::expr | Rule::primary | Rule::call | Rule::paren | Rule::list | Rule::arg => {
            "an expression"
        }
        Rule::kwarg => "an argument",
        Rule::arrow => "`->`",
        Rule::star => "`*`",
        Rule::params => "`(`",
        Rule::param => "a parameter",
        Rule::annot => "`:`",
        Rule::carry_ty | Rule::carry_unit | Rule::carry_tuple | Rule::carry_record => {
            "a carry type"
        }
        Rule::carry_field => "a carry field `name: n`",
        Rule::section | Rule::slot | Rule::slot_junk => "a slot `name = expr`",
        Rule::field => "a setting `key = value`",
        Rule::let_def => "`let`",
        Rule::agent => "`agent`",
        Rule::import => "`import`",
        Rule::boolean => "`true` or `false`",
        Rule::none => "`none`",
        _ => "something else",
    }
}

fn found_at(src: &str, pos: usize) -> String {
    let rest = &src[pos.min(src.len())..];
    match rest.chars().next() {
        None => "end of file".to_string(),
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let w: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            format!("`{w}`")
        }
        Some(c) => format!("`{c}`"),
    }
}

fn token_len(src: &str, pos: usize) -> usize {
    let rest = &src[pos.min(src.len())..];
    match rest.chars().next() {
        None | Some('\n') | Some('\r') => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum(),
        Some(c) => c.len_utf8(),
    }
}

/// Turn a pest error on `text` (which starts at byte `base` of the file) into a diagnostic.
pub(super) fn pest_diag(
    ctx: &Ctx,
    full: &str,
    e: &pest::error::Error<Rule>,
    code: &'static str,
) -> Diag {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    } + ctx.base;
    let mut expected: Vec<&str> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(describe).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => vec![],
    };
    expected.sort();
    expected.dedup();
    let found = found_at(full, pos);
    let msg = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let len = token_len(full, pos);
    Diag::error(
        code,
        msg.clone(),
        ctx.span(Sp::new(pos, pos + len)),
        format!("found {found} here"),
    )
}

fn join_or(xs: &[&str]) -> String {
    match xs.len() {
        0 => String::new(),
        1 => xs[0].to_string(),
        _ => format!("{} or {}", xs[..xs.len() - 1].join(", "), xs[xs.len() - 1]),
    }
}

/// Deepest bracket nesting of the source (strings and comments skipped) and where it is exceeded.
pub(super) fn nesting_violation(src: &str) -> Option<usize> {
    let (mut depth, mut in_str, mut in_comment, mut esc) = (0usize, false, false, false);
    for (i, c) in src.char_indices() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
            }
            continue;
        }
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' || c == '\n' {
                in_str = false;
            }
            continue;
        }
        match c {
            '#' => in_comment = true,
            '"' => in_str = true,
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

pub(super) fn junk(ctx: &Ctx, src: &str, p: &Pair<Rule>) {
    let sp = ctx.sp(p);
    let text = p.as_str();
    match MxParser::parse(Rule::item_alone, text) {
        Err(e) => {
            let at_start = match e.location {
                pest::error::InputLocation::Pos(p) => p == 0,
                pest::error::InputLocation::Span((s, _)) => s == 0,
            };
            if at_start {
                let line_end = text.find('\n').unwrap_or(text.len());
                let first = text[..line_end].trim_end();
                ctx.err(
                    Diag::error(
                        "MX0102",
                        "expected `let`, `agent` or `import`",
                        ctx.span(Sp::new(sp.start, sp.start + first.len().max(1))),
                        "not an item",
                    )
                    .with_help(
                        "top-level items are `import \"file.mx\"`, `let NAME = expr` and `agent NAME { ... }`",
                    ),
                );
            } else {
                let sub = Ctx {
                    file: ctx.file,
                    base: sp.start,
                    diags: RefCell::new(Vec::new()),
                };
                let end = sp.start + trimmed_len(text);
                ctx.err(clamp_end(pest_diag(&sub, src, &e, "MX0101"), ctx.file, end));
            }
        }
        Ok(_) => {
            ctx.err(Diag::error(
                "MX0101",
                "unexpected input",
                ctx.span(Sp::new(sp.start, sp.start + 1)),
                "here",
            ));
        }
    }
}

fn clamp_end(mut d: Diag, file: FileId, content_end: usize) -> Diag {
    if d.primary.span.start >= content_end {
        d.primary.span = Span::new(file, content_end, content_end);
        d.message = d
            .message
            .replace("found end of file", "found the end")
            .replace("found end of line", "found the end");
        d.primary.text = "ends here".into();
    }
    d
}

pub(super) fn slot_junk(ctx: &Ctx, src: &str, p: &Pair<Rule>) {
    let sp = ctx.sp(p);
    let text = p.as_str();
    let sub = Ctx {
        file: ctx.file,
        base: sp.start,
        diags: RefCell::new(Vec::new()),
    };
    match MxParser::parse(Rule::entry_alone, text) {
        Err(e) => ctx.err(
            clamp_end(
                pest_diag(&sub, src, &e, "MX0101"),
                ctx.file,
                sp.start + trimmed_len(text),
            )
            .with_help(
                "agent entries are `slot = expr` (one per line) and `train { key = value, ... }`",
            ),
        ),
        Ok(_) => ctx.err(Diag::error(
            "MX0101",
            "unexpected input in agent",
            ctx.span(Sp::new(
                sp.start,
                sp.start + token_len(src, sp.start).max(1),
            )),
            "here",
        )),
    }
}
