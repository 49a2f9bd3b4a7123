//! PostgreSQL: connections, the pg_dump-compatible archive format, the native dump and restore.

pub mod archive;
pub mod connect;
pub mod dump;
pub mod quote;
pub mod restore;
