#!/usr/bin/env python3
"""fullsite against pg_dump, pg_restore and rclone: one run, same machine, alternating order.

Starts a throwaway PostgreSQL and Garage in a work directory, generates the dataset
(bench/dataset.sql, bench/corpus.py), then times each comparison for --rounds rounds, running
fullsite first in even rounds and last in odd ones, and writes a Markdown report (medians, with
min-max) plus the raw runs as JSON. Run it through bench/run.sh, which installs and builds first.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import generate, mutation, tiny  # noqa: E402
from measure import Run, measure, tree_bytes  # noqa: E402
from offsite import offsite  # noqa: E402
from report import write_report  # noqa: E402
from servers import Garage, Postgres  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BUCKETS = ["stgy-images", "stgy-profiles"]
GZIP_LEVEL = 6  # zlib's default: pg_dump's level, given to pg_dump -Fd explicitly
# The incremental's floor (issue 20): linking every unchanged file plus one listing of every
# bucket, each timed alone in the same rounds as fullsite.
FLOOR_LINK = "floor: cp -al of the previous objects"
FLOOR_LIST = "floor: one ListObjectsV2 pass"
# fullsite's methods besides its default (gzip at its default level, the tool "fullsite")
METHODS = ["zstd", "lz4", "none"]
PG_SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def say(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.work = work
        self.log = work / "commands.log"
        self.fullsite = REPO / "target" / "release" / "fullsite"
        bindir = os.environ.get("FULLSITE_PG_BINDIR") or sorted(
            Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.pgbin = Path(bindir)
        garage = os.environ.get("FULLSITE_GARAGE") or (
            Path(os.environ.get("FULLSITE_CACHE", "/var/cache/fullsite")) / "garage-2.5.0/bin/garage")
        self.garage_bin = Path(garage)
        self.runs: dict[str, list[Run]] = {}
        self.facts: dict[str, object] = {}
        self.pg: Postgres | None = None
        self.s3: Garage | None = None

    # -- environment ----------------------------------------------------------------------------
    def base_env(self) -> dict[str, str]:
        # Debian's rclone fails with LoadCustomCABundleError when AWS_CA_BUNDLE is set.
        drop = ("PG", "STGY_", "AWS_", "RCLONE_", "FULLSITE_TEST")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        return {**env, "LC_ALL": "C.UTF-8"}

    def fullsite_env(self, root: Path, buckets: list[str] | None = None) -> dict[str, str]:
        env = {**self.base_env(), "STGY_BACKUP_ROOT": str(root)}
        if self.pg:
            env |= {"STGY_DATABASE_HOST": "127.0.0.1", "STGY_DATABASE_PORT": str(self.pg.port),
                    "STGY_DATABASE_USER": self.pg.user, "STGY_DATABASE_PASSWORD": self.pg.password,
                    "STGY_DATABASE_NAME": "stgy"}
        if self.s3:
            env |= {"STGY_STORAGE_S3_ENDPOINT": self.s3.endpoint(),
                    "STGY_STORAGE_S3_REGION": self.s3.region,
                    "STGY_STORAGE_S3_ACCESS_KEY_ID": self.s3.key_id,
                    "STGY_STORAGE_S3_SECRET_ACCESS_KEY": self.s3.key_secret,
                    "STGY_STORAGE_S3_BUCKETS": ",".join(buckets or BUCKETS)}
        return env

    def pg_env(self) -> dict[str, str]:
        return {**self.base_env(), **self.pg.env()}

    def rclone_env(self) -> dict[str, str]:
        return {**self.base_env(), **self.s3.rclone_env()}

    def rclone(self, *args: str) -> None:
        subprocess.run(["rclone", "-q", *args], env=self.rclone_env(), check=True)

    def record(self, group: str, run: Run) -> None:
        self.runs.setdefault(group, []).append(run)
        size = f", {run.size / 2**20:.1f} MiB" if run.size is not None else ""
        say(f"  {group}: {run.tool}: {run.wall:.2f} s wall, {run.cpu:.2f} s cpu, "
            f"{run.server_cpu:.2f} s server, {run.rss_mb:.0f} MiB rss{size}")

    def keep_first_round(self, r: int, output: Path, keep_as: Path) -> None:
        """Round 1's output is kept (as `keep_as`) for the next comparison; the others go."""
        if r == 0:
            output.rename(keep_as)
        else:
            shutil.rmtree(output)

    def alternate(self, tools: list[tuple[str, object]]):
        """(round, name, action) in the order they run: fullsite first in even rounds."""
        if self.args.fullsite_only:
            tools = [(name, action) for name, action in tools
                     if name.startswith("fullsite") or name.startswith("floor:")]
        for r in range(self.args.rounds):
            for name, action in (tools if r % 2 == 0 else list(reversed(tools))):
                yield r, name, action

    # -- database ---------------------------------------------------------------------------------
    def database(self) -> None:
        self.start_database()
        self.dumps()
        self.restores()

    def start_database(self) -> None:
        """Starts PostgreSQL and generates the dataset (untimed)."""
        self.pg = Postgres(self.pgbin, self.work, PG_SETTINGS)
        self.facts["postgres"] = self.pg.version()
        say(f"PostgreSQL {self.facts['postgres']} on port {self.pg.port}; generating the database "
            f"(scale {self.args.scale})")
        start = time.monotonic()
        self.pg.psql("postgres", "CREATE DATABASE stgy")
        self.pg.psql("stgy", file=REPO / "bench" / "dataset.sql",
                     variables={"scale": str(self.args.scale), "seed": str(self.args.seed / 1000)})
        self.facts["db_generate_secs"] = time.monotonic() - start
        self.facts["db_size"] = int(self.pg.psql("stgy", "SELECT pg_database_size('stgy')"))
        self.facts["db_rows"] = self.row_counts("stgy")
        self.pg.psql("stgy", "CHECKPOINT")
        say(f"database: {self.facts['db_size'] / 2**20:.0f} MiB, {self.facts['db_rows']}")

    def row_counts(self, db: str) -> dict[str, int]:
        tables = ["users", "posts", "post_tags", "post_likes", "user_follows", "notifications"]
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM app.{t}" for t in tables)
        return {line.split("|")[0]: int(line.split("|")[1])
                for line in self.pg.psql(db, sql).split()}

    def pg_dump_major(self) -> int:
        out = subprocess.run([str(self.pgbin / "pg_dump"), "--version"], capture_output=True,
                             text=True).stdout
        return int(out.split()[-1].split(".")[0])

    def dumps(self) -> None:
        say("database dumps")
        pg_dump = str(self.pgbin / "pg_dump")
        # round 1's generation of each fullsite method, for the restores
        self.archive_roots: dict[str, Path] = {}

        def fullsite(method: str | None):
            tool = "fullsite" if method is None else f"fullsite {method}"

            def action(r: int) -> Run:
                root = self.work / f"dump-{tool.replace(' ', '-').replace(':', '')}-{r}"
                argv = [str(self.fullsite), "backup", "--no-objects", "--name", "bench"]
                if method is not None:
                    argv += ["--compress", method]
                run = measure(tool, r, argv, self.fullsite_env(root), self.log, self.pg.cpu,
                              self.work)
                run.size = tree_bytes(root / "bench" / "db")[0]
                self.keep_first_round(r, root, self.work / f"archive-{tool.replace(' ', '-')}")
                if r == 0:
                    self.archive_roots[tool] = self.work / f"archive-{tool.replace(' ', '-')}"
                return run
            return tool, action

        def pg_dump_fc(r: int) -> Run:
            out = self.work / "legacy.dump"
            run = measure("pg_dump -Fc", r, [pg_dump, "-Fc", "--no-owner", "--no-privileges",
                                             "-f", str(out), "stgy"], self.pg_env(), self.log,
                          self.pg.cpu, self.work)
            run.size = out.stat().st_size
            out.unlink()
            return run

        def pg_dump_fd(tool: str, compress: str):
            def action(r: int) -> Run:
                out = self.work / "pgdump-dir"
                run = measure(tool, r, [pg_dump, "-Fd", "-j", "2", f"--compress={compress}",
                                        "--no-owner", "--no-privileges", "-f", str(out), "stgy"],
                              self.pg_env(), self.log, self.pg.cpu, self.work)
                run.size = tree_bytes(out)[0]
                shutil.rmtree(out)
                return run
            return tool, action

        # pg_dump before 16 takes only a gzip level
        gzip_spec = f"gzip:{GZIP_LEVEL}" if self.pg_dump_major() >= 16 else str(GZIP_LEVEL)
        peers = [("pg_dump -Fc", pg_dump_fc), pg_dump_fd("pg_dump -Fd -j 2", gzip_spec)]
        if self.pg_dump_major() >= 16:
            peers.append(pg_dump_fd("pg_dump -Fd -j 2 zstd", "zstd"))
        ours = [fullsite(None), *(fullsite(m) for m in METHODS)]
        # interleaved, so that a burst of load from the machine's other users hits both sides
        tools = [t for pair in zip(ours, peers + [None] * len(ours)) for t in pair if t]
        for r, _, action in self.alternate(tools):
            self.record("dump", action(r))
        # the gzip default's measurement: each level once, next to pg_dump -Fc's size above
        for level in self.args.gzip_levels:
            _, action = fullsite(f"gzip:{level}")
            self.record("gzip-levels", action(1))

    def restores(self) -> None:
        say("database restores (fullsite: each method's archive; pg_restore: the gzip one)")
        archive = self.archive_roots["fullsite"] / "bench" / "db" / "stgy.dump"
        pg_restore = str(self.pgbin / "pg_restore")
        expected = self.facts["db_rows"]

        def restore(tool: str, argv_for, root: Path | None = None) -> object:
            def action(r: int) -> Run:
                db = f"restore_{r}_{''.join(c for c in tool if c.isalnum())}"
                self.pg.psql("postgres", f"CREATE DATABASE {db}")
                env = self.fullsite_env(root) if root else self.pg_env()
                run = measure(tool, r, argv_for(db), env, self.log, self.pg.cpu, self.work)
                got = self.row_counts(db)
                if got != expected:
                    raise RuntimeError(f"{tool} restored {got}, expected {expected}")
                self.pg.psql("postgres", f"DROP DATABASE {db}")
                return run
            return action

        def fullsite(tool: str):
            return (tool, restore(tool, lambda db: [
                str(self.fullsite), "restore", "--no-objects", "--into-db", db, "bench"],
                self.archive_roots[tool]))

        common = ["--no-owner", "--no-privileges", "--exit-on-error"]
        tools = [
            fullsite("fullsite"),
            *(fullsite(f"fullsite {m}") for m in METHODS if f"fullsite {m}" in self.archive_roots),
            ("pg_restore", restore("pg_restore", lambda db: [
                pg_restore, *common, "-d", db, str(archive)])),
            ("pg_restore -j 2", restore("pg_restore -j 2", lambda db: [
                pg_restore, *common, "-j", "2", "-d", db, str(archive)])),
        ]
        for r, _, action in self.alternate(tools):
            self.record("restore", action(r))

    # -- objects ----------------------------------------------------------------------------------
    def objects(self) -> None:
        images = self.start_objects()
        self.first_mirror()
        change = mutation(images, self.args.seed, self.work / "staging")
        self.rclone("copy", str(self.work / "staging"), "garage:stgy-images", "--transfers", "32")
        (self.work / "deleted.txt").write_text("".join(k + "\n" for k in change.deleted))
        self.rclone("delete", "garage:stgy-images", "--files-from", str(self.work / "deleted.txt"))
        shutil.rmtree(self.work / "staging")
        self.facts["mutation"] = {"replaced": change.replaced, "added": change.added,
                                  "deleted": len(change.deleted)}
        self.incremental(sum(self.facts["objects"].values()) + change.added - len(change.deleted))

    def start_objects(self) -> int:
        """Starts Garage and uploads the corpus (untimed); the number of images."""
        self.s3 = Garage(self.garage_bin, self.work)
        for bucket in BUCKETS:
            self.s3.create_bucket(bucket)
        images = max(100, int(20000 * self.args.scale))
        say(f"Garage on port {self.s3.port}; generating and uploading {images} images")
        corpus = generate(self.work / "corpus", images, self.args.seed)
        start = time.monotonic()
        for bucket in BUCKETS:
            self.rclone("copy", str(corpus.root / bucket), f"garage:{bucket}", "--transfers", "32",
                        "--checkers", "32")
        self.facts["upload_secs"] = time.monotonic() - start
        self.facts["objects"] = corpus.objects
        self.facts["object_bytes"] = corpus.bytes
        self.facts["object_duplicates"] = corpus.duplicates
        shutil.rmtree(corpus.root)
        return images

    def rclone_sync_all(self, dest: Path) -> list[str]:
        """The legacy mirror: one `rclone sync` per bucket, as the script ran `mc mirror`."""
        script = " && ".join(f"rclone sync garage:{b} {dest / b}" for b in BUCKETS)
        return ["sh", "-c", script]

    def first_mirror(self) -> None:
        say("first object mirror")

        def fullsite(r: int) -> Run:
            root = self.work / f"objects-fullsite-{r}"
            run = measure("fullsite", r, [str(self.fullsite), "backup", "--no-db", "--name",
                                          "base"], self.fullsite_env(root), self.log,
                          self.s3.cpu, self.work)
            run.size = tree_bytes(root / "base" / "objects")[0]
            self.keep_first_round(r, root, self.work / "incr-fullsite")
            return run

        def rclone(r: int) -> Run:
            root = self.work / f"objects-rclone-{r}"
            objects = root / "base" / "objects"
            objects.mkdir(parents=True)
            run = measure("rclone sync", r, self.rclone_sync_all(objects), self.rclone_env(),
                          self.log, self.s3.cpu, self.work)
            run.size = tree_bytes(objects)[0]
            self.keep_first_round(r, root, self.work / "incr-legacy")
            return run

        for r, _, action in self.alternate([("fullsite", fullsite), ("rclone sync", rclone)]):
            self.record("objects-first", action(r))

    def incremental(self, expected_files: int) -> None:
        say("object mirror after the 1% change")

        def count_files(path: Path) -> int:
            return sum(len(files) for _, _, files in os.walk(path))

        def fingerprints(path: Path) -> dict[Path, tuple[int, int, int]]:
            return {p: (st.st_ino, st.st_size, st.st_mtime_ns)
                    for d, _, files in os.walk(path) for p in (Path(d) / f for f in files)
                    for st in [p.lstat()]}

        rewritten = self.facts.setdefault("previous_generation_rewritten", {})

        def checked(tool: str, base: Path, action):
            """Runs `action`, counting the files of the previous generation it changed."""
            before = fingerprints(base)
            run = action()
            after = fingerprints(base)
            changed = sum(1 for p, f in before.items() if after.get(p) != f)
            rewritten[tool] = max(rewritten.get(tool, 0), changed)
            return run

        def fullsite(r: int) -> Run:
            root = self.work / "incr-fullsite"
            run = checked("fullsite", root / "base", lambda: measure(
                "fullsite", r, [str(self.fullsite), "backup", "--no-db", "--name", "next"],
                self.fullsite_env(root), self.log, self.s3.cpu, self.work))
            run.size = tree_bytes(root / "base", root / "next")[1]
            files = count_files(root / "next" / "objects")
            if files != expected_files:
                raise RuntimeError(f"fullsite's incremental holds {files} objects, "
                                   f"expected {expected_files}")
            shutil.rmtree(root / "next")
            return run

        def legacy(r: int) -> Run:
            root = self.work / "incr-legacy"
            copy = f"cp -al {root / 'base'} {root / 'next'}"
            sync = self.rclone_sync_all(root / "next" / "objects")[2]
            run = checked("cp -al + rclone sync", root / "base", lambda: measure(
                "cp -al + rclone sync", r, ["sh", "-c", f"{copy} && {sync}"], self.rclone_env(),
                self.log, self.s3.cpu, self.work))
            run.size = tree_bytes(root / "base", root / "next")[1]
            files = count_files(root / "next" / "objects")
            if files != expected_files:
                raise RuntimeError(f"the legacy incremental holds {files} objects, "
                                   f"expected {expected_files}")
            shutil.rmtree(root / "next")
            return run

        def floor_link(r: int) -> Run:
            """The linking floor: `cp -al` of the previous generation's objects tree."""
            previous = self.work / "incr-fullsite" / "base" / "objects"
            copy = self.work / "floor-link"
            run = measure(FLOOR_LINK, r, ["cp", "-al", str(previous), str(copy)],
                          self.base_env(), self.log, self.s3.cpu, self.work)
            run.size = tree_bytes(previous, copy)[1]
            shutil.rmtree(copy)
            return run

        def floor_list(r: int) -> Run:
            """The listing floor: one bare ListObjectsV2 pass over every bucket."""
            env = {**self.base_env(), "AWS_ACCESS_KEY_ID": self.s3.key_id,
                   "AWS_SECRET_ACCESS_KEY": self.s3.key_secret}
            return measure(FLOOR_LIST, r, [sys.executable, str(REPO / "bench" / "list_floor.py"),
                                           self.s3.endpoint(), self.s3.region, *BUCKETS],
                           env, self.log, self.s3.cpu, self.work)

        tools = [("fullsite", fullsite), ("cp -al + rclone sync", legacy),
                 (FLOOR_LINK, floor_link), (FLOOR_LIST, floor_list)]
        for r, _, action in self.alternate(tools):
            self.record("objects-incremental", action(r))

    def listing(self) -> None:
        count = self.args.listing_objects
        if count <= 0:
            return
        if self.s3 is None:
            self.s3 = Garage(self.garage_bin, self.work)
        say(f"listing run: uploading {count} small objects")
        self.s3.create_bucket("stgy-listing")
        tiny(self.work / "tiny", count, self.args.seed)
        self.rclone("copy", str(self.work / "tiny"), "garage:stgy-listing", "--transfers", "64",
                    "--checkers", "64")
        shutil.rmtree(self.work / "tiny")
        root = self.work / "listing"
        for r, name in enumerate(["first", "again"]):
            run = measure(f"fullsite ({name})", 0, [str(self.fullsite), "backup", "--no-db",
                                                     "--name", name],
                          self.fullsite_env(root, ["stgy-listing"]), self.log, self.s3.cpu,
                          self.work)
            run.size = tree_bytes(*(root / n for n in ["first", "again"][: r + 1]))[r]
            self.record("listing", run)
        self.facts["listing_objects"] = count
        shutil.rmtree(root)

    def stop(self) -> None:
        for server in (self.pg, self.s3):
            if server:
                server.stop()


def tool_versions(bench: Bench) -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True).stdout
            return out.splitlines()[0] if out else "?"
        except OSError:
            return "not found"
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {"fullsite": f"{first_line([str(bench.fullsite), '--version'])} ({rev})",
            "pg_dump": first_line([str(bench.pgbin / "pg_dump"), "--version"]),
            "rclone": first_line(["rclone", "version"]),
            "garage": first_line([str(bench.garage_bin), "--version"])}


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo")
               if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{mem / 2**20:.0f} GiB",
            "kernel": platform.release()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="dataset size: 1 is about 1 GB of database and 20k images")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each tool")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--listing-objects", type=int, default=None,
                        help="objects in the listing run's bucket (default 200000 x scale; 0 skips)")
    parser.add_argument("--only", choices=["db", "objects", "listing", "offsite"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--gzip-levels", type=lambda t: [int(x) for x in t.split(",") if x],
                        default=[], help="also dump once at each of these gzip levels (1,2,...)")
    parser.add_argument("--out", type=Path, help="report path (default bench/results/scale-S.md)")
    parser.add_argument("--work", type=Path, help="work directory (default: a new one in /var/tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--fullsite-only", action="store_true",
                        help="skip the peers (for profiling fullsite; the report has no ratios)")
    parser.add_argument("--from-json", type=Path,
                        help="only rewrite the report from the raw runs of an earlier run")
    args = parser.parse_args()
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        runs = {g: [Run(**r) for r in rs] for g, rs in raw["runs"].items()}
        write_report(args.out or args.from_json.with_suffix(".md"), raw["meta"], runs)
        return 0
    if args.listing_objects is None:
        args.listing_objects = int(200000 * args.scale)
    parts = args.only or ["db", "objects", "listing", "offsite"]
    out = args.out or REPO / "bench" / "results" / f"scale-{args.scale:g}.md"
    if args.work:
        args.work.mkdir(parents=True)
        work = args.work
    else:
        work = Path(tempfile.mkdtemp(prefix="fullsite-bench-", dir="/var/tmp"))
    work.chmod(0o755)
    bench = Bench(args, work)
    started = datetime.datetime.now(datetime.timezone.utc)
    say(f"work directory {work}; commands log {bench.log}")
    try:
        if "db" in parts:
            bench.database()
        if "objects" in parts:
            bench.objects()
        if "listing" in parts:
            bench.listing()
        if "offsite" in parts:
            offsite(bench)
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    meta = {"started": started.isoformat(timespec="seconds"), "scale": args.scale,
            "rounds": args.rounds, "seed": args.seed, "parts": parts,
            "machine": machine(), "versions": tool_versions(bench), "facts": bench.facts,
            "pg_settings": PG_SETTINGS, "gzip_level": GZIP_LEVEL,
            "minutes": (datetime.datetime.now(datetime.timezone.utc) - started).seconds / 60}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "runs": {g: [r.as_dict() for r in rs] for g, rs in bench.runs.items()}},
        indent=1) + "\n")
    write_report(out, meta, bench.runs)
    say(f"report: {out} (raw runs: {out.with_suffix('.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
