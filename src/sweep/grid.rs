//! The grid: `--grid key=v1,v2` axes and `--seeds` ranges, parsed and checked like source text
//! before anything runs.

use std::path::Path;

use super::{Axis, Config, SweepError};
use crate::check;

/// Split at commas outside brackets and quotes (`mlp(64, 64),gru(32)` is two values).
pub fn split_values(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '"' => quote = !quote,
            '(' | '[' | '{' if !quote => depth += 1,
            ')' | ']' | '}' if !quote => depth -= 1,
            ',' if !quote && depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// Parse the `--grid` flags; `set` are the `--set` flags (a key may not be in both).
pub fn parse_axes(args: &[String], set: &[String]) -> Result<Vec<Axis>, SweepError> {
    let user = |m: String| Err(SweepError::User(m));
    let mut axes: Vec<Axis> = Vec::new();
    for a in args {
        let Some((key, values)) = a.split_once('=') else {
            return user(format!(
                "--grid {a}: expected `key=v1,v2,...` (e.g. `--grid optimizer.lr=1e-3,3e-4`)"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return user(format!("--grid {a}: the key is empty"));
        }
        if key == "train.seed" {
            return user(format!(
                "--grid {a}: seeds are not a grid key; give them with --seeds (e.g. --seeds 0..9)"
            ));
        }
        let values = split_values(values);
        if values.iter().all(String::is_empty) {
            return user(format!(
                "--grid {a}: empty grid: `{key}` has no values (write e.g. `--grid {key}=v1,v2`)"
            ));
        }
        if let Some(i) = values.iter().position(String::is_empty) {
            return user(format!("--grid {a}: value {} of `{key}` is empty", i + 1));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return user(format!("--grid {a}: `{key}` lists `{v}` twice"));
            }
        }
        if axes.iter().any(|x| x.key == key) {
            return user(format!(
                "--grid {a}: duplicate key `{key}` (give each key once, with all its values)"
            ));
        }
        if set
            .iter()
            .any(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == key))
        {
            return user(format!(
                "--grid {a}: `{key}` is also given with --set; give it in one place"
            ));
        }
        axes.push(Axis {
            key: key.to_string(),
            values,
        });
    }
    Ok(axes)
}

/// Parse `--seeds`: `a..b` (inclusive, as in `0..9` for ten seeds), `a..=b`, `a,b,c` or `a`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, SweepError> {
    let bad = |why: &str| {
        SweepError::User(format!(
            "--seeds {s}: {why} (write e.g. `--seeds 0..9` for seeds 0 to 9, or `--seeds 1,5,7`)"
        ))
    };
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad("not a seed"));
    let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b.strip_prefix('=').unwrap_or(b))?);
        if b < a {
            return Err(bad("empty range"));
        }
        (a..=b).collect()
    } else {
        s.split(',').map(num).collect::<Result<_, _>>()?
    };
    for (i, x) in seeds.iter().enumerate() {
        if seeds[..i].contains(x) {
            return Err(bad(&format!("seed {x} is listed twice")));
        }
    }
    Ok(seeds)
}

/// The cartesian product of the axes (the first axis varies slowest): each point's overrides.
pub fn product(axes: &[Axis]) -> Vec<Vec<String>> {
    let mut points = vec![Vec::new()];
    for ax in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                ax.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(format!("{}={v}", ax.key));
                    q
                })
            })
            .collect();
    }
    points
}

/// Check one list of overrides against `file`; the agent named `agent`, or the rendered errors.
fn check_one(
    file: &Path,
    agent: &str,
    overrides: &[String],
    json: bool,
) -> Result<check::ir::Agent, String> {
    let out = check::check_path_from(file, overrides, "--grid");
    if out.diagnostics.has_errors() {
        return Err(out.diagnostics.render(json));
    }
    out.program
        .agents
        .into_iter()
        .find(|a| a.name == agent)
        .ok_or_else(|| format!("error: no agent `{agent}` in {}\n", file.display()))
}

/// Check every grid value, then every configuration, against `file` with the `--set` overrides
/// `set`; returns the configurations (canonical program and hash each).
pub fn check_configs(
    file: &Path,
    agent: &str,
    set: &[String],
    axes: &[Axis],
    json: bool,
) -> Result<Vec<Config>, SweepError> {
    let with = |extra: &[String]| -> Vec<String> { set.iter().chain(extra).cloned().collect() };
    let mut errors = String::new();
    for ax in axes {
        for v in &ax.values {
            if let Err(e) = check_one(file, agent, &with(&[format!("{}={v}", ax.key)]), json) {
                errors.push_str(&e);
            }
        }
    }
    if !errors.is_empty() {
        return Err(SweepError::Diagnostics(errors));
    }
    let mut configs: Vec<Config> = Vec::new();
    for (index, overrides) in product(axes).into_iter().enumerate() {
        let a = check_one(file, agent, &with(&overrides), json).map_err(SweepError::Diagnostics)?;
        if let Some(prev) = configs.iter().find(|c| c.hash == a.hash) {
            return Err(SweepError::User(format!(
                "--grid: `{}` and `{}` give the same configuration (hash {}); drop one",
                super::label_of(&prev.overrides),
                super::label_of(&overrides),
                a.hash
            )));
        }
        configs.push(Config {
            index,
            overrides,
            hash: a.hash,
            program: a.canonical,
        });
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_top_level_commas() {
        assert_eq!(
            split_values("mlp(64, 64), gru(32),\"a,b\""),
            ["mlp(64, 64)", "gru(32)", "\"a,b\""]
        );
    }

    #[test]
    fn seeds_are_inclusive_ranges_or_lists() {
        assert_eq!(parse_seeds("0..3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_seeds("2..=3").unwrap(), [2, 3]);
        assert_eq!(parse_seeds("7,1").unwrap(), [7, 1]);
        assert!(parse_seeds("3..1").is_err());
        assert!(parse_seeds("1,1").is_err());
        assert!(parse_seeds("x").is_err());
    }

    #[test]
    fn product_varies_the_last_axis_fastest() {
        let axes = parse_axes(&["a=1,2".into(), "b=x,y".into()], &[]).unwrap();
        assert_eq!(
            product(&axes),
            [
                ["a=1", "b=x"],
                ["a=1", "b=y"],
                ["a=2", "b=x"],
                ["a=2", "b=y"]
            ]
        );
        assert_eq!(product(&[]), [Vec::<String>::new()]);
    }

    #[test]
    fn bad_axes_name_the_flag() {
        for (args, set, needle) in [
            (vec!["a="], vec![], "empty grid"),
            (vec!["a=1", "a=2"], vec![], "duplicate key"),
            (vec!["a=1,1"], vec![], "twice"),
            (vec!["a=1"], vec!["a=3"], "--set"),
            (vec!["train.seed=1,2"], vec![], "--seeds"),
            (vec!["novalue"], vec![], "key=v1"),
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            let set: Vec<String> = set.into_iter().map(String::from).collect();
            let e = parse_axes(&args, &set).unwrap_err().to_string();
            assert!(e.starts_with("--grid") && e.contains(needle), "{e}");
        }
    }
}
