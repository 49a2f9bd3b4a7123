//! What kind of thing went wrong: the one fact about an error that decides the exit code.
//!
//! Every error type of the engine answers `fn kind(&self) -> ErrorKind`, decided per variant
//! where the error arises (the archive reader knows a newer version is *not supported* and a
//! failed CRC is *damage*; the lock knows it is *held*). Errors that wrap others ask their
//! source, never look inside it. Only the binary (`src/main.rs`) turns a kind into a number,
//! following README's exit-code table.
//!
//! This module is a leaf: it imports no other module of the crate, so every layer can use it
//! while the error graph stays one-way (low layers own their errors; the command layer's
//! `commands::Error` composes them).

/// What kind of failure ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad flags, arguments or configuration, or something the target lacks that the operator
    /// must provide (missing roles); nothing was changed.
    Usage,
    /// A feature this version does not have yet (a newer archive version, a compression or an
    /// object kind it cannot read or write); nothing was changed.
    NotSupported,
    /// A generation or archive is damaged: missing, extra or changed files, content that does
    /// not decode.
    Damage,
    /// Another run holds the lock on the backup root.
    LockHeld,
    /// The run failed: a server, the disk or the operating system refused or broke.
    Failure,
    /// The run was stopped by signal number `signal` (SIGINT 2, SIGTERM 15) after cleaning up.
    Interrupted {
        /// The POSIX signal number.
        signal: u8,
    },
}
