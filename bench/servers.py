"""Throwaway PostgreSQL and Garage servers for the benchmarks, on free loopback ports.

Both live in the benchmark's work directory and are stopped by `stop()` (the driver calls it
from a `finally`). Each reports the CPU time it has used so far, children included, so a
measurement can charge a command for the server work it caused.
"""

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid: int, with_children: bool) -> float:
    """Seconds of CPU used by `pid` (user + system), plus its reaped children's if asked."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def tree_cpu(pid: int) -> float:
    """CPU of a server process, its live children, and every child it has reaped."""
    total = process_cpu(pid, with_children=True)
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            total += process_cpu(int(child), with_children=True)
        except FileNotFoundError:
            pass  # exited between the listing and the read; its time is in cutime next read
    return total


def as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Postgres:
    """A PostgreSQL cluster with password (scram) auth on 127.0.0.1."""

    user = "bench"

    def __init__(self, bindir: Path, work: Path, settings: dict[str, str]):
        self.bindir = bindir
        self.dir = work / "pg"
        self.data = self.dir / "data"
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.dir.mkdir(mode=0o755)
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            as_postgres([str(bindir / "initdb"), "-D", str(self.data), "-U", self.user,
                         f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8",
                         "--locale=C.UTF-8", "--no-sync"]),
            check=True, cwd=self.dir, stdout=subprocess.DEVNULL)
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.dir}"]
        options += [f"-c {k}={v}" for k, v in settings.items()]
        subprocess.run(
            as_postgres([str(bindir / "pg_ctl"), "-D", str(self.data), "-l",
                         str(self.dir / "server.log"), "-w", "-o", " ".join(options), "start"]),
            check=True, cwd=self.dir, stdout=subprocess.DEVNULL)
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def env(self) -> dict[str, str]:
        """libpq variables for the peers (pg_dump, pg_restore, psql)."""
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password}

    def psql(self, db: str, sql: str | None = None, file: Path | None = None,
             variables: dict[str, str] | None = None) -> str:
        argv = [str(self.bindir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db]
        for k, v in (variables or {}).items():
            argv += ["-v", f"{k}={v}"]
        argv += ["-c", sql] if sql is not None else ["-f", str(file)]
        env = {**os.environ, **self.env()}
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"psql -d {db} failed: {done.stderr.strip()}")
        return done.stdout

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def version(self) -> str:
        return self.psql("postgres", "SHOW server_version").strip()

    def stop(self) -> None:
        subprocess.run(as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                                    "fast", "stop"]), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=self.dir)


class Garage:
    """A single-node Garage with one key allowed on every bucket it creates."""

    region = "garage"

    def __init__(self, binary: Path, work: Path):
        self.binary = binary
        self.dir = work / "garage"
        self.dir.mkdir()
        self.port = free_port()
        rpc, admin = free_port(), free_port()
        secret = secrets.token_hex(32)
        self.config = self.dir / "garage.toml"
        self.config.write_text(f"""metadata_dir = "{self.dir}/meta"
data_dir = "{self.dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"
[s3_api]
s3_region = "{self.region}"
api_bind_addr = "127.0.0.1:{self.port}"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{secret}"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GARAGE_")}
        self.process = subprocess.Popen(
            [str(binary), "-c", str(self.config), "server"],
            env={**env, "RUST_LOG": "warn"}, stdout=open(self.dir / "garage.log", "w"),
            stderr=subprocess.STDOUT)
        self.key_id = "GK" + secrets.token_hex(12)
        self.key_secret = secrets.token_hex(32)
        deadline = time.monotonic() + 30
        while self.cli("status", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"garage did not start; see {self.dir / 'garage.log'}")
            time.sleep(0.2)
        node = self.cli("node", "id", "-q").stdout.split("@")[0]
        self.cli("layout", "assign", "-z", "dc1", "-c", "100G", node)
        self.cli("layout", "apply", "--version", "1")
        while self.cli("key", "import", "--yes", self.key_id, self.key_secret, "-n", "bench",
                       check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("garage did not accept the key")
            time.sleep(0.2)
        self.cli("key", "allow", "--create-bucket", "bench")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary), "-c", str(self.config), *args], check=check,
                              capture_output=True, text=True, env={**os.environ, "RUST_LOG": "error"})

    def create_bucket(self, name: str) -> None:
        self.cli("bucket", "create", name)
        self.cli("bucket", "allow", "--read", "--write", "--owner", name, "--key", "bench")

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rclone_env(self) -> dict[str, str]:
        """rclone's remote `garage:` from environment variables (no config file)."""
        return {"RCLONE_CONFIG_GARAGE_TYPE": "s3", "RCLONE_CONFIG_GARAGE_PROVIDER": "Other",
                "RCLONE_CONFIG_GARAGE_ACCESS_KEY_ID": self.key_id,
                "RCLONE_CONFIG_GARAGE_SECRET_ACCESS_KEY": self.key_secret,
                "RCLONE_CONFIG_GARAGE_ENDPOINT": self.endpoint(),
                "RCLONE_CONFIG_GARAGE_REGION": self.region,
                "RCLONE_CONFIG_GARAGE_FORCE_PATH_STYLE": "true"}

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
