//! `expand`: the operative config of an agent as canonical `.mx` or YAML.

use crate::check::ir::{Agent, Args, Block, Value};

fn yaml_value(v: &Value) -> crate::syntax::yaml::Value {
    match v {
        Value::Int(i) => crate::syntax::yaml::Value::Number((*i).into()),
        Value::Float(f) => crate::syntax::yaml::Value::Number((*f).into()),
        Value::Bool(b) => crate::syntax::yaml::Value::Bool(*b),
        Value::Str(s) | Value::Sym(s) => crate::syntax::yaml::Value::String(s.clone()),
        Value::None => crate::syntax::yaml::Value::Null,
        Value::List(xs) => {
            crate::syntax::yaml::Value::Sequence(xs.iter().map(yaml_value).collect())
        }
        Value::Call(_, _) => crate::syntax::yaml::Value::String(crate::check::bind::fmt_num(v)),
    }
}

fn yaml_args(a: &Args) -> crate::syntax::yaml::Value {
    let mut m = crate::syntax::yaml::Mapping::new();
    for (k, v) in &a.0 {
        m.insert(k.clone().into(), yaml_value(v));
    }
    crate::syntax::yaml::Value::Mapping(m)
}

fn yaml_block(b: &Block) -> crate::syntax::yaml::Value {
    let mut m = crate::syntax::yaml::Mapping::new();
    m.insert("path".into(), b.path.clone().into());
    m.insert("kind".into(), b.kind.clone().into());
    if !b.args.0.is_empty() {
        m.insert("args".into(), yaml_args(&b.args));
    }
    m.insert("in".into(), (b.input as u64).into());
    m.insert("out".into(), (b.output as u64).into());
    m.insert(
        "carry".into(),
        crate::check::registry::signature::carry_text(&b.carry).into(),
    );
    m.insert("params".into(), b.params.into());
    if let Some(s) = b.shared {
        m.insert("shared".into(), (s as u64).into());
    }
    if !b.children.is_empty() {
        m.insert(
            "children".into(),
            crate::syntax::yaml::Value::Sequence(b.children.iter().map(yaml_block).collect()),
        );
    }
    crate::syntax::yaml::Value::Mapping(m)
}

/// The operative config as YAML.
pub fn agent_yaml(a: &Agent) -> String {
    let mut m = crate::syntax::yaml::Mapping::new();
    m.insert("agent".into(), a.name.clone().into());
    m.insert("hash".into(), a.hash.clone().into());
    m.insert("env".into(), a.env.id.clone().into());
    let mut alg = crate::syntax::yaml::Mapping::new();
    alg.insert("name".into(), a.algorithm.clone().into());
    alg.insert("hparams".into(), yaml_args(&a.hparams));
    m.insert("algorithm".into(), crate::syntax::yaml::Value::Mapping(alg));
    let mut opt = crate::syntax::yaml::Mapping::new();
    opt.insert("name".into(), a.optimizer.clone().into());
    opt.insert("args".into(), yaml_args(&a.optimizer_args));
    m.insert("optimizer".into(), crate::syntax::yaml::Value::Mapping(opt));
    let nets: Vec<crate::syntax::yaml::Value> = a
        .networks
        .iter()
        .map(|n| {
            let mut nm = crate::syntax::yaml::Mapping::new();
            nm.insert("name".into(), n.name.clone().into());
            nm.insert("encoder".into(), yaml_block(&n.encoder));
            nm.insert("torso".into(), yaml_block(&n.torso));
            let hs: Vec<crate::syntax::yaml::Value> = n
                .heads
                .iter()
                .map(|(role, h)| {
                    let mut hm = crate::syntax::yaml::Mapping::new();
                    hm.insert("role".into(), role.clone().into());
                    hm.insert("path".into(), h.path.clone().into());
                    hm.insert("kind".into(), h.kind.clone().into());
                    hm.insert("in".into(), (h.input as u64).into());
                    hm.insert("outputs".into(), (h.outputs as u64).into());
                    hm.insert("params".into(), h.params.into());
                    crate::syntax::yaml::Value::Mapping(hm)
                })
                .collect();
            nm.insert("heads".into(), crate::syntax::yaml::Value::Sequence(hs));
            crate::syntax::yaml::Value::Mapping(nm)
        })
        .collect();
    m.insert(
        "networks".into(),
        crate::syntax::yaml::Value::Sequence(nets),
    );
    let mut t = crate::syntax::yaml::Mapping::new();
    t.insert("steps".into(), a.train.steps.into());
    t.insert("seed".into(), a.train.seed.into());
    t.insert("eval_every".into(), a.train.eval_every.into());
    t.insert("eval_episodes".into(), a.train.eval_episodes.into());
    m.insert("train".into(), crate::syntax::yaml::Value::Mapping(t));
    crate::syntax::yaml::to_string(&crate::syntax::yaml::Value::Mapping(m)).unwrap_or_default()
}
