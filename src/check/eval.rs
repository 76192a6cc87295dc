//! Elaboration of expressions: let-substitution (call-by-name), registry calls, `*` expansion,
//! `shared(...)` → [`Term`]s (blocks without widths), heads, algorithm/optimizer calls and values.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::ir::{Args, CarryTy};
use super::registry::{self, BLOCK_CATS, Cat, Entry, Ty};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::{self, Arg, Expr, ExprKind};

/// Largest `x * n` count.
pub const MAX_REPEAT: i64 = 256;
/// Largest number of elaborated block nodes per run.
pub const MAX_NODES: usize = 100_000;
/// Largest let-call depth.
pub const MAX_DEPTH: usize = 64;

/// A block after elaboration, before widths are known.
#[derive(Clone, Debug)]
pub struct Term {
    /// Registry kind, or `seq`.
    pub kind: String,
    /// Non-block arguments in schema order, defaults filled.
    pub args: Args,
    /// Spans of arguments given in source (canonical name → span).
    pub arg_spans: Vec<(String, Span)>,
    /// Child terms (wrapped block, seq members, expert).
    pub children: Vec<Term>,
    /// Shared-parameter id.
    pub shared: Option<u32>,
    /// Origin of the expression.
    pub span: Span,
    /// Carry annotations of the `let`s this term came from.
    pub annots: Vec<(CarryTy, Span)>,
    /// Number of nodes in this term.
    pub size: usize,
    /// Span of the outermost use site (the `let` call), or `span`.
    pub use_span: Span,
}

impl Term {
    /// Span of an argument, or the term's span.
    pub fn arg_span(&self, name: &str) -> Span {
        self.arg_spans
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, s)| *s)
            .unwrap_or(self.span)
    }
    fn seq(children: Vec<Term>, span: Span) -> Term {
        let size = 1 + children.iter().map(|c| c.size).sum::<usize>();
        Term {
            kind: "seq".into(),
            args: Args::default(),
            arg_spans: vec![],
            children,
            shared: None,
            span,
            annots: vec![],
            size,
            use_span: span,
        }
    }
}

/// A head after elaboration.
#[derive(Clone, Debug)]
pub struct HeadTerm {
    /// `categorical`, `gaussian`, `q`, `twin_q`, `value`.
    pub kind: String,
    /// Arguments.
    pub args: Args,
    /// Origin.
    pub span: Span,
}

/// An algorithm, optimizer or intrinsic call after elaboration.
#[derive(Clone, Debug)]
pub struct EntryCall {
    /// The registry entry.
    pub entry: &'static Entry,
    /// Arguments, canonical names, defaults filled.
    pub args: Args,
    /// Spans of given arguments.
    pub arg_spans: Vec<(String, Span)>,
    /// Span of the call.
    pub span: Span,
}

impl EntryCall {
    /// Span of an argument or of the call.
    pub fn arg_span(&self, name: &str) -> Span {
        self.arg_spans
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, s)| *s)
            .unwrap_or(self.span)
    }
}

/// A delayed argument: expression + the environment and file it is evaluated in.
#[derive(Clone)]
pub struct Thunk<'a> {
    /// The expression.
    pub expr: &'a Expr,
    /// Its environment.
    pub env: Rc<Env<'a>>,
    /// Its file.
    pub file: FileId,
}

/// Parameter bindings of a `let` body.
pub type Env<'a> = HashMap<String, Thunk<'a>>;

/// A top-level `let` known to the elaborator.
pub struct LetInfo<'a> {
    /// The definition.
    pub def: &'a ast::Let,
    /// Its file.
    pub file: FileId,
}

/// The elaborator: owns the let table, the diagnostics of this stage and shared ids.
pub struct Elab<'a> {
    /// Lets by name.
    pub lets: HashMap<String, LetInfo<'a>>,
    /// Diagnostics produced.
    pub diags: Vec<Diag>,
    /// Names of lets used.
    pub used: HashSet<String>,
    stack: Vec<String>,
    shared_ids: HashMap<(FileId, usize), u32>,
    nodes: usize,
    too_big: bool,
}

/// Did-you-mean suggestion.
pub fn suggest<'b>(name: &str, candidates: impl IntoIterator<Item = &'b str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let s = strsim::jaro_winkler(name, c);
        if s > 0.8 && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

pub(crate) fn kind_word(e: &Expr) -> &'static str {
    match e.kind {
        ExprKind::Int(_) => "an integer",
        ExprKind::Float(_) => "a number",
        ExprKind::Str(_) => "a string",
        ExprKind::Bool(_) => "a boolean",
        ExprKind::None => "`none`",
        ExprKind::List(_) => "a list",
        ExprKind::Pipe(_) | ExprKind::Repeat(..) => "a block",
        ExprKind::Name(_) | ExprKind::Call(..) => "a name",
    }
}

impl<'a> Elab<'a> {
    /// A new elaborator over the given lets.
    pub fn new(lets: HashMap<String, LetInfo<'a>>) -> Self {
        Elab {
            lets,
            diags: vec![],
            used: HashSet::new(),
            stack: vec![],
            shared_ids: HashMap::new(),
            nodes: 0,
            too_big: false,
        }
    }

    pub(crate) fn sp(file: FileId, s: ast::Sp) -> Span {
        Span::new(file, s.start, s.end)
    }

    pub(crate) fn err(&mut self, d: Diag) {
        self.diags.push(d);
    }

    pub(crate) fn unknown(&mut self, name: &str, span: Span, cats: &[Cat], env: &Env<'a>) {
        let mut cands: Vec<&str> = registry::names(cats);
        let lets: Vec<String> = self.lets.keys().cloned().collect();
        cands.extend(lets.iter().map(|s| s.as_str()));
        cands.extend(env.keys().map(|s| s.as_str()));
        let what = if cats.contains(&Cat::Head) {
            "head"
        } else if cats.contains(&Cat::Algorithm) {
            "algorithm"
        } else if cats.contains(&Cat::Optimizer) {
            "optimizer"
        } else {
            "block"
        };
        let mut d = Diag::error(
            "MX0201",
            format!("unknown {what} `{name}`"),
            span,
            "not defined",
        );
        d = match suggest(name, cands.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "known {what}s: {}",
                registry::names(cats).join(", ")
            )),
        };
        self.err(d);
    }

    /// Call a let: bind arguments (call-by-name), then evaluate the body with `f`.
    pub(crate) fn call_let<R>(
        &mut self,
        name: &str,
        args: &'a [Arg],
        call_span: Span,
        env: &Rc<Env<'a>>,
        file: FileId,
        f: impl FnOnce(&mut Self, &'a Expr, Rc<Env<'a>>, FileId) -> Option<R>,
    ) -> Option<R> {
        let (def, lfile) = {
            let li = self.lets.get(name)?;
            (li.def, li.file)
        };
        self.used.insert(name.to_string());
        if self.stack.iter().any(|n| n == name) {
            let chain = format!("{} -> {name}", self.stack.join(" -> "));
            self.err(
                Diag::error(
                    "MX0213",
                    format!("`{name}` refers to itself ({chain})"),
                    call_span,
                    "recursive use",
                )
                .with_label(Self::sp(lfile, def.name.span), "defined here")
                .with_help("a `let` cannot use itself, directly or through other `let`s"),
            );
            return None;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.err(Diag::error(
                "MX0104",
                "`let`s nested too deeply",
                call_span,
                "here",
            ));
            return None;
        }
        let params: &'a [ast::Param] = def.params.as_deref().unwrap_or(&[]);
        let mut new_env: Env<'a> = HashMap::new();
        let mut ok = true;
        let mut seen_kw = false;
        let mut pos = 0;
        for a in args {
            let aspan = Self::sp(file, a.span);
            match &a.name {
                None => {
                    if seen_kw {
                        self.err(positional_after_keyword(aspan));
                        ok = false;
                        continue;
                    }
                    match params.get(pos) {
                        Some(p) => {
                            new_env.insert(
                                p.name.name.clone(),
                                Thunk {
                                    expr: &a.value,
                                    env: env.clone(),
                                    file,
                                },
                            );
                        }
                        None => {
                            self.err(
                                Diag::error(
                                    "MX0206",
                                    format!(
                                        "`{name}` takes {} argument(s), found more",
                                        params.len()
                                    ),
                                    aspan,
                                    "extra argument",
                                )
                                .with_label(
                                    Self::sp(lfile, def.name.span),
                                    format!("`{name}` defined here"),
                                ),
                            );
                            ok = false;
                        }
                    }
                    pos += 1;
                }
                Some(k) => {
                    seen_kw = true;
                    if !params.iter().any(|p| p.name.name == k.name) {
                        let valid: Vec<&str> =
                            params.iter().map(|p| p.name.name.as_str()).collect();
                        let mut d = Diag::error(
                            "MX0202",
                            format!("`{name}` has no parameter `{}`", k.name),
                            Self::sp(file, k.span),
                            "unknown argument",
                        )
                        .with_label(
                            Self::sp(lfile, def.name.span),
                            format!("`{name}` defined here"),
                        );
                        d = d.with_help(match suggest(&k.name, valid.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? valid: {}", valid.join(", ")),
                            None => format!(
                                "valid arguments: {}",
                                if valid.is_empty() {
                                    "none".to_string()
                                } else {
                                    valid.join(", ")
                                }
                            ),
                        });
                        self.err(d);
                        ok = false;
                    } else if new_env.contains_key(&k.name) {
                        self.err(Diag::error(
                            "MX0205",
                            format!("argument `{}` given twice", k.name),
                            Self::sp(file, k.span),
                            "duplicate",
                        ));
                        ok = false;
                    } else {
                        new_env.insert(
                            k.name.clone(),
                            Thunk {
                                expr: &a.value,
                                env: env.clone(),
                                file,
                            },
                        );
                    }
                }
            }
        }
        let empty: Rc<Env<'a>> = Rc::new(HashMap::new());
        for p in params {
            if new_env.contains_key(&p.name.name) {
                continue;
            }
            match &p.default {
                Some(d) => {
                    new_env.insert(
                        p.name.name.clone(),
                        Thunk {
                            expr: d,
                            env: empty.clone(),
                            file: lfile,
                        },
                    );
                }
                None if !ok => {}
                None => {
                    self.err(
                        Diag::error(
                            "MX0207",
                            format!("missing argument `{}` of `{name}`", p.name.name),
                            call_span,
                            format!("`{}` not given", p.name.name),
                        )
                        .with_label(Self::sp(lfile, p.name.span), "parameter without default"),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        self.stack.push(name.to_string());
        let r = f(self, &def.body, Rc::new(new_env), lfile);
        self.stack.pop();
        r
    }

    /// Evaluate an expression as a block.
    pub fn block(&mut self, e: &'a Expr, env: &Rc<Env<'a>>, file: FileId) -> Option<Term> {
        if self.too_big {
            return None;
        }
        let span = Self::sp(file, e.span);
        match &e.kind {
            ExprKind::Pipe(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for it in items {
                    match self.block(it, env, file) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then(|| Term::seq(out, span))
            }
            ExprKind::Repeat(l, r) => {
                if matches!(l.kind, ExprKind::Int(_)) && !matches!(r.kind, ExprKind::Int(_)) {
                    self.err(
                        Diag::error(
                            "MX0404",
                            "the repeat count goes on the right: `x * n`",
                            span,
                            "count on the left",
                        )
                        .with_help("write e.g. `gru(64) * 2`"),
                    );
                    return None;
                }
                let t = self.block(l, env, file);
                let n = self.value(r, env, file, Ty::Int, "repeat count");
                let (t, (n, nspan)) = (t?, n?);
                let n = n.as_int().unwrap_or(0);
                if !(1..=MAX_REPEAT).contains(&n) {
                    self.err(Diag::error(
                        "MX0404",
                        format!("repeat count must be between 1 and {MAX_REPEAT}, found {n}"),
                        nspan,
                        "count",
                    ));
                    return None;
                }
                self.count(t.size * n as usize, span)?;
                Some(Term::seq((0..n).map(|_| t.clone()).collect(), span))
            }
            ExprKind::Name(n) => {
                self.block_call(n, Self::sp(file, e.span), &[], env, file, span, false)
            }
            ExprKind::Call(id, args) => self.block_call(
                &id.name,
                Self::sp(file, id.span),
                args,
                env,
                file,
                span,
                true,
            ),
            _ => {
                self.err(Diag::error(
                    "MX0208",
                    format!("expected a block, found {}", kind_word(e)),
                    span,
                    "not a block",
                ));
                None
            }
        }
    }

    fn count(&mut self, n: usize, span: Span) -> Option<()> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.too_big = true;
            self.err(Diag::error(
                "MX0306",
                format!("the program elaborates to more than {MAX_NODES} blocks"),
                span,
                "too large",
            ));
            return None;
        }
        Some(())
    }

    #[allow(clippy::too_many_arguments)]
    fn block_call(
        &mut self,
        name: &str,
        name_span: Span,
        args: &'a [Arg],
        env: &Rc<Env<'a>>,
        file: FileId,
        span: Span,
        is_call: bool,
    ) -> Option<Term> {
        if let Some(th) = env.get(name).cloned() {
            if is_call {
                self.err(Diag::error(
                    "MX0208",
                    format!("`{name}` is a parameter and cannot be called"),
                    name_span,
                    "parameter",
                ));
                return None;
            }
            return self.block(th.expr, &th.env, th.file);
        }
        if self.lets.contains_key(name) {
            let annot = self
                .lets
                .get(name)
                .and_then(|l| l.def.annot.as_ref().map(|a| (a.clone(), l.file)));
            let t = self.call_let(name, args, span, env, file, |s, body, env, f| {
                s.block(body, &env, f)
            });
            return t.map(|mut t| {
                t.use_span = span;
                if let Some((a, f)) = annot {
                    t.annots.push((carry_of(&a.ty), Self::sp(f, a.span)));
                }
                t
            });
        }
        match name {
            "shared" => {
                let x = self.only_block_arg(name, args, span, env, file)?;
                let mut t = x?;
                let next = self.shared_ids.len() as u32;
                let id = *self.shared_ids.entry((file, span.start)).or_insert(next);
                t.shared = Some(id);
                return Some(t);
            }
            "stack" => {
                let mut out = Vec::new();
                let mut ok = true;
                for a in args {
                    if let Some(k) = &a.name {
                        self.err(Diag::error(
                            "MX0202",
                            "`stack` takes only positional blocks",
                            Self::sp(file, k.span),
                            "keyword argument",
                        ));
                        ok = false;
                        continue;
                    }
                    match self.block(&a.value, env, file) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                if out.is_empty() && ok {
                    self.err(Diag::error(
                        "MX0207",
                        "`stack` needs at least one block",
                        span,
                        "empty stack",
                    ));
                    return None;
                }
                return ok.then(|| Term::seq(out, span));
            }
            "heads" => {
                self.err(
                    Diag::error("MX0403", "`heads(...)` is only allowed at the end of `network = ...`", span, "heads here")
                        .with_help("write `network = mlp(64) -> heads(actor = categorical(), critic = value())`"),
                );
                return None;
            }
            _ => {}
        }
        match registry::lookup(name) {
            Some(entry) if BLOCK_CATS.contains(&entry.cat) => {
                let b = self.bind(entry, args, &[], span, env, file)?;
                self.count(1, span)?;
                let size = 1 + b.children.iter().map(|c| c.size).sum::<usize>();
                Some(Term {
                    kind: name.to_string(),
                    args: b.args,
                    arg_spans: b.spans,
                    children: b.children,
                    shared: None,
                    span,
                    annots: vec![],
                    size,
                    use_span: span,
                })
            }
            Some(entry) => {
                let help = match entry.cat {
                    Cat::Head => "heads go in `actor`, `critic`, `q` or `heads(...)`",
                    Cat::Algorithm => "algorithms go in `algorithm = ...`",
                    Cat::Optimizer => "optimizers go in `optimizer = ...`",
                    _ => "intrinsic modules go in `intrinsic = ...`",
                };
                self.err(
                    Diag::error(
                        "MX0403",
                        format!(
                            "`{name}` is {} {}, not a block",
                            if entry.cat == Cat::Algorithm || entry.cat == Cat::Optimizer {
                                "an"
                            } else {
                                "a"
                            },
                            entry.cat.name()
                        ),
                        name_span,
                        "used as a block",
                    )
                    .with_help(help),
                );
                None
            }
            None => {
                self.unknown(name, name_span, BLOCK_CATS, env);
                None
            }
        }
    }

    fn only_block_arg(
        &mut self,
        name: &str,
        args: &'a [Arg],
        span: Span,
        env: &Rc<Env<'a>>,
        file: FileId,
    ) -> Option<Option<Term>> {
        if args.len() != 1 || args[0].name.is_some() {
            self.err(Diag::error(
                "MX0206",
                format!("`{name}` takes exactly one block"),
                span,
                format!("write `{name}(block)`"),
            ));
            return None;
        }
        Some(self.block(&args[0].value, env, file))
    }
}

pub(crate) fn positional_after_keyword(span: Span) -> Diag {
    Diag::error(
        "MX0203",
        "positional argument after keyword argument",
        span,
        "positional argument here",
    )
    .with_help("put positional arguments first, or name this one")
}

/// Convert a written carry to a carry type (normal form).
pub fn carry_of(c: &ast::CarryExpr) -> CarryTy {
    use super::registry::signature::tuple;
    match c {
        ast::CarryExpr::Unit => CarryTy::Unit,
        ast::CarryExpr::Record(n, fs) => CarryTy::Record {
            name: n.clone(),
            fields: fs.clone(),
        },
        ast::CarryExpr::Tuple(xs) => tuple(xs.iter().map(carry_of).collect(), false),
        ast::CarryExpr::Repeat(b, n) => tuple(
            (0..(*n).min(MAX_REPEAT as u64))
                .map(|_| carry_of(b))
                .collect(),
            false,
        ),
    }
}

pub(crate) use positional_after_keyword as pak;
