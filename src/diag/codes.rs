//! The diagnostic catalogue: every code, a title and an explanation (`memoraxc explain`).

/// One catalogue entry.
pub struct CodeInfo {
    /// The code, `MXnnnn`.
    pub code: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Longer explanation with an example and the fix.
    pub explain: &'static str,
}

macro_rules! codes {
    ($($code:literal, $title:literal, $explain:literal;)*) => {
        /// Every code in the catalogue, in order.
        pub const CODES: &[CodeInfo] = &[$(CodeInfo { code: $code, title: $title, explain: $explain }),*];
    };
}

codes! {
    "MX0101", "syntax error", "The parser expected a different token here. The message lists what was expected.\nExample: `let x = mlp(64,` (missing `)`).\nFix: complete the expression; every error of a file is reported, one per broken item or slot.";
    "MX0102", "not an item", "Top-level text must be an `import \"file.mx\"`, a `let NAME = expr` or an `agent NAME { ... }`.\nExample: `model = gru(64)` at top level.\nFix: write `let model = gru(64)`.";
    "MX0103", "number out of range", "An integer literal does not fit into 64 bits, or a float is not finite.\nFix: use a smaller number.";
    "MX0104", "nesting too deep", "Brackets are nested more than 64 levels deep; memoraxc refuses such input instead of overflowing its stack.\nFix: name intermediate expressions with `let`.";
    "MX0105", "unreadable source", "The file could not be read, or it is not valid UTF-8.\nFix: check the path and save the file as UTF-8.";
    "MX0106", "invalid annotation", "A carry annotation could not be read (e.g. `carry gru(h: 64) * 0`).\nFix: write carries as `()`, `name(field: n, ...)`, tuples `(a, b)` or `c * n` with n >= 1.";
    "MX0201", "unknown name", "A name is neither a `let`, a parameter of the enclosing `let`, nor a registry block, head, algorithm or optimizer.\nExample: `torso = attenion()`.\nFix: use the suggested name; `memoraxc blocks` lists the catalogue.";
    "MX0202", "unknown argument", "A keyword argument is not in the schema of the called block, algorithm or optimizer.\nExample: `gru(hidden = 64)`.\nFix: use one of the listed argument names (`memoraxc blocks gru`).";
    "MX0203", "positional argument after keyword argument", "Positional arguments must come before keyword arguments.\nExample: `attention(heads = 4, 128)`.\nFix: write `attention(4, ctx = 128)` or name every argument.";
    "MX0204", "import cycle", "A file imports itself, directly or through other files.\nFix: move the shared `let`s into a third file that both import.";
    "MX0205", "duplicate argument", "The same argument is given twice (by position and by name, by name twice, or through an alias such as `num_minibatches` and `minibatches`).\nFix: remove one.";
    "MX0206", "too many positional arguments", "More positional arguments than the schema has parameters.\nFix: check the signature with `memoraxc blocks NAME`.";
    "MX0207", "missing argument", "A required argument without default was not given.\nExample: `gru()` (the hidden width `h` is required).\nFix: give the argument, e.g. `gru(64)`.";
    "MX0208", "wrong argument type", "An argument has the wrong type: a number where a block is expected, a float where an integer is expected, or a symbol that is not one of the allowed options.\nFix: follow the listed type or options.";
    "MX0209", "import not found", "An imported file could not be read. Paths are relative to the importing file.\nFix: correct the path.";
    "MX0210", "duplicate definition", "Two `let`s (possibly in different imported files) or two agents have the same name.\nFix: rename one.";
    "MX0211", "unknown or duplicate agent slot", "Agent slots are `env`, `algorithm`, `encoder`, `torso`, `actor`, `critic`, `q`, `network`, `optimizer`, `intrinsic` and the `train { ... }` section; each at most once.\nFix: use the suggested slot name or remove the duplicate.";
    "MX0212", "unknown environment", "The environment id is not in the registry. Ids are `suite::Name`, e.g. `gymnax::CartPole-v1`, `popgym::RepeatPreviousEasy`.\nFix: use the suggested id; `memoraxc envs` lists all.";
    "MX0213", "recursive let", "A `let` refers to itself (directly or through other `let`s), which would never finish elaborating.\nFix: remove the self-reference.";
    "MX0214", "invalid override", "A `--set key=value` override is malformed or names an unknown setting. Keys are `env`, `algorithm.<hparam>`, `optimizer.<arg>`, `train.<key>` (also `<algorithm name>.<hparam>`).\nFix: write e.g. `--set optimizer.lr=1e-4`.";
    "MX0215", "unknown agent", "`--agent NAME` names no agent of the file.\nFix: use one of the listed agents.";
    "MX0301", "width mismatch", "Two places that must agree on a feature width do not, e.g. a `shared(...)` block used at two different input widths, or a given `features` that disagrees with the stream.\nFix: make the widths agree (a `linear(n)` changes the width).";
    "MX0302", "residual branch changes width", "`residual(x)` and `gated_residual(x)` add the branch output to the input, so `x` must keep the width.\nExample: `residual(mlp(128))` on a 64-wide stream.\nFix: use a width-preserving branch (`ffn()`, `gru(64)` on a 64-wide stream) or put `linear(n)` before the residual.";
    "MX0303", "width not divisible by heads", "Attention-like blocks split the feature width into heads: F % heads must be 0.\nExample: 64 features cannot be split into 6 heads (64 % 6 = 4).\nFix: use a divisor of the width.";
    "MX0304", "ALiBi needs a power-of-two head count", "ALiBi slopes 2^(-8h/H) are defined for H a power of two.\nFix: use heads = 1, 2, 4, 8, ...";
    "MX0305", "RoPE needs an even head dimension", "Rotary embeddings rotate pairs of features: F / heads must be even.\nFix: change the width or the number of heads.";
    "MX0306", "argument out of range", "A block argument is outside its valid range (e.g. a width of 0, dropout p not in [0, 1), top_k > experts).\nFix: use a value in the stated range.";
    "MX0307", "wrong wrapped block", "A wrapper only accepts certain blocks: `segment_recurrence` wraps an `attention(...)`; `rtrl` wraps `lru` or `rtu`.\nFix: wrap a supported block.";
    "MX0308", "misplaced input embedding", "`embed_action()` and `embed_reward()` append the previous action and reward, which exist only at the network input: they must be top-level members of the `encoder` (not inside a wrapper or the torso), and the algorithm must supply them (ppo, dqn, pqn).\nExample: `torso = residual(embed_action())`.\nFix: `encoder = embed_action() -> embed_reward() -> mlp(64)`.";
    "MX0401", "carry annotation mismatch", "A `: carry ...` annotation disagrees with the carry the checker infers. Annotations are checked, never trusted.\nFix: write the inferred carry shown in the message, or change the block.";
    "MX0402", "algorithm cannot train a recurrent torso", "`dqn` samples single transitions from a replay buffer, so it cannot train a torso (or encoder) that keeps recurrent state.\nFix: use `r2d2(...)` (sequence replay with stored carries and burn-in), or a carry-free torso.";
    "MX0403", "wrong kind", "A head (`categorical()`, `value()`, ...) was used where a block is expected, or a block where a head, algorithm or optimizer is expected.\nFix: heads go in `actor`, `critic`, `q` or `heads(...)`; blocks in `encoder`/`torso`.";
    "MX0404", "invalid repetition", "`x * n` needs a block on the left and an integer n >= 1 on the right.\nFix: write e.g. `gru(64) * 2`.";
    "MX0405", "algorithm needs a recurrent network", "`irppo` is recurrent independent PPO: its encoder or torso must keep recurrent state (one carry per agent).\nFix: add a memory block such as `torso = gru(64)`, or use `ippo` for feed-forward networks.";
    "MX0501", "head does not fit the action space", "`categorical()` and `q()` need a discrete action space; `gaussian()` needs a continuous (Box) one; `twin_q()` fits both (on a Box it is Q(s, a), the action joining the critic's input).\nFix: choose the head that matches the environment (`memoraxc envs NAME`).";
    "MX0502", "head does not fit the algorithm", "`ppo` needs `actor = categorical()|gaussian()` and `critic = value()`; `dqn`, `pqn` and `r2d2` need `q = q()`; `sac` needs an actor and `critic = twin_q()`.\nFix: use the slots and heads the algorithm trains.";
    "MX0503", "missing agent slot", "An agent needs `env`, `algorithm`, the head slots of its algorithm and a `train { steps = ... }` section.\nFix: add the missing slot.";
    "MX0504", "hyperparameter type", "A hyperparameter, optimizer or train setting has the wrong type (e.g. a float where an integer count is expected).\nFix: use the type given in the message.";
    "MX0505", "hyperparameter out of range", "A hyperparameter is outside its valid range (e.g. `gamma` must lie in [0, 1], counts must be positive).\nFix: use a value in the range.";
    "MX0506", "minibatches do not divide the batch", "PPO and PQN split `num_envs * num_steps` samples into `minibatches`; with a recurrent torso they split the environments (whole sequences), so `num_envs % minibatches` must be 0 too.\nFix: choose a divisor (the message lists some).";
    "MX0507", "train_frequency not a multiple of num_envs", "`dqn`, `r2d2` and `sac` take their gradient steps every `train_frequency` environment steps, counted in vector steps of `num_envs`.\nFix: make `train_frequency` a multiple of `num_envs`.";
    "MX0508", "burn-in not shorter than the sequence", "`r2d2` (and recurrent `sac`) burn in `burn_in` steps before each trained `seq_len`-long sequence without a loss, so `burn_in < seq_len` is required.\nFix: lower `burn_in` or raise `seq_len`.";
    "MX0509", "invalid train section", "`train { ... }` accepts `steps` (required), `seed`, `eval_every` and `eval_episodes`.\nFix: use those keys.";
    "MX0510", "algorithm does not fit the environment", "The algorithm cannot act in this environment: `dqn` on a continuous action space, a single-agent algorithm (`ppo`, `dqn`, ...) on a multi-agent environment, or `ippo`/`irppo` on a single-agent one.\nFix: use an algorithm and head that match the environment (`memoraxc envs` shows agents and spaces).";
    "MX0520", "replay buffer smaller than a window", "`r2d2` and recurrent `sac` replay windows of consecutive steps (`burn_in + seq_len + n_step` for r2d2, `burn_in + seq_len + 1` for sac) from per-environment rings of `buffer_size / num_envs` steps; a ring must hold at least one window.\nFix: raise `buffer_size` or shorten the window.";
    "MX0521", "sac needs separate actor and critic networks", "`sac` trains the actor and the twin critics with separate losses and optimizers (a continuous critic also reads the action), so they cannot share one `network = ... -> heads(...)` body.\nFix: write `actor = ...` and `critic = twin_q()` slots.";
    "MX0522", "sac needs a squashed Gaussian", "Continuous `sac` samples `tanh(mean + std * noise)` and corrects the log-probability for the squashing; the actor head must say so.\nFix: use `actor = gaussian(squash = true)`.";
    "MX0601", "attention context shorter than the rollout", "An attention block's `ctx` is shorter than the rollout length (`num_steps`), so during training queries near the end of a rollout cannot see its beginning.\nFix: raise `ctx` to at least `num_steps`, or wrap it in `segment_recurrence` on purpose.";
    "MX0602", "unused let", "A `let` in a file that defines agents is never used.\nFix: remove it, or move reusable blocks into a library file (files without agents get no warning).";
    "MX0603", "empty file", "The file contains no items.\nFix: add an `agent` or `let`.";
    "MX0604", "ippo with a recurrent network", "`ippo` trains a recurrent network exactly like `irppo` (per-agent carries stored at the rollout start), so the algorithm name understates the learner.\nFix: write `irppo(...)` (same hyperparameters), or use a carry-free torso.";
}

/// Look a code up (case-insensitive; `0303` and `MX0303` both work).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let c = code.trim().to_ascii_uppercase();
    let c = if c.starts_with("MX") {
        c
    } else {
        format!("MX{c}")
    };
    CODES.iter().find(|i| i.code == c)
}
