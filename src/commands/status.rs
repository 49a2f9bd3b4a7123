//! `fullsite status`: the newest complete generation and its age, for humans and monitors.
//! With `--max-age HOURS` the exit code is 1 when that generation is older (or missing).

use chrono::Local;

use crate::cli::StatusArgs;
use crate::config::{self, Vars};
use crate::display::{age, printable};
use crate::error::{Error, Result};
use crate::generation::Catalog;

pub async fn run(args: StatusArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let newest = catalog.newest_complete();
    let hours = newest.map(|g| (Local::now() - g.time).num_seconds() as f64 / 3600.0);
    let fresh = match (args.max_age, hours) {
        (Some(max), Some(hours)) => Some(hours <= max),
        (Some(_), None) => Some(false),
        (None, _) => None,
    };
    let last_verify = newest.and_then(|g| crate::verify::last(&root, &g.name));
    let offsite = super::offsite::status_section(vars).await;
    if args.json {
        let newest_json = newest.zip(hours).map(|(g, h)| {
            serde_json::json!({
                "name": g.name,
                "time": g.time.to_rfc3339(),
                "status": g.status(),
                "age_hours": (h * 100.0).round() / 100.0,
                "parts": {"db": g.has_db(), "objects": g.has_objects()},
                "last_verify": last_verify,
            })
        });
        let mut document = serde_json::json!({
            "root": root,
            "generations": catalog.complete().count(),
            "newest": newest_json,
            "max_age_hours": args.max_age,
            "fresh": fresh,
        });
        // Only with a target configured, so the shape without one is unchanged.
        if let (Some(offsite), Some(fields)) = (&offsite, document.as_object_mut()) {
            fields.insert("offsite".into(), offsite.clone());
        }
        println!("{document}");
    } else {
        print_text(&root, &catalog, newest, hours);
        if newest.is_some() {
            match &last_verify {
                Some(v) if v.problems == 0 => {
                    println!("verified: {} ok ({:.0}% of files hashed)", v.at, v.percent)
                }
                Some(v) => println!("verified: {} DAMAGED ({} problems)", v.at, v.problems),
                None => println!("verified: never"),
            }
        }
        if let Some(offsite) = &offsite {
            print_offsite(offsite);
        }
    }
    match (newest, args.max_age, hours) {
        (None, Some(_), _) => Err(Error::Stale(format!(
            "no complete generation in '{}'",
            root.display()
        ))),
        (Some(newest), Some(max), Some(hours)) if hours > max => Err(Error::Stale(format!(
            "newest complete generation '{}' is {} old, older than --max-age {max}h",
            printable(&newest.name),
            age(hours)
        ))),
        _ => Ok(()),
    }
}

fn print_text(
    root: &std::path::Path,
    catalog: &Catalog,
    newest: Option<&crate::generation::Generation>,
    hours: Option<f64>,
) {
    println!("root: {}", root.display());
    println!("generations: {}", catalog.complete().count());
    let (Some(newest), Some(hours)) = (newest, hours) else {
        println!("newest: none");
        return;
    };
    println!("newest: {}", printable(&newest.name));
    println!("status: {}", newest.status());
    println!("time: {}", newest.time.format("%Y-%m-%d %H:%M:%S %:z"));
    println!("age: {}", age(hours));
    println!("db: {}", if newest.has_db() { "yes" } else { "no" });
    println!(
        "objects: {}",
        if newest.has_objects() { "yes" } else { "no" }
    );
}

/// The offsite lines of the text output.
fn print_offsite(offsite: &serde_json::Value) {
    match (offsite.get("error"), offsite.get("newest")) {
        (Some(error), _) => println!("offsite: unknown ({})", error.as_str().unwrap_or_default()),
        (None, Some(serde_json::Value::Null) | None) => println!("offsite: none"),
        (None, Some(newest)) => println!(
            "offsite: {} ({} old)",
            printable(newest["name"].as_str().unwrap_or_default()),
            age(newest["age_hours"].as_f64().unwrap_or_default())
        ),
    }
}
