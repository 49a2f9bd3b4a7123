//! Procedural languages (CREATE PROCEDURAL LANGUAGE), as pg_dump's dumpProcLang writes them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects procedural languages (CREATE PROCEDURAL LANGUAGE).
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
