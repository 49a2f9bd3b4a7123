//! `fullsite restore NAME`: checks its arguments and the generation, then says plainly that
//! restoring is not built yet (exit 2) without changing anything.

use crate::cli::RestoreArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::error::{Error, Result};
use crate::generation::{Catalog, GenerationName};

pub async fn run(args: RestoreArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = GenerationName::parse(&args.name)?;
    let (db, objects) = (args.parts.db(), args.parts.objects());
    if !db && !objects {
        return Err(Error::Usage(
            "nothing to restore: --no-db and --no-objects leave no part selected".into(),
        ));
    }
    if db {
        DbSettings::from_vars(vars)?;
    }
    if objects {
        S3Settings::from_vars(vars)?;
    }
    let catalog = Catalog::scan(&root)?;
    if !catalog.get(name.as_str()).is_some_and(|g| g.is_complete()) {
        return Err(Error::GenerationNotFound {
            name: name.to_string(),
            root,
        });
    }
    Err(Error::NotAvailable {
        what: "restore".into(),
        hint: format!("; '{name}' was found and left as it is"),
    })
}
