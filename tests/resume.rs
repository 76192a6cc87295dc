//! Bit-exact resume: a run stopped after `k` iterations and resumed from its checkpoint ends
//! with the same parameters and metrics as an uninterrupted run (PPO MLP/GRU, IRPPO GRU on a
//! two-agent task, DQN, PQN GRU, and the real binary killed with SIGKILL); corrupt or foreign
//! checkpoints are clear errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use memoraxc::check::ir::{Agent, Value};
use memoraxc::envs;
use memoraxc::lower::ir_builder as b;
use memoraxc::train::{self, Backend, TrainError, TrainOptions, checkpoint, metrics};

/// Training seeds the shared device RNG before initialising parameters, and loading a checkpoint
/// lowers a model (more draws): tests in parallel threads would interleave their draws, so every
/// test here holds this lock from start to end.
static RUNS: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mx-resume-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn net(name: &str, head: &str, outputs: usize, gru: bool) -> memoraxc::check::ir::Network {
    let torso = if gru {
        b::residual(b::gru(16, 16))
    } else {
        b::identity(16)
    };
    b::network(
        name,
        b::mlp(4, &[16], "tanh"),
        torso,
        vec![(name, b::head(head, 16, outputs))],
    )
}

fn small(mut agent: Agent) -> Agent {
    agent.train.eval_episodes = 4;
    agent
}

fn ppo(gru: bool) -> Agent {
    let env = envs::info("gymnax::CartPole-v1").expect("cartpole");
    small(b::agent(
        if gru { "ppo_gru" } else { "ppo_mlp" },
        env,
        "ppo",
        vec![
            ("num_envs", Value::Int(4)),
            ("num_steps", Value::Int(32)),
            ("minibatches", Value::Int(2)),
            ("epochs", Value::Int(2)),
        ],
        vec![
            net("actor", "categorical", 2, gru),
            net("critic", "value", 1, gru),
        ],
        vec![("lr", Value::Float(1e-3)), ("clip_norm", Value::Float(0.5))],
        128 * 6,
        7,
    ))
}

/// Recurrent IPPO on a two-agent task: per-agent carries and the agent-folded batch resume exactly.
fn irppo() -> Agent {
    let env = envs::info("marl::CueRecall-2").expect("cue recall");
    let net = |name: &str, head: &str, outputs: usize| {
        b::network(
            name,
            b::mlp(env.obs_dim, &[16], "tanh"),
            b::residual(b::gru(16, 16)),
            vec![(name, b::head(head, 16, outputs))],
        )
    };
    small(b::agent(
        "irppo_gru",
        env.clone(),
        "irppo",
        vec![
            ("num_envs", Value::Int(4)),
            ("num_steps", Value::Int(18)),
            ("minibatches", Value::Int(2)),
            ("epochs", Value::Int(2)),
        ],
        vec![net("actor", "categorical", 4), net("critic", "value", 1)],
        vec![("lr", Value::Float(1e-3))],
        4 * 18 * 6,
        5,
    ))
}

fn dqn() -> Agent {
    let env = envs::info("gymnax::CartPole-v1").expect("cartpole");
    small(b::agent(
        "dqn",
        env,
        "dqn",
        vec![
            ("num_envs", Value::Int(10)),
            ("buffer_size", Value::Int(700)),
            ("batch_size", Value::Int(16)),
            ("learning_starts", Value::Int(200)),
            ("target_network_frequency", Value::Int(300)),
            ("train_frequency", Value::Int(10)),
        ],
        vec![net("q", "q", 2, false)],
        vec![("lr", Value::Float(1e-3))],
        500 * 5,
        3,
    ))
}

fn pqn() -> Agent {
    let env = envs::info("gymnax::CartPole-v1").expect("cartpole");
    small(b::agent(
        "pqn",
        env,
        "pqn",
        vec![
            ("num_envs", Value::Int(4)),
            ("num_steps", Value::Int(32)),
            ("minibatches", Value::Int(2)),
            ("epochs", Value::Int(2)),
        ],
        vec![net("q", "q", 2, true)],
        vec![("lr", Value::Float(1e-3))],
        128 * 6,
        5,
    ))
}

/// Every float parameter of a checkpoint's `model.bpk`, as bits, in visit order.
fn params(agent: &Agent, ckpt: &Path) -> Vec<u32> {
    #[derive(Default)]
    struct Bits(Vec<u32>);
    impl ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let data = p.val().into_data().convert::<f32>();
            self.0.extend(data.iter::<f32>().map(f32::to_bits));
        }
    }
    let device = train::device(Backend::Cpu).expect("cpu");
    let algo = memoraxc::algorithms::build(agent, &device).expect("builds");
    let model = algo
        .model()
        .clone()
        .try_load_file(ckpt.join("model.bpk"))
        .expect("model loads");
    let mut bits = Bits::default();
    model.visit(&mut bits);
    assert!(!bits.0.is_empty());
    bits.0
}

/// Metrics rows without the timing columns.
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

fn run(agent: &Agent, opts: TrainOptions) -> Result<train::RunSummary, TrainError> {
    train::run(agent, &opts)
}

fn opts(out: &Path) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        ..TrainOptions::default()
    }
}

/// Uninterrupted vs stopped after `k` iterations and resumed: identical parameters and metrics.
fn assert_resume_exact(tag: &str, agent: &Agent, k: u64) {
    let (oa, ob) = (out_dir(&format!("{tag}-a")), out_dir(&format!("{tag}-b")));
    let a = run(agent, opts(&oa)).expect("uninterrupted run");
    let stopped = run(
        agent,
        TrainOptions {
            max_iterations: Some(k),
            ..opts(&ob)
        },
    )
    .expect("first part");
    assert!(stopped.stopped_early && stopped.env_steps < agent.train.steps);
    let resumed = run(
        agent,
        TrainOptions {
            resume: Some(stopped.dir.clone()),
            ..opts(&ob)
        },
    )
    .expect("resumed part");
    assert_eq!(resumed.dir, stopped.dir);
    assert_eq!(resumed.env_steps, a.env_steps);
    let (ca, cb) = (
        checkpoint::latest(&a.dir).expect("a"),
        checkpoint::latest(&resumed.dir).expect("b"),
    );
    assert_eq!(ca.file_name(), cb.file_name());
    assert!(
        params(agent, &ca) == params(agent, &cb),
        "{tag}: resumed parameters differ from the uninterrupted run"
    );
    let (ra, rb) = (rows(&a.dir), rows(&resumed.dir));
    assert_eq!(ra.len(), rb.len(), "{tag}: metrics rows");
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        assert_eq!(x, y, "{tag}: metrics row {i}");
    }
    let (ea, eb) = (
        a.final_eval.expect("eval a"),
        resumed.final_eval.expect("eval b"),
    );
    assert_eq!(ea.return_mean.to_bits(), eb.return_mean.to_bits());
    std::fs::remove_dir_all(&oa).ok();
    std::fs::remove_dir_all(&ob).ok();
}

#[test]
fn ppo_mlp_resume_is_exact() {
    let _guard = serial();
    assert_resume_exact("ppo-mlp", &ppo(false), 2);
}

#[test]
fn ppo_gru_resume_is_exact() {
    let _guard = serial();
    assert_resume_exact("ppo-gru", &ppo(true), 3);
}

#[test]
fn irppo_resume_is_exact() {
    let _guard = serial();
    assert_resume_exact("irppo", &irppo(), 3);
}

#[test]
fn dqn_resume_is_exact() {
    let _guard = serial();
    assert_resume_exact("dqn", &dqn(), 2);
}

#[test]
fn pqn_gru_resume_is_exact() {
    let _guard = serial();
    assert_resume_exact("pqn-gru", &pqn(), 3);
}

fn from_text(src: &str) -> Agent {
    let out = memoraxc::check::check_source("resume.mx", src, &[]);
    small(out.program.agents.into_iter().next().expect("agent checks"))
}

#[test]
fn r2d2_gru_resume_is_exact() {
    let _guard = serial();
    let a = from_text(
        r#"agent r2d2 {
  env = "popgym::PositionOnlyCartPoleEasy"
  algorithm = r2d2(num_envs = 8, buffer_size = 800, batch_size = 4, train_frequency = 8,
                   learning_starts = 200, target_network_frequency = 300, burn_in = 2,
                   seq_len = 4, n_step = 2)
  encoder = mlp(16)
  torso = gru(16)
  q = q()
  train { steps = 1_200, seed = 3 }
}"#,
    );
    assert_resume_exact("r2d2-gru", &a, 2);
}

#[test]
fn sac_resume_is_exact() {
    let _guard = serial();
    let a = from_text(
        r#"agent sac {
  env = "gymnax::Pendulum-v1"
  algorithm = sac(num_envs = 1, buffer_size = 2_000, batch_size = 8, learning_starts = 300)
  encoder = mlp(16)
  actor = gaussian(squash = true)
  critic = twin_q()
  train { steps = 1_500, seed = 3 }
}"#,
    );
    assert_resume_exact("sac", &a, 2);
}

#[test]
fn discrete_sac_gru_resume_is_exact() {
    let _guard = serial();
    let a = from_text(
        r#"agent sac_gru {
  env = "gymnax::CartPole-v1"
  algorithm = sac(num_envs = 2, buffer_size = 2_000, batch_size = 4, train_frequency = 2,
                  learning_starts = 300, seq_len = 3, burn_in = 1)
  encoder = mlp(16)
  torso = gru(16)
  actor = categorical()
  critic = twin_q()
  train { steps = 1_500, seed = 3 }
}"#,
    );
    assert_resume_exact("sac-gru", &a, 2);
}

/// A checkpoint after one iteration; returns (run dir, checkpoint dir).
fn one_iteration(tag: &str, agent: &Agent) -> (PathBuf, PathBuf) {
    let s = run(
        agent,
        TrainOptions {
            max_iterations: Some(1),
            ..opts(&out_dir(tag))
        },
    )
    .expect("one iteration");
    let ckpt = checkpoint::latest(&s.dir).expect("checkpoint");
    (s.dir, ckpt)
}

fn resume_err(agent: &Agent, dir: &Path) -> String {
    match run(
        agent,
        TrainOptions {
            resume: Some(dir.to_path_buf()),
            ..opts(dir)
        },
    ) {
        Ok(_) => panic!("resuming {} should fail", dir.display()),
        Err(e) => {
            assert!(matches!(e, TrainError::Checkpoint(_)), "{e}");
            e.to_string()
        }
    }
}

#[test]
fn corrupt_and_foreign_checkpoints_are_clear_errors() {
    let _guard = serial();
    let agent = dqn();
    let (dir, ckpt) = one_iteration("corrupt", &agent);
    let backup = |f: &str| std::fs::read(ckpt.join(f)).expect("read");
    let cases: &[(&str, &[u8], &str)] = &[
        ("model.bpk", b"not a burnpack file", "model.bpk"),
        ("target.bpk", b"\0\0\0\0garbage", "target.bpk"),
        ("meta.json", b"{ truncated", "meta.json"),
        ("state.bin", b"\xff\x01garbage", "state"),
        ("optimizer.bin", b"garbage", "optimizer"),
    ];
    for (file, bytes, needle) in cases {
        let good = backup(file);
        std::fs::write(ckpt.join(file), bytes).expect("corrupt");
        let e = resume_err(&agent, &dir);
        assert!(e.contains(needle), "{file}: {e}");
        std::fs::write(ckpt.join(file), good).expect("restore");
    }
    // an old checkpoint format
    let good = backup("meta.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&good).expect("json");
    meta["format"] = 1.into();
    std::fs::write(ckpt.join("meta.json"), meta.to_string()).expect("write");
    let e = resume_err(&agent, &dir);
    assert!(e.contains("format 1"), "{e}");
    std::fs::write(ckpt.join("meta.json"), good).expect("restore");
    // another architecture
    let e = resume_err(&pqn(), &dir);
    assert!(e.contains("architecture"), "{e}");
    // the untouched checkpoint still resumes
    run(
        &agent,
        TrainOptions {
            resume: Some(dir.clone()),
            max_iterations: Some(1),
            ..opts(&dir)
        },
    )
    .expect("the intact checkpoint resumes");
    std::fs::remove_dir_all(dir.parent().expect("out")).ok();
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ppo_cartpole.mx");
const STEPS: u64 = 1024 * 6;

fn memoraxc(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memoraxc"));
    c.args(["train", EXAMPLE, "-q", "--checkpoint-every", "1024"])
        .arg("--set")
        .arg(format!("train.steps={STEPS}"))
        .args(args);
    c
}

fn only_run(out: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn killed_binary_resumes_to_the_uninterrupted_parameters() {
    let _guard = serial();
    let (oa, ob) = (out_dir("bin-a"), out_dir("bin-b"));
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let st = memoraxc(&["--out", &s(&oa)]).output().expect("runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut child = memoraxc(&["--out", &s(&ob)]).spawn().expect("starts");
    let started = std::time::Instant::now();
    let killed_at = loop {
        let latest = std::fs::read_dir(&ob)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| checkpoint::latest(&e.ok()?.path()).ok());
        if let Some(ckpt) = latest.filter(|c| c.exists()) {
            child.kill().expect("SIGKILL");
            break ckpt;
        }
        assert!(child.try_wait().expect("wait").is_none(), "finished early");
        assert!(started.elapsed().as_secs() < 300, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    child.wait().expect("reaped");
    let run_b = only_run(&ob);
    let killed = checkpoint::latest(&run_b).expect("latest");
    assert!(
        !killed.ends_with(format!("step-{STEPS:012}")),
        "killed after the end: {}",
        killed_at.display()
    );
    let st = memoraxc(&["--resume", &s(&run_b)])
        .output()
        .expect("resumes");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let agent = {
        let out =
            memoraxc::check::check_path(Path::new(EXAMPLE), &[format!("train.steps={STEPS}")]);
        out.program.agents.into_iter().next().expect("agent")
    };
    let run_a = only_run(&oa);
    let (ca, cb) = (
        checkpoint::latest(&run_a).expect("a"),
        checkpoint::latest(&run_b).expect("b"),
    );
    assert!(
        ca.ends_with(format!("step-{STEPS:012}")),
        "{}",
        ca.display()
    );
    assert_eq!(ca.file_name(), cb.file_name());
    assert!(
        params(&agent, &ca) == params(&agent, &cb),
        "resumed binary run differs from the uninterrupted one"
    );
    assert_eq!(rows(&run_a), rows(&run_b));
    std::fs::remove_dir_all(&oa).ok();
    std::fs::remove_dir_all(&ob).ok();
}

#[test]
fn binary_rejects_corrupt_and_foreign_checkpoints_without_panicking() {
    let _guard = serial();
    let out = out_dir("bin-err");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let one = Command::new(env!("CARGO_BIN_EXE_memoraxc"))
        .args(["train", EXAMPLE, "-q", "--set", "train.steps=1024"])
        .args(["--out", &s(&out)])
        .output()
        .expect("runs");
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let run = only_run(&out);
    let ckpt = checkpoint::latest(&run).expect("latest");
    let resume = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_memoraxc"))
            .args(["train", &s(file), "-q", "--set", "train.steps=1024"])
            .args(["--resume", &s(&run)])
            .output()
            .expect("runs")
    };
    let check = |o: std::process::Output, needle: &str| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success(), "should fail: {err}");
        assert!(!err.contains("panicked"), "panicked: {err}");
        assert!(err.contains("error:") && err.contains(needle), "{err}");
    };
    // another architecture (same file with a narrower encoder)
    let other = out.join("other.mx");
    let text = std::fs::read_to_string(EXAMPLE).expect("example");
    std::fs::write(&other, text.replace("mlp(64, 64)", "mlp(32)")).expect("write");
    check(resume(&other), "architecture");
    // corrupt model and meta
    let example = PathBuf::from(EXAMPLE);
    std::fs::write(ckpt.join("model.bpk"), b"garbage").expect("corrupt");
    check(resume(&example), "model.bpk");
    std::fs::write(ckpt.join("meta.json"), b"[1, 2").expect("corrupt");
    check(resume(&example), "meta.json");
    std::fs::remove_dir_all(&out).ok();
}
