//! The intrinsic modules' networks, built from IR blocks (the agent's own encoder, declared
//! in the `.mx` program, followed by `mlp`/`linear` blocks) and lowered like any network.

use burn::module::Module;
use burn::prelude::*;

use crate::check::ir::Block;
use crate::lower::{self, ir_builder as b};
use crate::runtime::layer::{Ctx, Layer};

/// A stateless feed-forward body: one lowered block and the shared sets it references.
#[derive(Module, Debug)]
pub struct Body {
    /// The lowered block.
    pub layer: Layer,
    /// `shared(...)` sets referenced by the block.
    pub shared: Vec<Layer>,
}

impl Body {
    /// Lower `block` with fresh parameters.
    pub fn new(block: &Block, device: &Device) -> Result<Self, String> {
        let block = b::with_paths(block.clone(), "intrinsic");
        let (layer, shared) = lower::lower_block(&block, device).map_err(|e| e.to_string())?;
        Ok(Body { layer, shared })
    }

    /// Apply to rows `x: [M, F]`, each as the first step of its own episode (a recurrent
    /// encoder starts from its initial carry for every transition).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [m, f] = x.dims();
        let dev = x.device();
        let ctx = Ctx::new(&self.shared);
        let start = Tensor::<2>::ones([1, m], &dev);
        let carry = self.layer.init_carry(m, &dev, &ctx);
        let (y, _) = self
            .layer
            .forward(x.reshape([1, m, f]), &start, carry, &ctx);
        let o = y.dims()[2];
        y.reshape([m, o])
    }
}

/// The agent's encoder with every `shared(...)` mark removed (fresh, independent parameters).
pub fn unshared(block: &Block) -> Block {
    let mut b = block.clone();
    b.shared = None;
    b.children = b.children.iter().map(unshared).collect();
    b
}

/// `encoder -> linear(features)` (RND target, ICM feature map).
pub fn embedding(encoder: &Block, features: usize) -> Block {
    let enc = unshared(encoder);
    let w = enc.output;
    b::seq(vec![enc, b::linear(w, features)])
}

/// `encoder -> mlp(features) -> linear(features)` (RND predictor: one layer deeper).
pub fn predictor(encoder: &Block, features: usize) -> Block {
    let enc = unshared(encoder);
    let w = enc.output;
    b::seq(vec![
        enc,
        b::mlp(w, &[features], "relu"),
        b::linear(features, features),
    ])
}

/// `mlp(hidden) -> linear(out)` over `input` features (ICM forward and inverse models).
pub fn head(input: usize, hidden: usize, out: usize) -> Block {
    b::seq(vec![
        b::mlp(input, &[hidden], "relu"),
        b::linear(hidden, out),
    ])
}
