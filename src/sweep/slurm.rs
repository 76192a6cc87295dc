//! The Slurm launcher: a job-array script (`submit.sbatch`, one task per run, `%P` at a time,
//! one log per task), submission with `sbatch`, and the scheduler's view of the tasks from
//! `squeue`, `scontrol` and, where accounting runs, `sacct`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Sweep, SweepError, io_err};

/// Name of the job script in the sweep directory.
pub const SCRIPT: &str = "submit.sbatch";
/// Submissions, one JSON object per line, in `slurm/`.
pub const JOBS: &str = "slurm/jobs.jsonl";

/// Resources and settings of the job array.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (e.g. `02:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task` (also the compute threads of each run).
    pub cpus_per_task: usize,
    /// `--gpus` (per task).
    pub gpus: Option<String>,
    /// Raw `#SBATCH` arguments (e.g. `--mem=8G`).
    pub sbatch_args: Vec<String>,
    /// Tasks running at a time (`%P`); `None`: no limit.
    pub jobs: Option<usize>,
    /// `cpu` or `cuda`.
    pub backend: String,
    /// The memoraxc executable the tasks run.
    pub exe: PathBuf,
}

/// One `sbatch` submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The array job id.
    pub job: String,
    /// Run indices (array task ids) it covers.
    pub indices: Vec<usize>,
    /// When (UTC `YYYYmmdd-HHMMSS`).
    pub at: String,
}

/// Quote for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Slurm array ranges of sorted indices with the throttle: `0-3,6,8-9%2`.
pub fn array_spec(indices: &[usize], jobs: Option<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    let mut s = parts.join(",");
    if let Some(p) = jobs {
        s.push_str(&format!("%{p}"));
    }
    s
}

/// Check the raw `--sbatch-arg` values (each one `#SBATCH` option).
pub fn check_sbatch_args(args: &[String]) -> Result<(), SweepError> {
    for a in args {
        if !a.starts_with('-') || a.contains('\n') {
            return Err(SweepError::User(format!(
                "--sbatch-arg {a:?}: expected one sbatch option such as `--mem=8G` or \
                 `--account=proj` (write it as --sbatch-arg=--mem=8G)"
            )));
        }
    }
    Ok(())
}

/// The job script of the whole sweep.
pub fn script(sweep: &Sweep, o: &SlurmOptions) -> String {
    let dir = sweep.dir.display().to_string();
    let all: Vec<usize> = (0..sweep.len()).collect();
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "# memoraxc sweep of `{}`: {} runs ({} configurations x {} seeds).\n\
         # Written by memoraxc; submit with `memoraxc sweep resubmit {dir}` or `sbatch {SCRIPT}`.\n",
        sweep.spec.agent,
        sweep.len(),
        sweep.spec.configs.len(),
        sweep.spec.seeds.len()
    );
    s += &format!("#SBATCH --job-name=mx-{}\n", sweep.spec.agent);
    s += &format!("#SBATCH --array={}\n", array_spec(&all, o.jobs));
    s += &format!("#SBATCH --output={dir}/logs/slurm-%A_%a.log\n");
    s += &format!("#SBATCH --cpus-per-task={}\n", o.cpus_per_task.max(1));
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    if let Some(t) = &o.time {
        s += &format!("#SBATCH --time={t}\n");
    }
    if let Some(g) = &o.gpus {
        s += &format!("#SBATCH --gpus={g}\n");
    }
    for a in &o.sbatch_args {
        s += &format!("#SBATCH {a}\n");
    }
    s += "\nexport RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
    s += &format!(
        "exec {} train --sweep {} --index \"$SLURM_ARRAY_TASK_ID\" --quiet --backend {}\n",
        sh_quote(&o.exe.display().to_string()),
        sh_quote(&dir),
        o.backend
    );
    s
}

/// Write `submit.sbatch` into the sweep directory; returns its path.
pub fn write_script(sweep: &Sweep, o: &SlurmOptions) -> Result<PathBuf, SweepError> {
    let path = sweep.dir.join(SCRIPT);
    super::write_atomic(&path, &script(sweep, o))?;
    Ok(path)
}

/// Submit the script for `indices` (all runs when they are all of them) with `%jobs`; records
/// the submission and returns the job id.
pub fn submit(sweep: &Sweep, indices: &[usize], jobs: Option<usize>) -> Result<String, SweepError> {
    let script = sweep.dir.join(SCRIPT);
    if !script.is_file() {
        return Err(SweepError::User(format!(
            "{}: no job script; this sweep was not made with --launcher slurm",
            script.display()
        )));
    }
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(format!("--array={}", array_spec(indices, jobs)))
        .arg(&script)
        .output()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "sbatch not found on PATH (is Slurm installed here?)".to_string()
            } else {
                format!("cannot run sbatch: {e}")
            };
            SweepError::Tool(format!(
                "{why}; the job script is written: {}\n  submit it on a Slurm login node with \
                 `sbatch {}`, or run `memoraxc sweep resubmit {}` there",
                script.display(),
                script.display(),
                sweep.dir.display()
            ))
        })?;
    if !out.status.success() {
        return Err(SweepError::Tool(format!(
            "sbatch failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SweepError::Tool(format!(
            "sbatch printed no job id: {stdout:?}"
        )));
    }
    let sub = Submission {
        job: job.clone(),
        indices: indices.to_vec(),
        at: crate::train::rundir::timestamp(),
    };
    let path = sweep.dir.join(JOBS);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    writeln!(f, "{}", serde_json::to_string(&sub).expect("json")).map_err(io_err(&path))?;
    Ok(job)
}

/// Submissions recorded for the sweep, oldest first.
pub fn submissions(sweep: &Sweep) -> Vec<Submission> {
    std::fs::read_to_string(sweep.dir.join(JOBS))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn run_tool(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Slurm's state of each `(job, task)` of the given array jobs; `None` when Slurm cannot be
/// asked here (no `squeue`, or it fails).
pub fn query(jobs: &[String]) -> Option<HashMap<(String, usize), String>> {
    let mut states = HashMap::new();
    let parse_id = |id: &str| -> Option<(String, usize)> {
        let (j, t) = id.split_once('_')?;
        Some((j.to_string(), t.parse().ok()?))
    };
    // sacct (only with accounting), then scontrol (recently finished), then squeue (live) win
    let list = jobs.join(",");
    if let Some(text) = run_tool(
        "sacct",
        &["-n", "-P", "-X", "-j", &list, "-o", "JobID,State"],
    ) {
        for line in text.lines() {
            if let Some((id, st)) = line.split_once('|')
                && let Some(k) = parse_id(id)
            {
                let st = st.split_whitespace().next().unwrap_or("").to_string();
                states.insert(k, st);
            }
        }
    }
    for job in jobs {
        let Some(text) = run_tool("scontrol", &["-o", "show", "job", job]) else {
            continue;
        };
        for line in text.lines() {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_string)
            };
            if let (Some(j), Some(t), Some(st)) = (
                field("ArrayJobId="),
                field("ArrayTaskId="),
                field("JobState="),
            ) && let Ok(t) = t.parse()
            {
                states.insert((j, t), st);
            }
        }
    }
    let text = run_tool("squeue", &["-h", "-r", "--me", "-o", "%i %T"])?;
    for line in text.lines() {
        if let Some((id, st)) = line.split_once(' ')
            && let Some(k) = parse_id(id)
            && jobs.contains(&k.0)
        {
            states.insert(k, st.trim().to_string());
        }
    }
    Some(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_ranges() {
        assert_eq!(array_spec(&[0, 1, 2, 3], Some(2)), "0-3%2");
        assert_eq!(array_spec(&[1, 3, 4, 5, 9], None), "1,3-5,9");
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
    }
}
