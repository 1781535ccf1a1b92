//! A service's log file (`log_file:`): its relayed lines appended as they
//! come, rotated by size in foster itself (`web.log` → `web.log.1` → … up
//! to `log_keep`, the oldest dropped), no logrotate and no copytruncate.
//!
//! A line is never split across files and never half written: a rotation
//! happens between lines, and a write the disk cut short is taken back
//! (the file truncated to where it was). A write that fails (a full disk,
//! a removed directory) drops that line, counts it, and says so once; the
//! service is never slowed or stopped for it, and writing resumes on its
//! own once it can (the file is opened again at most once a second).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log::{info, warn};

/// How often a file that could not be written is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Where a service's lines go, and how its file is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: PathBuf,
    /// Rotate before a line would take the file past this many bytes.
    pub max_size: u64,
    /// How many rotated files (`PATH.1` … `PATH.N`) are kept.
    pub keep: u32,
    /// Who the file belongs to (the service's user and group).
    pub owner: Option<(u32, u32)>,
}

/// One service's open log file.
pub struct LogFile {
    name: String,
    pub spec: FileSpec,
    file: Option<File>,
    size: u64,
    /// Lines dropped since the file last took one.
    dropped: u64,
    /// When a failed open or write may be tried again.
    retry_at: Option<Instant>,
}

impl LogFile {
    pub fn new(name: &str, spec: FileSpec) -> LogFile {
        LogFile {
            name: name.to_string(),
            spec,
            file: None,
            size: 0,
            dropped: 0,
            retry_at: None,
        }
    }

    /// Appends the whole lines of `lines` (each ending with a newline).
    pub fn append(&mut self, lines: &[u8]) {
        for line in lines.split_inclusive(|&b| b == b'\n') {
            self.append_line(line);
        }
    }

    fn append_line(&mut self, line: &[u8]) {
        let now = Instant::now();
        if self.file.is_none() {
            if self.retry_at.is_some_and(|at| now < at) {
                self.drop_line();
                return;
            }
            if let Err(e) = self.open() {
                self.failed(&format!("cannot open it: {e}"), now);
                self.drop_line();
                return;
            }
        }
        let len = line.len() as u64;
        if self.size > 0
            && self.size.saturating_add(len) > self.spec.max_size
            && let Err(e) = self.rotate()
        {
            self.failed(&format!("cannot rotate it: {e}"), now);
            self.drop_line();
            return;
        }
        let Some(file) = self.file.as_mut() else {
            self.drop_line();
            return;
        };
        match file.write(line) {
            Ok(n) if n == line.len() => {
                self.size = self.size.saturating_add(len);
                if self.dropped > 0 {
                    info!(
                        "{}: writing {} again ({} lines were dropped)",
                        self.name,
                        self.spec.path.display(),
                        self.dropped
                    );
                    self.dropped = 0;
                }
                self.retry_at = None;
            }
            result => {
                // Cut short or refused: the part written is taken back, so
                // that the file holds whole lines only.
                let _ = file.set_len(self.size);
                let why = match result {
                    Err(e) => e.to_string(),
                    Ok(_) => "the disk is full".to_string(),
                };
                self.failed(&format!("cannot write it: {why}"), now);
                self.file = None;
                self.drop_line();
            }
        }
    }

    /// Opens (creating it `0640`, owned by the service's user) the file.
    fn open(&mut self) -> std::io::Result<()> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&self.spec.path)?;
        if let Some((uid, gid)) = self.spec.owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// `PATH.N-1` → `PATH.N`, …, `PATH` → `PATH.1` (what passes `keep` is
    /// gone), and a new `PATH`.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let path = &self.spec.path;
        if self.spec.keep == 0 {
            if path.exists() {
                std::fs::remove_file(path)?;
            }
        } else {
            for n in (1..self.spec.keep).rev() {
                let from = numbered(path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(path, n + 1))?;
                }
            }
            // Gone (removed by hand): nothing to keep of it.
            if path.exists() {
                std::fs::rename(path, numbered(path, 1))?;
            }
        }
        self.open()
    }

    fn drop_line(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
    }

    /// The first failure since the file last worked is said; the next try
    /// is a second away.
    fn failed(&mut self, why: &str, now: Instant) {
        if self.dropped == 0 {
            warn!(
                "{}: log file {}: {why}; its lines are dropped (and counted) until it can be written",
                self.name,
                self.spec.path.display()
            );
        }
        self.retry_at = Some(now + RETRY_EVERY);
    }
}

/// `PATH.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
