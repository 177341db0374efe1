//! Names: the strings of a schema (names, types, keys, condition symbols) as the parsed
//! tree, the doc blocks and the model hold them.

/// A string of the schema (a name, a type, a key, a condition symbol), as the parsed tree
/// and the model hold it: up to 23 bytes inline, longer ones shared, so that making,
/// copying and dropping one costs no allocation in nearly every case (a schema has some
/// ten thousand, nearly all short). It dereferences to `str`, compares with `str` and
/// `String`, and formats (`Display` and `Debug`) as the string does.
#[derive(Clone, Default)]
pub struct Name(smol_str::SmolStr);

// Compared, ordered and hashed as the `str` (hashing alike is what lets maps keyed by
// names be looked up with a `&str`), inline: SmolStr's own `eq` is an out-of-line call.
impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// The longest name kept inline (SmolStr's inline capacity).
const INLINE: usize = 23;

impl Name {
    /// A copy of `text`.
    #[inline]
    pub fn new(text: &str) -> Name {
        // Nearly every name fits inline: copied by SmolStr's inline constructor, a
        // short loop, rather than through its general one (which calls `memcpy` and
        // looks for runs of white space first).
        if text.len() <= INLINE {
            return Name(smol_str::SmolStr::new_inline(text));
        }
        Name(smol_str::SmolStr::new(text))
    }

    /// `text` itself, without a copy.
    pub const fn new_static(text: &'static str) -> Name {
        Name(smol_str::SmolStr::new_static(text))
    }

    /// The pieces of `parts` one after the other, built without an allocation when short.
    pub fn concat(parts: &[&str]) -> Name {
        Name(parts.iter().copied().collect())
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(smol_str::SmolStr::from(text))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn names_of_every_length() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=text.len() {
            let name = Name::new(&text[..len]);
            assert_eq!(name.as_str(), &text[..len]);
            assert_eq!(name, Name::from(text[..len].to_string()));
        }
    }
}
