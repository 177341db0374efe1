//! A fast layout of generated token streams: line breaks, indentation and `///` doc comments,
//! in one pass over the tokens.
//!
//! prettyplease lays code out beautifully, but needs syn to parse the whole output first,
//! which takes most of a second for QEMU's schema in an unoptimised build script. This
//! layout only changes white space (and writes `#[doc = "..."]` as `///`), so the code is
//! the same token for token; it reads like written code, if less polished.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Lays out `tokens` as Rust source text.
pub fn layout(tokens: TokenStream) -> String {
    layout_with(tokens, true)
}

/// [`layout`], with doc attributes written as `///` comments or left as attributes.
fn layout_with(tokens: TokenStream, doc_comments: bool) -> String {
    let mut writer = Writer {
        out: String::with_capacity(1 << 16),
        indent: 0,
        line_start: true,
        last: Last::Open,
        doc_comments,
        last_word_is_keyword: false,
    };
    writer.stream(tokens, Context::Items);
    writer.out
}

/// What the tokens of a group are: items and statements get a line each; expressions and
/// parameter lists stay on one line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Items,
    Inline,
}

/// What was written last, to choose the space before the next token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// An identifier or literal.
    Word,
    /// An operator (one or more joined punctuation characters) after which the next token
    /// follows without a space (`::`, `.`, `&`, `!`, `'`, `#`, `<`, a unary `-` or `*`).
    TightOp,
    /// A closing `>` of generics.
    CloseAngle,
    /// Any other operator (`,`, `:`, `=`, `=>`, `->`, ...): a space follows.
    Op,
    /// An opening delimiter (or nothing yet).
    Open,
    /// A closing delimiter.
    Close,
}

struct Writer {
    out: String,
    indent: usize,
    line_start: bool,
    last: Last,
    doc_comments: bool,
    /// The last identifier written, when it was the last token (keywords before `::`
    /// keep their space: `impl ::std::...`).
    last_word_is_keyword: bool,
}

impl Writer {
    fn newline(&mut self) {
        if !self.line_start {
            self.out.push('\n');
            self.line_start = true;
        }
    }

    fn write(&mut self, text: &str, space_before: bool) {
        if self.line_start {
            for _ in 0..self.indent {
                self.out.push_str("    ");
            }
            self.line_start = false;
        } else if space_before {
            self.out.push(' ');
        }
        self.out.push_str(text);
    }

    /// Whether a word (identifier or literal) gets a space before it.
    fn space_before_word(&self) -> bool {
        matches!(
            self.last,
            Last::Word | Last::Close | Last::CloseAngle | Last::Op
        )
    }

    fn stream(&mut self, tokens: TokenStream, context: Context) {
        let mut tokens = tokens.into_iter().peekable();
        // Generic arguments' commas do not end a line.
        let mut angle_depth = 0usize;
        while let Some(token) = tokens.next() {
            match token {
                TokenTree::Punct(p) if p.as_char() == '#' && p.spacing() == Spacing::Alone => {
                    if let Some(TokenTree::Group(g)) = tokens.peek() {
                        if g.delimiter() == Delimiter::Bracket {
                            let attribute = g.stream();
                            tokens.next();
                            self.attribute(attribute);
                            continue;
                        }
                    }
                    self.operator("#");
                }
                TokenTree::Punct(p) => {
                    let mut op = String::from(p.as_char());
                    let mut joint = p.spacing() == Spacing::Joint;
                    // A lifetime's quote joins the identifier after it, not an operator.
                    while joint && p.as_char() != '\'' {
                        match tokens.peek() {
                            Some(TokenTree::Punct(next)) => {
                                op.push(next.as_char());
                                joint = next.spacing() == Spacing::Joint;
                                tokens.next();
                            }
                            _ => break,
                        }
                    }
                    match op.as_str() {
                        "<" => angle_depth += 1,
                        ">" => angle_depth = angle_depth.saturating_sub(1),
                        ">>" => angle_depth = angle_depth.saturating_sub(2),
                        _ => {}
                    }
                    self.operator(&op);
                    if context == Context::Items && angle_depth == 0 && (op == ";" || op == ",") {
                        self.newline();
                    }
                }
                TokenTree::Ident(ident) => {
                    let space = self.space_before_word();
                    let text = ident.to_string();
                    self.write(&text, space);
                    self.last = Last::Word;
                    self.last_word_is_keyword = matches!(
                        text.as_str(),
                        "impl"
                            | "dyn"
                            | "as"
                            | "for"
                            | "in"
                            | "return"
                            | "mut"
                            | "where"
                            | "ref"
                            | "move"
                            | "else"
                    );
                }
                TokenTree::Literal(literal) => {
                    let space = self.space_before_word();
                    self.write(&literal.to_string(), space);
                    self.last = Last::Word;
                    self.last_word_is_keyword = false;
                }
                TokenTree::Group(group) => match group.delimiter() {
                    Delimiter::Brace => {
                        let space = !matches!(self.last, Last::Open | Last::TightOp);
                        let inner = group.stream();
                        if inner.is_empty() {
                            self.write("{}", space);
                        } else {
                            self.write("{", space);
                            self.indent += 1;
                            self.newline();
                            self.last = Last::Open;
                            self.stream(inner, Context::Items);
                            self.indent -= 1;
                            self.newline();
                            self.write("}", false);
                        }
                        self.last = Last::Close;
                        // A block ends a line unless a separator, `.` or `else` follows.
                        let continues = match tokens.peek() {
                            Some(TokenTree::Punct(p)) => {
                                matches!(p.as_char(), ',' | ';' | '.' | '?')
                            }
                            Some(TokenTree::Ident(i)) => i == "else",
                            _ => false,
                        };
                        if context == Context::Items && !continues {
                            self.newline();
                        }
                    }
                    delimiter => {
                        let (open, close) = match delimiter {
                            Delimiter::Parenthesis => ("(", ")"),
                            Delimiter::Bracket => ("[", "]"),
                            _ => ("", ""),
                        };
                        // Calls and indexing hug their callee; a group after an operator
                        // such as `=` or `->` stands apart.
                        let space = matches!(self.last, Last::Op);
                        self.write(open, space);
                        self.last = Last::Open;
                        self.stream(group.stream(), Context::Inline);
                        self.write(close, false);
                        self.last = Last::Close;
                    }
                },
            }
        }
    }

    /// Writes an operator, spaced by what it is and what came before.
    fn operator(&mut self, op: &str) {
        let after_value = matches!(self.last, Last::Word | Last::Close | Last::CloseAngle);
        let space = match op {
            "," | ";" | "." | "?" | ":" | "::" | "!" | "'" => {
                // `: ::std` and `-> ::std` keep their space; `Foo::bar` and `<::std` do not.
                op == "::"
                    && (matches!(self.last, Last::Op)
                        || matches!(self.last, Last::Word) && self.last_word_is_keyword)
            }
            "<" | ">" | ">>" => false,
            "&" | "-" | "*" | "**" | "&&" => after_value || matches!(self.last, Last::Op),
            _ => !matches!(self.last, Last::Open),
        };
        self.write(op, space);
        self.last = match op {
            "::" | "." | "!" | "'" | "#" | "<" => Last::TightOp,
            ">" | ">>" => Last::CloseAngle,
            "&" | "-" | "*" | "**" | "&&" if !after_value => Last::TightOp,
            _ => Last::Op,
        };
    }

    /// `#[...]`: doc attributes become `///` lines; others stay attributes on a line.
    fn attribute(&mut self, attribute: TokenStream) {
        let parts: Vec<TokenTree> = attribute.clone().into_iter().collect();
        if let [TokenTree::Ident(name), TokenTree::Punct(eq), TokenTree::Literal(text)] =
            parts.as_slice()
        {
            if self.doc_comments && name == "doc" && eq.as_char() == '=' {
                if let Some(line) = plain_string(&text.to_string()) {
                    self.newline();
                    self.write(&format!("///{line}"), false);
                    self.newline();
                    self.last = Last::Open;
                    return;
                }
            }
        }
        self.newline();
        self.write("#[", false);
        self.last = Last::Open;
        self.stream(attribute, Context::Inline);
        self.write("]", false);
        self.newline();
        self.last = Last::Open;
    }
}

/// The text of a string literal that can be written as a `///` line: one line, and no
/// escapes other than `\"`, `\\` and `\'`.
fn plain_string(literal: &str) -> Option<String> {
    // `///` comments in `quote!` arrive as raw strings.
    if let Some(raw) = literal
        .strip_prefix("r\"")
        .and_then(|l| l.strip_suffix('"'))
    {
        return (!raw.contains(['\n', '\r'])).then(|| raw.to_string());
    }
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next()? {
                c @ ('"' | '\\' | '\'') => out.push(c),
                _ => return None,
            },
            '\n' | '\r' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Checks that laying out `tokens` changes nothing but white space: the text parses back to
/// the same tokens. For tests of the emitter over whole schemas.
pub fn layout_preserves_tokens(tokens: TokenStream) -> Result<(), String> {
    let text = layout_with(tokens.clone(), false);
    let reparsed: TokenStream = text
        .parse()
        .map_err(|e| format!("laid-out code does not lex: {e:?}"))?;
    if flat(reparsed) == flat(tokens) {
        Ok(())
    } else {
        Err("laid-out code has different tokens".to_string())
    }
}

/// The tokens as text, one entry per token, groups with their delimiters, ignoring how
/// punctuation was spaced (which only affects how a stream prints, not what it means).
fn flat(tokens: TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for token in tokens {
        match token {
            TokenTree::Group(g) => {
                out.push(format!("{:?}", g.delimiter()));
                out.extend(flat(g.stream()));
                out.push("end".to_string());
            }
            TokenTree::Punct(p) => out.push(p.as_char().to_string()),
            other => out.push(other.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn lays_out_items_and_keeps_tokens() {
        let tokens = quote! {
            #[doc = " A \"quoted\" doc."]
            #[derive(Clone, Debug)]
            pub struct Foo<'a> { pub a: ::std::vec::Vec<::std::vec::Vec<i64>>, b: &'a str }
            impl Foo<'_> {
                fn f(&self, x: i64) -> ::std::result::Result<(), ()> {
                    match x { 1 => {} _ => return Err(()), }
                    let y = self.a.len() as i64 - 1;
                    if y >= 0 { Ok(()) } else { Err(()) }
                }
            }
        };
        let text = layout(tokens.clone());
        assert!(text.contains("/// A \"quoted\" doc.\n"), "{text}");
        assert!(
            text.contains(
                "pub struct Foo<'a> {\n    pub a: ::std::vec::Vec<::std::vec::Vec<i64>>,\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("-> ::std::result::Result<(), ()> {"),
            "{text}"
        );
        assert!(text.contains("let y = self.a.len() as i64 - 1;"), "{text}");
        assert!(text.contains("if y >= 0 {"), "{text}");
        assert!(text.contains("    b: &'a str\n"), "{text}");
        let text = layout(quote!(
            fn g(x: impl ::std::fmt::Debug) {}
        ));
        assert!(text.contains("x: impl ::std::fmt::Debug"), "{text}");
        assert_eq!(layout_preserves_tokens(tokens), Ok(()));
    }
}
