//! Replays every gymnax transition of the classic-control fixtures: set the state, apply the
//! action, compare next state, observation, reward and done (1e-5 relative, 1e-6 absolute).
//! Fixture directory: `$MX_FIXTURES` or `../shared/fixtures/classic` from the crate root.

use std::path::PathBuf;

use memoraxc::envs::classic::{self, ClassicEnv};
use memoraxc::envs::rng::Rng;
use memoraxc::envs::vec::Action;
use serde_json::Value;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

fn fixture_dir() -> PathBuf {
    match std::env::var_os("MX_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/classic"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        other => panic!("not numeric: {other}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= RTOL * b.abs() + ATOL
}

fn check(what: &str, got: &[f64], want: &[f64], errors: &mut Vec<String>, ctx: &str) {
    if got.len() != want.len() || got.iter().zip(want).any(|(a, b)| !close(*a, *b)) {
        errors.push(format!("{ctx}: {what} got {got:?}, want {want:?}"));
    }
}

#[test]
fn classic_fixtures_replay() {
    let dir = fixture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    let mut errors = Vec::new();
    let mut rows = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let name = header["env"].as_str().unwrap().to_string();
        let mut env: Box<dyn ClassicEnv> =
            classic::by_name(&name).unwrap_or_else(|| panic!("no classic env {name}"));
        let mut obs = vec![0.0f32; env.obs_dim()];
        let mut rng = Rng::new(0);
        for (i, line) in lines.enumerate() {
            let row: Value = serde_json::from_str(line).unwrap();
            let ctx = format!("{name} row {i}");
            let state: Vec<f32> = floats(&row["state"])
                .into_iter()
                .map(|x| x as f32)
                .collect();
            env.set_state(&state);
            let cont: Vec<f32>;
            let action = match &row["action"] {
                Value::Number(n) => Action::Discrete(n.as_u64().unwrap() as u32),
                v => {
                    cont = floats(v).into_iter().map(|x| x as f32).collect();
                    Action::Continuous(&cont)
                }
            };
            let out = env.step(action, &mut rng, &mut obs);
            let next: Vec<f64> = env.state().into_iter().map(f64::from).collect();
            check(
                "next_state",
                &next,
                &floats(&row["next_state"]),
                &mut errors,
                &ctx,
            );
            let o: Vec<f64> = obs.iter().map(|&x| f64::from(x)).collect();
            check("obs", &o, &floats(&row["obs"]), &mut errors, &ctx);
            check(
                "reward",
                &[f64::from(out.reward)],
                &floats(&row["reward"]),
                &mut errors,
                &ctx,
            );
            let done = out.terminated || out.truncated;
            if done != row["done"].as_bool().unwrap() {
                errors.push(format!("{ctx}: done got {done}"));
            }
            rows += 1;
        }
    }
    let shown = errors.len().min(20);
    assert!(
        errors.is_empty(),
        "{} of {rows} rows disagree:\n{}",
        errors.len(),
        errors[..shown].join("\n")
    );
    assert!(rows >= 5 * 100, "too few fixture rows: {rows}");
}
