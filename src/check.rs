//! The checker: imports, names, arguments, widths, carries and agent rules → IR + diagnostics.
//! Nothing here depends on burn.

pub mod agent;
pub mod bind;
pub mod canon;
pub mod env_table;
pub mod eval;
pub mod external;
pub mod inst;
pub mod ir;
pub mod offpolicy_rules;
pub mod registry;
pub mod rules;
pub mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::diag::{Diag, Diagnostics, FileId, Span};
use crate::syntax::{self, ast};

/// The result of checking one file: the program (agents that checked clean) and every diagnostic.
pub struct CheckOutput {
    /// Elaborated agents (only those without errors).
    pub program: ir::Program,
    /// All diagnostics, with the sources needed to render them.
    pub diagnostics: Diagnostics,
}

/// The first agent of a program given as source text (for tests); panics with the diagnostics
/// when the program has any.
#[cfg(test)]
pub(crate) fn agent_source(src: &str) -> ir::Agent {
    let out = check_source("test.mx", src, &[]);
    assert!(
        out.diagnostics.diags.is_empty(),
        "{:?}",
        out.diagnostics.diags
    );
    out.program
        .agents
        .into_iter()
        .next()
        .expect("the program has an agent")
}

/// Default input width for elaborating architecture `let`s.
pub const DEFAULT_LET_INPUT: usize = 64;

/// Check a file. `overrides` are `--set key=value` pairs, checked like source text.
pub fn check_path(path: &Path, overrides: &[String]) -> CheckOutput {
    check_path_with(path, overrides, DEFAULT_LET_INPUT)
}

/// Check a source text given in memory (`name` is used in diagnostics; imports resolve
/// relative to `name`).
pub fn check_source(name: &str, text: &str, overrides: &[String]) -> CheckOutput {
    let mut l = Loader::default();
    l.add_root_text(Path::new(name), text.as_bytes().to_vec());
    finish(l, overrides, DEFAULT_LET_INPUT, "--set")
}

/// Like [`check_path`], with the overrides shown in diagnostics as given by `flag` (e.g.
/// `--grid`), so that errors name the flag they came from.
pub fn check_path_from(path: &Path, overrides: &[String], flag: &str) -> CheckOutput {
    load_and_finish(path, overrides, DEFAULT_LET_INPUT, flag)
}

/// Like [`check_path`], elaborating parameterless `let`s at input width `input`.
pub fn check_path_with(path: &Path, overrides: &[String], input: usize) -> CheckOutput {
    load_and_finish(path, overrides, input, "--set")
}

fn load_and_finish(path: &Path, overrides: &[String], input: usize, flag: &str) -> CheckOutput {
    let mut l = Loader::default();
    let mut yaml = None;
    match std::fs::read(path) {
        Ok(bytes) if syntax::yaml::is_yaml(path) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match syntax::yaml::to_mx(&text) {
                Ok(t) => {
                    l.add_root_text(path, t.mx.clone().into_bytes());
                    yaml = Some((text, t));
                }
                Err(e) => {
                    let id = l.diags.add_file(path.display().to_string(), text);
                    l.diags.push(
                        Diag::error(
                            "MX0107",
                            e.message,
                            Span::new(id, e.span.start, e.span.end),
                            "here",
                        )
                        .with_help("see `memoraxc explain MX0107` for the YAML agent format"),
                    );
                    l.root_empty = false;
                }
            }
        }
        Ok(bytes) => l.add_root_text(path, bytes),
        Err(e) => {
            let id = l.diags.add_file(path.display().to_string(), "");
            l.diags.push(Diag::error(
                "MX0105",
                format!("cannot read `{}`: {e}", path.display()),
                Span::new(id, 0, 0),
                "unreadable",
            ));
        }
    }
    let mut out = finish(l, overrides, input, flag);
    if let Some((text, t)) = yaml {
        // diagnostics point into the YAML file, not the generated .mx
        let root = FileId(0);
        out.diagnostics.files[0].text = text;
        for d in &mut out.diagnostics.diags {
            for l in std::iter::once(&mut d.primary).chain(d.secondary.iter_mut()) {
                if l.span.file == root {
                    let r = t.map(l.span.start..l.span.end);
                    l.span = Span::new(root, r.start, r.end);
                }
            }
        }
    }
    out
}

struct Loaded {
    id: FileId,
    file: ast::File,
}

#[derive(Default)]
struct Loader {
    diags: Diagnostics,
    files: Vec<Loaded>,
    by_path: HashMap<PathBuf, FileId>,
    stack: Vec<PathBuf>,
    import_spans: Vec<Span>,
    root_empty: bool,
}

fn key_of(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Loader {
    fn add_root_text(&mut self, path: &Path, bytes: Vec<u8>) {
        let errors = self.diags.diags.len();
        let id = self.load_bytes(path, bytes);
        let is_empty = self.diags.diags.len() == errors
            && self
                .files
                .iter()
                .any(|f| f.id == id && f.file.items.is_empty());
        if is_empty {
            self.root_empty = true;
            self.diags.push(
                Diag::warning(
                    "MX0603",
                    "file contains no items",
                    Span::new(id, 0, 0),
                    "empty",
                )
                .with_help("add an `agent` or a `let`"),
            );
        }
    }

    fn load_bytes(&mut self, path: &Path, bytes: Vec<u8>) -> FileId {
        let key = key_of(path);
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = self.diags.add_file(path.display().to_string(), text);
                self.diags.push(
                    Diag::error(
                        "MX0105",
                        "file is not valid UTF-8",
                        Span::new(id, at, at + 1),
                        "invalid byte here",
                    )
                    .with_help("save the file as UTF-8"),
                );
                self.by_path.insert(key, id);
                return id;
            }
        };
        let id = self
            .diags
            .add_file(path.display().to_string(), text.clone());
        self.by_path.insert(key.clone(), id);
        let (file, errs) = syntax::parse(&text, id);
        for d in errs {
            self.diags.push(d);
        }
        self.stack.push(key);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for it in &file.items {
            if let ast::ItemKind::Import(imp) = &it.kind {
                let target = dir.join(&imp.path);
                let span = Span::new(id, imp.path_span.start, imp.path_span.end);
                self.import(&target, span);
            }
        }
        self.stack.pop();
        self.files.push(Loaded { id, file });
        id
    }

    fn import(&mut self, target: &Path, span: Span) {
        let key = key_of(target);
        if let Some(pos) = self.stack.iter().position(|p| *p == key) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| {
                    p.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            let first = self.import_spans.get(pos).copied().unwrap_or(span);
            let mut d = Diag::error(
                "MX0204",
                format!("import cycle: {}", chain.join(" -> ")),
                first,
                "this import leads back to this file",
            )
            .with_help("move the shared `let`s into a third file that both import");
            if first != span {
                d = d.with_label(span, "closes the cycle");
            }
            self.diags.push(d);
            return;
        }
        if self.by_path.contains_key(&key) {
            return;
        }
        if self.stack.len() > 64 {
            self.diags.push(Diag::error(
                "MX0104",
                "imports nested too deeply",
                span,
                "here",
            ));
            return;
        }
        match std::fs::read(target) {
            Ok(bytes) => {
                self.import_spans.push(span);
                self.load_bytes(target, bytes);
                self.import_spans.pop();
            }
            Err(e) => self.diags.push(
                Diag::error(
                    "MX0209",
                    format!("cannot import `{}`: {e}", target.display()),
                    span,
                    "not found",
                )
                .with_help("import paths are relative to the importing file"),
            ),
        }
    }
}

/// Is a let body (syntactically) a block?
fn is_block_let(body: &ast::Expr, lets: &HashMap<String, eval::LetInfo<'_>>, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    match &body.kind {
        ast::ExprKind::Pipe(_) | ast::ExprKind::Repeat(..) => true,
        ast::ExprKind::Name(n) | ast::ExprKind::Call(ast::Ident { name: n, .. }, _) => {
            if let Some(l) = lets.get(n) {
                return is_block_let(&l.def.body, lets, depth + 1);
            }
            matches!(n.as_str(), "stack" | "shared")
                || registry::lookup(n).is_none_or(|e| registry::BLOCK_CATS.contains(&e.cat))
        }
        _ => false,
    }
}

fn parse_overrides(diags: &mut Diagnostics, overrides: &[String], flag: &str) -> agent::Overrides {
    let mut ov = agent::Overrides::default();
    if overrides.is_empty() {
        return ov;
    }
    let text = overrides.join("\n");
    let id = diags.add_file(flag, text.clone());
    let mut base = 0;
    for line in overrides {
        let line_span = Span::new(id, base, base + line.len());
        let next = base + line.len() + 1;
        let Some(eq) = line.find('=') else {
            diags.push(
                Diag::error(
                    "MX0214",
                    format!("override `{line}` is not `key=value`"),
                    line_span,
                    "no `=`",
                )
                .with_help("write e.g. `--set optimizer.lr=1e-4`"),
            );
            base = next;
            continue;
        };
        let key = line[..eq].trim();
        let kstart = base + (line[..eq].len() - line[..eq].trim_start().len());
        let kspan = ast::Sp::new(kstart, kstart + key.len());
        let value =
            match syntax::parse_override_value(&text[..base + line.len()], base + eq + 1, id) {
                Ok(v) => v,
                Err(ds) => {
                    for d in ds {
                        diags.push(d);
                    }
                    base = next;
                    continue;
                }
            };
        let (group, field) = match key.split_once('.') {
            Some((g, f)) => (g, f),
            None => ("", key),
        };
        let ident = |name: &str, start: usize| ast::Ident {
            name: name.to_string(),
            span: ast::Sp::new(start, start + name.len()),
        };
        let arg_span = ast::Sp::new(kstart, base + line.len());
        let is_algo = group == "algorithm"
            || registry::lookup_cat(group, &[registry::Cat::Algorithm]).is_some();
        let is_opt = group == "optimizer"
            || registry::lookup_cat(group, &[registry::Cat::Optimizer]).is_some();
        let fstart = kstart + group.len() + 1;
        if group.is_empty() && agent::SLOTS.contains(&field) {
            ov.slots.push((ident(field, kstart), value, id));
        } else if is_algo && !field.is_empty() {
            ov.algorithm.push((
                ast::Arg {
                    name: Some(ident(field, fstart)),
                    value,
                    span: arg_span,
                },
                id,
            ));
        } else if is_opt && !field.is_empty() {
            ov.optimizer.push((
                ast::Arg {
                    name: Some(ident(field, fstart)),
                    value,
                    span: arg_span,
                },
                id,
            ));
        } else if group == "train" && !field.is_empty() {
            ov.train.push((ident(field, fstart), value, id));
        } else {
            let cands = [
                "env",
                "algorithm.",
                "optimizer.",
                "train.steps",
                "train.seed",
                "train.eval_every",
                "train.eval_episodes",
            ];
            let mut d = Diag::error(
                "MX0214",
                format!("unknown setting `{key}`"),
                Span::new(id, kspan.start, kspan.end),
                "unknown key",
            );
            d = d.with_help(match eval::suggest(key, cands) {
                Some(s) => format!("did you mean `{s}`? keys: env, <slot>, algorithm.<hparam>, optimizer.<arg>, train.<key>"),
                None => "keys: env, <slot>, algorithm.<hparam>, optimizer.<arg>, train.<key>".into(),
            });
            diags.push(d);
        }
        base = next;
    }
    ov
}

fn finish(mut l: Loader, overrides: &[String], input: usize, flag: &str) -> CheckOutput {
    let ov = parse_overrides(&mut l.diags, overrides, flag);
    let mut diags = std::mem::take(&mut l.diags);
    let mut files = std::mem::take(&mut l.files);
    files.sort_by_key(|f| f.id);
    let root = files.iter().find(|f| f.id == FileId(0)).map(|f| f.id);
    // lets and agents
    let mut lets: HashMap<String, eval::LetInfo<'_>> = HashMap::new();
    let mut agents: Vec<(&ast::Agent, FileId)> = Vec::new();
    for f in &files {
        for it in &f.file.items {
            match &it.kind {
                ast::ItemKind::Let(d) => {
                    if let Some(prev) = lets.get(&d.name.name) {
                        diags.push(
                            Diag::error(
                                "MX0210",
                                format!("`{}` is defined twice", d.name.name),
                                Span::new(f.id, d.name.span.start, d.name.span.end),
                                "second definition",
                            )
                            .with_label(
                                Span::new(
                                    prev.file,
                                    prev.def.name.span.start,
                                    prev.def.name.span.end,
                                ),
                                "first defined here",
                            ),
                        );
                        continue;
                    }
                    lets.insert(d.name.name.clone(), eval::LetInfo { def: d, file: f.id });
                }
                ast::ItemKind::Agent(a) if a.recovered => {}
                ast::ItemKind::Agent(a) => {
                    if let Some((prev, pf)) =
                        agents.iter().find(|(p, _)| p.name.name == a.name.name)
                    {
                        diags.push(
                            Diag::error(
                                "MX0210",
                                format!("agent `{}` is defined twice", a.name.name),
                                Span::new(f.id, a.name.span.start, a.name.span.end),
                                "second definition",
                            )
                            .with_label(
                                Span::new(*pf, prev.name.span.start, prev.name.span.end),
                                "first defined here",
                            ),
                        );
                        continue;
                    }
                    agents.push((a, f.id));
                }
                ast::ItemKind::Import(_) => {}
            }
        }
    }
    let names: Vec<String> = diags.files.iter().map(|f| f.name.clone()).collect();
    let block_lets: Vec<(String, FileId)> = {
        let mut v: Vec<(String, FileId)> = lets
            .iter()
            .filter(|(_, l)| {
                l.def
                    .params
                    .as_ref()
                    .is_none_or(|ps| ps.iter().all(|p| p.default.is_some()))
            })
            .filter(|(_, l)| is_block_let(&l.def.body, &lets, 0))
            .map(|(n, l)| (n.clone(), l.file))
            .collect();
        v.sort();
        v
    };
    let mut el = eval::Elab::new(lets);
    let mut program = ir::Program::default();
    for (a, f) in &agents {
        if let Some(agent) = agent::check_agent(&mut el, &names, a, *f, &ov) {
            program.agents.push(agent);
        }
    }
    let root_has_agents = agents.iter().any(|(_, f)| Some(*f) == root);
    if root_has_agents && let Some(rf) = files.iter().find(|f| Some(f.id) == root) {
        for it in &rf.file.items {
            if let ast::ItemKind::Let(d) = &it.kind
                && !el.used.contains(&d.name.name)
            {
                el.diags.push(
                    Diag::warning(
                        "MX0602",
                        format!("`{}` is never used", d.name.name),
                        Span::new(rf.id, d.name.span.start, d.name.span.end),
                        "unused",
                    )
                    .with_help("remove it, or move it into a library file"),
                );
            }
        }
    }
    // architecture lets
    let env0 = Rc::new(HashMap::new());
    let report_lets = !root_has_agents && !l.root_empty;
    for (name, lfile) in block_lets {
        let before = el.diags.len();
        let quiet = !(report_lets && Some(lfile) == root);
        let Some(def) = el.lets.get(&name).map(|l| l.def) else {
            continue;
        };
        let call = ast::Expr {
            kind: ast::ExprKind::Name(name.clone()),
            span: def.name.span,
        };
        let call: &ast::Expr = Box::leak(Box::new(call));
        let term = el.block(call, &env0, lfile);
        let mut inst = inst::Inst::new(&names, 0);
        let blk = term.and_then(|t| inst.block(&t, input, &name));
        if quiet {
            el.diags.truncate(before);
        } else {
            el.diags.append(&mut inst.diags);
        }
        if let Some(b) = blk {
            program.lets.insert(name, b);
        }
    }
    for d in el.diags.drain(..) {
        diags.push(d);
    }
    CheckOutput {
        program,
        diagnostics: diags,
    }
}
