//! Subscriptions of the dumped database, as pg_dump's `dumpSubscription` writes them
//! (post-data): always `WITH (connect = false, slot_name = ...)`, so restoring never contacts
//! the publisher, followed by the options that differ from their defaults. Which options are
//! written, and how, follows the pg_dump of the server's major: `streaming` is `on` / `parallel`
//! (16+) and from 18, whose default became `parallel`, also `off`; `password_required`,
//! `run_as_owner` and `origin` from 16; `failover` from 17.
//!
//! Reading `pg_subscription.subconninfo` takes a superuser; like pg_dump, a dump by anyone else
//! leaves subscriptions out with a warning.

use super::{CatalogSession, Entry, Kind, ObjKey};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects the subscriptions of the current database.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let major = cx.major();
    let superuser = cx
        .query(
            "the current role's rights",
            "SELECT pg_catalog.current_setting('is_superuser') = 'on' AS superuser",
            &[],
        )
        .await?;
    if !superuser.first().is_some_and(|r| r.get("superuser")) {
        let count = cx
            .query(
                "subscriptions",
                "SELECT pg_catalog.count(*) AS subscriptions FROM pg_catalog.pg_subscription \
                 WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database \
                                  WHERE datname = pg_catalog.current_database())",
                &[],
            )
            .await?;
        if count
            .first()
            .is_some_and(|r| r.get::<_, i64>("subscriptions") > 0)
        {
            tracing::warn!("subscriptions not dumped because the current role is not a superuser");
        }
        return Ok(Vec::new());
    }
    let since = |version: i32, column: &str, otherwise: &str| {
        if major >= version {
            column.to_string()
        } else {
            otherwise.to_string()
        }
    };
    let sql = format!(
        "SELECT s.tableoid, s.oid, s.subname, pg_catalog.quote_ident(s.subname) AS quoted, \
                s.subconninfo, s.subslotname::text AS subslotname, s.subsynccommit, \
                pg_catalog.quote_ident(s.subsynccommit) AS quoted_synccommit, \
                (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), ', ' ORDER BY i) \
                   FROM pg_catalog.unnest(s.subpublications) WITH ORDINALITY AS u(p, i)) \
                  AS publications, \
                s.subbinary, s.substream::text AS substream, {} AS subtwophasestate, \
                {} AS subdisableonerr, {} AS subpasswordrequired, {} AS subrunasowner, \
                {} AS suborigin, {} AS subfailover, \
                pg_catalog.obj_description(s.oid, 'pg_subscription') AS description \
         FROM pg_catalog.pg_subscription s \
         WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database \
                            WHERE datname = pg_catalog.current_database()) \
         ORDER BY s.subname",
        since(15, "s.subtwophasestate::text", "'d'"),
        since(15, "s.subdisableonerr", "false"),
        since(16, "s.subpasswordrequired", "true"),
        since(16, "s.subrunasowner", "false"),
        since(16, "s.suborigin", "'any'"),
        since(17, "s.subfailover", "false"),
    );
    let mut entries = Vec::new();
    for row in cx.query("subscriptions", &sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut defn = format!(
            "CREATE SUBSCRIPTION {quoted} CONNECTION {} PUBLICATION {} WITH (connect = false, slot_name = {}",
            literal(row.get("subconninfo")),
            row.get::<_, Option<String>>("publications")
                .unwrap_or_default(),
            row.get::<_, Option<String>>("subslotname")
                .map_or_else(|| "NONE".to_string(), |slot| literal(&slot)),
        );
        defn.push_str(&options(&row, major));
        defn.push_str(");\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::Subscription,
            "SUBSCRIPTION",
            row.get::<_, String>("subname"),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP SUBSCRIPTION {quoted};\n"));
        entry.comment(
            row.get("description"),
            format!("SUBSCRIPTION {quoted}"),
            &format!("SUBSCRIPTION {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// The `, option = value` list after `slot_name`, as pg_dump of `major` writes it.
fn options(row: &tokio_postgres::Row, major: i32) -> String {
    let mut out = String::new();
    if row.get::<_, bool>("subbinary") {
        out.push_str(", binary = true");
    }
    // until 15 a boolean ('t' / 'f'); from 16 'f', 't' or 'p' (parallel)
    match row.get::<_, String>("substream").as_str() {
        "f" | "false" if major >= 18 => out.push_str(", streaming = off"),
        "f" | "false" => {}
        "p" => out.push_str(", streaming = parallel"),
        _ => out.push_str(", streaming = on"),
    }
    if row.get::<_, String>("subtwophasestate") != "d" {
        out.push_str(", two_phase = on");
    }
    if row.get::<_, bool>("subdisableonerr") {
        out.push_str(", disable_on_error = true");
    }
    if !row.get::<_, bool>("subpasswordrequired") {
        out.push_str(", password_required = false");
    }
    if row.get::<_, bool>("subrunasowner") {
        out.push_str(", run_as_owner = true");
    }
    if row.get::<_, bool>("subfailover") {
        out.push_str(", failover = true");
    }
    if row.get::<_, String>("subsynccommit") != "off" {
        out.push_str(&format!(
            ", synchronous_commit = {}",
            row.get::<_, String>("quoted_synccommit")
        ));
    }
    let origin: String = row.get("suborigin");
    if !origin.eq_ignore_ascii_case("any") {
        out.push_str(&format!(", origin = {origin}"));
    }
    out
}
