//! `memoraxc sweep` with the local launcher, end to end through the real binary on tiny CartPole
//! runs: a 2×2 sweep (two learning rates × two seeds), a run killed mid-way that resumes from its
//! checkpoint to the same result as the plain `train` command, status, resubmit, report and plot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memoraxc"));
    c.env("RAYON_NUM_THREADS", "1");
    c
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mx-sweep-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Tiny PPO on CartPole: 4 envs × 64 steps per iteration, 8192 steps, a checkpoint every 1024.
const TINY: [&str; 6] = [
    "algorithm.num_envs=4",
    "algorithm.num_steps=64",
    "train.steps=8192",
    "train.eval_every=1024",
    "train.eval_episodes=4",
    "algorithm.epochs=2",
];

fn with_sets(c: &mut Command) -> &mut Command {
    for s in TINY {
        c.args(["--set", s]);
    }
    c
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).expect("json output")
}

fn status(dir: &Path) -> Vec<String> {
    let v = json(
        &bin()
            .args(["sweep", "status"])
            .arg(dir)
            .args(["--format", "json"])
            .output()
            .unwrap(),
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect()
}

fn eval_return(run: &Path) -> f64 {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    v["return_mean"].as_f64().unwrap()
}

#[test]
fn local_sweep_kill_resume_report_and_plot() {
    let out = tmp("local");
    // create the 2×2 sweep without launching it
    let created = json(
        &with_sets(bin().arg("sweep").arg(example("ppo_cartpole.mx")))
            .args(["--grid", "optimizer.lr=1e-3,3e-4", "--seeds", "0..1"])
            .args(["--no-launch", "--format", "json", "--out"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    let dir = PathBuf::from(created["sweep"].as_str().unwrap());
    assert_eq!(created["runs"], 4);
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("ppo_cartpole-sweep-")
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[1]["seed"], 1);
    assert_eq!(entries[1]["overrides"][0], "optimizer.lr=1e-3");
    assert_eq!(entries[2]["overrides"][0], "optimizer.lr=3e-4");
    let spec = std::fs::read_to_string(dir.join("sweep.yaml")).unwrap();
    assert!(spec.contains("key: optimizer.lr") && spec.contains("hash: mx1:"));
    assert_eq!(status(&dir), ["pending"; 4]);

    // run 1 alone, killed hard once it has a checkpoint
    let run1 = dir.join(entries[1]["run"].as_str().unwrap());
    let mut child = bin()
        .args(["train", "--sweep"])
        .arg(&dir)
        .args(["--index", "1", "--quiet", "--checkpoint-every", "512"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !run1.join("checkpoints/latest").exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run1.join("done.json").exists(),
        "the run finished before it could be killed; make it longer"
    );
    let st = status(&dir);
    assert_eq!(st[1], "failed", "a killed run is failed: {st:?}");

    // relaunching the whole sweep resumes run 1 and runs the others, two at a time
    let o = bin()
        .args(["sweep", "resubmit"])
        .arg(&dir)
        .args(["-j", "2", "--quiet"])
        .output()
        .unwrap();
    let text = ok(&o);
    assert!(text.contains("4 finished"), "{text}");
    assert_eq!(status(&dir), ["done"; 4]);
    let done1: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run1.join("done.json")).unwrap()).unwrap();
    assert_eq!(done1["resumed"], true, "run 1 continued its checkpoint");
    assert_eq!(done1["env_steps"], 8192);
    // the metrics of the resumed run are one continuous series
    let steps: Vec<f64> = std::fs::read_to_string(run1.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["env_steps"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert_eq!(steps.last(), Some(&8192.0));

    // a second launch skips everything
    let again = ok(&bin()
        .args(["sweep", "resubmit"])
        .arg(&dir)
        .output()
        .unwrap());
    assert!(again.contains("nothing to resubmit"), "{again}");
    let skip = ok(&bin()
        .args(["train", "--sweep"])
        .arg(&dir)
        .args(["--index", "0"])
        .output()
        .unwrap());
    assert!(skip.contains("done already"), "{skip}");

    // the killed-and-resumed run equals the plain command with the same settings, bit for bit
    let plain_out = out.join("plain");
    let plain = json(
        &with_sets(bin().arg("train").arg(example("ppo_cartpole.mx")))
            .args(["--set", "optimizer.lr=1e-3", "--seed", "1", "-q"])
            .args(["--format", "json", "--out"])
            .arg(&plain_out)
            .output()
            .unwrap(),
    );
    let plain_run = PathBuf::from(plain["run"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(plain_run.join("hash")).unwrap(),
        std::fs::read_to_string(run1.join("hash")).unwrap()
    );
    assert_eq!(
        eval_return(&plain_run).to_bits(),
        eval_return(&run1).to_bits(),
        "sweep run 1 (killed, resumed) vs plain train"
    );

    // report: statistics recomputed here from the runs' eval.json
    let rep = json(
        &bin()
            .arg("report")
            .arg(&dir)
            .args(["--format", "json"])
            .output()
            .unwrap(),
    );
    let rows = rep.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (c, row) in rows.iter().enumerate() {
        let scores: Vec<f64> = (0..2)
            .map(|s| eval_return(&dir.join(entries[c * 2 + s]["run"].as_str().unwrap())))
            .collect();
        let mean = (scores[0] + scores[1]) / 2.0;
        assert_eq!(row["n"], 2);
        assert_eq!(row["label"], entries[c * 2]["overrides"][0]);
        assert!((row["mean"]["point"].as_f64().unwrap() - mean).abs() < 1e-9);
        // IQM of two scores trims nothing
        assert!((row["iqm"]["point"].as_f64().unwrap() - mean).abs() < 1e-9);
        let (lo, hi) = (
            row["mean"]["lo"].as_f64().unwrap(),
            row["mean"]["hi"].as_f64().unwrap(),
        );
        let (min, max) = (scores[0].min(scores[1]), scores[0].max(scores[1]));
        assert!(min <= lo && lo <= mean && mean <= hi && hi <= max, "{row}");
        assert!(
            row["program"]
                .as_str()
                .unwrap()
                .contains("agent ppo_cartpole")
        );
    }
    let md = ok(&bin().arg("report").arg(&dir).output().unwrap());
    assert!(md.contains("| optimizer.lr=1e-3 | 2 |"), "{md}");
    assert!(md.contains("```mx") && md.contains("IQM"), "{md}");
    assert_eq!(
        md,
        ok(&bin().arg("report").arg(&dir).output().unwrap()),
        "deterministic"
    );
    let tex = ok(&bin()
        .arg("report")
        .arg(&dir)
        .args(["--format", "latex"])
        .output()
        .unwrap());
    assert!(
        tex.contains("\\toprule") && tex.contains("optimizer.lr=1e-3 & 2 &"),
        "{tex}"
    );
    let csv = ok(&bin()
        .arg("report")
        .arg(&dir)
        .args(["--format", "csv"])
        .output()
        .unwrap());
    assert_eq!(csv.lines().count(), 3);

    // plot of the sweep: one line per configuration, IQM with CI bands
    let png = out.join("sweep.svg");
    let p = ok(&bin()
        .arg("plot")
        .arg(&dir)
        .args(["--center", "iqm", "-o"])
        .arg(&png)
        .output()
        .unwrap());
    assert!(p.contains("4 run(s), 2 configuration(s)"), "{p}");
    let svg = std::fs::read_to_string(&png).unwrap();
    assert!(svg.contains("<svg"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn local_launcher_runs_a_sweep_in_one_command() {
    let out = tmp("one");
    let o = with_sets(bin().arg("sweep").arg(example("ppo_cartpole.mx")))
        .args([
            "--set",
            "train.steps=1024",
            "--seeds",
            "3..4",
            "-j",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    // `train.steps` given twice: the last --set wins, as for `train`
    let text = ok(&o);
    assert!(text.contains("2 finished"), "{text}");
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(status(&dir), ["done", "done"]);
    assert!(dir.join("logs/run-0.log").is_file());
    std::fs::remove_dir_all(&out).ok();
}
