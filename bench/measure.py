"""Running one command and measuring it: wall time, CPU, peak RSS, and the server CPU it caused.

The command runs as a child of this process and is reaped with wait4(2), whose rusage covers
the child and every descendant it waited for (pg_dump -j's workers, rclone under sh): CPU is
user + system of all of them. Peak RSS, the largest single process among them, comes from GNU
time (`/usr/bin/time -f %M`) run between this process and the command: a child of this Python
process starts with its parent's resident pages counted (`true` spawned from a Python holding
200 MiB reports 214 MiB), so wait4's own figure would be this process's size, not the tool's.
Server CPU is the
growth of the server's own CPU plus its children's (PostgreSQL backends are children of the
postmaster) across the run, read from /proc after a short settle so that the backends which
served the command have exited and been reaped.
"""

import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

# GNU time (Debian's `time` package; bench/run.sh installs it): the peak RSS of the command.
GNU_TIME = "/usr/bin/time"


@dataclass
class Run:
    tool: str
    round: int
    wall: float  # seconds
    cpu: float  # seconds, user + system, the command and its children
    server_cpu: float  # seconds used by the server (PostgreSQL or Garage) meanwhile
    rss_mb: float  # peak resident set of the largest process, MiB
    size: int | None  # bytes of output (hard links counted once), when it makes one

    def as_dict(self) -> dict:
        return asdict(self)


class CommandFailed(RuntimeError):
    pass


def measure(tool: str, round_: int, argv: list[str], env: dict[str, str], log: Path,
            server_cpu: Callable[[], float], cwd: Path) -> Run:
    before = server_cpu()
    with open(log, "ab") as out:
        out.write(f"\n=== {tool} (round {round_ + 1}): {' '.join(argv)}\n".encode())
        out.flush()
        rss_file = cwd / ".peak-rss"
        timed = [GNU_TIME, "-q", "-f", "%M", "-o", str(rss_file), *argv]
        start = time.monotonic()
        child = subprocess.Popen(timed, env=env, stdout=out, stderr=out, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(0.5)
    if child.returncode != 0:
        raise CommandFailed(f"{tool} exited with {child.returncode}; its output is in {log}")
    rss_kib = int(rss_file.read_text().split()[-1])
    rss_file.unlink()
    return Run(tool, round_, wall, usage.ru_utime + usage.ru_stime, server_cpu() - before,
               rss_kib / 1024, None)


def tree_bytes(*roots: Path) -> list[int]:
    """Apparent bytes of regular files under each root, a hard-linked file counted once overall
    (the first root that reaches it is charged), as `du -sb --apparent-size A B` does."""
    seen: set[tuple[int, int]] = set()
    totals = []
    for root in roots:
        total = 0
        paths = [root] if root.is_file() else (
            Path(d) / f for d, _, files in os.walk(root) for f in files)
        for path in paths:
            st = path.lstat()
            if (st.st_dev, st.st_ino) not in seen and path.is_file():
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        totals.append(total)
    return totals

