//! The generated items: one function per kind of definition, plus the `Event` enum, the
//! `Commands` extension trait and the dynamic tables.

use super::names::{self, Namespace};
use super::{docs, event_variant_base, ident, Emitter};
use crate::doc::Doc;
use crate::merge::ItemFacts;
use crate::model::{
    AlternateType, Builtin, Command, Entity, EntityId, EntityKind, EnumType, JsonType, Member,
    ObjectType,
};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// A member as a Rust field.
struct Field {
    ident: Ident,
    wire: String,
    /// The value type (without the `Option` of an optional member).
    value: TokenStream,
    optional: bool,
    /// Whether the value type is `String` (parameters then take `impl Into<String>`).
    is_string: bool,
    /// Whether JSON `null` is a value of the type (`any`, `null`, an alternate with a
    /// `null` branch): an optional member sent as `null` is then present, not absent.
    takes_null: bool,
    attrs: TokenStream,
}

impl Field {
    fn declared_type(&self) -> TokenStream {
        let value = &self.value;
        if self.optional {
            quote!(::std::option::Option<#value>)
        } else {
            value.clone()
        }
    }
}

fn fields<'a>(
    em: &Emitter<'_>,
    owner: EntityId,
    doc: Option<&Doc>,
    facts: Option<&ItemFacts>,
    members: impl IntoIterator<Item = &'a Member>,
    ns: &mut Namespace,
) -> Vec<Field> {
    members
        .into_iter()
        .filter(|m| !em.member_skipped(m))
        .map(|m| {
            let member_facts = facts.and_then(|f| Some((f, f.member(&m.name)?)));
            let wide = member_facts.is_some_and(|(_, m)| m.wide_int);
            Field {
                ident: ident(&ns.claim(names::snake(&m.name))),
                wire: m.name.to_string(),
                value: if wide {
                    quote!(i128)
                } else {
                    em.held_type(owner, m.ty)
                },
                // A member under `if` is missing from every QEMU built without its condition
                // (`deprecated-props` of `CpuModelExpansionInfo` on x86), and the bindings are
                // generated for every build, so it cannot be required.
                optional: m.optional || m.cond.is_some(),
                is_string: matches!(em.entity(m.ty).kind, EntityKind::Builtin(Builtin::Str)),
                takes_null: takes_null(em, m.ty),
                attrs: docs::member(
                    em.options.docs,
                    doc,
                    &m.name,
                    m.cond.as_deref(),
                    &m.features,
                    &member_facts.map_or(String::new(), |(owner, member)| {
                        docs::member_facts(em.facts, owner, member)
                    }),
                ),
            }
        })
        .collect()
}

fn takes_null(em: &Emitter<'_>, ty: EntityId) -> bool {
    match &em.entity(ty).kind {
        EntityKind::Builtin(Builtin::Any | Builtin::Null) => true,
        EntityKind::Alternate(a) => a
            .variants
            .iter()
            .any(|v| em.entity(v.ty).json_type() == Some(JsonType::Null)),
        _ => false,
    }
}

fn struct_definition(name: &Ident, attrs: &TokenStream, fields: &[Field]) -> TokenStream {
    let all_optional = fields.iter().all(|f| f.optional);
    let derive = if all_optional {
        quote!(#[derive(Clone, Debug, Default, PartialEq)])
    } else {
        quote!(#[derive(Clone, Debug, PartialEq)])
    };
    let decls = fields.iter().map(|f| {
        let (attrs, ident, ty) = (&f.attrs, &f.ident, f.declared_type());
        quote!(#attrs pub #ident: #ty,)
    });
    quote! {
        #attrs
        #derive
        #[non_exhaustive]
        pub struct #name { #(#decls)* }
    }
}

/// The statements writing each present field into an open map.
fn serialize_field_statements(fields: &[Field]) -> Vec<TokenStream> {
    fields
        .iter()
        .map(|f| {
            let (ident, wire) = (&f.ident, &f.wire);
            if f.optional {
                quote!(crate::support::serialize_optional(map, #wire, &self.#ident)?;)
            } else {
                quote!(::serde::ser::SerializeMap::serialize_entry(map, #wire, &self.#ident)?;)
            }
        })
        .collect()
}

/// `impl Serialize`, by way of `SerializeFields` when a union puts the members beside its
/// own (`with_fields`), else in one body: each impl written is one more body for every
/// build to check.
fn serialize_impls(name: &Ident, statements: &[TokenStream], with_fields: bool) -> TokenStream {
    let map = if statements.is_empty() {
        format_ident!("_map")
    } else {
        format_ident!("map")
    };
    if !with_fields {
        let body = if statements.is_empty() {
            quote! {
                ::serde::ser::SerializeMap::end(::serde::Serializer::serialize_map(
                    serializer,
                    ::std::option::Option::Some(0),
                )?)
            }
        } else {
            quote! {
                let mut state = ::serde::Serializer::serialize_map(
                    serializer,
                    ::std::option::Option::None,
                )?;
                let map = &mut state;
                #(#statements)*
                ::serde::ser::SerializeMap::end(state)
            }
        };
        return quote! {
            impl ::serde::Serialize for #name {
                fn serialize<S: ::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> ::std::result::Result<S::Ok, S::Error> {
                    #body
                }
            }
        };
    }
    quote! {
        impl crate::support::SerializeFields for #name {
            fn serialize_fields<M: ::serde::ser::SerializeMap>(
                &self,
                #map: &mut M,
            ) -> ::std::result::Result<(), M::Error> {
                #(#statements)*
                ::std::result::Result::Ok(())
            }
        }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                crate::support::serialize_struct(self, serializer)
            }
        }
    }
}

/// The local variable collecting a field while decoding (prefixed, so no member name can
/// clash with the decoder's own variables).
fn field_var(f: &Field) -> Ident {
    format_ident!("field_{}", f.ident.to_string().trim_start_matches("r#"))
}

/// `impl Deserialize` by way of `support::DecodeMap`. `extra_vars` and `extra_arms` let
/// unions add the discriminator, `fallback` (an expression giving `Result<(), A::Error>`)
/// says what an unknown member does, and `build` is the expression giving the
/// `Result<Self, A::Error>` from the field variables.
///
/// Kept small on purpose: every statement here is type-checked and borrow-checked once per
/// generated type, hundreds of times, so each `?` and closure left out shortens every
/// user's build.
fn deserialize_impl(
    name: &Ident,
    expecting: &str,
    fields: &[Field],
    extra_vars: TokenStream,
    extra_arms: TokenStream,
    fallback: TokenStream,
    build: TokenStream,
) -> TokenStream {
    let vars = fields.iter().map(|f| {
        let ident = field_var(f);
        quote!(let mut #ident = ::std::option::Option::None;)
    });
    let arms = member_read_arms(fields, quote!(&mut map));
    let map = if fields.is_empty() && extra_arms.is_empty() && fallback.is_empty() {
        format_ident!("_map")
    } else {
        format_ident!("map")
    };
    let read_loop = if map == "map" {
        quote! {
            while let ::std::option::Option::Some(key) =
                map.next_key::<crate::support::Key<'de>>()?
            {
                match key.as_str() {
                    #(#arms)*
                    #extra_arms
                    _ => #fallback,
                }?;
            }
        }
    } else {
        quote!()
    };
    quote! {
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                crate::support::deserialize_struct(deserializer)
            }
        }
        impl crate::support::DecodeMap for #name {
            const EXPECTING: &'static str = #expecting;
            fn decode_map<'de, A: ::serde::de::MapAccess<'de>>(
                mut #map: A,
            ) -> ::std::result::Result<Self, A::Error> {
                #(#vars)*
                #extra_vars
                #read_loop
                #build
            }
        }
    }
}

/// One `match` arm per member, reading its value from `map` into its variable.
fn member_read_arms(fields: &[Field], map: TokenStream) -> Vec<TokenStream> {
    fields
        .iter()
        .map(|f| {
            let (ident, wire) = (field_var(f), &f.wire);
            if f.optional && !f.takes_null {
                quote!(#wire => crate::support::read_optional(#map, &mut #ident),)
            } else {
                quote!(#wire => crate::support::read(#map, &mut #ident),)
            }
        })
        .collect()
}

/// The largest struct whose members `support::read_members` reads into a tuple of slots
/// (the runtime's `support::MAX_SLOTS`); bigger ones get a reading loop of their own.
const MAX_SLOTS: usize = 48;

/// `impl Deserialize` for a struct of at most [`MAX_SLOTS`] members: the generic
/// `support::read_members` fills a tuple of one `Option` per member, and all that is left
/// per type is the check that the required ones are there.
fn slots_deserialize_impl(name: &Ident, expecting: &str, fields: &[Field]) -> TokenStream {
    let vars: Vec<Ident> = fields.iter().map(field_var).collect();
    let slots = fields.iter().map(|f| {
        let value = &f.value;
        if f.optional && !f.takes_null {
            // Absent and `null` alike end up `None` once flattened.
            quote!(::std::option::Option<::std::option::Option<#value>>)
        } else {
            quote!(::std::option::Option<#value>)
        }
    });
    let wires = fields.iter().map(|f| &f.wire);
    let build = build_value(fields, quote!(#name), quote!(), true);
    quote! {
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let (#(#vars,)*) = crate::support::deserialize_members::<(#(#slots,)*), D>(
                    deserializer,
                    #expecting,
                    &[#(#wires),*],
                )?;
                #build
            }
        }
    }
}

/// The expression building `Ok(path { fields, extra })` from the field variables, or the
/// error naming the first required member that was absent. With `nested_optional`, optional
/// members that do not take `null` are held as `Option<Option<T>>` and flattened here.
fn build_value(
    fields: &[Field],
    path: TokenStream,
    extra: TokenStream,
    nested_optional: bool,
) -> TokenStream {
    let inits = fields.iter().map(|f| {
        let (ident, var) = (&f.ident, field_var(f));
        if nested_optional && f.optional && !f.takes_null {
            quote!(#ident: ::std::option::Option::flatten(#var),)
        } else {
            quote!(#ident: #var,)
        }
    });
    let value = quote!(::std::result::Result::Ok(#path { #(#inits)* #extra }));
    let required: Vec<&Field> = fields.iter().filter(|f| !f.optional).collect();
    if required.is_empty() {
        return value;
    }
    // A tuple, or the one item alone (which needs no parentheses).
    let tuple = |items: Vec<TokenStream>| match items.as_slice() {
        [one] => one.clone(),
        _ => quote!((#(#items),*)),
    };
    let vars: Vec<Ident> = required.iter().map(|f| field_var(f)).collect();
    let scrutinee = tuple(vars.iter().map(|v| quote!(#v)).collect());
    let present = tuple(
        vars.iter()
            .map(|v| quote!(::std::option::Option::Some(#v)))
            .collect(),
    );
    let absent = required.iter().enumerate().map(|(i, f)| {
        let pattern = tuple(
            (0..required.len())
                .map(|j| {
                    if i == j {
                        quote!(::std::option::Option::None)
                    } else {
                        quote!(_)
                    }
                })
                .collect(),
        );
        let wire = &f.wire;
        quote!(#pattern => ::std::result::Result::Err(crate::support::missing(#wire)),)
    });
    quote! {
        match #scrutinee {
            #present => #value,
            #(#absent)*
        }
    }
}

const IGNORE: fn() -> TokenStream = || quote!(crate::support::skip(&mut map));

/// A struct with its serde impls.
#[allow(clippy::too_many_arguments)]
fn record(
    em: &Emitter<'_>,
    owner: EntityId,
    name: &Ident,
    attrs: &TokenStream,
    doc: Option<&Doc>,
    facts: Option<&ItemFacts>,
    members: &[Member],
    wire_name: &str,
) -> (TokenStream, Vec<Field>) {
    let mut ns = Namespace::new();
    let fields = fields(em, owner, doc, facts, members, &mut ns);
    let definition = struct_definition(name, attrs, &fields);
    let serialize = serialize_impls(
        name,
        &serialize_field_statements(&fields),
        em.branch_types.contains(&owner),
    );
    let deserialize = if fields.len() <= MAX_SLOTS {
        slots_deserialize_impl(name, wire_name, &fields)
    } else {
        deserialize_impl(
            name,
            wire_name,
            &fields,
            quote!(),
            quote!(),
            IGNORE(),
            build_value(&fields, quote!(#name), quote!(), false),
        )
    };
    let constructors = constructors(name, &fields, &[]);
    (
        quote!(#definition #serialize #deserialize #constructors),
        fields,
    )
}

fn type_name(em: &Emitter<'_>, id: EntityId) -> Ident {
    ident(em.type_names.get(&id).map_or("Unnamed", String::as_str))
}

fn item_attrs(em: &Emitter<'_>, entity: &Entity, fallback: &str) -> TokenStream {
    let kind = match &entity.kind {
        EntityKind::Command(_) => "command",
        EntityKind::Event(_) => "event",
        _ => entity.meta(),
    };
    docs::item(
        em.options.docs,
        entity.doc.as_ref(),
        fallback,
        entity.cond.as_deref(),
        &entity.features,
        &em.item_facts(&entity.name).map_or(String::new(), |facts| {
            docs::item_facts(em.facts, facts, &entity.name, kind)
        }),
    )
}

/// The docs of member (value, branch) `name` of the definition `owner`.
fn member_attrs(
    em: &Emitter<'_>,
    owner: &Entity,
    doc: Option<&Doc>,
    facts_name: &str,
    name: &str,
    cond: Option<&crate::model::Cond>,
    features: &[crate::model::Feature],
) -> TokenStream {
    let facts = em
        .item_facts(&owner.name)
        .and_then(|f| Some((f, f.member(facts_name)?)));
    docs::member(
        em.options.docs,
        doc,
        name,
        cond,
        features,
        &facts.map_or(String::new(), |(owner, member)| {
            docs::member_facts(em.facts, owner, member)
        }),
    )
}

/// The Rust variants of an enum's values, the fallback `Other` reserved first.
pub(super) fn enum_variants(e: &EnumType) -> Vec<(String, Ident)> {
    let mut ns = Namespace::new();
    ns.reserve("Other");
    e.members
        .iter()
        .map(|m| (m.name.to_string(), ident(&ns.claim(names::camel(&m.name)))))
        .collect()
}

pub(super) fn enum_type(
    em: &Emitter<'_>,
    id: EntityId,
    entity: &Entity,
    e: &EnumType,
) -> TokenStream {
    let name = type_name(em, id);
    let attrs = item_attrs(em, entity, &format!("The QAPI enum `{}`.", entity.name));
    let variants = enum_variants(e);
    let releases = releases_const(em, &entity.name);
    let decls = e.members.iter().zip(&variants).map(|(m, (_, v))| {
        let attrs = member_attrs(
            em,
            entity,
            entity.doc.as_ref(),
            &m.name,
            &m.name,
            m.cond.as_deref(),
            &m.features,
        );
        quote!(#attrs #v,)
    });
    let to_wire = variants.iter().map(|(wire, v)| quote!(#name::#v => #wire,));
    let from_wire = variants.iter().map(|(wire, v)| quote!(#wire => #name::#v,));
    quote! {
        #attrs
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum #name {
            #(#decls)*
            /// A value this schema does not know (sent by a newer QEMU), kept as sent.
            Other(::std::string::String),
        }
        impl #name {
            /// The known QEMU releases whose schema has this enum.
            pub const RELEASES: crate::describe::Releases = #releases;
            /// The value as QEMU writes it.
            #[inline]
            pub fn as_str(&self) -> &str {
                match self {
                    #(#to_wire)*
                    #name::Other(value) => value,
                }
            }
            /// The value QEMU wrote; unknown values are kept in `Other`.
            #[inline]
            pub fn from_wire(value: &str) -> Self {
                match value {
                    #(#from_wire)*
                    other => #name::Other(::std::string::ToString::to_string(other)),
                }
            }
        }
        impl ::std::fmt::Display for #name {
            #[inline]
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                crate::support::deserialize_enum(deserializer, #name::from_wire)
            }
        }
    }
}

pub(super) fn struct_type(
    em: &Emitter<'_>,
    id: EntityId,
    entity: &Entity,
    o: &ObjectType,
) -> TokenStream {
    let name = type_name(em, id);
    // An event's inline data has no documentation of its own: its members are described
    // in the event's.
    let owner = if entity.doc.is_none() && entity.is_implicit() {
        em.schema
            .events()
            .find(|(_, e)| e.arg_type == Some(id))
            .map(|(event, _)| event)
    } else {
        None
    };
    let (attrs, doc, facts) = match owner {
        Some(event) => {
            let event_enum = match &em.options.api_path {
                Some(path) => format!("{path}::Event"),
                None => "crate::Event".to_string(),
            };
            let summary = format!(" The data of the event [`{}`]({event_enum}).", event.name);
            (
                quote!(#[doc = #summary]),
                event.doc.as_ref(),
                em.item_facts(&event.name),
            )
        }
        None => (
            item_attrs(em, entity, &format!("The QAPI struct `{}`.", entity.name)),
            entity.doc.as_ref(),
            em.item_facts(&entity.name),
        ),
    };
    let record = record(em, id, &name, &attrs, doc, facts, o.members(), &entity.name).0;
    // Implicit types (an event's data) go by their event's releases, in its descriptor.
    if owner.is_some() || entity.is_implicit() {
        return record;
    }
    let releases = type_releases(em, &name, entity);
    quote!(#record #releases)
}

/// `impl T { pub const RELEASES }`: the known releases that have the type.
fn type_releases(em: &Emitter<'_>, name: &Ident, entity: &Entity) -> TokenStream {
    let releases = releases_const(em, &entity.name);
    quote! {
        impl #name {
            /// The known QEMU releases whose schema has this type.
            pub const RELEASES: crate::describe::Releases = #releases;
        }
    }
}

pub(super) fn union_type(
    em: &Emitter<'_>,
    id: EntityId,
    entity: &Entity,
    o: &ObjectType,
) -> TokenStream {
    let Some(branches) = &o.branches else {
        return struct_type(em, id, entity, o);
    };
    let name = type_name(em, id);
    let branch_name = format_ident!("{}Branch", name);
    let attrs = item_attrs(em, entity, &format!("The QAPI union `{}`.", entity.name));
    let doc = entity.doc.as_ref();

    let mut ns = Namespace::new();
    let tag_position = o.members().iter().position(|m| m.name == branches.tag);
    let base: Vec<&Member> = o
        .members()
        .iter()
        .filter(|m| m.name != branches.tag)
        .collect();
    let facts = em.item_facts(&entity.name);
    let fields = fields(em, id, doc, facts, base.iter().copied(), &mut ns);
    let tag_ident = ident(&ns.claim(names::snake(&branches.tag)));
    let tag_wire = &branches.tag;
    let tag_enum = type_name(em, branches.tag_type);
    let tag_variants = match &em.entity(branches.tag_type).kind {
        EntityKind::Enum(e) => enum_variants(e),
        _ => Vec::new(),
    };
    let variant_of = |value: &str| {
        tag_variants
            .iter()
            .find(|(wire, _)| wire == value)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| ident(&names::camel(value)))
    };

    // The struct: base members, with the discriminator replaced by the branch enum.
    let mut decls: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let (attrs, ident, ty) = (&f.attrs, &f.ident, f.declared_type());
            quote!(#attrs pub #ident: #ty,)
        })
        .collect();
    let tag_doc = format!(" The branch, selected by `{tag_wire}`, with its members.");
    decls.insert(
        tag_position.unwrap_or(0).min(decls.len()),
        quote!(#[doc = #tag_doc] pub #tag_ident: #branch_name,),
    );

    // The branch enum.
    let mut branch_decls = Vec::new();
    let mut tag_arms = Vec::new();
    let mut serialize_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut rest_arms = Vec::new();
    for variant in &branches.variants {
        let v = variant_of(&variant.name);
        let wire = &variant.name;
        let vattrs = member_attrs(
            em,
            entity,
            None,
            &format!("+{wire}"),
            wire,
            variant.cond.as_deref(),
            &[],
        );
        let empty = match &em.entity(variant.ty).kind {
            EntityKind::Object(b) => b.is_empty() && !em.type_names.contains_key(&variant.ty),
            _ => false,
        };
        if empty {
            branch_decls.push(quote!(#vattrs #v,));
            tag_arms.push(quote!(#branch_name::#v => #wire,));
            serialize_arms.push(quote!(#branch_name::#v => {}));
            decode_arms.push(quote!(#tag_enum::#v => #branch_name::#v,));
            rest_arms.push(quote!(#tag_enum::#v => {
                crate::support::decode_rest::<_, ::serde::de::IgnoredAny, _>(&mut map, &mut base)?;
                #branch_name::#v
            }));
        } else {
            let payload = em.held_type(id, variant.ty);
            let boxed = em.needs_box(id, variant.ty);
            branch_decls.push(quote!(#vattrs #v(#payload),));
            tag_arms.push(quote!(#branch_name::#v(_) => #wire,));
            let value = if boxed {
                quote!(&**value)
            } else {
                quote!(value)
            };
            serialize_arms.push(quote!(#branch_name::#v(value) => crate::support::SerializeFields::serialize_fields(#value, map)?,));
            let boxed_if = |decoded: TokenStream| {
                if boxed {
                    quote!(::std::boxed::Box::new(#decoded))
                } else {
                    decoded
                }
            };
            let decoded = boxed_if(quote!(buffered.decode::<_, A::Error>()?));
            decode_arms.push(quote!(#tag_enum::#v => #branch_name::#v(#decoded),));
            let decoded = boxed_if(quote!(crate::support::decode_rest(&mut map, &mut base)?));
            rest_arms.push(quote!(#tag_enum::#v => #branch_name::#v(#decoded),));
        }
    }

    // A struct that became a union: its older releases send no discriminator. Such a
    // value is kept, members and all, as `Other` with an empty `value`.
    let tag_optional = em.item_facts(&entity.name).is_some_and(|f| f.tag_optional);
    let absent_tag = if tag_optional {
        let build = build_value(
            &fields,
            quote!(#name),
            quote!(#tag_ident: #branch_name::Other {
                value: ::std::string::String::new(),
                members: buffered.into_json::<A::Error>()?,
            },),
            false,
        );
        quote!(return #build;)
    } else {
        quote!(return ::std::result::Result::Err(crate::support::missing(#tag_wire));)
    };
    // Serialization: base members in order, the discriminator where it stands, then the
    // branch's members.
    let mut statements = serialize_field_statements(&fields);
    let write_tag = if tag_optional {
        quote! {
            if !self.#tag_ident.tag().is_empty() {
                map.serialize_entry(#tag_wire, self.#tag_ident.tag())?;
            }
        }
    } else {
        quote!(map.serialize_entry(#tag_wire, self.#tag_ident.tag())?;)
    };
    statements.insert(tag_position.unwrap_or(0).min(statements.len()), write_tag);
    statements.push(quote!(self.#tag_ident.serialize_members(map)?;));
    let build = build_value(&fields, quote!(#name), quote!(#tag_ident: branch,), false);
    // The discriminator before any branch member (QEMU's order for a third of the schema's
    // entries, and serde's when it writes a union): the branch is read straight from the
    // rest of the map, the union's own members picked out on the way by `base`.
    // A discriminator given twice is refused on both paths: which branch the members
    // belong to would be a guess.
    let base_arms = member_read_arms(&fields, quote!(map));
    let map_param = if base_arms.is_empty() {
        format_ident!("_map")
    } else {
        format_ident!("map")
    };
    let base_reader = quote! {
        let mut base = |key: &str, #map_param: &mut A| -> ::std::result::Result<bool, A::Error> {
            match key {
                #(#base_arms)*
                #tag_wire => ::std::result::Result::Err(crate::support::duplicate(#tag_wire)),
                _ => return ::std::result::Result::Ok(false),
            }?;
            ::std::result::Result::Ok(true)
        };
    };
    let deserialize = deserialize_impl(
        &name,
        &entity.name,
        &fields,
        quote! {
            let mut tag: ::std::option::Option<#tag_enum> = ::std::option::Option::None;
            let mut buffered = crate::support::BufferedMembers::default();
            let mut branch = ::std::option::Option::None;
        },
        quote!(#tag_wire => {
            if tag.is_some() {
                return ::std::result::Result::Err(crate::support::duplicate(#tag_wire));
            }
            crate::support::read(&mut map, &mut tag)?;
            if buffered.is_empty() {
                if let ::std::option::Option::Some(tag) = tag.take() {
                    #base_reader
                    branch = ::std::option::Option::Some(match tag {
                        #(#rest_arms)*
                        #tag_enum::Other(value) => #branch_name::Other {
                            value,
                            members: crate::support::decode_rest(&mut map, &mut base)?,
                        },
                    });
                }
                break;
            }
            ::std::result::Result::Ok(())
        }),
        quote!(buffered.read(key.as_str(), &mut map)),
        quote! {
            let branch = match branch {
                ::std::option::Option::Some(branch) => branch,
                ::std::option::Option::None => {
                    let ::std::option::Option::Some(tag) = tag else {
                        #absent_tag
                    };
                    match tag {
                        #(#decode_arms)*
                        #tag_enum::Other(value) => #branch_name::Other {
                            value,
                            members: buffered.into_json::<A::Error>()?,
                        },
                    }
                }
            };
            #build
        },
    );
    let serialize = serialize_impls(&name, &statements, true);
    let mut branch_doc = format!(" The branches of [`{name}`], one per value of `{tag_wire}`.");
    if tag_optional {
        branch_doc.push_str(&format!(
            "\n\n A value without `{tag_wire}` (sent by a release that had no branches) is \
             `Other` with an empty `value`."
        ));
    }
    let constructors = constructors(&name, &fields, &[(tag_ident.clone(), quote!(#branch_name))]);
    let releases = type_releases(em, &name, entity);
    let constructors = quote!(#constructors #releases);
    quote! {
        #attrs
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub struct #name { #(#decls)* }
        #constructors

        #[doc = #branch_doc]
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum #branch_name {
            #(#branch_decls)*
            /// A branch this schema does not know (sent by a newer QEMU), kept as sent.
            Other {
                /// The discriminator's value.
                value: ::std::string::String,
                /// The branch's members.
                members: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
            },
        }

        impl #branch_name {
            /// The discriminator's value for this branch.
            #[inline]
            pub fn tag(&self) -> &str {
                match self {
                    #(#tag_arms)*
                    #branch_name::Other { value, .. } => value,
                }
            }

            fn serialize_members<M: ::serde::ser::SerializeMap>(&self, map: &mut M) -> ::std::result::Result<(), M::Error> {
                match self {
                    #(#serialize_arms)*
                    #branch_name::Other { members, .. } => {
                        for (key, value) in members {
                            map.serialize_entry(key, value)?;
                        }
                    }
                }
                ::std::result::Result::Ok(())
            }
        }
        #serialize
        #deserialize
    }
}

pub(super) fn alternate_type(
    em: &Emitter<'_>,
    id: EntityId,
    entity: &Entity,
    a: &AlternateType,
) -> TokenStream {
    let name = type_name(em, id);
    let attrs = item_attrs(
        em,
        entity,
        &format!("The QAPI alternate `{}`.", entity.name),
    );
    let mut ns = Namespace::new();
    let mut decls = Vec::new();
    let mut serialize_arms = Vec::new();
    let mut visits = Vec::new();
    let mut int_variant = None;
    let mut number_variant = None;
    for variant in &a.variants {
        let v = ident(&ns.claim(names::camel(&variant.name)));
        let target = em.entity(variant.ty);
        let vattrs = member_attrs(
            em,
            entity,
            entity.doc.as_ref(),
            &variant.name,
            &variant.name,
            variant.cond.as_deref(),
            &[],
        );
        let json = target.json_type().unwrap_or(JsonType::Value);
        if json == JsonType::Null {
            decls.push(quote!(#vattrs #v,));
            serialize_arms.push(quote!(#name::#v => serializer.serialize_unit(),));
            visits.push(quote! {
                fn visit_unit<E: ::serde::de::Error>(self) -> ::std::result::Result<#name, E> {
                    ::std::result::Result::Ok(#name::#v)
                }
            });
            continue;
        }
        let payload = em.held_type(id, variant.ty);
        let wrap = |value: TokenStream| {
            if em.needs_box(id, variant.ty) {
                quote!(#name::#v(::std::boxed::Box::new(#value)))
            } else {
                quote!(#name::#v(#value))
            }
        };
        decls.push(quote!(#vattrs #v(#payload),));
        serialize_arms
            .push(quote!(#name::#v(value) => ::serde::Serialize::serialize(value, serializer),));
        match json {
            JsonType::Object => {
                let inner = em.type_ref(variant.ty);
                let value = wrap(quote!(<#inner as ::serde::Deserialize>::deserialize(
                    ::serde::de::value::MapAccessDeserializer::new(map)
                )?));
                visits.push(quote! {
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, map: A) -> ::std::result::Result<#name, A::Error> {
                        ::std::result::Result::Ok(#value)
                    }
                });
            }
            JsonType::String => {
                let value = if matches!(target.kind, EntityKind::Enum(_)) {
                    let inner = em.type_ref(variant.ty);
                    wrap(quote!(#inner::from_wire(value)))
                } else {
                    wrap(quote!(::std::string::ToString::to_string(value)))
                };
                visits.push(quote! {
                    fn visit_str<E: ::serde::de::Error>(self, value: &str) -> ::std::result::Result<#name, E> {
                        ::std::result::Result::Ok(#value)
                    }
                });
            }
            JsonType::Boolean => {
                let value = wrap(quote!(value));
                visits.push(quote! {
                    fn visit_bool<E: ::serde::de::Error>(self, value: bool) -> ::std::result::Result<#name, E> {
                        ::std::result::Result::Ok(#value)
                    }
                });
            }
            JsonType::Int => int_variant = Some((wrap(quote!(value)), em.type_ref(variant.ty))),
            JsonType::Number => number_variant = Some(wrap(quote!(value))),
            _ => {}
        }
    }
    // Integers go to the integer branch when there is one (in range), otherwise to the
    // number branch; fractions only to the number branch.
    for (method, arg, unexpected) in [
        (quote!(visit_i64), quote!(i64), quote!(Signed)),
        (quote!(visit_u64), quote!(u64), quote!(Unsigned)),
    ] {
        let body = match (&int_variant, &number_variant) {
            (Some((wrapped, int_type)), _) => quote! {
                let value = <#int_type as ::std::convert::TryFrom<#arg>>::try_from(value).map_err(|_| {
                    E::invalid_value(::serde::de::Unexpected::#unexpected(value), &self)
                })?;
                ::std::result::Result::Ok(#wrapped)
            },
            (None, Some(wrapped)) => quote! {
                let value = value as f64;
                ::std::result::Result::Ok(#wrapped)
            },
            (None, None) => continue,
        };
        visits.push(quote! {
            fn #method<E: ::serde::de::Error>(self, value: #arg) -> ::std::result::Result<#name, E> {
                #body
            }
        });
    }
    if let Some(wrapped) = &number_variant {
        visits.push(quote! {
            fn visit_f64<E: ::serde::de::Error>(self, value: f64) -> ::std::result::Result<#name, E> {
                ::std::result::Result::Ok(#wrapped)
            }
        });
    }
    let expecting = format!("a value of the alternate {}", entity.name);
    quote! {
        #attrs
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum #name { #(#decls)* }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self { #(#serialize_arms)* }
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                struct Visitor;
                impl<'de> ::serde::de::Visitor<'de> for Visitor {
                    type Value = #name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(#expecting)
                    }
                    #(#visits)*
                }
                deserializer.deserialize_any(Visitor)
            }
        }
    }
}

/// How a command's arguments are represented.
enum Arguments<'a> {
    /// No arguments: a unit struct.
    None,
    /// Inline members: a struct of its own.
    Members(&'a [Member]),
    /// A named type (or `boxed`): a newtype around it.
    Named(EntityId),
}

fn arguments<'a>(em: &Emitter<'a>, c: &Command) -> Arguments<'a> {
    match c.arg_type {
        None => Arguments::None,
        Some(arg) => {
            let entity = em.entity(arg);
            match &entity.kind {
                EntityKind::Object(o) if entity.is_implicit() && !c.boxed => {
                    if o.members().iter().all(|m| em.member_skipped(m)) {
                        Arguments::None
                    } else {
                        Arguments::Members(o.members())
                    }
                }
                _ => Arguments::Named(arg),
            }
        }
    }
}

/// Names of `Call`'s own methods: a setter may not take them.
const CALL_METHODS: &[&str] = &[
    "new",
    "map",
    "oob",
    "wait",
    "command",
    "into_command",
    "into_future",
    "into_parts",
    "wait_oob",
    "timeout",
    "wait_timeout",
];

pub(super) fn command(em: &Emitter<'_>, id: EntityId, entity: &Entity, c: &Command) -> TokenStream {
    let name = type_name(em, id);
    let wire = &entity.name;
    let attrs = item_attrs(em, entity, &format!("The QMP command `{wire}`."));
    let definition = match arguments(em, c) {
        Arguments::None => quote! {
            #attrs
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            #[non_exhaustive]
            pub struct #name;
            impl #name {
                /// The command (it takes no arguments).
                #[inline]
                pub fn new() -> Self {
                    #name
                }
            }
            impl ::serde::Serialize for #name {
                fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                    ::serde::ser::SerializeMap::end(serializer.serialize_map(::std::option::Option::Some(0))?)
                }
            }
            impl<'de> ::serde::Deserialize<'de> for #name {
                fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                    <::serde::de::IgnoredAny as ::serde::Deserialize>::deserialize(deserializer)?;
                    ::std::result::Result::Ok(#name)
                }
            }
        },
        Arguments::Members(members) => {
            let facts = em.item_facts(&entity.name);
            let (tokens, fields) = record(
                em,
                id,
                &name,
                &attrs,
                entity.doc.as_ref(),
                facts,
                members,
                wire,
            );
            let setters = call_setters(&name, &fields);
            quote!(#tokens #setters)
        }
        Arguments::Named(arg) => {
            let inner = em.type_ref(arg);
            quote! {
                #attrs
                #[derive(Clone, Debug, PartialEq)]
                #[non_exhaustive]
                pub struct #name(pub #inner);
                impl #name {
                    /// The command with its arguments.
                    #[inline]
                    pub fn new(arguments: #inner) -> Self {
                        #name(arguments)
                    }
                }
                impl ::serde::Serialize for #name {
                    fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                        ::serde::Serialize::serialize(&self.0, serializer)
                    }
                }
                impl<'de> ::serde::Deserialize<'de> for #name {
                    fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                        ::serde::Deserialize::deserialize(deserializer).map(#name)
                    }
                }
                impl ::std::convert::From<#inner> for #name {
                    fn from(arguments: #inner) -> Self {
                        #name(arguments)
                    }
                }
            }
        }
    };
    let allow_oob = c.allow_oob;
    let releases = releases_const(em, &entity.name);
    let returns = match c.ret_type {
        Some(ret) => em.type_ref(ret),
        None => quote!(()),
    };
    let decode_override = if c.ret_type.is_none() {
        quote! {
            #[inline]
            fn decode_return(_value: &::serde_json::value::RawValue) -> ::serde_json::Result<()> {
                ::std::result::Result::Ok(())
            }
        }
    } else {
        quote!()
    };
    let oob = if c.allow_oob {
        quote!(impl crate::OobCommand for #name {})
    } else {
        quote!()
    };
    // Only the commands that answer nothing on success say so (the guest agent's
    // `guest-shutdown`): the trait's default is that a reply comes.
    let no_reply = if c.success_response {
        quote!()
    } else {
        quote!(
            const SUCCESS_RESPONSE: bool = false;
        )
    };
    quote! {
        #definition
        impl crate::Command for #name {
            const NAME: &'static str = #wire;
            const ALLOW_OOB: bool = #allow_oob;
            const RELEASES: crate::describe::Releases = #releases;
            type Returns = #returns;
            #no_reply
            #decode_override
        }
        #oob
    }
}

/// The `if` condition of the newest release that gives the definition one: what a build
/// must satisfy to have it, though a newer release may have dropped the condition (QEMU
/// 10.2 builds one schema for every target).
fn last_condition(em: &Emitter<'_>, entity: &Entity) -> Option<String> {
    let from_facts = em.item_facts(&entity.name).and_then(|facts| {
        facts
            .conds
            .iter()
            .filter_map(|(cond, set)| Some((set.newest()?, cond.as_ref()?)))
            .max_by_key(|(newest, _)| *newest)
            .map(|(_, cond)| cond.clone())
    });
    from_facts.or_else(|| entity.cond.as_ref().map(|c| c.to_string()))
}

/// The release set of definition `name`, as a constant expression.
fn releases_const(em: &Emitter<'_>, name: &str) -> TokenStream {
    // Without facts of its own an item is built in (`QType`): every release has it.
    let bits = em
        .item_facts(name)
        .map_or(em.facts.all().bits(), |f| f.present.bits());
    match &em.options.api_path {
        Some(path) => {
            let table = super::path_tokens(&format!("{path}::RELEASES"));
            quote!(crate::describe::Releases::from_bits_in(#bits, #table))
        }
        None => quote!(crate::describe::Releases::from_bits(#bits)),
    }
}

/// A parameter taking a field's value (`impl Into<String>` for strings) and the
/// expression converting it.
fn parameter(f: &Field) -> (TokenStream, TokenStream) {
    let ident = &f.ident;
    if f.is_string {
        (
            quote!(impl ::std::convert::Into<::std::string::String>),
            quote!(#ident.into()),
        )
    } else {
        let value = &f.value;
        (quote!(#value), quote!(#ident))
    }
}

/// The setter's name for an optional field: its own, unless `Call` has a method of
/// that name.
fn setter_name(f: &Field) -> Ident {
    let bare = f.ident.to_string().trim_start_matches("r#").to_string();
    if CALL_METHODS.contains(&bare.as_str()) || bare == "new" {
        format_ident!("set_{}", bare)
    } else {
        f.ident.clone()
    }
}

/// `new(required..., extra...)` and a chainable setter per optional member: how code
/// outside the crate builds a value of a `#[non_exhaustive]` struct, and keeps building
/// it when a release adds optional members.
fn constructors(name: &Ident, fields: &[Field], extra: &[(Ident, TokenStream)]) -> TokenStream {
    let required: Vec<&Field> = fields.iter().filter(|f| !f.optional).collect();
    let mut params: Vec<TokenStream> = required
        .iter()
        .map(|f| {
            let ident = &f.ident;
            let (ty, _) = parameter(f);
            quote!(#ident: #ty)
        })
        .collect();
    params.extend(extra.iter().map(|(ident, ty)| quote!(#ident: #ty)));
    let mut inits: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let ident = &f.ident;
            if f.optional {
                quote!(#ident: ::std::option::Option::None,)
            } else {
                let (_, convert) = parameter(f);
                quote!(#ident: #convert,)
            }
        })
        .collect();
    inits.extend(extra.iter().map(|(ident, _)| quote!(#ident,)));
    let setters = fields
        .iter()
        .filter(|f| f.optional)
        .map(|f| setter(f, quote!(self)));
    let new_doc = if required.is_empty() && extra.is_empty() {
        " A value with every optional member unset."
    } else {
        " A value of the required members; optional ones are unset."
    };
    quote! {
        impl #name {
            #[doc = #new_doc]
            #[allow(clippy::too_many_arguments, clippy::new_without_default)]
            #[inline]
            pub fn new(#(#params),*) -> Self {
                #name { #(#inits)* }
            }
            #(#setters)*
        }
    }
}

/// The chainable setter of optional field `f`, of the value at `target` (`self`, or the
/// command a `Call` holds).
fn setter(f: &Field, target: TokenStream) -> TokenStream {
    let (ident, setter) = (&f.ident, setter_name(f));
    let doc = format!(" Sets the optional `{}`.", f.wire);
    let (ty, _) = parameter(f);
    let convert = if f.is_string {
        quote!(value.into())
    } else {
        quote!(value)
    };
    quote! {
        #[doc = #doc]
        #[inline]
        pub fn #setter(mut self, value: #ty) -> Self {
            #target.#ident = ::std::option::Option::Some(#convert);
            self
        }
    }
}

/// The setters of a command's optional arguments on its `Call`, so they can be set
/// between the method call and the `.await`.
fn call_setters(name: &Ident, fields: &[Field]) -> TokenStream {
    let setters: Vec<TokenStream> = fields
        .iter()
        .filter(|f| f.optional)
        .map(|f| setter(f, quote!(self.command)))
        .collect();
    if setters.is_empty() {
        return quote!();
    }
    quote! {
        impl<'a, E: ?::std::marker::Sized> crate::call::Call<'a, E, #name> {
            #(#setters)*
        }
    }
}

/// The event enum: a variant per event, and `Other` for events this schema does not know.
pub(super) fn event_enum(em: &Emitter<'_>) -> TokenStream {
    let mut ns = Namespace::new();
    ns.reserve("Other");
    let mut decls = Vec::new();
    let mut name_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut roundtrip_arms = Vec::new();
    let mut kinds = Vec::new();
    for (id, entity) in em.schema.iter() {
        let EntityKind::Event(event) = &entity.kind else {
            continue;
        };
        if !em.included.contains(&id) {
            continue;
        }
        let v = ident(&ns.claim(event_variant_base(&entity.name)));
        let wire = &entity.name;
        let attrs = item_attrs(em, entity, &format!("The QMP event `{wire}`."));
        let payload = event.arg_type.filter(|arg| match &em.entity(*arg).kind {
            EntityKind::Object(o) => !(o.is_empty() && em.entity(*arg).is_implicit()),
            _ => true,
        });
        match payload {
            None => {
                decls.push(quote!(#attrs #v,));
                name_arms.push(quote!(Event::#v => #wire,));
                decode_arms.push(quote!(#wire => Event::#v,));
                roundtrip_arms.push(quote!(#wire => support::roundtrip_empty(data),));
                kinds.push((v, wire.to_string(), false));
            }
            Some(arg) => {
                let ty = em.type_ref(arg);
                decls.push(quote!(#attrs #v(#ty),));
                name_arms.push(quote!(Event::#v(_) => #wire,));
                decode_arms.push(quote!(#wire => Event::#v(support::decode_raw_data(data)?),));
                roundtrip_arms.push(quote!(#wire => support::roundtrip::<#ty>(data),));
                kinds.push((v, wire.to_string(), true));
            }
        }
    }
    // A schema without events (or without event data) leaves the helpers unused, and
    // the generated code should compile without warnings for any schema.
    let uses_support_for_events = if roundtrip_arms.is_empty() {
        quote!(let _ = data;)
    } else {
        quote!(
            use crate::support;
        )
    };
    let uses_support_for_decode = if kinds.iter().any(|(_, _, has_data)| *has_data) {
        quote!(
            use crate::support;
        )
    } else {
        quote!()
    };
    let dynamic = if em.options.dynamic {
        quote! {
            /// Decodes the `data` of event `name` into its typed value and gives it back as
            /// JSON; the error names the path that failed. For tools that log or check
            /// events without naming their types.
            pub fn decode_event_data(name: &str, data: &str) -> ::std::result::Result<::serde_json::Value, crate::describe::DecodeError> {
                #uses_support_for_events
                match name {
                    #(#roundtrip_arms)*
                    _ => ::std::result::Result::Err(crate::describe::DecodeError::unknown_event(name)),
                }
            }
        }
    } else {
        quote!()
    };
    let kind = event_kind_enum(&kinds);
    quote! {
        /// Every event of the schema, with its typed data.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        #[non_exhaustive]
        pub enum Event {
            #(#decls)*
            /// An event this schema does not know (sent by a newer QEMU), or whose data did
            /// not decode, kept as sent.
            Other {
                /// The event's name.
                name: ::std::string::String,
                /// Its `data` member (`null` when it had none).
                data: ::serde_json::Value,
            },
        }

        impl Event {
            /// The event's name on the wire (`STOP`, `BLOCK_JOB_COMPLETED`, ...).
            pub fn name(&self) -> &str {
                match self {
                    #(#name_arms)*
                    Event::Other { name, .. } => name,
                }
            }

            /// Decodes event `name` with its raw `data` (absent when the event carries
            /// none). An unknown name gives `Other`; a known name whose data does not decode
            /// gives the error.
            pub fn from_raw(
                name: &str,
                data: ::std::option::Option<&::serde_json::value::RawValue>,
            ) -> ::serde_json::Result<Event> {
                #uses_support_for_decode
                ::std::result::Result::Ok(match name {
                    #(#decode_arms)*
                    _ => Event::Other {
                        name: ::std::string::ToString::to_string(name),
                        data: match data {
                            ::std::option::Option::Some(raw) => ::serde_json::from_str(raw.get())?,
                            ::std::option::Option::None => ::serde_json::Value::Null,
                        },
                    },
                })
            }

            /// [`Event::from_raw`] for data already parsed into JSON values.
            pub fn from_wire(name: &str, data: ::serde_json::Value) -> ::serde_json::Result<Event> {
                if data.is_null() {
                    return Event::from_raw(name, ::std::option::Option::None);
                }
                let raw = ::serde_json::value::to_raw_value(&data)?;
                Event::from_raw(name, ::std::option::Option::Some(&raw))
            }
        }

        #kind
        #dynamic
    }
}

/// `EventKind`, the fieldless twin of `Event` (what typed event filters name), and the
/// methods of `Event` that need it: `kind` and `data_value`. `kinds` holds each event's
/// variant, wire name and whether it carries data, in the order of `Event`'s variants.
fn event_kind_enum(kinds: &[(Ident, String, bool)]) -> TokenStream {
    let decls = kinds.iter().map(|(v, wire, _)| {
        let doc = format!(" `{wire}`: see [`Event::{v}`].");
        quote!(#[doc = #doc] #v,)
    });
    let names = kinds
        .iter()
        .map(|(v, wire, _)| quote!(EventKind::#v => #wire,));
    let from_names = kinds
        .iter()
        .map(|(v, wire, _)| quote!(#wire => ::std::option::Option::Some(EventKind::#v),));
    let all = kinds.iter().map(|(v, _, _)| quote!(EventKind::#v,));
    let kind_arms = kinds.iter().map(|(v, _, data)| {
        let pattern = if *data {
            quote!(Event::#v(_))
        } else {
            quote!(Event::#v)
        };
        quote!(#pattern => ::std::option::Option::Some(EventKind::#v),)
    });
    let value_arms = kinds.iter().map(|(v, _, data)| {
        if *data {
            // The generated data types serialise to JSON objects, which cannot fail.
            quote!(Event::#v(data) => ::serde_json::to_value(data).unwrap_or(::serde_json::Value::Null),)
        } else {
            quote!(Event::#v => ::serde_json::Value::Null,)
        }
    });
    quote! {
        /// Which event, without its data: a variant per event of [`Event`] (not `Other`).
        /// Typed event filters name these, so a misspelt event does not compile.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventKind {
            #(#decls)*
        }

        impl EventKind {
            /// Every kind, in schema order.
            pub const ALL: &'static [EventKind] = &[#(#all)*];

            /// The event's name on the wire (`STOP`, `BLOCK_JOB_COMPLETED`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }

            /// The kind of the event named `name` on the wire, if the bindings know it.
            pub fn from_name(name: &str) -> ::std::option::Option<EventKind> {
                match name {
                    #(#from_names)*
                    _ => ::std::option::Option::None,
                }
            }
        }

        impl ::std::fmt::Display for EventKind {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Event {
            /// The event's kind; `None` for [`Event::Other`] (whose name may still be a
            /// known event's, when its data did not decode).
            pub fn kind(&self) -> ::std::option::Option<EventKind> {
                match self {
                    #(#kind_arms)*
                    Event::Other { .. } => ::std::option::Option::None,
                }
            }

            /// The event's `data` as JSON, as it would be sent (`Null` for an event without
            /// data).
            pub fn data_value(&self) -> ::serde_json::Value {
                match self {
                    #(#value_arms)*
                    Event::Other { data, .. } => ::std::clone::Clone::clone(data),
                }
            }
        }
    }
}

/// The `Commands` extension trait: a typed method per command, for every executor.
pub(super) fn commands_trait(em: &Emitter<'_>) -> TokenStream {
    let executor = super::path_tokens(&em.options.executor);
    let mut ns = Namespace::new();
    let mut methods = Vec::new();
    for (id, entity) in em.schema.iter() {
        let EntityKind::Command(c) = &entity.kind else {
            continue;
        };
        if !em.included.contains(&id) {
            continue;
        }
        let method = ident(&ns.claim(names::snake(&entity.name)));
        let name = type_name(em, id);
        let attrs = item_attrs(em, entity, &format!("Executes `{}`.", entity.name));
        let (params, build) = match arguments(em, c) {
            Arguments::None => (Vec::new(), quote!(#name)),
            Arguments::Members(members) => {
                let mut fns = Namespace::new();
                let fields = fields(em, id, None, None, members, &mut fns);
                let required: Vec<&Field> = fields.iter().filter(|f| !f.optional).collect();
                let params = required
                    .iter()
                    .map(|f| {
                        let (ident, value) = (&f.ident, &f.value);
                        if f.is_string {
                            quote!(#ident: impl ::std::convert::Into<::std::string::String>)
                        } else {
                            quote!(#ident: #value)
                        }
                    })
                    .collect();
                let args = required.iter().map(|f| &f.ident);
                (params, quote!(#name::new(#(#args),*)))
            }
            Arguments::Named(arg) => {
                let inner = em.type_ref(arg);
                (vec![quote!(arguments: #inner)], quote!(#name(arguments)))
            }
        };
        methods.push(quote! {
            #attrs
            #[allow(clippy::too_many_arguments)]
            fn #method(&self, #(#params),*) -> crate::call::Call<'_, Self, #name> {
                crate::call::Call::new(self, #build)
            }
        });
    }
    quote! {
        /// A typed method for every command of the schema, on every executor (the async
        /// client, the blocking client, test doubles). Required arguments are parameters;
        /// optional ones are set on the returned [`Call`](crate::call::Call) before it is
        /// awaited (or waited for).
        pub trait Commands: #executor {
            #(#methods)*
        }
        impl<T: #executor + ?::std::marker::Sized> Commands for T {}
    }
}

/// A QAPI type as a string for the tables: its name, or `[element]` for arrays.
fn qapi_type_name(em: &Emitter<'_>, id: EntityId) -> String {
    match &em.entity(id).kind {
        EntityKind::Array(a) => format!("[{}]", qapi_type_name(em, a.element)),
        _ => em.entity(id).name.to_string(),
    }
}

/// The tables of commands and events, and the dynamic decoders.
pub(super) fn tables(em: &Emitter<'_>) -> TokenStream {
    let mut commands = Vec::new();
    let mut return_arms = Vec::new();
    let mut argument_arms = Vec::new();
    for (id, entity) in em.schema.iter() {
        let EntityKind::Command(c) = &entity.kind else {
            continue;
        };
        if !em.included.contains(&id) {
            continue;
        }
        let wire = &entity.name;
        let name = type_name(em, id);
        let arguments = option_str(c.arg_type.map(|t| qapi_type_name(em, t)));
        let returns = option_str(c.ret_type.map(|t| qapi_type_name(em, t)));
        let (allow_oob, deprecated, unstable) =
            (c.allow_oob, entity.is_deprecated(), entity.is_unstable());
        let features = entity.features.iter().map(|f| &f.name);
        let releases = releases_const(em, &entity.name);
        let since = option_str(em.item_facts(&entity.name).and_then(|f| f.since.clone()));
        let cond = option_str(last_condition(em, entity));
        commands.push(quote! {
            crate::describe::CommandDescriptor {
                name: #wire,
                cond: #cond,
                releases: #releases,
                since: #since,
                arguments: #arguments,
                returns: #returns,
                allow_oob: #allow_oob,
                deprecated: #deprecated,
                unstable: #unstable,
                features: &[#(#features),*],
            },
        });
        return_arms.push(match c.ret_type {
            None => quote!(#wire => support::roundtrip_empty(json),),
            Some(ret) => {
                let ty = em.type_ref(ret);
                quote!(#wire => support::roundtrip::<#ty>(json),)
            }
        });
        argument_arms.push(quote!(#wire => support::roundtrip::<#name>(json),));
    }
    let mut events = Vec::new();
    for (id, entity) in em.schema.iter() {
        let EntityKind::Event(e) = &entity.kind else {
            continue;
        };
        if !em.included.contains(&id) {
            continue;
        }
        let wire = &entity.name;
        let data = option_str(e.arg_type.map(|t| qapi_type_name(em, t)));
        let (deprecated, unstable) = (entity.is_deprecated(), entity.is_unstable());
        let features = entity.features.iter().map(|f| &f.name);
        let releases = releases_const(em, &entity.name);
        let since = option_str(em.item_facts(&entity.name).and_then(|f| f.since.clone()));
        let cond = option_str(last_condition(em, entity));
        events.push(quote! {
            crate::describe::EventDescriptor {
                name: #wire,
                cond: #cond,
                releases: #releases,
                since: #since,
                data: #data,
                deprecated: #deprecated,
                unstable: #unstable,
                features: &[#(#features),*],
            },
        });
    }
    let uses_support_for_returns = if return_arms.is_empty() {
        quote!(let _ = json;)
    } else {
        quote!(
            use crate::support;
        )
    };
    let uses_support_for_arguments = uses_support_for_returns.clone();
    let dynamic = if em.options.dynamic {
        quote! {
            /// Decodes the `return` value of `command` (JSON text) into its typed return and
            /// gives it back as JSON; the error names the path that failed.
            pub fn decode_return(command: &str, json: &str) -> ::std::result::Result<::serde_json::Value, crate::describe::DecodeError> {
                #uses_support_for_returns
                match command {
                    #(#return_arms)*
                    _ => ::std::result::Result::Err(crate::describe::DecodeError::unknown_command(command)),
                }
            }

            /// Decodes the `arguments` of `command` (JSON text) into its typed arguments and
            /// gives them back as JSON; the error names the path that failed.
            pub fn decode_arguments(command: &str, json: &str) -> ::std::result::Result<::serde_json::Value, crate::describe::DecodeError> {
                #uses_support_for_arguments
                match command {
                    #(#argument_arms)*
                    _ => ::std::result::Result::Err(crate::describe::DecodeError::unknown_command(command)),
                }
            }
        }
    } else {
        quote!()
    };
    let labels = &em.facts.releases;
    let aliases = em.facts.aliases.iter().filter_map(|(old, new, set)| {
        let new_id = em.schema.lookup_id(new)?;
        let new_name = em.type_names.get(&new_id)?;
        let old_name = names::camel(old);
        // An old name the bindings use for something else (or the same name) is left out.
        if em.type_names.values().any(|n| *n == old_name) {
            return None;
        }
        let (old_ident, new_ident) = (ident(&old_name), ident(new_name));
        let doc = format!(
            " The name QEMU {} gives [`{new_name}`] (the QAPI type `{old}`).",
            em.facts.list(*set)
        );
        Some(quote!(#[doc = #doc] pub type #old_ident = #new_ident;))
    });
    quote! {
        /// The QEMU releases these bindings were generated from, oldest first: the names
        /// [`Releases`](crate::describe::Releases) sets are made of.
        pub const RELEASES: &[&str] = &[#(#labels),*];
        #(#aliases)*
        /// Every command of the schema, in schema order.
        pub static COMMANDS: &[crate::describe::CommandDescriptor] = &[#(#commands)*];
        /// Every event of the schema, in schema order.
        pub static EVENTS: &[crate::describe::EventDescriptor] = &[#(#events)*];
        #dynamic
    }
}

fn option_str(value: Option<String>) -> TokenStream {
    match value {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    }
}
