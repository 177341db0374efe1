//! The generated bindings: a type per QAPI type, a struct per command (implementing
//! [`Command`](crate::Command)), the [`Event`] enum, the [`Commands`] extension trait with
//! a typed method per command, and the tables [`COMMANDS`] and [`EVENTS`].
//!
//! Generated at build time from the schema in `schema/` (QEMU 10.0), or from the QEMU tree
//! that `QMP_SCHEMA` names. Nothing hand-written lives here, so no QAPI name can clash with
//! one of ours.

include!(concat!(env!("OUT_DIR"), "/qmp.rs"));
