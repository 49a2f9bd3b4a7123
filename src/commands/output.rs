//! What `ls` and `diff` share: finding a complete generation by name, and writing many lines
//! to stdout through one buffer (a closed pipe, as `| head` makes, ends the output quietly).

use std::io::{BufWriter, StdoutLock, Write};
use std::path::Path;

use crate::engine::{Error, Result};
use crate::fsutil::FsError;
use crate::generation::{Catalog, Generation};

/// The complete generation `name` in `catalog`.
pub fn generation<'a>(catalog: &'a Catalog, root: &Path, name: &str) -> Result<&'a Generation> {
    catalog
        .get(name)
        .filter(|g| g.is_complete())
        .ok_or_else(|| Error::GenerationNotFound {
            name: name.to_string(),
            root: root.to_path_buf(),
        })
}

/// Buffered stdout.
pub struct Out {
    out: BufWriter<StdoutLock<'static>>,
    closed: bool,
}

impl Out {
    /// Stdout, buffered.
    pub fn new() -> Out {
        Out {
            out: BufWriter::new(std::io::stdout().lock()),
            closed: false,
        }
    }

    /// Writes `text` (nothing once the reader went away).
    pub fn write(&mut self, text: &str) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let written = self.out.write_all(text.as_bytes());
        self.check(written)
    }

    /// Whether the reader went away (the rest of the output can be skipped).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.out.flush();
        self.check(flushed)
    }

    fn check(&mut self, result: std::io::Result<()>) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(FsError::new("write", Path::new("<stdout>"), e).into()),
        }
    }
}

/// `value` as compact JSON (the documents hold nothing that fails to serialize).
pub fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
