//! Typed, code-generated async bindings for QEMU's Machine Protocol (QMP).
