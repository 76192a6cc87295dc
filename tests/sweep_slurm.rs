//! The Slurm launcher against a real one-node Slurm cluster (munged, slurmctld, slurmd started by
//! `.ci/slurm/up.sh` as plain daemons under a scratch folder, stopped by `.ci/slurm/down.sh`):
//! a 4-task sweep submitted as a job array with `%2`, watched with `sweep status` until every run
//! is done, aggregated by `report`, and a lost run resubmitted with `sweep resubmit --failed`.
//!
//! When the cluster cannot be started here (not root and no Slurm, no apt, daemons failing) the
//! test prints `skipped: <reason>` and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster; stopped (exactly the daemons up.sh started) when dropped.
struct Cluster {
    scratch: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    /// Start it, or say why not.
    fn up() -> Result<Cluster, String> {
        // short path: the munge socket must fit in 108 bytes
        let scratch = PathBuf::from(format!("/tmp/mxslurm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("scratch folder: {e}"))?;
        let o = Command::new("bash")
            .arg(repo().join(".ci/slurm/up.sh"))
            .arg(&scratch)
            // a watchdog stops the daemons should this process die without dropping the cluster
            .env("MX_SLURM_OWNER", std::process::id().to_string())
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let cluster = Cluster {
            conf: scratch.join("slurm.conf"),
            scratch,
        };
        match o.status.code() {
            Some(0) => Ok(cluster),
            Some(77) => Err(out
                .lines()
                .find_map(|l| l.strip_prefix("skipped: "))
                .unwrap_or("up.sh could not start the cluster")
                .to_string()),
            _ => panic!(
                "up.sh failed ({}):\n{out}\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }

    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn memoraxc(&self) -> Command {
        self.cmd(env!("CARGO_BIN_EXE_memoraxc"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join(".ci/slurm/down.sh"))
            .arg(&self.scratch)
            .status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
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

/// States of every run (`sweep status --format json`).
fn states(c: &Cluster, dir: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&ok(&c
        .memoraxc()
        .args(["sweep", "status", "--format", "json"])
        .arg(dir)
        .output()
        .unwrap()))
    .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect()
}

/// Wait until every run is done; returns the most tasks seen running at once.
fn wait_done(c: &Cluster, dir: &Path, job: &str, limit: Duration) -> usize {
    let t0 = Instant::now();
    let mut most = 0;
    loop {
        let q = c
            .cmd("squeue")
            .args(["-h", "-r", "-t", "RUNNING", "-j", job, "-o", "%i"])
            .output()
            .unwrap();
        most = most.max(String::from_utf8_lossy(&q.stdout).lines().count());
        let st = states(c, dir);
        if st.iter().all(|s| s == "done") {
            return most;
        }
        assert!(
            !st.iter().any(|s| s == "failed"),
            "a run failed: {st:?}\nlogs: {:?}",
            std::fs::read_dir(dir.join("logs"))
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
                .collect::<Vec<_>>()
        );
        assert!(
            t0.elapsed() < limit,
            "runs not done after {limit:?}: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn job_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no job id in: {stdout}"))
        .to_string()
}

#[test]
fn slurm_job_array_sweep_on_a_real_cluster() {
    let t0 = Instant::now();
    let cluster = match Cluster::up() {
        Ok(c) => c,
        Err(reason) => {
            println!("skipped: {reason}");
            eprintln!("sweep_slurm skipped: {reason}");
            return;
        }
    };
    let up_s = t0.elapsed().as_secs_f64();
    let out = cluster.scratch.join("out");
    let stdout = ok(&cluster
        .memoraxc()
        .arg("sweep")
        .arg(repo().join("examples/ppo_cartpole.mx"))
        .args([
            "--set",
            "algorithm.num_envs=4",
            "--set",
            "algorithm.num_steps=64",
        ])
        .args(["--set", "train.steps=1024", "--set", "train.eval_every=512"])
        .args(["--set", "train.eval_episodes=4"])
        .args(["--grid", "optimizer.lr=1e-3,3e-4", "--seeds", "0..1"])
        .args(["--launcher", "slurm", "--jobs", "2", "--submit", "--out"])
        .arg(&out)
        .output()
        .unwrap());
    let job = job_id(&stdout);
    let dir = PathBuf::from(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("sweep directory: "))
            .unwrap(),
    );
    let script = std::fs::read_to_string(dir.join("submit.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3%2"), "{script}");
    let most = wait_done(&cluster, &dir, &job, Duration::from_secs(180));
    assert!(most <= 2, "{most} tasks ran at once under %2");
    let logs: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for i in 0..4 {
        assert!(
            logs.contains(&format!("slurm-{job}_{i}.log")),
            "one log per task: {logs:?}"
        );
    }
    let attempt_of = |i: usize| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(format!("runs/{i:04}/done.json"))).unwrap())
            .unwrap()
    };
    assert_eq!(attempt_of(3)["env_steps"], 1024);
    let run_s = t0.elapsed().as_secs_f64() - up_s;

    // the report aggregates the four runs into two configurations of two seeds
    let rep: serde_json::Value = serde_json::from_str(&ok(&cluster
        .memoraxc()
        .arg("report")
        .arg(&dir)
        .args(["--format", "json"])
        .output()
        .unwrap()))
    .unwrap();
    let rows = rep.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r["n"] == 2 && r["missing"] == 0),
        "{rep}"
    );
    let md = ok(&cluster.memoraxc().arg("report").arg(&dir).output().unwrap());
    println!("{md}");

    // a run lost after its task completed is failed, and exactly it is resubmitted
    std::fs::remove_dir_all(dir.join("runs/0002")).unwrap();
    let st = states(&cluster, &dir);
    assert_eq!(st, ["done", "done", "failed", "done"]);
    let again = ok(&cluster
        .memoraxc()
        .args(["sweep", "resubmit", "--failed"])
        .arg(&dir)
        .output()
        .unwrap());
    let job2 = job_id(&again);
    assert_ne!(job2, job);
    let subs = std::fs::read_to_string(dir.join("slurm/jobs.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(subs.lines().last().unwrap()).unwrap();
    assert_eq!(last["indices"], serde_json::json!([2]));
    wait_done(&cluster, &dir, &job2, Duration::from_secs(120));
    let nothing = ok(&cluster
        .memoraxc()
        .args(["sweep", "resubmit", "--failed"])
        .arg(&dir)
        .output()
        .unwrap());
    assert!(nothing.contains("nothing to resubmit"), "{nothing}");
    println!(
        "slurm test: cluster up in {up_s:.1} s, 4-task sweep done in {run_s:.1} s, total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
