//! Sweeps: a grid of settings × seeds as one directory of runs, launched on this machine or as a
//! Slurm job array, tracked, resumed and summarised.
//!
//! Layout of a sweep directory `<out>/<agent>-sweep-<timestamp>/`:
//! - `sweep.yaml`: the grid, the seeds, the base program and its hash, each configuration's
//!   canonical program and hash, the launcher settings and the manifest's checksum;
//! - `manifest.jsonl`: one line per run (index, configuration, overrides, seed, run directory),
//!   written once and never rewritten;
//! - `runs/<index>/`: the run directories, with the markers of [`marks`];
//! - `logs/`: one log per run (local launcher) or per Slurm task;
//! - `submit.sbatch` and `slurm/jobs.jsonl` (Slurm launcher).

pub mod grid;
pub mod local;
pub mod manifest;
pub mod marks;
pub mod report;
pub mod run;
pub mod slurm;
pub mod status;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the sweep description file.
pub const SPEC_FILE: &str = "sweep.yaml";
/// Name of the manifest file.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// Version of the sweep layout.
pub const FORMAT: u32 = 1;

/// One grid axis: a `--set` key and the values it takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Dotted key, as for `--set`.
    pub key: String,
    /// Values as written on the command line.
    pub values: Vec<String>,
}

/// One configuration: a point of the grid, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Position in the cartesian product.
    pub index: usize,
    /// Its `key=value` overrides, in grid order.
    pub overrides: Vec<String>,
    /// Architecture hash (seed neutralised, so shared by its runs).
    pub hash: String,
    /// Canonical program of the configuration (what each of its runs trains, seed aside).
    pub program: String,
}

/// How the runs are launched by default (`sweep resubmit` reuses it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LauncherSpec {
    /// `local` or `slurm`.
    pub kind: String,
    /// Runs at a time (local processes, or the `%P` of the Slurm array); `None`: default.
    pub jobs: Option<usize>,
    /// Compute threads of each run (`RAYON_NUM_THREADS`, Slurm `--cpus-per-task`).
    pub threads_per_run: usize,
    /// `cpu` or `cuda`.
    pub backend: String,
}

/// The contents of `sweep.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Layout version.
    pub format: u32,
    /// Agent name.
    pub agent: String,
    /// The `.mx` file the sweep was made from (for reference; runs use `configs`).
    pub source: PathBuf,
    /// `--set` overrides applied to every run.
    pub set: Vec<String>,
    /// The grid.
    pub grid: Vec<Axis>,
    /// Seeds of every configuration.
    pub seeds: Vec<u64>,
    /// Canonical program of the agent with the `--set` overrides (before the grid).
    pub program: String,
    /// Its architecture hash.
    pub hash: String,
    /// The configurations (cartesian product of the grid), in index order.
    pub configs: Vec<Config>,
    /// Default launcher.
    pub launcher: LauncherSpec,
    /// When the sweep was created (UTC `YYYYmmdd-HHMMSS`).
    pub created: String,
    /// blake3 of `manifest.jsonl`, to detect edits.
    pub manifest_blake3: String,
}

/// Errors of sweep commands; each maps to an exit code of SPEC §2.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad input (flags, grid, seeds, indices): exit 1.
    #[error("{0}")]
    User(String),
    /// Checker diagnostics, already rendered: exit 1.
    #[error("{0}")]
    Diagnostics(String),
    /// The sweep directory is damaged or was edited by hand: exit 1.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// File system failure: exit 3.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// An external tool (`sbatch`, the run processes) failed or is missing: exit 3.
    #[error("{0}")]
    Tool(String),
}

impl SweepError {
    /// The process exit code (SPEC §2) of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            SweepError::User(_) | SweepError::Diagnostics(_) | SweepError::Corrupt { .. } => 1,
            SweepError::Io { .. } | SweepError::Tool(_) => 3,
        }
    }
}

/// An I/O error on `path`.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |e| SweepError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Write a file atomically (temporary file + rename).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), SweepError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// A loaded, validated sweep directory.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep directory (absolute).
    pub dir: PathBuf,
    /// `sweep.yaml`.
    pub spec: Spec,
    /// `manifest.jsonl`, one entry per run in index order.
    pub entries: Vec<manifest::Entry>,
}

impl Sweep {
    /// Create the sweep directory `<out>/<agent>-sweep-<timestamp>/` with `sweep.yaml` and
    /// `manifest.jsonl` (`spec.manifest_blake3` and `spec.created` are filled in here).
    pub fn create(out: &Path, mut spec: Spec) -> Result<Sweep, SweepError> {
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        let out = std::fs::canonicalize(out).map_err(io_err(out))?;
        let stamp = crate::train::rundir::timestamp();
        let mut dir = out.join(format!("{}-sweep-{stamp}", spec.agent));
        let mut k = 1;
        while dir.exists() {
            dir = out.join(format!("{}-sweep-{stamp}-{k}", spec.agent));
            k += 1;
        }
        let entries = manifest::build(&spec);
        let text = manifest::render(&entries);
        spec.created = stamp;
        spec.manifest_blake3 = blake3::hash(text.as_bytes()).to_hex().to_string();
        for sub in ["runs", "logs"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let yaml = crate::syntax::yaml::to_string(&spec).map_err(|e| SweepError::Io {
            path: dir.join(SPEC_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join(MANIFEST_FILE), &text)?;
        write_atomic(&dir.join(SPEC_FILE), &yaml)?;
        Ok(Sweep { dir, spec, entries })
    }

    /// Load and validate a sweep directory: `sweep.yaml` parses, and `manifest.jsonl` is exactly
    /// the manifest of that grid (an edited or damaged manifest is an error naming the line).
    pub fn load(dir: &Path) -> Result<Sweep, SweepError> {
        let spec_path = dir.join(SPEC_FILE);
        if !spec_path.is_file() {
            return Err(SweepError::User(format!(
                "{}: not a sweep directory (no {SPEC_FILE})",
                dir.display()
            )));
        }
        let corrupt = |path: &Path, reason: String| SweepError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(&spec_path).map_err(io_err(&spec_path))?;
        let spec: Spec = crate::syntax::yaml::from_str(&text)
            .map_err(|e| corrupt(&spec_path, format!("unreadable: {e}")))?;
        if spec.format != FORMAT {
            return Err(corrupt(
                &spec_path,
                format!(
                    "sweep format {} (this memoraxc reads format {FORMAT})",
                    spec.format
                ),
            ));
        }
        let mpath = dir.join(MANIFEST_FILE);
        let mtext = std::fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
        let entries = manifest::parse(&mtext).map_err(|r| corrupt(&mpath, r))?;
        manifest::verify(&entries, &spec).map_err(|r| corrupt(&mpath, r))?;
        if blake3::hash(mtext.as_bytes()).to_hex().as_str() != spec.manifest_blake3 {
            return Err(corrupt(
                &mpath,
                format!(
                    "its checksum differs from the one in {SPEC_FILE}: it was edited after the \
                     sweep was created; restore it, or start a new sweep"
                ),
            ));
        }
        let dir = std::fs::canonicalize(dir).map_err(io_err(dir))?;
        Ok(Sweep { dir, spec, entries })
    }

    /// Whether `dir` looks like a sweep directory.
    pub fn is_sweep_dir(dir: &Path) -> bool {
        dir.join(SPEC_FILE).is_file() && dir.join(MANIFEST_FILE).is_file()
    }

    /// The run directory of run `index`.
    pub fn run_dir(&self, index: usize) -> PathBuf {
        self.dir.join(&self.entries[index].run)
    }

    /// Human label of a configuration: its overrides, or `base` for a seeds-only sweep.
    pub fn label(&self, config: usize) -> String {
        label_of(&self.spec.configs[config].overrides)
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the sweep has no runs (never true for a valid sweep).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Label of a list of overrides: `a=1, b=2`, or `base` for none.
pub fn label_of(overrides: &[String]) -> String {
    if overrides.is_empty() {
        "base".into()
    } else {
        overrides.join(", ")
    }
}
