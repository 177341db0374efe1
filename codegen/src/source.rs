//! Where a piece of schema came from: file, line, column and the chain of includes; and
//! the `pragma` settings, which hold for the whole source wherever they stand (as QEMU's
//! `source.py` keeps them beside its source positions).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A position in a schema source file.
///
/// `Copy`: every node, member and doc line carries one, so copying must cost no more
/// than its 24 bytes. The file name and the include chain are therefore interned for the
/// life of the process (see [`Info::start_of`]) rather than reference-counted, whose
/// atomic counts were a large share of the front end's time.
#[derive(Clone, Copy, Debug, Eq)]
pub struct Info {
    /// The file, as the schema named it (relative to the including file's folder, joined
    /// the way QEMU joins it), so messages show the same names QEMU's do.
    pub file: &'static PathBuf,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, with tabs expanded to multiples of 8 as QEMU counts them; 0 when
    /// the position names a whole line.
    pub col: u32,
    /// The `include` directive that brought this file in, if any.
    pub parent: Option<&'static Info>,
}

/// A hash for the few dozen file names and include sites of a schema, which come from
/// the schema's author, not from an adversary: a word at a time (FxHash's step), where
/// the standard hasher's SipHash took longer than the rest of a lookup.
#[derive(Clone, Copy, Default)]
pub(crate) struct NameHasher(u64);

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in chunks.by_ref() {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 59);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// Maps and sets keyed by file names and sites (see [`NameHasher`]).
pub(crate) type NameHash = BuildHasherDefault<NameHasher>;

/// Interned file names: one allocation per distinct name, ever. Keyed by the name's bytes:
/// hashing a `Path` walks its components, several times slower, and names spelt
/// differently but equal as paths (`a//b`, `a/b`) are told apart where it matters.
fn files() -> &'static Mutex<HashMap<&'static OsStr, &'static PathBuf, NameHash>> {
    static FILES: OnceLock<Mutex<HashMap<&'static OsStr, &'static PathBuf, NameHash>>> =
        OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// An include site: file (by interned address), line, column, and the site that included
/// that file (by address), if any.
type SiteKey = (usize, u32, u32, usize);

/// Interned include sites: one allocation per distinct `include` directive, ever.
fn sites() -> &'static Mutex<HashMap<SiteKey, &'static Info, NameHash>> {
    static SITES: OnceLock<Mutex<HashMap<SiteKey, &'static Info, NameHash>>> = OnceLock::new();
    SITES.get_or_init(Default::default)
}

/// The one shared copy of the file name `path`.
///
/// The table only grows with distinct names: a schema has a few dozen files, and loading
/// it again reuses them.
pub fn intern_file(path: &Path) -> &'static PathBuf {
    // A panic while holding the lock cannot leave the set half-updated, so a poisoned
    // lock is still usable.
    let mut files = files().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&file) = files.get(path.as_os_str()) {
        return file;
    }
    let file: &'static PathBuf = Box::leak(Box::new(path.to_path_buf()));
    files.insert(file.as_os_str(), file);
    file
}

/// The one shared copy of the include site `info` (interned like file names).
fn intern_site(info: &Info) -> &'static Info {
    let key = (
        info.file as *const PathBuf as usize,
        info.line,
        info.col,
        info.parent.map_or(0, |p| p as *const Info as usize),
    );
    let mut sites = sites().lock().unwrap_or_else(|e| e.into_inner());
    sites
        .entry(key)
        .or_insert_with(|| Box::leak(Box::new(*info)))
}

impl Info {
    /// The start of a file, included from the directive at `parent` (or the root file
    /// when `None`).
    pub fn start_of(file: &Path, parent: Option<&Info>) -> Info {
        Info {
            file: intern_file(file),
            line: 1,
            col: 0,
            parent: parent.map(intern_site),
        }
    }

    /// The same position without its column, for messages that name a whole definition.
    pub fn line_only(&self) -> Info {
        Info { col: 0, ..*self }
    }

    /// The same file and line, at column `col`.
    pub fn at_col(&self, col: u32) -> Info {
        Info { col, ..*self }
    }

    /// `FILE:LINE` or `FILE:LINE:COL`, without the include chain.
    pub fn location(&self) -> String {
        if self.col == 0 {
            format!("{}:{}", self.file.display(), self.line)
        } else {
            format!("{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

impl PartialEq for Info {
    fn eq(&self, other: &Info) -> bool {
        // Interned names are equal when they are the same; comparing the paths is only
        // needed for names that differ in spelling alone (`a//b` and `a/b`).
        self.line == other.line
            && self.col == other.col
            && (std::ptr::eq(self.file, other.file) || self.file == other.file)
            && self.parent == other.parent
    }
}

impl fmt::Display for Info {
    /// The include chain, outermost first, one `In file included from` line each, then the
    /// location itself (the format QEMU's messages use).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chain = Vec::new();
        let mut parent = self.parent;
        while let Some(p) = parent {
            chain.push(p);
            parent = p.parent;
        }
        for p in chain.iter().rev() {
            writeln!(f, "In file included from {}:{}:", p.file.display(), p.line)?;
        }
        f.write_str(&self.location())
    }
}

/// The absolute, lexically normalised form of `path` (what Python's `os.path.abspath`
/// gives, so files are told apart as QEMU tells them apart); `cwd` caches the current
/// directory.
pub(crate) fn absolute(path: &Path, cwd: &mut Option<PathBuf>) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.get_or_insert_with(|| std::env::current_dir().unwrap_or_default())
            .join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_once() {
        let a = intern_file(Path::new("/x/interned.json"));
        let b = intern_file(Path::new("/x/interned.json"));
        assert!(std::ptr::eq(a, b));
        let site = Info::start_of(Path::new("/x/interned.json"), None);
        let c = Info::start_of(Path::new("/x/inc.json"), Some(&site));
        let d = Info::start_of(Path::new("/x/inc.json"), Some(&site));
        assert!(std::ptr::eq(c.parent.unwrap(), d.parent.unwrap()));
        assert_eq!(
            d.at_col(3).to_string(),
            "In file included from /x/interned.json:1:\n/x/inc.json:1:3"
        );
    }
}

/// The `pragma` settings of a schema. They apply to the whole schema, wherever they stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pragma {
    /// Whether every definition must be documented.
    pub doc_required: bool,
    /// Commands whose names may contain upper case or `_`.
    pub command_name_exceptions: Vec<String>,
    /// Commands that may return something other than an object or a list of objects.
    pub command_returns_exceptions: Vec<String>,
    /// Types whose member names may contain upper case or `_`.
    pub member_name_exceptions: Vec<String>,
    /// Definitions exempt from the documentation rules.
    pub documentation_exceptions: Vec<String>,
}
