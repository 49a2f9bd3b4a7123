//! PostgreSQL: the dump and the restore against real servers of every major of the matrix,
//! checked against stock `pg_dump` and `pg_restore`, and the conventions of the parity corpora.

mod compress;
mod corpora;
mod dump;
mod parity;
mod restore;
mod restore_replace;
mod restore_select;
mod restore_stock;
mod versions;
