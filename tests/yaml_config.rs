//! YAML agent configs: `expand --yaml` output trains to the same metrics as the `.mx` source,
//! and YAML mistakes are diagnostics pointing into the YAML file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memoraxc"))
}

fn tmp(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("yaml-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Metrics rows without timing columns.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let m = v.as_object_mut().unwrap();
            m.retain(|k, _| !(k.contains("time") || k.contains("wall") || k.contains("sps")));
            v
        })
        .collect()
}

fn train(file: &Path, out: &Path) -> PathBuf {
    let o = bin()
        .arg("train")
        .arg(file)
        .args([
            "-q",
            "--format",
            "json",
            "--seed",
            "3",
            "--set",
            "train.steps=2048",
            "--set",
            "train.eval_every=1024",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    PathBuf::from(v["run"].as_str().unwrap())
}

#[test]
fn expanded_yaml_trains_like_the_mx_source() {
    let dir = tmp("same");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ppo_gru_cartpole.mx");
    let o = bin()
        .arg("expand")
        .arg(&src)
        .arg("--yaml")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = dir.join("agent.yaml");
    std::fs::write(&yaml, &o.stdout).unwrap();
    // same architecture hash
    let hash = |f: &Path| {
        let o = bin().arg("expand").arg(f).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(hash(&src), hash(&yaml));
    let a = metrics(&train(&src, &dir.join("runs-mx")));
    let b = metrics(&train(&yaml, &dir.join("runs-yaml")));
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same metrics");
}

fn check_err(yaml: &str) -> serde_json::Value {
    let dir = tmp("err");
    let f = dir.join("bad.yaml");
    std::fs::write(&f, yaml).unwrap();
    let o = bin()
        .arg("check")
        .arg(&f)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn yaml_errors_point_into_the_yaml_file() {
    // an unknown block inside an architecture string
    let text = "agent: a\nenv: gymnax::CartPole-v1\nalgorithm: ppo()\ntorso: gru(64) -> fnn()\nactor: categorical()\ncritic: value()\ntrain:\n  steps: 1000\n";
    let v = check_err(text);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "MX0201", "{v}");
    let (s, e) = (
        d["primary"]["start"].as_u64().unwrap() as usize,
        d["primary"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "fnn", "{v}");
    assert_eq!(d["line"], 4);
    // a bad train value
    let text = "agent: a\nenv: gymnax::CartPole-v1\nalgorithm: ppo()\nactor: categorical()\ncritic: value()\ntrain:\n  steps: -5\n";
    let v = check_err(text);
    let d = &v["diagnostics"][0];
    let (s, e) = (
        d["primary"]["start"].as_u64().unwrap() as usize,
        d["primary"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "-5", "{v}");
    // malformed YAML
    let v = check_err("agent: a\nenv: [oops\n");
    assert_eq!(v["diagnostics"][0]["code"], "MX0107", "{v}");
    // unknown env id: the value's span
    let text = "agent: a\nenv: gymnax::CartPol-v1\nalgorithm: ppo()\nactor: categorical()\ncritic: value()\ntrain:\n  steps: 1000\n";
    let v = check_err(text);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "MX0212");
    let (s, e) = (
        d["primary"]["start"].as_u64().unwrap() as usize,
        d["primary"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "gymnax::CartPol-v1", "{v}");
}
