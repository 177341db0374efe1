//! Run-time helpers the generated serde impls call, so each generated impl stays small.
//!
//! Not part of the public API: generated code reaches it as `crate::support`.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::value::RawValue;
use std::fmt;

/// A generated struct's members written into a map that is already open, so unions can put
/// their branch's members beside the base members (QAPI's flat wire layout).
pub trait SerializeFields {
    /// Writes each member that is present as a map entry.
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;
}

/// Serializes a generated struct as a JSON object of its members.
pub fn serialize_struct<T: SerializeFields + ?Sized, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    value.serialize_fields(&mut map)?;
    map.end()
}

/// Writes an optional member only when it is present.
pub fn serialize_optional<M: SerializeMap, T: serde::Serialize>(
    map: &mut M,
    wire: &'static str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(wire, value),
        None => Ok(()),
    }
}

/// A generated struct read from a JSON object, member by member.
///
/// The visitor around it is generic (written once, here) and the generated part keeps only
/// what differs per type; that keeps the bindings quick to compile.
pub trait DecodeMap: Sized {
    /// What the visitor expects, for error messages: the QAPI type's name.
    const EXPECTING: &'static str;

    /// Reads the members from an open map.
    fn decode_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// Deserializes a generated struct through its [`DecodeMap`] impl.
pub fn deserialize_struct<'de, T: DecodeMap, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(DecodeMapVisitor(std::marker::PhantomData))
}

/// The visitor of a JSON object into a [`DecodeMap`] type.
struct DecodeMapVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: DecodeMap> Visitor<'de> for DecodeMapVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::decode_map(map)
    }
}

/// Reads the value of the member whose key was just read (a later duplicate wins, as in
/// QEMU's own parser).
pub fn read<'de, A: MapAccess<'de>, T: serde::Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
) -> Result<(), A::Error> {
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Reads an optional member's value, where `null` means absent.
pub fn read_optional<'de, A: MapAccess<'de>, T: serde::Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
) -> Result<(), A::Error> {
    *slot = map.next_value()?;
    Ok(())
}

/// The members of a generated struct while they are read: a tuple of one `Option` per
/// member, in declaration order, written by index.
///
/// Implemented here once for tuples of every size the generator uses ([`MAX_SLOTS`]), so
/// the per-member reading code is compiled once instead of once per generated type.
pub trait Slots<'de>: Sized {
    /// Every member absent.
    fn empty() -> Self;

    /// Reads the value of member `index` into its slot (or skips it, past the end).
    fn read<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error>;
}

/// The largest struct [`Slots`] covers; the generator writes bigger ones out in full.
pub const MAX_SLOTS: usize = 48;

impl<'de> Slots<'de> for () {
    fn empty() -> Self {}

    fn read<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        skip(map)
    }
}

/// `impl Slots` for the tuple of as many `Option`s as pairs are listed, then for each
/// shorter one. The pairs count down, so that every tuple's positions are the indices
/// that follow it; the names only tell the type parameters apart.
macro_rules! slots_impls {
    () => {};
    (($index:tt $ty:ident) $(($rest_index:tt $rest_ty:ident))*) => {
        impl<'de, $ty: serde::Deserialize<'de>, $($rest_ty: serde::Deserialize<'de>),*> Slots<'de>
            for (Option<$ty>, $(Option<$rest_ty>,)*)
        {
            fn empty() -> Self {
                (None, $(None::<$rest_ty>,)*)
            }

            fn read<A: MapAccess<'de>>(
                &mut self,
                index: usize,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match index {
                    $index => read(map, &mut self.$index),
                    $($rest_index => read(map, &mut self.$rest_index),)*
                    _ => skip(map),
                }
            }
        }
        slots_impls!($(($rest_index $rest_ty))*);
    };
}

/// Deserializes an object's members into `S` (see [`read_members`]); `expecting` names the
/// type for error messages. A generated struct's whole `Deserialize` is this call and the
/// check of its required members.
pub fn deserialize_members<'de, S: Slots<'de>, D: Deserializer<'de>>(
    deserializer: D,
    expecting: &'static str,
    names: &'static [&'static str],
) -> Result<S, D::Error> {
    struct SlotsVisitor<S> {
        expecting: &'static str,
        names: &'static [&'static str],
        slots: std::marker::PhantomData<S>,
    }
    impl<'de, S: Slots<'de>> Visitor<'de> for SlotsVisitor<S> {
        type Value = S;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S, A::Error> {
            read_members(map, self.names)
        }
    }
    deserializer.deserialize_map(SlotsVisitor {
        expecting,
        names,
        slots: std::marker::PhantomData,
    })
}

/// Reads an object's members into `S`, one slot per name of `names` (in order), skipping
/// members this schema does not know.
pub fn read_members<'de, S: Slots<'de>, A: MapAccess<'de>>(
    mut map: A,
    names: &[&str],
) -> Result<S, A::Error> {
    let mut slots = S::empty();
    while let Some(key) = map.next_key::<Key<'de>>()? {
        let key = key.as_str();
        match names.iter().position(|name| *name == key) {
            Some(index) => slots.read(index, &mut map)?,
            None => skip(&mut map)?,
        }
    }
    Ok(slots)
}

/// Skips the value of a member this schema does not know (a newer QEMU's).
pub fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<de::IgnoredAny>().map(drop)
}

/// Deserializes a string and maps it through `from_wire` (which keeps unknown values).
pub fn deserialize_enum<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    from_wire: fn(&str) -> T,
) -> Result<T, D::Error> {
    struct EnumVisitor<T>(fn(&str) -> T);
    impl<T> Visitor<'_> for EnumVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.0)(v))
        }
    }
    deserializer.deserialize_str(EnumVisitor(from_wire))
}

/// A map key borrowed from the input when it can be, copied when it must.
pub struct Key<'de>(KeyInner<'de>);

enum KeyInner<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Key<'de> {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            KeyInner::Borrowed(s) => s,
            KeyInner::Owned(s) => s,
        }
    }

    /// The text, still borrowed from the input when it was.
    pub fn into_cow(self) -> std::borrow::Cow<'de, str> {
        match self.0 {
            KeyInner::Borrowed(s) => std::borrow::Cow::Borrowed(s),
            KeyInner::Owned(s) => std::borrow::Cow::Owned(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(KeyInner::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(KeyInner::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(KeyInner::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The value of a required member's slot, or the error naming it.
pub fn required<T, E: de::Error>(slot: Option<T>, member: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(member))
}

/// The error for a member given twice where a later value cannot simply win (a union's
/// discriminator).
pub fn duplicate<E: de::Error>(member: &'static str) -> E {
    E::duplicate_field(member)
}

/// The error for a required member that was absent.
pub fn missing<E: de::Error>(member: &'static str) -> E {
    E::missing_field(member)
}

/// Decodes `T` (a union's branch) from the rest of an open map, once the discriminator has
/// come before any branch member: `base` reads each of the union's own members (it says
/// whether the key was one), the others go to `T`.
pub fn decode_rest<'de, A, T, F>(map: &mut A, base: &mut F) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    T: serde::Deserialize<'de>,
    F: FnMut(&str, &mut A) -> Result<bool, A::Error>,
{
    T::deserialize(RestOfMap {
        map,
        base,
        _de: std::marker::PhantomData,
    })
}

/// The members of an open map after its discriminator, less the union's own.
struct RestOfMap<'a, 'de, A, F> {
    map: &'a mut A,
    base: &'a mut F,
    _de: std::marker::PhantomData<&'de ()>,
}

impl<'de, A, F> Deserializer<'de> for RestOfMap<'_, 'de, A, F>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Result<bool, A::Error>,
{
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A, F> MapAccess<'de> for RestOfMap<'_, 'de, A, F>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Result<bool, A::Error>,
{
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        while let Some(key) = self.map.next_key::<Key<'de>>()? {
            if (self.base)(key.as_str(), self.map)? {
                continue;
            }
            return match key.0 {
                KeyInner::Borrowed(key) => {
                    seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
                }
                KeyInner::Owned(key) => seed.deserialize(de::value::StringDeserializer::new(key)),
            }
            .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Members kept as raw JSON until the discriminator says which branch they belong to
/// (QEMU does not promise to send the discriminator first).
#[derive(Default)]
pub struct BufferedMembers {
    members: Vec<(String, Box<RawValue>)>,
}

impl BufferedMembers {
    /// Whether no member has been kept.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Reads the value of the member `key` (whose key was just read) and keeps it for later.
    pub fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let value: Box<RawValue> = map.next_value()?;
        self.members.push((key.to_owned(), value));
        Ok(())
    }

    /// Decodes the kept members as `T` (a branch's struct), reporting errors as `E`.
    pub fn decode<T: serde::de::DeserializeOwned, E: de::Error>(self) -> Result<T, E> {
        T::deserialize(&self).map_err(E::custom)
    }

    /// The kept members as a JSON object (for a branch this schema does not know).
    pub fn into_json<E: de::Error>(self) -> Result<serde_json::Map<String, serde_json::Value>, E> {
        self.members
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_str(v.get()).map_err(E::custom)?)))
            .collect()
    }
}

impl<'de> Deserializer<'de> for &'de BufferedMembers {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(BufferedAccess {
            members: self.members.iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct BufferedAccess<'de> {
    members: std::slice::Iter<'de, (String, Box<RawValue>)>,
    value: Option<&'de RawValue>,
}

impl<'de> MapAccess<'de> for BufferedAccess<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.members.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let raw = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value requested before its key"))?;
        let mut json = serde_json::Deserializer::from_str(raw.get());
        seed.deserialize(&mut json)
    }
}

/// The JSON type of a raw value, which picks an alternate's branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// An object.
    Object,
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An array (no alternate accepts one).
    Array,
}

/// The kind of `raw`, from its first byte (a `RawValue` is valid JSON without leading
/// white space).
pub fn json_kind(raw: &RawValue) -> JsonKind {
    match raw.get().as_bytes().first() {
        Some(b'{') => JsonKind::Object,
        Some(b'"') => JsonKind::String,
        Some(b't' | b'f') => JsonKind::Bool,
        Some(b'n') => JsonKind::Null,
        Some(b'[') => JsonKind::Array,
        _ => JsonKind::Number,
    }
}

/// Decodes a raw value as `T`, reporting errors as `E`.
pub fn decode_raw<T: serde::de::DeserializeOwned, E: de::Error>(raw: &RawValue) -> Result<T, E> {
    serde_json::from_str(raw.get()).map_err(E::custom)
}

/// The error for an alternate given a JSON type none of its branches takes.
pub fn no_branch<E: de::Error>(alternate: &'static str, kind: JsonKind) -> E {
    E::custom(format_args!(
        "{alternate} has no branch for a JSON {kind:?}"
    ))
}

/// Decodes `json` as `T` and writes it back as JSON: the dynamic decoders' one step.
#[cfg(feature = "dynamic")]
pub fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(
    json: &str,
) -> Result<serde_json::Value, crate::describe::DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        crate::describe::DecodeError::Mismatch {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        }
    })?;
    serde_json::to_value(&value).map_err(|e| crate::describe::DecodeError::Mismatch {
        path: ".".to_string(),
        message: e.to_string(),
    })
}

/// The dynamic decode of a command that returns nothing: QEMU sends `{}`.
pub fn roundtrip_empty(json: &str) -> Result<serde_json::Value, crate::describe::DecodeError> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) if map.is_empty() => Ok(serde_json::Value::Object(map)),
        Ok(other) => Err(crate::describe::DecodeError::Mismatch {
            path: ".".to_string(),
            message: format!("expected an empty object, found {other}"),
        }),
        Err(e) => Err(crate::describe::DecodeError::Mismatch {
            path: ".".to_string(),
            message: e.to_string(),
        }),
    }
}

/// Decodes an event's data; absent data decodes as an empty object.
pub fn decode_raw_data<T: serde::de::DeserializeOwned>(
    data: Option<&RawValue>,
) -> Result<T, serde_json::Error> {
    serde_json::from_str(data.map_or("{}", RawValue::get))
}

/// The value of an implicit type that has no members (QAPI's `q_empty`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Empty;

impl serde::Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
}

impl<'de> serde::Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer)?;
        Ok(Empty)
    }
}

slots_impls!((47 T47) (46 T46) (45 T45) (44 T44) (43 T43) (42 T42) (41 T41) (40 T40) (39 T39) (38 T38) (37 T37) (36 T36) (35 T35) (34 T34) (33 T33) (32 T32) (31 T31) (30 T30) (29 T29) (28 T28) (27 T27) (26 T26) (25 T25) (24 T24) (23 T23) (22 T22) (21 T21) (20 T20) (19 T19) (18 T18) (17 T17) (16 T16) (15 T15) (14 T14) (13 T13) (12 T12) (11 T11) (10 T10) (9 T9) (8 T8) (7 T7) (6 T6) (5 T5) (4 T4) (3 T3) (2 T2) (1 T1) (0 T0));
