//! Command-line flags as typed (clap). Nothing here touches the disk or the network; flags are
//! turned into settings and plans by the commands.
//!
//! Every flag of the legacy `backup-full-site.sh` keeps its meaning (`--root`, `--name`,
//! `--db`/`--no-db`, `--objects`/`--no-objects`, `--retain-generations`), in both the
//! `--opt value` and `--opt=value` forms; when a flag and its negation are both given, the last
//! one wins, as in the legacy script.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    failure (a failed backup leaves no generation behind)
  2    usage or configuration error, or a feature this version does not have yet; nothing changed
  3    verify found missing, extra or damaged files, restore refused a damaged archive, or a
       drill found damage or a mismatch
  11   the backup root is locked by another run (see --wait-lock)
  130  stopped by SIGINT, 143 stopped by SIGTERM (work in progress removed)

Configuration: .env in the working directory, then the environment, then flags.
See README.md for the variables (STGY_DATABASE_*, STGY_STORAGE_S3_*, STGY_BACKUP_ROOT).";

/// Full-site backup and restore of PostgreSQL and S3 buckets.
#[derive(Debug, Parser)]
#[command(name = "fullsite", version, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up the database and buckets into a new generation.
    #[command(after_help = EXIT_CODES)]
    Backup(BackupArgs),
    /// Restore a generation's database and/or objects.
    #[command(after_help = EXIT_CODES)]
    Restore(RestoreArgs),
    /// Remove old generations, keeping the newest N complete ones.
    #[command(after_help = EXIT_CODES)]
    Prune(PruneArgs),
    /// List complete generations (data on stdout).
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// Check a generation (or --all) against its manifest and decode its database archive.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Report the newest complete generation and its age; fail when it is too old.
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
    /// Restore a generation into a scratch database and check it against its manifest.
    #[command(after_help = EXIT_CODES)]
    Drill(DrillArgs),
    /// List a generation's objects (or, with --tables, its tables) from its manifest alone.
    #[command(after_help = EXIT_CODES)]
    Ls(LsArgs),
    /// Compare two generations: objects added, removed and changed per bucket, tables whose
    /// data changed, schema entries added, removed and changed.
    #[command(after_help = EXIT_CODES)]
    Diff(DiffArgs),
    /// Copy generations to an S3-compatible offsite repository (deduplicated, encrypted),
    /// verify them there, pull them back, prune them.
    #[command(subcommand)]
    Offsite(OffsiteCommand),
}

/// `--ping-url URL` (issue 17).
#[derive(Debug, Args)]
pub struct PingArg {
    /// Monitor to ping: GET URL/start at the start, GET URL on success, POST URL/fail with the
    /// error on failure (healthchecks.io, Uptime Kuma, cronitor); never changes the exit code
    /// [env: FULLSITE_PING_URL].
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
}

/// `--refs-sql-file PATH` (issue 17).
#[derive(Debug, Args)]
pub struct RefsArg {
    /// A SELECT returning two text columns, bucket and key: the objects rows point at, checked
    /// for dangling references and orphans [env: FULLSITE_OBJECT_REFS_SQL].
    #[arg(long, value_name = "PATH")]
    pub refs_sql_file: Option<PathBuf>,
}

/// `fullsite drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print the report as one JSON document on stdout (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Hash only about PCT percent of the files before restoring (as verify --sample).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub sample: Option<f64>,
    /// Seed of the --sample selection [default: changes every run].
    #[arg(long, value_name = "N", requires = "sample")]
    pub seed: Option<u64>,
    /// Keep the scratch database (its name is printed) instead of dropping it.
    #[arg(long)]
    pub keep: bool,
    /// Write Prometheus metrics to PATH (atomically), after success and after failure.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Parallel connections for the restore and the row counts [default: number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// The rows → objects query.
    #[command(flatten)]
    pub refs: RefsArg,
    /// Monitor pings.
    #[command(flatten)]
    pub ping: PingArg,
    /// Generation to drill [default: the newest complete one].
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// `--root DIR`.
#[derive(Debug, Args)]
pub struct RootArg {
    /// Backup root [default: $STGY_BACKUP_ROOT, else /var/backups/stgy].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// `--wait-lock SECS`.
#[derive(Debug, Args)]
pub struct LockArg {
    /// When another run holds the root lock, wait up to SECS seconds for it instead of failing
    /// at once with exit code 11.
    #[arg(long, value_name = "SECS")]
    pub wait_lock: Option<u64>,
}

/// `--stall-timeout`.
#[derive(Debug, Args)]
pub struct StallArg {
    /// Fail when a server says nothing for SECS seconds: a query or request without an
    /// answer, COPY data or an object body without a byte [env: FULLSITE_STALL_TIMEOUT;
    /// default: 120].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub stall_timeout: Option<u64>,
}

/// `--db|--no-db --objects|--no-objects`.
#[derive(Debug, Args)]
pub struct PartsArgs {
    /// Include the database (default).
    #[arg(long = "db", overrides_with = "no_db")]
    db: bool,
    /// Leave the database out.
    #[arg(long = "no-db", overrides_with = "db")]
    no_db: bool,
    /// Include the S3 objects (default).
    #[arg(long = "objects", overrides_with = "no_objects")]
    objects: bool,
    /// Leave the S3 objects out.
    #[arg(long = "no-objects", overrides_with = "objects")]
    no_objects: bool,
}

impl PartsArgs {
    /// Whether the database part is selected.
    pub fn db(&self) -> bool {
        !self.no_db
    }

    /// Whether the objects part is selected.
    pub fn objects(&self) -> bool {
        !self.no_objects
    }

    /// Whether `--objects` was given (a table restore leaves the objects out otherwise).
    pub fn objects_given(&self) -> bool {
        self.objects
    }

    /// Whether `--db` was given explicitly (it overrides the database being left out when
    /// only objects are selected).
    pub fn db_given(&self) -> bool {
        self.db
    }
}

/// `fullsite backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Generation name [default: full-site-YYYY-MM-DD, local date]; must not exist yet.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Which parts to include.
    #[command(flatten)]
    pub parts: PartsArgs,
    /// Parallel database connections and compression threads [default: number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Object downloads at once (they wait on the network, not the CPU).
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_transfers)]
    pub transfers: usize,
    /// Compression of table data and large objects, as pg_dump 16+ spells it: gzip[:1-9],
    /// zstd[:1-19], lz4[:1-12] or none; gzip archives are read by pg_restore 12+, zstd and lz4
    /// ones by pg_restore 16+ only [env: FULLSITE_COMPRESS; default: gzip:4].
    #[arg(long, value_name = "METHOD[:LEVEL]", value_parser = crate::config::Compress::parse)]
    pub compress: Option<crate::config::Compress>,
    /// Accept a bucket that held objects in the previous generation and now lists empty or
    /// missing (by default that fails the backup: wrong endpoint or credentials?).
    #[arg(long)]
    pub allow_empty_bucket: bool,
    /// Dump a PostgreSQL server older than 14 or newer than 18 (by default refused: fullsite
    /// is proved against pg_dump of 14 to 18 only).
    #[arg(long)]
    pub allow_untested_server: bool,
    /// Also record each object's owner, as pg_dump does without --no-owner (by default, as the
    /// legacy script's `--no-owner`, objects belong to whoever restores them).
    #[arg(long)]
    pub owners: bool,
    /// Also dump privileges (GRANT/REVOKE, column privileges, ALTER DEFAULT PRIVILEGES), as
    /// pg_dump does without --no-privileges (by default, as the legacy script's
    /// `--no-privileges`, none are dumped).
    #[arg(long)]
    pub privileges: bool,
    /// Print the backup summary as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write Prometheus metrics to PATH (atomically) for node_exporter's textfile collector,
    /// after success and after failure.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    /// Lock waiting.
    #[command(flatten)]
    pub lock: LockArg,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// How long to keep trying to take the dump's table locks while another session holds or
    /// awaits a conflicting lock (an application migration), before failing and naming it
    /// [env: FULLSITE_LOCK_WAIT_TIMEOUT; default: 120].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub lock_wait_timeout: Option<u64>,
    /// The rows → objects query.
    #[command(flatten)]
    pub refs: RefsArg,
    /// Monitor pings.
    #[command(flatten)]
    pub ping: PingArg,
}

/// `fullsite restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Which parts to include.
    #[command(flatten)]
    pub parts: PartsArgs,
    /// Restore the database into this database instead of the configured one (created if
    /// missing), leaving the live database untouched: for restore drills.
    #[arg(long, value_name = "NAME")]
    pub into_db: Option<String>,
    /// Restore the database in one transaction: all or nothing (serial, so slower).
    #[arg(long)]
    pub single_transaction: bool,
    /// Leave every restored object owned by the restoring role, even when the archive records
    /// owners (backups made with --owners, stock pg_dump archives).
    #[arg(long)]
    pub no_owner: bool,
    /// Leave out the privileges the archive holds (GRANT/REVOKE, ALTER DEFAULT PRIVILEGES).
    #[arg(long, alias = "no-acl")]
    pub no_privileges: bool,
    /// Leave objects the generation does not hold (by default they are deleted, after every
    /// upload succeeded).
    #[arg(long)]
    pub keep_extra: bool,
    /// Which objects to restore, and where.
    #[command(flatten)]
    pub objects: ObjectSelectionArgs,
    /// Parallel connections for table data and indexes [default: number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Object uploads at once.
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_transfers)]
    pub transfers: usize,
    /// Lock waiting.
    #[command(flatten)]
    pub lock: LockArg,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// Which tables (a table restore).
    #[command(flatten)]
    pub tables: TableSelectArgs,
    /// Generation to restore, e.g. full-site-2026-01-12.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `restore --table SCHEMA.NAME... --schema NAME...`: a table restore.
#[derive(Debug, Args)]
pub struct TableSelectArgs {
    /// Restore only this table (repeatable): its definition, data, owned sequences, indexes,
    /// constraints, triggers, policies and comments. Into the live database it replaces just
    /// the selected tables. SQL names: unquoted parts fold to lower case, "Quoted" ones do not.
    /// Implies --no-objects unless --objects is given.
    #[arg(long = "table", value_name = "SCHEMA.NAME")]
    pub tables: Vec<String>,
    /// Restore only the tables of this schema (repeatable), as --table does.
    #[arg(long = "schema", value_name = "NAME")]
    pub schemas: Vec<String>,
}

/// `restore --bucket B... --prefix P --key K... --to-dir DIR` (issue 19).
#[derive(Debug, Args)]
pub struct ObjectSelectionArgs {
    /// Restore only the objects of bucket B (repeatable); with any object selection the
    /// database is left alone unless --db is given.
    #[arg(long = "bucket", value_name = "B")]
    pub buckets: Vec<String>,
    /// Restore only the objects whose key starts with P; nothing outside it is uploaded or
    /// deleted.
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Restore only the object with key K (repeatable; exact keys).
    #[arg(long = "key", value_name = "K")]
    pub keys: Vec<String>,
    /// Write the selected objects as files under DIR/<bucket>/ (metadata in
    /// DIR/.fullsite-metadata/<bucket>.jsonl) instead of uploading them: no S3 server needed.
    /// DIR must be absent or empty.
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<PathBuf>,
}

impl ObjectSelectionArgs {
    /// Whether any object selection flag was given.
    pub fn given(&self) -> bool {
        !self.buckets.is_empty()
            || self.prefix.is_some()
            || !self.keys.is_empty()
            || self.to_dir.is_some()
    }
}

/// `--bucket B... --prefix P` of `ls` and `diff`.
#[derive(Debug, Args)]
pub struct ObjectFilterArgs {
    /// Only the objects of bucket B (repeatable).
    #[arg(long = "bucket", value_name = "B")]
    pub buckets: Vec<String>,
    /// Only the objects whose key starts with P.
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
}

/// `fullsite ls` (issue 19).
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Which objects.
    #[command(flatten)]
    pub filter: ObjectFilterArgs,
    /// List the tables (rows and data size) instead of the objects.
    #[arg(long, conflicts_with_all = ["buckets", "prefix"])]
    pub tables: bool,
    /// Generation to list, e.g. full-site-2026-01-12.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `fullsite diff` (issue 19).
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Which objects.
    #[command(flatten)]
    pub filter: ObjectFilterArgs,
    /// The older generation.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The newer generation.
    #[arg(value_name = "NEW")]
    pub new: String,
}

/// `fullsite prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Keep the newest N complete generations; the newest one is kept even when N is 0
    /// [default: 7, or 0 when a --keep-* rule is given].
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = parse_count)]
    pub retain_generations: Option<u32>,
    /// Also keep the newest generation of each of the D most recent days that have one.
    #[arg(long, value_name = "D", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_daily: u32,
    /// Also keep the newest generation of each of the W most recent ISO weeks that have one.
    #[arg(long, value_name = "W", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_weekly: u32,
    /// Also keep the newest generation of each of the M most recent months that have one.
    #[arg(long, value_name = "M", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_monthly: u32,
    /// Print the plan on stdout and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Lock waiting.
    #[command(flatten)]
    pub lock: LockArg,
    /// Monitor pings.
    #[command(flatten)]
    pub ping: PingArg,
}

/// `fullsite list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
}

/// `fullsite verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Verify every generation in the root.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// Hash only about PCT percent of the files (a cheaper nightly check); presence, the
    /// manifest and unlisted files are always checked; the database archive is decoded only
    /// at 100.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub sample: Option<f64>,
    /// Seed of the --sample selection [default: changes every run].
    #[arg(long, value_name = "N", requires = "sample")]
    pub seed: Option<u64>,
    /// Generation to verify.
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub name: Option<String>,
}

/// `fullsite status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when the newest complete generation is older than HOURS (or there is none).
    #[arg(long, value_name = "HOURS", allow_hyphen_values = true, value_parser = parse_hours)]
    pub max_age: Option<f64>,
}

// --- fullsite offsite (issue 18) ---

const OFFSITE_HELP: &str = "\
Exit codes:
  0    success
  1    failure (network, disk)
  2    usage or configuration error: a missing or wrong passphrase, an unknown generation, a
       repository format newer than this fullsite; nothing was written
  3    offsite verify found missing or damaged objects, or a local file differs from its manifest
  11   the offsite repository is locked (a prune and a push met)
  130  stopped by SIGINT, 143 stopped by SIGTERM

Target: FULLSITE_OFFSITE_URL=s3://BUCKET/PREFIX, FULLSITE_OFFSITE_S3_ENDPOINT, _S3_REGION,
_S3_ACCESS_KEY_ID, _S3_SECRET_ACCESS_KEY, and FULLSITE_OFFSITE_PASSPHRASE (or
FULLSITE_OFFSITE_PASSPHRASE_FILE), from .env or the environment; see README.md.";

/// `fullsite offsite ...`.
#[derive(Debug, Subcommand)]
pub enum OffsiteCommand {
    /// Upload complete generations that the repository lacks (only content it does not hold).
    #[command(after_help = OFFSITE_HELP)]
    Push(OffsitePushArgs),
    /// List the generations in the repository (data on stdout).
    #[command(after_help = OFFSITE_HELP)]
    List(OffsiteListArgs),
    /// Read back and authenticate a generation's (or every) stored content and check its hashes.
    #[command(after_help = OFFSITE_HELP)]
    Verify(OffsiteVerifyArgs),
    /// Recreate a generation from the repository under the backup root.
    #[command(after_help = OFFSITE_HELP)]
    Pull(OffsitePullArgs),
    /// Apply retention rules to the repository's generations, then delete unreferenced content.
    #[command(after_help = OFFSITE_HELP)]
    Prune(OffsitePruneArgs),
}

/// `--transfers` for offsite commands.
#[derive(Debug, Args)]
pub struct OffsiteTransfersArg {
    /// Objects transferred at once (memory: about 8 MiB each while uploading).
    #[arg(long, value_name = "N", default_value = "8", value_parser = parse_transfers)]
    pub transfers: usize,
}

/// `fullsite offsite push`.
#[derive(Debug, Args)]
pub struct OffsitePushArgs {
    /// Where the generations live.
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Parallel uploads.
    #[command(flatten)]
    pub transfers: OffsiteTransfersArg,
    /// Create the repository unencrypted when it does not exist and no passphrase is set (by
    /// default that is refused).
    #[arg(long)]
    pub no_encryption: bool,
    /// Write Prometheus gauges (`fullsite_offsite_*`) to PATH (atomically), after success and
    /// after failure; use a file of its own beside the backup's.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// Push every complete generation.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Generations to push.
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub names: Vec<String>,
}

/// `fullsite offsite list`.
#[derive(Debug, Args)]
pub struct OffsiteListArgs {
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
}

/// `fullsite offsite verify`.
#[derive(Debug, Args)]
pub struct OffsiteVerifyArgs {
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Read back only about PCT percent of the files (presence is always checked).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub sample: Option<f64>,
    /// Seed of the --sample selection [default: changes every run].
    #[arg(long, value_name = "N", requires = "sample")]
    pub seed: Option<u64>,
    /// Parallel downloads.
    #[command(flatten)]
    pub transfers: OffsiteTransfersArg,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// Verify every generation in the repository.
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// Generation to verify.
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub name: Option<String>,
}

/// `fullsite offsite pull`.
#[derive(Debug, Args)]
pub struct OffsitePullArgs {
    /// Where the generation is recreated.
    #[command(flatten)]
    pub root: RootArg,
    /// Parallel downloads.
    #[command(flatten)]
    pub transfers: OffsiteTransfersArg,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
    /// Generation to pull.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `fullsite offsite prune`.
#[derive(Debug, Args)]
pub struct OffsitePruneArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document on stdout instead of text (shape documented in README).
    #[arg(long)]
    pub json: bool,
    /// Keep the newest N generations; the newest one is kept even when N is 0 [default: 7, or
    /// 0 when a --keep-* rule is given].
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = parse_count)]
    pub retain_generations: Option<u32>,
    /// Also keep the newest generation of each of the D most recent days that have one.
    #[arg(long, value_name = "D", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_daily: u32,
    /// Also keep the newest generation of each of the W most recent ISO weeks that have one.
    #[arg(long, value_name = "W", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_weekly: u32,
    /// Also keep the newest generation of each of the M most recent months that have one.
    #[arg(long, value_name = "M", default_value = "0", allow_hyphen_values = true, value_parser = parse_count)]
    pub keep_monthly: u32,
    /// Bounded waits for silent servers.
    #[command(flatten)]
    pub stall: StallArg,
}

// --- end of fullsite offsite ---

fn parse_count(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .map_err(|_| format!("'{text}' is not a whole number of 0 or more"))
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is not a number of jobs from 1 to 64")),
    }
}

fn parse_seconds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 1 to 86400"
        )),
    }
}

fn parse_transfers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not a number of transfers from 1 to 256"
        )),
    }
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a percentage from 0 to 100")),
    }
}

fn parse_hours(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(hours) if hours.is_finite() && hours > 0.0 => Ok(hours),
        _ => Err(format!("'{text}' is not a positive number of hours")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("fullsite").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn legacy_flags_parse_in_both_forms_and_last_one_wins() {
        let cli = parse(&[
            "backup",
            "--root=/b",
            "--name",
            "n",
            "--no-db",
            "--db",
            "--no-objects",
        ])
        .unwrap();
        let Command::Backup(args) = cli.command else {
            panic!("not backup")
        };
        assert_eq!(args.root.root, Some(PathBuf::from("/b")));
        assert_eq!(args.name.as_deref(), Some("n"));
        assert!(args.parts.db() && !args.parts.objects());

        let cli = parse(&["prune", "--retain-generations=3"]).unwrap();
        let Command::Prune(args) = cli.command else {
            panic!("not prune")
        };
        assert_eq!(args.retain_generations, Some(3));

        let cli = parse(&["restore", "--no-objects", "full-site-2026-01-12"]).unwrap();
        let Command::Restore(args) = cli.command else {
            panic!("not restore")
        };
        assert_eq!(args.name, "full-site-2026-01-12");
        assert!(args.parts.db() && !args.parts.objects());
    }

    #[test]
    fn defaults_match_the_legacy_script() {
        let Command::Prune(args) = parse(&["prune"]).unwrap().command else {
            panic!("not prune")
        };
        assert_eq!(
            args.retain_generations, None,
            "resolved to 7 by config::retain_generations"
        );
        let Command::Backup(args) = parse(&["backup"]).unwrap().command else {
            panic!("not backup")
        };
        assert!(args.parts.db() && args.parts.objects() && args.name.is_none());
    }

    #[test]
    fn bad_counts_are_usage_errors_naming_the_value() {
        for bad in ["-1", "x", "1.5", ""] {
            let err = parse(&["prune", "--retain-generations", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("--retain-generations"), "{err}");
        }
        assert!(parse(&["status", "--max-age", "-3"]).is_err());
        assert!(parse(&["backup", "--bogus"]).is_err());
        assert!(parse(&["restore"]).is_err(), "NAME is required");
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("11   the backup root is locked"), "{help}");
    }
}
