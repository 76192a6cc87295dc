//! The registry: one schema per block, head, algorithm, optimizer and intrinsic module
//! (parameter names, types, defaults, ranges, docs). Signatures and parameter counts live in
//! [`signature`]; `memoraxc blocks` is generated from these tables.

pub mod algos;
pub mod blocks;
pub mod signature;

/// Type of a schema parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    /// Integer.
    Int,
    /// Float (integers accepted).
    Float,
    /// `true`/`false`.
    Bool,
    /// One of the listed symbols (bare names).
    Sym(&'static [&'static str]),
    /// A block (wrappers).
    Block,
    /// Integer or `none`.
    IntOrNone,
    /// Float or `none`.
    FloatOrNone,
    /// A float or a schedule call `linear(start, end)`.
    Schedule,
}

impl Ty {
    /// Human description.
    pub fn describe(&self) -> String {
        match self {
            Ty::Int => "an integer".into(),
            Ty::Float => "a number".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Sym(opts) => format!(
                "one of {}",
                opts.iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ty::Block => "a block".into(),
            Ty::IntOrNone => "an integer or `none`".into(),
            Ty::FloatOrNone => "a number or `none`".into(),
            Ty::Schedule => "a number or a schedule `linear(start, end)`".into(),
        }
    }
}

/// Default of a schema parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Def {
    /// Required.
    Req,
    /// Integer default.
    Int(i64),
    /// Float default.
    Float(f64),
    /// Bool default.
    Bool(bool),
    /// Symbol default.
    Sym(&'static str),
    /// `none`.
    None,
    /// Same value as another parameter of the schema (e.g. `learning_starts = batch_size`).
    Same(&'static str),
}

/// Valid range of a numeric parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// Anything of the type.
    Any,
    /// Integers >= 1, floats > 0.
    Pos,
    /// >= 0.
    NonNeg,
    /// In [0, 1].
    Unit,
    /// In [0, 1).
    UnitOpen,
}

impl Range {
    /// Check a numeric value; returns the violated rule as text.
    pub fn check(&self, v: f64, int: bool) -> Option<&'static str> {
        match self {
            Range::Any => None,
            Range::Pos if int && v < 1.0 => Some("must be at least 1"),
            Range::Pos if !int && v <= 0.0 => Some("must be positive"),
            Range::NonNeg if v < 0.0 => Some("must not be negative"),
            Range::Unit if !(0.0..=1.0).contains(&v) => Some("must lie in [0, 1]"),
            Range::UnitOpen if !(0.0..1.0).contains(&v) => Some("must lie in [0, 1)"),
            _ => None,
        }
    }
}

/// One schema parameter.
#[derive(Clone, Copy, Debug)]
pub struct P {
    /// Canonical name.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Default.
    pub def: Def,
    /// Range.
    pub range: Range,
    /// One-line doc.
    pub doc: &'static str,
    /// Accepted alternative names (memorax field names), printed canonically.
    pub aliases: &'static [&'static str],
}

/// Shorthand constructor for a parameter.
pub const fn p(name: &'static str, ty: Ty, def: Def, range: Range, doc: &'static str) -> P {
    P {
        name,
        ty,
        def,
        range,
        doc,
        aliases: &[],
    }
}

/// Same as [`p`] with aliases.
pub const fn pa(
    name: &'static str,
    ty: Ty,
    def: Def,
    range: Range,
    doc: &'static str,
    aliases: &'static [&'static str],
) -> P {
    P {
        name,
        ty,
        def,
        range,
        doc,
        aliases,
    }
}

/// What a registry entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cat {
    /// Building block (layers, activations, norms, combinators).
    Building,
    /// Memory block (carries recurrent state).
    Memory,
    /// Encoder for image/grid observations or extra inputs.
    Encoder,
    /// Output head.
    Head,
    /// Algorithm.
    Algorithm,
    /// Optimizer.
    Optimizer,
    /// Intrinsic-reward module.
    Intrinsic,
}

impl Cat {
    /// Display name.
    pub fn name(&self) -> &'static str {
        match self {
            Cat::Building => "building block",
            Cat::Memory => "memory block",
            Cat::Encoder => "encoder",
            Cat::Head => "head",
            Cat::Algorithm => "algorithm",
            Cat::Optimizer => "optimizer",
            Cat::Intrinsic => "intrinsic reward",
        }
    }
}

/// A registry entry.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Name as written in `.mx`.
    pub name: &'static str,
    /// Category.
    pub cat: Cat,
    /// Parameters in canonical order.
    pub params: &'static [P],
    /// Name of a parameter that collects all positional arguments as a list (`mlp` widths).
    pub variadic: Option<&'static str>,
    /// Signature `in → out carry C` as text.
    pub sig: &'static str,
    /// Documentation, including the parameter-count formula.
    pub doc: &'static str,
}

impl Entry {
    /// Find a parameter by canonical name or alias.
    pub fn param(&self, name: &str) -> Option<&'static P> {
        self.params
            .iter()
            .find(|p| p.name == name || p.aliases.contains(&name))
    }
}

/// Every entry: blocks, heads, algorithms, optimizers, intrinsic modules.
pub fn all() -> impl Iterator<Item = &'static Entry> {
    blocks::BLOCKS.iter().chain(algos::ALGOS.iter())
}

/// Look an entry up by name.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    all().find(|e| e.name == name)
}

/// Look an entry of a category up.
pub fn lookup_cat(name: &str, cats: &[Cat]) -> Option<&'static Entry> {
    all().find(|e| e.name == name && cats.contains(&e.cat))
}

/// Names of all entries in the given categories.
pub fn names(cats: &[Cat]) -> Vec<&'static str> {
    all()
        .filter(|e| cats.contains(&e.cat))
        .map(|e| e.name)
        .collect()
}

/// Block categories (what may appear in `encoder`/`torso`).
pub const BLOCK_CATS: &[Cat] = &[Cat::Building, Cat::Memory, Cat::Encoder];
