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

impl Doc {
    /// Records that the documented definition has the member (or argument, or enum value)
    /// `name`, declared at `info`; `role` names what it is in messages ("member",
    /// "argument", "value"). An undocumented one is an error unless the definition is in
    /// `pragma.documentation_exceptions`, in which case an empty entry is added.
    pub fn connect_member(
        &mut self,
        name: &str,
        role: &str,
        info: &Info,
        pragma: &crate::parse::Pragma,
    ) -> Result<()> {
        let _ = (name, role, info, pragma);
        Ok(())
    }

    /// Records that the documented definition has the feature `name`, declared at `info`;
    /// an undocumented feature is an error.
    pub fn connect_feature(&mut self, name: &str, info: &Info) -> Result<()> {
        let _ = (name, info);
        Ok(())
    }

    /// Checks the sections against the kind of definition: `Returns`/`Errors` only for
    /// commands, `Returns` only when the command returns something.
    pub fn check_expr(&self, is_command: bool, has_returns: bool) -> Result<()> {
        let _ = (is_command, has_returns);
        Ok(())
    }

    /// After every member and feature was connected: documentation for members or
    /// features that do not exist is an error.
    pub fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Appends this block in the textual format of QEMU's front-end test output
    /// (`doc symbol=NAME` or `doc freeform`, then `    body=`, `    arg=`, `    feature=`,
    /// `    section=` entries, each followed by its text).
    pub fn dump(&self, out: &mut String) {
        let _ = out;
    }
}

/// Parses one raw block into its documentation (a block may yield several). Formatting-only
/// rules are errors when `strict`, otherwise they are pushed to `warnings`.
pub fn parse_block(
    block: &RawDocBlock,
    strict: bool,
    warnings: &mut Vec<SchemaError>,
) -> Result<Vec<Doc>> {
    let _ = (strict, warnings);
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
