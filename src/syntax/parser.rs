//! pest grammar → AST. The only file that names pest types.

use std::cell::RefCell;

use pest::Parser;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

mod recovery;

use recovery::{junk, nesting_violation, pest_diag, slot_junk, trimmed_len};

use super::ast::*;
use crate::diag::{Diag, FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/memorax.pest"]
struct MxParser;

/// Maximum bracket nesting accepted before parsing.
pub const MAX_NESTING: usize = 64;

pub(super) struct Ctx {
    file: FileId,
    base: usize,
    diags: RefCell<Vec<Diag>>,
}

impl Ctx {
    fn sp(&self, p: &Pair<Rule>) -> Sp {
        let s = p.as_span();
        let len = trimmed_len(p.as_str());
        Sp::new(s.start() + self.base, s.start() + len + self.base)
    }
    fn span(&self, s: Sp) -> Span {
        Span::new(self.file, s.start, s.end)
    }
    fn err(&self, d: Diag) {
        self.diags.borrow_mut().push(d);
    }
}

/// Parse a whole file. Always returns an AST (possibly missing broken items) and the syntax errors.
pub fn parse_file(src: &str, file: FileId) -> (File, Vec<Diag>) {
    let ctx = Ctx {
        file,
        base: 0,
        diags: RefCell::new(Vec::new()),
    };
    if let Some(pos) = nesting_violation(src) {
        ctx.err(
            Diag::error(
                "MX0104",
                format!("brackets nested more than {MAX_NESTING} levels deep"),
                ctx.span(Sp::new(pos, pos + 1)),
                "too deep here",
            )
            .with_help("name intermediate expressions with `let`"),
        );
        return (File::default(), ctx.diags.into_inner());
    }
    let mut out = File::default();
    match MxParser::parse(Rule::file, src) {
        Ok(mut pairs) => {
            let file_pair = pairs.next().expect("file rule");
            for p in file_pair.into_inner() {
                match p.as_rule() {
                    Rule::import | Rule::let_def | Rule::agent => {
                        let before = ctx.diags.borrow().len();
                        let is_agent = p.as_rule() == Rule::agent;
                        if let Some(mut it) = item(&ctx, src, p) {
                            if ctx.diags.borrow().len() == before {
                                out.items.push(it);
                            } else if is_agent {
                                // keep the agent for formatting-free analysis, but mark it
                                if let ItemKind::Agent(a) = &mut it.kind {
                                    a.recovered = true;
                                }
                                out.items.push(it);
                            }
                        }
                    }
                    Rule::junk => junk(&ctx, src, &p),
                    _ => {}
                }
            }
        }
        Err(e) => ctx.err(pest_diag(&ctx, src, &e, "MX0101")),
    }
    super::comments::attach(src, &mut out);
    (out, ctx.diags.into_inner())
}

/// Parse the value of a `--set` override (`text` is the whole override source, value at `base`).
pub fn parse_override_value(text: &str, base: usize, file: FileId) -> Result<Expr, Vec<Diag>> {
    let ctx = Ctx {
        file,
        base,
        diags: RefCell::new(Vec::new()),
    };
    let value = &text[base..];
    if let Some(pos) = nesting_violation(value) {
        return Err(vec![Diag::error(
            "MX0104",
            "brackets nested too deeply",
            ctx.span(Sp::new(base + pos, base + pos + 1)),
            "here",
        )]);
    }
    match MxParser::parse(Rule::override_value, value) {
        Ok(mut pairs) => {
            let p = pairs.next().and_then(|p| p.into_inner().next());
            let e = p.map(|p| expr(&ctx, p));
            let diags = ctx.diags.into_inner();
            match e {
                Some(e) if diags.is_empty() => Ok(e),
                _ => Err(diags),
            }
        }
        Err(e) => Err(vec![pest_diag(&ctx, text, &e, "MX0214")]),
    }
}

fn ident(ctx: &Ctx, p: Pair<Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: ctx.sp(&p),
    }
}

fn item(ctx: &Ctx, src: &str, p: Pair<Rule>) -> Option<Item> {
    let span = ctx.sp(&p);
    let kind = match p.as_rule() {
        Rule::import => {
            let s = p.into_inner().find(|q| q.as_rule() == Rule::string)?;
            ItemKind::Import(Import {
                path: unescape(s.as_str()),
                path_span: ctx.sp(&s),
            })
        }
        Rule::let_def => {
            let mut name = None;
            let mut params = None;
            let mut annot = None;
            let mut body = None;
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::ident => name = Some(ident(ctx, q)),
                    Rule::params => {
                        let mut ps = Vec::new();
                        for pp in q.into_inner() {
                            let mut it = pp.into_inner();
                            let n = ident(ctx, it.next()?);
                            let default = it.next().map(|e| expr(ctx, e));
                            ps.push(Param { name: n, default });
                        }
                        params = Some(ps);
                    }
                    Rule::annot => annot = Some(annotation(ctx, q)),
                    Rule::expr => body = Some(expr(ctx, q)),
                    _ => {}
                }
            }
            ItemKind::Let(Let {
                name: name?,
                params,
                annot,
                body: body?,
            })
        }
        Rule::agent => {
            let mut name = None;
            let mut entries = Vec::new();
            for q in p.into_inner() {
                match q.as_rule() {
                    Rule::ident => name = Some(ident(ctx, q)),
                    Rule::slot | Rule::section => {
                        if let Some(e) = entry(ctx, q) {
                            entries.push(e);
                        }
                    }
                    Rule::slot_junk => slot_junk(ctx, src, &q),
                    _ => {}
                }
            }
            ItemKind::Agent(Agent {
                name: name?,
                entries,
                end_comments: Vec::new(),
                recovered: false,
            })
        }
        _ => return None,
    };
    Some(Item {
        comments: Vec::new(),
        trailing: None,
        kind,
        span,
    })
}

fn entry(ctx: &Ctx, p: Pair<Rule>) -> Option<Entry> {
    let span = ctx.sp(&p);
    let rule = p.as_rule();
    let mut it = p.into_inner();
    let name = ident(ctx, it.next()?);
    let kind = if rule == Rule::section {
        let mut fields = Vec::new();
        for f in it {
            let mut fi = f.into_inner();
            let k = ident(ctx, fi.next()?);
            let v = expr(ctx, fi.next()?);
            fields.push((k, v));
        }
        EntryKind::Section { name, fields }
    } else {
        let mut annot = None;
        let mut value = None;
        for q in it {
            match q.as_rule() {
                Rule::annot => annot = Some(annotation(ctx, q)),
                Rule::expr => value = Some(expr(ctx, q)),
                _ => {}
            }
        }
        EntryKind::Slot {
            name,
            annot,
            value: value?,
        }
    };
    Some(Entry {
        comments: Vec::new(),
        trailing: None,
        kind,
        span,
    })
}

fn annotation(ctx: &Ctx, p: Pair<Rule>) -> CarryAnnot {
    let span = ctx.sp(&p);
    let ty = p
        .into_inner()
        .find(|q| q.as_rule() == Rule::carry_ty)
        .map(|q| carry(ctx, q))
        .unwrap_or(CarryExpr::Unit);
    CarryAnnot { ty, span }
}

fn carry(ctx: &Ctx, p: Pair<Rule>) -> CarryExpr {
    let mut it = p.into_inner();
    let Some(first) = it.next() else {
        return CarryExpr::Unit;
    };
    let base = match first.as_rule() {
        Rule::carry_unit => CarryExpr::Unit,
        Rule::carry_tuple => CarryExpr::Tuple(first.into_inner().map(|q| carry(ctx, q)).collect()),
        Rule::carry_record => {
            let mut ri = first.into_inner();
            let name = ri
                .next()
                .map(|q| q.as_str().to_string())
                .unwrap_or_default();
            let fields = ri
                .map(|f| {
                    let mut fi = f.into_inner();
                    let k = fi
                        .next()
                        .map(|q| q.as_str().to_string())
                        .unwrap_or_default();
                    let v = fi.next().map(|q| uint(ctx, &q)).unwrap_or(0);
                    (k, v)
                })
                .collect();
            CarryExpr::Record(name, fields)
        }
        _ => CarryExpr::Unit,
    };
    match it.next() {
        Some(n) => {
            let k = uint(ctx, &n);
            if k == 0 {
                ctx.err(Diag::error(
                    "MX0106",
                    "a carry repeated 0 times",
                    ctx.span(ctx.sp(&n)),
                    "must be at least 1",
                ));
            }
            CarryExpr::Repeat(Box::new(base), k)
        }
        None => base,
    }
}

fn uint(ctx: &Ctx, p: &Pair<Rule>) -> u64 {
    match p.as_str().replace('_', "").parse::<u64>() {
        Ok(v) => v,
        Err(_) => {
            ctx.err(Diag::error(
                "MX0103",
                "expected a non-negative integer that fits in 64 bits",
                ctx.span(ctx.sp(p)),
                "here",
            ));
            0
        }
    }
}

fn unescape(s: &str) -> String {
    let inner = &s[1..s.len().saturating_sub(1).max(1)];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn repeat_depth(e: &Expr) -> usize {
    let mut d = 0;
    let mut cur = e;
    while let ExprKind::Repeat(a, _) = &cur.kind {
        d += 1;
        if d > MAX_NESTING {
            break;
        }
        cur = a;
    }
    d
}

fn expr(ctx: &Ctx, p: Pair<Rule>) -> Expr {
    let pratt = PrattParser::new()
        .op(Op::infix(Rule::arrow, Assoc::Left))
        .op(Op::infix(Rule::star, Assoc::Left));
    fold(ctx, &pratt, p.into_inner()).0
}

fn fold(ctx: &Ctx, pratt: &PrattParser<Rule>, pairs: Pairs<Rule>) -> (Expr, bool) {
    pratt
        .map_primary(|p| primary(ctx, pratt, p))
        .map_infix(|(lhs, lp), op, (rhs, _)| {
            let span = lhs.span.join(rhs.span);
            match op.as_rule() {
                Rule::arrow => {
                    let items = match lhs.kind {
                        ExprKind::Pipe(mut xs) if !lp => {
                            xs.push(rhs);
                            xs
                        }
                        k => vec![
                            Expr {
                                kind: k,
                                span: lhs.span,
                            },
                            rhs,
                        ],
                    };
                    (
                        Expr {
                            kind: ExprKind::Pipe(items),
                            span,
                        },
                        false,
                    )
                }
                _ => {
                    let e = Expr {
                        kind: ExprKind::Repeat(Box::new(lhs), Box::new(rhs)),
                        span,
                    };
                    if repeat_depth(&e) > MAX_NESTING {
                        ctx.err(Diag::error(
                            "MX0104",
                            "too many chained `*`",
                            ctx.span(op_span(ctx, &op)),
                            "here",
                        ));
                        let ExprKind::Repeat(l, _) = e.kind else {
                            unreachable!()
                        };
                        return (*l, false);
                    }
                    (e, false)
                }
            }
        })
        .parse(pairs)
}

fn op_span(ctx: &Ctx, p: &Pair<Rule>) -> Sp {
    ctx.sp(p)
}

fn primary(ctx: &Ctx, pratt: &PrattParser<Rule>, p: Pair<Rule>) -> (Expr, bool) {
    let span = ctx.sp(&p);
    let kind = match p.as_rule() {
        Rule::paren => {
            let inner = p.into_inner().next().expect("paren has expr");
            let (mut e, _) = fold(ctx, pratt, inner.into_inner());
            e.span = span;
            return (e, true);
        }
        Rule::list => ExprKind::List(p.into_inner().map(|q| expr(ctx, q)).collect()),
        Rule::call => {
            let mut it = p.into_inner();
            let name = ident(ctx, it.next().expect("call name"));
            let args = it
                .map(|a| {
                    let aspan = ctx.sp(&a);
                    let inner = a.into_inner().next().expect("arg");
                    if inner.as_rule() == Rule::kwarg {
                        let mut ki = inner.into_inner();
                        let n = ident(ctx, ki.next().expect("kw name"));
                        let v = expr(ctx, ki.next().expect("kw value"));
                        Arg {
                            name: Some(n),
                            value: v,
                            span: aspan,
                        }
                    } else {
                        Arg {
                            name: None,
                            value: expr(ctx, inner),
                            span: aspan,
                        }
                    }
                })
                .collect();
            ExprKind::Call(name, args)
        }
        Rule::name => {
            let id = p.into_inner().next().expect("name ident");
            return (
                Expr {
                    span: ctx.sp(&id),
                    kind: ExprKind::Name(id.as_str().to_string()),
                },
                false,
            );
        }
        Rule::int => match p.as_str().replace('_', "").parse::<i64>() {
            Ok(v) => ExprKind::Int(v),
            Err(_) => {
                ctx.err(Diag::error(
                    "MX0103",
                    "integer literal does not fit in 64 bits",
                    ctx.span(span),
                    "too large",
                ));
                ExprKind::Int(0)
            }
        },
        Rule::float => match p.as_str().replace('_', "").parse::<f64>() {
            Ok(v) if v.is_finite() => ExprKind::Float(v),
            _ => {
                ctx.err(Diag::error(
                    "MX0103",
                    "float literal is not finite",
                    ctx.span(span),
                    "out of range",
                ));
                ExprKind::Float(0.0)
            }
        },
        Rule::string => ExprKind::Str(unescape(p.as_str())),
        Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
        Rule::none => ExprKind::None,
        Rule::expr => return fold(ctx, pratt, p.into_inner()),
        _ => ExprKind::None,
    };
    (Expr { kind, span }, false)
}
