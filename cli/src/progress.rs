//! A progress bar on standard error, drawn in place with carriage returns.

use std::io::Write;
use std::time::{Duration, Instant};

/// A progress bar: `purging [#########           ] 4500/10000 45%`.
pub struct Progress {
    shown: bool,
    label: &'static str,
    total: u64,
    done: u64,
    drawn: Option<Instant>,
}

/// Width of the bar, in characters.
const WIDTH: u64 = 30;
/// The bar is redrawn at most this often (and once at the end).
const EVERY: Duration = Duration::from_millis(100);

impl Progress {
    /// A bar counting up to `total`; draws nothing unless `shown`.
    pub fn new(shown: bool, label: &'static str, total: u64) -> Progress {
        let mut p = Progress {
            shown,
            label,
            total,
            done: 0,
            drawn: None,
        };
        p.draw();
        p
    }

    /// Sets how much is done, and redraws if it is time to.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self.drawn.is_none_or(|t| t.elapsed() >= EVERY) {
            self.draw();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self) {
        if self.shown {
            self.draw();
            eprintln!();
            self.shown = false;
        }
    }

    fn draw(&mut self) {
        if !self.shown {
            return;
        }
        // The total was counted before the purge began: more may have expired since.
        let total = self.total.max(self.done).max(1);
        let filled = self.done * WIDTH / total;
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { ' ' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{bar}] {}/{} {}%",
            self.label,
            self.done,
            total,
            self.done * 100 / total
        );
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
