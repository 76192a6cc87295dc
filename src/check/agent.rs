//! Agent rules: slots, environment, algorithm, optimizer, train settings, networks, cross-field checks.

use std::collections::HashMap;
use std::rc::Rc;

use super::eval::{Elab, EntryCall, Env, HeadTerm, Term, suggest};
use super::inst::Inst;
use super::ir::{self, ActionSpace, Args};
use super::registry::{Cat, Ty, signature::head_sig};
use super::rules::{rules, train_settings};
use super::{canon, env_table};
use crate::diag::{Diag, FileId, Span};
use crate::syntax::ast::{self, Arg, EntryKind, Expr, ExprKind};

/// Slots an agent may have.
pub const SLOTS: &[&str] = &[
    "env",
    "algorithm",
    "encoder",
    "torso",
    "actor",
    "critic",
    "q",
    "network",
    "optimizer",
    "intrinsic",
];

/// Parsed `--set` overrides, grouped.
#[derive(Default)]
pub struct Overrides {
    /// Extra algorithm arguments.
    pub algorithm: Vec<(Arg, FileId)>,
    /// Extra optimizer arguments.
    pub optimizer: Vec<(Arg, FileId)>,
    /// Train settings: key, value, file.
    pub train: Vec<(ast::Ident, Expr, FileId)>,
    /// Whole-slot replacements: name, value, file.
    pub slots: Vec<(ast::Ident, Expr, FileId)>,
}

pub(crate) struct Slot<'a> {
    pub(crate) expr: &'a Expr,
    pub(crate) file: FileId,
    pub(crate) annot: Option<&'a ast::CarryAnnot>,
    pub(crate) name_span: Span,
}

pub(crate) fn sp(file: FileId, s: ast::Sp) -> Span {
    Span::new(file, s.start, s.end)
}

/// Check one agent; pushes diagnostics into `el.diags`/`diags`; returns the IR if it is clean.
pub fn check_agent<'a>(
    el: &mut Elab<'a>,
    names: &[String],
    agent: &'a ast::Agent,
    file: FileId,
    ov: &'a Overrides,
) -> Option<ir::Agent> {
    let errors_before = el
        .diags
        .iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .count();
    let env0: Rc<Env<'a>> = Rc::new(HashMap::new());
    let mut slots: HashMap<&str, Slot<'a>> = HashMap::new();
    let mut train_fields: Vec<(&'a ast::Ident, &'a Expr, FileId)> = Vec::new();
    let mut train_span = None;
    for e in &agent.entries {
        match &e.kind {
            EntryKind::Slot { name, annot, value } => {
                let nspan = sp(file, name.span);
                let Some(canon_name) = SLOTS.iter().find(|s| **s == name.name) else {
                    let mut d = Diag::error(
                        "MX0211",
                        format!("unknown agent slot `{}`", name.name),
                        nspan,
                        "unknown slot",
                    );
                    d = d.with_help(match suggest(&name.name, SLOTS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("slots: {}", SLOTS.join(", ")),
                    });
                    el.err(d);
                    continue;
                };
                if let Some(prev) = slots.get(canon_name) {
                    el.err(
                        Diag::error(
                            "MX0211",
                            format!("slot `{}` given twice", name.name),
                            nspan,
                            "second time",
                        )
                        .with_label(prev.name_span, "first given here"),
                    );
                    continue;
                }
                slots.insert(
                    canon_name,
                    Slot {
                        expr: value,
                        file,
                        annot: annot.as_ref(),
                        name_span: nspan,
                    },
                );
            }
            EntryKind::Section { name, fields } => {
                if name.name != "train" {
                    el.err(
                        Diag::error(
                            "MX0211",
                            format!("unknown section `{}`", name.name),
                            sp(file, name.span),
                            "unknown section",
                        )
                        .with_help("the only section is `train { ... }`"),
                    );
                    continue;
                }
                train_span = Some(sp(file, e.span));
                for (k, v) in fields {
                    train_fields.push((k, v, file));
                }
            }
        }
    }
    for (k, v, f) in &ov.slots {
        let nspan = sp(*f, k.span);
        let annot = slots.get(k.name.as_str()).and_then(|s| s.annot);
        if let Some(s) = SLOTS.iter().find(|s| **s == k.name) {
            slots.insert(
                s,
                Slot {
                    expr: v,
                    file: *f,
                    annot,
                    name_span: nspan,
                },
            );
        }
    }
    for (k, v, f) in &ov.train {
        train_fields.retain(|(k2, _, _)| k2.name != k.name);
        train_fields.push((k, v, *f));
    }
    let agent_span = sp(file, agent.name.span);
    let missing = |el: &mut Elab<'a>, what: &str, help: &str| {
        el.err(
            Diag::error(
                "MX0503",
                format!("agent `{}` has no `{what}`", agent.name.name),
                agent_span,
                format!("`{what}` missing"),
            )
            .with_help(help.to_string()),
        );
    };

    // environment
    let env_info = match slots.get("env") {
        None => {
            missing(el, "env", "add e.g. `env = \"gymnax::CartPole-v1\"`");
            None
        }
        Some(s) => {
            let given = match super::external::call_id(s.expr) {
                Some(Ok(id)) => Some((id, sp(s.file, s.expr.span))),
                Some(Err(why)) => {
                    el.err(
                        Diag::error("MX0208", why, sp(s.file, s.expr.span), "malformed")
                            .with_help("write `env = external(\"python my_env.py --flag\")`"),
                    );
                    None
                }
                None => el
                    .value(s.expr, &env0, s.file, Ty::Sym(&[]), "env")
                    .map(|(v, vspan)| (v.as_str().unwrap_or_default().to_string(), vspan)),
            };
            given.and_then(|(id, vspan)| {
                if super::external::is_external(&id) {
                    return match super::external::resolve(&id) {
                        Ok(info) => Some((info, vspan)),
                        Err(why) => {
                            el.err(
                                Diag::error(
                                    "MX0216",
                                    format!("cannot get the spaces of \"{id}\": {why}"),
                                    vspan,
                                    "bridge handshake failed",
                                )
                                .with_help(
                                    "install the adapter (`pip install bridge/python`), set \
                                     MEMORAXC_PYTHON to its interpreter; see docs/bridge.md",
                                ),
                            );
                            None
                        }
                    };
                }
                match env_table::lookup(&id) {
                    Some(info) => Some((info, vspan)),
                    None => {
                        let help = match env_table::suggest(&id).first() {
                            Some(b) => format!("did you mean \"{b}\"? (`memoraxc envs` lists all)"),
                            None => "`memoraxc envs` lists all environment ids".to_string(),
                        };
                        el.err(
                            Diag::error(
                                "MX0212",
                                format!("unknown environment \"{id}\""),
                                vspan,
                                "not in the registry",
                            )
                            .with_help(help),
                        );
                        None
                    }
                }
            })
        }
    };
    // algorithm
    let algo = match slots.get("algorithm") {
        None => {
            missing(el, "algorithm", "add e.g. `algorithm = ppo()`");
            None
        }
        Some(s) => el.entry_call(s.expr, &env0, s.file, &[Cat::Algorithm], &ov.algorithm),
    };
    let optimizer = match slots.get("optimizer") {
        Some(s) => el.entry_call(s.expr, &env0, s.file, &[Cat::Optimizer], &ov.optimizer),
        None => {
            let entry = super::registry::lookup("adam")?;
            el.bind(entry, &[], &ov.optimizer, agent_span, &env0, file)
                .map(|b| EntryCall {
                    entry,
                    args: b.args,
                    arg_spans: b.spans,
                    span: agent_span,
                })
        }
    };
    let intrinsic = slots
        .get("intrinsic")
        .and_then(|s| el.entry_call(s.expr, &env0, s.file, &[Cat::Intrinsic], &[]));
    let train = train_settings(el, &train_fields, train_span, agent_span, &env0);

    // networks
    let algo_name = algo.as_ref().map(|a| a.entry.name);
    let (head_slots, allowed): (&[&str], &[&str]) = match algo_name {
        Some("ppo" | "ippo" | "irppo") => (&["actor", "critic"], &["actor", "critic"]),
        Some("sac") => (&["actor", "critic"], &["actor", "critic"]),
        Some("dqn" | "pqn" | "r2d2") => (&["q"], &["q"]),
        _ => (&[], &["actor", "critic", "q"]),
    };
    for h in ["actor", "critic", "q"] {
        if let (Some(s), Some(a)) = (slots.get(h), algo.as_ref())
            && !allowed.contains(&h)
        {
            el.err(
                Diag::error(
                    "MX0502",
                    format!("`{}` does not use a `{h}` slot", a.entry.name),
                    s.name_span,
                    "unused slot",
                )
                .with_label(a.span, format!("algorithm `{}`", a.entry.name))
                .with_help(format!(
                    "`{}` uses: {}",
                    a.entry.name,
                    head_slots.join(", ")
                )),
            );
        }
    }
    if let (Some(s), Some(a)) = (slots.get("intrinsic"), algo.as_ref())
        && !matches!(a.entry.name, "ppo" | "ippo" | "irppo")
    {
        el.err(
            Diag::error(
                "MX0502",
                format!("`{}` does not use an `intrinsic` slot", a.entry.name),
                s.name_span,
                "unused slot",
            )
            .with_label(a.span, format!("algorithm `{}`", a.entry.name))
            .with_help(
                "intrinsic rewards (`icm`, `rnd`) train with on-policy `ppo`, `ippo` or `irppo`",
            ),
        );
    }
    if let (Some(s), Some(i)) = (slots.get("intrinsic"), intrinsic.as_ref())
        && i.entry.name == "icm"
        && let Some((info, env_span)) = &env_info
        && !matches!(info.action, ActionSpace::Discrete(_))
    {
        el.err(
            Diag::error(
                "MX0502",
                "`icm` needs discrete actions (its inverse model classifies the action)"
                    .to_string(),
                s.name_span,
                "icm here",
            )
            .with_label(*env_span, format!("actions: {}", info.action_space_text))
            .with_help("use `rnd(...)`, which only looks at observations"),
        );
    }
    let network_slot = slots.get("network");
    let mut enc = None;
    let mut torso = None;
    let mut ok_terms = true;
    if network_slot.is_none() {
        if let Some(s) = slots.get("encoder") {
            enc = el.block(s.expr, &env0, s.file);
            ok_terms &= enc.is_some();
            if let (Some(t), Some(a)) = (enc.as_mut(), s.annot) {
                t.annots
                    .push((super::eval::carry_of(&a.ty), sp(s.file, a.span)));
            }
        }
        if let Some(s) = slots.get("torso") {
            torso = el.block(s.expr, &env0, s.file);
            ok_terms &= torso.is_some();
            if let (Some(t), Some(a)) = (torso.as_mut(), s.annot) {
                t.annots
                    .push((super::eval::carry_of(&a.ty), sp(s.file, a.span)));
            }
        }
    } else {
        for k in ["encoder", "torso"].iter().chain(head_slots) {
            if let Some(s) = slots.get(k) {
                el.err(
                    Diag::error(
                        "MX0211",
                        format!("`{k}` cannot be combined with `network = ...`"),
                        s.name_span,
                        "conflicts with `network`",
                    )
                    .with_help(
                        "put everything into `network = body -> heads(...)`, or use separate slots",
                    ),
                );
                ok_terms = false;
            }
        }
    }
    // heads
    let mut heads: Vec<(&str, HeadTerm, Span)> = Vec::new();
    match network_slot {
        Some(s) => match network_body(el, s, &env0) {
            Some((body, hs)) => {
                torso = body;
                for (role, h) in hs {
                    heads.push((role, h.0, h.1));
                }
            }
            None => ok_terms = false,
        },
        None => {
            for h in head_slots {
                match slots.get(h) {
                    Some(s) => match el.head(s.expr, &env0, s.file) {
                        Some(t) => heads.push((h, t, s.name_span)),
                        None => ok_terms = false,
                    },
                    None if algo.is_some() => missing(
                        el,
                        h,
                        &format!(
                            "`{}` needs `{}`",
                            algo_name.unwrap_or_default(),
                            head_slots.join("` and `")
                        ),
                    ),
                    None => {}
                }
            }
        }
    }
    let (Some((env_info, env_span)), Some(algo), Some(optimizer), Some(train)) =
        (env_info, algo, optimizer, train)
    else {
        return None;
    };
    if !ok_terms {
        return None;
    }
    let a_count = match &env_info.action {
        ActionSpace::Discrete(n) => *n,
        ActionSpace::Box { dim, .. } => *dim,
    };
    let discrete = matches!(env_info.action, ActionSpace::Discrete(_));
    // head vs algorithm and action space
    let mut ok = true;
    for (role, h, _) in &heads {
        let want: &[&str] = match (algo.entry.name, *role) {
            ("ppo" | "ippo" | "irppo", "actor") => &["categorical", "gaussian"],
            ("ppo" | "ippo" | "irppo", "critic") => &["value"],
            ("sac", "actor") => &["categorical", "gaussian"],
            ("sac", "critic") => &["twin_q"],
            (_, "q") => &["q"],
            _ => &[],
        };
        if !want.contains(&h.kind.as_str()) {
            el.err(
                Diag::error(
                    "MX0502",
                    format!(
                        "`{}` needs {role} = {} , found `{}()`",
                        algo.entry.name,
                        want.iter()
                            .map(|w| format!("{w}()"))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        h.kind
                    ),
                    h.span,
                    "wrong head",
                )
                .with_label(algo.span, format!("algorithm `{}`", algo.entry.name))
                .with_help(format!(
                    "use `{role} = {}()`",
                    want.first().copied().unwrap_or("value")
                )),
            );
            ok = false;
            continue;
        }
        if algo.entry.name == "sac"
            && h.kind == "gaussian"
            && h.args.get("squash").and_then(ir::Value::as_bool) != Some(true)
        {
            el.err(
                Diag::error(
                    "MX0522",
                    "`sac` needs a tanh-squashed Gaussian: `gaussian(squash = true)`",
                    h.span,
                    "unsquashed",
                )
                .with_label(algo.span, "algorithm `sac`")
                .with_help("use `actor = gaussian(squash = true)`"),
            );
            ok = false;
            continue;
        }
        // twin_q on a continuous space is Q(s, a): the action joins the critic's input
        let needs_discrete = matches!(h.kind.as_str(), "categorical" | "q");
        if (needs_discrete && !discrete) || (h.kind == "gaussian" && discrete) {
            el.err(
                Diag::error(
                    "MX0501",
                    format!(
                        "`{}()` needs a {} action space, but {} has {}",
                        h.kind,
                        if needs_discrete {
                            "discrete"
                        } else {
                            "continuous (Box)"
                        },
                        env_info.id,
                        env_info.action_space_text
                    ),
                    h.span,
                    "head",
                )
                .with_label(env_span, format!("actions: {}", env_info.action_space_text))
                .with_help(if needs_discrete {
                    "use `gaussian()` for continuous actions".to_string()
                } else {
                    "use `categorical()` for discrete actions".to_string()
                }),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    // instantiate networks
    let mut inst = Inst::new(names, a_count);
    inst.image = super::env_table::image_shape(&env_info.id);
    let net_names: Vec<&str> = if network_slot.is_some() {
        vec!["network"]
    } else if matches!(algo.entry.name, "dqn" | "pqn" | "r2d2") {
        vec!["q"]
    } else {
        vec!["actor", "critic"]
    };
    let mut networks = Vec::new();
    for net in &net_names {
        // a continuous sac critic reads the observation and the action
        let q_of_action = algo.entry.name == "sac" && !discrete && *net == "critic";
        let in_dim = env_info.obs_dim + if q_of_action { a_count } else { 0 };
        let e = match &enc {
            Some(t) => inst.block(t, in_dim, &format!("{net}.encoder")),
            None => Some(inst.identity(&format!("{net}.encoder"), in_dim, agent_span)),
        };
        let Some(e) = e else {
            if let Some(t) = &torso {
                inst.block_unknown_width(t, &format!("{net}.torso"));
            }
            break;
        };
        let t = match &torso {
            Some(t) => inst.block(t, e.output, &format!("{net}.torso")),
            None => Some(inst.identity(&format!("{net}.torso"), e.output, agent_span)),
        };
        let Some(t) = t else { break };
        let mut hs = Vec::new();
        for (role, h, _) in &heads {
            if network_slot.is_none() && role != net {
                continue;
            }
            let path = if network_slot.is_some() {
                format!("{net}.head.{role}")
            } else {
                format!("{net}.head")
            };
            let head_actions = if q_of_action { 1 } else { a_count };
            let (outputs, params) = head_sig(&h.kind, t.output, head_actions);
            hs.push((
                role.to_string(),
                ir::Head {
                    path,
                    kind: h.kind.clone(),
                    args: h.args.clone(),
                    input: t.output,
                    outputs,
                    params,
                    origin: inst.origin(h.span),
                },
            ));
        }
        networks.push(ir::Network {
            name: net.to_string(),
            encoder: e,
            torso: t,
            heads: hs,
        });
    }
    el.diags.append(&mut inst.diags);
    if networks.len() != net_names.len() {
        return None;
    }
    rules(
        el, names, &algo, &networks, &slots, discrete, &env_info, env_span,
    );
    let intrinsic_span = slots.get("intrinsic").map(|s| sp(s.file, s.expr.span));
    super::rules::embed_rules(el, names, &algo, &networks, intrinsic_span);
    let errors_after = el
        .diags
        .iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .count();
    if errors_after > errors_before {
        return None;
    }
    let mut out = ir::Agent {
        name: agent.name.name.clone(),
        env: env_info,
        algorithm: algo.entry.name.to_string(),
        hparams: algo.args.clone(),
        optimizer: optimizer.entry.name.to_string(),
        optimizer_args: optimizer.args.clone(),
        networks,
        intrinsic: intrinsic.map(|i| (i.entry.name.to_string(), i.args, vec![])),
        train,
        hash: String::new(),
        canonical: String::new(),
    };
    out.canonical = canon::agent_text(&out);
    out.hash = canon::agent_hash(&out);
    Some(out)
}

type Heads = Vec<(&'static str, (HeadTerm, Span))>;

fn network_body<'a>(
    el: &mut Elab<'a>,
    s: &Slot<'a>,
    env0: &Rc<Env<'a>>,
) -> Option<(Option<Term>, Heads)> {
    let (body, last): (&'a [Expr], &'a Expr) = match &s.expr.kind {
        ExprKind::Pipe(items) => (&items[..items.len() - 1], &items[items.len() - 1]),
        _ => (&[], s.expr),
    };
    let ExprKind::Call(id, args) = &last.kind else {
        el.err(Diag::error("MX0403", "`network` must end with `heads(...)`", sp(s.file, last.span), "expected `heads(...)`").with_help("write `network = mlp(64) -> gru(64) -> heads(actor = categorical(), critic = value())`"));
        return None;
    };
    if id.name != "heads" {
        el.err(Diag::error("MX0403", "`network` must end with `heads(...)`", sp(s.file, last.span), "expected `heads(...)`").with_help("write `network = mlp(64) -> gru(64) -> heads(actor = categorical(), critic = value())`"));
        return None;
    }
    let mut hs: Heads = Vec::new();
    let mut ok = true;
    for a in args {
        let Some(k) = &a.name else {
            el.err(Diag::error(
                "MX0203",
                "`heads(...)` takes named heads: `actor = ...`, `critic = ...`, `q = ...`",
                sp(s.file, a.span),
                "unnamed head",
            ));
            ok = false;
            continue;
        };
        let role: &'static str = match k.name.as_str() {
            "actor" => "actor",
            "critic" => "critic",
            "q" => "q",
            _ => {
                el.err(
                    Diag::error(
                        "MX0202",
                        format!("unknown head role `{}`", k.name),
                        sp(s.file, k.span),
                        "unknown role",
                    )
                    .with_help("roles: actor, critic, q"),
                );
                ok = false;
                continue;
            }
        };
        match el.head(&a.value, env0, s.file) {
            Some(h) => hs.push((role, (h, sp(s.file, k.span)))),
            None => ok = false,
        }
    }
    let mut terms = Vec::new();
    for b in body {
        match el.block(b, env0, s.file) {
            Some(t) => terms.push(t),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let body = match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => {
            let span = Span::new(s.file, body[0].span.start, body[body.len() - 1].span.end);
            let size = 1 + terms.iter().map(|t| t.size).sum::<usize>();
            Some(Term {
                kind: "seq".into(),
                args: Args::default(),
                arg_spans: vec![],
                children: terms,
                shared: None,
                span,
                annots: vec![],
                size,
                use_span: span,
            })
        }
    };
    Some((body, hs))
}
