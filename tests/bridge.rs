//! The external-environment bridge against real Gymnasium (CartPole-v1: Discrete, Pendulum-v1:
//! Box actions) in a fresh virtual environment under the cargo target tmp dir, and failure
//! handling with a fake adapter (crash, hang, error message, garbage on stdout).
//!
//! Needs `python3` with `venv` and PyPI access; without them the tests print a clear skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use memoraxc::check::ir::ActionSpace;
use memoraxc::envs::bridge::{BridgeEnv, vec::env_seed};
use memoraxc::envs::{Actions, StepBatch, VecEnv};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bridge-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `python3` if it runs at all.
fn system_python() -> Option<String> {
    let py = std::env::var("MEMORAXC_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import venv, struct"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

/// A fresh venv with gymnasium, numpy and the adapter (created once per test binary run).
fn venv_python() -> Option<&'static Path> {
    static VENV: OnceLock<Option<PathBuf>> = OnceLock::new();
    VENV.get_or_init(|| {
        let Some(py) = system_python() else {
            eprintln!("SKIP bridge tests: no python3 with venv (set MEMORAXC_TEST_PYTHON)");
            return None;
        };
        let dir = tmp("venv");
        let made = Command::new(&py).args(["-m", "venv"]).arg(&dir).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIP bridge tests: `{py} -m venv` failed (install python3-venv)");
            return None;
        }
        let python = dir.join("bin/python");
        let t = Instant::now();
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--no-cache-dir", "-q", "gymnasium", "numpy"])
            .arg(root().join("bridge/python"))
            .output()
            .expect("run pip");
        if !pip.status.success() {
            eprintln!(
                "SKIP bridge tests: pip could not install gymnasium/numpy/the adapter (offline?):\n{}",
                String::from_utf8_lossy(&pip.stderr)
            );
            return None;
        }
        eprintln!("venv with gymnasium ready in {:.1} s", t.elapsed().as_secs_f64());
        Some(python)
    })
    .as_deref()
}

fn adapter_id(python: &Path, gym_id: &str) -> String {
    format!("external::{} -m memoraxc_bridge {gym_id}", python.display())
}

/// The same rollout computed by Gymnasium directly (no adapter): per step the observations,
/// rewards, flags and final observations with same-step auto-reset.
const ORACLE: &str = r#"
import json, sys, math
import numpy as np, gymnasium as gym
env_id, n, steps, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
envs = [gym.make(env_id) for _ in range(n)]
obs = [np.asarray(e.reset(seed=s)[0], dtype=np.float32).tolist() for e, s in zip(envs, seeds)]
out = {"reset": obs, "steps": []}
for t in range(steps):
    row = []
    for i, e in enumerate(envs):
        if isinstance(e.action_space, gym.spaces.Discrete):
            a = (t * 7 + i * 3) % 5 % 2
        else:
            a = np.array([2.0 * math.sin(0.1 * t + i)], dtype=np.float32)
        o, r, term, trunc, _ = e.step(a)
        o = np.asarray(o, dtype=np.float32).tolist()
        final = None
        if term or trunc:
            final = o
            o = np.asarray(e.reset()[0], dtype=np.float32).tolist()
        row.append([o, float(np.float32(r)), bool(term), bool(trunc), final])
    out["steps"].append(row)
print(json.dumps(out))
"#;

fn actions(info: &ActionSpace, t: usize, n: usize) -> Actions {
    match info {
        ActionSpace::Discrete(_) => {
            Actions::Discrete((0..n).map(|i| ((t * 7 + i * 3) % 5 % 2) as u32).collect())
        }
        ActionSpace::Box { .. } => Actions::Continuous(
            (0..n)
                .map(|i| (2.0 * (0.1 * t as f64 + i as f64).sin()) as f32)
                .collect(),
        ),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

/// Step `n` envs for `steps` through the bridge (with `processes`), compare every output with
/// the oracle, and return every batch.
fn agrees_with_gymnasium(
    python: &Path,
    gym_id: &str,
    n: usize,
    steps: usize,
    processes: usize,
) -> Vec<StepBatch> {
    let seed = 7;
    let seeds: Vec<u64> = (0..n).map(|i| env_seed(seed, i)).collect();
    let oracle = Command::new(python)
        .args(["-c", ORACLE, gym_id, &n.to_string(), &steps.to_string()])
        .arg(serde_json::to_string(&seeds).unwrap())
        .output()
        .unwrap();
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let want: serde_json::Value = serde_json::from_slice(&oracle.stdout).unwrap();
    let mut env = BridgeEnv::new(&adapter_id(python, gym_id), n, processes).expect("bridge starts");
    let d = env.info().obs_dim;
    let action = env.info().action.clone();
    let mut b = StepBatch::new(n, d);
    env.reset(seed, &mut b);
    let mut batches = vec![b.clone()];
    assert!(b.start.iter().all(|&s| s));
    for i in 0..n {
        for k in 0..d {
            let w = want["reset"][i][k].as_f64().unwrap();
            assert!(close(b.obs[i * d + k] as f64, w), "reset env {i}");
        }
    }
    let (mut ret, mut len) = (vec![0f64; n], vec![0u32; n]);
    let (mut ends, mut truncs) = (0, 0);
    for t in 0..steps {
        env.step(&actions(&action, t, n), &mut b);
        assert_eq!(env.failure(), None);
        for i in 0..n {
            let w = &want["steps"][t][i];
            for k in 0..d {
                assert!(
                    close(b.obs[i * d + k] as f64, w[0][k].as_f64().unwrap()),
                    "{gym_id} t={t} env {i} obs"
                );
            }
            assert!(
                close(b.reward[i] as f64, w[1].as_f64().unwrap()),
                "{gym_id} t={t} reward"
            );
            assert_eq!(
                b.terminated[i],
                w[2].as_bool().unwrap(),
                "{gym_id} t={t} terminated"
            );
            assert_eq!(b.truncated[i], w[3].as_bool().unwrap() && !b.terminated[i]);
            ret[i] += b.reward[i] as f64;
            len[i] += 1;
            let done = b.terminated[i] || b.truncated[i];
            assert_eq!(
                b.start[i], done,
                "start flag marks the first observation of an episode"
            );
            if done {
                ends += 1;
                truncs += b.truncated[i] as usize;
                for k in 0..d {
                    assert!(
                        close(b.final_obs[i * d + k] as f64, w[4][k].as_f64().unwrap()),
                        "final_obs"
                    );
                }
                assert!(close(b.episode_return[i] as f64, ret[i]), "episode return");
                assert_eq!(b.episode_length[i], len[i]);
                ret[i] = 0.0;
                len[i] = 0;
            }
        }
        batches.push(b.clone());
    }
    assert!(
        ends > 0,
        "{gym_id}: some episode must end within {steps} steps"
    );
    if gym_id.starts_with("Pendulum") {
        assert!(truncs > 0, "Pendulum episodes end by truncation");
    }
    batches
}

#[test]
fn bridged_envs_match_gymnasium_step_for_step() {
    let Some(py) = venv_python() else { return };
    // CartPole: discrete actions, terminations; 2 processes must equal 1 process
    let one = agrees_with_gymnasium(py, "CartPole-v1", 3, 120, 1);
    let two = agrees_with_gymnasium(py, "CartPole-v1", 3, 120, 2);
    assert_eq!(one, two, "results do not depend on the number of processes");
    // Pendulum: Box actions, truncation at 200 steps
    agrees_with_gymnasium(py, "Pendulum-v1", 2, 210, 1);
}

#[test]
fn handshake_reports_gymnasium_spaces() {
    let Some(py) = venv_python() else { return };
    let info = memoraxc::envs::bridge::spaces(&adapter_id(py, "CartPole-v1")).unwrap();
    assert_eq!(
        (info.obs_dim, info.action.clone()),
        (4, ActionSpace::Discrete(2))
    );
    assert_eq!(info.max_steps, Some(500));
    assert_eq!(info.action_space_text, "Discrete(2)");
    let info = memoraxc::envs::bridge::spaces(&adapter_id(py, "Pendulum-v1")).unwrap();
    assert_eq!(info.obs_dim, 3);
    assert_eq!(
        info.action,
        ActionSpace::Box {
            dim: 1,
            low: vec![-2.0],
            high: vec![2.0]
        }
    );
    let err = memoraxc::envs::bridge::spaces(&adapter_id(py, "NoSuchEnv-v0")).unwrap_err();
    assert!(err.contains("NoSuchEnv"), "{err}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memoraxc"))
}

fn train(python: &Path, file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("train")
        .arg(file)
        .args(["-q", "--format", "json", "--out"])
        .arg(out)
        .args(extra)
        .env("MEMORAXC_PYTHON", python)
        .output()
        .unwrap()
}

fn last_sps(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sps: Vec<f64> = rows
        .iter()
        .skip(1)
        .filter_map(|r| r["sps"].as_f64())
        .collect();
    sps.iter().sum::<f64>() / sps.len().max(1) as f64
}

#[test]
fn memoraxc_trains_on_gymnasium_cartpole_and_pendulum() {
    let Some(py) = venv_python() else { return };
    let dir = tmp("train");
    let cart = dir.join("cart.mx");
    std::fs::write(
        &cart,
        r#"agent ppo_gym_cartpole {
  env       = "gym::CartPole-v1"
  algorithm = ppo(num_envs = 4, num_steps = 64, minibatches = 2, epochs = 2)
  encoder   = mlp(32)
  torso     = gru(32)
  actor     = categorical()
  critic    = value()
  train { steps = 1024, eval_every = 512, eval_episodes = 2 }
}
"#,
    )
    .unwrap();
    let check = bin()
        .arg("check")
        .arg(&cart)
        .env("MEMORAXC_PYTHON", py)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let o = train(py, &cart, &dir.join("runs"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["env_steps"].as_u64().unwrap() >= 1024);
    let run = PathBuf::from(v["run"].as_str().unwrap());
    let config = std::fs::read_to_string(run.join("arch.mx")).unwrap();
    assert!(config.contains("gym::CartPole-v1"));
    eprintln!(
        "bridge PPO-GRU CartPole-v1 (4 envs, 1 process, dev profile): {:.0} SPS",
        last_sps(&run)
    );

    let pend = dir.join("pend.mx");
    std::fs::write(
        &pend,
        r#"agent ppo_gym_pendulum {
  env       = "gym::Pendulum-v1"
  algorithm = ppo(num_envs = 4, num_steps = 64, minibatches = 2, epochs = 2)
  encoder   = mlp(32)
  actor     = gaussian()
  critic    = value()
  train { steps = 1024, eval_every = 1024, eval_episodes = 2 }
}
"#,
    )
    .unwrap();
    let o = train(py, &pend, &dir.join("runs"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = PathBuf::from(v["run"].as_str().unwrap());
    eprintln!(
        "bridge PPO-MLP Pendulum-v1 (4 envs, 1 process, dev profile): {:.0} SPS",
        last_sps(&run)
    );
    // Pendulum returns are negative; an episode of 200 steps ended in the final evaluation
    assert!(
        v["final_eval"]["return_mean"].as_f64().unwrap() < 0.0,
        "{v}"
    );
}

#[test]
fn unknown_gym_id_is_a_checker_diagnostic() {
    let Some(py) = venv_python() else { return };
    let dir = tmp("unknown");
    let f = dir.join("bad.mx");
    std::fs::write(
        &f,
        "agent a {\n  env = \"gym::NoSuchEnv-v0\"\n  algorithm = ppo()\n  actor = categorical()\n  critic = value()\n  train { steps = 1000 }\n}\n",
    )
    .unwrap();
    let o = bin()
        .arg("check")
        .arg(&f)
        .env("MEMORAXC_PYTHON", py)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("MX0216") && err.contains("NoSuchEnv"), "{err}");
}

/// Bridge throughput without learning: random actions, `n` envs, `p` processes.
#[test]
fn bridge_throughput() {
    let Some(py) = venv_python() else { return };
    for (n, p) in [(8, 1), (8, 2)] {
        let mut env = BridgeEnv::new(&adapter_id(py, "CartPole-v1"), n, p).unwrap();
        let mut b = StepBatch::new(n, 4);
        env.reset(0, &mut b);
        let steps = 1000;
        let t = Instant::now();
        for s in 0..steps {
            env.step(
                &Actions::Discrete((0..n).map(|i| ((s + i) % 2) as u32).collect()),
                &mut b,
            );
        }
        assert_eq!(env.failure(), None);
        let sps = (steps * n) as f64 / t.elapsed().as_secs_f64();
        eprintln!(
            "bridge CartPole-v1 random actions: {n} envs, {p} process(es): {sps:.0} env steps/s"
        );
        assert!(sps > 100.0);
    }
}

fn fake(python: &str, mode: &str, after: usize) -> String {
    format!(
        "external::{python} {} {mode} {after}",
        root().join("tests/bridge/fake_adapter.py").display()
    )
}

#[test]
fn crashed_hung_or_failing_subprocesses_are_clear_errors() {
    let Some(py) = system_python() else {
        eprintln!("SKIP: no python3 for the fake adapter");
        return;
    };
    for (mode, want) in [
        ("crash", "simulated crash"),
        ("hang", "no answer within"),
        ("error", "simulated failure in env.step"),
        ("garbage", "protocol error"),
    ] {
        let mut env = BridgeEnv::new(&fake(&py, mode, 5), 2, 1).unwrap();
        env.set_timeout(Duration::from_millis(1500));
        let mut b = StepBatch::new(2, 4);
        env.reset(0, &mut b);
        let t = Instant::now();
        for _ in 0..20 {
            env.step(&Actions::Discrete(vec![0, 1]), &mut b);
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{mode}: no hang");
        let e = env
            .failure()
            .unwrap_or_else(|| panic!("{mode}: failure expected"));
        assert!(e.contains(want), "{mode}: {e}");
        if mode == "crash" {
            assert!(e.contains("exit"), "{e}");
        }
    }
}

#[test]
fn a_crash_during_training_keeps_the_last_checkpoint() {
    let Some(py) = system_python() else {
        eprintln!("SKIP: no python3 for the fake adapter");
        return;
    };
    let dir = tmp("crash");
    let f = dir.join("crash.mx");
    for (mode, want) in [("crash", "crashed"), ("hang", "no answer within")] {
        let cmd = fake(&py, mode, 40).replacen("external::", "", 1);
        std::fs::write(
            &f,
            format!(
                "agent crashy {{\n  env = external(\"{cmd}\")\n  algorithm = ppo(num_envs = 2, num_steps = 8, minibatches = 1, epochs = 1)\n  encoder = mlp(8)\n  actor = categorical()\n  critic = value()\n  train {{ steps = 4096, eval_every = 4096, eval_episodes = 1 }}\n}}\n"
            ),
        )
        .unwrap();
        let out = dir.join(format!("runs-{mode}"));
        let t = Instant::now();
        let o = bin()
            .arg("train")
            .arg(&f)
            .args(["-q", "--checkpoint-every", "16", "--out"])
            .arg(&out)
            .env("MEMORAXC_BRIDGE_TIMEOUT", "2")
            .output()
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(60));
        assert_eq!(
            o.status.code(),
            Some(3),
            "{mode}: runtime failure exit code"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{mode}: {err}");
        let run = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let ckpts: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
            .unwrap()
            .collect();
        assert!(
            ckpts.len() >= 2,
            "{mode}: a checkpoint before the failure survives"
        );
        assert!(run.join("checkpoints/latest").exists());
    }
}
