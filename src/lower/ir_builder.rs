//! Programmatic construction of IR blocks (tests, benchmarks and tools that build networks
//! without source text). Parameter counts follow the registry formulas.

use crate::check::ir::{Args, Block, CarryTy, Origin, Value};

fn block(
    kind: &str,
    input: usize,
    output: usize,
    args: Vec<(&str, Value)>,
    children: Vec<Block>,
    carry: CarryTy,
    own: u64,
) -> Block {
    let params = own + children.iter().map(|c| c.params).sum::<u64>();
    Block {
        path: String::new(),
        kind: kind.into(),
        args: Args(args.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        children,
        input,
        output,
        carry,
        params,
        shared: None,
        origin: Origin::default(),
    }
}

fn record(name: &str, fields: &[(&str, u64)]) -> CarryTy {
    CarryTy::Record {
        name: name.into(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// `identity` at width `f`.
pub fn identity(f: usize) -> Block {
    block("identity", f, f, vec![], vec![], CarryTy::Unit, 0)
}
/// `linear(out)`.
pub fn linear(f: usize, out: usize) -> Block {
    block(
        "linear",
        f,
        out,
        vec![("out", Value::Int(out as i64)), ("bias", Value::Bool(true))],
        vec![],
        CarryTy::Unit,
        (f * out + out) as u64,
    )
}
/// `mlp(widths..., act)`.
pub fn mlp(f: usize, widths: &[usize], act: &str) -> Block {
    let mut p = 0;
    let mut d = f;
    for &w in widths {
        p += d * w + w;
        d = w;
    }
    let ws = Value::List(widths.iter().map(|&w| Value::Int(w as i64)).collect());
    block(
        "mlp",
        f,
        d,
        vec![("widths", ws), ("act", Value::Sym(act.into()))],
        vec![],
        CarryTy::Unit,
        p as u64,
    )
}
/// An activation by name.
pub fn act(kind: &str, f: usize) -> Block {
    block(kind, f, f, vec![], vec![], CarryTy::Unit, 0)
}
/// `layernorm`.
pub fn layernorm(f: usize) -> Block {
    block(
        "layernorm",
        f,
        f,
        vec![],
        vec![],
        CarryTy::Unit,
        2 * f as u64,
    )
}
/// `ffn(expansion)`.
pub fn ffn(f: usize, e: usize) -> Block {
    let h = f * e;
    block(
        "ffn",
        f,
        f,
        vec![
            ("expansion", Value::Int(e as i64)),
            ("act", Value::Sym("gelu".into())),
        ],
        vec![],
        CarryTy::Unit,
        (f * h + h + h * f + f) as u64,
    )
}
/// `gru(h)`.
pub fn gru(f: usize, h: usize) -> Block {
    block(
        "gru",
        f,
        h,
        vec![("h", Value::Int(h as i64))],
        vec![],
        record("gru", &[("h", h as u64)]),
        (f * 3 * h + 3 * h + h * 3 * h + 3 * h) as u64,
    )
}
/// `lstm(h)`.
pub fn lstm(f: usize, h: usize) -> Block {
    block(
        "lstm",
        f,
        h,
        vec![("h", Value::Int(h as i64))],
        vec![],
        record("lstm", &[("h", h as u64), ("c", h as u64)]),
        (f * 4 * h + 4 * h + h * 4 * h + 4 * h) as u64,
    )
}
/// `mingru(h)`.
pub fn mingru(f: usize, h: usize) -> Block {
    block(
        "mingru",
        f,
        h,
        vec![("h", Value::Int(h as i64))],
        vec![],
        record("mingru", &[("h", h as u64)]),
        (2 * f * h) as u64,
    )
}
/// `attention(heads, ctx, pos)`.
pub fn attention(f: usize, heads: usize, ctx: usize, pos: &str) -> Block {
    let carry = record(
        "kv",
        &[
            ("ctx", ctx as u64),
            ("heads", heads as u64),
            ("dh", (f / heads) as u64),
        ],
    );
    let args = vec![
        ("heads", Value::Int(heads as i64)),
        ("ctx", Value::Int(ctx as i64)),
        ("pos", Value::Sym(pos.into())),
    ];
    block(
        "attention",
        f,
        f,
        args,
        vec![],
        carry,
        (4 * (f * f + f)) as u64,
    )
}
/// `segment_recurrence(x, memory)`.
pub fn segment_recurrence(x: Block, memory: usize) -> Block {
    let f = x.input;
    // the memory keeps the outputs of the `ctx + memory` steps before a chunk (see runtime::attention)
    let ctx = x.args.get("ctx").and_then(Value::as_int).unwrap_or(0) as u64;
    let carry = CarryTy::Tuple(vec![
        record("mem", &[("len", ctx + memory as u64), ("f", f as u64)]),
        x.carry.clone(),
    ]);
    block(
        "segment_recurrence",
        f,
        f,
        vec![("memory", Value::Int(memory as i64))],
        vec![x],
        carry,
        0,
    )
}
/// `residual(x)`.
pub fn residual(x: Block) -> Block {
    let (i, o, c) = (x.input, x.output, x.carry.clone());
    block("residual", i, o, vec![], vec![x], c, 0)
}
/// `gated_residual(x)`.
pub fn gated_residual(x: Block) -> Block {
    let (i, o, c) = (x.input, x.output, x.carry.clone());
    block(
        "gated_residual",
        i,
        o,
        vec![],
        vec![x],
        c,
        (i * i + i) as u64,
    )
}
/// `prenorm(x)` with layernorm.
pub fn prenorm(x: Block) -> Block {
    let (i, o, c) = (x.input, x.output, x.carry.clone());
    block(
        "prenorm",
        i,
        o,
        vec![("norm", Value::Sym("layernorm".into()))],
        vec![x],
        c,
        2 * i as u64,
    )
}
/// Members in order (`->`, `stack`).
pub fn seq(items: Vec<Block>) -> Block {
    let (i, o) = (
        items.first().map(|b| b.input).unwrap_or(0),
        items.last().map(|b| b.output).unwrap_or(0),
    );
    let carries: Vec<CarryTy> = items
        .iter()
        .map(|b| b.carry.clone())
        .filter(|c| *c != CarryTy::Unit)
        .collect();
    let carry = match carries.len() {
        0 => CarryTy::Unit,
        1 => carries.into_iter().next().expect("one"),
        _ => CarryTy::Tuple(carries),
    };
    block("seq", i, o, vec![], items, carry, 0)
}

/// Assign dotted paths below `root` (children indexed).
pub fn with_paths(mut b: Block, root: &str) -> Block {
    b.path = root.to_string();
    b.children = b
        .children
        .into_iter()
        .enumerate()
        .map(|(i, c)| with_paths(c, &format!("{root}.{i}")))
        .collect();
    b
}

/// A head by kind (`categorical`, `gaussian`, `q`, `twin_q`, `value`) on `f` features.
pub fn head(kind: &str, f: usize, outputs: usize) -> crate::check::ir::Head {
    let n = if kind == "value" { 1 } else { outputs };
    let params = match kind {
        "gaussian" => f * n + 2 * n,
        "twin_q" => 2 * (f * n + n),
        _ => f * n + n,
    } as u64;
    crate::check::ir::Head {
        path: String::new(),
        kind: kind.into(),
        args: Args::default(),
        input: f,
        outputs: n,
        params,
        origin: Origin::default(),
    }
}

/// A network `encoder -> torso -> heads` named `name`, with paths assigned.
pub fn network(
    name: &str,
    encoder: Block,
    torso: Block,
    heads: Vec<(&str, crate::check::ir::Head)>,
) -> crate::check::ir::Network {
    crate::check::ir::Network {
        name: name.into(),
        encoder: with_paths(encoder, &format!("{name}.encoder")),
        torso: with_paths(torso, &format!("{name}.torso")),
        heads: heads
            .into_iter()
            .map(|(r, mut h)| {
                h.path = format!("{name}.head");
                (r.to_string(), h)
            })
            .collect(),
    }
}

/// A checked-agent value built directly (no source text).
#[allow(clippy::too_many_arguments)]
pub fn agent(
    name: &str,
    env: crate::check::ir::EnvInfo,
    algorithm: &str,
    hparams: Vec<(&str, Value)>,
    networks: Vec<crate::check::ir::Network>,
    optimizer_args: Vec<(&str, Value)>,
    steps: u64,
    seed: u64,
) -> crate::check::ir::Agent {
    let to_args =
        |v: Vec<(&str, Value)>| Args(v.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    crate::check::ir::Agent {
        name: name.into(),
        env,
        algorithm: algorithm.into(),
        hparams: to_args(hparams),
        optimizer: "adam".into(),
        optimizer_args: to_args(optimizer_args),
        networks,
        intrinsic: None,
        train: crate::check::ir::TrainSettings {
            steps,
            seed,
            eval_every: steps / 5,
            eval_episodes: 16,
        },
        hash: format!("mx1:built-{name}"),
        canonical: format!("# built programmatically: {name}\n"),
    }
}
