//! `memoraxc envs`: list environments, describe one, or run a random-policy baseline.

use crate::check::env_table;

/// Arguments of `memoraxc envs`.
#[derive(clap::Args, Debug)]
pub struct EnvsArgs {
    /// Environment id (`gymnax::CartPole-v1`, `popgym::RepeatPreviousEasy`, a `popjym::` alias).
    pub id: Option<String>,
    /// Run a baseline policy on the environment (only `random`).
    #[arg(long, value_name = "POLICY")]
    pub baseline: Option<String>,
    /// Number of complete episodes for the baseline.
    #[arg(long, default_value_t = 100)]
    pub episodes: usize,
    /// Seed for the baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format: `text`, `json`, or `md` (the README's environment table).
    #[arg(long, default_value = "text")]
    pub format: String,
}

fn unknown(id: &str) -> u8 {
    eprintln!("error: unknown environment `{id}`");
    if let Some(why) = env_table::popjym_difference(id) {
        eprintln!("  note: not accepted as an alias: {why}");
    }
    let s = env_table::suggest(id);
    if !s.is_empty() {
        eprintln!(
            "  help: did you mean {}?",
            s.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    eprintln!("  help: `memoraxc envs` lists every id");
    super::EXIT_USER
}

/// Print one line to stdout; a closed pipe (`memoraxc envs | head`) is not an error.
fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn describe(info: &crate::check::ir::EnvInfo, json: bool) {
    if json {
        let v = serde_json::json!({
            "id": info.id,
            "observation_space": info.obs_space,
            "action_space": info.action_space_text,
            "obs_dim": info.obs_dim,
            "max_steps": info.max_steps,
            "image": env_table::image_shape(&info.id).map(|(h, w, c)| [h, w, c]),
            "agents": info.agents,
        });
        emit(format_args!("{v}"));
    } else {
        let obs = info
            .obs_space
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let obs = if obs.len() > 60 {
            format!("{}…", &obs[..59])
        } else {
            obs
        };
        let steps = info
            .max_steps
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        // multi-agent entries: spaces are per agent
        let agents = if info.agents > 1 {
            format!("  agents {} (spaces per agent)", info.agents)
        } else {
            String::new()
        };
        emit(format_args!(
            "{:<40} obs {:<62} [{:>3}]  act {:<24} T {}{agents}",
            info.id, obs, info.obs_dim, info.action_space_text, steps
        ));
    }
}

/// Every registered environment as a Markdown table (the README embeds it; a test keeps them equal).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| id | observation space | obs width | action space | max steps |\n|---|---|---|---|---|\n",
    );
    for info in env_table::all() {
        let obs = info
            .obs_space
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let act = info
            .action_space_text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let steps = info
            .max_steps
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "| `{}` | `{obs}` | {} | `{act}` | {steps} |\n",
            info.id, info.obs_dim
        ));
    }
    out
}

/// Run the subcommand; returns the exit code.
pub fn run(args: EnvsArgs) -> u8 {
    if args.format == "md" && args.id.is_none() {
        print!("{}", markdown_table());
        return super::EXIT_OK;
    }
    let json = match args.format.as_str() {
        "json" => true,
        "text" => false,
        other => {
            eprintln!("error: unknown format `{other}` (expected `text` or `json`)");
            return super::EXIT_USAGE;
        }
    };
    let Some(id) = args.id else {
        if args.baseline.is_some() {
            eprintln!("error: --baseline needs an environment id");
            return super::EXIT_USAGE;
        }
        for info in env_table::all() {
            describe(&info, json);
        }
        return super::EXIT_OK;
    };
    let Some(info) = env_table::lookup(&id) else {
        return unknown(&id);
    };
    match args.baseline.as_deref() {
        None => {
            describe(&info, json);
            super::EXIT_OK
        }
        Some("random") => match crate::envs::baseline::random(&id, args.episodes, args.seed) {
            Ok(stats) => {
                if json {
                    emit(format_args!(
                        "{}",
                        serde_json::to_string(&stats).unwrap_or_default()
                    ));
                } else {
                    emit(format_args!(
                        "{}: {} episodes, return {:.4} ± {:.4} (std), length {:.2}",
                        stats.env,
                        stats.episodes,
                        stats.return_mean,
                        stats.return_std,
                        stats.length_mean
                    ));
                }
                super::EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                super::EXIT_USER
            }
        },
        Some(other) => {
            eprintln!("error: unknown baseline `{other}` (available: random)");
            super::EXIT_USAGE
        }
    }
}
