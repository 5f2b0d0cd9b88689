//! A progress bar on standard error: redrawn in place on a terminal, a line every tenth
//! of the way otherwise (so that logs stay short).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    note: String,
    tty: bool,
    started: Instant,
    last_tenth: u64,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Self {
        Self {
            what,
            total: total.max(1),
            done: 0,
            note: String::new(),
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_tenth: 0,
        }
    }

    pub fn set_note(&mut self, note: String) {
        self.note = note;
    }

    pub fn set(&mut self, done: u64) {
        self.done = done.min(self.total);
        let tenth = self.done * 10 / self.total;
        if self.tty {
            self.draw('\r');
        } else if tenth > self.last_tenth {
            self.last_tenth = tenth;
            self.draw('\n');
        }
    }

    fn draw(&self, end: char) {
        const WIDTH: u64 = 30;
        let filled = (self.done * WIDTH / self.total) as usize;
        let bar: String = "█".repeat(filled) + &"░".repeat(WIDTH as usize - filled);
        let mut err = std::io::stderr().lock();
        let line = format!(
            "{} {bar} {:>3}% {}/{} {} ({:.0} s)",
            self.what,
            self.done * 100 / self.total,
            self.done,
            self.total,
            self.note,
            self.started.elapsed().as_secs_f64()
        );
        if end == '\r' {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.tty {
            self.draw('\r');
            eprintln!();
        } else if self.last_tenth < 10 {
            self.draw('\n');
        }
    }
}
