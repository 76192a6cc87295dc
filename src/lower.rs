//! Lowering: checked IR → burn module tree ([`AgentModel`]).
//!
//! Each IR block becomes one [`Layer`]; `shared(...)` blocks are built once and referenced by id.
//! Parameter counts of the result equal the checker's analytic counts (tested).

pub mod ir_builder;

use std::collections::BTreeMap;

use burn::module::Module;
use burn::nn::{DropoutConfig, LinearConfig};
use burn::prelude::*;

use crate::check::ir::{self, Block};
use crate::runtime::attention::{Attention, SegmentRecurrence};
use crate::runtime::basic::{Act, Ffn, Mlp, Norm};
use crate::runtime::ffm::Ffm;
use crate::runtime::heads::HeadLayer;
use crate::runtime::image::{Cnn, Vit, VitShape};
use crate::runtime::layer::{
    EmbedPrev, GatedResidual, Identity, Layer, NormWrap, Seq, SharedRef, Wrap,
};
use crate::runtime::linear_attention::LinearAttention;
use crate::runtime::lru::Lru;
use crate::runtime::mamba::Mamba;
use crate::runtime::net::{AgentModel, Net};
use crate::runtime::recurrent::{Gru, Lstm, MinGru};
use crate::runtime::rtu::Rtu;
use crate::runtime::s5::S5;
use crate::runtime::shm::Shm;
use crate::runtime::xlstm::{Mlstm, Slstm};

/// A block the back end cannot lower (yet): named with its path so the user sees where.
#[derive(Debug, thiserror::Error)]
#[error("cannot lower `{kind}` at `{path}`: {reason}")]
pub struct LowerError {
    /// Block path.
    pub path: String,
    /// Block kind.
    pub kind: String,
    /// Why.
    pub reason: String,
}

/// The lowered agent: the model and where each network and head lives in it.
pub struct Lowered {
    /// The module tree.
    pub model: AgentModel,
    /// Network name → index in `model.nets`.
    pub nets: BTreeMap<String, usize>,
    /// Head role (`actor`, `critic`, `q`) → (network index, head index).
    pub heads: BTreeMap<String, (usize, usize)>,
}

impl Lowered {
    /// Network and head index for a role.
    pub fn head(&self, role: &str) -> Option<(usize, usize)> {
        self.heads.get(role).copied()
    }
}

/// Checks a one-agent program given as source text and lowers it onto `device` (for tests).
#[cfg(test)]
pub(crate) fn lower_source(src: &str, device: &Device) -> Lowered {
    lower_agent(&crate::check::agent_source(src), device).expect("the agent lowers")
}

struct Builder<'d> {
    device: &'d Device,
    shared: BTreeMap<u32, usize>,
    shared_layers: Vec<Layer>,
}

/// Lower every network of a checked agent onto `device`.
pub fn lower_agent(agent: &ir::Agent, device: &Device) -> Result<Lowered, LowerError> {
    let mut b = Builder {
        device,
        shared: BTreeMap::new(),
        shared_layers: Vec::new(),
    };
    let mut nets = Vec::new();
    let mut names = BTreeMap::new();
    let mut heads = BTreeMap::new();
    for (ni, net) in agent.networks.iter().enumerate() {
        let encoder = b.block(&net.encoder)?;
        let torso = b.block(&net.torso)?;
        let mut hs = Vec::new();
        for (hi, (role, head)) in net.heads.iter().enumerate() {
            let squash = head
                .args
                .get("squash")
                .and_then(ir::Value::as_bool)
                .unwrap_or(false);
            let layer = HeadLayer::new(&head.kind, head.input, head.outputs, squash, device)
                .ok_or_else(|| LowerError {
                    path: head.path.clone(),
                    kind: head.kind.clone(),
                    reason: "unknown head".into(),
                })?;
            hs.push(layer);
            heads.insert(role.clone(), (ni, hi));
        }
        names.insert(net.name.clone(), ni);
        nets.push(Net {
            encoder,
            torso,
            heads: hs,
        });
    }
    let mut prev = (0, 0);
    for net in &agent.networks {
        for blk in [&net.encoder, &net.torso] {
            crate::check::inst::walk(blk, &mut |x| match x.kind.as_str() {
                "embed_action" => prev.0 = x.output - x.input,
                "embed_reward" => prev.1 = 1,
                _ => {}
            });
        }
    }
    Ok(Lowered {
        model: AgentModel {
            nets,
            shared: b.shared_layers,
            obs_dim: agent.env.obs_dim,
            prev_action: prev.0,
            prev_reward: prev.1,
        },
        nets: names,
        heads,
    })
}

/// Lower a single block (for tests and `summary` agreement checks).
pub fn lower_block(block: &Block, device: &Device) -> Result<(Layer, Vec<Layer>), LowerError> {
    let mut b = Builder {
        device,
        shared: BTreeMap::new(),
        shared_layers: Vec::new(),
    };
    let layer = b.block(block)?;
    Ok((layer, b.shared_layers))
}

impl Builder<'_> {
    fn block(&mut self, blk: &Block) -> Result<Layer, LowerError> {
        if let Some(id) = blk.shared {
            if let Some(&idx) = self.shared.get(&id) {
                return Ok(Layer::Shared(SharedRef { id: idx }));
            }
            let mut unshared = blk.clone();
            unshared.shared = None;
            let layer = self.block(&unshared)?;
            let idx = self.shared_layers.len();
            self.shared_layers.push(layer);
            self.shared.insert(id, idx);
            return Ok(Layer::Shared(SharedRef { id: idx }));
        }
        let d = self.device;
        let a = &blk.args;
        let (fi, fo) = (blk.input, blk.output);
        let err = |reason: &str| LowerError {
            path: blk.path.clone(),
            kind: blk.kind.clone(),
            reason: reason.into(),
        };
        let child = |s: &mut Self, i: usize| -> Result<Layer, LowerError> {
            let c = blk
                .children
                .get(i)
                .ok_or_else(|| err("missing child block"))?;
            s.block(c)
        };
        Ok(match blk.kind.as_str() {
            "identity" => Layer::Identity(Identity { width: fi }),
            "embed_action" => Layer::EmbedAction(EmbedPrev { width: fo - fi }),
            "embed_reward" => Layer::EmbedReward(EmbedPrev { width: fo - fi }),
            "linear" => Layer::Linear(LinearConfig::new(fi, fo).with_bias(a.bool("bias")).init(d)),
            "mlp" => {
                let widths: Vec<usize> = match a.get("widths") {
                    Some(ir::Value::List(ws)) => ws
                        .iter()
                        .filter_map(|w| w.as_int())
                        .map(|w| w as usize)
                        .collect(),
                    _ => return Err(err("mlp without widths")),
                };
                Layer::Mlp(Mlp::new(fi, &widths, a.str("act"), d))
            }
            "relu" | "gelu" | "silu" | "tanh" | "sigmoid" => Layer::Act(Act::new(&blk.kind)),
            "layernorm" | "rmsnorm" => Layer::Norm(Norm::new(&blk.kind, fi, d)),
            "dropout" => Layer::Dropout(DropoutConfig::new(a.float("p")).init()),
            "ffn" => Layer::Ffn(Ffn::new(fi, a.int("expansion") as usize, a.str("act"), d)),
            "seq" => {
                let layers = (0..blk.children.len())
                    .map(|i| child(self, i))
                    .collect::<Result<_, _>>()?;
                Layer::Seq(Seq { layers })
            }
            "residual" => Layer::Residual(Wrap {
                inner: vec![child(self, 0)?],
            }),
            "gated_residual" => Layer::GatedResidual(GatedResidual {
                gate: LinearConfig::new(fi, fi).init(d),
                inner: vec![child(self, 0)?],
            }),
            "prenorm" => Layer::PreNorm(NormWrap {
                norm: Norm::new(a.str("norm"), fi, d),
                inner: vec![child(self, 0)?],
            }),
            "postnorm" => Layer::PostNorm(NormWrap {
                norm: Norm::new(a.str("norm"), fo, d),
                inner: vec![child(self, 0)?],
            }),
            "gru" => Layer::Gru(Gru::new(fi, fo, d)),
            "lstm" => Layer::Lstm(Lstm::new(fi, fo, d)),
            "mingru" => Layer::MinGru(MinGru::new(fi, fo, d)),
            "attention" => Layer::Attention(self.attention(blk)?),
            "segment_recurrence" => {
                let inner = blk
                    .children
                    .first()
                    .ok_or_else(|| err("missing attention block"))?;
                if inner.kind != "attention" {
                    return Err(err("segment_recurrence wraps an attention block"));
                }
                Layer::SegmentRecurrence(SegmentRecurrence {
                    inner: self.attention(inner)?,
                    memory: a.int("memory") as usize,
                })
            }
            "linear_attention" => Layer::LinearAttention(LinearAttention::new(
                fi,
                a.int("heads") as usize,
                a.int("head_dim") as usize,
                d,
            )),
            "lru" => Layer::Lru(Lru::new(fi, a.int("state") as usize, d)),
            "s5" => Layer::S5(S5::new(
                fi,
                a.int("state") as usize,
                a.get("discretization")
                    .and_then(ir::Value::as_str)
                    .unwrap_or("zoh"),
                d,
            )),
            "ffm" => Layer::Ffm(Ffm::new(
                fi,
                a.int("memory") as usize,
                a.int("context") as usize,
                d,
            )),
            "mamba" => Layer::Mamba(Mamba::new(
                fi,
                a.int("heads") as usize,
                a.int("head_dim") as usize,
                a.int("state") as usize,
                a.int("conv") as usize,
                d,
            )),
            "slstm" => Layer::Slstm(Slstm::new(
                fi,
                a.int("h") as usize,
                a.int("heads") as usize,
                a.int("conv") as usize,
                d,
            )),
            "mlstm" => Layer::Mlstm(Mlstm::new(
                fi,
                a.int("h") as usize,
                a.int("heads") as usize,
                a.int("conv") as usize,
                d,
            )),
            "shm" => Layer::Shm(Shm::new(
                fi,
                a.int("h") as usize,
                a.int("thetas") as usize,
                d,
            )),
            "moe" => {
                let template = blk
                    .children
                    .first()
                    .ok_or_else(|| err("missing expert block"))?;
                let experts = (0..a.int("experts"))
                    .map(|_| self.block(template))
                    .collect::<Result<Vec<_>, _>>()?;
                Layer::Moe(crate::runtime::moe::Moe {
                    router: LinearConfig::new(fi, experts.len()).init(d),
                    experts,
                    top_k: a.int("top_k") as usize,
                    balance: a.float("balance"),
                })
            }
            "rl2" => Layer::Rl2(crate::runtime::rl2::Rl2 {
                inner: vec![child(self, 0)?],
                steps_per_trial: a.int("steps_per_trial") as usize,
            }),
            "rtu" => Layer::Rtu(Rtu::new(fi, a.int("h") as usize, d)),
            "rtrl" => Layer::Rtrl(crate::runtime::rtrl::Rtrl {
                inner: vec![child(self, 0)?],
            }),
            "cnn" | "vit" => image_encoder(blk, d),
            other => {
                return Err(err(&format!(
                    "block `{other}` has no lowering in this build"
                )));
            }
        })
    }

    fn attention(&self, blk: &Block) -> Result<Attention, LowerError> {
        let a = &blk.args;
        Ok(Attention::new(
            blk.input,
            a.int("heads") as usize,
            a.int("ctx") as usize,
            a.str("pos"),
            self.device,
        ))
    }
}

/// Side and input channels of an image encoder (`side` filled by the checker, else `√F`).
fn image_dims(blk: &Block) -> (usize, usize) {
    let f = blk.input;
    let side = match blk.args.get("side").and_then(ir::Value::as_int) {
        Some(s) => s.max(1) as usize,
        None => (f as f64).sqrt().round().max(1.0) as usize,
    };
    (side, f / (side * side))
}

/// Lower `cnn` or `vit`.
fn image_encoder(blk: &Block, d: &Device) -> Layer {
    let a = &blk.args;
    let (side, c0) = image_dims(blk);
    if blk.kind == "cnn" {
        let channels: Vec<usize> = match a.get("channels") {
            Some(ir::Value::List(cs)) => cs
                .iter()
                .filter_map(|c| c.as_int())
                .map(|c| c as usize)
                .collect(),
            Some(v) => v.as_int().map(|c| vec![c as usize]).unwrap_or_default(),
            None => vec![],
        };
        return Layer::Cnn(Cnn::new(
            side,
            c0,
            &channels,
            a.int("kernel") as usize,
            a.str("act"),
            d,
        ));
    }
    Layer::Vit(Vit::new(
        VitShape {
            side,
            channels: c0,
            patch: a.int("patch") as usize,
            depth: a.int("depth") as usize,
            heads: a.int("heads") as usize,
            width: a.int("width") as usize,
            expansion: a.int("expansion") as usize,
        },
        d,
    ))
}

/// Parameter count of a lowered layer including shared sets it references (each counted once).
pub fn num_params(layer: &Layer) -> u64 {
    layer.num_params() as u64
}
