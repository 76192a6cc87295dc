//! YAML agent configs — the only module that reads or writes them.
//!
//! A YAML config is an agent whose architectures are `.mx` expression strings:
//!
//! ```yaml
//! agent: ppo_cartpole
//! env: gymnax::CartPole-v1
//! algorithm: ppo(num_envs = 8, num_steps = 128)
//! encoder: mlp(64, 64)
//! actor: categorical()
//! critic: value()
//! train:
//!   steps: 100_000
//! lets:                      # optional: named architectures
//!   cell: residual(prenorm(gru(64)))
//! imports: [blocks.mx]       # optional: .mx files, relative to the YAML file
//! ```
//!
//! [`to_mx`] translates it to `.mx` text and keeps a map from that text back to the YAML bytes,
//! so the checker's diagnostics point at the offending YAML key or value ([`Translated::map`]).
//! [`from_mx`] writes an agent's canonical `.mx` as such a config (`memoraxc expand --yaml`).
//!
//! The YAML library is `serde_yaml_ng`, a maintained fork of the deprecated `serde_yaml` with the
//! same API; the rest of the crate reaches it only through the re-exports here, so swapping it is
//! a one-module change.

use std::ops::Range;

pub use serde_yaml_ng::{Mapping, Value, from_str, to_string};

use super::ast::{EntryKind, ItemKind};
use super::printer;
use crate::diag::FileId;

/// True for paths ending in `.yaml` or `.yml`.
pub fn is_yaml(path: &std::path::Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// A YAML error at a byte range of the YAML text.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlError {
    /// Byte range in the YAML text.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
}

/// `.mx` text generated from a YAML config, with the way back.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The generated `.mx` source.
    pub mx: String,
    segs: Vec<Seg>,
    fallback: Range<usize>,
}

#[derive(Clone, Debug)]
struct Seg {
    mx: Range<usize>,
    yaml: Range<usize>,
    exact: bool,
}

impl Translated {
    /// Map a byte range of [`Translated::mx`] to the YAML text: inside a value copied verbatim
    /// offset by offset, inside a converted value to the whole value, elsewhere to the
    /// `agent:` entry.
    pub fn map(&self, r: Range<usize>) -> Range<usize> {
        let seg = self
            .segs
            .iter()
            .filter(|s| s.mx.start <= r.start && r.start <= s.mx.end)
            .min_by_key(|s| s.mx.len());
        match seg {
            Some(s) if s.exact => {
                let a = s.yaml.start + (r.start - s.mx.start);
                let b = s.yaml.start + (r.end.min(s.mx.end) - s.mx.start);
                a..b.max(a)
            }
            Some(s) => s.yaml.clone(),
            None => self.fallback.clone(),
        }
    }
}

/// Where a key and its one-line value sit in the text.
struct Located {
    key: Range<usize>,
    value: Range<usize>,
    /// The value bytes are exactly the scalar (no quotes with escapes, no folding).
    exact: bool,
}

/// Find `key:` at `indent` (0: top level) within `lines`; the value is the rest of its line.
fn locate(text: &str, within: Range<usize>, key: &str, nested: bool) -> Option<Located> {
    let mut off = within.start;
    for line in text[within.clone()].split_inclusive('\n') {
        let start = off;
        off += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let indent = body.len() - trimmed.len();
        if (indent == 0) == nested || !trimmed.starts_with(key) {
            continue;
        }
        let after = trimmed[key.len()..].trim_start();
        if !after.starts_with(':') {
            continue;
        }
        let key_start = start + indent;
        let colon = start + body.find(':').unwrap_or(0);
        let mut v = &body[colon - start + 1..];
        let lead = v.len() - v.trim_start().len();
        v = v.trim_start();
        // a trailing comment starts at " #" outside quotes
        let quoted = v.starts_with('"') || v.starts_with('\'');
        let mut end = v.len();
        if !quoted && let Some(i) = v.find(" #") {
            end = i;
        }
        let mut vs = colon + 1 + lead;
        let mut ve = vs + v[..end].trim_end().len();
        let mut exact = true;
        if quoted {
            let q = v.as_bytes()[0] as char;
            if let Some(close) = v[1..].rfind(q) {
                let inner = &v[1..1 + close];
                exact = !inner.contains('\\') && !inner.contains("''");
                vs += 1;
                ve = vs + close;
            }
        }
        return Some(Located {
            key: key_start..key_start + key.len(),
            value: vs..ve,
            exact,
        });
    }
    None
}

/// The byte range of the block nested under a top-level key (the lines after it that are
/// indented or blank).
fn block_under(text: &str, key_line_end: usize) -> Range<usize> {
    let mut off = key_line_end;
    for line in text[key_line_end..].split_inclusive('\n') {
        let t = line.trim_end_matches(['\n', '\r']);
        if !t.is_empty() && !t.starts_with([' ', '\t']) && !t.trim_start().starts_with('#') {
            break;
        }
        off += line.len();
    }
    key_line_end..off
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..]
        .find('\n')
        .map(|i| at + i + 1)
        .unwrap_or(text.len())
}

struct Out<'t> {
    text: &'t str,
    mx: String,
    segs: Vec<Seg>,
}

impl Out<'_> {
    fn push(&mut self, s: &str) {
        self.mx.push_str(s);
    }

    /// Append `s`, mapped to `yaml` (verbatim when `exact`).
    fn mapped(&mut self, s: &str, yaml: Range<usize>, exact: bool) {
        let start = self.mx.len();
        self.mx.push_str(s);
        let exact = exact && self.text.get(yaml.clone()) == Some(s);
        self.segs.push(Seg {
            mx: start..self.mx.len(),
            yaml,
            exact,
        });
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("none".into()),
        _ => None,
    }
}

fn key_name(k: &Value) -> String {
    scalar_text(k).unwrap_or_else(|| "?".into())
}

/// Translate a YAML agent config into `.mx` text (see the module docs for the format).
pub fn to_mx(text: &str) -> Result<Translated, YamlError> {
    let doc: Value = from_str(text).map_err(|e| {
        let at = e.location().map(|l| l.index()).unwrap_or(0).min(text.len());
        YamlError {
            span: at..(at + 1).min(text.len()),
            message: format!("invalid YAML: {e}"),
        }
    })?;
    let whole = 0..text.len();
    let Value::Mapping(map) = doc else {
        return Err(YamlError {
            span: 0..text.len().min(1),
            message: "a YAML agent config is a mapping with `agent:`, `env:`, `algorithm:`, ..."
                .into(),
        });
    };
    let err_at = |key: &str, message: String| {
        let span = locate(text, whole.clone(), key, false)
            .map(|l| l.key.start..l.value.end.max(l.key.end))
            .unwrap_or(0..0);
        YamlError { span, message }
    };
    let Some(name) = map.get("agent").and_then(Value::as_str) else {
        return Err(YamlError {
            span: 0..text.len().min(1),
            message: "a YAML agent config needs `agent: NAME`".into(),
        });
    };
    let agent_loc = locate(text, whole.clone(), "agent", false);
    let fallback = agent_loc
        .as_ref()
        .map(|l| l.key.start..l.value.end)
        .unwrap_or(0..0);
    let mut o = Out {
        text,
        mx: String::new(),
        segs: Vec::new(),
    };
    if let Some(imports) = map.get("imports") {
        let list = match imports {
            Value::Sequence(s) => s.clone(),
            Value::String(_) => vec![imports.clone()],
            _ => {
                return Err(err_at(
                    "imports",
                    "`imports` is a list of .mx file paths".into(),
                ));
            }
        };
        for p in list {
            let Some(p) = p.as_str() else {
                return Err(err_at(
                    "imports",
                    "`imports` is a list of .mx file paths".into(),
                ));
            };
            o.push("import ");
            let span = locate(text, whole.clone(), "imports", false)
                .map(|l| l.key)
                .unwrap_or(0..0);
            o.mapped(&printer::string_lit(p), span, false);
            o.push("\n");
        }
    }
    if let Some(lets) = map.get("lets") {
        let Value::Mapping(lets) = lets else {
            return Err(err_at(
                "lets",
                "`lets` maps names to .mx expressions".into(),
            ));
        };
        let under = locate(text, whole.clone(), "lets", false)
            .map(|l| block_under(text, line_end(text, l.key.start)))
            .unwrap_or(0..0);
        for (k, v) in lets {
            let k = key_name(k);
            let loc = locate(text, under.clone(), &k, true);
            let Some(v) = scalar_text(v) else {
                return Err(YamlError {
                    span: loc.map(|l| l.key).unwrap_or(0..0),
                    message: format!("`lets.{k}` must be a .mx expression string"),
                });
            };
            o.push("let ");
            let (ks, vs, ex) =
                loc.map(|l| (l.key, l.value, l.exact))
                    .unwrap_or((0..0, 0..0, false));
            o.mapped(&k, ks, true);
            o.push(" = ");
            o.mapped(&v, vs, ex);
            o.push("\n");
        }
    }
    o.push("agent ");
    o.mapped(
        name,
        agent_loc.as_ref().map(|l| l.value.clone()).unwrap_or(0..0),
        true,
    );
    o.push(" {\n");
    for (k, v) in &map {
        let k = key_name(k);
        if matches!(k.as_str(), "agent" | "lets" | "imports" | "hash") {
            continue;
        }
        let loc = locate(text, whole.clone(), &k, false);
        let (ks, vs, ex) = loc
            .as_ref()
            .map(|l| (l.key.clone(), l.value.clone(), l.exact))
            .unwrap_or((0..0, 0..0, false));
        if let Value::Mapping(fields) = v {
            o.push("  ");
            o.mapped(&k, ks, true);
            o.push(" {");
            let under = loc
                .map(|l| block_under(text, line_end(text, l.key.start)))
                .unwrap_or(0..0);
            for (fk, fv) in fields {
                let fk = key_name(fk);
                let floc = locate(text, under.clone(), &fk, true);
                let (fks, fvs, fex) =
                    floc.map(|l| (l.key, l.value, l.exact))
                        .unwrap_or((0..0, 0..0, false));
                let Some(fv) = scalar_text(fv) else {
                    return Err(YamlError {
                        span: fks,
                        message: format!("`{k}.{fk}` must be a number or a .mx expression"),
                    });
                };
                o.push(" ");
                o.mapped(&fk, fks, true);
                o.push(" = ");
                o.mapped(&fv, fvs, fex);
                o.push(",");
            }
            o.push(" }\n");
            continue;
        }
        let Some(text_v) = scalar_text(v) else {
            return Err(YamlError {
                span: ks.start..vs.end.max(ks.end),
                message: format!(
                    "`{k}` must be a .mx expression string (or a mapping for `train`)"
                ),
            });
        };
        o.push("  ");
        o.mapped(&k, ks, true);
        o.push(" = ");
        if k == "env" && !text_v.starts_with("external(") {
            o.mapped(&printer::string_lit(&text_v), vs, false);
        } else {
            o.mapped(&text_v, vs, ex);
        }
        o.push("\n");
    }
    o.push("}\n");
    Ok(Translated {
        mx: o.mx,
        segs: o.segs,
        fallback,
    })
}

fn yaml_scalar(s: &str) -> Value {
    // numbers stay numbers when YAML reads them back as the same number
    if let Ok(v) = from_str::<Value>(s)
        && v.is_number()
        && !s.contains('_')
    {
        return v;
    }
    Value::String(s.to_string())
}

/// The agent named `name` of a canonical `.mx` text as a YAML config (header comment `hash`).
pub fn from_mx(canonical: &str, name: &str, hash: &str) -> Option<String> {
    let (file, diags) = super::parse(canonical, FileId(0));
    if !diags.is_empty() {
        return None;
    }
    let mut m = Mapping::new();
    m.insert("agent".into(), name.into());
    let mut lets = Mapping::new();
    let mut agent_found = false;
    for item in &file.items {
        match &item.kind {
            ItemKind::Let(l) if l.params.is_none() => {
                lets.insert(l.name.name.clone().into(), printer::flat(&l.body).into());
            }
            ItemKind::Agent(a) if a.name.name == name => {
                agent_found = true;
                for e in &a.entries {
                    match &e.kind {
                        EntryKind::Slot { name, value, .. } => {
                            let v = match &value.kind {
                                super::ast::ExprKind::Str(s) if name.name == "env" => s.clone(),
                                _ => printer::flat(value),
                            };
                            m.insert(name.name.clone().into(), v.into());
                        }
                        EntryKind::Section { name, fields } => {
                            let mut f = Mapping::new();
                            for (k, v) in fields {
                                f.insert(k.name.clone().into(), yaml_scalar(&printer::flat(v)));
                            }
                            m.insert(name.name.clone().into(), Value::Mapping(f));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !agent_found {
        return None;
    }
    if !lets.is_empty() {
        m.insert("lets".into(), Value::Mapping(lets));
    }
    let body = to_string(&Value::Mapping(m)).ok()?;
    Some(format!(
        "# {name} ({hash}), written by `memoraxc expand --yaml`\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "agent: a\nenv: gymnax::CartPole-v1   # the env\nalgorithm: \"ppo(num_envs = 4)\"\ntorso: gru(64) -> ffn()\ntrain:\n  steps: 1_000\n  seed: 3\n";

    #[test]
    fn translates_and_maps_back() {
        let t = to_mx(CFG).unwrap();
        assert!(t.mx.contains("agent a {"), "{}", t.mx);
        assert!(t.mx.contains("env = \"gymnax::CartPole-v1\""), "{}", t.mx);
        assert!(
            t.mx.contains("train { steps = 1_000, seed = 3, }"),
            "{}",
            t.mx
        );
        // `ffn` inside the torso string maps to the same bytes in the YAML
        let i = t.mx.find("ffn").unwrap();
        let r = t.map(i..i + 3);
        assert_eq!(&CFG[r], "ffn");
        let i = t.mx.find("num_envs").unwrap();
        assert_eq!(&CFG[t.map(i..i + 8)], "num_envs");
        let i = t.mx.find("seed").unwrap();
        assert_eq!(&CFG[t.map(i..i + 4)], "seed");
    }

    #[test]
    fn yaml_errors_have_spans() {
        let e = to_mx("agent: a\nenv: [unclosed\n").unwrap_err();
        assert!(
            e.span.start > 0 && e.message.contains("invalid YAML"),
            "{e:?}"
        );
        let e = to_mx("env: x\n").unwrap_err();
        assert!(e.message.contains("agent: NAME"));
        let text = "agent: a\ntorso: [1, 2]\n";
        let e = to_mx(text).unwrap_err();
        assert_eq!(&text[e.span], "torso: [1, 2]");
    }
}
