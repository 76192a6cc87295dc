//! Elaboration of heads, algorithm/optimizer/intrinsic calls and plain values.

use std::rc::Rc;

use super::eval::{Elab, EntryCall, Env, HeadTerm, kind_word, suggest};
use super::ir::Value;
use super::registry::{self, Cat, Ty};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::{self, Arg, Expr, ExprKind};

impl<'a> Elab<'a> {
    /// Evaluate an expression as a head.
    pub fn head(&mut self, e: &'a Expr, env: &Rc<Env<'a>>, file: FileId) -> Option<HeadTerm> {
        let span = Self::sp(file, e.span);
        let (name, nspan, args): (&str, Span, &'a [Arg]) = match &e.kind {
            ExprKind::Name(n) => (n, span, &[]),
            ExprKind::Call(id, a) => (&id.name, Self::sp(file, id.span), a),
            _ => {
                self.err(
                    Diag::error(
                        "MX0403",
                        format!("expected a head, found {}", kind_word(e)),
                        span,
                        "not a head",
                    )
                    .with_help("heads are categorical(), gaussian(), q(), twin_q(), value()"),
                );
                return None;
            }
        };
        if let Some(th) = env.get(name).cloned() {
            return self.head(th.expr, &th.env, th.file);
        }
        if self.lets.contains_key(name) {
            return self.call_let(name, args, span, env, file, |s, body, env, f| {
                s.head(body, &env, f)
            });
        }
        match registry::lookup(name) {
            Some(entry) if entry.cat == Cat::Head => {
                let b = self.bind(entry, args, &[], span, env, file)?;
                Some(HeadTerm {
                    kind: name.to_string(),
                    args: b.args,
                    span,
                })
            }
            Some(entry) => {
                self.err(
                    Diag::error("MX0403", format!("expected a head, found the {} `{name}`", entry.cat.name()), nspan, "not a head")
                        .with_help("heads are categorical(), gaussian(), q(), twin_q(), value(); blocks go in `encoder`/`torso`"),
                );
                None
            }
            None => {
                self.unknown(name, nspan, &[Cat::Head], env);
                None
            }
        }
    }

    /// Evaluate an expression as a call of an entry of the given categories (algorithm, optimizer,
    /// intrinsic); `extra` are override arguments that replace source arguments.
    pub fn entry_call(
        &mut self,
        e: &'a Expr,
        env: &Rc<Env<'a>>,
        file: FileId,
        cats: &[Cat],
        extra: &'a [(Arg, FileId)],
    ) -> Option<EntryCall> {
        let span = Self::sp(file, e.span);
        let (name, nspan, args): (&str, Span, &'a [Arg]) = match &e.kind {
            ExprKind::Name(n) => (n, span, &[]),
            ExprKind::Call(id, a) => (&id.name, Self::sp(file, id.span), a),
            _ => {
                self.err(Diag::error(
                    "MX0403",
                    format!("expected {}, found {}", cats[0].name(), kind_word(e)),
                    span,
                    "wrong kind",
                ));
                return None;
            }
        };
        if let Some(th) = env.get(name).cloned() {
            return self.entry_call(th.expr, &th.env, th.file, cats, extra);
        }
        if self.lets.contains_key(name) {
            return self.call_let(name, args, span, env, file, |s, body, env, f| {
                s.entry_call(body, &env, f, cats, extra)
            });
        }
        match registry::lookup(name) {
            Some(entry) if cats.contains(&entry.cat) => {
                let b = self.bind(entry, args, extra, span, env, file)?;
                Some(EntryCall {
                    entry,
                    args: b.args,
                    arg_spans: b.spans,
                    span,
                })
            }
            Some(entry) => {
                self.err(Diag::error(
                    "MX0403",
                    format!(
                        "expected {}, found the {} `{name}`",
                        cats[0].name(),
                        entry.cat.name()
                    ),
                    nspan,
                    "wrong kind",
                ));
                None
            }
            None => {
                self.unknown(name, nspan, cats, env);
                None
            }
        }
    }

    /// Evaluate an expression as a value of type `ty`; `what` names it in messages.
    pub fn value(
        &mut self,
        e: &'a Expr,
        env: &Rc<Env<'a>>,
        file: FileId,
        ty: Ty,
        what: &str,
    ) -> Option<(Value, Span)> {
        let span = Self::sp(file, e.span);
        let bad = |s: &mut Self| {
            s.err(Diag::error(
                if what.starts_with("train.") {
                    "MX0504"
                } else {
                    "MX0208"
                },
                format!("{what}: expected {}, found {}", ty.describe(), kind_word(e)),
                span,
                format!("expected {}", ty.describe()),
            ));
            None
        };
        match (&e.kind, ty) {
            (ExprKind::Name(n), _) | (ExprKind::Call(ast::Ident { name: n, .. }, _), _)
                if env.contains_key(n.as_str()) && matches!(e.kind, ExprKind::Name(_)) =>
            {
                let th = env.get(n.as_str()).cloned()?;
                self.value(th.expr, &th.env, th.file, ty, what)
            }
            (ExprKind::Name(n), _)
                if self.lets.contains_key(n.as_str())
                    && !matches!(ty, Ty::Sym(o) if o.contains(&n.as_str())) =>
            {
                self.call_let(n, &[], span, env, file, |s, body, env, f| {
                    s.value(body, &env, f, ty, what)
                })
            }
            (ExprKind::Int(v), Ty::Int | Ty::IntOrNone) => Some((Value::Int(*v), span)),
            (ExprKind::Int(v), Ty::Float | Ty::FloatOrNone | Ty::Schedule) => {
                Some((Value::Float(*v as f64), span))
            }
            (ExprKind::Float(v), Ty::Float | Ty::FloatOrNone | Ty::Schedule) => {
                Some((Value::Float(*v), span))
            }
            (ExprKind::Float(v), Ty::Int | Ty::IntOrNone) if v.fract() == 0.0 && v.abs() < 1e15 => {
                Some((Value::Int(*v as i64), span))
            }
            (ExprKind::Bool(b), Ty::Bool) => Some((Value::Bool(*b), span)),
            (ExprKind::None, Ty::IntOrNone | Ty::FloatOrNone) => Some((Value::None, span)),
            (ExprKind::None, Ty::Sym(opts)) if opts.contains(&"none") => {
                Some((Value::Sym("none".into()), span))
            }
            (ExprKind::Name(n), Ty::Sym(opts))
            | (ExprKind::Call(ast::Ident { name: n, .. }, _), Ty::Sym(opts)) => {
                if let ExprKind::Call(_, a) = &e.kind
                    && !a.is_empty()
                {
                    return bad(self);
                }
                if opts.contains(&n.as_str()) {
                    return Some((Value::Sym(n.clone()), span));
                }
                let mut d = Diag::error(
                    "MX0208",
                    format!("{what}: `{n}` is not one of {}", opts.join(", ")),
                    span,
                    "unknown option",
                );
                d = d.with_help(match suggest(n, opts.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("valid: {}", opts.join(", ")),
                });
                self.err(d);
                None
            }
            (ExprKind::Call(id, a), Ty::Schedule) if id.name == "linear" => {
                if a.len() != 2 || a.iter().any(|x| x.name.is_some()) {
                    self.err(Diag::error(
                        "MX0208",
                        "a schedule is `linear(start, end)`",
                        span,
                        "malformed schedule",
                    ));
                    return None;
                }
                let s = self.value(&a[0].value, env, file, Ty::Float, "schedule start");
                let t = self.value(&a[1].value, env, file, Ty::Float, "schedule end");
                Some((Value::Call("linear".into(), vec![s?.0, t?.0]), span))
            }
            (ExprKind::Str(s), _) if what == "env" => Some((Value::Str(s.clone()), span)),
            (ExprKind::List(xs), Ty::Int)
                if what.ends_with("widths") || what.ends_with("channels") =>
            {
                let mut out = Vec::new();
                for x in xs {
                    out.push(self.value(x, env, file, Ty::Int, what)?.0);
                }
                Some((Value::List(out), span))
            }
            (ExprKind::Name(n), _)
                if !env.contains_key(n.as_str()) && !self.lets.contains_key(n.as_str()) =>
            {
                let mut d =
                    Diag::error("MX0201", format!("unknown name `{n}`"), span, "not defined");
                let lets: Vec<String> = self.lets.keys().cloned().collect();
                let cands: Vec<&str> = lets
                    .iter()
                    .map(|s| s.as_str())
                    .chain(env.keys().map(|s| s.as_str()))
                    .collect();
                if let Some(s) = suggest(n, cands) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else {
                    d = d.with_help(format!("{what} expects {}", ty.describe()));
                }
                self.err(d);
                None
            }
            _ => bad(self),
        }
    }
}
