//! PostgreSQL: connections, the pg_dump-compatible archive format, and the native dump.

pub mod archive;
pub mod connect;
pub mod dump;
pub mod quote;
