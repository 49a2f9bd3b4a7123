//! S3 objects: the mirror, the restore and bucket policies against real S3 servers.

mod backup;
mod policies;
mod restore;
mod restore_select;
