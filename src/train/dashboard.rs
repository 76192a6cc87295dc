//! The live terminal dashboard: a progress bar on a TTY, plain periodic lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Progress display for one run.
pub struct Dashboard {
    bar: Option<ProgressBar>,
    last_line: Instant,
    quiet: bool,
}

impl Dashboard {
    /// A dashboard for `total` env steps starting at `done`.
    pub fn new(total: u64, done: u64, quiet: bool) -> Self {
        let bar = if !quiet && std::io::stderr().is_terminal() {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_position(done);
            Some(b)
        } else {
            None
        };
        Dashboard {
            bar,
            last_line: Instant::now() - Duration::from_secs(3600),
            quiet,
        }
    }

    /// Update with the current step count and a status message.
    pub fn update(&mut self, steps: u64, total: u64, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_position(steps);
                b.set_message(msg.to_string());
            }
            None if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(5) => {
                eprintln!("[{steps}/{total}] {msg}");
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    /// Print a line above the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// Finish the display.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
