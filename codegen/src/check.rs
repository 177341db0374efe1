//! Shape checks of the definitions, after QEMU's `scripts/qapi/expr.py`.
//!
//! Every definition the parser read is checked on its own, without looking at other
//! definitions: which keys it has, whether its names follow the naming rules, whether each
//! value has the right JSON shape. What passes is turned into a typed, normalized [`Expr`]
//! (the sugared forms `'member': 'Type'`, `'features': [ 'name' ]` and `'data': [ 'value' ]`
//! are expanded), which [`crate::model`] then resolves and checks against the rest of the
//! schema.
//!
//! The rules, their order and their messages follow QEMU's, so that a schema QEMU rejects is
//! rejected here at the same place.

use crate::ast::{Dict, Name, Node, TopLevel, Value};
use crate::common::{Builtin, Cond};
use crate::doc::Doc;
use crate::error::{Result, SchemaError};
use crate::parse::ParsedSchema;
use crate::source::Info;
use crate::source::Pragma;
use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

/// The kind of a definition: the key that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Meta {
    /// `{ 'enum': ... }`
    Enum,
    /// `{ 'struct': ... }`
    Struct,
    /// `{ 'union': ... }`
    Union,
    /// `{ 'alternate': ... }`
    Alternate,
    /// `{ 'command': ... }`
    Command,
    /// `{ 'event': ... }`
    Event,
}

impl Meta {
    /// Every kind, in the order QEMU lists them in messages.
    pub const ALL: [Meta; 6] = [
        Meta::Enum,
        Meta::Struct,
        Meta::Union,
        Meta::Alternate,
        Meta::Command,
        Meta::Event,
    ];

    /// The key, as written in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Meta::Enum => "enum",
            Meta::Struct => "struct",
            Meta::Union => "union",
            Meta::Alternate => "alternate",
            Meta::Command => "command",
            Meta::Event => "event",
        }
    }
}

impl fmt::Display for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The definition a position belongs to; errors about it name it in a context line
/// (`FILE: In struct 'Foo':`), as QEMU's do.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// Where the definition starts (line only, as QEMU reports definition errors).
    pub info: Info,
    /// What kind of definition it is.
    pub meta: Meta,
    /// Its name.
    pub name: Name,
}

impl Origin {
    /// An error about this definition.
    pub fn error(&self, message: impl Into<String>) -> SchemaError {
        SchemaError::new(&self.info, message)
            .with_context(format!("In {} '{}':", self.meta, self.name))
    }
}

/// A schema whose definitions passed the shape checks, in reading order.
#[derive(Clone, Debug, Default)]
pub struct CheckedSchema {
    /// Include directives and definitions, in the order the files were read.
    pub items: Vec<Item>,
    /// Every documentation block, in reading order (as parsed).
    pub docs: Vec<Doc>,
    /// The pragmas in force.
    pub pragma: Pragma,
    /// Warnings from parsing (broken formatting-only rules, when not strict).
    pub warnings: Vec<SchemaError>,
    /// The files module markers named (see [`ParsedSchema::marker_files`]).
    pub marker_files: Vec<&'static std::path::PathBuf>,
    /// The since facts of since markers (see [`ParsedSchema::since`]).
    pub since: crate::facts::SinceFacts,
    /// The QEMU release of the schema (see [`ParsedSchema::release`]).
    pub release: Option<crate::facts::Release>,
}

/// One top-level item of a checked schema.
// Definitions, not boxed: all but a few dozen items are one, so a box each cost an
// allocation per definition to save room in the few directives.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Item {
    /// An `include` directive: `file` is the included path joined to the including file's
    /// folder.
    Include {
        /// The joined path of the included file.
        file: PathBuf,
        /// Where the directive stands.
        info: Info,
    },
    /// A definition.
    Definition(Expr),
}

/// A checked definition.
#[derive(Clone, Debug)]
pub struct Expr {
    /// Kind, name and position.
    pub origin: Origin,
    /// The documentation block that preceded it.
    pub doc: Option<Doc>,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Its `features`, in order.
    pub features: Vec<FeatureExpr>,
    /// The kind-specific part.
    pub body: ExprBody,
}

impl Expr {
    /// The definition's name.
    pub fn name(&self) -> &str {
        &self.origin.name
    }

    /// The definition's kind.
    pub fn meta(&self) -> Meta {
        self.origin.meta
    }
}

/// The kind-specific part of a checked definition.
#[derive(Clone, Debug)]
pub enum ExprBody {
    /// An enumeration.
    Enum {
        /// The values, in order.
        members: Vec<EnumMemberExpr>,
        /// The `prefix` for C constant names, if given.
        prefix: Option<Name>,
    },
    /// A struct.
    Struct {
        /// The `base` type's name, if any.
        base: Option<Name>,
        /// The members declared here.
        members: Vec<MemberExpr>,
    },
    /// A union with a discriminator.
    Union {
        /// The base: a type name or inline members.
        base: TypeOrMembers,
        /// The name of the discriminator member of the base.
        discriminator: Name,
        /// The branches written out (others are implicitly empty).
        branches: Vec<BranchExpr>,
    },
    /// An alternate.
    Alternate {
        /// The alternatives.
        branches: Vec<BranchExpr>,
    },
    /// A command.
    Command {
        /// Its arguments: a type name or inline members.
        data: Option<TypeOrMembers>,
        /// What it returns.
        returns: Option<TypeName>,
        /// Flags.
        flags: CommandFlags,
    },
    /// An event.
    Event {
        /// Its data: a type name or inline members.
        data: Option<TypeOrMembers>,
        /// `boxed: true`.
        boxed: bool,
    },
}

/// The flags of a command, with QEMU's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandFlags {
    /// `gen` (false: the handler is written by hand).
    pub gen: bool,
    /// `success-response` (false: no reply on success).
    pub success_response: bool,
    /// `boxed`: the arguments are passed as one object.
    pub boxed: bool,
    /// `allow-oob`: may be executed out of band.
    pub allow_oob: bool,
    /// `allow-preconfig`: may run before the machine is configured.
    pub allow_preconfig: bool,
    /// `coroutine`: runs in a coroutine.
    pub coroutine: bool,
}

impl Default for CommandFlags {
    fn default() -> Self {
        CommandFlags {
            gen: true,
            success_response: true,
            boxed: false,
            allow_oob: false,
            allow_preconfig: false,
            coroutine: false,
        }
    }
}

/// A reference to a type by name: a plain name or a one-element array `[ 'Name' ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeName {
    /// `'Name'`.
    Named(Name),
    /// `[ 'Name' ]`: an array of `Name`.
    Array(Name),
}

/// A `base` or `data` that is either the name of a type or inline members (an implicit
/// type).
#[derive(Clone, Debug)]
pub enum TypeOrMembers {
    /// A type name.
    Named(Name),
    /// Inline members, in order.
    Members(Vec<MemberExpr>),
}

/// A feature as written.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureExpr {
    /// Its name.
    pub name: Name,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
}

/// An enumeration value as written.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumMemberExpr {
    /// The value.
    pub name: Name,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Its features.
    pub features: Vec<FeatureExpr>,
}

/// An object member as written (`'*name': 'Type'` or the long form).
#[derive(Clone, Debug, PartialEq)]
pub struct MemberExpr {
    /// The name, without the `*` that marks it optional.
    pub name: Name,
    /// Whether it was written with a leading `*`.
    pub optional: bool,
    /// Its type.
    pub ty: TypeName,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Its features.
    pub features: Vec<FeatureExpr>,
}

/// A union branch or an alternative as written.
#[derive(Clone, Debug, PartialEq)]
pub struct BranchExpr {
    /// The branch name (a discriminator value for unions).
    pub name: Name,
    /// Its type (arrays only in alternates).
    pub ty: TypeName,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
}

/// C, C++ and GCC keywords, and names some platforms predefine as macros: QEMU's `c_name`
/// protects these with a `q_` prefix.
const RESERVED: &[&str] = &[
    // C89
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "int",
    "long",
    "register",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    // C99
    "inline",
    "restrict",
    "_Bool",
    "_Complex",
    "_Imaginary",
    // C11
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_Generic",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
    // GCC
    "asm",
    "typeof",
    // C++
    "bool",
    "catch",
    "class",
    "const_cast",
    "delete",
    "dynamic_cast",
    "explicit",
    "false",
    "friend",
    "mutable",
    "namespace",
    "new",
    "operator",
    "private",
    "protected",
    "public",
    "reinterpret_cast",
    "static_cast",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "typeid",
    "typename",
    "using",
    "virtual",
    "wchar_t",
    "and",
    "and_eq",
    "bitand",
    "bitor",
    "compl",
    "not",
    "not_eq",
    "or",
    "or_eq",
    "xor",
    "xor_eq",
    // names some platforms predefine as macros
    "unix",
    "errno",
    "mips",
    "sparc",
    "i386",
    "linux",
];

/// A word of up to 16 bytes as one number, its bytes in order from the lowest, zeros after
/// it: C names hold no zero byte, so two words are equal exactly when their numbers are.
const fn pack(word: &[u8]) -> u128 {
    let mut packed = 0u128;
    let mut i = 0;
    while i < word.len() && i < 16 {
        packed |= (word[i] as u128) << (8 * i);
        i += 1;
    }
    packed
}

/// The slot of [`RESERVED_SET`] where looking for `packed` starts.
const fn reserved_slot(packed: u128) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let folded = (packed as u64) ^ ((packed >> 64) as u64).rotate_left(17);
    (folded.wrapping_mul(K) >> 56) as usize
}

/// [`RESERVED`] packed (see [`pack`]) in an open-addressing table (0 for an empty
/// slot): a name is told apart from all the words with a hash and a compare or two, not
/// compared with each word of its length.
const RESERVED_SET: [u128; 256] = {
    let mut table = [0u128; 256];
    let mut i = 0;
    while i < RESERVED.len() {
        let packed = pack(RESERVED[i].as_bytes());
        let mut slot = reserved_slot(packed);
        while table[slot] != 0 {
            slot = (slot + 1) % 256;
        }
        table[slot] = packed;
        i += 1;
    }
    table
};

/// Whether `word` (already mapped to C characters) is one of [`RESERVED`].
fn is_reserved(word: &[u8]) -> bool {
    !word.is_empty() && word.len() <= 16 && is_reserved_packed(pack(word))
}

/// Whether the word packed as `packed` (see [`pack`]) is one of [`RESERVED`].
#[inline]
fn is_reserved_packed(packed: u128) -> bool {
    let mut slot = reserved_slot(packed);
    loop {
        match RESERVED_SET.get(slot) {
            Some(&entry) if entry == packed => return packed != 0,
            Some(&0) | None => return false,
            Some(_) => slot = (slot + 1) % RESERVED_SET.len(),
        }
    }
}

/// The C character QEMU's `c_name` maps `c` to.
fn c_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || c == '_' {
        c
    } else {
        '_'
    }
}

/// Maps a QAPI name to the C identifier QEMU derives from it, as QEMU's `c_name`: every
/// character other than ASCII letters, digits and `_` becomes `_`; with `protect`, names
/// that are C, C++ or GCC keywords (or commonly predefined macros), or start with a digit,
/// get a `q_` prefix.
///
/// The clash rules compare names through this mapping: `a-b` and `a_b` collide.
pub fn c_name(name: &str, protect: bool) -> String {
    let mapped: String = name.chars().map(c_char).collect();
    let starts_with_digit = mapped.chars().next().is_some_and(|c| c.is_ascii_digit());
    if protect && (is_reserved(mapped.as_bytes()) || starts_with_digit) {
        format!("q_{mapped}")
    } else {
        mapped
    }
}

/// A fingerprint of `c_name(name, true)`: names whose fingerprints differ cannot clash,
/// so the clash rules compare these first and build C names only for the rare equal pair.
///
/// The hash of the C name's bytes, a word at a time (see [`hash_padded`]), worked out
/// without building it.
pub(crate) fn c_name_key(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let len = bytes.len();
    if len > 16 {
        return match len {
            17..=32 => c_name_key_32(bytes),
            _ => None,
        }
        .unwrap_or_else(|| c_name_key_long(name));
    }
    // Most names fit in two words: mapped into them directly, no buffer to clear and
    // walk, no separate pass to see they are ASCII.
    let mut buf = [0u8; 16];
    for (slot, &b) in buf.iter_mut().zip(bytes) {
        *slot = C_MAP[usize::from(b)];
    }
    let (lo, hi) = split_words(buf);
    if (lo | hi) & TOP != 0 {
        return c_name_key_long(name);
    }
    // Reserved words are looked for among the mapped names: `-Bool` is `_Bool` in C.
    let first = lo as u8;
    let protected = first.is_ascii_digit()
        || (may_be_reserved(len, first)
            && is_reserved_packed(u128::from(lo) | (u128::from(hi) << 64)));
    if !protected {
        let mut h = len as u64;
        if len > 0 {
            h = mix(h, lo);
        }
        if len > 8 {
            h = mix(h, hi);
        }
        return h;
    }
    // `q_` in front: each word of the C name is the end of one mapped word and the
    // start of the next.
    let total = len + 2;
    let mut h = mix(
        total as u64,
        (lo << 16) | u64::from(u16::from_le_bytes(*b"q_")),
    );
    if total > 8 {
        h = mix(h, (hi << 16) | (lo >> 48));
    }
    if total > 16 {
        h = mix(h, hi >> 48);
    }
    h
}

/// The C byte of each byte, as `c_name` maps characters; 0x80 for the bytes of characters
/// outside ASCII (which `c_name` maps whole, not byte by byte).
const C_MAP: [u8; 256] = {
    let mut map = [0x80u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        map[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            c
        } else {
            b'_'
        };
        b += 1;
    }
    map
};

/// The top bit of every byte of a word.
const TOP: u64 = 0x8080_8080_8080_8080;

/// [`c_name_key`] of a name of 17 to 32 bytes, the same way in four words; `None` when
/// it is not all ASCII. Too long to be a reserved word: only a leading digit protects it.
fn c_name_key_32(bytes: &[u8]) -> Option<u64> {
    let mut buf = [0u8; 32];
    for (slot, &b) in buf.iter_mut().zip(bytes) {
        *slot = C_MAP[usize::from(b)];
    }
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(buf.chunks_exact(8)) {
        let mut piece = [0u8; 8];
        piece.copy_from_slice(chunk);
        *word = u64::from_le_bytes(piece);
    }
    if words.iter().fold(0, |all, w| all | w) & TOP != 0 {
        return None;
    }
    let len = bytes.len();
    if !(words[0] as u8).is_ascii_digit() {
        let count = len.div_ceil(8);
        return Some(words.iter().take(count).fold(len as u64, |h, &w| mix(h, w)));
    }
    // `q_` in front, as in `c_name_key`; past the name's words, only the carry is left.
    let total = len + 2;
    let mut h = total as u64;
    let mut carry = u64::from(u16::from_le_bytes(*b"q_"));
    for at in 0..total.div_ceil(8) {
        let word = words.get(at).copied().unwrap_or(0);
        h = mix(h, (word << 16) | carry);
        carry = word >> 48;
    }
    Some(h)
}

/// The two little-endian words of `buf`.
#[inline]
fn split_words(buf: [u8; 16]) -> (u64, u64) {
    let packed = u128::from_le_bytes(buf);
    (packed as u64, (packed >> 64) as u64)
}

/// One round of the fingerprints' hash (FxHash's scheme).
#[inline]
fn mix(h: u64, word: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    (h.rotate_left(5) ^ word).wrapping_mul(K)
}

/// Whether some word of [`RESERVED`] has `len` bytes and starts with a byte whose low five
/// bits are those of `first` (a mapped byte: letters, in either case, and `_`): most names
/// are told apart from all of them by this alone.
#[inline]
fn may_be_reserved(len: usize, first: u8) -> bool {
    const FILTER: [u32; 17] = {
        let mut filter = [0u32; 17];
        let mut i = 0;
        while i < RESERVED.len() {
            let word = RESERVED[i].as_bytes();
            filter[word.len()] |= 1 << (word[0] & 0x1f);
            i += 1;
        }
        filter
    };
    FILTER
        .get(len)
        .is_some_and(|bits| bits & (1 << (first & 0x1f)) != 0)
}

/// [`c_name_key`] of a name longer than two words, or not all ASCII.
#[cold]
fn c_name_key_long(name: &str) -> u64 {
    /// The C byte of each ASCII byte, as `c_name` maps characters.
    const MAP: [u8; 128] = {
        let mut map = [b'_'; 128];
        let mut b = 0;
        while b < 128 {
            let c = b as u8;
            if c.is_ascii_alphanumeric() || c == b'_' {
                map[b] = c;
            }
            b += 1;
        }
        map
    };
    /// The longest name mapped in place; longer ones (and non-ASCII ones, which the
    /// lexer never lets through) build their C name.
    const LONGEST: usize = 62;
    let bytes = name.as_bytes();
    if bytes.len() > LONGEST || !bytes.is_ascii() {
        let cname = c_name(name, true);
        let mut padded = cname.into_bytes();
        let len = padded.len();
        padded.resize(len.next_multiple_of(8) + 16, 0);
        return hash_padded(&padded, 0, len);
    }
    // Mapped after a gap for `q_`, so a protected name needs no second pass; the zeros
    // after the name pad its last word (and make it a packed word, see [`pack`]).
    let mut buf = [0u8; LONGEST + 2 + 16];
    for (slot, &b) in buf[2..].iter_mut().zip(bytes) {
        *slot = MAP[usize::from(b & 0x7f)];
    }
    let len = bytes.len();
    let mut packed = [0u8; 16];
    packed.copy_from_slice(&buf[2..18]);
    let protected = bytes.first().is_some_and(u8::is_ascii_digit)
        || (len <= 16 && is_reserved_packed(u128::from_le_bytes(packed)));
    if protected {
        buf[0] = b'q';
        buf[1] = b'_';
        hash_padded(&buf, 0, len + 2)
    } else {
        hash_padded(&buf, 2, len)
    }
}

/// The fingerprint of the C name `buf[start..start + len]`, a word at a time (FxHash's
/// scheme); `buf` has zeros after the name, to the end of its last word at least. A
/// function of the name's bytes alone, wherever they sit.
#[inline]
fn hash_padded(buf: &[u8], start: usize, len: usize) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = len as u64;
    let mut at = start;
    while at < start + len {
        let mut word = [0u8; 8];
        if let Some(bytes) = buf.get(at..at + 8) {
            word.copy_from_slice(bytes);
        }
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        at += 8;
    }
    h
}

/// Whether `name` starts with `q_` once mapped to C (the namespace QAPI reserves for
/// the names it makes up).
fn c_name_starts_with_q(name: &str) -> bool {
    // By bytes: a second character outside ASCII (which C spells `_`) starts with a byte
    // that is not a letter or digit either.
    let b = name.as_bytes();
    b.first() == Some(&b'q') && b.get(1).is_some_and(|&c| !c.is_ascii_alphanumeric())
}

/// Checks every definition of `parsed` and returns them typed and normalized.
///
/// Stops at the first broken rule, as QEMU does.
pub fn check_schema(parsed: ParsedSchema) -> Result<CheckedSchema> {
    let ParsedSchema {
        items,
        docs,
        pragma,
        warnings,
        marker_files,
        since,
        release,
    } = parsed;
    let out = items
        .into_iter()
        .map(|item| check_item(item, &pragma))
        .collect::<Result<Vec<Item>>>()?;
    Ok(CheckedSchema {
        items: out,
        docs,
        pragma,
        warnings,
        marker_files,
        since,
        release,
    })
}

/// Checks one top-level item of a schema whose pragmas are `pragma`.
///
/// [`check_schema`] runs it on every item; [`crate::model::Schema::from_parsed`] runs it
/// on each item just before modelling it, so that no checked copy of the whole schema
/// is held at once.
pub fn check_item(item: TopLevel, pragma: &Pragma) -> Result<Item> {
    match item {
        TopLevel::Include { file, info } => Ok(Item::Include { file, info }),
        TopLevel::Definition(def) => Ok(Item::Definition(check_definition(
            def.expr.dict(),
            &def.info,
            def.doc,
            pragma,
        )?)),
    }
}

/// Where checking stands: the position to blame and, once known, the definition.
struct Ctx<'a> {
    info: Info,
    defn: Option<(Meta, &'a str)>,
    pragma: &'a Pragma,
}

impl Ctx<'_> {
    #[cold]
    fn err(&self, message: impl Into<String>) -> SchemaError {
        let e = SchemaError::new(&self.info, message);
        match self.defn {
            Some((meta, name)) => e.with_context(format!("In {meta} '{name}':")),
            None => e,
        }
    }
}

/// [`KeySet::check`] with the keys' bits worked out at compile time.
macro_rules! check_defn_keys {
    ($keys:expr, $expr:expr, $ctx:expr, $source:literal, [$($req:literal),*], [$($opt:literal),*]) => {
        $keys.check(
            $expr,
            $ctx,
            Src::Plain($source),
            &[$($req),*],
            &[$($opt),*],
            const { (key_mask(&[$($req),*]), key_mask(&[$($req),*]) | key_mask(&[$($opt),*])) },
        )
    };
}

/// Checks one definition (QEMU's `check_exprs` loop body).
fn check_definition(
    expr: Dict<'_>,
    info: &Info,
    doc: Option<Doc>,
    pragma: &Pragma,
) -> Result<Expr> {
    let mut ctx = Ctx {
        info: info.line_only(),
        defn: None,
        pragma,
    };
    let keys = KeySet::of(expr);
    let Some(meta) = keys.meta() else {
        return Err(ctx.err(
            "expression must have exactly one key 'enum', 'struct', 'union', 'alternate', \
             'command', 'event'",
        ));
    };
    // The kinds' keys come first in DEFN_KEYS, in the order of Meta::ALL.
    let name_node = keys.node(meta as usize);
    // Copied once, for the messages on the way and then for the result.
    let owned_name = Name::new(check_name_is_str(
        name_node.map(Node::value),
        &ctx,
        Src::Quoted(meta.as_str()),
    )?);
    let name = owned_name.as_str();
    ctx.defn = Some((meta, name));
    check_defn_name_str(name, &ctx, meta)?;

    match &doc {
        Some(d) => {
            if d.symbol.as_deref() != Some(name) {
                return Err(ctx.err(format!(
                    "documentation comment is for '{}'",
                    d.symbol.as_deref().unwrap_or_default()
                )));
            }
            d.check_expr(meta == Meta::Command, keys.has(KeySet::RETURNS))?;
        }
        None if pragma.doc_required => {
            return Err(ctx.err("documentation comment required"));
        }
        None => {}
    }

    let mut body = match meta {
        Meta::Enum => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "enum",
                ["enum", "data"],
                ["if", "features", "prefix"]
            )?;
            check_enum(&keys, name, &ctx)?
        }
        Meta::Union => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "union",
                ["union", "base", "discriminator", "data"],
                ["if", "features"]
            )?;
            check_union(&keys, name, &ctx)?
        }
        Meta::Alternate => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "alternate",
                ["alternate", "data"],
                ["if", "features"]
            )?;
            check_alternate(&keys, &ctx)?
        }
        Meta::Struct => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "struct",
                ["struct", "data"],
                ["base", "if", "features"]
            )?;
            check_struct(&keys, name, &ctx)?
        }
        Meta::Command => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "command",
                ["command"],
                [
                    "data",
                    "returns",
                    "boxed",
                    "if",
                    "features",
                    "gen",
                    "success-response",
                    "allow-oob",
                    "allow-preconfig",
                    "coroutine"
                ]
            )?;
            check_command(&keys, &ctx)?
        }
        Meta::Event => {
            check_defn_keys!(
                keys,
                expr,
                &ctx,
                "event",
                ["event"],
                ["data", "boxed", "if", "features"]
            )?;
            check_event(&keys, &ctx)?
        }
    };

    let cond = check_if(keys.node(KeySet::IF), &ctx, Src::Plain(meta.as_str()))?;
    let features = check_features(keys.node(KeySet::FEATURES), &ctx)?;
    check_flags(expr, &keys, &ctx, &mut body)?;
    Ok(Expr {
        origin: Origin {
            info: ctx.info,
            meta,
            name: owned_name,
        },
        doc,
        cond,
        features,
        body,
    })
}

// ---------------------------------------------------------------------------------------
// Names

fn check_name_is_str<'n>(value: Option<Value<'n>>, ctx: &Ctx, source: Src<'_>) -> Result<&'n str> {
    match value {
        Some(Value::Str(s)) => Ok(s),
        _ => Err(ctx.err(format!("{source} requires a string name"))),
    }
}

/// The stem of a well-formed name: what is left after the optional downstream prefix
/// `__RFQDN_` and the optional experimental prefix `x-`. `None` when the name is not
/// well-formed (letters, digits, `-` and `_`, starting with a letter).
#[cfg(test)]
fn name_stem(name: &str) -> Option<&str> {
    stem_classes(name).map(|(stem, _)| stem)
}

/// [`name_stem`], with the classes of the stem's bytes (see [`classes`]), which the
/// naming rules then ask about without another pass over it.
fn stem_classes(name: &str) -> Option<(&str, u8)> {
    /// The classes of `s`, when it is a stem.
    fn is_stem(s: &[u8]) -> Option<u8> {
        let found = classes(s);
        (s.first().is_some_and(u8::is_ascii_alphabetic) && found & !STEM == 0).then_some(found)
    }
    let bytes = name.as_bytes();
    let mut rest = 0;
    if let Some(after) = bytes.strip_prefix(b"__") {
        // The prefix's domain part cannot contain '_', so the first '_' ends it.
        let domain_len = after
            .iter()
            .position(|&b| !has_class(b, DOMAIN))
            .unwrap_or(after.len());
        if domain_len == 0 || after.get(domain_len) != Some(&b'_') {
            return None;
        }
        rest = 2 + domain_len + 1;
    }
    let tail = bytes.get(rest..).unwrap_or_default();
    if tail.len() >= 2 && tail[0].eq_ignore_ascii_case(&b'x') && tail[1] == b'-' {
        if let Some(found) = is_stem(&tail[2..]) {
            return name.get(rest + 2..).map(|stem| (stem, found));
        }
    }
    let found = is_stem(tail)?;
    name.get(rest..).map(|stem| (stem, found))
}

/// Byte classes of names, as bits of [`CLASSES`]: lower-case letters.
const LOWER: u8 = 1;
/// Upper-case letters.
const UPPER: u8 = 2;
/// Digits.
const DIGIT: u8 = 4;
/// `-`.
const DASH: u8 = 8;
/// `_`.
const UNDERSCORE: u8 = 16;
/// `.`.
const DOT: u8 = 32;
/// What a name's stem is made of.
const STEM: u8 = LOWER | UPPER | DIGIT | DASH | UNDERSCORE;
/// What the domain of a downstream prefix is made of.
const DOMAIN: u8 = LOWER | UPPER | DIGIT | DASH | DOT;
/// Any other byte (never part of a mask asked about).
const OTHER: u8 = 64;

/// The class bit of every byte: a name's bytes are classified with one lookup each
/// rather than a chain of comparisons. Every byte has exactly one.
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_lowercase() {
            LOWER
        } else if c.is_ascii_uppercase() {
            UPPER
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c == b'-' {
            DASH
        } else if c == b'_' {
            UNDERSCORE
        } else if c == b'.' {
            DOT
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// Whether byte `b` is in one of the classes `mask`.
#[inline]
fn has_class(b: u8, mask: u8) -> bool {
    CLASSES[usize::from(b)] & mask != 0
}

/// The classes of the bytes of `s`, one bit each: every byte is in one of the classes
/// `mask` exactly when `classes(s) & !mask == 0`, some byte is when `classes(s) & mask
/// != 0`. One pass answers every question about a name.
#[inline]
fn classes(s: &[u8]) -> u8 {
    // Folded rather than stopped early: names are short and nearly always pass, and a
    // branch-free pass is cheaper than a decision per byte.
    s.iter()
        .fold(0, |found, &b| found | CLASSES[usize::from(b)])
}

/// A valid QAPI name, not in the `q_` namespace reserved for generated names: its stem,
/// with the classes of the stem's bytes (see [`classes`]).
fn check_name_str<'n>(name: &'n str, ctx: &Ctx, source: Src<'_>) -> Result<(&'n str, u8)> {
    match stem_classes(name) {
        Some(stem) if !c_name_starts_with_q(name) => Ok(stem),
        _ => Err(ctx.err(format!("{source} has an invalid name"))),
    }
}

/// Event names: upper case.
fn check_name_upper(name: &str, ctx: &Ctx, source: Src<'_>) -> Result<()> {
    let (_, found) = check_name_str(name, ctx, source)?;
    if found & (LOWER | DASH) != 0 {
        return Err(ctx.err(format!("name of {source} must not use lowercase or '-'")));
    }
    Ok(())
}

/// Command and member names: lower case, `-` between words.
///
/// `permit` says whether upper case and `_` are permitted; asked only for a name that is
/// not plain lower case (the exceptions it looks through are long lists).
fn check_name_lower(
    name: &str,
    ctx: &Ctx,
    source: Src<'_>,
    permit: impl FnOnce() -> (bool, bool),
) -> Result<()> {
    // The common case, a plain lower-case name (not `q-...`): valid whatever is
    // permitted, so the general rules need not be walked through.
    let b = name.as_bytes();
    if b.first().is_some_and(u8::is_ascii_lowercase)
        && classes(b) & !(LOWER | DIGIT | DASH) == 0
        && !(b[0] == b'q' && b.get(1) == Some(&b'-'))
    {
        return Ok(());
    }
    let (_, found) = check_name_str(name, ctx, source)?;
    let (permit_upper, permit_underscore) = permit();
    if (!permit_upper && found & UPPER != 0) || (!permit_underscore && found & UNDERSCORE != 0) {
        return Err(ctx.err(format!("name of {source} must not use uppercase or '_'")));
    }
    Ok(())
}

/// Type names: CamelCase.
fn check_name_camel(name: &str, ctx: &Ctx, source: Src<'_>) -> Result<()> {
    let (stem, found) = check_name_str(name, ctx, source)?;
    // Lower case after the first letter: the first is upper case, so in the stem at all.
    let camel = stem.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && found & !(LOWER | UPPER | DIGIT) == 0
        && found & LOWER != 0;
    if !camel {
        return Err(ctx.err(format!("name of {source} must use CamelCase")));
    }
    Ok(())
}

fn check_defn_name_str(name: &str, ctx: &Ctx, meta: Meta) -> Result<()> {
    match meta {
        Meta::Event => check_name_upper(name, ctx, Src::Plain("event")),
        Meta::Command => {
            let exception = || ctx.pragma.command_name_exceptions.iter().any(|n| n == name);
            check_name_lower(name, ctx, Src::Plain("command"), || (false, exception()))
        }
        _ => {
            check_name_camel(name, ctx, Src::Plain(meta.as_str()))?;
            // Array types take the name `ElementList`.
            if name.ends_with("List") {
                return Err(ctx.err(format!("{meta} name should not end in 'List'")));
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Keys, flags, conditions, features

fn quoted_sorted<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    let mut keys: Vec<&str> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `dict` has every key of `required` and no key outside `required` and
/// `optional`; inlined, as most checks pass and a call cost more than the check.
#[inline]
fn check_keys(
    dict: &Sugar<'_>,
    ctx: &Ctx,
    source: Src<'_>,
    required: &[&str],
    optional: &[&str],
) -> Result<()> {
    // One pass for the common case: every key known, every required one there (keys
    // are unique). The messages below are only worked out when not.
    let mut required_found = 0;
    let mut all_known = true;
    match *dict {
        // The sugared form (most members and values): one key, no object to walk.
        Sugar::Short(k, ..) => {
            if required.contains(&k) {
                required_found = 1;
            } else {
                all_known = optional.contains(&k);
            }
        }
        Sugar::Long(d) => {
            for k in d.keys() {
                if required.contains(&k) {
                    required_found += 1;
                } else if !optional.contains(&k) {
                    all_known = false;
                }
            }
        }
    }
    if required_found == required.len() && all_known {
        return Ok(());
    }
    key_error(dict, ctx, source, required, optional)
}

/// The error [`check_keys`] reports.
#[cold]
fn key_error(
    dict: &Sugar<'_>,
    ctx: &Ctx,
    source: Src<'_>,
    required: &[&str],
    optional: &[&str],
) -> Result<()> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| dict.get(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ctx.err(format!(
            "{source} misses key{} {}",
            if missing.len() > 1 { "s" } else { "" },
            quoted_sorted(missing.iter().copied())
        )));
    }
    let unknown: Vec<&str> = dict
        .keys()
        .filter(|k| !required.contains(k) && !optional.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(ctx.err(format!(
            "{source} has unknown key{} {}\nValid keys are {}.",
            if unknown.len() > 1 { "s" } else { "" },
            quoted_sorted(unknown.iter().copied()),
            quoted_sorted(required.iter().chain(optional).copied())
        )));
    }
    Ok(())
}

/// Every key a definition can have, in the order of their bits in a [`KeySet`]: the
/// kinds first, in the order of [`Meta::ALL`].
const DEFN_KEYS: [&str; 19] = [
    "enum",
    "struct",
    "union",
    "alternate",
    "command",
    "event",
    "returns",
    "gen",
    "success-response",
    "boxed",
    "allow-oob",
    "allow-preconfig",
    "coroutine",
    "data",
    "base",
    "if",
    "features",
    "prefix",
    "discriminator",
];

/// Whether `a` and `b` are the same string, in a `const` context.
const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The [`KeySet`] bits of `keys`, worked out at compile time; a key not in [`DEFN_KEYS`]
/// gives [`KeySet::UNKNOWN`].
const fn key_mask(keys: &[&str]) -> u32 {
    let mut mask = 0;
    let mut k = 0;
    while k < keys.len() {
        let mut i = 0;
        let mut bit = KeySet::UNKNOWN;
        while i < DEFN_KEYS.len() {
            if same_str(DEFN_KEYS[i], keys[k]) {
                bit = 1 << i;
            }
            i += 1;
        }
        mask |= bit;
        k += 1;
    }
    mask
}

/// Which of [`DEFN_KEYS`] a definition has (and whether it has others), with their values,
/// found in one pass over its keys instead of a search per question.
#[derive(Clone, Copy)]
struct KeySet<'t> {
    bits: u32,
    /// The value of each key of [`DEFN_KEYS`] present whose value is read, in its place
    /// of [`KeySet::SLOTS`]. The command flags' values are looked up only when present;
    /// the kinds share a place, as only a definition with one of them is read further.
    /// Kept small: the set is made (and moved) once per definition.
    nodes: [Option<Node<'t>>; KeySet::PLACES],
}

impl<'t> KeySet<'t> {
    /// Bit of `coroutine`.
    const COROUTINE: u32 = 1 << 12;
    /// Set when some key is not one of [`DEFN_KEYS`].
    const UNKNOWN: u32 = 1 << 31;
    /// Index of `data` in [`DEFN_KEYS`].
    const DATA: usize = 13;
    /// Index of `base`.
    const BASE: usize = 14;
    /// Index of `if`.
    const IF: usize = 15;
    /// Index of `features`.
    const FEATURES: usize = 16;
    /// Index of `prefix`.
    const PREFIX: usize = 17;
    /// Index of `discriminator`.
    const DISCRIMINATOR: usize = 18;
    /// Index of `returns`.
    const RETURNS_AT: usize = 6;
    /// Index of `boxed`.
    const BOXED_AT: usize = 9;

    /// How many values a set keeps.
    const PLACES: usize = 9;
    /// Where the value of each key of [`DEFN_KEYS`] is kept in `nodes`; out of range for
    /// those not kept.
    const SLOTS: [u8; DEFN_KEYS.len()] = [0, 0, 0, 0, 0, 0, 1, 9, 9, 2, 9, 9, 9, 3, 4, 5, 6, 7, 8];

    fn of(expr: Dict<'t>) -> KeySet<'t> {
        let mut set = KeySet {
            bits: 0,
            nodes: [None; KeySet::PLACES],
        };
        for (key, node) in expr.iter() {
            match KeySet::index(key) {
                Some(i) => {
                    set.bits |= 1 << i;
                    let place = KeySet::SLOTS.get(i).copied().unwrap_or(u8::MAX);
                    if let Some(slot) = set.nodes.get_mut(usize::from(place)) {
                        *slot = Some(node);
                    }
                }
                None => set.bits |= KeySet::UNKNOWN,
            }
        }
        set
    }

    /// The value of key `DEFN_KEYS[index]`, as `Dict::get` finds it (for a kind's key,
    /// when the definition has only the one).
    fn node(&self, index: usize) -> Option<Node<'t>> {
        let place = KeySet::SLOTS.get(index).copied().unwrap_or(u8::MAX);
        self.nodes.get(usize::from(place)).copied().flatten()
    }

    /// The position of `key` in [`DEFN_KEYS`].
    #[inline]
    fn index(key: &str) -> Option<usize> {
        // A match rather than a search of the list: the compiler tells the keys apart
        // by length first.
        let index = match key {
            "enum" => 0,
            "struct" => 1,
            "union" => 2,
            "alternate" => 3,
            "command" => 4,
            "event" => 5,
            "returns" => 6,
            "gen" => 7,
            "success-response" => 8,
            "boxed" => 9,
            "allow-oob" => 10,
            "allow-preconfig" => 11,
            "coroutine" => 12,
            "data" => 13,
            "base" => 14,
            "if" => 15,
            "features" => 16,
            "prefix" => 17,
            "discriminator" => 18,
            _ => return None,
        };
        debug_assert_eq!(DEFN_KEYS[index], key);
        Some(index)
    }

    /// [`check_keys`] for the definition itself, answered from the bits when every key
    /// is one of `required` and `optional`, whose bits `masks` are (required, allowed).
    fn check(
        &self,
        expr: Dict<'_>,
        ctx: &Ctx,
        source: Src<'_>,
        required: &[&str],
        optional: &[&str],
        masks: (u32, u32),
    ) -> Result<()> {
        let (required_bits, allowed_bits) = masks;
        if self.bits & !allowed_bits == 0 && self.bits & required_bits == required_bits {
            return Ok(());
        }
        check_keys(&Sugar::Long(expr), ctx, source, required, optional)
    }

    /// The bits of the keys naming a definition's kind, those of [`Meta::ALL`] in order.
    const METAS: u32 = (1 << Meta::ALL.len()) - 1;
    /// Bit of `returns`.
    const RETURNS: u32 = 1 << 6;
    /// Bit of `gen`.
    const GEN: u32 = 1 << 7;
    /// Bit of `success-response`.
    const SUCCESS_RESPONSE: u32 = 1 << 8;
    /// Bit of `boxed`.
    const BOXED: u32 = 1 << 9;
    /// Bit of `allow-oob`.
    const ALLOW_OOB: u32 = 1 << 10;
    /// Bit of `allow-preconfig`.
    const ALLOW_PRECONFIG: u32 = 1 << 11;
    /// The bits of the command flags.
    const FLAGS: u32 = KeySet::GEN
        | KeySet::SUCCESS_RESPONSE
        | KeySet::BOXED
        | KeySet::ALLOW_OOB
        | KeySet::ALLOW_PRECONFIG
        | KeySet::COROUTINE;

    /// Whether the key of bit `bit` (one of the constants) is present: asked by bit, as
    /// asking by name matched the name again for every question.
    fn has(&self, bit: u32) -> bool {
        self.bits & bit != 0
    }

    /// The kind of definition, when exactly one key names one.
    fn meta(&self) -> Option<Meta> {
        let metas = self.bits & KeySet::METAS;
        if metas.count_ones() != 1 {
            return None;
        }
        Meta::ALL.get(metas.trailing_zeros() as usize).copied()
    }

    /// Whether any command flag is present.
    fn has_flags(&self) -> bool {
        self.bits & KeySet::FLAGS != 0
    }
}

/// Python's notion of truth, which QEMU applies to some values it reads before checking
/// their type.
fn truthy(node: Node<'_>) -> bool {
    match node.value() {
        Value::Str(s) => !s.is_empty(),
        Value::Bool(b) => b,
        Value::List(l) => !l.is_empty(),
        Value::Dict(d) => !d.is_empty(),
    }
}

/// Validates the command flags and stores their values into `body` (in place: the body is
/// a large value, and moving it in and out cost more than the checks).
fn check_flags(expr: Dict<'_>, keys: &KeySet<'_>, ctx: &Ctx, body: &mut ExprBody) -> Result<()> {
    // Most definitions have no flags: nothing to look up, and a command keeps the
    // defaults it was made with.
    if !keys.has_flags() {
        return Ok(());
    }
    // Only the flags present are looked up (a walk of the definition each).
    let value = |bit: u32, key: &str| keys.has(bit).then(|| expr.get(key)).flatten();
    for (bit, key) in [
        (KeySet::GEN, "gen"),
        (KeySet::SUCCESS_RESPONSE, "success-response"),
    ] {
        if let Some(v) = value(bit, key) {
            if !matches!(v.value(), Value::Bool(false)) {
                return Err(ctx.err(format!("flag '{key}' may only use false value")));
            }
        }
    }
    for (bit, key) in [
        (KeySet::BOXED, "boxed"),
        (KeySet::ALLOW_OOB, "allow-oob"),
        (KeySet::ALLOW_PRECONFIG, "allow-preconfig"),
        (KeySet::COROUTINE, "coroutine"),
    ] {
        if let Some(v) = value(bit, key) {
            if !matches!(v.value(), Value::Bool(true)) {
                return Err(ctx.err(format!("flag '{key}' may only use true value")));
            }
        }
    }
    if keys.has(KeySet::ALLOW_OOB) && keys.has(KeySet::COROUTINE) {
        // QEMU has no use for the combination and forbids it.
        return Err(ctx.err("flags 'allow-oob' and 'coroutine' are incompatible"));
    }
    if let ExprBody::Command { flags, .. } = body {
        *flags = CommandFlags {
            gen: !keys.has(KeySet::GEN),
            success_response: !keys.has(KeySet::SUCCESS_RESPONSE),
            boxed: keys.has(KeySet::BOXED),
            allow_oob: keys.has(KeySet::ALLOW_OOB),
            allow_preconfig: keys.has(KeySet::ALLOW_PRECONFIG),
            coroutine: keys.has(KeySet::COROUTINE),
        };
    }
    Ok(())
}

/// Validates the `if` of `dict` (a definition, member, branch, value or feature) and
/// returns it as a condition tree.
#[inline]
fn check_if(node: Option<Node<'_>>, ctx: &Ctx, source: Src<'_>) -> Result<Option<Box<Cond>>> {
    // Most definitions, members and values have no condition: answered without a call.
    match node {
        None => Ok(None),
        Some(node) => check_if_node(node, ctx, source).map(Some),
    }
}

/// [`check_if`] of a condition that is there.
fn check_if_node(node: Node<'_>, ctx: &Ctx, source: Src<'_>) -> Result<Box<Cond>> {
    fn is_identifier(s: &str) -> bool {
        let b = s.as_bytes();
        b.first().is_some_and(u8::is_ascii_uppercase)
            && classes(b) & !(UPPER | DIGIT | UNDERSCORE) == 0
    }

    fn cond(node: Node<'_>, ctx: &Ctx, source: Src<'_>) -> Result<Cond> {
        let dict = match node.value() {
            Value::Str(s) => {
                if !is_identifier(s) {
                    return Err(ctx.err(format!(
                        "'if' condition '{s}' of {source} is not a valid identifier"
                    )));
                }
                return Ok(Cond::Name(Name::new(s)));
            }
            Value::Dict(d) => d,
            _ => {
                return Err(ctx.err(format!(
                    "'if' condition of {source} must be a string or an object"
                )))
            }
        };
        check_keys(
            &Sugar::Long(dict),
            ctx,
            Src::Plain(&format!("'if' condition of {source}")),
            &[],
            &["all", "any", "not"],
        )?;
        let (1, Some((op, operand))) = (dict.len(), dict.iter().next()) else {
            return Err(ctx.err(format!("'if' condition of {source} has conflicting keys")));
        };
        if op == "not" {
            return Ok(Cond::Not(Box::new(cond(operand, ctx, source)?)));
        }
        let Value::List(operands) = operand.value() else {
            return Err(ctx.err(format!("'{op}' condition of {source} must be an array")));
        };
        if operands.is_empty() {
            return Err(ctx.err(format!("'if' condition [] of {source} is useless")));
        }
        let operands = operands
            .iter()
            .map(|o| cond(o, ctx, source))
            .collect::<Result<Vec<_>>>()?;
        Ok(if op == "all" {
            Cond::All(operands)
        } else {
            Cond::Any(operands)
        })
    }

    // Boxed: most of what may carry a condition has none, and inline it made every
    // member, value and entity 24 bytes larger.
    cond(node, ctx, source).map(Box::new)
}

/// An object as the key checks see it: one written out, or the long form of a sugared
/// item (`'x'` standing for `{ KEY: 'x' }`), which is looked at without being built.
enum Sugar<'a> {
    /// An object.
    Long(Dict<'a>),
    /// A sugared item: the key it stands for, the item itself and its value (read once:
    /// reading a value out of the tree is not free).
    Short(&'static str, Node<'a>, Value<'a>),
}

impl<'a> Sugar<'a> {
    fn get(&self, key: &str) -> Option<Node<'a>> {
        match *self {
            Sugar::Long(dict) => dict.get(key),
            Sugar::Short(k, node, _) => (k == key).then_some(node),
        }
    }

    /// The value of `key`, as [`Sugar::get`] finds it.
    #[inline]
    fn value_of(&self, key: &str) -> Option<Value<'a>> {
        match *self {
            Sugar::Long(dict) => dict.get(key).map(Node::value),
            Sugar::Short(k, _, value) => (k == key).then_some(value),
        }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        let (dict, short) = match *self {
            Sugar::Long(dict) => (Some(dict), None),
            Sugar::Short(k, ..) => (None, Some(k)),
        };
        dict.into_iter().flat_map(Dict::keys).chain(short)
    }
}

/// The long form of a sugared item: `'x'` stands for `{ key: 'x' }`.
fn expand<'a>(node: Node<'a>, key: &'static str) -> Sugar<'a> {
    match node.value() {
        Value::Dict(d) => Sugar::Long(d),
        value => Sugar::Short(key, node, value),
    }
}

/// What a message is about, such as `'data' member 'foo'`: kept in pieces and only
/// written out when a message needs it.
#[derive(Clone, Copy)]
enum Src<'a> {
    /// As is.
    Plain(&'a str),
    /// Quoted: `'WHAT'`.
    Quoted(&'a str),
    /// `OUTER member 'NAME'`.
    Member(&'a str, &'a str),
    /// `WHAT 'NAME'`.
    Named(&'a str, &'a str),
}

impl fmt::Display for Src<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Src::Plain(s) => f.write_str(s),
            Src::Quoted(s) => write!(f, "'{s}'"),
            Src::Member(outer, name) => write!(f, "{outer} member '{name}'"),
            Src::Named(what, name) => write!(f, "{what} '{name}'"),
        }
    }
}

/// Most definitions, members and values have no features: answered without a call.
#[inline]
fn check_features(features: Option<Node<'_>>, ctx: &Ctx) -> Result<Vec<FeatureExpr>> {
    match features {
        None => Ok(Vec::new()),
        Some(features) => check_feature_list(features, ctx),
    }
}

fn check_feature_list(features: Node<'_>, ctx: &Ctx) -> Result<Vec<FeatureExpr>> {
    let Value::List(list) = features.value() else {
        return Err(ctx.err("'features' must be an array"));
    };
    let mut out = Vec::with_capacity(list.len());
    for node in list.iter() {
        let feat = expand(node, "name");
        let what = "'features' member";
        check_keys(&feat, ctx, Src::Plain(what), &["name"], &["if"])?;
        let name = check_name_is_str(feat.value_of("name"), ctx, Src::Plain(what))?;
        let source = Src::Named(what, name);
        check_name_lower(name, ctx, source, || (false, false))?;
        let cond = check_if(feat.get("if"), ctx, source)?;
        out.push(FeatureExpr {
            name: Name::new(name),
            cond,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Type references

/// The name of a type a definition refers to. Nearly half the references are to built-in
/// types: their names are the model's own static strings, not copies.
#[inline]
fn type_name(s: &str) -> Name {
    match Builtin::named(s) {
        Some(builtin) => Name::new_static(builtin.name()),
        None => Name::new(s),
    }
}

fn check_type_name(value: Option<Value<'_>>, ctx: &Ctx, source: Src<'_>) -> Result<Option<Name>> {
    match value {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(type_name(s))),
        Some(_) => Err(ctx.err(format!("{source} should be a type name"))),
    }
}

fn check_type_name_or_array(
    value: Option<Value<'_>>,
    ctx: &Ctx,
    source: Src<'_>,
) -> Result<Option<TypeName>> {
    match value {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(TypeName::Named(type_name(s)))),
        Some(Value::List(list)) => match (list.len(), list.first().map(Node::value)) {
            (1, Some(Value::Str(s))) => Ok(Some(TypeName::Array(type_name(s)))),
            _ => Err(ctx.err(format!(
                "{source}: array type must contain single type name"
            ))),
        },
        Some(_) => Err(ctx.err(format!("{source} should be a type name or array"))),
    }
}

/// Inline members (an implicit struct type). `parent_name` listed in pragma
/// `member-name-exceptions` relaxes the naming rules.
fn check_type_implicit(
    node: Node<'_>,
    ctx: &Ctx,
    source: &str,
    parent_name: Option<&str>,
) -> Result<Vec<MemberExpr>> {
    let Value::Dict(dict) = node.value() else {
        return Err(ctx.err(format!("{source} should be an object or type name")));
    };
    // Worked out once, and only if some member's name needs it.
    let mut permissive = None;
    let mut permit = || {
        let p = *permissive.get_or_insert_with(|| {
            parent_name.is_some_and(|p| ctx.pragma.member_name_exceptions.iter().any(|n| n == p))
        });
        (p, p)
    };
    let mut members = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key_source = Src::Member(source, key);
        let (name, optional) = match key.strip_prefix('*') {
            Some(name) => (name, true),
            None => (key, false),
        };
        check_name_lower(name, ctx, key_source, &mut permit)?;
        // Generated C uses `u` for the variant union and `has_FOO` for presence flags
        // (compared as C names, without building them).
        // (`has` then a character C spells `_`: anything but a letter or digit.)
        let has_ = name.starts_with("has")
            && name
                .as_bytes()
                .get(3)
                .is_some_and(|b| !b.is_ascii_alphanumeric());
        if name == "u" || has_ {
            return Err(ctx.err(format!("{key_source} uses reserved name")));
        }
        let (cond, features, ty) = match value.value() {
            // The sugared form of most members, a type name: it passes the key checks as
            // it is, and is the type.
            Value::Str(s) => (None, Vec::new(), Some(TypeName::Named(type_name(s)))),
            Value::Dict(d) => {
                let arg = Sugar::Long(d);
                check_keys(&arg, ctx, key_source, &["type"], &["if", "features"])?;
                let cond = check_if(arg.get("if"), ctx, key_source)?;
                let features = check_features(arg.get("features"), ctx)?;
                let ty = check_type_name_or_array(arg.value_of("type"), ctx, key_source)?;
                (cond, features, ty)
            }
            // Any other sugared value is the type too, if it is one.
            other => (
                None,
                Vec::new(),
                check_type_name_or_array(Some(other), ctx, key_source)?,
            ),
        };
        let Some(ty) = ty else {
            return Err(ctx.err(format!("{key_source} misses key 'type'")));
        };
        members.push(MemberExpr {
            name: Name::new(name),
            optional,
            ty,
            cond,
            features,
        });
    }
    Ok(members)
}

fn check_type_name_or_implicit(
    node: Option<Node<'_>>,
    ctx: &Ctx,
    source: &str,
    parent_name: Option<&str>,
) -> Result<Option<TypeOrMembers>> {
    match node {
        None => Ok(None),
        Some(node) => match node.value() {
            Value::Str(s) => Ok(Some(TypeOrMembers::Named(type_name(s)))),
            _ => Ok(Some(TypeOrMembers::Members(check_type_implicit(
                node,
                ctx,
                source,
                parent_name,
            )?))),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Definitions

fn check_enum(keys: &KeySet<'_>, name: &str, ctx: &Ctx) -> Result<ExprBody> {
    let Some(Value::List(values)) = keys.node(KeySet::DATA).map(Node::value) else {
        return Err(ctx.err("'data' must be an array"));
    };
    let prefix = match keys.node(KeySet::PREFIX).map(Node::value) {
        None => None,
        Some(Value::Str(s)) => Some(Name::new(s)),
        Some(_) => return Err(ctx.err("'prefix' must be a string")),
    };
    // Worked out once, and only if some value's name needs it.
    let mut permissive = None;
    let mut permit = || {
        let p = *permissive
            .get_or_insert_with(|| ctx.pragma.member_name_exceptions.iter().any(|n| n == name));
        (p, p)
    };
    let mut members = Vec::with_capacity(values.len());
    for node in values.iter() {
        let member = expand(node, "name");
        let what = "'data' member";
        // The sugared form (most values) has its one key, which is required.
        if let Sugar::Long(_) = member {
            check_keys(
                &member,
                ctx,
                Src::Plain(what),
                &["name"],
                &["if", "features"],
            )?;
        }
        let member_name = check_name_is_str(member.value_of("name"), ctx, Src::Plain(what))?;
        let source = Src::Named(what, member_name);
        // Enum values may start with a digit; the naming rules apply to the rest.
        let checked_name = if member_name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            Cow::Owned(format!("d{member_name}"))
        } else {
            Cow::Borrowed(member_name)
        };
        check_name_lower(&checked_name, ctx, source, &mut permit)?;
        // A sugared value has no 'if' or 'features' to look for.
        let (cond, features) = match member {
            Sugar::Short(..) => (None, Vec::new()),
            Sugar::Long(_) => (
                check_if(member.get("if"), ctx, source)?,
                check_features(member.get("features"), ctx)?,
            ),
        };
        members.push(EnumMemberExpr {
            name: Name::new(member_name),
            cond,
            features,
        });
    }
    Ok(ExprBody::Enum { members, prefix })
}

fn check_struct(keys: &KeySet<'_>, name: &str, ctx: &Ctx) -> Result<ExprBody> {
    let data = keys
        .node(KeySet::DATA)
        .ok_or_else(|| ctx.err("struct misses key 'data'"))?;
    let members = check_type_implicit(data, ctx, "'data'", Some(name))?;
    let base = check_type_name(
        keys.node(KeySet::BASE).map(Node::value),
        ctx,
        Src::Plain("'base'"),
    )?;
    Ok(ExprBody::Struct { base, members })
}

/// The branches of a union or alternate: `data`, an object of `name: type` entries.
fn check_branches(
    data: Dict<'_>,
    ctx: &Ctx,
    check_name: bool,
    allow_array: bool,
) -> Result<Vec<BranchExpr>> {
    let mut branches = Vec::with_capacity(data.len());
    for (key, value) in data.iter() {
        let source = Src::Named("'data' member", key);
        if check_name {
            check_name_lower(key, ctx, source, || (false, false))?;
        }
        let branch = expand(value, "type");
        check_keys(&branch, ctx, source, &["type"], &["if"])?;
        let cond = check_if(branch.get("if"), ctx, source)?;
        let ty = if allow_array {
            check_type_name_or_array(branch.value_of("type"), ctx, source)?
        } else {
            check_type_name(branch.value_of("type"), ctx, source)?.map(TypeName::Named)
        };
        let ty = ty.ok_or_else(|| ctx.err(format!("{source} misses key 'type'")))?;
        branches.push(BranchExpr {
            name: Name::new(key),
            ty,
            cond,
        });
    }
    Ok(branches)
}

fn check_union(keys: &KeySet<'_>, name: &str, ctx: &Ctx) -> Result<ExprBody> {
    let base = check_type_name_or_implicit(keys.node(KeySet::BASE), ctx, "'base'", Some(name))?
        .ok_or_else(|| ctx.err("union misses key 'base'"))?;
    let discriminator = check_name_is_str(
        keys.node(KeySet::DISCRIMINATOR).map(Node::value),
        ctx,
        Src::Plain("'discriminator'"),
    )?;
    let Some(Value::Dict(data)) = keys.node(KeySet::DATA).map(Node::value) else {
        return Err(ctx.err("'data' must be an object"));
    };
    let branches = check_branches(data, ctx, false, false)?;
    Ok(ExprBody::Union {
        base,
        discriminator: Name::new(discriminator),
        branches,
    })
}

fn check_alternate(keys: &KeySet<'_>, ctx: &Ctx) -> Result<ExprBody> {
    let data = keys.node(KeySet::DATA);
    if !data.is_some_and(truthy) {
        return Err(ctx.err("'data' must not be empty"));
    }
    let Some(Value::Dict(data)) = data.map(Node::value) else {
        return Err(ctx.err("'data' must be an object"));
    };
    let branches = check_branches(data, ctx, true, true)?;
    Ok(ExprBody::Alternate { branches })
}

/// `data` of a command or event: a type name when boxed, else a type name or inline
/// members.
fn check_data(keys: &KeySet<'_>, ctx: &Ctx) -> Result<(Option<TypeOrMembers>, bool)> {
    let boxed = keys.node(KeySet::BOXED_AT).is_some_and(truthy);
    let data = keys.node(KeySet::DATA);
    if boxed {
        if data.is_none() {
            return Err(ctx.err("'boxed': true requires 'data'"));
        }
        let name = check_type_name(data.map(Node::value), ctx, Src::Plain("'data'"))?;
        Ok((name.map(TypeOrMembers::Named), boxed))
    } else {
        Ok((
            check_type_name_or_implicit(data, ctx, "'data'", None)?,
            boxed,
        ))
    }
}

fn check_command(keys: &KeySet<'_>, ctx: &Ctx) -> Result<ExprBody> {
    let (data, _) = check_data(keys, ctx)?;
    let returns = check_type_name_or_array(
        keys.node(KeySet::RETURNS_AT).map(Node::value),
        ctx,
        Src::Plain("'returns'"),
    )?;
    Ok(ExprBody::Command {
        data,
        returns,
        // Filled in by check_flags, once the flags are known to be well-formed.
        flags: CommandFlags::default(),
    })
}

fn check_event(keys: &KeySet<'_>, ctx: &Ctx) -> Result<ExprBody> {
    let (data, boxed) = check_data(keys, ctx)?;
    Ok(ExprBody::Event { data, boxed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(name_stem("foo-bar"), Some("foo-bar"));
        assert_eq!(name_stem("x-foo"), Some("foo"));
        assert_eq!(name_stem("x-1foo"), Some("x-1foo"));
        assert_eq!(name_stem("__org.qemu_x-Foo"), Some("Foo"));
        assert_eq!(name_stem("__org.qemu_Foo"), Some("Foo"));
        assert_eq!(name_stem("__org_Foo"), Some("Foo"));
        assert_eq!(name_stem("_oops"), None);
        assert_eq!(name_stem("*oops"), None);
        assert_eq!(name_stem(""), None);
        assert_eq!(name_stem("not\\possible"), None);
    }

    #[test]
    fn key_bits() {
        for (i, meta) in Meta::ALL.iter().enumerate() {
            assert_eq!(*meta as usize, i);
            assert_eq!(key_mask(&[meta.as_str()]), 1 << i);
        }
        for (i, key) in DEFN_KEYS.iter().enumerate() {
            assert_eq!(KeySet::index(key), Some(i));
            assert_eq!(key_mask(&[key]), 1 << i);
        }
        assert_eq!(KeySet::index("bogus"), None);
        assert_eq!(key_mask(&["bogus"]), KeySet::UNKNOWN);
        let bit = |key| key_mask(&[key]);
        assert_eq!(bit("returns"), KeySet::RETURNS);
        assert_eq!(bit("gen"), KeySet::GEN);
        assert_eq!(bit("success-response"), KeySet::SUCCESS_RESPONSE);
        assert_eq!(bit("boxed"), KeySet::BOXED);
        assert_eq!(bit("allow-oob"), KeySet::ALLOW_OOB);
        assert_eq!(bit("allow-preconfig"), KeySet::ALLOW_PRECONFIG);
        assert_eq!(bit("coroutine"), KeySet::COROUTINE);
        assert_eq!(1 << KeySet::DATA, bit("data"));
        assert_eq!(1 << KeySet::BASE, bit("base"));
        assert_eq!(1 << KeySet::IF, bit("if"));
        assert_eq!(1 << KeySet::FEATURES, bit("features"));
        assert_eq!(1 << KeySet::PREFIX, bit("prefix"));
        assert_eq!(1 << KeySet::DISCRIMINATOR, bit("discriminator"));
        assert_eq!(1 << KeySet::RETURNS_AT, bit("returns"));
        assert_eq!(1 << KeySet::BOXED_AT, bit("boxed"));
        // Every key whose value is read has a place of its own (the kinds share one).
        let read = [
            KeySet::DATA,
            KeySet::BASE,
            KeySet::IF,
            KeySet::FEATURES,
            KeySet::PREFIX,
            KeySet::DISCRIMINATOR,
            KeySet::RETURNS_AT,
            KeySet::BOXED_AT,
        ];
        let mut places: Vec<u8> = read.iter().map(|&i| KeySet::SLOTS[i]).collect();
        places.push(KeySet::SLOTS[Meta::Enum as usize]);
        assert!(Meta::ALL
            .iter()
            .all(|&m| KeySet::SLOTS[m as usize] == KeySet::SLOTS[0]));
        places.sort_unstable();
        places.dedup();
        assert_eq!(places.len(), read.len() + 1);
        assert!(places.iter().all(|&p| usize::from(p) < KeySet::PLACES));
    }

    #[test]
    fn reserved_words() {
        for word in RESERVED {
            assert!(is_reserved(word.as_bytes()), "{word}");
            let longer = format!("{word}x");
            assert!(!is_reserved(longer.as_bytes()), "{longer}");
            assert!(!is_reserved(&word.as_bytes()[1..]) || RESERVED.contains(&&word[1..]));
        }
        for word in ["", "foo", "in", "unionx", "q_int", "reinterpret_casts"] {
            assert!(!is_reserved(word.as_bytes()), "{word}");
        }
    }

    #[test]
    fn c_name_keys_follow_c_names() {
        let names = [
            "a-b",
            "a_b",
            "a.b",
            "int",
            "q_int",
            "1x",
            "q-1x",
            "reinterpret_cast",
            "reinterpret-cast",
            "reinterpret-casts",
            "u",
            "has-x",
            "_Bool",
            "-Bool",
            "\u{e9}-x",
            "__x",
            "q-int",
            "a-very-long-member-name-that-does-not-fit-in-the-room-for-names",
            "a_very_long_member_name_that_does_not_fit_in_the_room_for_names",
        ];
        for a in names {
            for b in names {
                let same = c_name(a, true) == c_name(b, true);
                assert_eq!(same, c_name_key(a) == c_name_key(b), "{a} {b}");
            }
        }
    }

    /// The fingerprint worked out without a C name is that of the C name itself.
    #[test]
    fn c_name_keys_hash_c_names() {
        let mut names: Vec<String> = [
            "",
            "a",
            "int",
            "if",
            "q-int",
            "1",
            "1x",
            "_Static_assert",
            "_Static-assert",
            "reinterpret_cast",
            "reinterpret-cast",
            "reinterpret_casts",
            "Int",
            "a\0b",
            "\0",
            "x.y-z",
            "ABCDEFGH",
            "\u{e9}t\u{e9}",
            "has-x",
            "9-lives-of-a-cat",
            "unix",
            "i386",
            "-Bool",
            "and.eq",
            "\u{e9}t\u{e9}-and-a-long-tail-after-it",
            "a-long-tail-before-\u{e9}t\u{e9}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for len in 0..40 {
            let text: String = (0..len)
                .map(|i| ['a', '-', '7', 'Z', '_', '.'][i % 6])
                .collect();
            names.push(format!("7{text}"));
            names.push(text);
        }
        names.extend(RESERVED.iter().map(|w| w.to_string()));
        for name in &names {
            let cname = c_name(name, true).into_bytes();
            let len = cname.len();
            let mut padded = cname;
            padded.resize(len + 8, 0);
            assert_eq!(c_name_key(name), hash_padded(&padded, 0, len), "{name:?}");
        }
    }

    #[test]
    fn c_names() {
        assert_eq!(c_name("a-b.c", true), "a_b_c");
        assert_eq!(c_name("int", true), "q_int");
        assert_eq!(c_name("int", false), "int");
        assert_eq!(c_name("1x", true), "q_1x");
    }
}
