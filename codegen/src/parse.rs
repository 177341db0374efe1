//! Lexer and parser for QAPI schema files, with the `include` and `pragma` directives.
//!
//! Mirrors the grammar of QEMU's schema parser: the input is a sequence of top-level objects,
//! each optionally preceded by a `##` documentation block. Errors name the file, line and
//! column of the offending token.

use crate::ast::{Definition, Dict, Name, Node, TopLevel, Value};
use crate::doc::{self, Doc, RawDocBlock, RawDocLine};
use crate::error::{Result, SchemaError};
use crate::source::{intern_file, Info};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Deeper nesting than this is rejected instead of risking the stack; real schemas nest a
/// handful of levels.
const MAX_NESTING: usize = 256;

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

/// Everything read from a schema and the files it includes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedSchema {
    /// Top-level items in reading order, includes expanded in place.
    pub items: Vec<TopLevel>,
    /// Every documentation block in reading order (definition and free-form ones).
    pub docs: Vec<Doc>,
    /// The pragmas in force.
    pub pragma: Pragma,
    /// Broken formatting-only rules, when not parsing strictly.
    pub warnings: Vec<SchemaError>,
    /// The file names that module markers gave (see [`ParseOptions::module_markers`]), in
    /// order of first appearance. The model names their modules after the marker's text
    /// rather than by resolving the path, which climbing `..` past `/` would change.
    pub marker_files: Vec<&'static PathBuf>,
}

/// How to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Formatting-only documentation rules (which QEMU tightened across releases) are
    /// errors instead of warnings.
    pub strict: bool,
    /// Honour the module markers of a doc-free extract (`# module: FILE` comments at the
    /// start of a line, see [`crate::extract`]): the definitions after one are placed in
    /// that module, as if read from `FILE` beside the extract, so the model keeps QEMU's
    /// module structure. Off by default: to any other reader they are plain comments.
    pub module_markers: bool,
}

/// Reads the schema file `path` and everything it includes.
pub fn parse_file(path: &Path, options: ParseOptions) -> Result<ParsedSchema> {
    let mut schema = ParsedSchema::default();
    let mut files = Files::default();
    let source = files.read(path).map_err(|e| {
        SchemaError::without_position(format!("can't read schema file '{}': {e}", path.display()))
    })?;
    parse_source(path, source, None, options, &mut files, &mut schema)?;
    Ok(schema)
}

/// Parses `text` as if it were the contents of the file `path` (which is used for messages
/// and for resolving includes).
pub fn parse_str(path: &Path, text: &str, options: ParseOptions) -> Result<ParsedSchema> {
    let mut schema = ParsedSchema::default();
    let mut files = Files::default();
    parse_source(
        path,
        text.as_bytes().to_vec(),
        None,
        options,
        &mut files,
        &mut schema,
    )?;
    Ok(schema)
}

/// The files of one parse: which were read, and what reading them needs.
#[derive(Default)]
struct Files {
    /// The absolute forms of the files read so far (normalised, so their bytes tell
    /// them apart; hashing them as paths would walk their components).
    included: HashSet<std::ffi::OsString>,
    /// Buffers of files read completely, to read the next ones into: a schema's files
    /// are large, and allocating (and freeing) each anew made the allocator map and
    /// unmap memory, and page it in, file after file.
    spare: Vec<Vec<u8>>,
    /// The current directory, asked for once.
    cwd: Option<PathBuf>,
    /// The absolute forms of the (interned) file names met so far, by address: the
    /// include checks ask for them again and again (every include directive, and every
    /// file up its chain of includes), and working one out walks the whole path.
    absolute: HashMap<usize, PathBuf>,
}

impl Files {
    /// The contents of the file `path`, in a spare buffer if there is one.
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        std::fs::File::open(path)?.read_to_end(&mut buffer)?;
        Ok(buffer)
    }

    /// The absolute form of the interned file name `file` (see
    /// [`crate::source::absolute`]).
    fn absolute(&mut self, file: &'static PathBuf) -> PathBuf {
        let key = file as *const PathBuf as usize;
        if let Some(abs) = self.absolute.get(&key) {
            return abs.clone();
        }
        let abs = crate::source::absolute(file, &mut self.cwd);
        self.absolute.insert(key, abs.clone());
        abs
    }
}

fn parse_source(
    path: &Path,
    bytes: Vec<u8>,
    parent: Option<&Info>,
    options: ParseOptions,
    files: &mut Files,
    schema: &mut ParsedSchema,
) -> Result<()> {
    let start = Info::start_of(path, parent);
    let abs = files.absolute(start.file);
    files.included.insert(abs.into_os_string());
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count() as u32;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let col = 1 + (valid.len() - line_start) as u32;
            let info = Info { line, col, ..start };
            return Err(SchemaError::new(&info, "invalid UTF-8 in schema file"));
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut parser = Parser {
        lexer: Lexer {
            module_markers: options
                .module_markers
                .then(|| path.parent().unwrap_or_else(|| Path::new("")).to_path_buf()),
            ..Lexer::new(&text, start)
        },
        path,
        options,
        files,
        schema,
        entries: Vec::new(),
        elements: Vec::new(),
        // Enough for the longest blocks of QEMU's schemas: not grown block after block.
        doc_lines: Vec::with_capacity(256),
        doc_scratch: doc::Scratch::default(),
        stops: doc::SentenceStops::new(&text),
    };
    let result = parser.run();
    let marker_files = std::mem::take(&mut parser.lexer.marker_files);
    let files = parser.files;
    let schema = parser.schema;
    for file in marker_files {
        if !schema.marker_files.iter().any(|f| std::ptr::eq(*f, file)) {
            schema.marker_files.push(file);
        }
    }
    // Done with the text: its buffer can take the next file.
    files.spare.push(text.into_bytes());
    result
}

/// A token of the dialect.
#[derive(Clone, Debug, PartialEq)]
enum Token<'a> {
    /// One of `{ } [ ] : ,`.
    Punct(u8),
    /// A comment, from `#` to the end of the line (only returned inside doc blocks, and
    /// for the `##` that opens one).
    Comment(&'a str),
    Str(Name),
    Bool(bool),
    Eof,
}

struct Lexer<'a> {
    src: &'a str,
    /// Next byte to read.
    cursor: usize,
    /// Start of the current token.
    pos: usize,
    /// Start of the current line.
    line_pos: usize,
    /// Current line's position (column unset).
    info: Info,
    tok: Token<'a>,
    /// Where module markers point, when they are honoured.
    module_markers: Option<PathBuf>,
    /// The files module markers named so far.
    marker_files: Vec<&'static PathBuf>,
    /// The byte offset and column [`Lexer::col`] worked out last.
    col_cache: std::cell::Cell<(usize, u32)>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, info: Info) -> Lexer<'a> {
        Lexer {
            module_markers: None,
            marker_files: Vec::new(),
            col_cache: std::cell::Cell::new((0, 1)),
            src,
            cursor: 0,
            pos: 0,
            line_pos: 0,
            info,
            tok: Token::Eof,
        }
    }

    /// Column of the current token, with tabs advancing to the next multiple of 8.
    fn col(&self) -> u32 {
        // Counted on from the last token's column when it is on the same line, so a long
        // line is not walked again for each of its tokens.
        let (mut at, mut col) = self.col_cache.get();
        if at < self.line_pos || at > self.pos {
            (at, col) = (self.line_pos, 1);
        }
        let gap = &self.src.as_bytes()[at..self.pos];
        // Nearly always plain ASCII without tabs, one column a byte: found with a
        // branch-free (vectorisable) pass instead of a decision per byte.
        let plain = gap
            .iter()
            .fold(true, |plain, &b| plain & (b != b'\t') & (b < 0x80));
        if plain {
            col += gap.len() as u32;
            self.col_cache.set((self.pos, col));
            return col;
        }
        for &b in gap {
            if b == b'\t' {
                col = (col + 7) % 8 + 1;
            } else if b & 0xc0 != 0x80 {
                // Not a UTF-8 continuation byte: a character starts here.
                col += 1;
            }
        }
        self.col_cache.set((self.pos, col));
        col
    }

    /// The position of the current token.
    fn here(&self) -> Info {
        self.info.at_col(self.col())
    }

    fn error(&self, message: impl Into<String>) -> SchemaError {
        SchemaError::new(&self.here(), message)
    }

    /// Reads the next token. Comments are skipped unless `keep_comments`, except that a
    /// comment starting with `##` (a doc block) is always returned.
    fn accept(&mut self, keep_comments: bool) -> Result<()> {
        let bytes = self.src.as_bytes();
        loop {
            self.pos = self.cursor;
            let Some(&ch) = bytes.get(self.cursor) else {
                self.tok = Token::Eof;
                return Ok(());
            };
            self.cursor += 1;
            match ch {
                b'#' => {
                    let doc_start = bytes.get(self.cursor) == Some(&b'#');
                    let end = memchr::memchr(b'\n', &bytes[self.cursor..])
                        .map_or(self.src.len(), |i| self.cursor + i);
                    self.cursor = end;
                    if keep_comments || doc_start {
                        self.tok = Token::Comment(&self.src[self.pos..end]);
                        return Ok(());
                    }
                    if let Some(dir) = &self.module_markers {
                        let comment = &self.src[self.pos..end];
                        if let Some(module) = comment.strip_prefix(crate::extract::MODULE_MARKER) {
                            if self.pos == self.line_pos {
                                let file = intern_file(&dir.join(module.trim()));
                                self.info.file = file;
                                if !self.marker_files.iter().any(|f| std::ptr::eq(*f, file)) {
                                    self.marker_files.push(file);
                                }
                            }
                        }
                    }
                }
                b'{' | b'}' | b':' | b',' | b'[' | b']' => {
                    self.tok = Token::Punct(ch);
                    return Ok(());
                }
                b'\'' => {
                    self.tok = Token::Str(self.lex_string()?);
                    return Ok(());
                }
                // Plain white space, the commonest byte, skipped without the keyword checks
                // below; a run of spaces (indentation) in one go.
                b' ' => {
                    while bytes.get(self.cursor) == Some(&b' ') {
                        self.cursor += 1;
                    }
                }
                b'\t' | b'\r' => {}
                b'\n' => {
                    if self.cursor == bytes.len() {
                        self.tok = Token::Eof;
                        return Ok(());
                    }
                    self.info.line += 1;
                    self.line_pos = self.cursor;
                }
                _ if self.src[self.pos..].starts_with("true") => {
                    self.cursor = self.pos + 4;
                    self.tok = Token::Bool(true);
                    return Ok(());
                }
                _ if self.src[self.pos..].starts_with("false") => {
                    self.cursor = self.pos + 5;
                    self.tok = Token::Bool(false);
                    return Ok(());
                }
                _ => {
                    let c = self.src[self.pos..].chars().next().unwrap_or(' ');
                    self.cursor = self.pos + c.len_utf8();
                    if !c.is_whitespace() {
                        let stray: String = self.src[self.pos..]
                            .chars()
                            .take_while(|c| !"[]{}:,'\"".contains(*c) && !c.is_whitespace())
                            .take(80)
                            .collect();
                        return Err(self.error(format!("stray '{stray}'")));
                    }
                }
            }
        }
    }

    /// Reads the next line as a comment token when it starts with `#`, as
    /// `accept(true)` would, but without its general loop: inside a doc block nearly
    /// every line does. Returns `false` (having read nothing) otherwise.
    fn next_line_comment(&mut self) -> bool {
        let bytes = self.src.as_bytes();
        let start = self.cursor + 1;
        if bytes.get(self.cursor) != Some(&b'\n') || bytes.get(start) != Some(&b'#') {
            return false;
        }
        self.info.line += 1;
        self.line_pos = start;
        self.pos = start;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        self.cursor = end;
        self.tok = Token::Comment(&self.src[start..end]);
        true
    }

    /// Reads a single-quoted string; the opening quote has been consumed. Only printable
    /// ASCII is allowed, and `\\` is the only escape.
    fn lex_string(&mut self) -> Result<Name> {
        let bytes = self.src.as_bytes();
        // Nearly every string is plain printable ASCII up to its closing quote: copied in
        // one go. Anything else is read byte by byte below, which knows the errors.
        let start = self.cursor.min(bytes.len());
        let plain = bytes[start..]
            .iter()
            .position(|&b| !(32..127).contains(&b) || b == b'\'' || b == b'\\');
        if let Some(len) = plain {
            if bytes[start + len] == b'\'' {
                self.cursor = start + len + 1;
                return Ok(Name::new(&self.src[start..start + len]));
            }
        }
        // Sized once, up to the next quote or line end: growing it a byte at a time cost
        // a reallocation per few characters.
        let len = bytes[self.cursor.min(bytes.len())..]
            .iter()
            .position(|&b| b == b'\'' || b == b'\n')
            .unwrap_or(0);
        let mut out = String::with_capacity(len);
        let mut escaped = false;
        loop {
            let ch = bytes.get(self.cursor).copied().unwrap_or(b'\n');
            self.cursor += 1;
            if ch == b'\n' {
                return Err(self.error("missing terminating \"'\""));
            }
            if escaped {
                if ch != b'\\' {
                    let shown = self.src[self.cursor - 1..].chars().next().unwrap_or('?');
                    return Err(self.error(format!("unknown escape \\{shown}")));
                }
                escaped = false;
            } else if ch == b'\\' {
                escaped = true;
                continue;
            } else if ch == b'\'' {
                return Ok(Name::from(out));
            }
            if !(32..127).contains(&ch) {
                return Err(self.error("funny character in string"));
            }
            out.push(ch as char);
        }
    }
}

struct Parser<'a, 's> {
    lexer: Lexer<'a>,
    path: &'a Path,
    options: ParseOptions,
    files: &'s mut Files,
    schema: &'s mut ParsedSchema,
    /// The entries of the objects being read, innermost last: each object's are moved
    /// into a vector of the right size once it is complete, instead of growing one.
    entries: Vec<(Name, Node)>,
    /// The same for the elements of arrays.
    elements: Vec<Node>,
    /// Room for the lines of a doc block, reused from block to block.
    doc_lines: Vec<RawDocLine<'a>>,
    /// Room to read doc blocks in, reused likewise.
    doc_scratch: doc::Scratch,
    /// Where the file's doc comments may break the two-spaces rule.
    stops: doc::SentenceStops,
}

impl<'a> Parser<'a, '_> {
    fn run(&mut self) -> Result<()> {
        self.lexer.accept(false)?;
        let mut cur_doc: Option<Doc> = None;
        loop {
            let info = self.lexer.here();
            match &self.lexer.tok {
                Token::Eof => break,
                Token::Comment(_) => {
                    reject_doc(cur_doc.take())?;
                    if let Some(d) = self.doc_block(&info)? {
                        // Both copies share the sections: cheap.
                        self.schema.docs.push(d.clone());
                        cur_doc = Some(d);
                    }
                    continue;
                }
                _ => {}
            }
            let node = self.expr(0)?;
            let Value::Dict(dict) = node.value else {
                return Err(SchemaError::new(
                    &info,
                    "top-level expression must be an object",
                ));
            };
            if let Some(include) = dict.get("include") {
                reject_doc(cur_doc.take())?;
                self.include(&dict, include, &info)?;
            } else if let Some(pragma) = dict.get("pragma") {
                reject_doc(cur_doc.take())?;
                if dict.len() != 1 {
                    return Err(SchemaError::new(&info, "invalid 'pragma' directive"));
                }
                let Value::Dict(settings) = &pragma.value else {
                    return Err(SchemaError::new(
                        &info,
                        "value of 'pragma' must be an object",
                    ));
                };
                for (name, value) in &settings.entries {
                    apply_pragma(&mut self.schema.pragma, name, value, &info)?;
                }
            } else {
                let doc = cur_doc.take();
                if let Some(d) = &doc {
                    if d.symbol.is_none() {
                        return Err(SchemaError::new(
                            &d.info,
                            "definition documentation required",
                        ));
                    }
                }
                self.schema.items.push(TopLevel::Definition(Definition {
                    expr: dict,
                    info,
                    doc,
                }));
            }
            cur_doc = None;
        }
        reject_doc(cur_doc)
    }

    fn include(&mut self, dict: &Dict, include: &Node, info: &Info) -> Result<()> {
        if dict.len() != 1 {
            return Err(SchemaError::new(info, "invalid 'include' directive"));
        }
        let Value::Str(name) = &include.value else {
            return Err(SchemaError::new(
                info,
                "value of 'include' must be a string",
            ));
        };
        let file = self
            .path
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(name.as_str());
        self.schema.items.push(TopLevel::Include {
            file: file.clone(),
            info: *info,
        });
        let abs = self.files.absolute(intern_file(&file));
        let mut ancestor = Some(info);
        while let Some(a) = ancestor {
            if self.files.absolute(a.file) == abs {
                return Err(SchemaError::new(info, format!("inclusion loop for {name}")));
            }
            ancestor = a.parent;
        }
        if self.files.included.contains(abs.as_os_str()) {
            return Ok(());
        }
        let bytes = self.files.read(&file).map_err(|e| {
            SchemaError::new(
                info,
                format!("can't read include file '{}': {e}", file.display()),
            )
        })?;
        parse_source(
            &file,
            bytes,
            Some(info),
            self.options,
            self.files,
            self.schema,
        )
    }

    /// Reads one `##` ... `##` block; the lexer stands on its opening comment.
    fn doc_block(&mut self, info: &Info) -> Result<Option<Doc>> {
        let Token::Comment(open) = self.lexer.tok else {
            unreachable!("doc_block called off a comment token");
        };
        if open != "##" {
            return Err(self
                .lexer
                .error("junk after '##' at start of documentation comment"));
        }
        let mut block = RawDocBlock {
            info: *info,
            // The previous block's vector, emptied: one for the whole file.
            lines: std::mem::take(&mut self.doc_lines),
            end: None,
        };
        if let Err(error) = self.collect_doc_lines(&mut block) {
            // QEMU reads a block line by line, so a bad line before the broken end is
            // what it reports.
            let mut ignored = Vec::new();
            doc::parse_one(
                &block,
                self.options.strict,
                &mut ignored,
                &mut doc::Scratch::default(),
                Some(&self.stops),
            )?;
            return Err(error);
        }
        let doc = doc::parse_one(
            &block,
            self.options.strict,
            &mut self.schema.warnings,
            &mut self.doc_scratch,
            Some(&self.stops),
        )?;
        self.doc_lines = block.lines;
        self.doc_lines.clear();
        self.lexer.accept(false)?;
        Ok(doc)
    }

    /// Collects the lines of a doc block up to its closing `##`, where the lexer stops.
    fn collect_doc_lines(&mut self, block: &mut RawDocBlock<'a>) -> Result<()> {
        loop {
            if !self.lexer.next_line_comment() {
                self.lexer.accept(true)?;
            }
            let here = self.lexer.here();
            match self.lexer.tok {
                Token::Comment(text) if text.starts_with("##") => {
                    if text != "##" {
                        return Err(self
                            .lexer
                            .error("junk after '##' at end of documentation comment"));
                    }
                    block.end = Some(here);
                    return Ok(());
                }
                Token::Comment(text) => block.lines.push(RawDocLine { text, info: here }),
                _ => return Err(self.lexer.error("documentation comment must end with '##'")),
            }
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Node> {
        if depth > MAX_NESTING {
            return Err(self.lexer.error("nesting too deep"));
        }
        let info = self.lexer.here();
        let value = match &self.lexer.tok {
            Token::Punct(b'{') => {
                self.lexer.accept(false)?;
                Value::Dict(self.members(depth)?)
            }
            Token::Punct(b'[') => {
                self.lexer.accept(false)?;
                Value::List(self.values(depth)?)
            }
            Token::Str(_) => {
                // The token is replaced by the next one anyway: take its string.
                let Token::Str(s) = std::mem::replace(&mut self.lexer.tok, Token::Eof) else {
                    unreachable!("expr: matched a string token");
                };
                self.lexer.accept(false)?;
                Value::Str(s)
            }
            Token::Bool(b) => {
                let v = Value::Bool(*b);
                self.lexer.accept(false)?;
                v
            }
            _ => return Err(self.lexer.error("expected '{', '[', string, or boolean")),
        };
        Ok(Node { value, info })
    }

    fn members(&mut self, depth: usize) -> Result<Dict> {
        if self.lexer.tok == Token::Punct(b'}') {
            self.lexer.accept(false)?;
            return Ok(Dict::default());
        }
        if !matches!(self.lexer.tok, Token::Str(_)) {
            return Err(self.lexer.error("expected string or '}'"));
        }
        let start = self.entries.len();
        loop {
            let Token::Str(key) = std::mem::replace(&mut self.lexer.tok, Token::Eof) else {
                unreachable!("members: a key is always a string token here");
            };
            self.lexer.accept(false)?;
            if self.lexer.tok != Token::Punct(b':') {
                return Err(self.lexer.error("expected ':'"));
            }
            self.lexer.accept(false)?;
            if self.entries[start..].iter().any(|(k, _)| *k == key) {
                return Err(self.lexer.error(format!("duplicate key '{key}'")));
            }
            let value = self.expr(depth + 1)?;
            self.entries.push((key, value));
            match self.lexer.tok {
                Token::Punct(b'}') => {
                    self.lexer.accept(false)?;
                    // split_off copies the entries in one go into an exact-size vector;
                    // collecting a drain moves them one by one.
                    return Ok(Dict {
                        entries: self.entries.split_off(start),
                    });
                }
                Token::Punct(b',') => {}
                _ => return Err(self.lexer.error("expected ',' or '}'")),
            }
            self.lexer.accept(false)?;
            if !matches!(self.lexer.tok, Token::Str(_)) {
                return Err(self.lexer.error("expected string"));
            }
        }
    }

    fn values(&mut self, depth: usize) -> Result<Vec<Node>> {
        if self.lexer.tok == Token::Punct(b']') {
            self.lexer.accept(false)?;
            return Ok(Vec::new());
        }
        if !matches!(
            self.lexer.tok,
            Token::Punct(b'{') | Token::Punct(b'[') | Token::Str(_) | Token::Bool(_)
        ) {
            return Err(self
                .lexer
                .error("expected '{', '[', ']', string, or boolean"));
        }
        let start = self.elements.len();
        loop {
            let value = self.expr(depth + 1)?;
            self.elements.push(value);
            match self.lexer.tok {
                Token::Punct(b']') => {
                    self.lexer.accept(false)?;
                    return Ok(self.elements.split_off(start));
                }
                Token::Punct(b',') => self.lexer.accept(false)?,
                _ => return Err(self.lexer.error("expected ',' or ']'")),
            }
        }
    }
}

/// A definition doc block must be followed by its definition, not a directive or another
/// block.
fn reject_doc(doc: Option<Doc>) -> Result<()> {
    match doc {
        Some(d) if d.symbol.is_some() => Err(SchemaError::new(
            &d.info,
            format!(
                "documentation for '{}' is not followed by the definition",
                d.symbol.as_deref().unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

fn apply_pragma(pragma: &mut Pragma, name: &str, value: &Node, info: &Info) -> Result<()> {
    let string_list = || -> Result<Vec<String>> {
        let items = value.value.as_list().and_then(|l| {
            l.iter()
                .map(|n| n.value.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        items.ok_or_else(|| {
            SchemaError::new(info, format!("pragma {name} must be a list of strings"))
        })
    };
    match name {
        "doc-required" => {
            pragma.doc_required = value
                .value
                .as_bool()
                .ok_or_else(|| SchemaError::new(info, "pragma 'doc-required' must be boolean"))?;
        }
        "command-name-exceptions" => pragma.command_name_exceptions = string_list()?,
        "command-returns-exceptions" => pragma.command_returns_exceptions = string_list()?,
        "member-name-exceptions" => pragma.member_name_exceptions = string_list()?,
        "documentation-exceptions" => pragma.documentation_exceptions = string_list()?,
        _ => return Err(SchemaError::new(info, format!("unknown pragma '{name}'"))),
    }
    Ok(())
}
