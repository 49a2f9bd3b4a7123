//! `fullsite verify NAME`: problems on stdout, one per line; exit 3 when there are any.

use crate::cli::VerifyArgs;
use crate::config::{self, Vars};
use crate::error::{Error, Result};
use crate::generation::{Catalog, GenerationKind, GenerationName};
use crate::verify::{Problem, verify_generation};

pub fn run(args: VerifyArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = GenerationName::parse(&args.name)?;
    let catalog = Catalog::scan(&root)?;
    let not_found = || Error::GenerationNotFound {
        name: name.to_string(),
        root: root.clone(),
    };
    let generation = catalog.get(name.as_str()).ok_or_else(not_found)?;
    let report = match &generation.kind {
        GenerationKind::Legacy => {
            return Err(Error::NotAvailable {
                what: "verification of legacy generations (they have no manifest)".into(),
                hint: String::new(),
            });
        }
        GenerationKind::Damaged(reason) => crate::verify::Report {
            problems: vec![Problem::Manifest(reason.clone())],
            ..Default::default()
        },
        GenerationKind::Fullsite(_) => verify_generation(&generation.path),
    };
    for problem in &report.problems {
        println!("{problem}");
    }
    if report.problems.is_empty() {
        tracing::info!(
            "verified '{name}': {} files, {} intact",
            report.files,
            crate::display::bytes(report.bytes)
        );
        Ok(())
    } else {
        Err(Error::Damaged {
            name: name.to_string(),
            problems: report.problems.len(),
        })
    }
}
