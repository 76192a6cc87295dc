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

/// `linear_attention(heads, head_dim)`.
pub fn linear_attention(f: usize, heads: usize, head_dim: usize) -> Block {
    let hd = heads * head_dim;
    block(
        "linear_attention",
        f,
        f,
        vec![
            ("heads", Value::Int(heads as i64)),
            ("head_dim", Value::Int(head_dim as i64)),
        ],
        vec![],
        record(
            "linear_attention",
            &[("s", (hd * head_dim) as u64), ("z", hd as u64)],
        ),
        (3 * (f * hd + hd) + hd + hd * f + f) as u64,
    )
}
/// `lru(state)`.
pub fn lru(f: usize, state: usize) -> Block {
    block(
        "lru",
        f,
        f,
        vec![("state", Value::Int(state as i64))],
        vec![],
        record("lru", &[("re", state as u64), ("im", state as u64)]),
        (4 * state * f + 3 * state + f) as u64,
    )
}
/// `s5(state, discretization)` (`zoh` or `bilinear`).
pub fn s5(f: usize, state: usize, discretization: &str) -> Block {
    block(
        "s5",
        f,
        f,
        vec![
            ("state", Value::Int(state as i64)),
            ("discretization", Value::Sym(discretization.into())),
        ],
        vec![],
        record("s5", &[("re", state as u64), ("im", state as u64)]),
        (4 * state * f + 3 * state + f) as u64,
    )
}
/// `ffm(memory, context)`.
pub fn ffm(f: usize, memory: usize, context: usize) -> Block {
    let (m, c) = (memory, context);
    block(
        "ffm",
        f,
        f,
        vec![
            ("memory", Value::Int(m as i64)),
            ("context", Value::Int(c as i64)),
        ],
        vec![],
        record(
            "ffm",
            &[("re", (m * c) as u64), ("im", (m * c) as u64), ("t", 1)],
        ),
        (2 * (f * m + m) + m + c + 2 * m * c * f + f + 2 * (f * f + f)) as u64,
    )
}
/// `mamba(heads, head_dim, state, conv)`.
pub fn mamba(f: usize, heads: usize, head_dim: usize, state: usize, conv: usize) -> Block {
    let (hh, n, k) = (heads, state, conv);
    let d = hh * head_dim;
    block(
        "mamba",
        f,
        f,
        vec![
            ("heads", Value::Int(hh as i64)),
            ("head_dim", Value::Int(head_dim as i64)),
            ("state", Value::Int(n as i64)),
            ("conv", Value::Int(k as i64)),
        ],
        vec![],
        record(
            "mamba",
            &[
                ("h", (hh * n * head_dim) as u64),
                ("conv", ((k - 1) * (d + 2 * n)) as u64),
            ],
        ),
        (f * (2 * d + 2 * n + hh) + k * (d + 2 * n) + (d + 2 * n) + 3 * hh + d + d * f) as u64,
    )
}
/// `slstm(h, heads, conv)`.
pub fn slstm(f: usize, h: usize, heads: usize, conv: usize) -> Block {
    let (d, k) = (h / heads, conv);
    let hu = h as u64;
    block(
        "slstm",
        f,
        h,
        vec![
            ("h", Value::Int(h as i64)),
            ("heads", Value::Int(heads as i64)),
            ("conv", Value::Int(k as i64)),
        ],
        vec![],
        record(
            "slstm",
            &[
                ("c", hu),
                ("n", hu),
                ("m", hu),
                ("h", hu),
                ("conv", ((k - 1) * h) as u64),
            ],
        ),
        (f * h + h + k * h + h + 8 * h * d + 4 * h + 2 * h + h * h + h) as u64,
    )
}
/// `mlstm(h, heads, conv)`.
pub fn mlstm(f: usize, h: usize, heads: usize, conv: usize) -> Block {
    let (d, k) = (h / heads, conv);
    block(
        "mlstm",
        f,
        h,
        vec![
            ("h", Value::Int(h as i64)),
            ("heads", Value::Int(heads as i64)),
            ("conv", Value::Int(k as i64)),
        ],
        vec![],
        record(
            "mlstm",
            &[
                ("c", (heads * d * d) as u64),
                ("n", (heads * d) as u64),
                ("m", heads as u64),
                ("conv", ((k - 1) * h) as u64),
            ],
        ),
        (f * 2 * h
            + 2 * h
            + k * h
            + h
            + 3 * h * d
            + 2 * (3 * h * heads + heads)
            + 2 * h
            + h
            + h * h
            + h) as u64,
    )
}
/// `shm(h, thetas)`.
pub fn shm(f: usize, h: usize, thetas: usize) -> Block {
    block(
        "shm",
        f,
        h,
        vec![
            ("h", Value::Int(h as i64)),
            ("thetas", Value::Int(thetas as i64)),
        ],
        vec![],
        record("shm", &[("m", (h * h) as u64)]),
        (2 * f + 4 * (f * h + h) + f + 1 + thetas * h + h * h + h) as u64,
    )
}
/// `rtu(h)`.
pub fn rtu(f: usize, h: usize) -> Block {
    block(
        "rtu",
        f,
        2 * h,
        vec![("h", Value::Int(h as i64))],
        vec![],
        record("rtu", &[("re", h as u64), ("im", h as u64)]),
        (2 * f * h + 2 * h) as u64,
    )
}

/// `moe(x, experts, top_k, balance)`.
pub fn moe(x: Block, experts: usize, top_k: usize, balance: f64) -> Block {
    let (f, o) = (x.input, x.output);
    let carry = CarryTy::Tuple((0..experts).map(|_| x.carry.clone()).collect());
    // the template child counts once through `block`; the other E − 1 copies are own parameters
    let params = (f * experts + experts) as u64 + (experts as u64 - 1) * x.params;
    block(
        "moe",
        f,
        o,
        vec![
            ("experts", Value::Int(experts as i64)),
            ("top_k", Value::Int(top_k as i64)),
            ("balance", Value::Float(balance)),
        ],
        vec![x],
        carry,
        params,
    )
}

/// `rl2(x, steps_per_trial)`.
pub fn rl2(x: Block, steps_per_trial: usize) -> Block {
    let (f, o) = (x.input, x.output);
    let carry = CarryTy::Tuple(vec![x.carry.clone(), record("rl2", &[("step", 1)])]);
    block(
        "rl2",
        f,
        o,
        vec![("steps_per_trial", Value::Int(steps_per_trial as i64))],
        vec![x],
        carry,
        0,
    )
}

/// `rtrl(x)` around an `lru` or `rtu` block.
pub fn rtrl(x: Block) -> Block {
    let (f, o) = (x.input, x.output);
    let recurrent = match (x.kind.as_str(), x.args.get("state")) {
        ("lru", Some(Value::Int(p))) => x.params - (2 * *p as u64 * f as u64 + f as u64),
        _ => x.params,
    };
    let carry = CarryTy::Tuple(vec![
        x.carry.clone(),
        record("rtrl", &[("s", 2 * recurrent)]),
    ]);
    block("rtrl", f, o, vec![], vec![x], carry, 0)
}

/// `embed_action()` for `actions` actions, or `embed_reward()` (`actions = None`).
pub fn embed_prev(f: usize, actions: Option<usize>) -> Block {
    let (kind, w) = match actions {
        Some(a) => ("embed_action", a),
        None => ("embed_reward", 1),
    };
    block(kind, f, f + w, vec![], vec![], CarryTy::Unit, 0)
}

/// `cnn(channels..., kernel, side, act)` on an `s × s × c0` input (`f = s² c0`).
pub fn cnn(f: usize, side: usize, channels: &[usize], kernel: usize, act: &str) -> Block {
    let args = vec![
        (
            "channels",
            Value::List(channels.iter().map(|&c| Value::Int(c as i64)).collect()),
        ),
        ("kernel", Value::Int(kernel as i64)),
        ("side", Value::Int(side as i64)),
        ("act", Value::Sym(act.into())),
    ];
    image_block("cnn", f, args)
}

/// `vit(patch, depth, heads, width, side, expansion)` on an `s × s × c0` input.
pub fn vit(f: usize, side: usize, patch: usize, depth: usize, heads: usize, width: usize) -> Block {
    let args = vec![
        ("patch", Value::Int(patch as i64)),
        ("depth", Value::Int(depth as i64)),
        ("heads", Value::Int(heads as i64)),
        ("width", Value::Int(width as i64)),
        ("side", Value::Int(side as i64)),
        ("expansion", Value::Int(4)),
    ];
    image_block("vit", f, args)
}

/// An image encoder block with the checker's own signature (output width, parameter count).
fn image_block(kind: &str, f: usize, args: Vec<(&str, Value)>) -> Block {
    let args = Args(args.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let sig = crate::check::registry::signature::block_sig(kind, f, &args, &[], 0)
        .unwrap_or_else(|_| panic!("{kind} on width {f}: invalid shape"));
    let mut b = block(kind, f, sig.out, vec![], vec![], CarryTy::Unit, sig.params);
    b.args = args;
    b
}
