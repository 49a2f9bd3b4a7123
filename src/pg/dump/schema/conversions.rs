//! Encoding conversions (CREATE CONVERSION), as pg_dump's dumpConversion writes them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects encoding conversions (CREATE CONVERSION).
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
