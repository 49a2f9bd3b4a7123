//! What the `--json` outputs of the commands share: one compact JSON document on stdout, and
//! the parts a generation holds.
//!
//! Each command's output is a `Serialize` type next to the code that builds it. Their fields are
//! declared in alphabetical order: the outputs were first built with `serde_json::json!`, whose
//! objects sort their keys, and key order is part of the contract (pinned by the snapshots
//! under `tests/it/snapshots/`). Paths are written as text, lossily where they are not UTF-8, so
//! printing cannot fail.

use serde::Serialize;

use crate::generation::Generation;

/// Prints `document` as one line of JSON on stdout.
pub fn print(document: &impl Serialize) {
    // Only maps with non-string keys and non-UTF-8 paths fail to serialize; the documents
    // have neither.
    println!("{}", serde_json::to_string(document).unwrap_or_default());
}

/// `{"db": bool, "objects": bool}`: which parts a generation holds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Parts {
    /// It holds a database archive.
    pub db: bool,
    /// It holds mirrored objects.
    pub objects: bool,
}

impl Parts {
    /// The parts `generation` holds.
    pub fn of(generation: &Generation) -> Parts {
        Parts {
            db: generation.has_db(),
            objects: generation.has_objects(),
        }
    }
}
