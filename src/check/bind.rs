//! Binding call arguments to a registry schema: positional then keyword, aliases, duplicates,
//! unknown and missing arguments, types, ranges, defaults.

use std::rc::Rc;

use super::eval::{Elab, Env, Term, pak, suggest};
use super::ir::{Args, Value};
use super::registry::{Def, Entry, Range, Ty};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::Arg;

/// Largest integer accepted for a block argument (widths, heads, ...).
pub const MAX_BLOCK_INT: i64 = 1 << 20;

type Given<'a> = (&'a Arg, Rc<Env<'a>>, FileId, Span);

/// Arguments bound to a schema.
pub struct Bound {
    /// Non-block arguments in schema order.
    pub args: Args,
    /// Block arguments (children) in schema order.
    pub children: Vec<Term>,
    /// Spans of given arguments by canonical name.
    pub spans: Vec<(String, Span)>,
}

fn signature_text(entry: &Entry) -> String {
    let ps: Vec<String> = entry
        .params
        .iter()
        .map(|p| {
            let d = match p.def {
                Def::Req => String::new(),
                Def::Int(v) => format!(" = {v}"),
                Def::Float(v) => format!(" = {}", crate::syntax::printer::float_lit(v)),
                Def::Bool(b) => format!(" = {b}"),
                Def::Sym(s) => format!(" = {s}"),
                Def::None => " = none".into(),
                Def::Same(o) => format!(" = {o}"),
            };
            if Some(p.name) == entry.variadic {
                format!("{}...", p.name)
            } else {
                format!("{}{d}", p.name)
            }
        })
        .collect();
    format!("{}({})", entry.name, ps.join(", "))
}

impl<'a> Elab<'a> {
    /// Bind `args` (then the override arguments `extra`, which replace same-named ones) to `entry`.
    pub fn bind(
        &mut self,
        entry: &'static Entry,
        args: &'a [Arg],
        extra: &'a [(Arg, FileId)],
        call_span: Span,
        env: &Rc<Env<'a>>,
        file: FileId,
    ) -> Option<Bound> {
        let empty: Rc<Env<'a>> = Rc::new(Default::default());
        // (param index, expr, env, file, span, from_override)
        let mut given: Vec<Option<Given<'a>>> = vec![None; entry.params.len()];
        let mut variadic: Vec<(&'a Arg, Span)> = Vec::new();
        let mut ok = true;
        let mut seen_kw = false;
        let mut pos = 0usize;
        let var_idx = entry
            .variadic
            .and_then(|v| entry.params.iter().position(|p| p.name == v));
        let all = args
            .iter()
            .map(|a| (a, env.clone(), file, false))
            .chain(extra.iter().map(|(a, f)| (a, empty.clone(), *f, true)));
        for (a, aenv, afile, is_override) in all {
            let aspan = Span::new(afile, a.span.start, a.span.end);
            match &a.name {
                None => {
                    if seen_kw && !is_override {
                        self.err(pak(aspan));
                        ok = false;
                        continue;
                    }
                    if var_idx.is_some() {
                        variadic.push((a, aspan));
                        continue;
                    }
                    // skip block params? no: positional order is schema order
                    match entry.params.get(pos) {
                        Some(_) => given[pos] = Some((a, aenv, afile, aspan)),
                        None => {
                            self.err(
                                Diag::error(
                                    "MX0206",
                                    format!(
                                        "`{}` takes at most {} positional argument(s)",
                                        entry.name,
                                        entry.params.len()
                                    ),
                                    aspan,
                                    "extra argument",
                                )
                                .with_help(format!("signature: {}", signature_text(entry))),
                            );
                            ok = false;
                        }
                    }
                    pos += 1;
                }
                Some(k) => {
                    seen_kw = true;
                    let kspan = Span::new(afile, k.span.start, k.span.end);
                    let Some(i) = entry
                        .params
                        .iter()
                        .position(|p| p.name == k.name || p.aliases.contains(&k.name.as_str()))
                    else {
                        let valid: Vec<&str> = entry.params.iter().map(|p| p.name).collect();
                        let cands: Vec<&str> = entry
                            .params
                            .iter()
                            .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
                            .collect();
                        let help = match suggest(&k.name, cands) {
                            Some(s) => {
                                format!("did you mean `{s}`? valid arguments: {}", valid.join(", "))
                            }
                            None if valid.is_empty() => {
                                format!("`{}` takes no arguments", entry.name)
                            }
                            None => format!("valid arguments: {}", valid.join(", ")),
                        };
                        self.err(
                            Diag::error(
                                "MX0202",
                                format!("`{}` has no argument `{}`", entry.name, k.name),
                                kspan,
                                "unknown argument",
                            )
                            .with_help(help),
                        );
                        ok = false;
                        continue;
                    };
                    if let Some((prev, _, pfile, _)) = &given[i]
                        && !is_override
                    {
                        let pspan = Span::new(*pfile, prev.span.start, prev.span.end);
                        self.err(
                            Diag::error(
                                "MX0205",
                                format!("argument `{}` given twice", entry.params[i].name),
                                kspan,
                                "second time",
                            )
                            .with_label(pspan, "first given here"),
                        );
                        ok = false;
                        continue;
                    }
                    given[i] = Some((a, aenv, afile, aspan));
                }
            }
        }
        let mut out = Bound {
            args: Args::default(),
            children: Vec::new(),
            spans: Vec::new(),
        };
        let mut missing = Vec::new();
        for (i, p) in entry.params.iter().enumerate() {
            if Some(i) == var_idx && given[i].is_none() {
                if variadic.is_empty() {
                    missing.push(p.name);
                    continue;
                }
                let first = variadic[0].1;
                let last = variadic[variadic.len() - 1].1;
                let vspan = Span::new(first.file, first.start, last.end);
                if p.ty == Ty::Block {
                    for (a, _) in &variadic {
                        match self.block(&a.value, env, file) {
                            Some(t) => out.children.push(t),
                            None => ok = false,
                        }
                    }
                } else {
                    let mut items = Vec::new();
                    for (a, s) in &variadic {
                        match self.value(
                            &a.value,
                            env,
                            file,
                            p.ty,
                            &format!("`{}` {}", entry.name, p.name),
                        ) {
                            Some((v, _)) => {
                                // `mlp([64, 64])` is `mlp(64, 64)`: a list spreads into the items
                                let vs = match v {
                                    Value::List(vs) => vs,
                                    v => vec![v],
                                };
                                for v in vs {
                                    if !self.check_range(entry, p.name, p.range, &v, *s, true) {
                                        ok = false;
                                    }
                                    items.push(v)
                                }
                            }
                            None => ok = false,
                        }
                    }
                    out.args.0.push((p.name.to_string(), Value::List(items)));
                }
                out.spans.push((p.name.to_string(), vspan));
                continue;
            }
            match &given[i] {
                Some((a, aenv, afile, aspan)) => {
                    out.spans.push((p.name.to_string(), *aspan));
                    if p.ty == Ty::Block {
                        match self.block(&a.value, aenv, *afile) {
                            Some(t) => out.children.push(t),
                            None => ok = false,
                        }
                        continue;
                    }
                    let what = format!("`{}` argument `{}`", entry.name, p.name);
                    let n_before = self.diags.len();
                    let res = self.value(&a.value, aenv, *afile, p.ty, &what);
                    if !matches!(
                        entry.cat,
                        super::registry::Cat::Building
                            | super::registry::Cat::Memory
                            | super::registry::Cat::Encoder
                            | super::registry::Cat::Head
                    ) {
                        for d in &mut self.diags[n_before..] {
                            if d.code == "MX0208" {
                                d.code = "MX0504";
                            }
                        }
                    }
                    match res {
                        Some((v, vspan)) => {
                            let block_arg = super::registry::BLOCK_CATS.contains(&entry.cat)
                                || entry.cat == super::registry::Cat::Head;
                            if !self.check_range(entry, p.name, p.range, &v, vspan, block_arg) {
                                ok = false;
                            }
                            out.args.0.push((p.name.to_string(), v));
                        }
                        None => ok = false,
                    }
                }
                None => {
                    let v = match p.def {
                        Def::Req => {
                            missing.push(p.name);
                            continue;
                        }
                        Def::Int(v) => Value::Int(v),
                        Def::Float(v) => Value::Float(v),
                        Def::Bool(b) => Value::Bool(b),
                        Def::Sym(s) => Value::Sym(s.to_string()),
                        Def::None => Value::None,
                        Def::Same(o) => out.args.get(o).cloned().unwrap_or(Value::None),
                    };
                    out.args.0.push((p.name.to_string(), v));
                }
            }
        }
        if !missing.is_empty() && ok {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                Diag::error(
                    "MX0207",
                    format!("`{}` is missing required argument {list}", entry.name),
                    call_span,
                    format!("{list} not given"),
                )
                .with_help(format!("signature: {}", signature_text(entry))),
            );
            ok = false;
        }
        ok.then_some(out)
    }

    fn check_range(
        &mut self,
        entry: &Entry,
        name: &str,
        range: Range,
        v: &Value,
        span: Span,
        block_arg: bool,
    ) -> bool {
        let code = if block_arg { "MX0306" } else { "MX0505" };
        let (num, int) = match v {
            Value::Int(i) => (*i as f64, true),
            Value::Float(f) => (*f, false),
            Value::Call(_, xs) => {
                return xs
                    .iter()
                    .all(|x| self.check_range(entry, name, Range::NonNeg, x, span, block_arg));
            }
            _ => return true,
        };
        if let Some(rule) = range.check(num, int) {
            self.err(Diag::error(
                code,
                format!(
                    "`{}` argument `{name}` {rule}, found {}",
                    entry.name,
                    fmt_num(v)
                ),
                span,
                rule,
            ));
            return false;
        }
        if block_arg && int && num > MAX_BLOCK_INT as f64 {
            self.err(Diag::error(
                code,
                format!(
                    "`{}` argument `{name}` is too large ({} > {MAX_BLOCK_INT})",
                    entry.name,
                    fmt_num(v)
                ),
                span,
                "too large",
            ));
            return false;
        }
        true
    }
}

/// A value as text for messages.
pub fn fmt_num(v: &Value) -> String {
    match v {
        Value::Int(i) => crate::syntax::printer::int_lit(*i),
        Value::Float(f) => crate::syntax::printer::float_lit(*f),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => format!("{s:?}"),
        Value::Sym(s) => s.clone(),
        Value::None => "none".into(),
        Value::List(xs) => format!(
            "[{}]",
            xs.iter().map(fmt_num).collect::<Vec<_>>().join(", ")
        ),
        Value::Call(n, xs) => format!(
            "{n}({})",
            xs.iter().map(fmt_num).collect::<Vec<_>>().join(", ")
        ),
    }
}
