//! Where a piece of schema came from: file, line, column and the chain of includes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a schema source file.
///
/// Cheap to clone: the file name and the include chain are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The file, as the schema named it (relative to the including file's folder, joined
    /// the way QEMU joins it), so messages show the same names QEMU's do.
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, with tabs expanded to multiples of 8 as QEMU counts them; 0 when
    /// the position names a whole line.
    pub col: u32,
    /// The `include` directive that brought this file in, if any.
    pub parent: Option<Arc<Info>>,
}

impl Info {
    /// The start of a file, included from `parent` (or the root file when `None`).
    pub fn start_of(file: &Path, parent: Option<Arc<Info>>) -> Info {
        Info {
            file: Arc::new(file.to_path_buf()),
            line: 1,
            col: 0,
            parent,
        }
    }

    /// The same position without its column, for messages that name a whole definition.
    pub fn line_only(&self) -> Info {
        Info {
            col: 0,
            ..self.clone()
        }
    }

    /// The same file and line, at column `col`.
    pub fn at_col(&self, col: u32) -> Info {
        Info {
            col,
            ..self.clone()
        }
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

impl fmt::Display for Info {
    /// The include chain, outermost first, one `In file included from` line each, then the
    /// location itself (the format QEMU's messages use).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chain = Vec::new();
        let mut parent = self.parent.as_deref();
        while let Some(p) = parent {
            chain.push(p);
            parent = p.parent.as_deref();
        }
        for p in chain.iter().rev() {
            writeln!(f, "In file included from {}:{}:", p.file.display(), p.line)?;
        }
        f.write_str(&self.location())
    }
}
