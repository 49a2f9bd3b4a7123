//! PostgreSQL: connections, the pg_dump-compatible archive format, the native dump and restore.

pub(crate) mod archive;
pub(crate) mod connect;
pub(crate) mod dump;
pub(crate) mod quote;
pub mod restore;
