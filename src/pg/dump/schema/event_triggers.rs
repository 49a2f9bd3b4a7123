//! Event triggers, as pg_dump's dumpEventTrigger writes them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects event triggers.
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
