//! `fullsite status`: the newest complete generation and its age, for humans and monitors.
//! With `--max-age HOURS` the exit code is 1 when that generation is older (or missing).

use chrono::Local;

use crate::cli::StatusArgs;
use crate::config::{self, Vars};
use crate::display::{age, printable};
use crate::error::{Error, Result};
use crate::generation::Catalog;

pub fn run(args: StatusArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    println!("root: {}", root.display());
    println!("generations: {}", catalog.complete().count());
    let Some(newest) = catalog.newest_complete() else {
        println!("newest: none");
        return match args.max_age {
            Some(_) => Err(Error::Stale(format!(
                "no complete generation in '{}'",
                root.display()
            ))),
            None => Ok(()),
        };
    };
    let hours = (Local::now() - newest.time).num_seconds() as f64 / 3600.0;
    println!("newest: {}", printable(&newest.name));
    println!("status: {}", newest.status());
    println!("time: {}", newest.time.format("%Y-%m-%d %H:%M:%S %:z"));
    println!("age: {}", age(hours));
    println!("db: {}", if newest.has_db() { "yes" } else { "no" });
    println!(
        "objects: {}",
        if newest.has_objects() { "yes" } else { "no" }
    );
    match args.max_age {
        Some(max) if hours > max => Err(Error::Stale(format!(
            "newest complete generation '{}' is {} old, older than --max-age {max}h",
            printable(&newest.name),
            age(hours)
        ))),
        _ => Ok(()),
    }
}
