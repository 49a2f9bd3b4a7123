//! Large objects: their definitions, comments and contents, as pg_dump's dumpLO writes them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects large objects: their definitions.
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
