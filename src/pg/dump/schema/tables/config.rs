//! Extension configuration tables (`pg_extension_config_dump`): the extension's CREATE brings
//! the table back, and pg_dump dumps its rows, only those matching the extension's condition
//! when it gave one. (Configuration sequences get their SEQUENCE SET from the sequences
//! collector.)

use super::super::CatalogSession;
use super::DataSpec;
use super::catalog::{self, class_key};
use crate::pg::connect::PgError;

/// What to copy from the configuration tables of the dumped extensions.
pub(crate) async fn data(cx: &CatalogSession<'_>) -> Result<Vec<DataSpec>, PgError> {
    let rows = cx
        .query(
            "extension configuration tables",
            "SELECT c.oid AS oid, n.nspname AS namespace, c.relname AS name, \
                    pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                    u.condition AS condition, pg_catalog.pg_relation_size(c.oid) AS size \
             FROM pg_catalog.pg_extension x \
             CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(x.extconfig), \
                  pg_catalog.unnest(x.extcondition)) AS u(config, condition) \
             JOIN pg_catalog.pg_class c ON c.oid = u.config \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE x.oid >= 16384 AND c.relkind = 'r' \
             ORDER BY c.oid",
            &[],
        )
        .await?;
    let oids: Vec<u32> = rows.iter().map(|r| r.get("oid")).collect();
    let mut columns = catalog::columns(cx, &oids).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let oid: u32 = row.get("oid");
            let qualified: String = row.get("qualified");
            let condition: Option<String> = row.get("condition");
            DataSpec {
                key: class_key(oid),
                namespace: row.get("namespace"),
                name: row.get("name"),
                target: qualified.clone(),
                qualified,
                defn: String::new(),
                columns: columns
                    .remove(&oid)
                    .unwrap_or_default()
                    .iter()
                    .filter(|c| c.generated.is_empty())
                    .map(|c| c.quoted.clone())
                    .collect(),
                filter: condition.filter(|c| !c.is_empty()),
                size: row.get("size"),
            }
        })
        .collect())
}
