//! Lexer and parser for QAPI schema files, with the `include` and `pragma` directives.
//!
//! Mirrors the grammar of QEMU's schema parser: the input is a sequence of top-level objects,
//! each optionally preceded by a `##` documentation block. Errors name the file, line and
//! column of the offending token.

use crate::ast::{
    advance_col, Definition, FileData, Kind, Node, ParsedFile, Slot, TopLevel, Tree, Value,
};
use crate::doc::{self, BlockLines, Doc};
use crate::error::{Result, SchemaError};
use crate::facts::{Release, SinceFacts};
use crate::source::{intern_file, Info, NameHash};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Deeper nesting than this is rejected instead of risking the stack; real schemas nest a
/// handful of levels.
const MAX_NESTING: usize = 256;

/// The pragmas, defined with the other facts about the source (see [`crate::source`]).
pub use crate::source::Pragma;

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
    /// The since facts that since markers stated (see [`ParseOptions::module_markers`]).
    /// A schema with doc comments states them there instead (see [`Doc::since_version`]).
    pub since: SinceFacts,
    /// The QEMU release the schema belongs to, when known: from an extract's release
    /// marker (see [`crate::marker::RELEASE_MARKER`]), or else, for a schema read from
    /// disk by [`parse_file`], from the `VERSION` file of the QEMU tree it sits in
    /// (`qapi/`, `qga/` or `storage-daemon/qapi/` of it). Where QEMU's front ends differ
    /// from release to release, the model follows this one's; unknown means the newest.
    pub release: Option<Release>,
}

/// How to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Formatting-only documentation rules (which QEMU tightened across releases) are
    /// errors instead of warnings.
    pub strict: bool,
    /// Honour the module markers of a doc-free extract (`# module: FILE` comments at the
    /// start of a line, see [`crate::marker`]): the definitions after one are placed in
    /// that module, as if read from `FILE` beside the extract, so the model keeps QEMU's
    /// module structure. Off by default: to any other reader they are plain comments.
    ///
    /// Also honours the extract's since markers (`# since: NAME VERSION`, see
    /// [`crate::marker::SINCE_MARKER`]), gathered into [`ParsedSchema::since`], and its
    /// release marker ([`crate::marker::RELEASE_MARKER`], [`ParsedSchema::release`]).
    pub module_markers: bool,
}

/// Reads the schema file `path` and everything it includes.
pub fn parse_file(path: &Path, options: ParseOptions) -> Result<ParsedSchema> {
    parse_files(path, options, Files::default())
}

/// Reads the schema file `path` and everything it includes as [`parse_file`] does, but
/// asks `read` for the contents of each file instead of reading it from disk: for a
/// schema held in memory (built into a program, or fetched from elsewhere). `read` is
/// given `path` first, then each include's file name joined to the including file's
/// folder, and each file is asked for once.
pub fn parse_file_with(
    path: &Path,
    options: ParseOptions,
    read: impl FnMut(&Path) -> std::io::Result<Vec<u8>> + 'static,
) -> Result<ParsedSchema> {
    let files = Files {
        read_with: Some(Box::new(read)),
        ..Files::default()
    };
    parse_files(path, options, files)
}

fn parse_files(path: &Path, options: ParseOptions, mut files: Files) -> Result<ParsedSchema> {
    let mut schema = ParsedSchema::default();
    let source = files.read(path).map_err(|e| {
        SchemaError::without_position(format!("can't read schema file '{}': {e}", path.display()))
    })?;
    // Room for as many definitions and doc blocks as QEMU's schema has (about 1,100
    // of each), rather than copying them all over each time their vectors double; what
    // a smaller schema leaves unused is given back at the end.
    schema.items.reserve(2048);
    schema.docs.reserve(2048);
    let from_disk = files.read_with.is_none();
    parse_source(path, source, None, options, &mut files, &mut schema)?;
    if schema.release.is_none() && from_disk {
        schema.release = release_of_tree(path, &mut files.cwd);
    }
    schema.items.shrink_to_fit();
    schema.docs.shrink_to_fit();
    Ok(schema)
}

/// The release in the `VERSION` file of the QEMU source tree that has the root schema
/// file `path` where QEMU keeps one: `qapi/`, `qga/` or `storage-daemon/qapi/`.
fn release_of_tree(path: &Path, cwd: &mut Option<PathBuf>) -> Option<Release> {
    let path = crate::source::absolute(path, cwd);
    let folder = path.parent()?;
    let name = |dir: &Path| dir.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    let parent = folder.parent()?;
    let tree = match name(folder)?.as_str() {
        "qapi" if name(parent).as_deref() == Some("storage-daemon") => parent.parent()?,
        "qapi" | "qga" => parent,
        _ => return None,
    };
    // QEMU's VERSION is one short line: more than that is some other file.
    let mut text = String::new();
    let file = std::fs::File::open(tree.join("VERSION")).ok()?;
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 64), &mut text).ok()?;
    Release::parse(&text)
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

/// A reader of schema files, given to [`parse_file_with`].
type ReadFile = dyn FnMut(&Path) -> std::io::Result<Vec<u8>>;

/// The files of one parse: which were read, and what reading them needs.
#[derive(Default)]
struct Files {
    /// The absolute forms of the files read so far (normalised, so their bytes tell
    /// them apart; hashing them as paths would walk their components).
    included: HashSet<std::ffi::OsString, NameHash>,
    /// Buffers of files read completely, to read the next ones into: a schema's files
    /// are large, and allocating (and freeing) each anew made the allocator map and
    /// unmap memory, and page it in, file after file.
    spare: Vec<Vec<u8>>,
    /// The current directory, asked for once.
    cwd: Option<PathBuf>,
    /// The absolute forms of the (interned) file names met so far, by address: the
    /// include checks ask for them again and again (every include directive, and every
    /// file up its chain of includes), and working one out walks the whole path.
    absolute: HashMap<usize, PathBuf, NameHash>,
    /// What reads the files instead of the file system (see [`parse_file_with`]).
    read_with: Option<Box<ReadFile>>,
}

impl Files {
    /// The contents of the file `path`: from the reader given to [`parse_file_with`] if
    /// there is one, else from disk, into a spare buffer if there is one.
    ///
    /// Without one, as `std::fs::read` reads it: `read_to_end` on an open file also asks
    /// for its position, one system call more per file, and a schema is a few dozen
    /// files read one after the other.
    fn read(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        if let Some(read) = &mut self.read_with {
            return read(path);
        }
        let Some(mut buffer) = self.spare.pop() else {
            return std::fs::read(path);
        };
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

    /// [`Files::absolute`] of `file`, the include `name` joined to the folder whose
    /// absolute form is `dir`: when `name` is a plain relative path (no `.`, `..` or
    /// empty components), normalising the joined path only appends it to `dir`, so
    /// that is done instead of walking the whole path.
    fn absolute_in(&mut self, file: &'static PathBuf, dir: &Path, name: &str) -> PathBuf {
        let key = file as *const PathBuf as usize;
        if let Some(abs) = self.absolute.get(&key) {
            return abs.clone();
        }
        let plain = cfg!(unix)
            && !name.is_empty()
            && !name.starts_with('/')
            && name.split('/').all(|part| !matches!(part, "" | "." | ".."));
        if !plain || dir.as_os_str().is_empty() {
            return self.absolute(file);
        }
        let abs = dir.join(name);
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
    // The absolute folder the file's includes are relative to.
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
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
    // Positions in the parsed values and doc sections are 32-bit offsets into the text
    // and the unescaped strings after it (never longer than the text).
    if text.len() > u32::MAX as usize / 2 {
        return Err(SchemaError::new(&start, "schema file too large"));
    }
    // What the definitions and doc sections are made of, once the file is read through.
    let shared = Arc::new(ParsedFile::default());
    let mut parser = Parser {
        lexer: Lexer {
            module_markers: options
                .module_markers
                .then(|| path.parent().unwrap_or_else(|| Path::new("")).to_path_buf()),
            ..Lexer::new(&text, start)
        },
        folder: path.parent().unwrap_or_else(|| Path::new("")),
        dir,
        source: doc::Source {
            text: &text,
            shared: &shared,
        },
        options,
        files,
        schema,
        // QEMU's files (mostly prose) have at most one value per 33 bytes: room for them
        // all from the start, rather than copying them over each time the vector doubles.
        // A denser file (a doc-free extract) still grows as needed.
        slots: Vec::with_capacity(text.len() / 32),
        expr_start: 0,
        expr_end: 0,
        doc_scratch: doc::Scratch::for_source(text.len()),
        stops: doc::SentenceStops::new(&text),
    };
    let result = parser.run();
    let marker_files = std::mem::take(&mut parser.lexer.marker_files);
    for fact in std::mem::take(&mut parser.lexer.since_markers) {
        parser.schema.since.read_marker(fact);
    }
    if parser.schema.release.is_none() {
        parser.schema.release = parser.lexer.release_marker.and_then(Release::parse);
    }
    let mut pieces = parser.doc_scratch.take_pieces();
    let mut sections = parser.doc_scratch.take_sections();
    let mut slots = std::mem::take(&mut parser.slots);
    let escaped = std::mem::take(&mut parser.lexer.escaped);
    let files = parser.files;
    let schema = parser.schema;
    for file in marker_files {
        if !schema.marker_files.iter().any(|f| std::ptr::eq(*f, file)) {
            schema.marker_files.push(file);
        }
    }
    // Done with the text: the definitions and doc sections keep it, or else its buffer
    // can take the next file.
    let unused = if Arc::strong_count(&shared) > 1 {
        // The unescaped strings go after the text.
        let shift = text.len() as u32;
        text.push_str(&escaped);
        for slot in &mut slots {
            if slot.kind == Kind::EscapedStr {
                *slot = Slot {
                    kind: Kind::Str,
                    a: slot.a + shift,
                    b: slot.b + shift,
                    ..*slot
                };
            }
        }
        // Given back what the estimates reserved beyond what was read: the file's data
        // lives as long as the schema.
        slots.shrink_to_fit();
        pieces.shrink_to_fit();
        sections.shrink_to_fit();
        let data = FileData {
            slots,
            pieces,
            sections,
            ..FileData::new(text)
        };
        shared.finish(data)
    } else {
        Some(text)
    };
    if let Some(text) = unused {
        files.spare.push(text.into_bytes());
    }
    result
}

/// How many bytes `bytes` starts with that a string may hold as they are: printable ASCII
/// other than `'` and `\\`.
///
/// Eight bytes at a time (strings are names of a dozen bytes, on average): each test below
/// sets a byte's top bit exactly when the byte passes it, without carries between bytes,
/// as only the low seven bits are ever added.
fn plain_len(bytes: &[u8]) -> usize {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const TOP: u64 = 0x8080_8080_8080_8080;
    const fn each(b: u8) -> u64 {
        0x0101_0101_0101_0101 * b as u64
    }
    // Top bit set where the byte is not zero.
    let nonzero = |w: u64| ((w & LOW) + LOW) | w;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(chunk);
        // At least 0x20 (or not ASCII), and not 0x7f nor beyond.
        let printable = ((w & LOW) + each(0x60)) | w;
        let high = ((w & LOW) + each(0x01)) | w;
        let good = printable & !high & nonzero(w ^ each(b'\'')) & nonzero(w ^ each(b'\\')) & TOP;
        if good != TOP {
            // Little-endian: the lowest failing byte is the first one.
            return i + ((!good & TOP).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes
        .get(i..)
        .unwrap_or_default()
        .iter()
        .position(|&b| !(32..127).contains(&b) || b == b'\'' || b == b'\\')
        .unwrap_or(bytes.len() - i)
}

/// How many spaces `bytes` starts with, read eight bytes at a time: the indentation of
/// a line is the longest run of one byte the lexer skips.
#[inline]
fn space_run(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        // Zero bytes where there are spaces; little-endian, so the lowest non-zero byte
        // is the first one that is not a space.
        let diff = u64::from_le_bytes(chunk) ^ 0x2020_2020_2020_2020;
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b' ')
        .count()
}

/// The bit that stands for the object key `key` in a set of the keys read so far: picked
/// by its length and its last byte, which tell apart nearly all the keys of an object.
#[inline]
fn key_bit(key: &[u8]) -> u64 {
    let last = key.last().copied().unwrap_or(0) as usize;
    1 << ((key.len() * 7 + last) % 64)
}

/// A token of the dialect.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Token<'a> {
    /// One of `{ } [ ] : ,`.
    Punct(u8),
    /// A comment, from `#` to the end of the line (only returned inside doc blocks, and
    /// for the `##` that opens one).
    Comment(&'a str),
    /// A string: its bytes `start..end` in the source, or in the lexer's buffer of
    /// unescaped strings when `escaped`.
    Str {
        start: u32,
        end: u32,
        escaped: bool,
    },
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
    /// What the since markers read so far say, after the marker (read into facts once
    /// the file is done).
    since_markers: Vec<&'a str>,
    /// What the first release marker says, after the marker.
    release_marker: Option<&'a str>,
    /// The byte offset and column [`Lexer::col`] worked out last.
    col_cache: std::cell::Cell<(usize, u32)>,
    /// The unescaped forms of the file's strings that had an escape.
    escaped: String,
    /// Finds the ends of comment lines.
    breaks: LineBreaks,
}

/// A search for line breaks, one comment line at a time. `memchr::memchr` chooses its
/// vectorised routine anew on every call, through a function pointer; a doc comment line
/// is short enough for that to be a good part of the search, so on x86-64 the AVX2
/// routine is chosen once, where the processor has it.
#[derive(Clone, Copy)]
struct LineBreaks {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl LineBreaks {
    fn new() -> LineBreaks {
        LineBreaks {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    /// The offset of the first line break in `haystack`.
    #[inline(always)]
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = &self.avx2 {
            return avx2.find(haystack);
        }
        memchr::memchr(b'\n', haystack)
    }
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, info: Info) -> Lexer<'a> {
        Lexer {
            module_markers: None,
            marker_files: Vec::new(),
            since_markers: Vec::new(),
            release_marker: None,
            col_cache: std::cell::Cell::new((0, 1)),
            escaped: String::new(),
            breaks: LineBreaks::new(),
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
        col = advance_col(col, &self.src.as_bytes()[at..self.pos]);
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

    /// Reads the next token, as `accept(false)` does: inside an expression, white space,
    /// punctuation and plain strings are nearly all there is, and they are read here,
    /// inline in the parser's loops; anything else (and a line break that ends the text)
    /// is left to `accept`, from where this stopped.
    #[inline(always)]
    fn next_token(&mut self) -> Result<()> {
        let bytes = self.src.as_bytes();
        let mut cursor = self.cursor;
        loop {
            match bytes.get(cursor) {
                Some(b' ') => cursor += 1,
                Some(b'\n') if cursor + 1 < bytes.len() => {
                    cursor += 1;
                    self.info.line += 1;
                    self.line_pos = cursor;
                    // The next line's indentation (QEMU lines up continued values under
                    // their keys, often a dozen spaces or more) in words, not bytes.
                    cursor += space_run(bytes.get(cursor..).unwrap_or_default());
                }
                _ => break,
            }
        }
        self.cursor = cursor;
        match bytes.get(cursor) {
            Some(&c @ (b'{' | b'}' | b':' | b',' | b'[' | b']')) => {
                self.pos = cursor;
                self.cursor = cursor + 1;
                self.tok = Token::Punct(c);
                Ok(())
            }
            Some(b'\'') => {
                let start = cursor + 1;
                let len = plain_len(bytes.get(start..).unwrap_or_default());
                if bytes.get(start + len) != Some(&b'\'') {
                    return self.accept(false);
                }
                self.pos = cursor;
                self.cursor = start + len + 1;
                self.tok = Token::Str {
                    start: start as u32,
                    end: (start + len) as u32,
                    escaped: false,
                };
                Ok(())
            }
            _ => self.accept(false),
        }
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
                    let end = self
                        .breaks
                        .find(&bytes[self.cursor..])
                        .map_or(self.src.len(), |i| self.cursor + i);
                    self.cursor = end;
                    if keep_comments || doc_start {
                        self.tok = Token::Comment(&self.src[self.pos..end]);
                        return Ok(());
                    }
                    if let Some(dir) = &self.module_markers {
                        let comment = &self.src[self.pos..end];
                        if self.pos != self.line_pos {
                            // Markers start a line.
                        } else if let Some(module) =
                            comment.strip_prefix(crate::marker::MODULE_MARKER)
                        {
                            let file = intern_file(&dir.join(module.trim()));
                            self.info.file = file;
                            if !self.marker_files.iter().any(|f| std::ptr::eq(*f, file)) {
                                self.marker_files.push(file);
                            }
                        } else if let Some(fact) = comment.strip_prefix(crate::marker::SINCE_MARKER)
                        {
                            self.since_markers.push(fact);
                        } else if let Some(release) =
                            comment.strip_prefix(crate::marker::RELEASE_MARKER)
                        {
                            self.release_marker.get_or_insert(release);
                        }
                    }
                }
                b'{' | b'}' | b':' | b',' | b'[' | b']' => {
                    self.tok = Token::Punct(ch);
                    return Ok(());
                }
                b'\'' => {
                    self.tok = self.lex_string()?;
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
                    // The next line's indentation, without going round the loop for it.
                    self.cursor += space_run(bytes.get(self.cursor..).unwrap_or_default());
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
    #[inline(always)]
    fn next_line_comment(&mut self) -> bool {
        let bytes = self.src.as_bytes();
        let start = self.cursor + 1;
        if bytes.get(self.cursor) != Some(&b'\n') || bytes.get(start) != Some(&b'#') {
            return false;
        }
        self.info.line += 1;
        self.line_pos = start;
        self.pos = start;
        let end = self
            .breaks
            .find(&bytes[start..])
            .map_or(bytes.len(), |i| start + i);
        self.cursor = end;
        self.tok = Token::Comment(&self.src[start..end]);
        true
    }

    /// Reads a single-quoted string; the opening quote has been consumed. Only printable
    /// ASCII is allowed, and `\\` is the only escape.
    fn lex_string(&mut self) -> Result<Token<'a>> {
        let bytes = self.src.as_bytes();
        // Nearly every string is plain printable ASCII up to its closing quote: copied in
        // one go. Anything else is read byte by byte below, which knows the errors.
        let start = self.cursor.min(bytes.len());
        let len = plain_len(&bytes[start..]);
        if bytes.get(start + len) == Some(&b'\'') {
            self.cursor = start + len + 1;
            return Ok(Token::Str {
                start: start as u32,
                end: (start + len) as u32,
                escaped: false,
            });
        }
        let out_start = self.escaped.len();
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
                return Ok(Token::Str {
                    start: out_start as u32,
                    end: self.escaped.len() as u32,
                    escaped: true,
                });
            }
            if !(32..127).contains(&ch) {
                return Err(self.error("funny character in string"));
            }
            self.escaped.push(ch as char);
        }
    }
}

struct Parser<'a, 's> {
    lexer: Lexer<'a>,
    /// The folder of the file's path, which its includes are joined to (worked out
    /// once: QEMU's root file has some forty includes, and a path's parent is found by
    /// walking it).
    folder: &'a Path,
    /// The absolute form of `folder`.
    dir: PathBuf,
    /// The file's text, which the lexer reads, and its doc sections' shared text.
    source: doc::Source<'a>,
    options: ParseOptions,
    files: &'s mut Files,
    schema: &'s mut ParsedSchema,
    /// The values of the file's definitions (see [`Tree`]), to go into its
    /// [`ParsedFile`].
    slots: Vec<Slot>,
    /// Where the expression being read starts in the source.
    expr_start: usize,
    /// Where the last expression read ends in the source (after its closing `}`).
    expr_end: usize,
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
            let tree = match self.top_expr(&info)? {
                Top::Definition(tree) => {
                    self.definition(tree, cur_doc.take(), info)?;
                    continue;
                }
                Top::Directive(tree) => tree,
            };
            let dict = tree.dict();
            if let Some(include) = dict.get("include") {
                reject_doc(cur_doc.take())?;
                self.include(dict.len(), include, &info)?;
            } else if let Some(pragma) = dict.get("pragma") {
                reject_doc(cur_doc.take())?;
                if dict.len() != 1 {
                    return Err(SchemaError::new(&info, "invalid 'pragma' directive"));
                }
                let Value::Dict(settings) = pragma.value() else {
                    return Err(SchemaError::new(
                        &info,
                        "value of 'pragma' must be an object",
                    ));
                };
                for (name, value) in settings.iter() {
                    apply_pragma(&mut self.schema.pragma, name, value, &info)?;
                }
            }
            cur_doc = None;
        }
        reject_doc(cur_doc)
    }

    /// A definition, with the doc block before it.
    fn definition(&mut self, tree: Tree, doc: Option<Doc>, info: Info) -> Result<()> {
        if let Some(d) = &doc {
            if d.symbol.is_none() {
                return Err(SchemaError::new(
                    &d.info,
                    "definition documentation required",
                ));
            }
        }
        self.schema.items.push(TopLevel::Definition(Definition {
            expr: tree,
            info,
            doc,
        }));
        Ok(())
    }

    /// An `include` directive: `include` is its value, `len` the number of its keys.
    fn include(&mut self, len: usize, include: Node<'_>, info: &Info) -> Result<()> {
        if len != 1 {
            return Err(SchemaError::new(info, "invalid 'include' directive"));
        }
        let Value::Str(name) = include.value() else {
            return Err(SchemaError::new(
                info,
                "value of 'include' must be a string",
            ));
        };
        let file = self.folder.join(name);
        self.schema.items.push(TopLevel::Include {
            file: file.clone(),
            info: *info,
        });
        let abs = self.files.absolute_in(intern_file(&file), &self.dir, name);
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
        let mut lines = DocLines {
            lexer: &mut self.lexer,
            col: info.col,
            done: false,
            error: None,
        };
        let doc = doc::parse_one(
            &mut lines,
            *info,
            self.options.strict,
            &mut self.schema.warnings,
            &mut self.doc_scratch,
            Some(&self.stops),
            self.source,
        )?;
        // No doc: the block has no proper end, which the lines before it did not
        // outrank (QEMU reads a block line by line, so a bad line before the broken end
        // is what it reports).
        if let Some(error) = lines.error {
            return Err(error);
        }
        // What follows a block is nearly always its definition's `{` on the next line:
        // read inline (`next_token` leaves anything else to `accept`).
        self.lexer.next_token()?;
        Ok(doc)
    }

    /// Reads one top-level expression; the lexer stands on its first token, which is at
    /// `info`.
    fn top_expr(&mut self, info: &Info) -> Result<Top> {
        let first = self.slots.len();
        let escaped = self.lexer.escaped.len();
        self.expr_start = self.lexer.pos;
        self.expr_end = self.lexer.pos;
        self.expr(0)?;
        let Some(&root) = self.slots.get(first).filter(|r| r.kind == Kind::Dict) else {
            return Err(SchemaError::new(
                info,
                "top-level expression must be an object",
            ));
        };
        if self.is_directive(first + 1, root.a as usize) {
            return Ok(Top::Directive(self.directive(first, escaped, info)));
        }
        Ok(Top::Definition(Tree::new(
            self.source.shared.clone(),
            first,
            self.expr_start,
            *info,
        )))
    }

    /// Whether the object whose entries are the slots `first..end` has an `include` or
    /// a `pragma` key: one pass over its keys (a definition has a handful), rather than
    /// one per key looked for.
    fn is_directive(&self, first: usize, end: usize) -> bool {
        let (slots, src) = (&self.slots, self.lexer.src.as_bytes());
        let escaped = self.lexer.escaped.as_bytes();
        let mut at = first;
        while at < end {
            let (Some(&key), Some(value)) = (slots.get(at), slots.get(at + 1)) else {
                return false;
            };
            if matches!(key.b.wrapping_sub(key.a), 6 | 7) {
                let text = if key.kind == Kind::EscapedStr {
                    escaped
                } else {
                    src
                };
                if matches!(
                    text.get(key.a as usize..key.b as usize),
                    Some(b"include" | b"pragma")
                ) {
                    return true;
                }
            }
            at = match value.kind {
                Kind::List | Kind::Dict => value.a as usize,
                _ => at + 2,
            };
        }
        false
    }

    /// The directive just read (its values from slot `first` on, its unescaped strings
    /// from byte `escaped` on) as a [`Tree`] of its own: it is looked at now, while the
    /// file's values are not complete yet. Directives are few: copying them costs
    /// nothing worth counting.
    fn directive(&mut self, first: usize, escaped: usize, info: &Info) -> Tree {
        let source = self
            .lexer
            .src
            .get(self.expr_start..self.expr_end)
            .unwrap_or_default();
        let unescaped = self.lexer.escaped.get(escaped..).unwrap_or_default();
        let mut text = String::with_capacity(source.len() + unescaped.len());
        text.push_str(source);
        text.push_str(unescaped);
        // Offsets into its own text and array, from offsets into the file's.
        let base = self.expr_start as u32;
        let shift = (source.len() as u32).wrapping_sub(escaped as u32);
        let slots = self
            .slots
            .get(first..)
            .unwrap_or_default()
            .iter()
            .map(|&slot| {
                let pos = slot.pos.saturating_sub(base);
                match slot.kind {
                    Kind::Str => Slot {
                        pos,
                        a: slot.a.saturating_sub(base),
                        b: slot.b.saturating_sub(base),
                        ..slot
                    },
                    Kind::EscapedStr => Slot {
                        kind: Kind::Str,
                        pos,
                        a: slot.a.wrapping_add(shift),
                        b: slot.b.wrapping_add(shift),
                    },
                    Kind::List | Kind::Dict => Slot {
                        pos,
                        a: slot.a.saturating_sub(first as u32),
                        ..slot
                    },
                    Kind::Bool => Slot { pos, ..slot },
                }
            })
            .collect();
        self.slots.truncate(first);
        self.lexer.escaped.truncate(escaped);
        let file = Arc::new(ParsedFile::default());
        // A new file: nothing completed it before.
        let _ = file.finish(FileData {
            slots,
            ..FileData::new(text)
        });
        Tree::new(file, 0, 0, *info)
    }

    /// The position of the current token.
    fn pos(&self) -> u32 {
        self.lexer.pos as u32
    }

    /// Adds the string token `start..end` (see [`Token::Str`]) whose quote is at `pos`.
    // Inline: called once per string value, it is a handful of stores, less than its call.
    #[inline(always)]
    fn push_str(&mut self, pos: u32, start: u32, end: u32, escaped: bool) {
        let kind = if escaped { Kind::EscapedStr } else { Kind::Str };
        self.slots.push(Slot {
            kind,
            pos,
            a: start,
            b: end,
        });
    }

    /// The string of the slot `slot` of the file's values.
    fn slot_str(&self, slot: Slot) -> &str {
        let text = match slot.kind {
            Kind::EscapedStr => self.lexer.escaped.as_str(),
            _ => self.lexer.src,
        };
        text.get(slot.a as usize..slot.b as usize)
            .unwrap_or_default()
    }

    /// Completes the object or array begun at slot `index` with `len` items.
    fn close(&mut self, index: usize, len: u32) {
        let end = self.slots.len() as u32;
        if let Some(slot) = self.slots.get_mut(index) {
            slot.a = end;
            slot.b = len;
        }
    }

    /// [`Parser::expr`] for a member's value or an array's element: most are strings,
    /// read here inline instead of through a call (`expr` is recursive, so it stays a
    /// call). Anything else, and a string too deep, goes to `expr`.
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Result<()> {
        if let Token::Str {
            start,
            end,
            escaped,
        } = self.lexer.tok
        {
            if depth <= MAX_NESTING {
                let pos = self.pos();
                self.push_str(pos, start, end, escaped);
                self.expr_end = self.lexer.cursor;
                return self.lexer.next_token();
            }
        }
        self.expr(depth)
    }

    fn expr(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(self.lexer.error("nesting too deep"));
        }
        let pos = self.pos();
        match self.lexer.tok {
            Token::Punct(b'{') => {
                let index = self.slots.len();
                self.slots.push(Slot {
                    kind: Kind::Dict,
                    pos,
                    a: 0,
                    b: 0,
                });
                self.lexer.next_token()?;
                let len = self.members(depth)?;
                self.close(index, len);
            }
            Token::Punct(b'[') => {
                let index = self.slots.len();
                self.slots.push(Slot {
                    kind: Kind::List,
                    pos,
                    a: 0,
                    b: 0,
                });
                self.lexer.next_token()?;
                let len = self.values(depth)?;
                self.close(index, len);
            }
            Token::Str {
                start,
                end,
                escaped,
            } => {
                self.push_str(pos, start, end, escaped);
                self.expr_end = self.lexer.cursor;
                self.lexer.next_token()?;
            }
            Token::Bool(b) => {
                self.slots.push(Slot {
                    kind: Kind::Bool,
                    pos,
                    a: u32::from(b),
                    b: 0,
                });
                self.expr_end = self.lexer.cursor;
                self.lexer.next_token()?;
            }
            _ => return Err(self.lexer.error("expected '{', '[', string, or boolean")),
        }
        Ok(())
    }

    /// Whether the object whose first key is at slot `first` (complete up to the last
    /// slot) has the key `key`.
    fn has_key(&self, first: usize, key: &str) -> bool {
        let src = self.lexer.src.as_bytes();
        let escaped = self.lexer.escaped.as_bytes();
        let slots = &self.slots;
        crate::ast::find_key(slots, src, first, slots.len(), key.as_bytes(), |_| escaped).is_some()
    }

    /// Reads an object's entries, after its `{`; returns how many.
    fn members(&mut self, depth: usize) -> Result<u32> {
        if self.lexer.tok == Token::Punct(b'}') {
            self.expr_end = self.lexer.cursor;
            self.lexer.next_token()?;
            return Ok(0);
        }
        if !matches!(self.lexer.tok, Token::Str { .. }) {
            return Err(self.lexer.error("expected string or '}'"));
        }
        let first = self.slots.len();
        let mut len = 0;
        // A bit per key read so far (see `key_bit`): a key whose bit is clear is not a
        // duplicate, which is told without going through the keys before it.
        let mut seen = 0u64;
        loop {
            let Token::Str {
                start,
                end,
                escaped,
            } = self.lexer.tok
            else {
                unreachable!("members: a key is always a string token here");
            };
            let pos = self.pos();
            // Nearly every key has its `:` right after its closing quote: stepped over
            // without reading it as a token (which only the check below looks at).
            if self.lexer.src.as_bytes().get(self.lexer.cursor) == Some(&b':') {
                self.lexer.cursor += 1;
            } else {
                self.lexer.next_token()?;
                if self.lexer.tok != Token::Punct(b':') {
                    return Err(self.lexer.error("expected ':'"));
                }
            }
            self.lexer.next_token()?;
            let key = Slot {
                kind: if escaped { Kind::EscapedStr } else { Kind::Str },
                pos,
                a: start,
                b: end,
            };
            // The key's bytes, without making a string of them (which checks where
            // characters start) for its length and last byte.
            let bytes = if escaped {
                self.lexer.escaped.as_bytes()
            } else {
                self.lexer.src.as_bytes()
            };
            let bit = key_bit(bytes.get(start as usize..end as usize).unwrap_or_default());
            if seen & bit != 0 && self.has_key(first, self.slot_str(key)) {
                let message = format!("duplicate key '{}'", self.slot_str(key));
                return Err(self.lexer.error(message));
            }
            seen |= bit;
            self.slots.push(key);
            self.value(depth + 1)?;
            len += 1;
            match self.lexer.tok {
                Token::Punct(b'}') => {
                    self.expr_end = self.lexer.cursor;
                    self.lexer.next_token()?;
                    return Ok(len);
                }
                Token::Punct(b',') => {}
                _ => return Err(self.lexer.error("expected ',' or '}'")),
            }
            self.lexer.next_token()?;
            if !matches!(self.lexer.tok, Token::Str { .. }) {
                return Err(self.lexer.error("expected string"));
            }
        }
    }

    /// Reads an array's elements, after its `[`; returns how many.
    fn values(&mut self, depth: usize) -> Result<u32> {
        if self.lexer.tok == Token::Punct(b']') {
            self.expr_end = self.lexer.cursor;
            self.lexer.next_token()?;
            return Ok(0);
        }
        if !matches!(
            self.lexer.tok,
            Token::Punct(b'{') | Token::Punct(b'[') | Token::Str { .. } | Token::Bool(_)
        ) {
            return Err(self
                .lexer
                .error("expected '{', '[', ']', string, or boolean"));
        }
        let mut len = 0;
        loop {
            self.value(depth + 1)?;
            len += 1;
            match self.lexer.tok {
                Token::Punct(b']') => {
                    self.expr_end = self.lexer.cursor;
                    self.lexer.next_token()?;
                    return Ok(len);
                }
                Token::Punct(b',') => self.lexer.next_token()?,
                _ => return Err(self.lexer.error("expected ',' or ']'")),
            }
        }
    }
}

/// The lines of a doc block, read from the source as the block's reader asks for them;
/// the lexer stops at the closing `##`.
struct DocLines<'l, 'a> {
    lexer: &'l mut Lexer<'a>,
    /// The column of the line handed over last (its line is the lexer's).
    col: u32,
    /// Whether the lines ran out.
    done: bool,
    /// Why the block has no proper end, when it has none.
    error: Option<SchemaError>,
}

impl<'a> BlockLines<'a> for &mut DocLines<'_, 'a> {
    #[inline(always)]
    fn next_line(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        // Nearly every line of a block starts with `#` and not `##`: read here, without
        // making a token of it (only the lines themselves are asked for).
        let lexer = &mut *self.lexer;
        let src: &'a str = lexer.src;
        let bytes = src.as_bytes();
        let start = lexer.cursor + 1;
        let after = bytes.get(start + 1);
        if bytes.get(lexer.cursor) == Some(&b'\n')
            && bytes.get(start) == Some(&b'#')
            && after != Some(&b'#')
        {
            // A lone `#` (a blank line, nearly a third of them) ends right there.
            let end = if after == Some(&b'\n') {
                start + 1
            } else {
                (lexer.breaks)
                    .find(bytes.get(start..).unwrap_or_default())
                    .map_or(bytes.len(), |i| start + i)
            };
            lexer.info.line += 1;
            lexer.line_pos = start;
            lexer.cursor = end;
            self.col = 1;
            return src.get(start..end);
        }
        // The closing `##` alone on its line, as nearly every block has it: the block
        // ends (what the lexer reads next starts from the line break after it).
        if bytes.get(lexer.cursor) == Some(&b'\n')
            && bytes.get(start..start + 3) == Some(b"##\n".as_slice())
        {
            lexer.info.line += 1;
            lexer.line_pos = start;
            lexer.cursor = start + 2;
            self.col = 1;
            self.done = true;
            return None;
        }
        self.other_line()
    }

    #[inline]
    fn here(&self) -> Info {
        self.lexer.info.at_col(self.col)
    }

    #[inline]
    fn line(&self) -> u32 {
        self.lexer.info.line
    }

    fn at_end(&self) -> bool {
        self.error.is_none()
    }
}

impl<'a> DocLines<'_, 'a> {
    /// [`BlockLines::next_line`] for a line that is not plainly a comment line: the
    /// closing `##`, or whatever ends the block improperly (see [`Lexer::accept`]).
    #[inline(never)]
    fn other_line(&mut self) -> Option<&'a str> {
        // A comment line read as such starts its line: its column is 1, without working
        // it out.
        if self.lexer.next_line_comment() {
            self.col = 1;
        } else {
            if let Err(error) = self.lexer.accept(true) {
                self.error = Some(error);
                self.done = true;
                return None;
            }
            self.col = self.lexer.col();
        }
        match self.lexer.tok {
            Token::Comment(text) if !text.starts_with("##") => Some(text),
            Token::Comment(text) => {
                if text != "##" {
                    self.error = Some(
                        self.lexer
                            .error("junk after '##' at end of documentation comment"),
                    );
                }
                self.done = true;
                None
            }
            _ => {
                self.error = Some(self.lexer.error("documentation comment must end with '##'"));
                self.done = true;
                None
            }
        }
    }
}

/// A top-level expression.
enum Top {
    /// A definition: its values are in the file's array, to be read once the file is.
    Definition(Tree),
    /// An `include` or `pragma` directive, ready to be read.
    Directive(Tree),
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

fn apply_pragma(pragma: &mut Pragma, name: &str, value: Node<'_>, info: &Info) -> Result<()> {
    let string_list = || -> Result<Vec<String>> {
        let items = value.value().as_list().and_then(|l| {
            l.iter()
                .map(|n| n.value().as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        items.ok_or_else(|| {
            SchemaError::new(info, format!("pragma {name} must be a list of strings"))
        })
    };
    match name {
        "doc-required" => {
            pragma.doc_required = value
                .value()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prefix_of_every_byte() {
        let simple = |b: &[u8]| {
            b.iter()
                .position(|&b| !(32..127).contains(&b) || b == b'\'' || b == b'\\')
                .unwrap_or(b.len())
        };
        for stop in 0..=255u8 {
            for at in 0..20 {
                let mut text = [b'a'; 20];
                text[at] = stop;
                for end in at..=text.len() {
                    assert_eq!(plain_len(&text[..end]), simple(&text[..end]), "{stop} {at}");
                }
            }
        }
    }

    #[test]
    fn duplicate_keys_among_many() {
        let error = |text: &str| {
            parse_str(Path::new("t.json"), text, ParseOptions::default())
                .err()
                .map(|e| e.to_string())
        };
        // Keys whose bits collide (same length and last byte), a nested object with the
        // same keys in between, and the duplicate last.
        let keys: String = (0..70).map(|i| format!("'k{i:02}': 'v', ")).collect();
        let text = format!("{{ {keys}'x': {{ 'k00': 'v', 'k01': 'v' }}, 'k35': 'v' }}\n");
        let message = error(&text).unwrap_or_default();
        assert!(message.ends_with("duplicate key 'k35'"), "{message}");
        let text = format!("{{ {keys}'x': {{ 'k00': 'v', 'k01': 'v' }} }}\n");
        assert_eq!(error(&text), None);
        // An escaped key is compared by what it stands for.
        let message = error("{ 'a\\\\b': 'v', 'c': 'v', 'a\\\\b': 'v' }\n").unwrap_or_default();
        assert!(message.ends_with("duplicate key 'a\\b'"), "{message}");
    }

    #[test]
    fn nesting_limit_holds_for_strings_too() {
        let error = |lists: usize| {
            let text = format!("{{ 'a': {}'s'{} }}\n", "[".repeat(lists), "]".repeat(lists));
            parse_str(Path::new("t.json"), &text, ParseOptions::default())
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(error(MAX_NESTING - 1), None);
        // The string itself is one level too deep: refused where it stands.
        let message = error(MAX_NESTING).unwrap_or_default();
        assert!(message.ends_with("nesting too deep"), "{message}");
        assert!(
            message.contains(&format!(":1:{}", 8 + MAX_NESTING)),
            "{message}"
        );
    }

    #[test]
    fn tree_values_and_lazy_positions() {
        let text =
            "# c\n{ 'enum': 'E',\n  'data': [ 'a\\\\b', {\t'name': 'c' } ],\n  'x': true }\n\
                    { 'pragma': { 'command-name-exceptions': [ 'p\\\\q', 'r' ] } }\n";
        let parsed = parse_str(Path::new("t.json"), text, ParseOptions::default()).unwrap();
        assert_eq!(parsed.pragma.command_name_exceptions, ["p\\q", "r"]);
        assert_eq!(parsed.items.len(), 1);
        let TopLevel::Definition(def) = &parsed.items[0] else {
            panic!("not a definition");
        };
        let dict = def.expr.dict();
        assert_eq!(dict.keys().collect::<Vec<_>>(), ["enum", "data", "x"]);
        assert_eq!(dict.get("x").unwrap().value().as_bool(), Some(true));
        let data = dict.get("data").unwrap();
        let items: Vec<_> = data.value().as_list().unwrap().iter().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].value().as_str(), Some("a\\b"));
        let inner = items[1].value().as_dict().unwrap();
        assert_eq!(inner.get("name").unwrap().value().as_str(), Some("c"));
        // Positions as the lexer counts them (a tab counts as QEMU counts it).
        assert_eq!(def.expr.root().info().location(), "t.json:2:1");
        assert_eq!(dict.get("enum").unwrap().info().location(), "t.json:2:11");
        assert_eq!(data.info().location(), "t.json:3:11");
        assert_eq!(items[1].info().location(), "t.json:3:21");
        // The value of 'name', after a tab at column 22 (which QEMU counts as reaching 6).
        assert_eq!(inner.get("name").unwrap().info().location(), "t.json:3:14");
    }
}
