//! Before a restore changes anything: the roles it will give objects to (owners) and name in
//! privileges must exist on the target, and the restoring role must be able to use them.
//!
//! - A role that does not exist stops the restore with [`RestoreError::MissingRoles`] (exit
//!   2: the archive and the target do not fit together, and retrying cannot help), naming the
//!   roles and the flags that would leave them out (`--no-owner`, `--no-privileges`).
//! - A restoring role that is not a superuser must be able to become each owner (`ALTER ...
//!   OWNER TO` needs it), and cannot run grants made by other roles (`SET SESSION
//!   AUTHORIZATION`); either stops the restore like any other missing privilege of the role.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use super::RestoreError;
use super::plan::RestorePlan;
use super::privileges;
use crate::pg::archive::TocEntry;
use crate::pg::connect::{PgError, Target};

/// Checks the roles `plan` names against the target (see the module documentation).
pub async fn check(
    client: &Client,
    target: &Target,
    entries: &[TocEntry],
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    let (owners, grants) = privileges::roles(plan, entries);
    if owners.is_empty() && grants.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = owners.union(&grants).cloned().collect();
    let missing = query_names(
        client,
        target,
        "SELECT r.name FROM pg_catalog.unnest($1::pg_catalog.text[]) AS r(name) \
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a WHERE a.rolname = r.name) \
         ORDER BY 1",
        &named,
    )
    .await?;
    if !missing.is_empty() {
        return Err(missing_roles(target, &missing, &owners, &grants));
    }
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper AS superuser FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| target.error("look up roles on", &e))?
        .get("superuser");
    if superuser {
        return Ok(());
    }
    let owners: Vec<String> = owners.into_iter().collect();
    // ALTER ... OWNER TO needs membership (16+: with the SET option) in the new owner
    let unusable = query_names(
        client,
        target,
        "SELECT r.name FROM pg_catalog.unnest($1::pg_catalog.text[]) AS r(name) \
         WHERE NOT pg_catalog.pg_has_role(r.name, CASE WHEN \
               pg_catalog.current_setting('server_version_num')::int >= 160000 \
               THEN 'SET' ELSE 'MEMBER' END) \
         ORDER BY 1",
        &owners,
    )
    .await?;
    let as_grantors = plan.privileges.iter().any(|&i| {
        entries[i]
            .defn
            .as_deref()
            .is_some_and(|d| d.contains("SET SESSION AUTHORIZATION"))
    });
    let problem = if !unusable.is_empty() {
        Some(format!(
            "the role is not a superuser and may not give objects to {} (it cannot become \
             them); restore as a superuser, or with --no-owner",
            display(&unusable)
        ))
    } else if as_grantors {
        Some(
            "the role is not a superuser, and the archive's privileges include grants made by \
             other roles (SET SESSION AUTHORIZATION); restore as a superuser, or with \
             --no-privileges"
                .to_string(),
        )
    } else {
        None
    };
    match problem {
        Some(message) => Err(RestoreError::Pg(PgError {
            target: target.to_string(),
            action: "restore into".into(),
            message,
        })),
        None => Ok(()),
    }
}

/// The names a query over `$1` (a text array of role names) returns.
async fn query_names(
    client: &Client,
    target: &Target,
    sql: &str,
    names: &[String],
) -> Result<Vec<String>, RestoreError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(sql, &[&names])
        .await
        .map_err(|e| target.error("look up roles on", &e))?;
    Ok(rows.iter().map(|r| r.get("name")).collect())
}

/// The error for roles missing on the target, with the flags that would leave them out.
fn missing_roles(
    target: &Target,
    missing: &[String],
    owners: &BTreeSet<String>,
    grants: &BTreeSet<String>,
) -> RestoreError {
    let mut flags = Vec::new();
    if missing.iter().any(|r| owners.contains(r)) {
        flags.push("--no-owner");
    }
    if missing.iter().any(|r| grants.contains(r)) {
        flags.push("--no-privileges");
    }
    RestoreError::MissingRoles {
        target: target.to_string(),
        roles: missing.iter().map(|r| quoted(r)).collect(),
        hint: flags.join(" "),
    }
}

/// Role names for a message.
fn display(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quoted(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A role name as a message shows it: as is when plain, else double-quoted.
fn quoted(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DbSettings, Secret};

    #[test]
    fn missing_roles_name_the_flags_that_leave_them_out() {
        let settings = DbSettings {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "admin".into(),
            password: Secret::new("x"),
            name: "stgy".into(),
        };
        let target = Target::resolve(&settings, "drill").unwrap();
        let owners = BTreeSet::from(["app_owner".to_string()]);
        let grants = BTreeSet::from(["Reporting Team".to_string(), "app_owner".to_string()]);
        let error = missing_roles(&target, &["Reporting Team".to_string()], &owners, &grants);
        let message = error.to_string();
        assert!(message.contains("\"Reporting Team\""), "{message}");
        assert!(
            message.ends_with("restore with --no-privileges"),
            "{message}"
        );
        assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
        let both = missing_roles(&target, &["app_owner".to_string()], &owners, &grants);
        assert!(
            both.to_string()
                .ends_with("restore with --no-owner --no-privileges"),
            "{both}"
        );
    }
}
