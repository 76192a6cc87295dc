//! CLI tests through the real binary: exit codes 0/1/2, JSON diagnostics, fmt, summary, expand,
//! blocks, explain, `--set` overrides.

use std::process::Command;

fn mx(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memoraxc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run memoraxc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_exit_codes() {
    assert_eq!(mx(&["check", "examples/ppo_cartpole.mx"]).0, 0);
    let (code, _, err) = mx(&["check", "tests/ui/shapes/attention_heads.mx"]);
    assert_eq!(code, 1);
    assert!(err.contains("MX0303"), "{err}");
    assert_eq!(mx(&["check", "--bogus-flag", "x.mx"]).0, 2);
    assert_eq!(mx(&["check"]).0, 2);
    assert_eq!(
        mx(&["check", "tests/ui/warnings/context_and_unused.mx"]).0,
        0
    );
    assert_eq!(mx(&["check", "does/not/exist.mx"]).0, 1);
}

#[test]
fn check_json() {
    let (code, out, _) = mx(&[
        "check",
        "--format",
        "json",
        "tests/ui/agent/hyperparameters.mx",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let diags = v["diagnostics"].as_array().unwrap();
    assert!(
        diags
            .iter()
            .any(|d| d["code"] == "MX0506" && d["line"].as_u64().is_some())
    );
    assert!(v["errors"].as_u64().unwrap() >= 7);
}

#[test]
fn overrides() {
    let (code, out, _) = mx(&[
        "expand",
        "examples/ppo_cartpole.mx",
        "--set",
        "algorithm.num_envs=16",
        "--set",
        "train.steps=2048",
        "--set",
        "optimizer.lr=1e-4",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("num_envs = 16") && out.contains("steps = 2048") && out.contains("lr = 1e-4"),
        "{out}"
    );
    let (code, _, err) = mx(&[
        "check",
        "examples/ppo_cartpole.mx",
        "--set",
        "algorithm.gamma=2.0",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("MX0505") && err.contains("--set"), "{err}");
    let (code, _, err) = mx(&[
        "check",
        "examples/ppo_cartpole.mx",
        "--set",
        "optimiser.lr=1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("MX0214"), "{err}");
    let (code, _, err) = mx(&[
        "check",
        "examples/ppo_cartpole.mx",
        "--set",
        "env=\"gymnax::CartPol\"",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("MX0212"), "{err}");
}

#[test]
fn fmt_check() {
    assert_eq!(mx(&["fmt", "--check", "examples/ppo_cartpole.mx"]).0, 0);
    assert_eq!(mx(&["fmt", "--check", "tests/fmt/messy.mx"]).0, 1);
}

#[test]
fn summary_formats() {
    let (code, out, _) = mx(&["summary", "examples/ppo_gtrxl_cartpole.mx"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("actor total: 117_058") && out.contains("critic total: 116_993"),
        "{out}"
    );
    assert!(out.contains("total parameters: 234_051"));
    assert!(out.contains("mx1:"));
    for f in ["md", "latex", "csv", "json"] {
        let (code, out, _) = mx(&["summary", "examples/ppo_gru_cartpole.mx", "--format", f]);
        assert_eq!(code, 0, "{f}");
        assert!(out.contains("actor.torso"), "{f}: {out}");
    }
    let (code, out, _) = mx(&["summary", "architectures/gtrxl.mx", "--input", "64"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("let gtrxl") && out.contains("116_608"),
        "{out}"
    );
    assert_eq!(
        mx(&["summary", "examples/ppo_cartpole.mx", "--agent", "nope"]).0,
        1
    );
}

#[test]
fn shared_counted_once() {
    let (code, out, err) = mx(&[
        "summary",
        "examples/ppo_shared_encoder_cartpole.mx",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &v[0];
    let nets: u64 = s["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["params"].as_u64().unwrap())
        .sum();
    assert!(s["total_params"].as_u64().unwrap() < nets);
}

#[test]
fn expand_blocks_explain() {
    let (code, out, _) = mx(&["expand", "examples/dqn_cartpole.mx", "--yaml"]);
    assert_eq!(code, 0);
    // a trainable YAML config: the algorithm is a .mx call with every default filled
    assert!(out.contains("buffer_size = 10_000"), "{out}");
    let (code, out, _) = mx(&["blocks"]);
    assert_eq!(code, 0);
    assert!(out.contains("attention") && out.contains("mamba"));
    let (code, out, _) = mx(&["blocks", "attention"]);
    assert_eq!(code, 0);
    assert!(out.contains("heads") && out.contains("4*(F*F + F)"));
    assert_eq!(mx(&["blocks", "atention"]).0, 1);
    let (code, out, _) = mx(&["explain", "MX0303"]);
    assert_eq!(code, 0);
    assert!(out.contains("heads"));
    assert_eq!(mx(&["explain", "MX9999"]).0, 1);
}
