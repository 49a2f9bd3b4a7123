//! Text search parsers, templates, dictionaries and configurations, as pg_dump's dumpTS* write them.
//!
//! Not written yet: the collector claims nothing, so the census still refuses these objects by
//! name.

use super::{Cx, Entry};
use crate::pg::connect::PgError;

/// Collects text search parsers.
pub async fn collect(_cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    Ok(Vec::new())
}
