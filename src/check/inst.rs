//! Width propagation: terms → IR blocks with paths, widths, carries, parameter counts.

use std::collections::HashMap;

use super::eval::Term;
use super::ir::{Args, Block, CarryTy, Origin, Value};
use super::registry::signature::{block_sig, carry_text};
use crate::diag::{Diag, Span};

/// Instantiates terms; remembers the input width of every `shared` id.
pub struct Inst<'n> {
    /// File names by id (for origins).
    pub names: &'n [String],
    /// Number of actions of the environment (for `embed_action`).
    pub actions: usize,
    /// Diagnostics.
    pub diags: Vec<Diag>,
    /// Shared id → (input width, span of first use).
    pub shared: HashMap<u32, (usize, Span)>,
    /// Image shape `(height, width, channels)` of the observation, for image encoders.
    pub image: Option<(usize, usize, usize)>,
}

impl<'n> Inst<'n> {
    /// A new instantiator.
    pub fn new(names: &'n [String], actions: usize) -> Self {
        Inst {
            names,
            actions,
            diags: vec![],
            shared: HashMap::new(),
            image: None,
        }
    }

    /// Arguments of `t` with an image encoder's `side` taken from the observation's image
    /// shape when not given and the block reads the whole (square) image.
    fn image_args(&self, t: &Term, f: usize) -> Args {
        let mut args = t.args.clone();
        if matches!(t.kind.as_str(), "cnn" | "vit")
            && let Some((h, w, c)) = self.image
            && h == w
            && f == h * w * c
        {
            for (k, v) in &mut args.0 {
                if k == "side" && *v == Value::None {
                    *v = Value::Int(h as i64);
                }
            }
        }
        args
    }

    /// The IR origin of a span.
    pub fn origin(&self, s: Span) -> Origin {
        Origin {
            file: self
                .names
                .get(s.file.0 as usize)
                .cloned()
                .unwrap_or_default(),
            start: s.start,
            end: s.end,
        }
    }

    /// Identity block at `path` on width `f`.
    pub fn identity(&self, path: &str, f: usize, span: Span) -> Block {
        Block {
            path: path.to_string(),
            kind: "identity".into(),
            args: Args::default(),
            children: vec![],
            input: f,
            output: f,
            carry: CarryTy::Unit,
            params: 0,
            shared: None,
            origin: self.origin(span),
        }
    }

    /// Instantiate `t` on input width `f` at `path`.
    pub fn block(&mut self, t: &Term, f: usize, path: &str) -> Option<Block> {
        if let Some(id) = t.shared {
            match self.shared.get(&id) {
                Some((w, first)) if *w != f => {
                    self.diags.push(
                        Diag::error("MX0301", format!("shared block used at width {f}, but its parameters were made for width {w}"), t.use_span, format!("receives width {f} here"))
                            .with_label(*first, format!("first used at width {w}"))
                            .with_help("a `shared(...)` block has one parameter set, so every use must see the same input width"),
                    );
                    return None;
                }
                Some(_) => {}
                None => {
                    self.shared.insert(id, (f, t.use_span));
                }
            }
        }
        let mut children = Vec::new();
        let mut ok = true;
        if t.kind == "seq" {
            let mut w = f;
            for (i, c) in t.children.iter().enumerate() {
                match self.block(c, w, &format!("{path}.{i}")) {
                    Some(b) => {
                        w = b.output;
                        children.push(b);
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
        } else {
            for (i, c) in t.children.iter().enumerate() {
                match self.block(c, f, &format!("{path}.{i}")) {
                    Some(b) => children.push(b),
                    None => ok = false,
                }
            }
        }
        if !ok {
            return None;
        }
        let args = self.image_args(t, f);
        let sig = match block_sig(&t.kind, f, &args, &children, self.actions) {
            Ok(s) => s,
            Err(errs) => {
                for e in errs {
                    let primary = match e.arg {
                        Some(a) => t.arg_span(a),
                        None => t.span,
                    };
                    let mut d = Diag::error(e.code, e.message, primary, e.label);
                    if let Some(i) = e.child
                        && let (Some(c), Some(b)) = (t.children.get(i), children.get(i))
                    {
                        d = d
                            .with_label(c.span, format!("`{}` returns width {}", b.kind, b.output));
                    }
                    if primary != t.span && e.child.is_none() {
                        d = d.with_label(t.span, format!("this `{}` receives width {f}", t.kind));
                    }
                    if let Some(h) = e.help {
                        d = d.with_help(h);
                    }
                    self.diags.push(d);
                }
                return None;
            }
        };
        for (declared, aspan) in &t.annots {
            if *declared != sig.carry {
                self.diags.push(
                    Diag::error(
                        "MX0401",
                        format!(
                            "declared carry `{}` does not match the inferred carry `{}`",
                            carry_text(declared),
                            carry_text(&sig.carry)
                        ),
                        *aspan,
                        "declared here",
                    )
                    .with_label(t.span, format!("inferred carry {}", carry_text(&sig.carry)))
                    .with_help(format!("write `carry {}`", carry_text(&sig.carry))),
                );
                return None;
            }
        }
        Some(Block {
            path: path.to_string(),
            kind: t.kind.clone(),
            args,
            children,
            input: f,
            output: sig.out,
            carry: sig.carry,
            params: sig.params,
            shared: t.shared,
            origin: self.origin(t.span),
        })
    }

    /// Check `t` although the width it receives is unknown (its input failed to check):
    /// instantiate it at two probe widths and keep only the diagnostics both agree on, so that
    /// errors that do not depend on the input width are still reported in the same run.
    pub fn block_unknown_width(&mut self, t: &Term, path: &str) {
        let probe = |w: usize| {
            let mut i = Inst {
                names: self.names,
                actions: self.actions,
                diags: vec![],
                shared: self.shared.clone(),
                image: self.image,
            };
            i.block(t, w, path);
            i.diags
        };
        let (a, b) = (probe(64), probe(96));
        for d in a {
            let same = |e: &&Diag| e.code == d.code && e.primary.span == d.primary.span;
            if b.iter().any(|e| same(&e)) && !self.diags.iter().any(|e| same(&e)) {
                self.diags.push(d);
            }
        }
    }
}

/// Visit every block of a tree (pre-order).
pub fn walk<'b>(b: &'b Block, f: &mut impl FnMut(&'b Block)) {
    f(b);
    for c in &b.children {
        walk(c, f);
    }
}
