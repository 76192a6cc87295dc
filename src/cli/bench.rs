//! `memoraxc bench`: the SPEC §9 throughput workloads, each run as a separate `memoraxc train`
//! process (so wall time includes start-up and peak RSS is per run), repeated and summarised by
//! medians.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::check::{self, ir};

/// Embedded workload programs (also in `benches/workloads/`).
pub const WORKLOADS: &[(&str, &str)] = &[
    (
        "dqn_mlp",
        include_str!("../../benches/workloads/dqn_mlp_cartpole.mx"),
    ),
    (
        "ppo_gru",
        include_str!("../../benches/workloads/ppo_gru_cartpole.mx"),
    ),
    (
        "ppo_gtrxl",
        include_str!("../../benches/workloads/ppo_gtrxl_cartpole.mx"),
    ),
];

/// Arguments of `memoraxc bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (default: all): dqn_mlp, ppo_gru, ppo_gtrxl.
    pub workloads: Vec<String>,
    /// Override the number of env steps of every workload.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Runs per workload (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Directory for run directories.
    #[arg(long, default_value = "runs/bench")]
    pub out: PathBuf,
    /// Machine fp32 peak in GFLOP/s used for the fraction-of-peak column.
    #[arg(long, default_value_t = 160.0)]
    pub peak_gflops: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::train::Format,
    /// Run the JAX original (memorax 1.0.1) on the same workloads, alternating with memoraxc, and
    /// print both with ratios (sets up a venv with memorax on first use).
    #[arg(long)]
    pub vs_memorax: bool,
    /// Directory of the memorax anchor scripts (`bench_ppo.py`, `bench_dqn_cartpole.py`).
    #[arg(long, default_value = "../shared/anchors/memorax")]
    pub memorax_dir: PathBuf,
    /// Python venv holding memorax (created when missing; default `<out>/venv-memorax`).
    #[arg(long)]
    pub venv: Option<PathBuf>,
}

/// Estimated model FLOPs per environment step, from the checker's analytic parameter counts.
///
/// A dense weight costs 2 FLOP per use; one training use costs ~3 forward passes (forward plus
/// backward). On-policy algorithms use every step once while acting and `epochs` times while
/// training; DQN acts once per step and trains `batch_size / train_frequency` samples per step
/// (plus a target-network forward). Attention adds `QKᵀ` and `AV` over its window.
pub fn flops_per_step(agent: &ir::Agent) -> f64 {
    let mut params = 0.0;
    let mut attention = 0.0;
    for net in &agent.networks {
        params += (net.encoder.params + net.torso.params) as f64;
        params += net.heads.iter().map(|(_, h)| h.params as f64).sum::<f64>();
        attention += attention_flops(&net.torso);
    }
    let fwd = 2.0 * params + attention;
    let h = |k: &str, d: f64| {
        agent
            .hparams
            .get(k)
            .and_then(ir::Value::as_f64)
            .unwrap_or(d)
    };
    match agent.algorithm.as_str() {
        "dqn" => fwd + h("batch_size", 64.0) / h("train_frequency", 10.0) * 4.0 * fwd,
        _ => fwd * (1.0 + 3.0 * h("epochs", 4.0)),
    }
}

fn attention_flops(b: &ir::Block) -> f64 {
    let own = match b.kind.as_str() {
        "attention" => {
            let ctx = b.args.get("ctx").and_then(ir::Value::as_f64).unwrap_or(0.0);
            4.0 * b.input as f64 * ctx
        }
        "segment_recurrence" => {
            let m = b
                .args
                .get("memory")
                .and_then(ir::Value::as_f64)
                .unwrap_or(0.0);
            4.0 * b.input as f64 * m
        }
        _ => 0.0,
    };
    own + b.children.iter().map(attention_flops).sum::<f64>()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Run the subcommand; returns the exit code.
pub fn run(args: BenchArgs) -> u8 {
    let chosen: Vec<&(&str, &str)> = if args.workloads.is_empty() {
        WORKLOADS.iter().collect()
    } else {
        let mut v = Vec::new();
        for w in &args.workloads {
            match WORKLOADS.iter().find(|(n, _)| n == w) {
                Some(x) => v.push(x),
                None => {
                    let names: Vec<_> = WORKLOADS.iter().map(|(n, _)| *n).collect();
                    eprintln!(
                        "error: unknown workload `{w}` (available: {})",
                        names.join(", ")
                    );
                    return super::EXIT_USER;
                }
            }
        }
        v
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: {}: {e}", args.out.display());
        return super::EXIT_RUNTIME;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the memoraxc executable: {e}");
            return super::EXIT_RUNTIME;
        }
    };
    if args.vs_memorax {
        return vs(&args, &chosen);
    }
    let mut rows = Vec::new();
    let overrides = step_overrides(&args);
    for (name, src) in chosen {
        let (file, agent) = match write_and_check(&args, name, src, &overrides) {
            Ok(x) => x,
            Err(code) => return code,
        };
        let agent = &agent;
        let flops = flops_per_step(agent);
        let (mut sps, mut wall, mut rss, mut ret, mut first) =
            (vec![], vec![], vec![], vec![], vec![]);
        for rep in 0..args.repeat {
            let t0 = Instant::now();
            let mut cmd = Command::new(&exe);
            cmd.arg("train")
                .arg(&file)
                .args(["--format", "json", "-q", "--out"])
                .arg(&args.out);
            for o in &overrides {
                cmd.args(["--set", o]);
            }
            let out = match cmd.output() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: running {name}: {e}");
                    return super::EXIT_RUNTIME;
                }
            };
            let secs = t0.elapsed().as_secs_f64();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let Some(v) = stdout
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            else {
                eprintln!(
                    "error: {name} run {rep} failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return super::EXIT_RUNTIME;
            };
            sps.push(v["sps"].as_f64().unwrap_or(f64::NAN));
            wall.push(secs);
            rss.push(v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN));
            ret.push(v["final_eval"]["return_mean"].as_f64().unwrap_or(f64::NAN));
            first.push(v["first_step_s"].as_f64().unwrap_or(f64::NAN));
            if args.format == super::train::Format::Text {
                eprintln!(
                    "{name} run {}: {:.0} sps, {:.1} s wall",
                    rep + 1,
                    sps[rep],
                    secs
                );
            }
        }
        let s = median(sps.clone());
        rows.push(serde_json::json!({
            "workload": name,
            "env_steps": agent.train.steps,
            "runs": args.repeat,
            "sps_median": s,
            "sps_runs": sps,
            "wall_s_median": median(wall.clone()),
            "wall_s_runs": wall,
            "peak_rss_mb_median": median(rss),
            "first_step_s_median": median(first),
            "final_return_median": median(ret.clone()),
            "final_return_runs": ret,
            "mflop_per_env_step": flops / 1e6,
            "gflop_per_s": s * flops / 1e9,
            "fraction_of_peak": s * flops / 1e9 / args.peak_gflops,
        }));
    }
    match args.format {
        super::train::Format::Json => println!("{}", serde_json::Value::Array(rows)),
        super::train::Format::Text => {
            println!(
                "{:<10} {:>9} {:>9} {:>8} {:>9} {:>9} {:>10} {:>8} {:>7}",
                "workload",
                "steps",
                "SPS",
                "wall s",
                "RSS MB",
                "1st step",
                "return",
                "MFLOP/st",
                "GFLOP/s"
            );
            for r in &rows {
                println!(
                    "{:<10} {:>9} {:>9.0} {:>8.1} {:>9.1} {:>9.2} {:>10.1} {:>8.2} {:>7.1}",
                    r["workload"].as_str().unwrap_or(""),
                    r["env_steps"],
                    r["sps_median"].as_f64().unwrap_or(f64::NAN),
                    r["wall_s_median"].as_f64().unwrap_or(f64::NAN),
                    r["peak_rss_mb_median"].as_f64().unwrap_or(f64::NAN),
                    r["first_step_s_median"].as_f64().unwrap_or(f64::NAN),
                    r["final_return_median"].as_f64().unwrap_or(f64::NAN),
                    r["mflop_per_env_step"].as_f64().unwrap_or(f64::NAN),
                    r["gflop_per_s"].as_f64().unwrap_or(f64::NAN),
                );
            }
        }
    }
    super::EXIT_OK
}

/// `train.steps` / `train.eval_every` overrides from `--steps`.
fn step_overrides(args: &BenchArgs) -> Vec<String> {
    args.steps
        .map(|s| vec![format!("train.steps={s}"), format!("train.eval_every={s}")])
        .unwrap_or_default()
}

/// Write workload `name` under the output directory and check it with `overrides`; returns the
/// file and its agent, or the exit code after printing why not.
fn write_and_check(
    args: &BenchArgs,
    name: &str,
    src: &str,
    overrides: &[String],
) -> Result<(PathBuf, ir::Agent), u8> {
    let file = args.out.join(format!("{name}.mx"));
    if let Err(e) = std::fs::write(&file, src) {
        eprintln!("error: {}: {e}", file.display());
        return Err(super::EXIT_RUNTIME);
    }
    let checked = check::check_path(&file, overrides);
    match checked.program.agents.into_iter().next() {
        Some(agent) => Ok((file, agent)),
        None => {
            eprint!("{}", checked.diagnostics.render(false));
            Err(super::EXIT_USER)
        }
    }
}

/// Write the chosen workloads and hand them to the side-by-side comparison.
fn vs(args: &BenchArgs, chosen: &[&(&str, &str)]) -> u8 {
    let script = args.memorax_dir.join("bench_ppo.py");
    if !script.exists() {
        eprintln!(
            "error: memorax anchor scripts not found in {} (pass --memorax-dir)",
            args.memorax_dir.display()
        );
        return super::EXIT_USER;
    }
    let memorax_dir = match args.memorax_dir.canonicalize() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: {e}", args.memorax_dir.display());
            return super::EXIT_USER;
        }
    };
    let venv = args
        .venv
        .clone()
        .unwrap_or_else(|| args.out.join("venv-memorax"));
    let python = match super::vs_memorax::ensure_venv(&venv) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: setting up memorax: {e}");
            return super::EXIT_RUNTIME;
        }
    };
    let overrides = step_overrides(args);
    let mut workloads = Vec::new();
    for (name, src) in chosen {
        match write_and_check(args, name, src, &overrides) {
            Ok((file, agent)) => workloads.push((name.to_string(), file, agent.train.steps)),
            Err(code) => return code,
        }
    }
    super::vs_memorax::run(super::vs_memorax::VsArgs {
        workloads,
        overrides,
        repeat: args.repeat,
        memorax_dir: &memorax_dir,
        python: &python,
        out: &args.out,
        json: args.format == super::train::Format::Json,
    })
}

/// Peak resident set size of this process in MB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
