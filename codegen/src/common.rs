//! What the checker and the model both speak: configuration conditions (`if`) and the
//! built-in types. The checker makes conditions and names built-in types as it checks each
//! expression; the model keeps them. Public as [`crate::model::Cond`],
//! [`crate::model::Builtin`] and [`crate::model::JsonType`].

use crate::name::Name;
use std::fmt;

/// A configuration condition (`if`): what it applies to exists only in builds where the
/// condition holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// A configuration symbol such as `CONFIG_KVM`: holds when it is defined.
    Name(Name),
    /// Holds when every operand holds.
    All(Vec<Cond>),
    /// Holds when some operand holds.
    Any(Vec<Cond>),
    /// Holds when the operand does not.
    Not(Box<Cond>),
}

impl Cond {
    /// The form QEMU's front-end test output prints: a bare name, or else the condition
    /// as Python writes the nested object (`{'all': ['A', {'not': 'B'}]}`).
    pub fn dump_text(&self) -> String {
        match self {
            Cond::Name(name) => name.to_string(),
            _ => {
                let mut out = String::new();
                self.write_repr(&mut out);
                out
            }
        }
    }

    fn write_repr(&self, out: &mut String) {
        let (op, operands) = match self {
            Cond::Name(name) => {
                out.push('\'');
                out.push_str(name);
                out.push('\'');
                return;
            }
            Cond::Not(operand) => {
                out.push_str("{'not': ");
                operand.write_repr(out);
                out.push('}');
                return;
            }
            Cond::All(operands) => ("all", operands),
            Cond::Any(operands) => ("any", operands),
        };
        out.push_str("{'");
        out.push_str(op);
        out.push_str("': [");
        for (i, operand) in operands.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            operand.write_repr(out);
        }
        out.push_str("]}");
    }

    /// Whether the condition holds when exactly the symbols for which `defined` says yes
    /// are defined.
    pub fn eval(&self, defined: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Cond::Name(name) => defined(name),
            Cond::All(operands) => operands.iter().all(|c| c.eval(defined)),
            Cond::Any(operands) => operands.iter().any(|c| c.eval(defined)),
            Cond::Not(operand) => !operand.eval(defined),
        }
    }

    /// Every configuration symbol the condition mentions, in order of appearance.
    pub fn symbols(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_symbols(&mut out);
        out
    }

    fn collect_symbols<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Cond::Name(name) => out.push(name),
            Cond::All(operands) | Cond::Any(operands) => {
                operands.iter().for_each(|c| c.collect_symbols(out))
            }
            Cond::Not(operand) => operand.collect_symbols(out),
        }
    }

    fn fmt_nested(&self, f: &mut fmt::Formatter<'_>, nested: bool) -> fmt::Result {
        let (op, operands) = match self {
            Cond::Name(name) => return f.write_str(name),
            Cond::Not(operand) => {
                f.write_str("not ")?;
                return operand.fmt_nested(f, true);
            }
            Cond::All(operands) => (" and ", operands),
            Cond::Any(operands) => (" or ", operands),
        };
        if nested {
            f.write_str("(")?;
        }
        for (i, operand) in operands.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            operand.fmt_nested(f, true)?;
        }
        if nested {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Cond {
    /// Human-readable: `A and (B or not C)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_nested(f, false)
    }
}

/// The JSON shape of a type's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonType {
    /// A string (also enums).
    String,
    /// A number (`number`).
    Number,
    /// An integer (`int`, `int8` .. `uint64`, `size`).
    Int,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
    /// Any value (`any`, alternates).
    Value,
    /// An array.
    Array,
    /// An object (structs, unions).
    Object,
}

impl JsonType {
    /// The name QEMU uses (`string`, `int`, `boolean`, `value`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Int => "int",
            JsonType::Boolean => "boolean",
            JsonType::Null => "null",
            JsonType::Value => "value",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }
}

/// A built-in type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `str`
    Str,
    /// `number`: a double.
    Number,
    /// `int`: a 64-bit signed integer.
    Int,
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint8`
    Uint8,
    /// `uint16`
    Uint16,
    /// `uint32`
    Uint32,
    /// `uint64`
    Uint64,
    /// `size`: a 64-bit unsigned byte count.
    Size,
    /// `bool`
    Bool,
    /// `any`: any JSON value.
    Any,
    /// `null`: only JSON null.
    Null,
}

impl Builtin {
    /// Every built-in type, in QEMU's definition order.
    pub const ALL: [Builtin; 15] = [
        Builtin::Str,
        Builtin::Number,
        Builtin::Int,
        Builtin::Int8,
        Builtin::Int16,
        Builtin::Int32,
        Builtin::Int64,
        Builtin::Uint8,
        Builtin::Uint16,
        Builtin::Uint32,
        Builtin::Uint64,
        Builtin::Size,
        Builtin::Bool,
        Builtin::Any,
        Builtin::Null,
    ];

    /// The name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Str => "str",
            Builtin::Number => "number",
            Builtin::Int => "int",
            Builtin::Int8 => "int8",
            Builtin::Int16 => "int16",
            Builtin::Int32 => "int32",
            Builtin::Int64 => "int64",
            Builtin::Uint8 => "uint8",
            Builtin::Uint16 => "uint16",
            Builtin::Uint32 => "uint32",
            Builtin::Uint64 => "uint64",
            Builtin::Size => "size",
            Builtin::Bool => "bool",
            Builtin::Any => "any",
            Builtin::Null => "null",
        }
    }

    /// The built-in type called `name`, if any.
    #[inline]
    pub fn named(name: &str) -> Option<Builtin> {
        // Defined types are CamelCase (or `q_...`, `...List`): most names asked about are
        // told apart by their first letter alone.
        if !name.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
            return None;
        }
        // Told apart by length first, then compared: cheaper than a hash lookup.
        Some(match name {
            "str" => Builtin::Str,
            "number" => Builtin::Number,
            "int" => Builtin::Int,
            "int8" => Builtin::Int8,
            "int16" => Builtin::Int16,
            "int32" => Builtin::Int32,
            "int64" => Builtin::Int64,
            "uint8" => Builtin::Uint8,
            "uint16" => Builtin::Uint16,
            "uint32" => Builtin::Uint32,
            "uint64" => Builtin::Uint64,
            "size" => Builtin::Size,
            "bool" => Builtin::Bool,
            "any" => Builtin::Any,
            "null" => Builtin::Null,
            _ => return None,
        })
    }

    /// The JSON shape of its values.
    pub fn json_type(self) -> JsonType {
        match self {
            Builtin::Str => JsonType::String,
            Builtin::Number => JsonType::Number,
            Builtin::Bool => JsonType::Boolean,
            Builtin::Any => JsonType::Value,
            Builtin::Null => JsonType::Null,
            _ => JsonType::Int,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_by_name() {
        for (i, b) in Builtin::ALL.iter().enumerate() {
            assert_eq!(Builtin::named(b.name()), Some(*b));
            assert_eq!(*b as usize, i);
        }
        assert_eq!(Builtin::named("strList"), None);
    }

    #[test]
    fn cond_forms() {
        let c = Cond::Not(Box::new(Cond::Any(vec![
            Cond::Not(Box::new(Cond::Name("A".into()))),
            Cond::Name("B".into()),
        ])));
        assert_eq!(c.dump_text(), "{'not': {'any': [{'not': 'A'}, 'B']}}");
        assert_eq!(c.to_string(), "not (not A or B)");
        assert_eq!(Cond::Name("A".into()).dump_text(), "A");
        assert!(c.eval(&|s| s == "A"));
        assert!(!c.eval(&|s| s == "B"));
        assert_eq!(c.symbols(), ["A", "B"]);
    }
}
