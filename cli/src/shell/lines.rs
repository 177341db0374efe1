//! A typed line as words: whitespace separates them, quotes group them
//! (`node-name="a b"`), and JSON (`{...}`, `[...]`, at the start of a word or right after
//! its `=`) is kept verbatim up to its closing bracket, spaces and all. `;` and line
//! breaks separate the actions of a `transaction(` ... `)` block.

/// One word and where it starts in the text (a byte offset), for completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with its quotes removed (JSON kept as typed).
    pub text: String,
    /// Byte offset of the word's first character.
    pub start: usize,
}

/// What the text ended inside of, when it ended before a closing quote or bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Nothing: the text is complete.
    Nothing,
    /// A quoted string (`"` or `'`).
    Quote,
    /// JSON whose brackets are not closed yet.
    Json,
}

/// The words of a text, in groups split by `;` and line breaks, and what it ended inside of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexed {
    /// The groups of words; a group is never empty.
    pub groups: Vec<Vec<Word>>,
    /// Whether the text stopped inside a quote or JSON (the last word is then partial).
    pub open: Open,
    /// Whether the text ends in the middle of a word (no separator after it).
    pub in_word: bool,
    /// Byte offset just past the last `;` or line break outside quotes and JSON (0 when
    /// none): the words from there on are the group being typed.
    pub group_start: usize,
}

/// Splits `text` into groups of words. Never fails: an unclosed quote or bracket is
/// reported in [`Lexed::open`], so completion can work on partial lines too.
pub fn lex(text: &str) -> Lexed {
    let mut groups: Vec<Vec<Word>> = Vec::new();
    let mut group: Vec<Word> = Vec::new();
    let mut word: Option<Word> = None;
    let mut open = Open::Nothing;
    // JSON state: bracket depth, inside a JSON string, after a backslash in it.
    let mut depth = 0usize;
    let mut json_string = false;
    let mut escaped = false;
    let mut quote = '"';
    let mut group_start = 0;
    for (at, c) in text.char_indices() {
        let current = word.get_or_insert_with(|| Word {
            text: String::new(),
            start: at,
        });
        match open {
            Open::Json => {
                current.text.push(c);
                if json_string {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => json_string = false,
                        _ => {}
                    }
                } else {
                    match c {
                        '"' => json_string = true,
                        '{' | '[' => depth += 1,
                        '}' | ']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                open = Open::Nothing;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Open::Quote => {
                if escaped {
                    current.text.push(c);
                    escaped = false;
                } else if c == '\\' && quote == '"' {
                    escaped = true;
                } else if c == quote {
                    open = Open::Nothing;
                } else {
                    current.text.push(c);
                }
            }
            Open::Nothing => match c {
                ';' | '\n' => {
                    group_start = at + 1;
                    if let Some(w) = word.take().filter(|w| w.start < at) {
                        group.push(w);
                    }
                    if !group.is_empty() {
                        groups.push(std::mem::take(&mut group));
                    }
                }
                c if c.is_whitespace() => {
                    // A word opened at this very character holds nothing yet.
                    if let Some(w) = word.take().filter(|w| w.start < at) {
                        group.push(w);
                    }
                }
                '"' | '\'' => {
                    quote = c;
                    open = Open::Quote;
                }
                '{' | '[' if current.text.is_empty() || is_key_then_equals(&current.text) => {
                    current.text.push(c);
                    open = Open::Json;
                    depth = 1;
                    json_string = false;
                    escaped = false;
                }
                c => current.text.push(c),
            },
        }
    }
    let in_word = word.is_some();
    if let Some(w) = word {
        group.push(w);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    Lexed {
        groups,
        open,
        in_word,
        group_start,
    }
}

/// `key=` (the JSON is the value of a key): one `=`, at the end, after a name.
fn is_key_then_equals(text: &str) -> bool {
    text.ends_with('=') && text.matches('=').count() == 1 && text.len() > 1
}

/// The keyword that opens a transaction block.
pub const TRANSACTION_OPEN: &str = "transaction(";

/// What a complete line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing (blank, or a `#` comment).
    Empty,
    /// A command and its argument words.
    Command(String, Vec<String>),
    /// A transaction: each action's type and data words.
    Transaction(Vec<(String, Vec<String>)>),
}

/// The body of a transaction block (`None`: not one): the text after `transaction(`,
/// with its closing `)` when it has one.
fn transaction_body(text: &str) -> Option<&str> {
    text.trim_start().strip_prefix(TRANSACTION_OPEN)
}

/// Whether a transaction body has its closing `)`: the last thing in it, outside quotes
/// and JSON.
fn closed(body: &str) -> Option<&str> {
    let trimmed = body.trim_end();
    let inner = trimmed.strip_suffix(')')?;
    (lex(inner).open == Open::Nothing).then_some(inner)
}

/// Whether more lines are needed: an open quote, unclosed JSON, or a transaction block
/// without its `)`.
pub fn incomplete(text: &str) -> bool {
    match transaction_body(text) {
        Some(body) => closed(body).is_none(),
        None => lex(text).open != Open::Nothing,
    }
}

/// Reads a complete line (or block).
pub fn parse(text: &str) -> Result<Line, String> {
    if let Some(body) = transaction_body(text) {
        let Some(inner) = closed(body) else {
            return Err("the transaction block has no closing `)`".into());
        };
        let lexed = lex(inner);
        let actions: Vec<(String, Vec<String>)> = lexed
            .groups
            .into_iter()
            .filter_map(|group| {
                let mut words = group.into_iter().map(|w| w.text);
                let kind = words.next()?;
                Some((kind, words.collect()))
            })
            .collect();
        if actions.is_empty() {
            return Err(
                "the transaction has no actions: one a line (or `;` between), `TYPE key=value...`"
                    .into(),
            );
        }
        return Ok(Line::Transaction(actions));
    }
    let lexed = lex(text);
    match lexed.open {
        Open::Quote => return Err("a quote is not closed".into()),
        Open::Json => return Err("a JSON value's brackets are not closed".into()),
        Open::Nothing => {}
    }
    let mut groups = lexed.groups.into_iter();
    let Some(first) = groups.next() else {
        return Ok(Line::Empty);
    };
    if groups.next().is_some() {
        return Err(
            "one command a line (`;` and line breaks separate the actions of a `transaction(` ... `)` block)"
                .into(),
        );
    }
    let mut words = first.into_iter().map(|w| w.text);
    match words.next() {
        Some(name) if name.starts_with('#') => Ok(Line::Empty),
        Some(name) => Ok(Line::Command(name, words.collect())),
        None => Ok(Line::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<Vec<String>> {
        lex(text)
            .groups
            .into_iter()
            .map(|g| g.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn quotes_and_json_group_words() {
        assert_eq!(
            texts(r#"blockdev-add driver=null-co node-name="a b" x='c d'"#),
            vec![vec![
                "blockdev-add",
                "driver=null-co",
                "node-name=a b",
                "x=c d"
            ]]
        );
        assert_eq!(
            texts(r#"blockdev-add {"driver": "null-co", "node-name": "a } b"}"#),
            vec![vec![
                "blockdev-add",
                r#"{"driver": "null-co", "node-name": "a } b"}"#
            ]]
        );
        assert_eq!(
            texts(r#"x cache={"direct": true} y=[1, 2]"#),
            vec![vec!["x", r#"cache={"direct": true}"#, "y=[1, 2]"]]
        );
        assert_eq!(texts(r#"a "say \"hi\"""#), vec![vec!["a", r#"say "hi""#]]);
        // An empty quoted value is still a word.
        assert_eq!(texts(r#"a b="""#), vec![vec!["a", "b="]]);
        assert_eq!(texts("  "), Vec::<Vec<String>>::new());
    }

    #[test]
    fn partial_text_says_what_is_open() {
        assert_eq!(lex(r#"a b="x"#).open, Open::Quote);
        assert_eq!(lex(r#"a {"b": [1"#).open, Open::Json);
        assert!(lex("a b").in_word);
        assert!(!lex("a b ").in_word);
        let lexed = lex("query-sta");
        assert_eq!(lexed.groups[0][0].start, 0);
    }

    #[test]
    fn transactions_span_lines_or_semicolons() {
        assert!(incomplete("transaction(\n a x=1"));
        assert!(!incomplete("transaction(\n a x=1\n)"));
        assert!(incomplete(r#"transaction( a x=")""#));
        assert!(incomplete(r#"a {"b": 1"#));
        assert!(!incomplete("query-status"));
        assert_eq!(
            parse("transaction( a x=1 ; b y=2 z=3 )"),
            Ok(Line::Transaction(vec![
                ("a".into(), vec!["x=1".into()]),
                ("b".into(), vec!["y=2".into(), "z=3".into()])
            ]))
        );
        assert_eq!(
            parse("transaction(\n  a x=1\n\n  b {\"y\": 2}\n)"),
            Ok(Line::Transaction(vec![
                ("a".into(), vec!["x=1".into()]),
                ("b".into(), vec!["{\"y\": 2}".into()])
            ]))
        );
        assert!(parse("transaction( )").is_err());
        assert!(parse("transaction( a").is_err());
    }

    #[test]
    fn commands_are_one_a_line() {
        assert_eq!(parse("stop"), Ok(Line::Command("stop".into(), Vec::new())));
        assert_eq!(parse("   "), Ok(Line::Empty));
        assert_eq!(parse("# a comment"), Ok(Line::Empty));
        assert!(parse("stop; cont").is_err());
        assert!(parse("a b=\"x").is_err());
        assert!(parse("a {").is_err());
    }
}
