//! Typed, code-generated async bindings for QEMU's Machine Protocol (QMP).

pub mod command;

pub use command::{Command, OobCommand};
