//! Signature functions: output width, carry and analytic parameter count of every block.

use crate::check::ir::{Args, Block, CarryTy, Value};

/// The result of a signature: output width, carry (normal form), parameter count.
#[derive(Clone, Debug, PartialEq)]
pub struct Sig {
    /// Output width.
    pub out: usize,
    /// Carry.
    pub carry: CarryTy,
    /// Parameters of the block including children.
    pub params: u64,
}

/// A constraint violation reported by a signature function.
#[derive(Clone, Debug, PartialEq)]
pub struct SigErr {
    /// Diagnostic code.
    pub code: &'static str,
    /// Message.
    pub message: String,
    /// Argument whose span is the primary label (`None`: the call).
    pub arg: Option<&'static str>,
    /// Child index whose span gets a secondary label.
    pub child: Option<usize>,
    /// Primary label text.
    pub label: String,
    /// Help line.
    pub help: Option<String>,
}

fn err(code: &'static str, message: String, arg: Option<&'static str>, label: String) -> SigErr {
    SigErr {
        code,
        message,
        arg,
        child: None,
        label,
        help: None,
    }
}

/// A record carry.
pub fn rec(name: &str, fields: &[(&str, u128)]) -> CarryTy {
    CarryTy::Record {
        name: name.to_string(),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).min(u64::MAX as u128) as u64))
            .collect(),
    }
}

/// Normal form of a tuple: units dropped, nested `seq` tuples flattened when `flatten`,
/// singletons unwrapped, empty → unit.
pub fn tuple(items: Vec<CarryTy>, flatten: bool) -> CarryTy {
    let mut out = Vec::new();
    for c in items {
        match c {
            CarryTy::Unit => {}
            CarryTy::Tuple(xs) if flatten => out.extend(xs),
            c => out.push(c),
        }
    }
    match out.len() {
        0 => CarryTy::Unit,
        1 => out.pop().unwrap_or(CarryTy::Unit),
        _ => CarryTy::Tuple(out),
    }
}

/// Print a carry in annotation syntax.
pub fn carry_text(c: &CarryTy) -> String {
    match c {
        CarryTy::Unit => "()".into(),
        CarryTy::Record { name, fields } => {
            let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{name}({})", f.join(", "))
        }
        CarryTy::Tuple(xs) => {
            let f: Vec<String> = xs.iter().map(carry_text).collect();
            format!("({})", f.join(", "))
        }
    }
}

fn int(a: &Args, k: &str) -> u128 {
    a.get(k).and_then(Value::as_int).unwrap_or(0).max(0) as u128
}

fn norm_params(a: &Args, f: u128) -> u128 {
    if a.get("norm").and_then(Value::as_str) == Some("rmsnorm") {
        f
    } else {
        2 * f
    }
}

fn list_ints(a: &Args, k: &str) -> Vec<u128> {
    match a.get(k) {
        Some(Value::List(xs)) => xs
            .iter()
            .filter_map(Value::as_int)
            .map(|v| v.max(0) as u128)
            .collect(),
        _ => vec![],
    }
}

fn heads_divide(f: u128, heads: u128, what: &str) -> Result<u128, SigErr> {
    if heads == 0 || !f.is_multiple_of(heads) {
        let mut e = err(
            "MX0303",
            format!(
                "{f} {what} cannot be split into {heads} heads ({f} % {heads} = {})",
                if heads == 0 { f } else { f % heads }
            ),
            Some("heads"),
            format!("heads = {heads}; the block receives width {f}"),
        );
        let divs: Vec<String> = (1..=f.min(64))
            .filter(|d| f.is_multiple_of(*d))
            .map(|d| d.to_string())
            .collect();
        e.help = Some(format!("use a divisor of {f}: {}", divs.join(", ")));
        return Err(e);
    }
    Ok(f / heads)
}

fn side_of(f: u128, a: &Args) -> Result<(u128, u128), SigErr> {
    let side = match a.get("side").and_then(Value::as_int) {
        Some(s) => s.max(1) as u128,
        None => (f as f64).sqrt().round() as u128,
    };
    if side == 0 || !f.is_multiple_of(side * side) {
        return Err(err(
            "MX0301",
            format!(
                "a {f}-wide observation is not an image of side {side} (F must be side*side*channels)"
            ),
            Some("side"),
            format!("side {side}"),
        ));
    }
    Ok((side, f / (side * side)))
}

/// Compute the signature of `kind` applied to width `f` (children already instantiated).
/// `actions` is the env's action count (for `embed_action`).
pub fn block_sig(
    kind: &str,
    f: usize,
    a: &Args,
    children: &[Block],
    actions: usize,
) -> Result<Sig, Vec<SigErr>> {
    let s = sig128(kind, f, a, children, actions)?;
    if s.params > MAX_PARAMS as u128 || s.out > MAX_WIDTH {
        return Err(vec![err(
            "MX0306",
            format!(
                "`{kind}` is too large: {} outputs, {} parameters",
                s.out, s.params
            ),
            None,
            "too large".into(),
        )]);
    }
    Ok(Sig {
        out: s.out,
        carry: s.carry,
        params: s.params as u64,
    })
}

/// Largest parameter count accepted for one block.
pub const MAX_PARAMS: u64 = 1 << 50;
/// Largest feature width accepted.
pub const MAX_WIDTH: usize = 1 << 24;

struct S128 {
    out: usize,
    carry: CarryTy,
    params: u128,
}

fn sig128(
    kind: &str,
    f: usize,
    a: &Args,
    children: &[Block],
    actions: usize,
) -> Result<S128, Vec<SigErr>> {
    let fu = f as u128;
    let unit = |out: usize, params: u128| {
        Ok(S128 {
            out,
            carry: CarryTy::Unit,
            params,
        })
    };
    let child = |i: usize| children.get(i);
    match kind {
        "identity" | "relu" | "gelu" | "silu" | "tanh" | "sigmoid" | "dropout" => unit(f, 0),
        "layernorm" => unit(f, 2 * fu),
        "rmsnorm" => unit(f, fu),
        "linear" => {
            let out = int(a, "out");
            let bias = a.get("bias").and_then(Value::as_bool).unwrap_or(true);
            unit(out as usize, fu * out + if bias { out } else { 0 })
        }
        "mlp" => {
            let (mut w_in, mut params) = (fu, 0);
            for w in list_ints(a, "widths") {
                params += w_in * w + w;
                w_in = w;
            }
            unit(w_in as usize, params)
        }
        "ffn" => {
            let e = int(a, "expansion") * fu;
            unit(f, fu * e + e + e * fu + fu)
        }
        "seq" => {
            let out = children.last().map(|c| c.output).unwrap_or(f);
            let params = children.iter().map(|c| c.params as u128).sum();
            let carry = tuple(children.iter().map(|c| c.carry.clone()).collect(), false);
            Ok(S128 { out, carry, params })
        }
        "residual" | "gated_residual" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            if x.output != f {
                return Err(vec![SigErr {
                    code: "MX0302",
                    message: format!(
                        "residual branch changes the feature width: expected {f}, found {}",
                        x.output
                    ),
                    arg: None,
                    child: Some(0),
                    label: format!("input is {f} wide"),
                    help: Some(format!(
                        "use a width-preserving branch, or put `linear({})` before the residual",
                        x.output
                    )),
                }]);
            }
            let extra = if kind == "gated_residual" {
                fu * fu + fu
            } else {
                0
            };
            Ok(S128 {
                out: f,
                carry: x.carry.clone(),
                params: (x.params as u128) + extra,
            })
        }
        "prenorm" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            Ok(S128 {
                out: x.output,
                carry: x.carry.clone(),
                params: (x.params as u128) + norm_params(a, fu),
            })
        }
        "postnorm" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            Ok(S128 {
                out: x.output,
                carry: x.carry.clone(),
                params: (x.params as u128) + norm_params(a, x.output as u128),
            })
        }
        "gru" => {
            let h = int(a, "h");
            Ok(S128 {
                out: h as usize,
                carry: rec("gru", &[("h", h)]),
                params: 3 * (fu * h + h) + 3 * (h * h + h),
            })
        }
        "lstm" => {
            let h = int(a, "h");
            Ok(S128 {
                out: h as usize,
                carry: rec("lstm", &[("h", h), ("c", h)]),
                params: 4 * (fu * h + h) + 4 * (h * h + h),
            })
        }
        "mingru" => {
            let h = int(a, "h");
            Ok(S128 {
                out: h as usize,
                carry: rec("mingru", &[("h", h)]),
                params: 2 * fu * h,
            })
        }
        "attention" => {
            let heads = int(a, "heads");
            let mut errs = Vec::new();
            let dh = match heads_divide(fu, heads, "features") {
                Ok(d) => d,
                Err(e) => {
                    errs.push(e);
                    0
                }
            };
            match a.get("pos").and_then(Value::as_str) {
                Some("alibi") if !heads.is_power_of_two() => {
                    let mut e = err(
                        "MX0304",
                        format!("ALiBi needs a power-of-two number of heads, found {heads}"),
                        Some("heads"),
                        format!("heads = {heads}"),
                    );
                    e.help = Some(format!(
                        "use heads = {} or {}",
                        (heads.next_power_of_two() / 2).max(1),
                        heads.next_power_of_two()
                    ));
                    errs.push(e);
                }
                Some("rope") if dh % 2 != 0 && errs.is_empty() => {
                    let mut e = err(
                        "MX0305",
                        format!("RoPE needs an even head dimension, found {fu} / {heads} = {dh}"),
                        Some("pos"),
                        format!("head dimension {dh}"),
                    );
                    e.help = Some(
                        "change the number of heads or the width so that F / heads is even".into(),
                    );
                    errs.push(e);
                }
                _ => {}
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            let ctx = int(a, "ctx");
            Ok(S128 {
                out: f,
                carry: rec("kv", &[("ctx", ctx), ("heads", heads), ("dh", dh)]),
                params: 4 * (fu * fu + fu),
            })
        }
        "segment_recurrence" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            if x.kind != "attention" {
                return Err(vec![SigErr {
                    code: "MX0307",
                    message: format!(
                        "`segment_recurrence` wraps an `attention(...)` block, found `{}`",
                        x.kind
                    ),
                    arg: None,
                    child: Some(0),
                    label: "expects attention".into(),
                    help: Some("write `segment_recurrence(attention(...), memory = 64)`".into()),
                }]);
            }
            if let Some(given) = a.get("features").and_then(Value::as_int)
                && given as usize != f
            {
                return Err(vec![err(
                    "MX0301",
                    format!("`features = {given}` disagrees with the stream width {f}"),
                    Some("features"),
                    format!("the block receives width {f}"),
                )]);
            }
            // the memory keeps the detached outputs of the `ctx + memory` steps before a chunk:
            // the query at step p reads the outputs of steps p - ctx - memory .. p - ctx
            // (runtime::attention), so every chunking of a sequence gives the same result
            let m = int(a, "memory") + int(&x.args, "ctx");
            Ok(S128 {
                out: x.output,
                carry: tuple(
                    vec![rec("mem", &[("len", m), ("f", fu)]), x.carry.clone()],
                    false,
                ),
                params: (x.params as u128),
            })
        }
        "linear_attention" => {
            let hd = int(a, "heads") * int(a, "head_dim");
            let d = int(a, "head_dim");
            Ok(S128 {
                out: f,
                carry: rec("linear_attention", &[("s", hd * d), ("z", hd)]),
                params: 3 * (fu * hd + hd) + hd + hd * fu + fu,
            })
        }
        "slstm" | "mlstm" => {
            let h = int(a, "h");
            let heads = int(a, "heads");
            let d = heads_divide(h, heads, "hidden features").map_err(|mut e| {
                e.arg = Some("heads");
                vec![e]
            })?;
            let k = int(a, "conv");
            if kind == "slstm" {
                Ok(S128 {
                    out: h as usize,
                    carry: rec(
                        "slstm",
                        &[
                            ("c", h),
                            ("n", h),
                            ("m", h),
                            ("h", h),
                            ("conv", (k - 1) * h),
                        ],
                    ),
                    params: fu * h + h + k * h + h + 8 * h * d + 4 * h + 2 * h + h * h + h,
                })
            } else {
                Ok(S128 {
                    out: h as usize,
                    carry: rec(
                        "mlstm",
                        &[
                            ("c", heads * d * d),
                            ("n", heads * d),
                            ("m", heads),
                            ("conv", (k - 1) * h),
                        ],
                    ),
                    params: fu * 2 * h
                        + 2 * h
                        + k * h
                        + h
                        + 3 * h * d
                        + 2 * (3 * h * heads + heads)
                        + 2 * h
                        + h
                        + h * h
                        + h,
                })
            }
        }
        "ffm" => {
            let (m, c) = (int(a, "memory"), int(a, "context"));
            Ok(S128 {
                out: f,
                carry: rec("ffm", &[("re", m * c), ("im", m * c), ("t", 1)]),
                params: 2 * (fu * m + m) + m + c + 2 * m * c * fu + fu + 2 * (fu * fu + fu),
            })
        }
        "shm" => {
            let (h, l) = (int(a, "h"), int(a, "thetas"));
            Ok(S128 {
                out: h as usize,
                carry: rec("shm", &[("m", h * h)]),
                params: 2 * fu + 4 * (fu * h + h) + fu + 1 + l * h + h * h + h,
            })
        }
        "s5" | "lru" => {
            let p = int(a, "state");
            Ok(S128 {
                out: f,
                carry: rec(kind, &[("re", p), ("im", p)]),
                params: 4 * p * fu + 3 * p + fu,
            })
        }
        "mamba" => {
            let (hh, pd, n, k) = (
                int(a, "heads"),
                int(a, "head_dim"),
                int(a, "state"),
                int(a, "conv"),
            );
            let d = hh * pd;
            Ok(S128 {
                out: f,
                carry: rec(
                    "mamba",
                    &[("h", hh * n * pd), ("conv", (k - 1) * (d + 2 * n))],
                ),
                params: fu * (2 * d + 2 * n + hh)
                    + k * (d + 2 * n)
                    + (d + 2 * n)
                    + 3 * hh
                    + d
                    + d * fu,
            })
        }
        "rtu" => {
            let h = int(a, "h");
            Ok(S128 {
                out: 2 * h as usize,
                carry: rec("rtu", &[("re", h), ("im", h)]),
                params: 2 * fu * h + 2 * h,
            })
        }
        "rtrl" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            if x.kind != "lru" && x.kind != "rtu" {
                return Err(vec![SigErr {
                    code: "MX0307",
                    message: format!(
                        "`rtrl` needs a block with an RTRL form (`lru`, `rtu`), found `{}`",
                        x.kind
                    ),
                    arg: None,
                    child: Some(0),
                    label: "no RTRL form".into(),
                    help: Some("wrap `lru(...)` or `rtu(...)`".into()),
                }]);
            }
            // one complex sensitivity per recurrent parameter: rtu's are all of them; lru's
            // readout (C: 2·H·F, D: F) has none
            let recurrent = if x.kind == "lru" {
                let fi = x.input as u128;
                x.params as u128 - (2 * int(&x.args, "state") * fi + fi)
            } else {
                x.params as u128
            };
            Ok(S128 {
                out: x.output,
                carry: tuple(
                    vec![x.carry.clone(), rec("rtrl", &[("s", 2 * recurrent)])],
                    false,
                ),
                params: (x.params as u128),
            })
        }
        "rl2" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            Ok(S128 {
                out: x.output,
                carry: tuple(vec![x.carry.clone(), rec("rl2", &[("step", 1)])], false),
                params: (x.params as u128),
            })
        }
        "moe" => {
            let Some(x) = child(0) else { return unit(f, 0) };
            let (e, k) = (int(a, "experts"), int(a, "top_k"));
            if k > e {
                return Err(vec![err(
                    "MX0306",
                    format!("top_k = {k} exceeds experts = {e}"),
                    Some("top_k"),
                    "must be at most `experts`".into(),
                )]);
            }
            let carry = tuple((0..e).map(|_| x.carry.clone()).collect(), false);
            Ok(S128 {
                out: x.output,
                carry,
                params: fu * e + e + e * (x.params as u128),
            })
        }
        "cnn" => {
            let (side, c0) = side_of(fu, a).map_err(|e| vec![e])?;
            let k = int(a, "kernel");
            if k.is_multiple_of(2) {
                return Err(vec![err(
                    "MX0306",
                    format!("kernel {k} is even; same padding needs an odd kernel"),
                    Some("kernel"),
                    "even kernel".into(),
                )]);
            }
            let (mut cin, mut params) = (c0, 0);
            for c in list_ints(a, "channels") {
                params += k * k * cin * c + c;
                cin = c;
            }
            unit((side * side * cin) as usize, params)
        }
        "vit" => {
            let (side, c0) = side_of(fu, a).map_err(|e| vec![e])?;
            let (p, l, heads, w, e) = (
                int(a, "patch"),
                int(a, "depth"),
                int(a, "heads"),
                int(a, "width"),
                int(a, "expansion"),
            );
            if p == 0 || side % p != 0 {
                return Err(vec![err(
                    "MX0306",
                    format!("patch {p} does not divide the image side {side}"),
                    Some("patch"),
                    format!("side {side}"),
                )]);
            }
            heads_divide(w, heads, "token features").map_err(|e| vec![e])?;
            let n = (side / p) * (side / p);
            let layer = 4 * w + 4 * (w * w + w) + w * e * w + e * w + e * w * w + w;
            unit(w as usize, p * p * c0 * w + w + n * w + l * layer + 2 * w)
        }
        "embed_action" => unit(f + actions, 0),
        "embed_reward" => unit(f + 1, 0),
        _ => unit(f, 0),
    }
}

/// Parameter count and output count of a head on width `f` with `a` actions.
pub fn head_sig(kind: &str, f: usize, a: usize) -> (usize, u64) {
    let (fu, au) = (f as u64, a as u64);
    match kind {
        "categorical" | "q" => (a, fu * au + au),
        "gaussian" => (a, fu * au + 2 * au),
        "twin_q" => (a, 2 * (fu * au + au)),
        _ => (1, fu + 1),
    }
}
