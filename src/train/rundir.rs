//! Run directories: `<out>/<agent>-<timestamp>/` with `config.yaml`, `arch.mx` and `hash`.

use std::path::{Path, PathBuf};

use crate::check::ir::{self, Value};

/// Create a fresh run directory for `agent` under `out` and write its description files.
pub fn create(out: &Path, agent: &ir::Agent) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let stamp = timestamp();
    let mut dir = out.join(format!("{}-{stamp}", agent.name));
    let mut k = 1;
    while dir.exists() {
        dir = out.join(format!("{}-{stamp}-{k}", agent.name));
        k += 1;
    }
    create_at(&dir, agent)
}

/// Create (or reuse, when it exists) the run directory `dir` and write its description files.
pub fn create_at(dir: &Path, agent: &ir::Agent) -> std::io::Result<PathBuf> {
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("arch.mx"), &agent.canonical)?;
    std::fs::write(dir.join("hash"), format!("{}\n", agent.hash))?;
    std::fs::write(dir.join("config.yaml"), config_yaml(agent))?;
    Ok(dir)
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Int(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Bool(b) => (*b).into(),
        Value::Str(s) | Value::Sym(s) => s.clone().into(),
        Value::None => serde_json::Value::Null,
        Value::List(xs) => xs.iter().map(value_json).collect(),
        Value::Call(n, xs) => {
            serde_json::json!({ n.clone(): xs.iter().map(value_json).collect::<Vec<_>>() })
        }
    }
}

fn args_json(a: &ir::Args) -> serde_json::Value {
    serde_json::Value::Object(
        a.0.iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

/// The operative configuration of an agent as YAML.
pub fn config_yaml(agent: &ir::Agent) -> String {
    let cfg = serde_json::json!({
        "agent": agent.name,
        "env": agent.env.id,
        "algorithm": { "name": agent.algorithm, "hparams": args_json(&agent.hparams) },
        "optimizer": { "name": agent.optimizer, "args": args_json(&agent.optimizer_args) },
        "train": {
            "steps": agent.train.steps,
            "seed": agent.train.seed,
            "eval_every": agent.train.eval_every,
            "eval_episodes": agent.train.eval_episodes,
        },
        "hash": agent.hash,
        "program": agent.canonical,
    });
    crate::syntax::yaml::to_string(&cfg).unwrap_or_default()
}

/// UTC `YYYYmmdd-HHMMSS` of now.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
