//! The demo's progress display on stderr ([`Ui`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr: one spinner (or bar) per step, lines above it.
pub struct Ui {
    bar: Mutex<Option<(ProgressBar, String, Instant)>>,
}

impl Default for Ui {
    fn default() -> Self {
        Self::new()
    }
}

impl Ui {
    /// No step yet.
    pub fn new() -> Ui {
        Ui {
            bar: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(ProgressBar, String, Instant)>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line of progress, above the running step's spinner.
    pub fn say(&self, line: &str) {
        match &*self.lock() {
            Some((b, _, _)) => b.println(format!("    {line}")),
            None => eprintln!("    {line}"),
        }
    }

    /// Starts a step: a spinner with its name and elapsed time.
    pub fn start(&self, name: &str) {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.set_message(name.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        if let Some((old, _, _)) = self.lock().replace((b, name.to_string(), Instant::now())) {
            old.finish_and_clear();
        }
    }

    /// Turns the spinner into a bar at `pos` of `len` `unit`.
    pub fn progress(&self, pos: u64, len: u64, unit: &str) {
        if let Some((b, name, _)) = &*self.lock() {
            if b.length() != Some(len) {
                b.set_style(
                    ProgressStyle::with_template(&format!(
                        "{{spinner}} [{{elapsed_precise}}] {{msg}} {{wide_bar}} {{pos}}/{{len}} {unit} (eta {{eta}})"
                    ))
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_length(len);
                b.set_message(name.clone());
            }
            b.set_position(pos);
        }
    }

    /// Ends the running step; returns its time.
    pub fn end(&self, ok: bool) -> f64 {
        match self.lock().take() {
            Some((b, name, t)) => {
                b.finish_and_clear();
                let s = t.elapsed().as_secs_f64();
                eprintln!("{} {name} ({s:.1} s)", if ok { "✔" } else { "✘" });
                s
            }
            None => 0.0,
        }
    }
}
