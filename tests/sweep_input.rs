//! Sweeps and reports on bad input, through the real binary: every error is clear, names its flag
//! or file, exits with the SPEC §2 code and leaves nothing behind or overwritten. And the report's
//! statistics on known scores, recomputed here independently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memoraxc"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mx-sweepin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sweep(out: &Path, args: &[&str]) -> Output {
    bin()
        .arg("sweep")
        .arg(example("ppo_cartpole.mx"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn bad_grids_are_errors_naming_the_flag_before_anything_runs() {
    let out = tmp("grid");
    for (args, needle) in [
        (vec!["--grid", "optimizer.lr="], "empty grid"),
        (
            vec!["--grid", "optimizer.lr=1e-3", "--grid", "optimizer.lr=3e-4"],
            "duplicate key",
        ),
        (vec!["--grid", "optimizer.lr=1e-3,1e-3"], "twice"),
        (vec!["--grid", "train.seed=1,2"], "--seeds"),
        (vec!["--seeds", "5..2"], "empty range"),
        (vec!["--grid", "optimizer.nope=1,2"], "--grid"),
        (vec!["--grid", "nothing.here=1"], "unknown setting"),
        (vec!["--grid", "optimizer.lr=1e-3,fast"], "--grid"),
        (
            vec!["--grid", "optimizer.lr=1e-3", "--partition", "gpu"],
            "--launcher slurm",
        ),
    ] {
        let o = sweep(&out, &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{args:?}: a sweep directory was created"
        );
    }
    // checker diagnostics for grid values carry a code and point into `--grid`
    let o = sweep(&out, &["--grid", "optimizer.lr=1e-3,fast"]);
    let e = stderr(&o);
    assert!(e.contains("MX0") && e.contains("--grid"), "{e}");
    let o = sweep(&out, &["--grid", "optimizer.lr"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("key=v1,v2"));
    std::fs::remove_dir_all(&out).ok();
}

/// A created (not launched) sweep of two runs; returns its directory.
fn created(out: &Path) -> PathBuf {
    let o = sweep(
        out,
        &["--set", "train.steps=512", "--seeds", "0..1", "--no-launch"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[test]
fn an_edited_or_damaged_manifest_is_an_error_and_nothing_is_overwritten() {
    let out = tmp("manifest");
    let dir = created(&out);
    let path = dir.join("manifest.jsonl");
    let good = std::fs::read_to_string(&path).unwrap();
    for (bad, needle) in [
        (good.replace("\"seed\":1", "\"seed\":7"), "line 2"),
        (
            good.lines().next().unwrap().to_string() + "\n",
            "runs listed",
        ),
        (good.clone() + "{not json\n", "line 3"),
        (good.replace("runs/0001", "runs/elsewhere"), "line 2"),
        (String::new(), "empty manifest"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        for cmd in [
            vec!["sweep", "status"],
            vec!["sweep", "resubmit"],
            vec!["report"],
        ] {
            let o = bin().args(&cmd).arg(&dir).output().unwrap();
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{cmd:?}: {e}");
            assert!(
                e.contains("manifest.jsonl") && e.contains(needle),
                "{cmd:?}: {e}"
            );
        }
        let o = bin()
            .args(["train", "--sweep"])
            .arg(&dir)
            .args(["--index", "0"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad, "overwritten");
        assert!(
            std::fs::read_dir(dir.join("runs"))
                .unwrap()
                .next()
                .is_none(),
            "a run started from a damaged manifest"
        );
    }
    // a consistent edit (valid JSON, matching grid) is still caught by the checksum
    std::fs::write(&path, good.replacen("{\"index\"", "{ \"index\"", 1)).unwrap();
    let o = bin().args(["sweep", "status"]).arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
    std::fs::write(&path, &good).unwrap();
    let o = bin().args(["sweep", "status"]).arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bin()
        .args(["train", "--sweep"])
        .arg(&dir)
        .args(["--index", "2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--index 2"));
    let o = bin()
        .args(["sweep", "status"])
        .arg(out.join("nope"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a sweep directory"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn missing_sbatch_is_a_clear_error_and_the_script_is_written() {
    let out = tmp("sbatch");
    let o = bin()
        .arg("sweep")
        .arg(example("ppo_cartpole.mx"))
        .args(["--grid", "optimizer.lr=1e-3,3e-4", "--seeds", "0..2"])
        .args(["--launcher", "slurm", "--jobs", "2", "--partition", "short"])
        .args(["--time", "00:10:00", "--cpus-per-task", "2", "--gpus", "1"])
        .args([
            "--backend",
            "cuda",
            "--sbatch-arg=--mem=2G",
            "--submit",
            "--out",
        ])
        .arg(&out)
        .env("PATH", out.join("no-bin"))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("sbatch not found"), "{e}");
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let script = std::fs::read_to_string(dir.join("submit.sbatch")).expect("script written");
    assert!(e.contains(&dir.join("submit.sbatch").display().to_string()));
    for line in [
        "#SBATCH --array=0-5%2",
        "#SBATCH --partition=short",
        "#SBATCH --time=00:10:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --gpus=1",
        "#SBATCH --mem=2G",
        "--backend cuda",
        "--index \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "missing {line}:\n{script}");
    }
    assert!(script.contains(&format!(
        "#SBATCH --output={}/logs/slurm-%A_%a.log",
        dir.display()
    )));
    std::fs::remove_dir_all(&out).ok();
}

/// A fake finished run: `hash`, `config.yaml`, `arch.mx`, `eval.json` with `ret`.
fn fake_run(dir: &Path, hash: &str, ret: f64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("hash"), format!("{hash}\n")).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("agent: fake\nenv: gymnax::CartPole-v1\nhash: {hash}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("arch.mx"), "agent fake {}\n").unwrap();
    std::fs::write(dir.join("metrics.jsonl"), "{\"env_steps\":1}\n").unwrap();
    std::fs::write(
        dir.join("eval.json"),
        format!("{{\"return_mean\":{ret},\"return_std\":0,\"length_mean\":1,\"episodes\":1}}"),
    )
    .unwrap();
}

fn report(dirs: &[&Path], extra: &[&str]) -> serde_json::Value {
    let o = bin()
        .arg("report")
        .args(dirs)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn report_statistics_match_independent_values() {
    let root = tmp("stats");
    // eight seeds with known returns, and an outlier-heavy configuration
    let a = [10.0, 12.0, 11.0, 13.0, 500.0, 9.0, 14.0, -300.0];
    for (i, r) in a.iter().enumerate() {
        fake_run(&root.join(format!("a/run{i}")), "mx1:aaaaaaaaaaaa", *r);
    }
    // forty seeds: 0, 1, ..., 39
    for i in 0..40 {
        fake_run(
            &root.join(format!("b/run{i:02}")),
            "mx1:bbbbbbbbbbbb",
            f64::from(i),
        );
    }
    let v = report(&[&root.join("a"), &root.join("b")], &[]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (ra, rb) = (&rows[0], &rows[1]);
    assert_eq!(ra["hash"], "mx1:aaaaaaaaaaaa");
    assert_eq!(ra["n"], 8);
    // hand-computed: mean = 269 / 8; IQM drops the 2 lowest (-300, 9) and 2 highest (500, 14)
    assert!((ra["mean"]["point"].as_f64().unwrap() - 269.0 / 8.0).abs() < 1e-12);
    assert!((ra["iqm"]["point"].as_f64().unwrap() - 11.5).abs() < 1e-12);
    // the IQM's interval is narrower than the mean's on outliers
    let width = |e: &serde_json::Value| e["hi"].as_f64().unwrap() - e["lo"].as_f64().unwrap();
    assert!(width(&ra["iqm"]) < width(&ra["mean"]), "{ra}");
    for e in [&ra["mean"], &ra["iqm"], &rb["mean"], &rb["iqm"]] {
        let (lo, p, hi) = (
            e["lo"].as_f64().unwrap(),
            e["point"].as_f64().unwrap(),
            e["hi"].as_f64().unwrap(),
        );
        assert!(lo <= p && p <= hi, "{e}");
    }
    // 0..39: mean 19.5; IQM = mean of 10..29 = 19.5; the bootstrap CI of the mean is close to
    // the normal interval mean ± 1.96 σ/√n (σ² = (n² − 1)/12, population variance)
    assert_eq!(rb["n"], 40);
    assert!((rb["mean"]["point"].as_f64().unwrap() - 19.5).abs() < 1e-12);
    assert!((rb["iqm"]["point"].as_f64().unwrap() - 19.5).abs() < 1e-12);
    let half = 1.96 * ((1600.0f64 - 1.0) / 12.0).sqrt() / 40f64.sqrt();
    let (lo, hi) = (
        rb["mean"]["lo"].as_f64().unwrap(),
        rb["mean"]["hi"].as_f64().unwrap(),
    );
    assert!(
        (lo - (19.5 - half)).abs() < 0.15 * half,
        "{lo} vs {}",
        19.5 - half
    );
    assert!(
        (hi - (19.5 + half)).abs() < 0.15 * half,
        "{hi} vs {}",
        19.5 + half
    );
    // deterministic for a seed, different for another
    assert_eq!(v, report(&[&root.join("a"), &root.join("b")], &[]));
    // (compare whole rows: the bootstrap means of integer scores lie on a 1/40 lattice, so a
    // single interval end can coincide between seeds)
    let other = report(&[&root.join("b")], &["--bootstrap-seed", "7"]);
    assert_eq!(other[0]["mean"]["point"], rb["mean"]["point"]);
    assert_ne!(other[0], *rb);
    // a metric no run has is an error
    let o = bin()
        .arg("report")
        .arg(root.join("a"))
        .args(["--metric", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&root).ok();
}
