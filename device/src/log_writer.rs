//! Crash-safe offline event log: JSON Lines, one record per line, appended.
//!
//! - **Durability**: records are written with one `write` each (no user
//!   space buffer to lose) and fsynced every `fsync_every` records or
//!   `fsync_interval` of the [`Clock`] passed in, whichever comes first.
//! - **Torn lines**: a power cut can leave half a line at the end. On open,
//!   everything after the last newline is cut off and the number of bytes
//!   dropped is reported ([`LogWriter::repaired_bytes`]).
//! - **Rotation**: before a record would push the file past `max_bytes`,
//!   `file` becomes `file.1`, `file.1` becomes `file.2`, ... and the oldest
//!   beyond `keep` is deleted.
//! - **Disk full**: a failed write (`ENOSPC` or any I/O error) never stops
//!   the caller. The partial record is cut off again so the file holds only
//!   whole lines, the record is counted as dropped, and the error is logged
//!   once per episode: the first failure after a success.
//!
//! File access goes through the small [`LogFs`] trait so tests can simulate
//! a full disk; [`StdFs`] is the real file system.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;

/// An open log file.
pub trait LogFile {
    /// Current size in bytes.
    fn size(&mut self) -> io::Result<u64>;
    /// Appends `bytes`; may write only part of them before failing.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Reads up to `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Flushes data to the storage device.
    fn sync(&mut self) -> io::Result<()>;
}

/// The file operations the log needs.
pub trait LogFs {
    /// The file type.
    type File: LogFile;
    /// Opens `path` for reading and appending, creating it if needed.
    fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

/// A real log file.
#[derive(Debug)]
pub struct StdFile(File);

impl LogFile for StdFile {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl LogFs for StdFs {
    type File = StdFile;
    fn open(&self, path: &Path) -> io::Result<StdFile> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        // Append mode: every write lands at the end whatever the offset.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        Ok(StdFile(file))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Log settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The live log file.
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` ..= `path.keep`); 0 deletes the old
    /// file instead of keeping it.
    pub keep: u32,
    /// fsync after this many records (at least 1)...
    pub fsync_every: u32,
    /// ...or when this much time has passed since the last fsync.
    pub fsync_interval: Duration,
}

impl LogConfig {
    /// The settings of a board profile.
    pub fn from_profile(profile: &crate::board::BoardProfile) -> LogConfig {
        LogConfig {
            path: profile.log_path(),
            max_bytes: profile.log.rotate_bytes,
            keep: profile.log.keep,
            fsync_every: profile.log.fsync_every,
            fsync_interval: Duration::from_millis(u64::from(profile.log.fsync_interval_ms)),
        }
    }
}

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be opened, read or repaired.
    #[error("cannot open event log {path}: {source}; check that its directory exists and is writable (or change log.path in the board profile)")]
    Open {
        /// The log file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// What happened to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStatus {
    /// Appended.
    Written,
    /// Not stored: the file system refused it. `first_in_episode` is true
    /// for the first failure after a success (that one is logged).
    Dropped {
        /// First failure of an episode.
        first_in_episode: bool,
    },
}

/// Counters of a log writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records appended.
    pub written: u64,
    /// Records lost to write failures.
    pub dropped: u64,
    /// Failure episodes (runs of consecutive failures).
    pub episodes: u64,
    /// Rotations done.
    pub rotations: u64,
    /// fsyncs done.
    pub syncs: u64,
}

/// An append-only JSON Lines writer (see the module docs).
pub struct LogWriter<C: Clock, F: LogFs = StdFs> {
    fs: F,
    config: LogConfig,
    clock: C,
    file: F::File,
    size: u64,
    repaired: u64,
    unsynced: u32,
    last_sync: Duration,
    failing: bool,
    stats: LogStats,
    line: Vec<u8>,
}

impl<C: Clock> LogWriter<C, StdFs> {
    /// Opens (or creates) the log on the real file system.
    pub fn open(config: LogConfig, clock: C) -> Result<Self, LogError> {
        Self::open_with(StdFs, config, clock)
    }
}

impl<C: Clock, F: LogFs> LogWriter<C, F> {
    /// Opens (or creates) the log on `fs`, repairing a torn last line.
    pub fn open_with(fs: F, config: LogConfig, clock: C) -> Result<Self, LogError> {
        let open_err = |source| LogError::Open {
            path: config.path.clone(),
            source,
        };
        let mut file = fs.open(&config.path).map_err(open_err)?;
        let len = file.size().map_err(open_err)?;
        let keep = last_line_end(&mut file, len).map_err(open_err)?;
        let repaired = len - keep;
        if repaired > 0 {
            file.truncate(keep).map_err(open_err)?;
            file.sync().map_err(open_err)?;
            log::warn!(
                "event log {}: dropped a torn last line of {repaired} bytes (left by a crash or power cut)",
                config.path.display()
            );
        }
        let now = clock.now();
        Ok(LogWriter {
            fs,
            config,
            clock,
            file,
            size: keep,
            repaired,
            unsynced: 0,
            last_sync: now,
            failing: false,
            stats: LogStats::default(),
            line: Vec::with_capacity(256),
        })
    }

    /// Bytes of a torn last line cut off when the log was opened.
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired
    }

    /// The writer's counters.
    pub fn stats(&self) -> LogStats {
        self.stats
    }

    /// Whether the last write failed (a failure episode is under way).
    pub fn is_failing(&self) -> bool {
        self.failing
    }

    /// Size of the live file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one record as a JSON line. Never fails: a record that cannot
    /// be stored is counted and reported as [`WriteStatus::Dropped`].
    pub fn write<T: Serialize + ?Sized>(&mut self, record: &T) -> WriteStatus {
        self.line.clear();
        if let Err(e) = serde_json::to_writer(&mut self.line, record) {
            // A serialisation failure is a bug in the record type, not a
            // storage problem: report it every time.
            log::error!("event log: record cannot be serialised: {e}");
            self.stats.dropped += 1;
            return WriteStatus::Dropped {
                first_in_episode: false,
            };
        }
        self.line.push(b'\n');
        if self.size > 0 && self.size + self.line.len() as u64 > self.config.max_bytes {
            if let Err(e) = self.rotate() {
                // Keep appending to the current file rather than lose records.
                log::warn!(
                    "event log {}: rotation failed: {e}",
                    self.config.path.display()
                );
            }
        }
        match self.file.append(&self.line) {
            Ok(()) => {
                self.size += self.line.len() as u64;
                self.stats.written += 1;
                if self.failing {
                    self.failing = false;
                    log::info!(
                        "event log {}: writing again ({} records dropped so far)",
                        self.config.path.display(),
                        self.stats.dropped
                    );
                }
                self.unsynced += 1;
                self.maybe_sync();
                WriteStatus::Written
            }
            Err(e) => {
                // Cut any partial line so the file keeps whole records only.
                if let Err(e2) = self.file.truncate(self.size) {
                    log::debug!("event log: cutting a partial record failed: {e2}");
                }
                self.stats.dropped += 1;
                let first = !self.failing;
                if first {
                    self.failing = true;
                    self.stats.episodes += 1;
                    let fix = if e.raw_os_error() == Some(libc::ENOSPC) {
                        "the disk is full: free space; "
                    } else {
                        ""
                    };
                    log::error!(
                        "event log {}: cannot write ({e}); {fix}records are dropped until writing works again, the device keeps running",
                        self.config.path.display()
                    );
                }
                WriteStatus::Dropped {
                    first_in_episode: first,
                }
            }
        }
    }

    /// fsyncs now if records are pending.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync()?;
            self.stats.syncs += 1;
            self.unsynced = 0;
        }
        self.last_sync = self.clock.now();
        Ok(())
    }

    fn maybe_sync(&mut self) {
        let due = self.unsynced >= self.config.fsync_every.max(1)
            || self.clock.now().saturating_sub(self.last_sync) >= self.config.fsync_interval;
        if due {
            if let Err(e) = self.sync() {
                log::warn!(
                    "event log {}: fsync failed: {e}",
                    self.config.path.display()
                );
            }
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.config.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.sync()?;
        let path = self.config.path.clone();
        if self.config.keep == 0 {
            self.fs.remove(&path)?;
        } else {
            let oldest = self.rotated(self.config.keep);
            if self.fs.exists(&oldest) {
                self.fs.remove(&oldest)?;
            }
            for n in (1..self.config.keep).rev() {
                let from = self.rotated(n);
                if self.fs.exists(&from) {
                    self.fs.rename(&from, &self.rotated(n + 1))?;
                }
            }
            self.fs.rename(&path, &self.rotated(1))?;
        }
        self.file = self.fs.open(&path)?;
        self.size = self.file.size()?;
        self.stats.rotations += 1;
        Ok(())
    }
}

impl<C: Clock, F: LogFs> Drop for LogWriter<C, F> {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            log::warn!(
                "event log {}: final fsync failed: {e}",
                self.config.path.display()
            );
        }
    }
}

/// Offset just after the last newline in the first `len` bytes (0 when
/// there is none), scanning backwards in blocks.
fn last_line_end<L: LogFile>(file: &mut L, len: u64) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let want = (end - start) as usize;
        let mut got = 0;
        while got < want {
            let n = file.read_at(start + got as u64, &mut buf[got..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the log file shrank while it was being checked",
                ));
            }
            got += n;
        }
        if let Some(i) = buf[..want].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Rec {
        i: u32,
        label: String,
    }

    fn rec(i: u32) -> Rec {
        Rec {
            i,
            label: format!("record-{i}"),
        }
    }

    fn config(dir: &Path) -> LogConfig {
        LogConfig {
            path: dir.join("events.jsonl"),
            max_bytes: 1 << 20,
            keep: 3,
            fsync_every: 4,
            fsync_interval: Duration::from_millis(1000),
        }
    }

    fn read_records(path: &Path) -> Vec<Rec> {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "torn line in {path:?}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn appends_one_line_per_record_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        {
            let mut w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
            for i in 0..3 {
                assert_eq!(w.write(&rec(i)), WriteStatus::Written);
            }
        }
        let mut w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
        assert_eq!(w.repaired_bytes(), 0);
        w.write(&rec(3));
        drop(w);
        let got = read_records(&cfg.path);
        assert_eq!(got, (0..4).map(rec).collect::<Vec<_>>());
    }

    #[test]
    fn torn_last_line_is_cut_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let good = "{\"i\":0,\"label\":\"record-0\"}\n{\"i\":1,\"label\":\"record-1\"}\n";
        let torn = "{\"i\":2,\"lab";
        std::fs::write(&cfg.path, format!("{good}{torn}")).unwrap();
        let mut w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
        assert_eq!(w.repaired_bytes(), torn.len() as u64);
        w.write(&rec(2));
        drop(w);
        assert_eq!(read_records(&cfg.path), (0..3).map(rec).collect::<Vec<_>>());
    }

    #[test]
    fn torn_line_longer_than_a_block_and_file_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let long = "x".repeat(10_000);
        let good = "{\"i\":0,\"label\":\"a\"}\n";
        std::fs::write(&cfg.path, format!("{good}{long}")).unwrap();
        let w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
        assert_eq!(w.repaired_bytes(), 10_000);
        assert_eq!(w.size(), good.len() as u64);
        drop(w);
        std::fs::write(&cfg.path, "no newline at all").unwrap();
        let w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
        assert_eq!(w.repaired_bytes(), 17);
        drop(w);
        assert_eq!(std::fs::read(&cfg.path).unwrap().len(), 0);
    }

    #[test]
    fn rotation_keeps_k_files_of_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.max_bytes = 100;
        cfg.keep = 2;
        let mut w = LogWriter::open(cfg.clone(), MockClock::default()).unwrap();
        for i in 0..20 {
            assert_eq!(w.write(&rec(i)), WriteStatus::Written);
        }
        assert!(w.stats().rotations >= 3);
        drop(w);
        let p1 = dir.path().join("events.jsonl.1");
        let p2 = dir.path().join("events.jsonl.2");
        assert!(
            !dir.path().join("events.jsonl.3").exists(),
            "only keep = 2 rotated files"
        );
        for p in [&cfg.path, &p1, &p2] {
            assert!(std::fs::metadata(p).unwrap().len() <= 100, "{p:?}");
        }
        // The newest records, in order, across .2, .1 and the live file.
        let mut all = read_records(&p2);
        all.extend(read_records(&p1));
        all.extend(read_records(&cfg.path));
        let first = all[0].i;
        assert_eq!(all, (first..20).map(rec).collect::<Vec<_>>());
        assert!(first > 0, "older records were rotated away");
    }

    #[test]
    fn fsync_every_n_records_or_t_ms() {
        let dir = tempfile::tempdir().unwrap();
        let clock = MockClock::default();
        let mut w = LogWriter::open(config(dir.path()), clock.clone()).unwrap();
        for i in 0..3 {
            w.write(&rec(i));
        }
        assert_eq!(w.stats().syncs, 0);
        w.write(&rec(3));
        assert_eq!(w.stats().syncs, 1, "after fsync_every = 4 records");
        w.write(&rec(4));
        assert_eq!(w.stats().syncs, 1);
        clock.advance_ms(1000);
        w.write(&rec(5));
        assert_eq!(w.stats().syncs, 2, "after fsync_interval = 1000 ms");
    }

    /// A file system whose disk holds `free` more bytes: a write beyond it
    /// stores what fits, then fails with ENOSPC, as a real full disk does.
    #[derive(Clone)]
    struct TinyDisk {
        free: Rc<Cell<u64>>,
    }

    struct TinyFile {
        inner: StdFile,
        free: Rc<Cell<u64>>,
    }

    impl LogFile for TinyFile {
        fn size(&mut self) -> io::Result<u64> {
            self.inner.size()
        }
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            let fits = (self.free.get() as usize).min(bytes.len());
            self.inner.append(&bytes[..fits])?;
            self.free.set(self.free.get() - fits as u64);
            if fits < bytes.len() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            Ok(())
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            let before = self.inner.size()?;
            self.inner.truncate(len)?;
            self.free.set(self.free.get() + before.saturating_sub(len));
            Ok(())
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.inner.read_at(offset, buf)
        }
        fn sync(&mut self) -> io::Result<()> {
            self.inner.sync()
        }
    }

    impl LogFs for TinyDisk {
        type File = TinyFile;
        fn open(&self, path: &Path) -> io::Result<TinyFile> {
            Ok(TinyFile {
                inner: StdFs.open(path)?,
                free: self.free.clone(),
            })
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            StdFs.rename(from, to)
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            StdFs.remove(path)
        }
        fn exists(&self, path: &Path) -> bool {
            StdFs.exists(path)
        }
    }

    #[test]
    fn disk_full_drops_records_reports_once_per_episode_and_keeps_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let free = Rc::new(Cell::new(100));
        let disk = TinyDisk { free: free.clone() };
        let mut w = LogWriter::open_with(disk, cfg.clone(), MockClock::default()).unwrap();
        // Each record is 27 bytes: three fit in 100, the fourth is torn.
        let mut statuses = Vec::new();
        for i in 0..6 {
            statuses.push(w.write(&rec(i)));
        }
        use WriteStatus::*;
        assert_eq!(
            statuses,
            vec![
                Written,
                Written,
                Written,
                Dropped {
                    first_in_episode: true
                },
                Dropped {
                    first_in_episode: false
                },
                Dropped {
                    first_in_episode: false
                },
            ]
        );
        assert!(w.is_failing());
        // What was written before the failure is intact, with no partial line.
        assert_eq!(read_records(&cfg.path), (0..3).map(rec).collect::<Vec<_>>());

        // Space is freed: writing resumes and the episode ends.
        free.set(1000);
        assert_eq!(w.write(&rec(6)), Written);
        assert!(!w.is_failing());
        free.set(0);
        assert_eq!(
            w.write(&rec(7)),
            Dropped {
                first_in_episode: true
            }
        );
        let s = w.stats();
        assert_eq!((s.written, s.dropped, s.episodes), (4, 4, 2));
        drop(w);
        let got = read_records(&cfg.path);
        assert_eq!(got, vec![rec(0), rec(1), rec(2), rec(6)]);
    }

    #[test]
    fn dev_full_never_stops_the_writer() {
        let path = Path::new("/dev/full");
        if !path.exists() {
            return; // not Linux
        }
        let cfg = LogConfig {
            path: path.to_path_buf(),
            max_bytes: 1 << 20,
            keep: 1,
            fsync_every: 1,
            fsync_interval: Duration::from_millis(10),
        };
        let mut w = LogWriter::open(cfg, MockClock::default()).unwrap();
        assert_eq!(
            w.write(&rec(0)),
            WriteStatus::Dropped {
                first_in_episode: true
            }
        );
        assert_eq!(
            w.write(&rec(1)),
            WriteStatus::Dropped {
                first_in_episode: false
            }
        );
        assert_eq!(w.stats().dropped, 2);
        assert_eq!(w.stats().episodes, 1);
    }

    #[test]
    fn unwritable_location_is_an_open_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let mut cfg = config(dir.path());
        cfg.path = blocker.join("events.jsonl"); // parent is a file
        let err = LogWriter::open(cfg, MockClock::default()).err().unwrap();
        assert!(err.to_string().contains("events.jsonl"), "{err}");
    }
}
