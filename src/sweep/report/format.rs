//! Rendering of report rows: Markdown and LaTeX tables ready for a paper (with each
//! configuration's canonical `.mx` snippet and hash), CSV and JSON.

use super::{Metric, Row};
use crate::stats::{Bootstrap, Estimate};

/// Output format of `memoraxc report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown table and snippets.
    Md,
    /// LaTeX (booktabs) table and snippets.
    Latex,
    /// CSV, one line per configuration.
    Csv,
    /// JSON, with the scores and programs.
    Json,
}

/// A number with precision suited to its size.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn est(e: &Estimate) -> String {
    if !e.point.is_finite() {
        return "–".into();
    }
    format!("{} [{}, {}]", num(e.point), num(e.lo), num(e.hi))
}

fn caption(rows: &[Row], metric: &Metric, boot: &Bootstrap) -> String {
    let mut envs: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.envs.iter().map(String::as_str))
        .collect();
    envs.sort();
    envs.dedup();
    let missing: usize = rows.iter().map(|r| r.missing).sum();
    let mut s = format!(
        "{} on {}; n: seeds per configuration; IQM: interquartile mean (25 % trimmed); \
         95 % CIs from a stratified bootstrap ({} resamples, seed {}), after Agarwal et al. (2021).",
        capitalise(&metric.describe()),
        if envs.is_empty() {
            "-".into()
        } else {
            envs.join(", ")
        },
        boot.reps,
        boot.seed
    );
    if missing > 0 {
        s.push_str(&format!(" {missing} unfinished run(s) left out."));
    }
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Render rows in `format`.
pub fn render(rows: &[Row], format: Format, metric: &Metric, boot: &Bootstrap) -> String {
    match format {
        Format::Md => markdown(rows, metric, boot),
        Format::Latex => latex(rows, metric, boot),
        Format::Csv => csv(rows),
        Format::Json => serde_json::to_string_pretty(rows).expect("json") + "\n",
    }
}

fn markdown(rows: &[Row], metric: &Metric, boot: &Bootstrap) -> String {
    let mut s = String::from(
        "| configuration | n | mean [95% CI] | IQM [95% CI] | hash |\n|---|---:|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | `{}` |\n",
            r.group.label.replace('|', "\\|"),
            r.n,
            est(&r.mean),
            est(&r.iqm),
            r.group.hash
        );
    }
    s += &format!("\n{}\n", caption(rows, metric, boot));
    for r in rows {
        s += &format!(
            "\n**{}** (`{}`)\n\n```mx\n{}\n```\n",
            r.group.label,
            r.group.hash,
            r.group.program.trim_end()
        );
    }
    s
}

/// Escape LaTeX special characters in running text.
pub fn tex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str(r"\textasciitilde{}"),
            '^' => out.push_str(r"\textasciicircum{}"),
            _ => out.push(c),
        }
    }
    out
}

fn tex_est(e: &Estimate) -> String {
    if !e.point.is_finite() {
        return "--".into();
    }
    format!("{} [{}, {}]", num(e.point), num(e.lo), num(e.hi))
}

fn latex(rows: &[Row], metric: &Metric, boot: &Bootstrap) -> String {
    let mut s = String::from(
        "% requires \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n\\small\n\
         \\begin{tabular}{lrlll}\n\\toprule\n\
         Configuration & $n$ & Mean [95\\% CI] & IQM [95\\% CI] & Hash \\\\\n\\midrule\n",
    );
    for r in rows {
        s += &format!(
            "{} & {} & {} & {} & \\texttt{{{}}} \\\\\n",
            tex(&r.group.label),
            r.n,
            tex_est(&r.mean),
            tex_est(&r.iqm),
            tex(&r.group.hash)
        );
    }
    s += &format!(
        "\\bottomrule\n\\end{{tabular}}\n\\caption{{{}}}\n\\end{{table}}\n",
        tex(&caption(rows, metric, boot))
    );
    for r in rows {
        s += &format!(
            "\n\\paragraph{{{} (\\texttt{{{}}})}}\n\\begin{{verbatim}}\n{}\n\\end{{verbatim}}\n",
            tex(&r.group.label),
            tex(&r.group.hash),
            r.group.program.trim_end()
        );
    }
    s
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "configuration,agent,env,hash,n,missing,mean,mean_lo,mean_hi,iqm,iqm_lo,iqm_hi\n",
    );
    for r in rows {
        let f = |x: f64| {
            if x.is_finite() {
                format!("{x}")
            } else {
                String::new()
            }
        };
        s += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_cell(&r.group.label),
            csv_cell(&r.group.agent),
            csv_cell(&r.envs.join(" ")),
            r.group.hash,
            r.n,
            r.missing,
            f(r.mean.point),
            f(r.mean.lo),
            f(r.mean.hi),
            f(r.iqm.point),
            f(r.iqm.lo),
            f(r.iqm.hi)
        );
    }
    s
}
