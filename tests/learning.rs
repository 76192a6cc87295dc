//! Learning checks small enough for CI: seeded short runs that must clearly beat a random policy.
//! (Full-budget figures are reproduced with the commands in the README.)

use memoraxc::check::ir::{ActionSpace, Value};
use memoraxc::envs;
use memoraxc::lower::ir_builder as b;
use memoraxc::train::{self, TrainOptions};

/// Parameter initialisation draws from burn's process-global RNG (seeded per run), so runs in
/// this binary take turns: concurrent runs would interleave their draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn out_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mx-learn-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ppo_cartpole(steps: u64, torso_gru: bool) -> memoraxc::check::ir::Agent {
    let env = envs::info("gymnax::CartPole-v1").expect("cartpole");
    let a = match env.action {
        ActionSpace::Discrete(n) => n,
        _ => unreachable!(),
    };
    let net = |name: &str, head: &str| {
        let torso = if torso_gru {
            b::residual(b::gru(64, 64))
        } else {
            b::identity(64)
        };
        b::network(
            name,
            b::mlp(env.obs_dim, &[64, 64], "tanh"),
            torso,
            vec![(name, b::head(head, 64, a))],
        )
    };
    b::agent(
        "ppo_cartpole",
        env.clone(),
        "ppo",
        vec![
            ("num_envs", Value::Int(8)),
            ("num_steps", Value::Int(128)),
            ("minibatches", Value::Int(4)),
        ],
        vec![net("actor", "categorical"), net("critic", "value")],
        vec![
            ("lr", Value::Float(2.5e-4)),
            ("clip_norm", Value::Float(0.5)),
        ],
        steps,
        1,
    )
}

#[test]
fn ppo_mlp_learns_cartpole() {
    let agent = ppo_cartpole(60_000, false);
    let _guard = serial();
    let opts = TrainOptions {
        out: out_dir("ppo"),
        ..TrainOptions::default()
    };
    let s = train::run(&agent, &opts).expect("training runs");
    let e = s.final_eval.expect("final evaluation");
    // random policy: ~22; a learning PPO is far above that after 60k steps
    assert!(
        e.return_mean > 150.0,
        "eval return {} after {} steps",
        e.return_mean,
        s.env_steps
    );
    std::fs::remove_dir_all(&opts.out).ok();
}

#[test]
fn ppo_gru_learns_cartpole() {
    let agent = ppo_cartpole(40_000, true);
    let _guard = serial();
    let opts = TrainOptions {
        out: out_dir("ppo-gru"),
        ..TrainOptions::default()
    };
    let s = train::run(&agent, &opts).expect("training runs");
    let e = s.final_eval.expect("final evaluation");
    eprintln!(
        "ppo-gru: eval {:.1} at {} steps, {:.0} sps",
        e.return_mean, s.env_steps, s.sps
    );
    assert!(
        e.return_mean > 100.0,
        "eval return {} after {} steps",
        e.return_mean,
        s.env_steps
    );
    std::fs::remove_dir_all(&opts.out).ok();
}

fn q_agent(algorithm: &str, steps: u64, hparams: Vec<(&str, Value)>) -> memoraxc::check::ir::Agent {
    let env = envs::info("gymnax::CartPole-v1").expect("cartpole");
    let net = b::network(
        "q",
        b::mlp(env.obs_dim, &[120, 84], "relu"),
        b::identity(84),
        vec![("q", b::head("q", 84, 2))],
    );
    b::agent(
        algorithm,
        env,
        algorithm,
        hparams,
        vec![net],
        vec![("lr", Value::Float(3e-4))],
        steps,
        3,
    )
}

#[test]
fn dqn_learns_cartpole() {
    let agent = q_agent(
        "dqn",
        60_000,
        vec![
            ("num_envs", Value::Int(10)),
            ("learning_starts", Value::Int(1000)),
            ("exploration_fraction", Value::Float(0.3)),
            ("target_network_frequency", Value::Int(500)),
            ("train_frequency", Value::Int(10)),
        ],
    );
    let _guard = serial();
    let opts = TrainOptions {
        out: out_dir("dqn"),
        ..TrainOptions::default()
    };
    let s = train::run(&agent, &opts).expect("training runs");
    let e = s.final_eval.expect("final evaluation");
    eprintln!(
        "dqn: eval {:.1} at {} steps, {:.0} sps",
        e.return_mean, s.env_steps, s.sps
    );
    assert!(
        e.return_mean > 100.0,
        "eval return {} after {} steps",
        e.return_mean,
        s.env_steps
    );
    std::fs::remove_dir_all(&opts.out).ok();
}

#[test]
fn pqn_learns_cartpole() {
    let agent = q_agent(
        "pqn",
        80_000,
        vec![("num_envs", Value::Int(16)), ("num_steps", Value::Int(32))],
    );
    let _guard = serial();
    let opts = TrainOptions {
        out: out_dir("pqn"),
        ..TrainOptions::default()
    };
    let s = train::run(&agent, &opts).expect("training runs");
    let e = s.final_eval.expect("final evaluation");
    eprintln!(
        "pqn: eval {:.1} at {} steps, {:.0} sps",
        e.return_mean, s.env_steps, s.sps
    );
    assert!(
        e.return_mean > 100.0,
        "eval return {} after {} steps",
        e.return_mean,
        s.env_steps
    );
    std::fs::remove_dir_all(&opts.out).ok();
}

/// Same seed and config → identical metrics (every logged value except timings) on CPU.
#[test]
fn same_seed_gives_identical_metrics() {
    let run = |tag: &str| {
        let agent = ppo_cartpole(4096, true);
        let _guard = serial();
        let opts = TrainOptions {
            out: out_dir(tag),
            ..TrainOptions::default()
        };
        let s = train::run(&agent, &opts).expect("training runs");
        let rows = memoraxc::train::metrics::read(&s.dir).expect("metrics");
        std::fs::remove_dir_all(&opts.out).ok();
        rows.into_iter()
            .map(|mut r| {
                r.retain(|k, _| !k.contains("time") && k != "wall_s" && k != "sps");
                r
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (run("det-a"), run("det-b"));
    assert!(a.len() >= 4);
    assert_eq!(a, b);
}
