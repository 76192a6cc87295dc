//! The canonical printer: `fmt`, paper snippets, `expand` and the architecture hash use it.

use super::ast::*;

/// Target line width.
pub const WIDTH: usize = 80;

/// Print a whole file canonically (comments kept).
pub fn print_file(f: &File) -> String {
    let mut out = String::new();
    let mut prev_import = false;
    for (i, it) in f.items.iter().enumerate() {
        let is_import = matches!(it.kind, ItemKind::Import(_));
        if i > 0 && !(prev_import && is_import && it.comments.is_empty()) {
            out.push('\n');
        }
        prev_import = is_import;
        comments(&mut out, &it.comments, 0);
        out.push_str(&item(it));
        trailing(&mut out, &it.trailing);
        out.push('\n');
    }
    if !f.trailing_comments.is_empty() {
        if !f.items.is_empty() {
            out.push('\n');
        }
        comments(&mut out, &f.trailing_comments, 0);
    }
    out
}

fn comments(out: &mut String, cs: &[Comment], indent: usize) {
    for c in cs {
        out.push_str(&" ".repeat(indent));
        out.push_str(if c.doc { "##" } else { "#" });
        out.push_str(&c.text);
        out.push('\n');
    }
}

fn trailing(out: &mut String, c: &Option<Comment>) {
    if let Some(c) = c {
        out.push_str("  #");
        out.push_str(&c.text);
    }
}

fn item(it: &Item) -> String {
    match &it.kind {
        ItemKind::Import(i) => format!("import {}", string_lit(&i.path)),
        ItemKind::Let(l) => {
            let mut head = format!("let {}", l.name.name);
            if let Some(ps) = &l.params {
                let ps: Vec<String> = ps
                    .iter()
                    .map(|p| match &p.default {
                        Some(d) => format!("{} = {}", p.name.name, flat(d)),
                        None => p.name.name.clone(),
                    })
                    .collect();
                head.push_str(&format!("({})", ps.join(", ")));
            }
            if let Some(a) = &l.annot {
                head.push_str(&format!(" : carry {}", carry(&a.ty)));
            }
            head.push_str(" =");
            let f = flat(&l.body);
            if head.len() + 1 + f.len() <= WIDTH {
                format!("{head} {f}")
            } else {
                format!("{head}\n  {}", expr_at(&l.body, 2, 2))
            }
        }
        ItemKind::Agent(a) => {
            let mut out = format!("agent {} {{\n", a.name.name);
            for e in &a.entries {
                comments(&mut out, &e.comments, 2);
                out.push_str("  ");
                out.push_str(&entry(e));
                trailing(&mut out, &e.trailing);
                out.push('\n');
            }
            comments(&mut out, &a.end_comments, 2);
            out.push('}');
            out
        }
    }
}

fn entry(e: &Entry) -> String {
    match &e.kind {
        EntryKind::Slot { name, annot, value } => {
            let mut head = name.name.clone();
            if let Some(a) = annot {
                head.push_str(&format!(" : carry {}", carry(&a.ty)));
            }
            head.push_str(" = ");
            let col = 2 + head.len();
            format!("{head}{}", expr_at(value, 2, col))
        }
        EntryKind::Section { name, fields } => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{} = {}", k.name, flat(v)))
                .collect();
            let one = if parts.is_empty() {
                format!("{} {{}}", name.name)
            } else {
                format!("{} {{ {} }}", name.name, parts.join(", "))
            };
            if 2 + one.len() <= WIDTH {
                return one;
            }
            let mut out = format!("{} {{\n", name.name);
            for (k, v) in fields {
                let head = format!("    {} = ", k.name);
                let col = head.len();
                out.push_str(&format!("{head}{},\n", expr_at(v, 4, col)));
            }
            out.push_str("  }");
            out
        }
    }
}

/// Print a carry type in annotation syntax.
pub fn carry(c: &CarryExpr) -> String {
    match c {
        CarryExpr::Unit => "()".into(),
        CarryExpr::Record(n, fs) => {
            let fs: Vec<String> = fs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{n}({})", fs.join(", "))
        }
        CarryExpr::Tuple(xs) => {
            let xs: Vec<String> = xs.iter().map(carry).collect();
            format!("({})", xs.join(", "))
        }
        CarryExpr::Repeat(b, n) => format!("{} * {n}", carry(b)),
    }
}

/// A string literal with escapes.
pub fn string_lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An integer with `_` thousands separators from 10_000 up.
pub fn int_lit(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let body = if digits.len() > 4 {
        let mut s = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                s.push('_');
            }
            s.push(c);
        }
        s
    } else {
        digits
    };
    if v < 0 { format!("-{body}") } else { body }
}

/// A float in its shortest round-tripping form (`3e-4`, `0.99`, `1.0`).
pub fn float_lit(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v:?}")
    }
}

fn needs_parens_in_pipe(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Pipe(_))
}

/// Print an expression on one line.
pub fn flat(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => int_lit(*v),
        ExprKind::Float(v) => float_lit(*v),
        ExprKind::Str(s) => string_lit(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Call(n, args) => {
            let a: Vec<String> = args.iter().map(arg_flat).collect();
            format!("{}({})", n.name, a.join(", "))
        }
        ExprKind::List(xs) => {
            let a: Vec<String> = xs.iter().map(flat).collect();
            format!("[{}]", a.join(", "))
        }
        ExprKind::Pipe(xs) => {
            let a: Vec<String> = xs
                .iter()
                .map(|x| {
                    if needs_parens_in_pipe(x) {
                        format!("({})", flat(x))
                    } else {
                        flat(x)
                    }
                })
                .collect();
            a.join(" -> ")
        }
        ExprKind::Repeat(l, r) => format!("{} * {}", repeat_lhs(l), repeat_rhs(r)),
    }
}

fn repeat_lhs(l: &Expr) -> String {
    if matches!(l.kind, ExprKind::Pipe(_)) {
        format!("({})", flat(l))
    } else {
        flat(l)
    }
}

fn repeat_rhs(r: &Expr) -> String {
    if matches!(r.kind, ExprKind::Pipe(_) | ExprKind::Repeat(..)) {
        format!("({})", flat(r))
    } else {
        flat(r)
    }
}

fn arg_flat(a: &Arg) -> String {
    match &a.name {
        Some(n) => format!("{} = {}", n.name, flat(&a.value)),
        None => flat(&a.value),
    }
}

/// Print an expression starting at column `col`, with continuation lines indented by `indent`.
pub fn expr_at(e: &Expr, indent: usize, col: usize) -> String {
    let f = flat(e);
    if col + f.len() <= WIDTH {
        return f;
    }
    let pad = " ".repeat(indent + 2);
    match &e.kind {
        ExprKind::Call(n, args) if !args.is_empty() => {
            let mut out = format!("{}(\n", n.name);
            for a in args {
                let (head, v) = match &a.name {
                    Some(k) => (format!("{} = ", k.name), &a.value),
                    None => (String::new(), &a.value),
                };
                let c = indent + 2 + head.len();
                out.push_str(&format!("{pad}{head}{},\n", expr_at(v, indent + 2, c)));
            }
            out.push_str(&" ".repeat(indent));
            out.push(')');
            out
        }
        ExprKind::List(xs) if !xs.is_empty() => {
            let mut out = String::from("[\n");
            for x in xs {
                out.push_str(&format!("{pad}{},\n", expr_at(x, indent + 2, indent + 2)));
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
            out
        }
        ExprKind::Pipe(xs) => {
            let mut out = String::new();
            for (i, x) in xs.iter().enumerate() {
                let paren = needs_parens_in_pipe(x);
                if i == 0 {
                    out.push_str(&wrap(x, paren, indent, col));
                } else {
                    out.push_str(&format!(
                        "\n{pad}-> {}",
                        wrap(x, paren, indent + 2, indent + 5)
                    ));
                }
            }
            out
        }
        ExprKind::Repeat(l, r) => {
            let lp = matches!(l.kind, ExprKind::Pipe(_));
            format!("{} * {}", wrap(l, lp, indent, col), repeat_rhs(r))
        }
        _ => f,
    }
}

fn wrap(x: &Expr, paren: bool, indent: usize, col: usize) -> String {
    if paren {
        format!("({})", expr_at(x, indent, col + 1))
    } else {
        expr_at(x, indent, col)
    }
}
