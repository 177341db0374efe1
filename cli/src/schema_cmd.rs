//! `qmp schema show` and `qmp schema diff`.

use clap::Subcommand;

use crate::failure::Failure;

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// A command's, event's or type's definition: members, types, optionality, features,
    /// conditions and the releases that have it.
    Show {
        /// The command, event or type.
        name: String,
        /// A QAPI schema file, or a release the bindings know (`7.2`, `10.0`, `10.2`);
        /// default: every release the bindings know, merged.
        #[arg(long, value_name = "S")]
        schema: Option<String>,
    },
    /// The API changes between two schemas: each a QAPI schema file or a known release.
    Diff {
        old: String,
        new: String,
        /// One JSON object a change.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: SchemaCommand) -> Result<(), Failure> {
    let _ = command;
    Err(Failure::other("not written yet"))
}
