//! Documentation comments: the `##` blocks before definitions and free-form ones.
//!
//! The rules are those of QEMU 10.2's schema front end. A definition block starts with
//! `# @NAME:` and holds, in this order, an introduction, member descriptions (`# @member:`),
//! feature descriptions (after a `# Features:` line) and further sections, plain paragraphs
//! or tagged (`Returns:`, `Errors:`, `Since:`, `TODO:`). A free-form block is plain text.
//!
//! QEMU tightened the formatting rules over the years (line length, two spaces between
//! sentences, indented continuation lines, rST admonitions instead of `Note:` sections), and
//! each release's schema only obeys its own release's rules. Those formatting-only rules are
//! errors when parsing strictly and warnings otherwise; an older construct that 10.2 rejects
//! is then read the way its own release meant it. Structural rules are always errors.

use crate::error::{Result, SchemaError};
use crate::file::{FileData, NameAt, ParsedFile};
pub use crate::file::{Section, SectionKind};
use crate::name::Name;
use crate::source::Info;
use crate::source::Pragma;
use std::fmt;
use std::sync::Arc;

/// The longest doc comment line QEMU accepts, counting the `# ` in front.
pub const MAX_LINE_WIDTH: usize = 70;

/// One comment line of a doc block, exactly as written (starting with `#`), borrowed from
/// the source text: a block's lines are only read once, so copying them would be waste.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawDocLine<'a> {
    /// The line from its `#` to the end of the line.
    pub text: &'a str,
    /// Where the `#` stands.
    pub info: Info,
}

/// The lines between a `##` that opens a doc block and the `##` that closes it, gathered
/// (for [`parse_block`]; the parser hands a block's lines over as they are read instead,
/// one at a time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDocBlock<'a> {
    /// Where the opening `##` stands.
    pub info: Info,
    /// The comment lines in between.
    pub lines: Vec<RawDocLine<'a>>,
    /// Where the closing `##` stands.
    pub end: Option<Info>,
}

/// Where the lines of a doc block come from, one at a time, as its reader asks for them.
/// The parser hands them over straight from the source, so that a block's lines need not
/// be gathered first: each is read once, where it stands. Where a line stands is only
/// asked for when something is made of it or found wrong with it, rarely.
pub(crate) trait BlockLines<'a> {
    /// The next comment line, from its `#`; `None` once there are no more (and again
    /// after that).
    fn next_line(&mut self) -> Option<&'a str>;
    /// Where the line handed over last stands (the block's opening `##` before any, the
    /// closing one after the last).
    fn here(&self) -> Info;
    /// [`BlockLines::here`]'s line.
    fn line(&self) -> u32 {
        self.here().line
    }
    /// Whether the lines ran out at a closing `##`: if not, the block has no proper end
    /// (the reason is the source's to tell, once the lines before it have been read).
    fn at_end(&self) -> bool;
}

/// The lines of a [`RawDocBlock`], in order.
struct RawLines<'a> {
    block: &'a RawDocBlock<'a>,
    /// How many lines were handed over.
    next: usize,
    /// Whether the end was.
    done: bool,
}

impl<'a> BlockLines<'a> for RawLines<'a> {
    #[inline]
    fn next_line(&mut self) -> Option<&'a str> {
        let Some(line) = self.block.lines.get(self.next) else {
            self.done = true;
            return None;
        };
        self.next += 1;
        Some(line.text)
    }

    fn here(&self) -> Info {
        let last = self
            .next
            .checked_sub(1)
            .and_then(|i| self.block.lines.get(i));
        match (self.done, self.block.end, last) {
            (true, Some(end), _) => end,
            (_, _, Some(line)) => line.info,
            _ => self.block.info,
        }
    }

    fn at_end(&self) -> bool {
        self.block.end.is_some()
    }
}

impl SectionKind {
    /// The name QEMU's front-end test output uses (`Plain`, `Returns`, `Todo`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::Plain => "Plain",
            SectionKind::Member => "Member",
            SectionKind::Feature => "Feature",
            SectionKind::Returns => "Returns",
            SectionKind::Errors => "Errors",
            SectionKind::Since => "Since",
            SectionKind::Todo => "Todo",
        }
    }

    /// The tagged kind a `Tag:` line opens, for the tags 10.2 still supports.
    fn from_tag(tag: &str) -> Option<SectionKind> {
        match tag {
            "Returns" => Some(SectionKind::Returns),
            "Errors" => Some(SectionKind::Errors),
            "Since" => Some(SectionKind::Since),
            "TODO" => Some(SectionKind::Todo),
            _ => None,
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a doc block's lines are read from: a source text, and the [`ParsedFile`] the
/// sections made from it find their text in once it is complete.
///
/// A section's text is not copied: each line of it is recorded as a piece (a byte range
/// of the source; an empty one for a blank line), in one vector per source, and a section
/// is a run of pieces. The text is only put together when asked for: loading a schema
/// never asks, and copying every line of every block was a large share of reading the
/// doc comments.
#[derive(Clone, Copy)]
pub(crate) struct Source<'s> {
    /// The text the lines are slices of.
    pub(crate) text: &'s str,
    /// Where the sections will find the text and their pieces.
    pub(crate) shared: &'s Arc<ParsedFile>,
}

/// The text of the pieces `start..end` of `data`, lines joined with line breaks.
fn pieces_text(data: &FileData, start: usize, end: usize) -> &str {
    let piece = |&(a, b): &(u32, u32)| data.text.get(a as usize..b as usize);
    match data.pieces.get(start..end) {
        None | Some([]) => "",
        // Most descriptions are one line: a slice of the source as it stands.
        Some([line]) => piece(line).unwrap_or_default(),
        Some(_) => {
            // Every piece's text followed by a line break, one after the other, and where
            // each piece starts in it, made once for the whole file: a section's text is
            // then a slice of it.
            let (joined, starts) = data.joined.get_or_init(|| {
                let len = data.pieces.iter().map(|&(a, b)| (b - a) as usize + 1).sum();
                let mut joined = String::with_capacity(len);
                let mut starts = Vec::with_capacity(data.pieces.len() + 1);
                for line in &data.pieces {
                    starts.push(bound(joined.len()));
                    joined.push_str(piece(line).unwrap_or_default());
                    joined.push('\n');
                }
                starts.push(bound(joined.len()));
                (joined.into_boxed_str(), starts.into_boxed_slice())
            });
            // From the first piece's start to the last one's end, without its break.
            let from = starts.get(start).copied().unwrap_or_default() as usize;
            let to = starts.get(end).map_or(0, |&e| e as usize - 1);
            joined.get(from..to).unwrap_or_default()
        }
    }
}

impl PartialEq for Section {
    fn eq(&self, other: &Section) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && self.start == other.start
            && self.end == other.end
            && self.line == other.line
            && self.connected == other.connected
            && self.stub == other.stub
    }
}

impl Eq for Section {}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("pieces", &(self.start..self.end))
            .field("line", &self.line)
            .field("stub", &self.stub)
            .finish()
    }
}

impl Section {
    /// A section without text (yet) nor name, starting on `line`.
    fn new(kind: SectionKind, line: u32) -> Section {
        Section::named(kind, NameAt::None, 0, line)
    }

    /// A section for the name at `name`, whose key (see [`key_of`]) is `key`.
    fn named(kind: SectionKind, name: NameAt, key: u32, line: u32) -> Section {
        Section {
            kind,
            connected: false,
            stub: false,
            name,
            key,
            start: 0,
            end: 0,
            line,
        }
    }

    /// What the section is.
    pub fn kind(&self) -> SectionKind {
        self.kind
    }

    /// The line the section starts on (in its block's file).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Whether the section was made up for an undocumented member (or return value) rather
    /// than written in the block; its text is empty.
    pub fn is_stub(&self) -> bool {
        self.stub
    }
}

/// A block's own sections and where their text is (see [`Store::Own`]).
#[derive(Clone)]
struct Sections {
    list: Vec<Section>,
    /// The names of the stubs (see [`NameAt::Own`]).
    names: Vec<Name>,
    /// Where the run of member descriptions after the body ends (where stubs for
    /// undocumented members go), 0 until worked out.
    members_end: u32,
    /// Where the sections' text is (see [`Section`]); `None` for a block made up rather
    /// than read, whose sections have no text.
    source: Option<Arc<ParsedFile>>,
}

/// Where a block's sections are.
#[derive(Clone)]
enum Store {
    /// A run of the file's sections (see [`Doc::start`]), which every block read from a
    /// file adds to (one vector per file rather than one per block, which cost an
    /// allocation, a copy and a free per block); bit `i` of `connected` is set once the
    /// run's section `i` is connected. Blocks of up to 64 sections (nearly all).
    Shared {
        file: Arc<ParsedFile>,
        connected: u64,
    },
    /// Sections of the block's own: a made-up block's, one with more sections than the
    /// bits count, or one the model inserted a stub into. Behind a shared pointer, as a
    /// block is listed both with its definition and among all blocks.
    Own(Arc<Sections>),
}

/// A parsed documentation block.
#[derive(Clone)]
pub struct Doc {
    /// Where the block starts.
    pub info: Info,
    /// The definition it documents (`# @name:` on its first line), or `None` for free-form
    /// documentation.
    pub symbol: Option<Name>,
    /// Every section in textual order; the first is the introduction (the body) and always
    /// exists. Member and feature descriptions are kept here rather than in maps because
    /// their order is part of the output and there are only ever a few dozen.
    ///
    /// Shared: a block is listed both with its definition and among all blocks, and
    /// copying it (a few strings per section) cost more than reading it.
    store: Store,
    /// Whether 10.2's rules apply in full. Parsed leniently, documentation is also checked
    /// leniently against its definition (older releases left members undocumented and
    /// documented `Returns:` for commands that return nothing).
    strict: bool,
    /// Where to start looking for the next member or feature to connect: just after the
    /// last one connected, as definitions mostly declare them in the order the block
    /// describes them. Not part of what the block is.
    cursor: u16,
    /// With [`Store::Shared`], where the block's run of sections starts in the file's
    /// sections, and how many it has. Kept here rather than in the store, so that a
    /// block (which definitions carry and are moved with) is no larger than one with a
    /// vector of its own.
    start: u32,
    len: u8,
}

impl PartialEq for Doc {
    fn eq(&self, other: &Doc) -> bool {
        // Sections are compared by what they say, not where in which source it is.
        let same = |i: usize, a: &Section, b: &Section| {
            a.kind == b.kind
                && self.section_name(a) == other.section_name(b)
                && self.text(a) == other.text(b)
                && a.line == b.line
                && self.is_connected(i) == other.is_connected(i)
                && a.stub == b.stub
        };
        let (mine, theirs) = (self.list(), other.list());
        self.info == other.info
            && self.symbol == other.symbol
            && mine.len() == theirs.len()
            && mine
                .iter()
                .zip(theirs)
                .enumerate()
                .all(|(i, (a, b))| same(i, a, b))
            && self.strict == other.strict
    }
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sections: Vec<(&Section, Option<&str>, bool, &str)> = (self.list().iter())
            .enumerate()
            .map(|(i, s)| (s, self.section_name(s), self.is_connected(i), self.text(s)))
            .collect();
        f.debug_struct("Doc")
            .field("info", &self.info)
            .field("symbol", &self.symbol)
            .field("sections", &sections)
            .field("strict", &self.strict)
            .finish()
    }
}

impl Eq for Doc {}

impl Doc {
    /// An empty block: documentation for `symbol`, or free-form documentation if `None`.
    pub fn new(info: Info, symbol: Option<Name>) -> Doc {
        let body = Section::new(SectionKind::Plain, info.line);
        Doc {
            info,
            symbol,
            store: Store::Own(Arc::new(Sections {
                list: vec![body],
                names: Vec::new(),
                source: None,
                members_end: 0,
            })),
            strict: true,
            cursor: 0,
            start: 0,
            len: 0,
        }
    }

    /// The sections, in textual order.
    #[inline]
    fn list(&self) -> &[Section] {
        match &self.store {
            Store::Shared { file, .. } => {
                let start = self.start as usize;
                (file.data().sections)
                    .get(start..start + usize::from(self.len))
                    .unwrap_or_default()
            }
            Store::Own(own) => &own.list,
        }
    }

    /// Where the sections' text is.
    fn source(&self) -> Option<&Arc<ParsedFile>> {
        match &self.store {
            Store::Shared { file, .. } => Some(file),
            Store::Own(own) => own.source.as_ref(),
        }
    }

    /// The member or feature `section` (one of this block's) describes, for
    /// [`SectionKind::Member`] and [`SectionKind::Feature`] sections.
    pub fn section_name(&self, section: &Section) -> Option<&str> {
        match section.name {
            NameAt::None => None,
            NameAt::Text(a, b) => self.source()?.data().text.get(a as usize..b as usize),
            NameAt::Own(i) => match &self.store {
                Store::Own(own) => own.names.get(i as usize).map(Name::as_str),
                Store::Shared { .. } => None,
            },
        }
    }

    /// Where `section` (one of this block's) starts.
    pub fn section_info(&self, section: &Section) -> Info {
        Info {
            line: section.line,
            col: 0,
            ..self.info
        }
    }

    /// Whether the section at `index` was connected.
    fn is_connected(&self, index: usize) -> bool {
        match &self.store {
            Store::Shared { connected, .. } => index < 64 && connected >> index & 1 != 0,
            Store::Own(own) => own.list.get(index).is_some_and(|s| s.connected),
        }
    }

    /// Records that the section at `index` is connected.
    fn set_connected(&mut self, index: usize) {
        match &mut self.store {
            Store::Shared { connected, .. } => {
                if index < 64 {
                    *connected |= 1 << index;
                }
            }
            Store::Own(own) => {
                if let Some(section) = Arc::make_mut(own).list.get_mut(index) {
                    section.connected = true;
                }
            }
        }
    }

    /// The sections as the block's own, to insert into.
    fn own(&mut self) -> Option<&mut Sections> {
        if let Store::Shared {
            file, connected, ..
        } = &self.store
        {
            let (file, connected) = (file.clone(), *connected);
            // Room for the stubs a block gets, usually a few.
            let mut list = Vec::with_capacity(self.list().len() + 8);
            list.extend_from_slice(self.list());
            for (i, section) in list.iter_mut().enumerate() {
                section.connected = i < 64 && connected >> i & 1 != 0;
            }
            self.store = Store::Own(Arc::new(Sections {
                list,
                names: Vec::new(),
                source: Some(file),
                members_end: 0,
            }));
        }
        match &mut self.store {
            Store::Own(own) => Some(Arc::make_mut(own)),
            Store::Shared { .. } => None,
        }
    }

    /// Whether the block is held to all of QEMU 10.2's rules (see [`parse_block`]).
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The introduction: for a definition, the text between the `@name:` line and the
    /// first member, feature or tagged section; for free-form documentation, all of it.
    pub fn body(&self) -> &str {
        self.list().first().map_or("", |s| self.text(s))
    }

    /// The text of `section` (one of this block's), without the tag or `@name:` that
    /// opened it.
    pub fn text(&self, section: &Section) -> &str {
        self.source().map_or("", |file| {
            pieces_text(file.data(), section.start as usize, section.end as usize)
        })
    }

    /// Every section in textual order, the body first.
    pub fn all_sections(&self) -> &[Section] {
        self.list()
    }

    /// The member descriptions as `(name, text)`, documented ones in textual order, then
    /// empty ones for the undocumented members the model connected.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.described(SectionKind::Member)
    }

    /// The description of member (argument, enum value, alternative) `name`.
    pub fn member(&self, name: &str) -> Option<&str> {
        self.find(SectionKind::Member, name).map(|s| self.text(s))
    }

    /// The feature descriptions as `(name, text)`, in textual order.
    pub fn features(&self) -> impl Iterator<Item = (&str, &str)> {
        self.described(SectionKind::Feature)
    }

    /// The description of feature `name` (for `deprecated`, the deprecation note).
    pub fn feature(&self, name: &str) -> Option<&str> {
        self.find(SectionKind::Feature, name).map(|s| self.text(s))
    }

    /// The sections after the body that describe no member or feature (plain paragraphs
    /// and tagged sections), in textual order.
    pub fn sections(&self) -> impl Iterator<Item = &Section> {
        self.list()
            .iter()
            .skip(1)
            .filter(|s| !s.stub && !matches!(s.kind, SectionKind::Member | SectionKind::Feature))
    }

    /// The text of the tagged section of `kind` (`Returns`, `Errors`, `Since`, `Todo`).
    pub fn tagged(&self, kind: SectionKind) -> Option<&str> {
        self.sections()
            .find(|s| s.kind == kind && kind != SectionKind::Plain)
            .map(|s| self.text(s))
    }

    /// The `Since:` text: the release that introduced the definition.
    pub fn since(&self) -> Option<&str> {
        self.tagged(SectionKind::Since)
    }

    /// The release that introduced the definition, when its `Since:` section starts with
    /// a version number (see [`crate::facts::since_section_version`]).
    pub fn since_version(&self) -> Option<&str> {
        self.since().and_then(crate::facts::since_section_version)
    }

    /// The release that introduced member `name`, when its description states one
    /// (`(since X.Y)`, see [`crate::facts::stated_since`]).
    pub fn member_since(&self, name: &str) -> Option<&str> {
        self.member(name).and_then(crate::facts::stated_since)
    }

    /// Every member description that states its release, as `(name, version)`, in
    /// textual order.
    pub fn members_since(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members()
            .filter_map(|(name, text)| Some((name, crate::facts::stated_since(text)?)))
    }

    fn described(&self, kind: SectionKind) -> impl Iterator<Item = (&str, &str)> {
        (self.list().iter())
            .filter(move |s| s.kind == kind)
            .filter_map(move |s| Some((self.section_name(s)?, self.text(s))))
    }

    fn find(&self, kind: SectionKind, name: &str) -> Option<&Section> {
        let key = key_of(kind, name);
        self.list()
            .iter()
            .find(|s| s.key == key && s.kind == kind && self.section_name(s) == Some(name))
    }

    /// Connects the section of `kind` describing `name`, looked for from the cursor on
    /// (then from the start), which it moves past; `false` if there is none.
    #[inline]
    fn connect(&mut self, kind: SectionKind, name: &str) -> bool {
        let list = self.list();
        // The text the names are in, found once rather than for each name compared.
        let text = self.source().map_or("", |file| file.data().text.as_str());
        let names = |s: &Section| match s.name {
            NameAt::Text(a, b) => (text.as_bytes().get(a as usize..b as usize))
                .is_some_and(|there| same_bytes(there, name.as_bytes())),
            NameAt::Own(_) => self.section_name(s) == Some(name),
            NameAt::None => false,
        };
        // Most often the section at the cursor: compared by name, no fingerprint needed.
        let at = usize::from(self.cursor);
        let index = if list.get(at).is_some_and(|s| s.kind == kind && names(s)) {
            at
        } else {
            let key = key_of(kind, name);
            let is = |s: &Section| s.key == key && s.kind == kind && names(s);
            let start = at.min(list.len());
            match list[start..].iter().position(is) {
                Some(i) => start + i,
                None => match list[..start].iter().position(is) {
                    Some(i) => i,
                    None => return false,
                },
            }
        };
        // Only where to look first: past the counter's range, the search starts over.
        self.cursor = u16::try_from(index + 1).unwrap_or(u16::MAX);
        self.set_connected(index);
        true
    }

    fn has(&self, kind: SectionKind) -> bool {
        self.list().iter().any(|s| s.kind == kind)
    }

    /// Records that the documented definition has the member (or argument, or enum value)
    /// `name`, declared at `info`; `role` names what it is in messages ("member",
    /// "argument", "value"). An undocumented one is an error unless the definition is in
    /// `pragma.documentation_exceptions`, in which case an empty entry is added; a block
    /// parsed leniently gets the empty entry in any case, as older releases did not require
    /// every member to be documented.
    pub fn connect_member(
        &mut self,
        name: &str,
        role: &str,
        info: &Info,
        pragma: &Pragma,
    ) -> Result<()> {
        if self.connect(SectionKind::Member, name) {
            return Ok(());
        }
        self.undocumented_member(name, role, info, pragma)
    }

    /// [`Doc::connect_member`] for a member the block does not describe: rare, so kept
    /// out of the common path.
    #[cold]
    #[inline(never)]
    fn undocumented_member(
        &mut self,
        name: &str,
        role: &str,
        info: &Info,
        pragma: &Pragma,
    ) -> Result<()> {
        // The exceptions (a long list) only matter to a block parsed strictly.
        let excepted = || {
            self.symbol
                .as_ref()
                .is_some_and(|s| pragma.documentation_exceptions.iter().any(|e| e == s))
        };
        if self.strict && !excepted() {
            return Err(SchemaError::new(
                info,
                format!("{role} '{name}' is not documented"),
            ));
        }
        let key = key_of(SectionKind::Member, name);
        let line = self.info.line;
        if let Some(own) = self.own() {
            // Right after the descriptions that follow the body, so members stay
            // together and keep their order; where that is is worked out once, as a
            // block may leave many members undocumented.
            if own.members_end == 0 {
                let run = (own.list.iter().skip(1))
                    .take_while(|s| s.kind == SectionKind::Member)
                    .count();
                own.members_end = bound(1 + run);
            }
            let index = (own.members_end as usize).min(own.list.len());
            let at = NameAt::Own(bound(own.names.len()));
            own.names.push(Name::new(name));
            let mut stub = Section::named(SectionKind::Member, at, key, line);
            stub.connected = true;
            stub.stub = true;
            own.list.insert(index, stub);
            own.members_end = bound(index + 1);
        }
        Ok(())
    }

    /// Records that the documented definition has the feature `name`, declared at `info`;
    /// an undocumented feature is an error.
    pub fn connect_feature(&mut self, name: &str, info: &Info) -> Result<()> {
        match self.connect(SectionKind::Feature, name) {
            true => Ok(()),
            false => Err(SchemaError::new(
                info,
                format!("feature '{name}' is not documented"),
            )),
        }
    }

    /// For a command that returns something: adds an empty `Returns` section if the block
    /// has none, after the members (or else before `Errors`, or else before the features,
    /// or else after the body), as QEMU does so that generated documentation always says
    /// what comes back. The stub is not one of [`Doc::sections`].
    pub fn ensure_returns(&mut self, info: &Info) {
        if self.has(SectionKind::Returns) {
            return;
        }
        let mut stub = Section::new(SectionKind::Returns, info.line);
        stub.stub = true;
        let list = self.list();
        let last_of = |kind: SectionKind| list.iter().rposition(|s| s.kind == kind);
        let index = if let Some(i) = last_of(SectionKind::Member) {
            i + 1
        } else if let Some(i) = last_of(SectionKind::Errors) {
            i
        } else {
            last_of(SectionKind::Feature).unwrap_or(1)
        };
        if let Some(own) = self.own() {
            own.list.insert(index.min(own.list.len()), stub);
            own.members_end = 0;
        }
    }

    /// Checks the sections against the kind of definition: `Returns`/`Errors` only for
    /// commands, `Returns` only when the command returns something (not checked for a
    /// block parsed leniently: older releases wrote "Returns: nothing" for such commands).
    pub fn check_expr(&self, is_command: bool, has_returns: bool) -> Result<()> {
        let written = |kind: SectionKind| {
            self.list()
                .iter()
                .find(|s| s.kind == kind && !s.stub)
                .map(|s| self.section_info(s))
        };
        if is_command {
            let returns = written(SectionKind::Returns).filter(|_| self.strict);
            if let (Some(info), false) = (returns, has_returns) {
                return Err(SchemaError::new(
                    &info,
                    "'Returns:' section for a command that returns nothing",
                ));
            }
        } else {
            for kind in [SectionKind::Returns, SectionKind::Errors] {
                if let Some(info) = written(kind) {
                    return Err(SchemaError::new(
                        &info,
                        format!("'{kind}:' sections belong to commands only"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// After every member and feature was connected: documentation for members or
    /// features that do not exist is an error.
    pub fn check(&self) -> Result<()> {
        // Nearly always every description is connected: told in one pass.
        let described = |s: &Section| matches!(s.kind, SectionKind::Member | SectionKind::Feature);
        let all_connected = match &self.store {
            Store::Shared { connected, .. } => (self.list().iter().enumerate())
                .all(|(i, s)| !described(s) || (i < 64 && connected >> i & 1 != 0)),
            Store::Own(own) => own.list.iter().all(|s| !described(s) || s.connected),
        };
        if all_connected {
            return Ok(());
        }
        for (kind, what) in [
            (SectionKind::Member, "member"),
            (SectionKind::Feature, "feature"),
        ] {
            let bogus: Vec<&Section> = (self.list().iter().enumerate())
                .filter(|&(i, s)| s.kind == kind && !self.is_connected(i))
                .map(|(_, s)| s)
                .collect();
            let Some(first) = bogus.first() else {
                continue;
            };
            let names: Vec<String> = bogus
                .iter()
                .map(|s| format!("'{}'", self.section_name(s).unwrap_or_default()))
                .collect();
            let message = if bogus.len() > 1 {
                format!(
                    "{what}s {} are documented but do not exist",
                    names.join(", ")
                )
            } else {
                format!(
                    "{what} {} is documented but does not exist",
                    names.join(", ")
                )
            };
            return Err(SchemaError::new(&self.section_info(first), message));
        }
        Ok(())
    }

    /// Appends this block in the textual format of QEMU's front-end test output
    /// (`doc symbol=NAME` or `doc freeform`, then `    body=`, `    arg=`, `    feature=`,
    /// `    section=` entries, each followed by its text).
    pub fn dump(&self, out: &mut String) {
        match &self.symbol {
            Some(symbol) => out.push_str(&format!("doc symbol={symbol}\n")),
            None => out.push_str("doc freeform\n"),
        }
        out.push_str(&format!("    body=\n{}\n", self.body()));
        for (name, text) in self.members() {
            out.push_str(&format!("    arg={name}\n{text}\n"));
        }
        for (name, text) in self.features() {
            out.push_str(&format!("    feature={name}\n{text}\n"));
        }
        for section in self.sections() {
            out.push_str(&format!(
                "    section={}\n{}\n",
                section.kind,
                self.text(section)
            ));
        }
    }
}

/// `offset` as a piece or section bound; past `u32::MAX` (never: the parser rejects such
/// files) the range is simply not in the source, so the text reads as empty.
fn bound(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

/// Room to read doc blocks in, reused from block to block of a source.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The pieces of the blocks read so far (see [`Draft`]).
    pieces: Vec<(u32, u32)>,
    /// The sections of the blocks read so far, which the blocks refer to (see
    /// [`Store::Shared`]).
    sections: Vec<Section>,
}

impl Scratch {
    /// Room for reading the doc blocks of a source of `len` bytes.
    pub(crate) fn for_source(len: usize) -> Scratch {
        Scratch {
            // QEMU's files have a piece (about a doc line) per 30 bytes or more: room for
            // them all from the start, rather than copying them over each time the vector
            // doubles. A denser file still grows as needed.
            pieces: Vec::with_capacity(len / 28),
            // And a section per 100 bytes or more.
            sections: Vec::with_capacity(len / 96),
        }
    }

    /// The pieces of the blocks read so far, which the sections made from them refer to.
    pub(crate) fn take_pieces(&mut self) -> Vec<(u32, u32)> {
        std::mem::take(&mut self.pieces)
    }

    /// The sections of the blocks read so far, which the blocks refer to.
    pub(crate) fn take_sections(&mut self) -> Vec<Section> {
        std::mem::take(&mut self.sections)
    }
}

/// A bit of its own for each kind of section.
#[inline]
fn kind_bit(kind: SectionKind) -> u8 {
    1 << kind as u8
}

/// The [`Section::key`] of a description of `kind` for `name`.
#[inline]
fn key_of(kind: SectionKind, name: &str) -> u32 {
    // The high half: the multiplication mixes the last bytes into it.
    (fingerprint(kind, name) >> 32) as u32
}

/// A fingerprint of a description of `kind` for `name`: two descriptions whose
/// fingerprints differ cannot describe the same thing, so only an equal pair needs the
/// names compared (a block can describe a hundred members).
fn fingerprint(kind: SectionKind, name: &str) -> u64 {
    // FxHash's multiplier, applied to a few words of the name rather than byte by byte:
    // its first and last (up to) eight bytes, which overlap for a short name, and its
    // length. Names that agree on all of those are rare enough; they get compared.
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let b = name.as_bytes();
    let word8 = |at: usize| {
        b.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let word4 = |at: usize| {
        b.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
    };
    let (first, last) = match b.len() {
        8.. => (word8(0), word8(b.len() - 8)),
        4..=7 => (word4(0), word4(b.len() - 4)),
        _ => (b.iter().fold(0, |acc, &byte| acc << 8 | u64::from(byte)), 0),
    };
    let start = (b.len() as u64) << 1 | u64::from(kind == SectionKind::Feature);
    let h = (start ^ first).wrapping_mul(K);
    (h.rotate_left(29) ^ last).wrapping_mul(K)
}

/// A doc block being read: its sections so far, the last one's text still being written.
struct Draft<'s> {
    /// The sections of the source's blocks so far, this block's from `first` on.
    /// Borrowed: the source's blocks add to one vector, which goes into the source's
    /// [`ParsedFile`] at the end.
    sections: &'s mut Vec<Section>,
    /// Where this block's sections start in `sections`.
    first: usize,
    /// Where the block starts: its sections are in the same file, on their own lines.
    start: Info,
    /// The pieces (see [`Source`]) of every section of the source so far, one after the
    /// other; each complete section knows its run of them, blank lines around it left
    /// out. Borrowed: the source's blocks add to one vector, which goes into the
    /// source's [`ParsedFile`] at the end.
    pieces: &'s mut Vec<(u32, u32)>,
    /// Where the last section's pieces start in `pieces`.
    current: usize,
    /// A bit for the [`fingerprint`] of each description so far, picked by its top
    /// byte: a description whose bit is clear is new, which is told without going
    /// through all of them (blocks describe up to a hundred members).
    described_bits: [u64; 4],
    /// A bit (see [`kind_bit`]) for each kind of section the block has so far.
    kinds: u8,
    /// What the block's lines are slices of.
    source: Source<'s>,
}

impl<'s> Draft<'s> {
    /// A block with its (empty) body starting at `info`, whose lines are slices of
    /// `source`.
    fn new(info: &Info, scratch: &'s mut Scratch, source: Source<'s>) -> Draft<'s> {
        let Scratch { pieces, sections } = scratch;
        let first = sections.len();
        sections.push(Section::new(SectionKind::Plain, info.line));
        Draft {
            sections,
            first,
            start: *info,
            current: pieces.len(),
            pieces,
            described_bits: [0; 4],
            kinds: kind_bit(SectionKind::Plain),
            source,
        }
    }

    /// This block's sections so far.
    fn mine(&self) -> &[Section] {
        self.sections.get(self.first..).unwrap_or_default()
    }

    /// The name `section` (one of this block's) describes.
    fn name_of(&self, section: &Section) -> Option<&str> {
        match section.name {
            NameAt::Text(a, b) => self.source.text.get(a as usize..b as usize),
            _ => None,
        }
    }

    fn find(&self, kind: SectionKind, name: &str) -> Option<&Section> {
        self.mine()
            .iter()
            .find(|s| s.kind == kind && self.name_of(s) == Some(name))
    }

    fn has(&self, kind: SectionKind) -> bool {
        self.kinds & kind_bit(kind) != 0
    }

    /// Gives the last section its pieces, without the blank lines around it.
    fn flush(&mut self) {
        let pieces = self.pieces.get(self.current..).unwrap_or_default();
        let blank = |p: &&(u32, u32)| p.0 == p.1;
        let leading = pieces.iter().take_while(blank).count();
        let trailing = pieces[leading..].iter().rev().take_while(blank).count();
        if let Some(last) = self.sections.last_mut() {
            last.start = bound(self.current + leading);
            last.end = bound(self.current + pieces.len() - trailing);
        }
        self.current = self.pieces.len();
    }

    fn push(&mut self, section: Section) {
        self.flush();
        self.kinds |= kind_bit(section.kind);
        self.sections.push(section);
    }

    /// Appends a line to the section being written: `line` is a slice of the source (or
    /// empty, for a blank line).
    fn append_line(&mut self, line: &str) {
        let text = self.source.text;
        let offset = (line.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let piece = match offset.checked_add(line.len()) {
            Some(end) if !line.is_empty() && end <= text.len() => (bound(offset), bound(end)),
            // Blank (and, were the line not a slice of the source, which the readers
            // never hand over, better empty than somebody else's text).
            _ => (0, 0),
        };
        self.pieces.push(piece);
    }

    /// Appends a blank line to the section being written.
    fn append_blank(&mut self) {
        self.pieces.push((0, 0));
    }

    /// Continues the plain section being written with a new paragraph, or starts one.
    /// Where the line `line` of the block is, for a message about it as a whole.
    fn at_line(&self, line: u32) -> Info {
        Info {
            line,
            col: 0,
            ..self.start
        }
    }

    fn ensure_untagged_section(&mut self, line: u32) {
        if let Some(last) = self.sections.last_mut() {
            if last.kind == SectionKind::Plain {
                if self.pieces.len() == self.current {
                    // The body is there from the start; it begins where its text does.
                    last.line = line;
                }
                self.append_blank();
                return;
            }
        }
        self.push(Section::new(SectionKind::Plain, line));
    }

    fn new_tagged_section(&mut self, line: u32, kind: SectionKind) -> Step<()> {
        if matches!(
            kind,
            SectionKind::Returns | SectionKind::Errors | SectionKind::Since
        ) && self.has(kind)
        {
            return Err(self.problem(
                line,
                format!("second '{kind}:' section; there may be only one"),
            ));
        }
        self.push(Section::new(kind, line));
        Ok(())
    }

    /// The error `message` about the line `line`. Out of line: the messages' formatting
    /// would otherwise weigh on the common path of its callers.
    #[cold]
    #[inline(never)]
    fn problem(&self, line: u32, message: String) -> Stop {
        SchemaError::new(&self.at_line(line), message).into()
    }

    fn new_description(&mut self, line: u32, name: &str, kind: SectionKind) -> Step<()> {
        let what = || {
            if kind == SectionKind::Feature {
                "feature"
            } else {
                "member"
            }
        };
        if name.is_empty() {
            return Err(self.problem(line, format!("'@:' names no {}", what())));
        }
        let print = fingerprint(kind, name);
        let top = (print >> 56) as usize;
        let (word, bit) = (top / 64, 1u64 << (top % 64));
        let key = (print >> 32) as u32;
        // A set bit may be another name's: the keys (the fingerprints' other half) of
        // the block's descriptions, then their names, tell.
        let maybe_seen = self.described_bits.get(word).is_some_and(|w| w & bit != 0);
        if maybe_seen
            && self.mine().iter().any(|s| s.key == key && s.kind == kind)
            && self.find(kind, name).is_some()
        {
            return Err(self.problem(line, format!("{} '{name}' is described twice", what())));
        }
        if let Some(w) = self.described_bits.get_mut(word) {
            *w |= bit;
        }
        // The readers hand over slices of the source: the name is where it stands there.
        let text = self.source.text;
        let offset = (name.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let at = match offset.checked_add(name.len()) {
            Some(end) if end <= text.len() => NameAt::Text(bound(offset), bound(end)),
            _ => NameAt::None,
        };
        self.push(Section::named(kind, at, key, line));
        Ok(())
    }

    /// The block is complete: rejects tagged sections and descriptions that have no text.
    fn end(mut self, info: Info, symbol: Option<Name>) -> Result<Doc> {
        self.flush();
        for section in self.mine() {
            if section.kind != SectionKind::Plain && section.start == section.end {
                let tag = match self.name_of(section) {
                    Some(name) => format!("@{name}:"),
                    None => format!("{}:", section.kind),
                };
                return Err(SchemaError::new(
                    &Info {
                        line: section.line,
                        col: 0,
                        ..info
                    },
                    format!("'{tag}' needs text after it"),
                ));
            }
        }
        let file = self.source.shared.clone();
        let (start, end) = (self.first, self.sections.len());
        let (store, len) = match u8::try_from(end - start) {
            Ok(len) if len <= 64 => (Store::Shared { file, connected: 0 }, len),
            _ => (
                Store::Own(Arc::new(Sections {
                    list: self.sections.drain(start..).collect(),
                    names: Vec::new(),
                    source: Some(file),
                    members_end: 0,
                })),
                0,
            ),
        };
        Ok(Doc {
            info,
            symbol,
            store,
            strict: true,
            // Past the body, which no member or feature matches: the first description
            // is then found where the cursor stands.
            cursor: 1,
            start: bound(start),
            len,
        })
    }
}

/// Why reading a block stopped early.
enum Stop {
    /// The block breaks a rule. Boxed: every line read returns a `Step`, which is
    /// smaller so.
    Error(Box<SchemaError>),
    /// The block has no closing `##` and every line there is was read.
    Cut,
}

impl From<SchemaError> for Stop {
    fn from(e: SchemaError) -> Stop {
        Stop::Error(Box::new(e))
    }
}

type Step<T> = std::result::Result<T, Stop>;

/// Hands out the lines of a block one at a time, as QEMU's parser reads them, checking the
/// formatting of each as it goes.
struct Reader<'r, L> {
    lines: L,
    /// Where the block's opening `##` stands.
    start: Info,
    strict: bool,
    warnings: &'r mut Vec<SchemaError>,
    /// Inside an rST literal block or `qmp-example`, whose lines are exempt from the
    /// prose formatting rules.
    literal: bool,
    /// Indentation of the literal block's first line, 0 until it is known.
    literal_indent: usize,
    /// Where the block's source text may break the two-spaces rule, when known.
    stops: Option<&'r SentenceStops>,
    /// The address of the first of `stops` at or after the last line it was looked for
    /// at (always 0 without `stops`, so that every line is looked at).
    next_stop: usize,
}

impl<'a, 'r, L: BlockLines<'a>> Reader<'r, L> {
    fn new(
        lines: L,
        start: Info,
        strict: bool,
        warnings: &'r mut Vec<SchemaError>,
        stops: Option<&'r SentenceStops>,
    ) -> Self {
        Reader {
            stops,
            lines,
            start,
            strict,
            warnings,
            literal: false,
            literal_indent: 0,
            // The stop the lines before this block were last checked against: the
            // first at or after this block's lines, unless they are past it.
            next_stop: stops.map_or(0, SentenceStops::upcoming),
        }
    }

    /// An error at the line read last.
    fn error(&self, message: impl Into<String>) -> Stop {
        Stop::Error(Box::new(SchemaError::new(&self.here(), message)))
    }

    /// A broken formatting rule: fatal when strict, a warning otherwise.
    fn format_problem(&mut self, info: &Info, message: impl Into<String>) -> Step<()> {
        let error = SchemaError::new(info, message);
        if self.strict {
            return Err(Stop::Error(Box::new(error)));
        }
        self.warnings.push(error);
        Ok(())
    }

    /// The name in an `@name:` line. Older releases ignored `@name :`, which now
    /// describes a member called `name ` that cannot exist; leniently, the space is dropped.
    #[inline(always)]
    fn described_name<'n>(&mut self, name: &'n str) -> Step<&'n str> {
        // Nearly every name ends in a plain character: nothing to trim.
        if name
            .as_bytes()
            .last()
            .is_some_and(|b| b.is_ascii() && !b.is_ascii_whitespace())
        {
            return Ok(name);
        }
        let trimmed = name.trim_end();
        if trimmed.len() != name.len() && !trimmed.is_empty() && !self.strict {
            self.format_problem(
                &self.here(),
                format!("space between '@{trimmed}' and its ':'"),
            )?;
            return Ok(trimmed);
        }
        Ok(name)
    }

    /// The next line without its `# ` and trailing white space (`""` for a blank one), or
    /// `None` at the closing `##`.
    #[inline(always)]
    fn line(&mut self) -> Step<Option<&'a str>> {
        let Some(raw) = self.lines.next_line() else {
            return self.end_of_block();
        };
        // Nearly every line is `# ` and text that ends in a printable ASCII byte: taken
        // as it is here, inline in the readers; anything else goes the long way.
        let line = match raw.as_bytes() {
            [b'#', b' ', .., last] if last.is_ascii() && !last.is_ascii_whitespace() => {
                raw.get(2..).unwrap_or_default()
            }
            // A blank line, which no rule looks at.
            [b'#'] => return Ok(Some("")),
            _ => match self.unusual_line(raw)? {
                Some(line) => line,
                None => return Ok(Some("")),
            },
        };
        if self.literal || line.ends_with("::") {
            // Inside a literal block whose indentation is known, a line that keeps it
            // (or a blank one) changes nothing: told here, without a call.
            let keeps = self.literal
                && self.literal_indent > 0
                && !line.ends_with("::")
                && (line.is_empty() || indented_at_least(line, self.literal_indent));
            if !keeps {
                self.track_literal(line);
            }
        }
        if !self.literal {
            self.check_prose(raw, line)?;
        }
        Ok(Some(line))
    }

    /// [`Reader::line`] where the lines run out: at the closing `##`, or where a block
    /// without one is cut.
    #[inline(never)]
    fn end_of_block(&mut self) -> Step<Option<&'a str>> {
        if !self.lines.at_end() {
            return Err(Stop::Cut);
        }
        self.literal = false;
        Ok(None)
    }

    /// Where the line read last (or the closing `##`) stands.
    #[inline]
    fn here(&self) -> Info {
        self.lines.here()
    }

    /// [`Reader::here`]'s line.
    #[inline]
    fn line_no(&self) -> u32 {
        self.lines.line()
    }

    /// The text of a line that is not plain `# ` and text: without its `# ` and trailing
    /// white space, `None` for a lone `#` (a blank line, which no rule looks at), or the
    /// error of a line that is no doc comment line.
    #[inline(never)]
    fn unusual_line(&mut self, raw: &'a str) -> Step<Option<&'a str>> {
        let Some(after_hash) = raw.strip_prefix('#') else {
            return Err(self.error("documentation comment line must start with '#'"));
        };
        if after_hash.starts_with('#') {
            return Err(self.error("'##' inside a documentation comment"));
        }
        if after_hash.is_empty() {
            return Ok(None);
        }
        let Some(text) = after_hash.strip_prefix(' ') else {
            return Err(self.error("'#' must be followed by a space in documentation comments"));
        };
        // Plain ASCII endings are trimmed over bytes; anything else as str::trim_end.
        Ok(Some(match text.as_bytes().last() {
            Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => text,
            _ => text.trim_end(),
        }))
    }

    /// Whether `line` opens an rST literal block or, inside one, ends it.
    #[inline(never)]
    fn track_literal(&mut self, line: &str) {
        if opens_literal(line) {
            self.literal = true;
            self.literal_indent = 0;
        } else if self.literal && !line.is_empty() {
            if self.literal_indent == 0 {
                self.literal_indent = indentation(line);
            } else if !starts_with_spaces(line, self.literal_indent)
                && indentation(line) < self.literal_indent
            {
                // An rST block ends where the indentation drops.
                self.literal = false;
            }
        }
    }

    /// The prose rules of 10.2: lines fit in 70 columns (URLs excepted) and sentences are
    /// separated by two spaces.
    #[inline(always)]
    fn check_prose(&mut self, raw: &str, line: &str) -> Step<()> {
        // Nearly every line is short enough in bytes and holds no sentence stop: cleared
        // here, without a call. The next stop is at the line's start or after it (then
        // it is the first such), and not within it with its space and the next
        // character.
        let start = line.as_ptr() as usize;
        let wide = line.len() + 2 > MAX_LINE_WIDTH;
        if !wide
            && self.next_stop >= start
            && self.next_stop.saturating_add(2) >= start + line.len()
        {
            return Ok(());
        }
        self.check_prose_rules(raw, line)
    }

    /// [`Reader::check_prose`] for a line that may break a rule.
    #[inline(never)]
    fn check_prose_rules(&mut self, raw: &str, line: &str) -> Step<()> {
        if let Some(stops) = self.stops {
            let start = line.as_ptr() as usize;
            self.next_stop = stops.first_from(start).unwrap_or(usize::MAX);
        }
        let info = self.here();
        // Counting characters only matters when the bytes alone are too many.
        if line.len() + 2 > MAX_LINE_WIDTH
            && line.chars().count() + 2 > MAX_LINE_WIDTH
            && !is_lone_url(line)
        {
            self.format_problem(
                &info,
                format!("documentation line is wider than {MAX_LINE_WIDTH} columns"),
            )?;
        }
        // `any_within` again (cheap: the stop it found last is where it looks first).
        let suspect = self.stops.map_or(true, |stops| stops.any_within(line));
        if let Some(at) = suspect.then(|| single_space_after_sentence(line)).flatten() {
            // Point at the space after the full stop; `# ` comes before the text.
            let prefix = &raw[..(2 + at + 1).min(raw.len())];
            let col = advance_col(info.col.max(1), prefix);
            self.format_problem(
                &info.at_col(col),
                "only one space after the end of a sentence; QEMU's style wants two",
            )?;
        }
        Ok(())
    }
}

/// Whether `line` starts an rST literal block (`::` alone) or a `.. qmp-example::`.
fn opens_literal(line: &str) -> bool {
    // Whatever opens one ends with `::`; prose lines are turned away by their last bytes.
    if !line.ends_with("::") {
        return false;
    }
    let rest = match line.strip_prefix("..") {
        Some(after) if after.starts_with(' ') => {
            match after.trim_start_matches(' ').strip_prefix("qmp-example") {
                Some(rest) => rest,
                None => line,
            }
        }
        _ => line,
    };
    rest.trim_start_matches(' ') == "::"
}

/// Whether `line` is nothing but a URL, which may be as long as it needs.
fn is_lone_url(line: &str) -> bool {
    let line = line.trim_start_matches(' ');
    let rest = ["http://", "https://", "ftp://"]
        .iter()
        .find_map(|scheme| line.strip_prefix(scheme));
    rest.is_some_and(|r| !r.contains(' '))
}

/// Whether `line` starts with `n` spaces: then it is indented at least `n`, without
/// counting the rest (example lines are often indented much deeper than their block).
fn starts_with_spaces(line: &str, n: usize) -> bool {
    line.as_bytes()
        .get(..n)
        .is_some_and(|lead| lead.iter().all(|&b| b == b' '))
}

/// Whether `line` starts with at least `n` white-space characters: as `indentation`
/// says, but a line of eight bytes or more whose first `n` (up to eight) are spaces,
/// nearly every continuation line, is told by one comparison of a word.
#[inline(always)]
fn indented_at_least(line: &str, n: usize) -> bool {
    if let Some(lead) = line.as_bytes().get(..8) {
        if let (Ok(lead), true) = (<[u8; 8]>::try_from(lead), n <= 8) {
            let mask = u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0);
            if (u64::from_le_bytes(lead) ^ 0x2020_2020_2020_2020) & mask == 0 {
                return true;
            }
        }
    }
    indentation(line) >= n
}

/// Number of white-space characters `line` starts with.
#[inline(always)]
fn indentation(line: &str) -> usize {
    // Spaces, then (nearly always) a plain ASCII character: counted over bytes.
    let bytes = line.as_bytes();
    let mut spaces = 0;
    while bytes.get(spaces) == Some(&b' ') {
        spaces += 1;
    }
    match bytes.get(spaces) {
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => spaces,
        None => spaces,
        _ => line.chars().take_while(|c| c.is_whitespace()).count(),
    }
}

/// The column after `text` when it starts at `col`, with tabs to multiples of 8.
fn advance_col(mut col: u32, text: &str) -> u32 {
    for ch in text.chars() {
        if ch == '\t' {
            col = (col + 7) % 8 + 1;
        } else {
            col += 1;
        }
    }
    col
}

/// The byte offset of a sentence end (`.`, `!` or `?`) followed by a single space and a
/// capital, digit or `(`, which QEMU's style rejects. "e.g. X" and a numbered list item's
/// "1. X" are not sentence ends; a match is consumed whole before looking further, as a
/// regular-expression scan would.
fn single_space_after_sentence(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    // Most lines have no sentence end followed by a space at all; say so before any
    // per-character work.
    if !has_stop_then_space(bytes) {
        return None;
    }
    if line.is_ascii() {
        return sentence_end_ascii(bytes);
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    sentence_end(chars.len(), at).and_then(|i| chars.get(i).map(|&(offset, _)| offset))
}

/// The places in a source text where a sentence stop is followed by one space and what
/// may start a sentence: the only places [`single_space_after_sentence`] can find
/// anything. Found in one vectorised pass over the whole text, so that the nearly all doc
/// lines without one are cleared by a comparison instead of a search each.
pub(crate) struct SentenceStops {
    /// Addresses of the stops, ascending.
    at: Vec<usize>,
    /// The first entry not below the last line asked about: lines are nearly always
    /// asked about in order (a lookup behind it starts over).
    next: std::cell::Cell<usize>,
}

impl SentenceStops {
    /// The stops of `text`, which the lines asked about later must be slices of.
    pub(crate) fn new(text: &str) -> SentenceStops {
        let bytes = text.as_bytes();
        let base = bytes.as_ptr() as usize;
        let stop_at = |i: usize| bytes.get(i + 2).is_some_and(|&c| starts_sentence(c.into()));
        // Full stops are most of the stops but a third of them are followed by a space:
        // looking for the pair finds fewer places to test than looking for the byte.
        // `!` and `?` are rare enough to be looked for alone.
        let mut at: Vec<usize> = memchr::memmem::find_iter(bytes, ". ")
            .filter(|&i| stop_at(i))
            .map(|i| base + i)
            .collect();
        let sorted = at.len();
        at.extend(
            memchr::memchr2_iter(b'!', b'?', bytes)
                .filter(|&i| bytes.get(i + 1) == Some(&b' ') && stop_at(i))
                .map(|i| base + i),
        );
        if at.len() > sorted {
            // Two ascending runs, merged.
            at.sort();
        }
        SentenceStops {
            at,
            next: std::cell::Cell::new(0),
        }
    }

    /// Whether a stop lies within `line` with its space and the next character.
    #[inline]
    fn any_within(&self, line: &str) -> bool {
        let start = line.as_ptr() as usize;
        self.first_from(start)
            .is_some_and(|p| p + 2 < start + line.len())
    }

    /// The address of the stop [`SentenceStops::first_from`] found last (`usize::MAX`
    /// past the last stop).
    fn upcoming(&self) -> usize {
        self.at.get(self.next.get()).copied().unwrap_or(usize::MAX)
    }

    /// The address of the first stop at `start` or after it.
    #[inline]
    fn first_from(&self, start: usize) -> Option<usize> {
        let mut next = self.next.get();
        if next > 0 && self.at.get(next - 1).is_some_and(|&p| p >= start) {
            next = self.at.partition_point(|&p| p < start);
        }
        while self.at.get(next).is_some_and(|&p| p < start) {
            next += 1;
        }
        self.next.set(next);
        self.at.get(next).copied()
    }
}

/// Whether `.`, `!` or `?` is followed by a space somewhere in `bytes`. Prose has a stop
/// every few dozen bytes, so the stops are found with a vectorised search.
fn has_stop_then_space(bytes: &[u8]) -> bool {
    memchr::memchr3_iter(b'.', b'!', b'?', bytes).any(|i| bytes.get(i + 1) == Some(&b' '))
}

/// [`sentence_end`] for an ASCII line, going from one byte that can start a match
/// (`e` of "e.g.", or a stop) to the next instead of looking at every byte.
fn sentence_end_ascii(b: &[u8]) -> Option<usize> {
    let starts_next = |i: usize| {
        b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(|&c| starts_sentence(c.into()))
    };
    let is_eg = |i: usize| b.get(i..i + 4) == Some(b"e.g.".as_slice());
    let word_start = |i: usize| i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_';
    let mut i = 0;
    // At the very start: "e.g. X", else a numbered list item's "1. X".
    if is_eg(0) && starts_next(4) {
        i = 6;
    } else {
        let j = b.iter().take_while(|&&c| c == b' ').count();
        if b.get(j).is_some_and(u8::is_ascii_digit)
            && b.get(j + 1) == Some(&b'.')
            && starts_next(j + 2)
        {
            i = j + 4;
        }
    }
    while let Some(offset) = b
        .get(i..)?
        .iter()
        .position(|&c| matches!(c, b'e' | b'.' | b'!' | b'?'))
    {
        i += offset;
        if b[i] == b'e' {
            if word_start(i) && is_eg(i) && starts_next(i + 4) {
                i += 6;
                continue;
            }
        } else if starts_next(i + 1) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// [`single_space_after_sentence`] over `len` characters, `at(i)` being the `i`th: the
/// index of the offending sentence end.
fn sentence_end(len: usize, at: impl Fn(usize) -> Option<char>) -> Option<usize> {
    let starts_next = |i: usize| at(i) == Some(' ') && at(i + 1).is_some_and(starts_sentence);
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let is_eg = |i: usize| {
        at(i) == Some('e')
            && at(i + 1) == Some('.')
            && at(i + 2) == Some('g')
            && at(i + 3) == Some('.')
    };
    let mut i = 0;
    while i < len {
        // "e.g. X" at a word start.
        let word_start = i == 0 || !at(i - 1).is_some_and(is_word);
        if word_start && is_eg(i) && starts_next(i + 4) {
            i += 6;
            continue;
        }
        // "1. X" at the start of the line, after any spaces.
        if i == 0 {
            let mut j = 0;
            while at(j) == Some(' ') {
                j += 1;
            }
            if at(j).is_some_and(|c| c.is_ascii_digit())
                && at(j + 1) == Some('.')
                && starts_next(j + 2)
            {
                i = j + 4;
                continue;
            }
        }
        if matches!(at(i), Some('.' | '!' | '?')) && starts_next(i + 1) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// What may follow a sentence end: a capital letter, a digit or `(`.
fn starts_sentence(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '('
}

/// If `line` starts with `@name:`, the name and the text after the colon and its spaces.
#[inline(always)]
fn at_name_colon(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('@')?;
    let colon = colon_in(rest.as_bytes())?;
    Some((rest.get(..colon)?, skip_spaces(rest.get(colon + 1..)?)))
}

/// Where the first `:` of `bytes` is. Names are short: eight bytes at a time, which beats
/// both a byte loop and a vectorised search's set-up.
#[inline(always)]
fn colon_in(bytes: &[u8]) -> Option<usize> {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const TOP: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        // Zero bytes where the colons are; their top bits end up clear below, others set
        // (no carries between bytes: only the low seven bits are added).
        let w = u64::from_le_bytes(chunk) ^ 0x3a3a_3a3a_3a3a_3a3a;
        let nonzero = (((w & LOW) + LOW) | w) & TOP;
        if nonzero != TOP {
            // Little-endian: the lowest clear top bit is the first colon.
            return Some(i + ((!nonzero & TOP).trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    Some(i + bytes.get(i..)?.iter().position(|&b| b == b':')?)
}

/// Whether `a` and `b` are the same bytes. Names are short: compared a word or two at a
/// time (overlapping), where slice equality calls `memcmp`.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_le_bytes)
    };
    let word4 = |s: &[u8], at: usize| {
        s.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_le_bytes)
    };
    match n {
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        _ => a == b,
    }
}

/// `text` without its leading spaces. `trim_start_matches(' ')` does the same through the
/// generic pattern machinery, which costs more than the one or two spaces it meets here
/// (after every `@name:` and tag).
#[inline(always)]
fn skip_spaces(text: &str) -> &str {
    let spaces = text.bytes().take_while(|&b| b == b' ').count();
    text.get(spaces..).unwrap_or_default()
}

/// If `line` starts with a section tag (`Returns:` ..., and the retired `Note(s):` and
/// `Example(s):`), the tag and the text after the colon and its spaces. `Tag::` is rST
/// markup, not a tag.
#[inline]
fn section_tag(line: &str) -> Option<(&str, &str)> {
    const TAGS: [&str; 8] = [
        "Returns", "Errors", "Since", "Notes", "Note", "Examples", "Example", "TODO",
    ];
    // Most lines start with none of the tags' first letters: turned away at once.
    if !matches!(
        line.as_bytes().first(),
        Some(b'R' | b'E' | b'S' | b'N' | b'T')
    ) {
        return None;
    }
    TAGS.iter().find_map(|&tag| {
        let rest = line.strip_prefix(tag)?.strip_prefix(':')?;
        if rest.starts_with(':') {
            return None;
        }
        Some((tag, skip_spaces(rest)))
    })
}

/// Whether `line` ends a description: another description, a tag, or `Features:`.
#[inline]
fn starts_section(line: &str) -> bool {
    line == "Features:" || at_name_colon(line).is_some() || section_tag(line).is_some()
}

/// Parses one raw block into its documentation: one [`Doc`] (QEMU 10.2 no longer splits
/// free-form blocks at headings; the `Vec` leaves room for readers that do). Formatting-only
/// rules are errors when `strict`, otherwise they are pushed to `warnings`.
///
/// A block without its closing `##` (`end` is `None`) is only read for the errors in its
/// lines, so that those come before the complaint about the missing end, as in QEMU; it
/// yields no documentation.
pub fn parse_block(
    block: &RawDocBlock<'_>,
    strict: bool,
    warnings: &mut Vec<SchemaError>,
) -> Result<Vec<Doc>> {
    // The sections refer to their text by offsets into one source: here, the lines
    // joined, the block read again from those.
    let mut joined = String::new();
    let mut ranges = Vec::with_capacity(block.lines.len());
    for line in &block.lines {
        let start = joined.len();
        joined.push_str(line.text);
        ranges.push(start..joined.len());
        joined.push('\n');
    }
    let shared = Arc::new(ParsedFile::default());
    let copy = RawDocBlock {
        info: block.info,
        lines: block
            .lines
            .iter()
            .zip(ranges)
            .map(|(line, range)| RawDocLine {
                text: joined.get(range).unwrap_or_default(),
                info: line.info,
            })
            .collect(),
        end: block.end,
    };
    let mut scratch = Scratch::default();
    let source = Source {
        text: &joined,
        shared: &shared,
    };
    let lines = RawLines {
        block: &copy,
        next: 0,
        done: false,
    };
    let doc = parse_one(
        lines,
        copy.info,
        strict,
        warnings,
        &mut scratch,
        None,
        source,
    )?;
    drop(copy);
    // Nothing else has completed it.
    let _ = shared.finish(FileData {
        pieces: scratch.take_pieces(),
        sections: scratch.take_sections(),
        ..FileData::new(joined)
    });
    Ok(doc.into_iter().collect())
}

/// [`parse_block`] without the `Vec`: the documentation of the block whose opening `##`
/// stands at `start` and whose lines `lines` hands over, `None` when the block has no
/// end. The lines are slices of `source.text`; the sections' text is there once
/// `source.shared` is finished with the pieces left in `scratch` (room to write sections
/// in, reused from block to block of one source). `stops`, where `source.text` may break
/// the two-spaces rule.
pub(crate) fn parse_one<'a>(
    lines: impl BlockLines<'a>,
    start: Info,
    strict: bool,
    warnings: &mut Vec<SchemaError>,
    scratch: &mut Scratch,
    stops: Option<&SentenceStops>,
    source: Source<'_>,
) -> Result<Option<Doc>> {
    let mut reader = Reader::new(lines, start, strict, warnings, stops);
    match read_doc(&mut reader, scratch, source) {
        Ok(mut doc) => {
            doc.strict = strict;
            Ok(Some(doc))
        }
        Err(Stop::Error(e)) => Err(*e),
        Err(Stop::Cut) => Ok(None),
    }
}

fn read_doc<'a>(
    r: &mut Reader<'_, impl BlockLines<'a>>,
    text: &mut Scratch,
    source: Source<'_>,
) -> Step<Doc> {
    let mut line = r.line()?;
    let (doc, symbol) = match line {
        Some(first) if first.starts_with('@') => {
            let Some(symbol) = first.strip_prefix('@').and_then(|s| s.strip_suffix(':')) else {
                return Err(r.error("the '@name' line must end with ':'"));
            };
            if symbol.is_empty() {
                return Err(r.error("'@' must be followed by the name of a definition"));
            }
            let mut doc = Draft::new(&r.start, text, source);
            read_definition(r, &mut doc)?;
            (doc, Some(Name::new(symbol)))
        }
        _ => {
            let mut doc = Draft::new(&r.start, text, source);
            doc.ensure_untagged_section(r.line_no());
            while let Some(text) = line {
                if let Some((name, _)) = at_name_colon(text) {
                    return Err(r.error(format!(
                        "free-form documentation cannot describe '@{name}:'"
                    )));
                }
                doc.append_line(text);
                line = r.line()?;
            }
            (doc, None)
        }
    };
    Ok(doc.end(r.start, symbol)?)
}

/// The part of a definition block after its `@name:` line.
fn read_definition<'a>(r: &mut Reader<'_, impl BlockLines<'a>>, doc: &mut Draft<'_>) -> Step<()> {
    let mut line = r.line()?;
    // Descriptions go before `Features:` and tagged sections.
    let mut no_more_args = false;
    loop {
        while line == Some("") {
            line = r.line()?;
        }
        let Some(text) = line else {
            return Ok(());
        };
        if text == "Features:" {
            if doc.has(SectionKind::Feature) {
                return Err(r.error("second 'Features:' line; there may be only one"));
            }
            line = r.line()?;
            while line == Some("") {
                line = r.line()?;
            }
            while let Some((name, rest)) = line.and_then(at_name_colon) {
                let name = r.described_name(name)?;
                doc.new_description(r.line_no(), name, SectionKind::Feature)?;
                if !rest.is_empty() {
                    doc.append_line(rest);
                }
                line = read_indented(r, doc)?;
            }
            if !doc.has(SectionKind::Feature) {
                return Err(r.error("'Features:' must be followed by '@feature:' descriptions"));
            }
            no_more_args = true;
        } else if let Some((name, _)) = at_name_colon(text) {
            if no_more_args {
                r.format_problem(
                    &r.here(),
                    format!("'@{name}:' comes after 'Features:' or a tagged section"),
                )?;
            }
            line = Some(text);
            while let Some((name, rest)) = line.and_then(at_name_colon) {
                let name = r.described_name(name)?;
                doc.new_description(r.line_no(), name, SectionKind::Member)?;
                if !rest.is_empty() {
                    doc.append_line(rest);
                }
                line = read_indented(r, doc)?;
            }
            no_more_args = true;
        } else if let Some((tag, rest)) = section_tag(text) {
            match SectionKind::from_tag(tag) {
                Some(kind) => {
                    doc.new_tagged_section(r.line_no(), kind)?;
                    if !rest.is_empty() {
                        doc.append_line(rest);
                    }
                    line = read_indented(r, doc)?;
                    no_more_args = true;
                }
                None => {
                    // QEMU 10.2 retired these for rST admonitions and `.. qmp-example::`;
                    // older releases use them, and their text reads fine as a paragraph.
                    let hint = if tag.starts_with("Note") {
                        "an rST admonition such as '.. note::'"
                    } else {
                        "'.. qmp-example::'"
                    };
                    r.format_problem(
                        &r.here(),
                        format!("'{tag}:' sections are no longer supported; use {hint}"),
                    )?;
                    doc.ensure_untagged_section(r.line_no());
                    doc.append_line(text);
                    line = read_paragraph(r, doc)?;
                }
            }
        } else {
            doc.ensure_untagged_section(r.line_no());
            doc.append_line(text);
            line = read_paragraph(r, doc)?;
        }
    }
}

/// The rest of a description or tagged section after its first line: blank lines, then
/// lines indented at least as much as the first non-blank one. Returns the first line that
/// is not part of it.
fn read_indented<'a>(
    r: &mut Reader<'_, impl BlockLines<'a>>,
    doc: &mut Draft<'_>,
) -> Step<Option<&'a str>> {
    let mut line = r.line()?;
    let mut blank_before = false;
    while line == Some("") {
        doc.append_blank();
        blank_before = true;
        line = r.line()?;
    }
    let Some(first) = line else {
        return Ok(None);
    };
    let indent = indentation(first);
    if indent == 0 {
        if r.strict || blank_before || starts_section(first) {
            return Ok(Some(first));
        }
        // Older releases did not require continuation lines to be indented; 10.2 would read this
        // line as a new paragraph and lose the rest of the description.
        r.format_problem(
            &r.here(),
            "continuation line is not indented (read as part of the section above)",
        )?;
        return read_unindented(r, doc, first);
    }
    doc.append_line(first);
    // QEMU sets this after every line, not only blank ones; mirrored so that the same
    // blocks are accepted.
    let mut prev_line_blank = false;
    loop {
        let Some(text) = r.line()? else {
            return Ok(None);
        };
        if at_name_colon(text).is_some() {
            return Ok(Some(text));
        }
        if !text.is_empty() && !indented_at_least(text, indent) {
            if prev_line_blank {
                return Ok(Some(text));
            }
            if starts_section(text) && !r.strict {
                // An older release's tag right after the description.
                r.format_problem(&r.here(), format!("no blank line before '{text}'"))?;
                return Ok(Some(text));
            }
            r.format_problem(
                &r.here(),
                format!("line is indented less than the {indent} spaces of the lines above"),
            )?;
        }
        doc.append_line(text);
        prev_line_blank = true;
    }
}

/// An old-style section whose lines are not indented: it runs to a blank line or the next
/// section.
fn read_unindented<'a>(
    r: &mut Reader<'_, impl BlockLines<'a>>,
    doc: &mut Draft<'_>,
    first: &'a str,
) -> Step<Option<&'a str>> {
    doc.append_line(first);
    loop {
        let line = r.line()?;
        match line {
            None | Some("") => return Ok(line),
            Some(text) if starts_section(text) => return Ok(line),
            Some(text) => doc.append_line(text),
        }
    }
}

/// The rest of a plain paragraph: up to a blank line.
fn read_paragraph<'a>(
    r: &mut Reader<'_, impl BlockLines<'a>>,
    doc: &mut Draft<'_>,
) -> Step<Option<&'a str>> {
    loop {
        let line = r.line()?;
        match line {
            None | Some("") => return Ok(line),
            Some(text) => doc.append_line(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_text_from_lines() {
        let info = Info::start_of(std::path::Path::new("doc.json"), None);
        let lines = [
            "# @Foo:",
            "#",
            "# Intro.",
            "#",
            "# @a: one",
            "#     two",
            "#",
            "#     three",
            "# @b: single",
            "#",
            "# Para one",
            "# line two",
            "#",
            "#",
            "# Para two",
            "#",
            "# Since: 1.0",
        ];
        let block = RawDocBlock {
            info,
            lines: lines
                .iter()
                .map(|&text| RawDocLine { text, info })
                .collect(),
            end: Some(info),
        };
        let docs = parse_block(&block, true, &mut Vec::new()).unwrap();
        let doc = &docs[0];
        assert_eq!(doc.body(), "Intro.");
        assert_eq!(doc.member("a"), Some("one\n    two\n\n    three"));
        assert_eq!(doc.member("b"), Some("single"));
        let texts: Vec<&str> = doc.sections().map(|s| doc.text(s)).collect();
        assert_eq!(texts, ["Para one\nline two\n\nPara two", "1.0"]);
    }

    #[test]
    fn indentation_at_least() {
        for line in [
            "",
            "a",
            "  a",
            "        ",
            "         x",
            "    \tx",
            "\u{a0}  x",
            "   abcdefghij",
            "    abcdefghij",
            "        abcdefghij",
            "          abcdefghij",
        ] {
            for n in 0..12 {
                assert_eq!(
                    indented_at_least(line, n),
                    indentation(line) >= n,
                    "{line:?} {n}"
                );
            }
        }
    }

    #[test]
    fn byte_comparison() {
        let text = b"abcdefghijklmnopqrstuvwxyz";
        for n in 0..text.len() {
            let a = &text[..n];
            assert!(same_bytes(a, a));
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(a, &b), "{n} {at}");
            }
            assert!(!same_bytes(a, &text[..n + 1]));
        }
    }

    #[test]
    fn colon_search() {
        for len in 0..20 {
            for at in 0..=len {
                let mut text = vec![b'a'; len];
                if at < len {
                    text[at] = b':';
                }
                let expected = text.iter().position(|&b| b == b':');
                assert_eq!(colon_in(&text), expected, "{len} {at}");
                // Bytes with the top bit set, and a second colon, change nothing.
                if at < len {
                    text.extend_from_slice(b":\xc3");
                    text[..at].fill(0xba);
                    assert_eq!(colon_in(&text), expected, "{len} {at}");
                }
            }
        }
    }

    #[test]
    fn sentence_spacing() {
        let check = |line: &str| single_space_after_sentence(line);
        assert_eq!(check("No stop here"), None);
        assert_eq!(check("One. Two"), Some(3));
        assert_eq!(check("One.  Two"), None);
        assert_eq!(check("See e.g. This"), None);
        assert_eq!(check("  1. First"), None);
        assert_eq!(check("Is it? (yes)"), Some(5));
        assert_eq!(
            check("Long enough to use words: one two three. Four"),
            Some(39)
        );
        assert_eq!(check("\u{e9}t\u{e9}. Deux"), Some(5));
        assert_eq!(check("end."), None);
        for line in [
            "e.g. Foo. Bar",
            "x e.g. Foo. Bar",
            "the.e.g. Foo",
            "  3. Item. Next",
            "3. e.g. X",
            "e.g.  X. Y",
            "Done! (Really.) Yes? No",
            "ends with e",
            "",
            "1.",
            "ee.g. A",
        ] {
            let at = |i: usize| line.as_bytes().get(i).map(|&b| char::from(b));
            assert_eq!(
                sentence_end_ascii(line.as_bytes()),
                sentence_end(line.len(), at),
                "{line}"
            );
        }
        for line in ["a.b c", "x! y", "tail ?", "12345678. A", "1234567. A"] {
            let expected = line
                .as_bytes()
                .windows(2)
                .any(|w| w[1] == b' ' && matches!(w[0], b'.' | b'!' | b'?'));
            assert_eq!(has_stop_then_space(line.as_bytes()), expected, "{line}");
        }
    }
}
