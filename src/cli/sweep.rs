//! `memoraxc sweep`: a grid × seeds as a sweep directory, run locally or as a Slurm job array;
//! `sweep status DIR`, `sweep resubmit DIR [--failed]`; and `train --sweep DIR --index I`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Subcommand;

use super::train::Format;
use crate::sweep::run::{EntryError, EntryOptions, Outcome};
use crate::sweep::status::State;
use crate::sweep::{self, LauncherSpec, Spec, Sweep, SweepError, grid, local, slurm};
use crate::train::{self, Backend};

/// Where the runs of a sweep go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Launcher {
    /// Subprocesses on this machine.
    Local,
    /// A Slurm job array.
    Slurm,
}

/// Arguments of `memoraxc sweep`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    /// `status` or `resubmit` of an existing sweep.
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// A new sweep.
    #[command(flatten)]
    pub new: NewSweepArgs,
}

/// Subcommands on an existing sweep directory.
#[derive(Subcommand, Debug)]
pub enum SweepAction {
    /// Show each run as done / running / failed / pending.
    Status(StatusArgs),
    /// Launch the unfinished runs again (or exactly the failed ones with --failed).
    Resubmit(ResubmitArgs),
}

/// Arguments of a new sweep.
#[derive(clap::Args, Debug)]
pub struct NewSweepArgs {
    /// The `.mx` file holding the agent.
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Agent to sweep (required when the file has several).
    #[arg(long)]
    pub agent: Option<String>,
    /// A grid axis: a `--set` key and its values (`optimizer.lr=1e-3,3e-4`). Repeatable.
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    pub grid: Vec<String>,
    /// Seeds of every configuration: `0..9` (inclusive), `1,5,7` or `3` (default: the agent's).
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<String>,
    /// A setting for every run, checked like source text. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Parent directory of the sweep directory.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Where the runs go.
    #[arg(long, value_enum, default_value = "local")]
    pub launcher: Launcher,
    /// Runs at a time, progress display.
    #[command(flatten)]
    pub launch: LaunchArgs,
    /// Compute threads of each local run (default 1).
    #[arg(long, value_name = "T")]
    pub threads_per_run: Option<usize>,
    /// Device backend of the runs.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Backend,
    /// Slurm: partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: time limit per run (e.g. `02:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm: CPUs per task (also the compute threads of each run; default 1).
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<usize>,
    /// Slurm: GPUs per task (use with `--backend cuda`).
    #[arg(long, value_name = "N")]
    pub gpus: Option<String>,
    /// Slurm: a raw `#SBATCH` option (e.g. `--sbatch-arg=--mem=8G`). Repeatable.
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Slurm: submit the job array with `sbatch` and print its id.
    #[arg(long)]
    pub submit: bool,
    /// Only create the sweep directory (and job script); launch later with `sweep resubmit DIR`.
    #[arg(long, conflicts_with = "submit")]
    pub no_launch: bool,
    /// Diagnostics and summary format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Flags shared by launching commands.
#[derive(clap::Args, Debug)]
pub struct LaunchArgs {
    /// Runs at a time (local default: cores / threads per run; Slurm: the array's `%N`).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `memoraxc sweep status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Arguments of `memoraxc sweep resubmit`.
#[derive(clap::Args, Debug)]
pub struct ResubmitArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Only the failed (or interrupted) runs; default: every run neither done nor running.
    #[arg(long)]
    pub failed: bool,
    /// Launcher (default: the sweep's).
    #[arg(long, value_enum)]
    pub launcher: Option<Launcher>,
    /// Runs at a time, progress display.
    #[command(flatten)]
    pub launch: LaunchArgs,
}

/// Run the subcommand; returns the exit code.
pub fn run(args: SweepArgs) -> u8 {
    let result = match args.action {
        Some(SweepAction::Status(a)) => status(&a),
        Some(SweepAction::Resubmit(a)) => resubmit(&a),
        None => new_sweep(&args.new),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn fail(e: &SweepError) -> u8 {
    match e {
        SweepError::Diagnostics(text) => eprint!("{text}"),
        e => eprintln!("error: {e}"),
    }
    e.exit_code()
}

fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

fn current_exe() -> Result<PathBuf, SweepError> {
    std::env::current_exe()
        .map_err(|e| SweepError::Tool(format!("cannot find the memoraxc executable: {e}")))
}

fn backend_name(b: Backend) -> String {
    match b {
        Backend::Cpu => "cpu".into(),
        Backend::Cuda => "cuda".into(),
    }
}

fn new_sweep(a: &NewSweepArgs) -> Result<u8, SweepError> {
    let json = a.format == Format::Json;
    let file = a.file.clone().expect("required by clap");
    if !file.exists() {
        return Err(SweepError::User(format!(
            "{}: no such file",
            file.display()
        )));
    }
    let axes = grid::parse_axes(&a.grid, &a.set)?;
    let seeds = a.seeds.as_deref().map(grid::parse_seeds).transpose()?;
    if a.launcher == Launcher::Local
        && (a.submit || a.partition.is_some() || a.time.is_some() || a.gpus.is_some())
    {
        return Err(SweepError::User(
            "--submit, --partition, --time and --gpus need --launcher slurm".into(),
        ));
    }
    slurm::check_sbatch_args(&a.sbatch_args)?;
    let base = super::train::load_agent(&file, a.agent.as_deref(), &a.set, json)
        .map_err(|_| SweepError::Diagnostics(String::new()))?;
    let configs = grid::check_configs(&file, &base.name, &a.set, &axes, json)?;
    let seeds = seeds.unwrap_or_else(|| vec![base.train.seed]);
    let threads = match a.launcher {
        Launcher::Local => a.threads_per_run.unwrap_or(1),
        Launcher::Slurm => a.cpus_per_task.or(a.threads_per_run).unwrap_or(1),
    };
    let spec = Spec {
        format: sweep::FORMAT,
        agent: base.name.clone(),
        source: std::fs::canonicalize(&file).unwrap_or(file.clone()),
        set: a.set.clone(),
        grid: axes,
        seeds,
        program: base.canonical.clone(),
        hash: base.hash.clone(),
        configs,
        launcher: LauncherSpec {
            kind: format!("{:?}", a.launcher).to_lowercase(),
            jobs: a.launch.jobs,
            threads_per_run: threads,
            backend: backend_name(a.backend),
        },
        created: String::new(),
        manifest_blake3: String::new(),
    };
    let sw = Sweep::create(&a.out, spec)?;
    if !json {
        println!("sweep directory: {}", sw.dir.display());
        println!(
            "{} runs: {} configuration(s) x {} seed(s)",
            sw.len(),
            sw.spec.configs.len(),
            sw.spec.seeds.len()
        );
    }
    let code = match a.launcher {
        Launcher::Local if a.no_launch => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "sweep": sw.dir, "runs": sw.len() })
                );
            } else {
                println!("launch with: memoraxc sweep resubmit {}", sw.dir.display());
            }
            super::EXIT_OK
        }
        Launcher::Local => launch_local(&sw, &all(&sw), a.launch.jobs, a.launch.quiet, json)?,
        Launcher::Slurm => {
            let opts = slurm::SlurmOptions {
                partition: a.partition.clone(),
                time: a.time.clone(),
                cpus_per_task: threads,
                gpus: a.gpus.clone(),
                sbatch_args: a.sbatch_args.clone(),
                jobs: a.launch.jobs,
                backend: backend_name(a.backend),
                exe: current_exe()?,
            };
            if a.gpus.is_some() && a.backend != Backend::Cuda {
                eprintln!("warning: --gpus without --backend cuda: the runs train on the CPU");
            }
            let script = slurm::write_script(&sw, &opts)?;
            if !json {
                println!("job script: {}", script.display());
            }
            if a.submit {
                submit(&sw, &all(&sw), a.launch.jobs, json)?
            } else {
                if !json {
                    println!(
                        "submit with: memoraxc sweep resubmit {} (or sbatch {})",
                        sw.dir.display(),
                        script.display()
                    );
                } else {
                    println!(
                        "{}",
                        serde_json::json!({ "sweep": sw.dir, "runs": sw.len(), "script": script })
                    );
                }
                super::EXIT_OK
            }
        }
    };
    Ok(code)
}

fn all(sw: &Sweep) -> Vec<usize> {
    (0..sw.len()).collect()
}

fn submit(
    sw: &Sweep,
    indices: &[usize],
    jobs: Option<usize>,
    json: bool,
) -> Result<u8, SweepError> {
    let job = slurm::submit(sw, indices, jobs)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "sweep": sw.dir, "job": job, "indices": indices })
        );
    } else {
        println!(
            "submitted job {job}: {} task(s){}",
            indices.len(),
            jobs.map(|p| format!(", at most {p} at a time"))
                .unwrap_or_default()
        );
        println!("watch with: memoraxc sweep status {}", sw.dir.display());
    }
    Ok(super::EXIT_OK)
}

fn launch_local(
    sw: &Sweep,
    indices: &[usize],
    jobs: Option<usize>,
    quiet: bool,
    json: bool,
) -> Result<u8, SweepError> {
    let threads = sw.spec.launcher.threads_per_run;
    let jobs = jobs
        .or(sw.spec.launcher.jobs)
        .unwrap_or_else(|| local::default_jobs(threads));
    let opts = local::LocalOptions {
        jobs,
        threads_per_run: threads,
        backend: sw.spec.launcher.backend.clone(),
        quiet: quiet || json,
        exe: current_exe()?,
        interrupt: Some(interrupt_flag()),
    };
    let o = local::launch(sw, indices, &opts)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "sweep": sw.dir, "finished": o.finished, "skipped": o.skipped,
                "failed": o.failed.iter().map(|f| f.0).collect::<Vec<_>>(),
                "interrupted": o.interrupted, "wall_s": o.wall_s,
            })
        );
    } else {
        println!(
            "{} finished, {} skipped (done before), {} failed, {} interrupted in {:.1} s",
            o.finished.len(),
            o.skipped.len(),
            o.failed.len(),
            o.interrupted.len(),
            o.wall_s
        );
        if !o.failed.is_empty() || !o.interrupted.is_empty() {
            println!(
                "continue with: memoraxc sweep resubmit {}",
                sw.dir.display()
            );
        } else {
            println!("summarise with: memoraxc report {}", sw.dir.display());
        }
    }
    Ok(if o.failed.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_RUNTIME
    })
}

fn status(a: &StatusArgs) -> Result<u8, SweepError> {
    let sw = Sweep::load(&a.dir)?;
    let st = sweep::status::status(&sw, true);
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&st).expect("json"));
        return Ok(super::EXIT_OK);
    }
    let total = |s: State| st.iter().filter(|r| r.state == s).count();
    println!(
        "{}: {} runs: {} done, {} running, {} failed, {} pending",
        sw.dir.display(),
        st.len(),
        total(State::Done),
        total(State::Running),
        total(State::Failed),
        total(State::Pending)
    );
    let steps = |r: &sweep::status::RunStatus| {
        r.env_steps
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{:>5}  {:<8}  {:>6}  {:>10}  {:<30}  detail",
        "index", "state", "seed", "env steps", "configuration"
    );
    for r in &st {
        println!(
            "{:>5}  {:<8}  {:>6}  {:>10}  {:<30}  {}",
            r.index,
            r.state.name(),
            r.seed,
            steps(r),
            sw.label(r.config),
            r.detail
        );
    }
    Ok(super::EXIT_OK)
}

fn resubmit(a: &ResubmitArgs) -> Result<u8, SweepError> {
    let sw = Sweep::load(&a.dir)?;
    let st = sweep::status::status(&sw, true);
    let pick: Vec<usize> = st
        .iter()
        .filter(|r| match r.state {
            State::Failed => true,
            State::Pending => !a.failed && !r.detail.starts_with("job "),
            State::Done | State::Running => false,
        })
        .map(|r| r.index)
        .collect();
    if pick.is_empty() {
        println!(
            "nothing to resubmit: {}",
            if a.failed {
                "no failed runs"
            } else {
                "every run is done, running or queued"
            }
        );
        return Ok(super::EXIT_OK);
    }
    let launcher = a.launcher.unwrap_or(if sw.spec.launcher.kind == "slurm" {
        Launcher::Slurm
    } else {
        Launcher::Local
    });
    println!(
        "resubmitting {} run(s): {}",
        pick.len(),
        slurm::array_spec(&pick, None)
    );
    match launcher {
        Launcher::Local => launch_local(&sw, &pick, a.launch.jobs, a.launch.quiet, false),
        Launcher::Slurm => submit(&sw, &pick, a.launch.jobs.or(sw.spec.launcher.jobs), false),
    }
}

/// `memoraxc train --sweep DIR --index I`: train one run of a sweep; returns the exit code.
pub fn train_entry(dir: &Path, index: usize, args: &super::train::TrainArgs) -> u8 {
    let json = args.format == Format::Json;
    let opts = EntryOptions {
        backend: args.backend,
        quiet: args.quiet,
        checkpoint_every: args.checkpoint_every,
        interrupt: Some(interrupt_flag()),
        json,
    };
    match sweep::run::run_entry(dir, index, &opts) {
        Ok(Outcome::AlreadyDone(run)) => {
            println!("run {index} is done already: {}", run.display());
            super::EXIT_OK
        }
        Ok(Outcome::Finished { summary, resumed }) => {
            let e = summary.final_eval.as_ref();
            println!(
                "run {index} done{}: {} ({} env steps, final return {:.3})",
                if resumed { " (resumed)" } else { "" },
                summary.dir.display(),
                summary.env_steps,
                e.map_or(f64::NAN, |e| e.return_mean)
            );
            super::EXIT_OK
        }
        Ok(Outcome::Interrupted(s)) => {
            println!(
                "run {index} interrupted at {} env steps; it resumes when launched again",
                s.env_steps
            );
            super::EXIT_OK
        }
        Err(EntryError::Sweep(e)) => fail(&e),
        Err(EntryError::Train(e)) => {
            eprintln!("error: run {index}: {e}");
            match e {
                train::TrainError::Checkpoint(_) | train::TrainError::Backend(_) => {
                    super::EXIT_USER
                }
                _ => super::EXIT_RUNTIME,
            }
        }
    }
}
