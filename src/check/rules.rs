//! Agent-level rules: the `train` section, minibatch divisibility, recurrent DQN, r2d2 burn-in,
//! continuous actions for value-based algorithms, attention context vs rollout, multi-agent
//! environments vs algorithms (`ippo`/`irppo`).

use std::collections::HashMap;
use std::rc::Rc;

use super::agent::{Slot, sp};
use super::eval::{Elab, EntryCall, Env, suggest};
use super::inst::walk;
use super::ir::{self, CarryTy, Value};
use super::registry::{Ty, signature::carry_text};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::{self, Expr};

pub(crate) fn train_settings<'a>(
    el: &mut Elab<'a>,
    fields: &[(&'a ast::Ident, &'a Expr, FileId)],
    span: Option<Span>,
    agent_span: Span,
    env0: &Rc<Env<'a>>,
) -> Option<ir::TrainSettings> {
    let Some(span) = span.or(if fields.is_empty() {
        None
    } else {
        Some(agent_span)
    }) else {
        el.err(
            Diag::error(
                "MX0503",
                "agent has no `train { steps = ... }` section",
                agent_span,
                "`train` missing",
            )
            .with_help("add e.g. `train { steps = 500_000 }`"),
        );
        return None;
    };
    let mut vals: HashMap<&str, (i64, Span)> = HashMap::new();
    let mut ok = true;
    for (k, v, f) in fields {
        let key = ["steps", "seed", "eval_every", "eval_episodes"]
            .into_iter()
            .find(|x| *x == k.name);
        let Some(key) = key else {
            let mut d = Diag::error(
                "MX0509",
                format!("unknown train setting `{}`", k.name),
                sp(*f, k.span),
                "unknown key",
            );
            d = d.with_help(
                match suggest(&k.name, ["steps", "seed", "eval_every", "eval_episodes"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "keys: steps, seed, eval_every, eval_episodes".into(),
                },
            );
            el.err(d);
            ok = false;
            continue;
        };
        match el.value(v, env0, *f, Ty::Int, &format!("train.{key}")) {
            Some((Value::Int(i), vs)) => {
                let min = if key == "seed" { 0 } else { 1 };
                if i < min {
                    el.err(Diag::error(
                        "MX0505",
                        format!("train.{key} must be at least {min}, found {i}"),
                        vs,
                        "out of range",
                    ));
                    ok = false;
                }
                vals.insert(key, (i, vs));
            }
            _ => ok = false,
        }
    }
    let Some(&(steps, _)) = vals.get("steps") else {
        if ok {
            el.err(
                Diag::error("MX0509", "`train` needs `steps`", span, "no `steps`")
                    .with_help("add e.g. `steps = 500_000`"),
            );
        }
        return None;
    };
    if !ok {
        return None;
    }
    let g = |k: &str, d: i64| vals.get(k).map(|v| v.0).unwrap_or(d).max(0) as u64;
    Some(ir::TrainSettings {
        steps: steps as u64,
        seed: g("seed", 0),
        eval_every: g("eval_every", (steps / 10).max(1)),
        eval_episodes: g("eval_episodes", 16),
    })
}

fn has_carry(n: &ir::Network) -> bool {
    n.encoder.carry != CarryTy::Unit || n.torso.carry != CarryTy::Unit
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn rules<'a>(
    el: &mut Elab<'a>,
    names: &[String],
    algo: &EntryCall,
    nets: &[ir::Network],
    slots: &HashMap<&str, Slot<'a>>,
    discrete: bool,
    env: &ir::EnvInfo,
    env_span: Span,
) {
    let h = &algo.args;
    let i = |k: &str| h.get(k).and_then(Value::as_int).unwrap_or(1);
    let recurrent = nets.iter().any(has_carry);
    let multi = matches!(algo.entry.name, "ippo" | "irppo");
    let torso_span = slots
        .get("torso")
        .or(slots.get("network"))
        .or(slots.get("encoder"))
        .map(|s| sp(s.file, s.expr.span));
    match algo.entry.name {
        "ppo" | "ippo" | "irppo" | "pqn" => {
            let (ne, ns, mb) = (i("num_envs"), i("num_steps"), i("minibatches"));
            // ippo/irppo: each agent of each environment is one sequence column
            let cols = if multi { ne * env.agents as i64 } else { ne };
            if mb > 0 && (ne * ns) % mb != 0 {
                let divs: Vec<String> = (1..=(ne * ns).min(64))
                    .filter(|d| (ne * ns) % d == 0)
                    .map(|d| d.to_string())
                    .collect();
                el.err(
                    Diag::error("MX0506", format!("minibatches do not divide the rollout batch: {ne} envs × {ns} steps = {}, {} % {mb} = {}", ne * ns, ne * ns, (ne * ns) % mb), algo.arg_span("minibatches"), format!("{mb} minibatches"))
                        .with_label(algo.arg_span("num_envs"), format!("{ne} envs"))
                        .with_label(algo.arg_span("num_steps"), format!("{ns} steps per env"))
                        .with_help(format!("minibatch counts that divide {}: {}", ne * ns, divs.join(", "))),
                );
            } else if recurrent && mb > 0 && cols % mb != 0 {
                let divs: Vec<String> = (1..=ne)
                    .filter(|d| ne % d == 0)
                    .map(|d| d.to_string())
                    .collect();
                let mut d = if multi {
                    let divs: Vec<String> = (1..=cols)
                        .filter(|d| cols % d == 0)
                        .map(|d| d.to_string())
                        .collect();
                    Diag::error("MX0506", format!("with a recurrent torso, minibatches split the {cols} agent sequences ({ne} environments × {} agents): {cols} % {mb} = {}", env.agents, cols % mb), algo.arg_span("minibatches"), format!("{mb} minibatches"))
                        .with_label(algo.arg_span("num_envs"), format!("{ne} envs × {} agents", env.agents))
                        .with_help(format!("use minibatches in {{{}}}", divs.join(", ")))
                } else {
                    Diag::error("MX0506", format!("with a recurrent torso, minibatches split the {ne} environments (whole sequences): {ne} % {mb} = {}", ne % mb), algo.arg_span("minibatches"), format!("{mb} minibatches"))
                        .with_label(algo.arg_span("num_envs"), format!("{ne} envs"))
                        .with_help(format!("use minibatches in {{{}}} or num_envs a multiple of {mb}", divs.join(", ")))
                };
                if let Some(ts) = torso_span {
                    d = d.with_label(ts, "recurrent");
                }
                el.err(d);
            }
        }
        "dqn" => {
            if recurrent {
                let carry = nets
                    .iter()
                    .map(|n| {
                        if n.torso.carry != CarryTy::Unit {
                            &n.torso.carry
                        } else {
                            &n.encoder.carry
                        }
                    })
                    .next();
                let mut d = Diag::error("MX0402", "`dqn` trains on single transitions, but the network keeps recurrent state", torso_span.unwrap_or(algo.span), format!("carry {}", carry.map(carry_text).unwrap_or_default()))
                    .with_label(algo.span, "samples single transitions")
                    .with_help("use `r2d2(seq_len = 80, burn_in = 10)` for recurrent Q-learning, or a carry-free torso");
                if torso_span.is_none() {
                    d = d.with_help("use `r2d2` for recurrent Q-learning");
                }
                el.err(d);
            }
            let (tf, ne) = (i("train_frequency"), i("num_envs"));
            if ne > 0 && tf % ne != 0 {
                el.err(
                    Diag::error("MX0507", format!("train_frequency {tf} is not a multiple of num_envs {ne} ({tf} % {ne} = {})", tf % ne), algo.arg_span("train_frequency"), "train_frequency")
                        .with_label(algo.arg_span("num_envs"), format!("{ne} envs"))
                        .with_help(format!("use train_frequency = {}", ((tf / ne).max(1)) * ne)),
                );
            }
        }
        "sac" => super::offpolicy_rules::check(el, algo, nets),
        "r2d2" => {
            super::offpolicy_rules::check(el, algo, nets);
            let (b, s) = (i("burn_in"), i("seq_len"));
            if b >= s {
                el.err(
                    Diag::error(
                        "MX0508",
                        format!("burn_in ({b}) must be shorter than seq_len ({s})"),
                        algo.arg_span("burn_in"),
                        "burn-in",
                    )
                    .with_label(algo.arg_span("seq_len"), "sequence length")
                    .with_help(format!("use burn_in < {s}")),
                );
            }
        }
        _ => {}
    }
    agent_count_rules(el, algo, env, env_span, recurrent, torso_span);
    if matches!(algo.entry.name, "dqn" | "pqn" | "r2d2") && !discrete {
        el.err(
            Diag::error(
                "MX0510",
                format!(
                    "`{}` needs discrete actions, but {} has {}",
                    algo.entry.name, env.id, env.action_space_text
                ),
                algo.span,
                "value-based",
            )
            .with_label(env_span, "continuous actions")
            .with_help("use `ppo` with `gaussian()` or `sac`"),
        );
    }
    let rollout = match algo.entry.name {
        "ppo" | "ippo" | "irppo" | "pqn" => Some(("num_steps", i("num_steps"))),
        "r2d2" => Some(("seq_len", i("seq_len"))),
        _ => None,
    };
    if let Some((key, len)) = rollout {
        let mut seen = Vec::new();
        for n in nets {
            for b in [&n.encoder, &n.torso] {
                walk(b, &mut |blk: &ir::Block| {
                    if blk.kind == "attention" {
                        let ctx = blk.args.get("ctx").and_then(Value::as_int).unwrap_or(0);
                        let key = (blk.origin.file.clone(), blk.origin.start, blk.origin.end);
                        if ctx < len && !seen.contains(&key) {
                            seen.push(key);
                        }
                    }
                });
            }
        }
        for (fname, start, end) in seen {
            let fid = FileId(names.iter().position(|n| *n == fname).unwrap_or(0) as u32);
            let span = Span::new(fid, start, end);
            el.diags.push(
                Diag::warning(
                    "MX0601",
                    format!("attention context is shorter than the rollout ({key} = {len})"),
                    span,
                    "attention here",
                )
                .with_label(algo.arg_span(key), format!("{key} = {len}"))
                .with_help(format!("use ctx >= {len} so the whole rollout is visible")),
            );
        }
    }
}

/// Algorithms whose runtime feeds the previous action and reward to the network.
const PREV_INPUT_ALGOS: [&str; 3] = ["ppo", "dqn", "pqn"];

/// `embed_action` / `embed_reward` read per-step inputs that only exist at the network's input:
/// they must sit at the top level of the encoder, and the algorithm must supply them.
pub(crate) fn embed_rules(
    el: &mut Elab<'_>,
    names: &[String],
    algo: &EntryCall,
    nets: &[ir::Network],
    intrinsic: Option<Span>,
) {
    let mut seen: Vec<(String, usize, usize, bool)> = Vec::new();
    for n in nets {
        let top: Vec<&ir::Block> = if n.encoder.kind == "seq" {
            n.encoder.children.iter().collect()
        } else {
            vec![&n.encoder]
        };
        for b in [&n.encoder, &n.torso] {
            walk(b, &mut |blk: &ir::Block| {
                if blk.kind.starts_with("embed_") {
                    let placed = top.iter().any(|t| std::ptr::eq(*t, blk));
                    let key = (
                        blk.origin.file.clone(),
                        blk.origin.start,
                        blk.origin.end,
                        placed,
                    );
                    if !seen.contains(&key) {
                        seen.push(key);
                    }
                }
            });
        }
    }
    for (fname, start, end, placed) in seen {
        let fid = FileId(names.iter().position(|n| *n == fname).unwrap_or(0) as u32);
        let span = Span::new(fid, start, end);
        if !placed {
            el.err(
                Diag::error(
                    "MX0308",
                    "previous-step inputs can only be embedded at the top level of the encoder",
                    span,
                    "nested here",
                )
                .with_help("write it first in the encoder, e.g. `encoder = embed_action() -> embed_reward() -> mlp(64)`"),
            );
        } else if let Some(ispan) = intrinsic {
            el.err(
                Diag::error(
                    "MX0308",
                    "intrinsic-reward networks copy the encoder and see observations only",
                    span,
                    "previous-step input",
                )
                .with_label(ispan, "intrinsic reward here")
                .with_help("remove the embedding or the `intrinsic` slot"),
            );
        } else if !PREV_INPUT_ALGOS.contains(&algo.entry.name) {
            el.err(
                Diag::error(
                    "MX0308",
                    format!(
                        "`{}` does not feed previous actions or rewards to the network",
                        algo.entry.name
                    ),
                    span,
                    "needs the previous step",
                )
                .with_label(algo.span, "this algorithm")
                .with_help(format!(
                    "use one of {}, or remove the embedding",
                    PREV_INPUT_ALGOS.join(", ")
                )),
            );
        }
    }
}

/// Multi-agent rules: `ippo`/`irppo` need a multi-agent environment and single-agent algorithms
/// reject one; `irppo` needs recurrent state and `ippo` warns when it has some.
fn agent_count_rules(
    el: &mut Elab<'_>,
    algo: &EntryCall,
    env: &ir::EnvInfo,
    env_span: Span,
    recurrent: bool,
    torso_span: Option<Span>,
) {
    let name = algo.entry.name;
    let multi = matches!(name, "ippo" | "irppo");
    if multi && env.agents < 2 {
        el.err(
            Diag::error(
                "MX0510",
                format!("`{name}` trains independent learners on a multi-agent environment, but {} has one agent", env.id),
                algo.span,
                "multi-agent algorithm",
            )
            .with_label(env_span, "single-agent environment")
            .with_help("use `ppo` here, or a multi-agent environment such as \"mpe::SimpleSpread-3\" or \"marl::CueRecall-2\" (`memoraxc envs` lists them)"),
        );
        return;
    }
    if !multi && env.agents > 1 {
        el.err(
            Diag::error(
                "MX0510",
                format!("`{name}` is a single-agent algorithm, but {} has {} agents", env.id, env.agents),
                algo.span,
                "single-agent algorithm",
            )
            .with_label(env_span, format!("{} agents", env.agents))
            .with_help("use `ippo(...)` (parameters shared by all agents), or `irppo(...)` with a recurrent torso"),
        );
        return;
    }
    if name == "irppo" && !recurrent {
        let mut d = Diag::error(
            "MX0405",
            "`irppo` is recurrent independent PPO, but the network keeps no recurrent state",
            algo.span,
            "recurrent learner",
        )
        .with_help(
            "add a memory block, e.g. `torso = gru(64)`, or use `ippo` for feed-forward networks",
        );
        if let Some(ts) = torso_span {
            d = d.with_label(ts, "no carry");
        }
        el.err(d);
    }
    if name == "ippo" && recurrent {
        let mut d = Diag::warning(
            "MX0604",
            "`ippo` with a recurrent network: it trains with per-agent carries, which is `irppo`",
            algo.span,
            "ippo",
        )
        .with_help("write `irppo(...)` to say the learner is recurrent (same hyperparameters)");
        if let Some(ts) = torso_span {
            d = d.with_label(ts, "recurrent");
        }
        el.diags.push(d);
    }
}
