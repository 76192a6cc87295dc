//! `memoraxc train` and `memoraxc eval` through the real binary: run directories, JSON output,
//! exit codes on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memoraxc"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mx-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn train_writes_a_complete_run_directory_and_eval_reads_it() {
    let out = tmp("train");
    let o = bin()
        .args(["train"])
        .arg(example("ppo_cartpole.mx"))
        .args([
            "--set",
            "train.steps=4096",
            "--set",
            "train.eval_every=2048",
            "-q",
            "--format",
            "json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json summary");
    let run = PathBuf::from(v["run"].as_str().unwrap());
    assert!(v["env_steps"].as_u64().unwrap() >= 4096);
    assert!(v["final_eval"]["episodes"].as_u64().unwrap() > 0);
    for f in [
        "config.yaml",
        "arch.mx",
        "hash",
        "metrics.jsonl",
        "metrics.csv",
        "eval.json",
        "checkpoints/latest",
    ] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    let hash = std::fs::read_to_string(run.join("hash")).unwrap();
    assert!(
        hash.trim().starts_with("mx1:") && hash.trim().len() == 16,
        "{hash}"
    );
    assert!(std::fs::read_dir(&run).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents")
    }));
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(lines.lines().count() >= 4, "one metrics row per iteration");
    // the stored canonical program checks again
    let c = bin()
        .arg("check")
        .arg(run.join("arch.mx"))
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    // eval of the saved policy
    let e = bin()
        .arg("eval")
        .arg(&run)
        .args(["--episodes", "3", "--format", "json"])
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(ev["episodes"], 3);
    assert!(ev["return_mean"].as_f64().unwrap() > 0.0);
    // a corrupt checkpoint is a clear error, not a panic
    let ckpt = run.join("checkpoints").join(
        std::fs::read_to_string(run.join("checkpoints/latest"))
            .unwrap()
            .trim(),
    );
    std::fs::write(ckpt.join("model.bpk"), b"not a model").unwrap();
    let e = bin().arg("eval").arg(&run).output().unwrap();
    assert_eq!(e.status.code(), Some(1));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        err.contains("model.bpk") && !err.contains("panicked"),
        "{err}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_input_exits_with_user_error() {
    let o = bin().args(["train", "does/not/exist.mx"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = bin()
        .arg("train")
        .arg(example("ppo_cartpole.mx"))
        .args(["--set", "train.steps=-5", "-q"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = bin()
        .arg("eval")
        .arg(std::env::temp_dir().join("mx-no-such-run"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = bin().args(["train"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
