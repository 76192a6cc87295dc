//! Exact algorithm state for checkpoints: everything beyond the model and optimizer that shapes
//! the rest of a run (environments, the current step batch, carries, RNG, counters, buffers).
//!
//! Encoded as CBOR (binary floats, so every value round-trips bit for bit).

use burn::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::envs::StepBatch;
use crate::runtime::carry::Carry;

use super::common::{host, tensor};

/// Serialise a snapshot as CBOR.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("algorithm state serialises");
    out
}

/// Read a snapshot written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| format!("corrupt algorithm state: {e}"))
}

/// A [`Carry`] on the host: the same tree, every leaf as `(shape, row-major data)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CarryData {
    /// No state.
    Unit,
    /// Leaf tensors.
    Leaf(Vec<([usize; 2], Vec<f32>)>),
    /// Children.
    Tuple(Vec<CarryData>),
}

impl CarryData {
    /// Copy a carry to the host.
    pub fn of(carry: &Carry) -> Self {
        match carry {
            Carry::Unit => CarryData::Unit,
            Carry::Leaf(ts) => {
                CarryData::Leaf(ts.iter().map(|t| (t.dims(), host(t.clone()))).collect())
            }
            Carry::Tuple(cs) => CarryData::Tuple(cs.iter().map(CarryData::of).collect()),
        }
    }

    /// Rebuild the carry on `device`; its tree and shapes must equal those of `like`.
    pub fn to_carry(&self, like: &Carry, device: &Device) -> Result<Carry, String> {
        let mismatch = || "stored recurrent state does not fit this network".to_string();
        match (self, like) {
            (CarryData::Unit, Carry::Unit) => Ok(Carry::Unit),
            (CarryData::Leaf(ls), Carry::Leaf(ts)) if ls.len() == ts.len() => ls
                .iter()
                .zip(ts)
                .map(|((shape, data), t)| {
                    if *shape != t.dims() || data.len() != shape[0] * shape[1] {
                        return Err(mismatch());
                    }
                    Ok(tensor(data.clone(), *shape, device))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Carry::Leaf),
            (CarryData::Tuple(ds), Carry::Tuple(cs)) if ds.len() == cs.len() => ds
                .iter()
                .zip(cs)
                .map(|(d, c)| d.to_carry(c, device))
                .collect::<Result<Vec<_>, _>>()
                .map(Carry::Tuple),
            _ => Err(mismatch()),
        }
    }
}

/// Check that a restored step batch fits `n` environments with `obs_dim` features.
pub fn check_batch(batch: &StepBatch, n: usize, obs_dim: usize) -> Result<(), String> {
    let fits = batch.obs.len() == n * obs_dim
        && batch.final_obs.len() == n * obs_dim
        && [
            batch.reward.len(),
            batch.terminated.len(),
            batch.truncated.len(),
            batch.start.len(),
            batch.episode_return.len(),
            batch.episode_length.len(),
        ]
        .iter()
        .all(|&l| l == n);
    if fits {
        Ok(())
    } else {
        Err(format!(
            "stored step batch does not fit {n} environments of {obs_dim} features"
        ))
    }
}
