//! `memoraxc bench --vs-memorax`: the SPEC §9 workloads side by side with the JAX original
//! (memorax 1.0.1, measured by the scripts in `../shared/anchors/memorax/`), alternating the two
//! programs run by run so that both see the same machine load, and reporting medians and ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// memorax's package versions the anchor scripts were written for.
const PIP_PACKAGES: [&str; 2] = ["memorax==1.0.1", "gymnax==0.0.9"];

/// One finished process: wall seconds, peak RSS (MB), and its standard output.
struct Finished {
    wall_s: f64,
    peak_rss_mb: f64,
    stdout: String,
    stderr: String,
    ok: bool,
}

/// Run `cmd` to completion, measuring wall time from spawn to exit and the child's own peak RSS
/// (from `wait4`, so concurrent or earlier children do not count).
fn measure(mut cmd: Command, out_dir: &Path, tag: &str) -> std::io::Result<Finished> {
    let (out_path, err_path) = (
        out_dir.join(format!("{tag}.stdout")),
        out_dir.join(format!("{tag}.stderr")),
    );
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path)?))
        .stderr(Stdio::from(std::fs::File::create(&err_path)?));
    let t0 = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value; `wait4` fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unwaited child; both out-pointers are valid for writes.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_s = t0.elapsed().as_secs_f64();
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::mem::forget(child); // already reaped by wait4
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok(Finished {
        wall_s,
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        ok,
    })
}

/// The memorax script and arguments for a workload (same hyperparameters as ours).
fn memorax_command(workload: &str, steps: u64) -> Option<(&'static str, Vec<String>)> {
    match workload {
        "dqn_mlp" => Some((
            "bench_dqn_cartpole.py",
            vec![
                format!("--steps={steps}"),
                format!("--chunk={}", (steps / 10).clamp(1_000, 50_000)),
            ],
        )),
        "ppo_gru" | "ppo_gtrxl" => Some((
            "bench_ppo.py",
            vec![
                format!("--torso={}", &workload[4..]),
                format!("--steps={steps}"),
                // memorax's default chunk (10 rollouts), one rollout for tiny smoke runs
                format!("--chunk={}", if steps >= 20_480 { 10_240 } else { 1_024 }),
            ],
        )),
        _ => None,
    }
}

/// Make sure `venv` has memorax 1.0.1; create and install it when missing.
pub fn ensure_venv(venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin").join("python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import memorax, gymnax"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has(&python) {
        return Ok(python);
    }
    eprintln!(
        "setting up the memorax reference in {} (pip install {}; about 1.2 GB)",
        venv.display(),
        PIP_PACKAGES.join(" ")
    );
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let s = cmd.status().map_err(|e| format!("{what}: {e}"))?;
        s.success()
            .then_some(())
            .ok_or_else(|| format!("{what} failed ({s})"))
    };
    if !python.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(venv),
            "python3 -m venv",
        )?;
    }
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PIP_PACKAGES),
        "pip install",
    )?;
    if has(&python) {
        Ok(python)
    } else {
        Err("memorax still cannot be imported after installation".into())
    }
}

/// One side's measurements of one run.
#[derive(Clone, Copy, Default)]
struct Sample {
    sps: f64,
    wall_s: f64,
    rss_mb: f64,
    ret: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

fn medians(s: &[Sample]) -> Sample {
    Sample {
        sps: median(s.iter().map(|x| x.sps).collect()),
        wall_s: median(s.iter().map(|x| x.wall_s).collect()),
        rss_mb: median(s.iter().map(|x| x.rss_mb).collect()),
        ret: median(s.iter().map(|x| x.ret).collect()),
    }
}

/// Everything the comparison needs.
pub struct VsArgs<'a> {
    /// (name, `.mx` file already written, env steps) per workload.
    pub workloads: Vec<(String, PathBuf, u64)>,
    /// Step overrides passed to every memoraxc run.
    pub overrides: Vec<String>,
    /// Alternating run pairs per workload.
    pub repeat: usize,
    /// Directory of the memorax anchor scripts.
    pub memorax_dir: &'a Path,
    /// Python of the memorax venv.
    pub python: &'a Path,
    /// Output directory.
    pub out: &'a Path,
    /// JSON instead of a table.
    pub json: bool,
}

fn run_ours(exe: &Path, file: &Path, a: &VsArgs, tag: &str) -> Result<Sample, String> {
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .arg(file)
        .args(["--format", "json", "-q", "--out"])
        .arg(a.out);
    for o in &a.overrides {
        cmd.args(["--set", o]);
    }
    let f = measure(cmd, a.out, tag).map_err(|e| format!("running memoraxc: {e}"))?;
    let v = f
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|_| f.ok)
        .ok_or_else(|| format!("memoraxc run {tag} failed:\n{}", f.stderr))?;
    Ok(Sample {
        sps: v["sps"].as_f64().unwrap_or(f64::NAN),
        wall_s: f.wall_s,
        rss_mb: f.peak_rss_mb,
        ret: v["final_eval"]["return_mean"].as_f64().unwrap_or(f64::NAN),
    })
}

fn run_memorax(workload: &str, steps: u64, a: &VsArgs, tag: &str) -> Result<Sample, String> {
    let (script, args) =
        memorax_command(workload, steps).ok_or(format!("no memorax script for {workload}"))?;
    let results = a.out.join("memorax-results");
    let mut cmd = Command::new(a.python);
    cmd.arg(a.memorax_dir.join(script))
        .args(&args)
        .env("JAX_PLATFORMS", "cpu")
        .env("RESULTS_DIR", &results)
        .env("RUN_TAG", tag);
    let f = measure(cmd, a.out, &format!("memorax-{tag}"))
        .map_err(|e| format!("running memorax: {e}"))?;
    if !f.ok {
        return Err(format!("memorax run {tag} failed:\n{}", f.stderr));
    }
    let file = std::fs::read_dir(&results)
        .map_err(|e| format!("{}: {e}", results.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(&format!("_{tag}.json"))
        })
        .ok_or_else(|| format!("memorax run {tag} wrote no result file"))?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(Sample {
        sps: v["sps_steady"].as_f64().unwrap_or(f64::NAN),
        wall_s: f.wall_s,
        rss_mb: f.peak_rss_mb,
        ret: v["eval_mean_return"].as_f64().unwrap_or(f64::NAN),
    })
}

/// Run the comparison; returns the exit code.
pub fn run(a: VsArgs) -> u8 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the memoraxc executable: {e}");
            return super::EXIT_RUNTIME;
        }
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rows = Vec::new();
    for (name, file, steps) in &a.workloads {
        let (mut theirs, mut ours) = (Vec::new(), Vec::new());
        for rep in 0..a.repeat {
            let tag = format!("{name}-{stamp}-{rep}");
            // alternate which program goes first, so neither always runs on a warmer machine
            let order: [bool; 2] = if rep % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for memorax in order {
                let r = if memorax {
                    run_memorax(name, *steps, &a, &tag)
                } else {
                    run_ours(&exe, file, &a, &tag)
                };
                match r {
                    Ok(s) => {
                        eprintln!(
                            "{name} run {}: {:<8} {:>7.0} SPS {:>7.1} s wall {:>7.1} MB return {:.1}",
                            rep + 1,
                            if memorax { "memorax" } else { "memoraxc" },
                            s.sps,
                            s.wall_s,
                            s.rss_mb,
                            s.ret
                        );
                        if memorax {
                            theirs.push(s)
                        } else {
                            ours.push(s)
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return super::EXIT_RUNTIME;
                    }
                }
            }
        }
        let (m, o) = (medians(&theirs), medians(&ours));
        // run k of each side ran back to back: their ratio cancels most of the machine's drift
        let pairs: Vec<f64> = theirs
            .iter()
            .zip(&ours)
            .map(|(m, o)| o.sps / m.sps)
            .collect();
        rows.push(serde_json::json!({
            "workload": name,
            "env_steps": steps,
            "runs": a.repeat,
            "memorax": {"sps": m.sps, "wall_s": m.wall_s, "peak_rss_mb": m.rss_mb, "final_return": m.ret},
            "memoraxc": {"sps": o.sps, "wall_s": o.wall_s, "peak_rss_mb": o.rss_mb, "final_return": o.ret},
            "sps_ratio": o.sps / m.sps,
            "sps_pair_ratios": pairs,
            "sps_pair_ratio_median": median(pairs.clone()),
            "wall_ratio": o.wall_s / m.wall_s,
            "rss_ratio": o.rss_mb / m.rss_mb,
        }));
    }
    let report = serde_json::Value::Array(rows);
    let path = a.out.join("vs_memorax.json");
    if let Err(e) = std::fs::write(&path, format!("{report:#}\n")) {
        eprintln!("warning: {}: {e}", path.display());
    }
    if a.json {
        println!("{report}");
    } else {
        print!("{}", table(&report));
    }
    super::EXIT_OK
}

/// The comparison as a Markdown table (medians; ratios are memoraxc / memorax), then each
/// workload's SPS ratios run by run (each pair of runs back to back) and their median.
pub fn table(report: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let mut s = String::from(
        "| workload | steps | SPS memorax | SPS memoraxc | SPS ratio | wall s memorax | wall s memoraxc | wall ratio | RSS MB memorax | RSS MB memoraxc | return memorax | return memoraxc |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in report.as_array().into_iter().flatten() {
        let (m, o) = (&r["memorax"], &r["memoraxc"]);
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2}× | {:.1} | {:.1} | {:.2}× | {:.0} | {:.0} | {:.1} | {:.1} |\n",
            r["workload"].as_str().unwrap_or(""),
            r["env_steps"],
            f(&m["sps"]),
            f(&o["sps"]),
            f(&r["sps_ratio"]),
            f(&m["wall_s"]),
            f(&o["wall_s"]),
            f(&r["wall_ratio"]),
            f(&m["peak_rss_mb"]),
            f(&o["peak_rss_mb"]),
            f(&m["final_return"]),
            f(&o["final_return"]),
        ));
    }
    let runs: Vec<String> = report
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let pairs: Vec<String> = r["sps_pair_ratios"]
                .as_array()?
                .iter()
                .map(|x| format!("{:.2}×", f(x)))
                .collect();
            Some(format!(
                "{}: SPS ratio run by run {} (median {:.2}×)\n",
                r["workload"].as_str().unwrap_or(""),
                pairs.join(", "),
                f(&r["sps_pair_ratio_median"]),
            ))
        })
        .collect();
    if !runs.is_empty() {
        s.push('\n');
        s.extend(runs);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memorax_commands_use_the_same_budgets() {
        let (script, args) = memorax_command("ppo_gru", 204_800).expect("known");
        assert_eq!(script, "bench_ppo.py");
        assert_eq!(args, ["--torso=gru", "--steps=204800", "--chunk=10240"]);
        let (script, args) = memorax_command("dqn_mlp", 500_000).expect("known");
        assert_eq!(script, "bench_dqn_cartpole.py");
        assert_eq!(args, ["--steps=500000", "--chunk=50000"]);
        assert!(memorax_command("nope", 1).is_none());
    }

    #[test]
    fn measure_reports_the_childs_own_peak_memory() {
        let dir = std::env::temp_dir().join(format!("mx-vs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // a child that touches 256 MB
        let mut cmd = Command::new("python3");
        cmd.args(["-c", "b = bytearray(256 * 1024 * 1024); print(len(b))"]);
        let f = measure(cmd, &dir, "t").expect("runs");
        assert!(f.ok);
        assert_eq!(f.stdout.trim(), "268435456");
        assert!(f.peak_rss_mb > 250.0, "peak {}", f.peak_rss_mb);
        // A child shares this process's memory until it execs (std spawns with a vfork-style
        // clone), so its peak can include this test binary's resident set (tens of MB while
        // other tests run): the bound for a trivial child is loose.
        let g = measure(Command::new("false"), &dir, "u").expect("runs");
        assert!(!g.ok);
        assert!(g.peak_rss_mb < 200.0, "peak {}", g.peak_rss_mb);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn medians_and_table() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![f64::NAN]).is_nan());
        let r = serde_json::json!([{
            "workload": "ppo_gru", "env_steps": 10, "runs": 1,
            "memorax": {"sps": 100.0, "wall_s": 10.0, "peak_rss_mb": 900.0, "final_return": 500.0},
            "memoraxc": {"sps": 300.0, "wall_s": 2.5, "peak_rss_mb": 30.0, "final_return": 500.0},
            "sps_ratio": 3.0, "wall_ratio": 0.25, "rss_ratio": 0.033,
            "sps_pair_ratios": [2.5, 3.25, 3.0], "sps_pair_ratio_median": 3.0,
        }]);
        let t = table(&r);
        assert!(
            t.contains("| ppo_gru | 10 | 100 | 300 | 3.00× | 10.0 | 2.5 | 0.25× |"),
            "{t}"
        );
        assert!(
            t.ends_with("\nppo_gru: SPS ratio run by run 2.50×, 3.25×, 3.00× (median 3.00×)\n"),
            "{t}"
        );
    }
}
