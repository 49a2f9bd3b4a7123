//! Default privileges (ALTER DEFAULT PRIVILEGES), as pg_dump's dumpDefaultACL writes them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects default privileges (ALTER DEFAULT PRIVILEGES).
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
