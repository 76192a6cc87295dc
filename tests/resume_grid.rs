//! Bit-exact resume with grid worlds and intrinsic rewards: a PPO + RND (and PPO + ICM) run
//! stopped after `k` iterations and resumed logs the same metrics (episode returns, visited
//! cells, intrinsic losses and rewards) and evaluates the same as an uninterrupted run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use memoraxc::check::{self, ir::Agent};
use memoraxc::train::{self, TrainOptions, metrics};

/// Runs seed the shared device RNG before initialising parameters: they take turns.
static RUNS: Mutex<()> = Mutex::new(());

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mx-resume-grid-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn agent(file: &str, edit: impl Fn(String) -> String) -> Agent {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let text = edit(std::fs::read_to_string(path).expect("example"));
    let sets: Vec<String> = [
        "algorithm.num_envs=4",
        "algorithm.num_steps=32",
        "train.steps=640",
        "train.eval_every=256",
        "train.eval_episodes=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = check::check_source(file, &text, &sets);
    assert!(
        !out.diagnostics.has_errors(),
        "{}",
        out.diagnostics.render(false)
    );
    out.program.agents.into_iter().next().expect("agent")
}

fn rows(dir: &Path) -> Vec<BTreeMap<String, f64>> {
    metrics::read(dir)
        .expect("metrics")
        .into_iter()
        .map(|mut r| {
            r.remove("wall_s");
            r.remove("sps");
            r.retain(|k, _| !k.starts_with("time/"));
            r
        })
        .collect()
}

fn run(
    agent: &Agent,
    out: &Path,
    max_iterations: Option<u64>,
    resume: Option<PathBuf>,
) -> train::RunSummary {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let opts = TrainOptions {
        out: out.to_path_buf(),
        max_iterations,
        resume,
        ..TrainOptions::default()
    };
    train::run(agent, &opts).expect("run")
}

fn assert_resume_exact(tag: &str, agent: &Agent, k: u64, keys: &[&str]) {
    let (oa, ob) = (out_dir(&format!("{tag}-a")), out_dir(&format!("{tag}-b")));
    let a = run(agent, &oa, None, None);
    let stopped = run(agent, &ob, Some(k), None);
    assert!(stopped.stopped_early);
    let resumed = run(agent, &ob, None, Some(stopped.dir.clone()));
    assert_eq!(resumed.env_steps, a.env_steps);
    let (ra, rb) = (rows(&a.dir), rows(&resumed.dir));
    for key in keys {
        assert!(
            ra.iter().any(|r| r.contains_key(*key)),
            "{tag}: {key} logged"
        );
    }
    assert_eq!(ra, rb, "{tag}: metrics after resume");
    assert_eq!(
        a.final_eval.expect("a").return_mean.to_bits(),
        resumed.final_eval.expect("b").return_mean.to_bits()
    );
    std::fs::remove_dir_all(&oa).ok();
    std::fs::remove_dir_all(&ob).ok();
}

#[test]
fn ppo_rnd_grid_resume_is_exact() {
    let a = agent("ppo_rnd_minigrid_empty16.mx", |t| {
        t.replace("Empty-16x16", "Empty-5x5")
    });
    assert_resume_exact(
        "rnd",
        &a,
        2,
        &["loss/rnd", "intrinsic/reward_mean", "env/visited_cells"],
    );
}

#[test]
fn ppo_icm_grid_resume_is_exact() {
    let a = agent("ppo_icm_minigrid_doorkey.mx", |t| {
        t.replace("cnn(16, 32) -> mlp(64)", "mlp(32)")
    });
    assert_resume_exact("icm", &a, 3, &["loss/icm_forward", "loss/icm_inverse"]);
}
