//! Documentation comments: the `##` blocks before definitions and free-form ones.
//!
//! STUB: only the symbol is recognised so far; sections come next.

use crate::error::{Result, SchemaError};
use crate::source::Info;

/// One comment line of a doc block, exactly as written (starting with `#`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDocLine {
    /// The line from its `#` to the end of the line.
    pub text: String,
    /// Where the `#` stands.
    pub info: Info,
}

/// The lines between a `##` that opens a doc block and the `##` that closes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDocBlock {
    /// Where the opening `##` stands.
    pub info: Info,
    /// The comment lines in between.
    pub lines: Vec<RawDocLine>,
    /// Where the closing `##` stands.
    pub end: Option<Info>,
}

/// A parsed documentation block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// Where the block starts.
    pub info: Info,
    /// The definition it documents (`# @name:` on its first line), or `None` for free-form
    /// documentation.
    pub symbol: Option<String>,
}

/// Parses one raw block into its documentation.
pub fn parse_block(block: &RawDocBlock) -> Result<Vec<Doc>> {
    let symbol = match block.lines.first() {
        Some(first) if first.text.starts_with("# @") => {
            let Some(name) = first.text[3..].trim_end().strip_suffix(':') else {
                return Err(SchemaError::new(&first.info, "line should end with ':'"));
            };
            Some(name.to_string())
        }
        _ => None,
    };
    Ok(vec![Doc {
        info: block.info.clone(),
        symbol,
    }])
}
