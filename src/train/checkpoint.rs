//! Checkpoints: model, optimizer, counters and RNG state, written atomically (temp dir + rename).
//!
//! Layout: `checkpoints/step-<N>/{model.bpk, optimizer.bin, state.bin, meta.json[, target.bpk]}`
//! (`state.bin`: the algorithm's exact trajectory state, see `algorithms::snapshot`) and a
//! `checkpoints/latest` file naming the newest complete checkpoint. A crash mid-write leaves at
//! most a `.tmp-*` directory behind; `latest` only ever names complete checkpoints.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;

use crate::algorithms::AlgoState;
use crate::runtime::net::AgentModel;

/// Errors reading or writing checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The checkpoint is unreadable or does not belong to this program.
    #[error("checkpoint {path} is not usable: {reason}")]
    Invalid {
        /// Checkpoint directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Version of the checkpoint layout; `load` rejects every other.
pub const FORMAT: u64 = 2;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a checkpoint for `env_steps` under `dir/checkpoints`; returns its directory.
pub fn save(
    dir: &Path,
    env_steps: u64,
    hash: &str,
    model: &AgentModel,
    state: AlgoState,
) -> Result<PathBuf, CheckpointError> {
    let root = dir.join("checkpoints");
    fs::create_dir_all(&root).map_err(io(&root))?;
    let name = format!("step-{env_steps:012}");
    let tmp = root.join(format!(".tmp-{name}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let invalid = |reason: String| CheckpointError::Invalid {
        path: tmp.clone(),
        reason,
    };
    model
        .clone()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| invalid(format!("{e:?}")))?;
    if let Some(target) = state.target {
        target
            .save_file(tmp.join("target.bpk"))
            .map_err(|e| invalid(format!("{e:?}")))?;
    }
    fs::write(tmp.join("optimizer.bin"), &state.optimizer).map_err(io(&tmp))?;
    fs::write(tmp.join("state.bin"), &state.exact).map_err(io(&tmp))?;
    let meta = serde_json::json!({ "format": FORMAT, "hash": hash, "env_steps": env_steps, "algorithm": state.meta });
    fs::write(
        tmp.join("meta.json"),
        serde_json::to_vec_pretty(&meta).expect("json"),
    )
    .map_err(io(&tmp))?;
    let fin = root.join(&name);
    let _ = fs::remove_dir_all(&fin);
    fs::rename(&tmp, &fin).map_err(io(&fin))?;
    let latest_tmp = root.join(".latest.tmp");
    fs::write(&latest_tmp, &name).map_err(io(&latest_tmp))?;
    fs::rename(&latest_tmp, root.join("latest")).map_err(io(&root))?;
    Ok(fin)
}

/// The newest complete checkpoint of a run directory.
pub fn latest(dir: &Path) -> Result<PathBuf, CheckpointError> {
    let root = dir.join("checkpoints");
    let p = root.join("latest");
    let name = fs::read_to_string(&p).map_err(io(&p))?;
    Ok(root.join(name.trim()))
}

/// Load a checkpoint into freshly lowered models; checks the architecture hash.
pub fn load(
    ckpt: &Path,
    hash: &str,
    fresh: AgentModel,
    fresh_target: Option<AgentModel>,
) -> Result<(AgentModel, AlgoState), CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid {
        path: ckpt.to_path_buf(),
        reason,
    };
    let meta_path = ckpt.join("meta.json");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(&meta_path).map_err(io(&meta_path))?)
            .map_err(|e| invalid(format!("meta.json: {e}")))?;
    match meta["format"].as_u64() {
        Some(FORMAT) => {}
        Some(f) => {
            return Err(invalid(format!(
                "it has checkpoint format {f}, this memoraxc reads format {FORMAT} only \
                 (it was written by another version; start a new run)"
            )));
        }
        None => return Err(invalid("meta.json lacks a checkpoint format".into())),
    }
    let stored = meta["hash"].as_str().unwrap_or("");
    if stored != hash {
        return Err(invalid(format!(
            "it was written for architecture {stored}, this program is {hash}"
        )));
    }
    let model = fresh
        .try_load_file(ckpt.join("model.bpk"))
        .map_err(|e| invalid(format!("model.bpk: {e:?}")))?;
    let target = match fresh_target {
        Some(t) if ckpt.join("target.bpk").exists() => Some(
            t.try_load_file(ckpt.join("target.bpk"))
                .map_err(|e| invalid(format!("target.bpk: {e:?}")))?,
        ),
        _ => None,
    };
    let opt_path = ckpt.join("optimizer.bin");
    let optimizer = fs::read(&opt_path).map_err(io(&opt_path))?;
    let state_path = ckpt.join("state.bin");
    let exact = fs::read(&state_path).map_err(io(&state_path))?;
    Ok((
        model,
        AlgoState {
            optimizer,
            meta: meta["algorithm"].clone(),
            target,
            exact,
        },
    ))
}
