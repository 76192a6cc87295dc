//! `summary`: per-block rows, per-network totals, shared parameters counted once, recurrent state.

use std::collections::HashSet;

use crate::check::ir::{Agent, Block, Value};
use crate::check::registry::signature::carry_text;

/// One row of the table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// Dotted path.
    pub path: String,
    /// Block with its arguments.
    pub block: String,
    /// Input width.
    pub input: usize,
    /// Output width.
    pub output: usize,
    /// Carry in annotation syntax.
    pub carry: String,
    /// Parameters (including children).
    pub params: u64,
    /// Shared-parameter id.
    pub shared: Option<u32>,
}

/// Totals of one network.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetTotal {
    /// Network name.
    pub name: String,
    /// Parameters of the network (shared blocks included).
    pub params: u64,
    /// Recurrent-state floats per environment.
    pub state_floats: u64,
}

/// A summary of an agent or of architecture lets.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Title (agent name or file).
    pub title: String,
    /// Environment line.
    pub env: Option<String>,
    /// Rows.
    pub rows: Vec<Row>,
    /// Per-network totals.
    pub networks: Vec<NetTotal>,
    /// Grand total: every `shared(...)` parameter set counted once.
    pub total_params: u64,
    /// Recurrent state per environment over all networks (f32 values).
    pub state_floats: u64,
    /// Architecture hash.
    pub hash: String,
}

fn short(v: &Value) -> String {
    crate::check::bind::fmt_num(v)
}

/// `kind(k=v, ...)` label of a block.
pub fn block_label(b: &Block) -> String {
    let args: Vec<String> = b
        .args
        .0
        .iter()
        .map(|(k, v)| format!("{k}={}", short(v)))
        .collect();
    let base = if args.is_empty() {
        b.kind.clone()
    } else {
        format!("{}({})", b.kind, args.join(", "))
    };
    match b.shared {
        Some(id) => format!("shared#{id} {base}"),
        None => base,
    }
}

fn rows_of(b: &Block, out: &mut Vec<Row>) {
    out.push(Row {
        path: b.path.clone(),
        block: block_label(b),
        input: b.input,
        output: b.output,
        carry: carry_text(&b.carry),
        params: b.params,
        shared: b.shared,
    });
    for c in &b.children {
        rows_of(c, out);
    }
}

/// Parameters of a tree counting each shared id once (ids in `seen` count 0).
pub fn unique_params(b: &Block, seen: &mut HashSet<u32>) -> u64 {
    if let Some(id) = b.shared {
        if !seen.insert(id) {
            return 0;
        }
        return b.params;
    }
    let kids: u64 = b.children.iter().map(|c| c.params).sum();
    let own = b.params.saturating_sub(kids);
    own + b
        .children
        .iter()
        .map(|c| unique_params(c, seen))
        .sum::<u64>()
}

/// Summary of an agent.
pub fn agent_summary(a: &Agent) -> Summary {
    let mut rows = Vec::new();
    let mut nets = Vec::new();
    let mut seen = HashSet::new();
    let mut total = 0;
    for n in &a.networks {
        rows_of(&n.encoder, &mut rows);
        rows_of(&n.torso, &mut rows);
        let mut hp = 0;
        for (_, h) in &n.heads {
            rows.push(Row {
                path: h.path.clone(),
                block: format!("{}()", h.kind),
                input: h.input,
                output: h.outputs,
                carry: "()".into(),
                params: h.params,
                shared: None,
            });
            hp += h.params;
        }
        total += unique_params(&n.encoder, &mut seen) + unique_params(&n.torso, &mut seen) + hp;
        nets.push(NetTotal {
            name: n.name.clone(),
            params: n.encoder.params + n.torso.params + hp,
            state_floats: n.encoder.carry.floats_per_env() + n.torso.carry.floats_per_env(),
        });
    }
    let state = nets.iter().map(|n| n.state_floats).sum();
    Summary {
        title: format!("agent {}", a.name),
        env: Some(format!(
            "{} (obs {} = {}, actions {}) · {}",
            a.env.id, a.env.obs_dim, a.env.obs_space, a.env.action_space_text, a.algorithm
        )),
        rows,
        networks: nets,
        total_params: total,
        state_floats: state,
        hash: a.hash.clone(),
    }
}

/// Summary of one architecture `let` elaborated at some input width.
pub fn let_summary(name: &str, b: &Block) -> Summary {
    let mut rows = Vec::new();
    rows_of(b, &mut rows);
    let mut seen = HashSet::new();
    Summary {
        title: format!("let {name}"),
        env: None,
        rows,
        networks: vec![NetTotal {
            name: name.to_string(),
            params: b.params,
            state_floats: b.carry.floats_per_env(),
        }],
        total_params: unique_params(b, &mut seen),
        state_floats: b.carry.floats_per_env(),
        hash: crate::check::canon::block_hash(b),
    }
}

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned text.
    #[default]
    Text,
    /// Markdown table.
    Md,
    /// LaTeX tabular.
    Latex,
    /// CSV.
    Csv,
    /// JSON.
    Json,
}

/// Number with `_` separators.
pub fn n(v: u64) -> String {
    crate::syntax::printer::int_lit(v.min(i64::MAX as u64) as i64)
}

fn bytes(f: u64) -> String {
    let b = f * 4;
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn footer(s: &Summary) -> Vec<String> {
    let mut v: Vec<String> = s
        .networks
        .iter()
        .map(|t| {
            format!(
                "{} total: {} params, recurrent state {} f32 ({}) per env",
                t.name,
                n(t.params),
                n(t.state_floats),
                bytes(t.state_floats)
            )
        })
        .collect();
    v.push(format!("total parameters: {}", n(s.total_params)));
    v.push(format!(
        "recurrent state per env: {} f32 = {}",
        n(s.state_floats),
        bytes(s.state_floats)
    ));
    v.push(format!("architecture hash: {}", s.hash));
    v
}

fn latex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('#', "\\#")
        .replace('&', "\\&")
        .replace('%', "\\%")
        .replace('{', "\\{")
        .replace('}', "\\}")
}

/// Render a summary.
pub fn render(s: &Summary, f: Format) -> String {
    let io = |r: &Row| format!("{} → {}", r.input, r.output);
    match f {
        Format::Json => serde_json::to_string_pretty(s).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut out = String::from("path,block,in,out,carry,params\n");
            for r in &s.rows {
                out.push_str(&format!(
                    "{},\"{}\",{},{},\"{}\",{}\n",
                    r.path,
                    r.block.replace('"', "\"\""),
                    r.input,
                    r.output,
                    r.carry,
                    r.params
                ));
            }
            out
        }
        Format::Md => {
            let mut out = format!("**{}**", s.title);
            if let Some(e) = &s.env {
                out.push_str(&format!(" — {e}"));
            }
            out.push_str(&format!(
                " — `{}`\n\n| path | block | in → out | carry | params |\n|---|---|---|---|---:|\n",
                s.hash
            ));
            for r in &s.rows {
                out.push_str(&format!(
                    "| `{}` | `{}` | {} | `{}` | {} |\n",
                    r.path,
                    r.block,
                    io(r),
                    r.carry,
                    n(r.params)
                ));
            }
            out.push('\n');
            for l in footer(s) {
                out.push_str(&format!("- {l}\n"));
            }
            out
        }
        Format::Latex => {
            let mut out = String::from(
                "\\begin{tabular}{lllll}\n\\hline\npath & block & in $\\to$ out & carry & params \\\\\n\\hline\n",
            );
            for r in &s.rows {
                out.push_str(&format!(
                    "\\texttt{{{}}} & \\texttt{{{}}} & {} $\\to$ {} & \\texttt{{{}}} & {} \\\\\n",
                    latex_escape(&r.path),
                    latex_escape(&r.block),
                    r.input,
                    r.output,
                    latex_escape(&r.carry),
                    n(r.params).replace('_', "\\,")
                ));
            }
            out.push_str("\\hline\n");
            for l in footer(s) {
                out.push_str(&format!(
                    "\\multicolumn{{5}}{{l}}{{{}}} \\\\\n",
                    latex_escape(&l).replace('→', "$\\to$")
                ));
            }
            out.push_str("\\end{tabular}\n");
            out
        }
        Format::Text => {
            let mut out = s.title.clone();
            if let Some(e) = &s.env {
                out.push_str(&format!("   env {e}"));
            }
            out.push_str(&format!("   arch {}\n", s.hash));
            let header = ["path", "block", "in → out", "carry", "params"];
            let cells: Vec<[String; 5]> = s
                .rows
                .iter()
                .map(|r| {
                    [
                        r.path.clone(),
                        r.block.clone(),
                        io(r),
                        r.carry.clone(),
                        n(r.params),
                    ]
                })
                .collect();
            let mut w = header.map(|h| h.chars().count());
            for c in &cells {
                for i in 0..5 {
                    w[i] = w[i].max(c[i].chars().count());
                }
            }
            let line = |c: [&str; 5]| {
                let mut l = String::new();
                for i in 0..4 {
                    l.push_str(c[i]);
                    l.push_str(&" ".repeat(w[i] - c[i].chars().count() + 2));
                }
                l.push_str(&" ".repeat(w[4] - c[4].chars().count()));
                l.push_str(c[4]);
                l.trim_end().to_string() + "\n"
            };
            out.push_str(&line(header));
            for c in &cells {
                out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
            }
            for l in footer(s) {
                out.push_str(&l);
                out.push('\n');
            }
            out
        }
    }
}
