//! Progress lines for long operator commands, on stderr: redrawn in place
//! on a terminal, one line every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: &'static str,
    total_bytes: u64,
    tty: bool,
    last: Option<Instant>,
    quiet: bool,
}

impl Progress {
    /// `quiet` turns it off (for `--json` to a pipe with no one watching,
    /// progress still goes to stderr, so it is only off on request).
    pub fn new(label: &'static str, total_bytes: u64, quiet: bool) -> Progress {
        Progress {
            label,
            total_bytes,
            tty: std::io::stderr().is_terminal(),
            last: None,
            quiet,
        }
    }

    pub fn update(&mut self, done_bytes: u64, detail: &str) {
        if self.quiet {
            return;
        }
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        let now = Instant::now();
        if matches!(self.last, Some(t) if now.duration_since(t) < every) {
            return;
        }
        self.last = Some(now);
        let pct = if self.total_bytes == 0 {
            100.0
        } else {
            done_bytes as f64 * 100.0 / self.total_bytes as f64
        };
        let line = format!(
            "{}: {:5.1}%  {} / {}  {}",
            self.label,
            pct,
            human_bytes(done_bytes),
            human_bytes(self.total_bytes),
            detail
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    pub fn finish(&mut self) {
        if self.tty && !self.quiet && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}
