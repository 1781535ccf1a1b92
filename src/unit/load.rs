//! Reading a services directory: which entries are unit files, and their
//! bytes read without ever blocking PID 1 (a FIFO, a device, a file of
//! 50 MB), each entry that cannot be read as a unit kept as a problem.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Problem;
use super::check::{DEFAULT_PATH, Loaded, NoProbe, Probe, Probed, check_files};
use super::env_file::{MAX_ENV_FILE, parse_env_file};
use crate::users::UserDb;

/// The largest unit file foster reads. A unit is a few lines; a stray
/// 50 MB file must not swell PID 1 (read whole, then parsed, it took foster
/// to 232 MB on a reload).
pub const MAX_UNIT_FILE: u64 = 1 << 20;

/// What a directory entry named like a unit file is, when it is not a
/// regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    Other,
}

impl FileKind {
    /// `None` for a regular file.
    pub fn of(file_type: std::fs::FileType) -> Option<FileKind> {
        use std::os::unix::fs::FileTypeExt;
        let kind = if file_type.is_file() {
            return None;
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_socket() {
            FileKind::Socket
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        Some(kind)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "neither a file nor a directory",
        })
    }
}

/// Why an entry named like a unit file was not read as one.
#[derive(Debug)]
pub enum Unreadable {
    /// `open(2)` failed.
    Open(std::io::Error),
    /// A symbolic link whose target does not exist.
    DanglingSymlink,
    NotRegular(FileKind),
    /// Larger than [`MAX_UNIT_FILE`]: its size, or `None` when it grew
    /// past the limit while it was read.
    TooLarge(Option<u64>),
    /// `fstat(2)` or `read(2)` failed.
    Read(std::io::Error),
    /// The bytes are not UTF-8: the offset of the first bad one.
    NotUtf8(usize),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Open(e) => write!(f, "cannot open: {e}"),
            Unreadable::DanglingSymlink => {
                f.write_str("a symbolic link to nothing (its target does not exist)")
            }
            Unreadable::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            Unreadable::TooLarge(size) => {
                match size {
                    Some(size) => write!(f, "too large ({size} bytes")?,
                    None => write!(f, "too large (more than {MAX_UNIT_FILE} bytes")?,
                }
                f.write_str("; a unit file is at most 1 MiB)")
            }
            Unreadable::Read(e) => write!(f, "cannot read: {e}"),
            Unreadable::NotUtf8(at) => {
                write!(f, "not UTF-8 text (an invalid byte at offset {at})")
            }
        }
    }
}

/// Whether a services directory's entry of this name is a unit file:
/// `*.yaml` or `*.yml`, not hidden.
pub fn is_unit_file_name(name: &std::ffi::OsStr) -> bool {
    let path = Path::new(name);
    let hidden = name.as_encoded_bytes().starts_with(b".");
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    yaml && !hidden
}

/// Why a services directory's entry is not read as a unit, if it is not:
/// a warning, since a `web.yaml.bak`, a `web.YAML` or a `README` in the
/// directory may be a unit its author thinks is running. Hidden entries
/// (`.git`, an editor's `.web.yaml.swp`) are nobody's units: `None`, as for
/// a unit file.
pub fn ignored_entry(name: &std::ffi::OsStr, is_dir: bool) -> Option<&'static str> {
    if name.as_encoded_bytes().starts_with(b".") || is_unit_file_name(name) {
        return None;
    }
    if is_dir {
        return Some("ignored: a directory");
    }
    let case = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    Some(if case {
        "ignored: not a .yaml/.yml file (the extension is lower case)"
    } else {
        "ignored: not a .yaml/.yml file"
    })
}

/// Reads every unit file in `dir` (see [`is_unit_file_name`]). An entry
/// named like one that cannot be read as a unit (a directory, a FIFO, a
/// socket, a device, a dangling symlink, a file over [`MAX_UNIT_FILE`], an
/// unreadable one) is a problem, never skipped in silence; another entry
/// is a warning (see [`ignored_entry`]). Nothing else on the machine is
/// looked at ([`NoProbe`]): PID 1 does not walk the PATH on a reload.
pub fn load_dir(dir: &Path, users: &UserDb) -> Loaded {
    load_dir_with(dir, users, &NoProbe)
}

/// [`load_dir`], asking `probe` about each unit's command, working
/// directory and user's home (`foster --check` passes [`HostProbe`]).
pub fn load_dir_with(dir: &Path, users: &UserDb, probe: &dyn Probe) -> Loaded {
    match try_load_dir_with(dir, users, probe) {
        Ok(loaded) => loaded,
        Err(DirUnreadable { error, .. }) => Loaded {
            problems: vec![Problem {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the services directory: {error}"),
            }],
            ..Loaded::default()
        },
    }
}

/// The services directory itself could not be read (missing, not a
/// directory, no permission): a reload then changes nothing.
#[derive(Debug)]
pub struct DirUnreadable {
    pub dir: PathBuf,
    pub error: std::io::Error,
}

impl std::fmt::Display for DirUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read the services directory {}: {}",
            self.dir.display(),
            self.error
        )
    }
}

impl std::error::Error for DirUnreadable {}

/// [`load_dir`], telling a directory that cannot be read at all apart
/// from one whose files have problems.
pub fn try_load_dir(dir: &Path, users: &UserDb) -> Result<Loaded, DirUnreadable> {
    try_load_dir_with(dir, users, &NoProbe)
}

/// [`try_load_dir`], asking `probe` (see [`load_dir_with`]).
pub fn try_load_dir_with(
    dir: &Path,
    users: &UserDb,
    probe: &dyn Probe,
) -> Result<Loaded, DirUnreadable> {
    let entries = std::fs::read_dir(dir).map_err(|error| DirUnreadable {
        dir: dir.to_path_buf(),
        error,
    })?;
    let mut found: Vec<(PathBuf, Option<std::fs::FileType>)> = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        // What the entry itself is (a symlink is not followed): a link to
        // a directory is "not a .yaml file", which it is not either.
        let file_type = entry.file_type().ok();
        if is_unit_file_name(&name) {
            found.push((entry.path(), file_type));
        } else if let Some(why) = ignored_entry(&name, file_type.is_some_and(|t| t.is_dir())) {
            ignored.push(Problem {
                file: entry.path(),
                line: 0,
                column: 0,
                message: why.to_string(),
            });
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let files = found
        .into_iter()
        .map(|(path, file_type)| {
            // What the directory says the entry is: what is plainly not a
            // file (a FIFO, a device) is never opened. A regular file or a
            // symlink is opened, and judged by what was opened.
            let bytes = match file_type.and_then(FileKind::of) {
                Some(kind) if kind != FileKind::Symlink => Err(Unreadable::NotRegular(kind)),
                _ => read_unit_file(&path),
            };
            (path, bytes)
        })
        .collect();
    let mut loaded = check_files(files, users, probe);
    loaded.warnings.append(&mut ignored);
    // In file order; each file's own in line order (the sort is stable).
    loaded.warnings.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(loaded)
}

/// The machine `foster --check` runs on, as [`Probe`] asks about it:
/// `stat(2)` of each path (following symbolic links), and the PATH of
/// foster's own environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostProbe;

impl Probe for HostProbe {
    /// A regular file with an execute bit (whose execute bit applies
    /// depends on the user the service runs as: any is taken).
    fn executable(&self, path: &Path) -> Probed {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                Probed::Executable
            }
            Ok(_) => Probed::NotExecutable,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                Probed::Missing
            }
            // EACCES on a directory on the way: execvp cannot run it either.
            Err(_) => Probed::NotExecutable,
        }
    }

    fn directory_exists(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_dir())
    }

    /// `$PATH`, or [`DEFAULT_PATH`] when it is unset or not UTF-8.
    fn search_path(&self) -> String {
        std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string())
    }
}

/// A unit file's bytes, at most [`MAX_UNIT_FILE`] of them, from whatever
/// `path` names by the time it is opened.
///
/// The entry may have been replaced since the directory was read: a FIFO
/// renamed onto `x.yaml` in between would block a plain `open(2)` until
/// some writer came, and PID 1 with it. So: `O_NONBLOCK` (an open that
/// never waits; it has no effect on reading a regular file), `O_NOCTTY`
/// (a terminal never becomes foster's), then `fstat(2)` on the descriptor
/// itself, so that what is judged is what was opened, and a read of at
/// most one byte over the limit, so that a file growing meanwhile is still
/// refused. (std adds `O_CLOEXEC`.)
fn read_unit_file(path: &Path) -> Result<Vec<u8>, Unreadable> {
    read_limited(path, MAX_UNIT_FILE)
}

/// An `env_file:`'s variables, read as a unit file is (never blocking on
/// what is not a regular file, at most [`MAX_ENV_FILE`] bytes), for a
/// service about to start. The error says what is wrong, with the line
/// for a line at fault.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let at = path.display();
    let bytes = read_limited(path, MAX_ENV_FILE).map_err(|why| match why {
        Unreadable::TooLarge(_) => {
            format!("env_file {at}: too large (an env file is at most 1 MiB)")
        }
        why => format!("env_file {at}: {why}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "env_file {at}: {}",
            Unreadable::NotUtf8(e.utf8_error().valid_up_to())
        )
    })?;
    parse_env_file(&text).map_err(|e| format!("env_file {at}: {e}"))
}

/// At most `max` bytes of what `path` names: see [`read_unit_file`].
fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, Unreadable> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| why_not_opened(path, e))?;
    let meta = file.metadata().map_err(Unreadable::Read)?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(Unreadable::NotRegular(kind));
    }
    if meta.len() > max {
        return Err(Unreadable::TooLarge(Some(meta.len())));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Read)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > max) {
        return Err(Unreadable::TooLarge(None));
    }
    Ok(bytes)
}

/// Tells an open that failed on what is not a file (a socket refuses
/// `open(2)` with ENXIO) or on a dangling symlink from other failures
/// (`stat(2)`, `lstat(2)`: neither blocks).
fn why_not_opened(path: &Path, e: std::io::Error) -> Unreadable {
    match std::fs::metadata(path) {
        Ok(meta) => match FileKind::of(meta.file_type()) {
            Some(kind) => Unreadable::NotRegular(kind),
            None => Unreadable::Open(e),
        },
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            Unreadable::DanglingSymlink
        }
        Err(_) => Unreadable::Open(e),
    }
}
