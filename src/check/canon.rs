//! Canonical `.mx` text of elaborated agents and blocks, and the architecture hash.

use super::ir::{self, Block, Value};
use super::registry::{self, Ty};
use crate::syntax::ast::{self, Arg, EntryKind, Expr, ExprKind, Ident, Sp};
use crate::syntax::printer;

fn e(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Sp::default(),
    }
}

fn id(n: &str) -> Ident {
    Ident {
        name: n.to_string(),
        span: Sp::default(),
    }
}

fn pos(v: Expr) -> Arg {
    Arg {
        name: None,
        value: v,
        span: Sp::default(),
    }
}

fn kw(k: &str, v: Expr) -> Arg {
    Arg {
        name: Some(id(k)),
        value: v,
        span: Sp::default(),
    }
}

fn call(n: &str, args: Vec<Arg>) -> Expr {
    e(ExprKind::Call(id(n), args))
}

/// A value as an expression.
pub fn value_expr(v: &Value) -> Expr {
    match v {
        Value::Int(i) => e(ExprKind::Int(*i)),
        Value::Float(f) => e(ExprKind::Float(*f)),
        Value::Bool(b) => e(ExprKind::Bool(*b)),
        Value::Str(s) => e(ExprKind::Str(s.clone())),
        Value::Sym(s) => e(ExprKind::Name(s.clone())),
        Value::None => e(ExprKind::None),
        Value::List(xs) => e(ExprKind::List(xs.iter().map(value_expr).collect())),
        Value::Call(n, xs) => call(n, xs.iter().map(|x| pos(value_expr(x))).collect()),
    }
}

/// A block as an expression (`top`: a `seq` prints as a pipe, else as `stack(...)`).
pub fn block_expr(b: &Block, top: bool) -> Expr {
    let inner = match b.kind.as_str() {
        "identity" => e(ExprKind::Name("identity".into())),
        "seq" if top && b.children.len() > 1 => e(ExprKind::Pipe(
            b.children.iter().map(|c| block_expr(c, false)).collect(),
        )),
        "seq" => call(
            "stack",
            b.children
                .iter()
                .map(|c| pos(block_expr(c, false)))
                .collect(),
        ),
        k => {
            let entry = registry::lookup(k);
            let mut args: Vec<Arg> = b
                .children
                .iter()
                .map(|c| pos(block_expr(c, false)))
                .collect();
            for (name, v) in &b.args.0 {
                let variadic = entry.and_then(|en| en.variadic) == Some(name.as_str());
                match (variadic, v) {
                    (true, Value::List(xs)) => args.extend(xs.iter().map(|x| pos(value_expr(x)))),
                    _ => args.push(kw(name, value_expr(v))),
                }
            }
            let _ = Ty::Block;
            call(k, args)
        }
    };
    match b.shared {
        Some(_) => call("shared", vec![pos(inner)]),
        None => inner,
    }
}

fn head_expr(h: &ir::Head) -> Expr {
    call(
        &h.kind,
        h.args.0.iter().map(|(k, v)| kw(k, value_expr(v))).collect(),
    )
}

fn args_call(name: &str, a: &ir::Args) -> Expr {
    call(
        name,
        a.0.iter().map(|(k, v)| kw(k, value_expr(v))).collect(),
    )
}

fn slot(name: &str, value: Expr) -> ast::Entry {
    ast::Entry {
        comments: vec![],
        trailing: None,
        kind: EntryKind::Slot {
            name: id(name),
            annot: None,
            value,
        },
        span: Sp::default(),
    }
}

/// The canonical agent as an AST item.
pub fn agent_item(a: &ir::Agent) -> ast::Item {
    let mut entries = vec![
        slot("env", e(ExprKind::Str(a.env.id.clone()))),
        slot("algorithm", args_call(&a.algorithm, &a.hparams)),
    ];
    if let Some(n) = a.networks.first() {
        if n.name == "network" {
            let heads = call(
                "heads",
                n.heads.iter().map(|(r, h)| kw(r, head_expr(h))).collect(),
            );
            let value = match (&n.torso.kind[..], n.torso.children.len()) {
                ("identity", _) => heads,
                ("seq", k) if k > 1 => {
                    let mut xs: Vec<Expr> = n
                        .torso
                        .children
                        .iter()
                        .map(|c| block_expr(c, false))
                        .collect();
                    xs.push(heads);
                    e(ExprKind::Pipe(xs))
                }
                _ => e(ExprKind::Pipe(vec![block_expr(&n.torso, false), heads])),
            };
            entries.push(slot("network", value));
        } else {
            entries.push(slot("encoder", block_expr(&n.encoder, true)));
            entries.push(slot("torso", block_expr(&n.torso, true)));
            for net in &a.networks {
                for (role, h) in &net.heads {
                    entries.push(slot(role, head_expr(h)));
                }
            }
        }
    }
    entries.push(slot(
        "optimizer",
        args_call(&a.optimizer, &a.optimizer_args),
    ));
    if let Some((n, args, _)) = &a.intrinsic {
        entries.push(slot("intrinsic", args_call(n, args)));
    }
    let t = &a.train;
    let f = |k: &str, v: u64| (id(k), e(ExprKind::Int(v.min(i64::MAX as u64) as i64)));
    entries.push(ast::Entry {
        comments: vec![],
        trailing: None,
        kind: EntryKind::Section {
            name: id("train"),
            fields: vec![
                f("steps", t.steps),
                f("seed", t.seed),
                f("eval_every", t.eval_every),
                f("eval_episodes", t.eval_episodes),
            ],
        },
        span: Sp::default(),
    });
    ast::Item {
        comments: vec![],
        trailing: None,
        kind: ast::ItemKind::Agent(ast::Agent {
            name: id(&a.name),
            entries,
            end_comments: vec![],
            recovered: false,
        }),
        span: Sp::default(),
    }
}

/// Canonical `.mx` text of an elaborated agent.
pub fn agent_text(a: &ir::Agent) -> String {
    printer::print_file(&ast::File {
        items: vec![agent_item(a)],
        trailing_comments: vec![],
    })
}

/// Canonical `let NAME = expr` text of an elaborated block.
pub fn let_text(name: &str, b: &Block) -> String {
    let item = ast::Item {
        comments: vec![],
        trailing: None,
        kind: ast::ItemKind::Let(ast::Let {
            name: id(name),
            params: None,
            annot: None,
            body: block_expr(b, true),
        }),
        span: Sp::default(),
    };
    printer::print_file(&ast::File {
        items: vec![item],
        trailing_comments: vec![],
    })
}

/// `mx1:` + 12 hex of blake3.
pub fn hash_text(text: &str) -> String {
    let h = blake3::hash(text.as_bytes());
    format!("mx1:{}", &h.to_hex()[..12])
}

/// Architecture hash of an agent: canonical text with the name and the seed neutralised, so
/// runs of one configuration over several seeds share a hash.
pub fn agent_hash(a: &ir::Agent) -> String {
    let mut b = a.clone();
    b.name = "_".into();
    b.train.seed = 0;
    hash_text(&agent_text(&b))
}

/// Hash of a block (architecture `let`s).
pub fn block_hash(b: &Block) -> String {
    hash_text(&let_text("_", b))
}
