//! The checked intermediate representation: what `check` produces and `lower`/`train` consume.
//!
//! This is the contract between the front end (syntax → check) and the back end
//! (lower → runtime → algorithms). It holds no spans-to-source machinery beyond plain byte
//! offsets and no burn types. Every block is fully elaborated: `let`s are substituted,
//! defaults are filled, `x * n` is expanded into `n` independent copies, widths are concrete.

use std::collections::BTreeMap;

/// A literal or symbolic value of a block, algorithm, optimizer or train argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer (`64`, `1_000_000`).
    Int(i64),
    /// A float (`3e-4`, `0.99`).
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A string literal (`"gymnax::CartPole-v1"`).
    Str(String),
    /// A bare symbol such as `alibi`, `relu`, `zoh`.
    Sym(String),
    /// `none`.
    None,
    /// A list `[64, 64]`.
    List(Vec<Value>),
    /// A call-shaped value such as a schedule `linear(3e-4, 0.0)`: name and positional args.
    Call(String, Vec<Value>),
}

impl Value {
    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The value as a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The value as a symbol or string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Sym(s) | Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Named arguments in the registry's declared order, every default filled in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(pub Vec<(String, Value)>);

impl Args {
    /// Look an argument up by its canonical name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// Integer argument (panics only on an internal contract violation: the checker filled it).
    pub fn int(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(Value::as_int)
            .unwrap_or_else(|| panic!("internal: checked IR lacks integer argument `{name}`"))
    }
    /// Float argument (integers convert).
    pub fn float(&self, name: &str) -> f64 {
        self.get(name)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("internal: checked IR lacks float argument `{name}`"))
    }
    /// Bool argument.
    pub fn bool(&self, name: &str) -> bool {
        self.get(name)
            .and_then(Value::as_bool)
            .unwrap_or_else(|| panic!("internal: checked IR lacks bool argument `{name}`"))
    }
    /// Symbol or string argument.
    pub fn str(&self, name: &str) -> &str {
        self.get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("internal: checked IR lacks symbol argument `{name}`"))
    }
}

/// A recurrent-state (carry) type, printed in the same syntax users write in annotations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CarryTy {
    /// `()` — no state.
    Unit,
    /// A record such as `gru(h: 64)`, `lstm(h: 64, c: 64)`, `kv(ctx: 128, heads: 4, dh: 16)`.
    Record {
        /// Record name (`gru`, `lstm`, `kv`, `mem`, ...).
        name: String,
        /// Fields in order: name and size (number of f32 per env, or a dimension).
        fields: Vec<(String, u64)>,
    },
    /// A tuple of carries for combinators (normal form: no units, no singletons).
    Tuple(Vec<CarryTy>),
}

impl CarryTy {
    /// Number of f32 values of recurrent state per environment.
    pub fn floats_per_env(&self) -> u64 {
        match self {
            CarryTy::Unit => 0,
            CarryTy::Record { name, fields } => record_floats(name, fields),
            CarryTy::Tuple(items) => items.iter().map(CarryTy::floats_per_env).sum(),
        }
    }
}

fn record_floats(name: &str, fields: &[(String, u64)]) -> u64 {
    let f = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    match name {
        // key and value caches: ctx × heads × dh each, plus one flag per slot
        "kv" => 2 * f("ctx") * f("heads") * f("dh") + f("ctx"),
        // memory rows len × f plus one flag per row
        "mem" => f("len") * f("f") + f("len"),
        _ => fields.iter().map(|(_, v)| *v).sum(),
    }
}

/// Where a block came from in the source (byte offsets into `file`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Path of the source file as given on the command line or resolved by `import`.
    pub file: String,
    /// Byte offset of the start.
    pub start: usize,
    /// Byte offset of the end (exclusive).
    pub end: usize,
}

/// One elaborated block of a network.
///
/// `kind` is the registry name (`linear`, `mlp`, `relu`, `gelu`, `silu`, `tanh`, `layernorm`,
/// `rmsnorm`, `dropout`, `ffn`, `residual`, `gated_residual`, `prenorm`, `postnorm`, `seq`,
/// `lstm`, `gru`, `mingru`, `attention`, `segment_recurrence`, `linear_attention`, `slstm`,
/// `mlstm`, `ffm`, `shm`, `s5`, `lru`, `mamba`, `rtu`, `rtrl`, `rl2`, `moe`, `cnn`, `vit`,
/// `embed_action`, `embed_reward`, `identity`). `seq` is what `->`, `stack(...)` and `x * n`
/// elaborate to: children applied in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Dotted path, equal to the parameter-name prefix (`actor.torso.0.1`).
    pub path: String,
    /// Registry name of the block.
    pub kind: String,
    /// Every schema argument, defaults filled, canonical names, schema order.
    pub args: Args,
    /// Sub-blocks (wrapped block for wrappers, members for `seq`, expert for `moe`).
    pub children: Vec<Block>,
    /// Feature width consumed.
    pub input: usize,
    /// Feature width produced.
    pub output: usize,
    /// Carry of this block (including children), in normal form.
    pub carry: CarryTy,
    /// Analytic parameter count of this block including its children.
    pub params: u64,
    /// `Some(id)` when this block is a `shared(...)` instance: every block with the same id
    /// uses one parameter set (lowering builds it once; summaries count it once).
    pub shared: Option<u32>,
    /// Source location of the expression that produced this block.
    pub origin: Origin,
}

/// An output head of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    /// Dotted path (`actor.head`).
    pub path: String,
    /// `categorical`, `gaussian`, `q`, `twin_q`, `value`.
    pub kind: String,
    /// Schema arguments (e.g. `squash = true` for gaussian).
    pub args: Args,
    /// Feature width consumed.
    pub input: usize,
    /// Number of outputs (actions, action dims, or 1 for value).
    pub outputs: usize,
    /// Analytic parameter count.
    pub params: u64,
    /// Source location.
    pub origin: Origin,
}

/// A network: `encoder -> torso -> head(s)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Role: `actor`, `critic`, `q`, or `network` for a shared-body network.
    pub name: String,
    /// Encoder block (identity when absent); path `<name>.encoder`.
    pub encoder: Block,
    /// Torso block (identity when absent); path `<name>.torso`.
    pub torso: Block,
    /// Heads keyed by role (`actor`, `critic`, `q`); one entry unless `heads(...)` was used.
    pub heads: Vec<(String, Head)>,
}

/// The action space of an environment.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionSpace {
    /// `n` discrete actions (MultiDiscrete spaces are flattened row-major).
    Discrete(usize),
    /// A box of `dim` continuous actions with bounds.
    Box {
        /// Number of action dimensions.
        dim: usize,
        /// Lower bound per dimension.
        low: Vec<f32>,
        /// Upper bound per dimension.
        high: Vec<f32>,
    },
}

/// What the checker knows about an environment id.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvInfo {
    /// Canonical id, `suite::Name`.
    pub id: String,
    /// The original observation space as text (`Box(4)`, `Tuple(Discrete(2), Discrete(4))`).
    pub obs_space: String,
    /// The original action space as text (`Discrete(2)`, `MultiDiscrete([8, 8])`).
    pub action_space_text: String,
    /// Width of the flat f32 observation vector the environment emits (one-hot for discrete parts).
    pub obs_dim: usize,
    /// The action space the agent acts in.
    pub action: ActionSpace,
    /// Maximum episode length (truncation), if any.
    pub max_steps: Option<usize>,
    /// Number of agents (1 for single-agent environments).
    pub agents: usize,
}

/// Training-loop settings from `train { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// Total environment steps.
    pub steps: u64,
    /// Seed.
    pub seed: u64,
    /// Environment steps between evaluations.
    pub eval_every: u64,
    /// Episodes per evaluation.
    pub eval_episodes: u64,
}

/// A checked agent, ready to lower and train.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// Agent name.
    pub name: String,
    /// Environment.
    pub env: EnvInfo,
    /// Algorithm name (`ppo`, `dqn`, `pqn`, `r2d2`, `sac`, `ippo`, `irppo`).
    pub algorithm: String,
    /// Algorithm hyperparameters, canonical names, defaults filled.
    pub hparams: Args,
    /// Optimizer name (`adam`, `adamw`, ...).
    pub optimizer: String,
    /// Optimizer arguments (`lr` may be a `Value::Call("linear", ...)` schedule).
    pub optimizer_args: Args,
    /// Networks: `actor` + `critic` (ppo), `q` (dqn/pqn/r2d2), or one shared `network`.
    pub networks: Vec<Network>,
    /// Intrinsic reward module (`icm`/`rnd`) when given.
    pub intrinsic: Option<(String, Args, Vec<Block>)>,
    /// Train settings.
    pub train: TrainSettings,
    /// Architecture hash `mx1:` + 12 hex.
    pub hash: String,
    /// Canonical `.mx` text of the elaborated agent (what `expand` prints and `arch.mx` stores).
    pub canonical: String,
}

/// The checked program: every agent of the file (and imports), by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// Agents in source order.
    pub agents: Vec<Agent>,
    /// Top-level `let` blocks that elaborate without arguments, for `summary` of architectures.
    pub lets: BTreeMap<String, Block>,
}
