//! Runtime carries: recurrent state as a tree mirroring the block tree.
//!
//! Every leaf tensor is `[B, n]` (one row per environment), so selecting environments,
//! resetting rows and storing a carry is the same operation for every block.

use burn::prelude::*;

/// The recurrent state of a block (and its children).
#[derive(Clone, Debug, Default)]
pub enum Carry {
    /// No state.
    #[default]
    Unit,
    /// State tensors of one block, each `[B, n]`.
    Leaf(Vec<Tensor<2>>),
    /// State of a combinator, one entry per child.
    Tuple(Vec<Carry>),
}

impl Carry {
    /// Stop gradients through every tensor.
    pub fn detach(self) -> Carry {
        self.map(&mut |t| t.detach())
    }

    /// Apply `f` to every leaf tensor.
    pub fn map(self, f: &mut impl FnMut(Tensor<2>) -> Tensor<2>) -> Carry {
        match self {
            Carry::Unit => Carry::Unit,
            Carry::Leaf(ts) => Carry::Leaf(ts.into_iter().map(&mut *f).collect()),
            Carry::Tuple(cs) => Carry::Tuple(cs.into_iter().map(|c| c.map(f)).collect()),
        }
    }

    /// Keep only the rows (environments) in `idx`.
    pub fn select_rows(self, idx: &Tensor<1, Int>) -> Carry {
        self.map(&mut |t| t.select(0, idx.clone()))
    }

    /// Move every tensor to `device` (as a constant when the device tracks gradients).
    pub fn to_device(self, device: &Device) -> Carry {
        self.map(&mut |t| t.to_device(device))
    }

    /// Tuple child `i` (or `Unit` when this carry is not a tuple).
    pub fn child(&self, i: usize) -> Carry {
        match self {
            Carry::Tuple(cs) => cs.get(i).cloned().unwrap_or(Carry::Unit),
            _ => Carry::Unit,
        }
    }

    /// Tuple child `i`, moved out (left `Unit`), so that its tensors are not shared with this
    /// carry (or `Unit` when this carry is not a tuple).
    pub fn take_child(&mut self, i: usize) -> Carry {
        match self {
            Carry::Tuple(cs) => cs.get_mut(i).map(std::mem::take).unwrap_or(Carry::Unit),
            _ => Carry::Unit,
        }
    }

    /// The leaf tensors, moved out (empty for non-leaves).
    pub fn into_leaves(self) -> Vec<Tensor<2>> {
        match self {
            Carry::Leaf(ts) => ts,
            _ => Vec::new(),
        }
    }

    /// The leaf tensors (empty for non-leaves).
    pub fn leaves(&self) -> &[Tensor<2>] {
        match self {
            Carry::Leaf(ts) => ts,
            _ => &[],
        }
    }

    /// Shapes of every leaf, depth first (for agreement tests and checkpoints).
    pub fn shapes(&self) -> Vec<[usize; 2]> {
        let mut out = Vec::new();
        self.collect_shapes(&mut out);
        out
    }

    fn collect_shapes(&self, out: &mut Vec<[usize; 2]>) {
        match self {
            Carry::Unit => {}
            Carry::Leaf(ts) => out.extend(ts.iter().map(|t| t.dims())),
            Carry::Tuple(cs) => cs.iter().for_each(|c| c.collect_shapes(out)),
        }
    }

    /// Number of f32 values per environment.
    pub fn floats_per_env(&self) -> usize {
        self.shapes().iter().map(|s| s[1]).sum()
    }

    /// Concatenate carries of several environment groups along the batch axis.
    pub fn cat_rows(parts: Vec<Carry>) -> Carry {
        let first = match parts.first() {
            Some(c) => c.clone(),
            None => return Carry::Unit,
        };
        match first {
            Carry::Unit => Carry::Unit,
            Carry::Leaf(ts) => Carry::Leaf(
                (0..ts.len())
                    .map(|i| {
                        let rows: Vec<Tensor<2>> =
                            parts.iter().map(|p| p.leaves()[i].clone()).collect();
                        Tensor::cat(rows, 0)
                    })
                    .collect(),
            ),
            Carry::Tuple(cs) => Carry::Tuple(
                (0..cs.len())
                    .map(|i| Carry::cat_rows(parts.iter().map(|p| p.child(i)).collect()))
                    .collect(),
            ),
        }
    }
}

/// Replace rows where `start` is set by `init`: `where(start, init, state)`.
///
/// `start`: `[B]` float mask (1.0 = reset). `init` must broadcast to `state`'s shape.
pub fn reset_rows(state: Tensor<2>, start: &Tensor<1>, init: Option<&Tensor<2>>) -> Tensor<2> {
    let keep = start.clone().neg().add_scalar(1.0).unsqueeze_dim::<2>(1);
    match init {
        None => state * keep,
        Some(init) => {
            let s = start.clone().unsqueeze_dim::<2>(1);
            state * keep + init.clone() * s
        }
    }
}
