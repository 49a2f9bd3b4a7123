"""The Markdown report: setting, dataset, the targets met or missed, and a table per comparison.

A hand-written analysis kept beside the report as `<report>.notes.md` (targets missed, the
profiles and the changes they led to) is appended, so regenerating keeps it.

Every figure is a median over the rounds, with the range beside it; ratios are the peer's
median wall time over fullsite's, so "3.0×" means fullsite took a third of the time.
"""

import statistics
from pathlib import Path

from measure import Run

SECTIONS = {
    "dump": "Database dump (`fullsite` is gzip at the default level; speed and size against "
            "`pg_dump -Fc`)",
    "gzip-levels": "gzip levels (one round each; speed and size against `pg_dump -Fc` above)",
    "restore": "Database restore (into an empty database; `fullsite X` reads its own method's "
               "archive, the others fullsite's gzip one; speed against `fullsite`)",
    "objects-first": "Objects, first backup (into an empty directory)",
    "objects-incremental": "Objects, after a 1% change (next to the first backup)",
    "listing": "Listing run (fullsite only: memory with many objects)",
    "offsite-push": "Offsite push of one full generation (encrypted; into an empty repository)",
    "offsite-repush": "Offsite push again (nothing new to upload)",
    "offsite-pull": "Offsite pull into an empty root",
    "offsite-verify": "Offsite verify (every stored byte read back and checked)",
}
MIB = 2**20


def by_tool(runs: list[Run]) -> dict[str, list[Run]]:
    tools: dict[str, list[Run]] = {}
    for run in runs:
        tools.setdefault(run.tool, []).append(run)
    return tools


def med(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


def ratio(runs: dict[str, list[Run]], peer: str, field: str = "wall",
          ours: str = "fullsite") -> float | None:
    if peer not in runs or ours not in runs:
        return None
    return med(runs[peer], field) / med(runs[ours], field)


FLOOR_LINK = "floor: cp -al of the previous objects"
FLOOR_LIST = "floor: one ListObjectsV2 pass"


def floor_ratio(tools: dict[str, list[Run]]) -> float | None:
    """fullsite's median incremental wall over the floor's: the median `cp -al` of the previous
    objects tree plus the median bare listing of every bucket."""
    if not all(t in tools for t in ("fullsite", FLOOR_LINK, FLOOR_LIST)):
        return None
    return med(tools["fullsite"], "wall") / (med(tools[FLOOR_LINK], "wall")
                                             + med(tools[FLOOR_LIST], "wall"))


def seconds(runs: list[Run], field: str) -> str:
    values = [getattr(r, field) for r in runs]
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def table(group: list[Run], base: list[Run] | None = None, base_name: str = "") -> list[str]:
    """Without `base`: each peer's wall over fullsite's. With it: each tool's speed (base wall
    over the tool's) and size (the tool's over the base's) against `base_name`'s runs."""
    tools = by_tool(group)
    last = (f"faster than {base_name} | size vs {base_name} |" if base is not None
            else "fullsite faster by |")
    lines = [f"| tool | wall | CPU (user+sys) | server CPU | peak RSS | output | {last}",
             "|---|---|---|---|---|---|---|" + ("---|" if base is not None else "")]
    for tool, runs in tools.items():
        sizes = [r.size for r in runs if r.size is not None]
        size = f"{statistics.median(sizes) / MIB:.1f} MiB" if sizes else "–"
        row = (f"| {tool} | {seconds(runs, 'wall')} | {seconds(runs, 'cpu')} | "
               f"{seconds(runs, 'server_cpu')} | {max(x.rss_mb for x in runs):.0f} MiB | {size} | ")
        if base is not None:
            speed = med(base, "wall") / med(runs, "wall")
            base_sizes = [r.size for r in base if r.size is not None]
            by_size = (f"{statistics.median(sizes) / statistics.median(base_sizes):.3f}×"
                       if sizes and base_sizes else "–")
            lines.append(row + f"{speed:.2f}× | {by_size} |")
        else:
            r = ratio(tools, tool) if tool != "fullsite" and not tool.startswith("floor") else None
            lines.append(row + f"{f'{r:.2f}×' if r else '–'} |")
    return lines


def targets(runs: dict[str, list[Run]]) -> list[str]:
    rows = []

    def row(name: str, value: float | None, goal: float, fmt: str, higher_is_better: bool = True):
        if value is None:
            return
        met = value >= goal if higher_is_better else value <= goal
        rows.append(f"| {name} | {fmt.format(value)} | {'met' if met else '**missed**'} |")

    dump = by_tool(runs.get("dump", []))
    row("DB dump ≥ 3× faster than `pg_dump -Fc`", ratio(dump, "pg_dump -Fc"), 3, "{:.2f}×")
    row("DB dump ≥ 3× faster than `pg_dump -Fd -j 2`", ratio(dump, "pg_dump -Fd -j 2"), 3,
        "{:.2f}×")
    if "fullsite" in dump and "pg_dump -Fd -j 2" in dump:
        size = 1 / ratio(dump, "pg_dump -Fd -j 2", "size")
        row("archive ≤ 1.05× the size of `pg_dump -Fd` at the same gzip level", size, 1.05,
            "{:.3f}×", higher_is_better=False)
    for ours, speed, size in (("fullsite zstd", 6, 0.9), ("fullsite", 3.5, 1.0)):
        label = "zstd (default level)" if ours != "fullsite" else "gzip (default level)"
        row(f"{label} dump ≥ {speed}× faster than `pg_dump -Fc`",
            ratio(dump, "pg_dump -Fc", ours=ours), speed, "{:.2f}×")
        by_size = ratio(dump, "pg_dump -Fc", "size", ours=ours)
        row(f"{label} archive ≤ {size}× the size of `pg_dump -Fc`'s",
            1 / by_size if by_size else None, size, "{:.3f}×", higher_is_better=False)
    restore = by_tool(runs.get("restore", []))
    for method in ("zstd", "lz4", "none"):
        row(f"restore of the {method} archive at least as fast as of the gzip one",
            ratio(restore, "fullsite", ours=f"fullsite {method}"), 1.0, "{:.2f}×")
    row("DB restore ≥ 1.2× faster than `pg_restore -j 2`", ratio(restore, "pg_restore -j 2"), 1.2,
        "{:.2f}×")
    first = by_tool(runs.get("objects-first", []))
    row("first object backup ≥ 3× faster than `rclone sync`", ratio(first, "rclone sync"), 3,
        "{:.2f}×")
    incr = by_tool(runs.get("objects-incremental", []))
    row("1% incremental ≥ 20× faster than `cp -al` + `rclone sync`",
        ratio(incr, "cp -al + rclone sync"), 20, "{:.2f}×")
    row("1% incremental ≤ 1.5× its floor (`cp -al` of the previous objects + one listing)",
        floor_ratio(incr), 1.5, "{:.2f}×", higher_is_better=False)
    fullsite_rss = [r.rss_mb for g in ("dump", "gzip-levels", "restore", "objects-first",
                                       "objects-incremental")
                    for r in runs.get(g, []) if r.tool.startswith("fullsite")]
    if fullsite_rss:
        row("peak RSS ≤ 200 MiB in every fullsite run above", max(fullsite_rss), 200, "{:.0f} MiB",
            higher_is_better=False)
    if runs.get("listing"):
        row("peak RSS ≤ 200 MiB backing up the listing bucket",
            max(r.rss_mb for r in runs["listing"]), 200, "{:.0f} MiB", higher_is_better=False)
    return ["| target | measured | |", "|---|---|---|", *rows]


def write_report(out: Path, meta: dict, runs: dict[str, list[Run]]) -> None:
    m, v, f = meta["machine"], meta["versions"], meta["facts"]
    lines = [
        f"# fullsite benchmark: scale {meta['scale']:g}, {meta['rounds']} rounds",
        "",
        f"Generated by `bash bench/run.sh --scale {meta['scale']:g} --rounds {meta['rounds']}` "
        f"on {meta['started']} in {meta['minutes']:.0f} minutes. Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory']}, Linux {m['kernel']}; servers, tools and fullsite "
        "share these cores.",
        "",
        *(f"- {name}: {version}" for name, version in v.items()),
        "",
        "Order alternates by round (fullsite first in odd-numbered rounds, last in the others). "
        "Wall is the median with the range over the rounds; CPU is the tool's own user + system "
        "time, children included; server CPU is what PostgreSQL (backends included) or Garage "
        "spent meanwhile; peak RSS is the largest process's, worst round.",
        "",
        "## Dataset",
        "",
    ]
    if "db_size" in f:
        rows = ", ".join(f"{t} {n:,}" for t, n in f["db_rows"].items())
        lines += [f"- Database (`bench/dataset.sql`, seed {meta['seed']}): "
                  f"{f['db_size'] / MIB:,.0f} MiB on disk (`pg_database_size`), generated in "
                  f"{f['db_generate_secs']:.0f} s. Rows: {rows}. PostgreSQL {f['postgres']} with "
                  + ", ".join(f"`{k}={v}`" for k, v in meta["pg_settings"].items())
                  + f"; `pg_dump -Fd -j 2` at gzip level {meta['gzip_level']}."]
    if "objects" in f:
        counts = ", ".join(f"{b} {n:,}" for b, n in f["objects"].items())
        mut = f.get("mutation")
        change = (f" The 1% change: {mut['replaced']} replaced, {mut['added']} added, "
                  f"{mut['deleted']} deleted." if mut else "")
        lines += [f"- Objects (`bench/corpus.py`): {counts} ({f['object_bytes'] / MIB:,.0f} MiB, "
                  f"random bytes of 2–120 KiB, {f['object_duplicates']:,} objects repeat "
                  f"another's bytes), uploaded in {f['upload_secs']:.0f} s.{change}"]
    if "offsite_local_bytes" in f:
        local = f["offsite_local_bytes"]
        stored = ", ".join(f"{k} {v / MIB:,.1f} MiB" for k, v in f["offsite_stored_bytes"].items())
        lines += [f"- Offsite: one full generation, {f['offsite_local_files']:,} files, "
                  f"{local / MIB:,.1f} MiB locally (`du`, hard links once); stored in the target "
                  f"bucket per round: {stored}."]
    if "listing_objects" in f:
        lines += [f"- Listing run: one bucket of {f['listing_objects']:,} objects of 64 bytes, "
                  "backed up twice (the second run finds everything unchanged)."]
    goals = targets(runs)
    if len(goals) > 2:  # a header and its rule, then one row per target measured
        lines += ["", "## Targets", "", *goals, ""]
    else:
        lines += [""]
    fc = [r for r in runs.get("dump", []) if r.tool == "pg_dump -Fc"]
    ours = [r for r in runs.get("restore", []) if r.tool == "fullsite"]
    bases = {"dump": (fc, "`pg_dump -Fc`"), "gzip-levels": (fc, "`pg_dump -Fc`"),
             "restore": (ours, "`fullsite`")}
    for group, title in SECTIONS.items():
        if runs.get(group):
            base, name = bases.get(group, (None, ""))
            lines += [f"## {title}", "", *table(runs[group], base or None, name), ""]
        incr = by_tool(runs.get("objects-incremental", []))
        if group == "objects-incremental" and floor_ratio(incr):
            link, listing = med(incr[FLOOR_LINK], "wall"), med(incr[FLOOR_LIST], "wall")
            lines += [f"The floor (issue 20): linking every unchanged file, `cp -al` of the "
                      f"previous generation's `objects/` ({link:.2f} s), plus one bare "
                      f"ListObjectsV2 pass over every bucket, pages in sequence "
                      f"(`bench/list_floor.py`, {listing:.2f} s): {link + listing:.2f} s. "
                      f"fullsite's incremental takes {floor_ratio(incr):.2f}× that.", ""]
        if group == "objects-incremental" and f.get("previous_generation_rewritten"):
            counts = ", ".join(f"{tool} {n}" for tool, n in f["previous_generation_rewritten"].items())
            lines += ["Files of the previous generation changed (size, mtime or inode) by the run, "
                      f"worst round: {counts}.", ""]
        if (group.startswith("offsite-") and group != "offsite-repush" and runs.get(group)
                and "offsite_local_bytes" in f):
            rates = ", ".join(f"{tool} {f['offsite_local_bytes'] / MIB / med(rs, 'wall'):,.1f} MiB/s"
                              for tool, rs in by_tool(runs[group]).items())
            lines += [f"Throughput (the generation's local size over the median wall): {rates}.", ""]
    notes = out.with_suffix(".notes.md")
    if notes.exists():  # the hand-written analysis of this report's figures
        lines += [f"## Analysis (from `{notes.name}`)", "", notes.read_text().rstrip(), ""]
    out.write_text("\n".join(lines))
