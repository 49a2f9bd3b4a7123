"""The offsite comparison: `fullsite offsite push / pull / verify` against rclone's crypt remote.

One complete generation (database and objects, as the nightly backup leaves it) is copied to
a second Garage bucket, pulled back into an empty root and verified there, each `--rounds`
times with the order alternating. The peer is rclone with a `crypt` remote over the same
Garage (client-side encryption, as fullsite's repository): `rclone copy` up, `rclone copy`
down, `rclone check --download` (which reads every byte back, as `offsite verify` does); rclone
gets `--transfers 8`, fullsite's default.
Each round uses its own prefix, so every push starts from an empty repository; a second
`offsite push` per round (nothing to upload) is timed on its own.

Recorded beside the runs: the generation's local size (`du`, hard links once) and what each
tool stored in the target bucket (every object under its prefix, listed with rclone).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from measure import Run, measure, tree_bytes

TARGET_BUCKET = "stgy-offsite"
PASSPHRASE = "bench offsite passphrase"


def stored_bytes(bench, prefix: str) -> int:
    out = subprocess.run(["rclone", "size", "--json", f"garage:{TARGET_BUCKET}/{prefix}"],
                         env=bench.rclone_env(), check=True, capture_output=True, text=True)
    return int(json.loads(out.stdout)["bytes"])


def crypt_env(bench, prefix: str) -> dict[str, str]:
    """rclone's remote `vault:`: crypt over `garage:BUCKET/prefix` (names and content)."""
    obscured = subprocess.run(["rclone", "obscure", PASSPHRASE], check=True, capture_output=True,
                              text=True).stdout.strip()
    return {**bench.rclone_env(), "RCLONE_CONFIG_VAULT_TYPE": "crypt",
            "RCLONE_CONFIG_VAULT_REMOTE": f"garage:{TARGET_BUCKET}/{prefix}",
            "RCLONE_CONFIG_VAULT_PASSWORD": obscured}


def offsite(bench) -> None:
    """Times push, second push, pull and verify of one full generation (see the module doc)."""
    if bench.pg is None:
        bench.start_database()
    if bench.s3 is None:
        bench.start_objects()
    bench.s3.create_bucket(TARGET_BUCKET)
    root = bench.work / "offsite-root"
    subprocess.run([str(bench.fullsite), "backup", "--name", "site"], env=bench.fullsite_env(root),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generation = root / "site"
    bench.facts["offsite_local_bytes"] = tree_bytes(generation)[0]
    bench.facts["offsite_local_files"] = sum(len(f) for _, _, f in os.walk(generation))
    stored = bench.facts.setdefault("offsite_stored_bytes", {})

    def fullsite_env(r: int, root_dir: Path) -> dict[str, str]:
        return {**bench.fullsite_env(root_dir), "FULLSITE_OFFSITE_URL": f"s3://{TARGET_BUCKET}/fs{r}",
                "FULLSITE_OFFSITE_S3_ENDPOINT": bench.s3.endpoint(),
                "FULLSITE_OFFSITE_S3_REGION": bench.s3.region,
                "FULLSITE_OFFSITE_S3_ACCESS_KEY_ID": bench.s3.key_id,
                "FULLSITE_OFFSITE_S3_SECRET_ACCESS_KEY": bench.s3.key_secret,
                "FULLSITE_OFFSITE_PASSPHRASE": PASSPHRASE}

    def timed(group: str, tool: str, r: int, argv: list[str], env: dict[str, str]) -> Run:
        run = measure(tool, r, argv, env, bench.log, bench.s3.cpu, bench.work)
        bench.record(group, run)
        return run

    def fullsite(r: int) -> None:
        env = fullsite_env(r, root)
        push = timed("offsite-push", "fullsite", r, [str(bench.fullsite), "offsite", "push",
                                                      "--all"], env)
        push.size = stored[f"fullsite-{r}"] = stored_bytes(bench, f"fs{r}")
        timed("offsite-repush", "fullsite", r, [str(bench.fullsite), "offsite", "push", "--all"],
              env)
        pulled = bench.work / f"offsite-pulled-{r}"
        run = timed("offsite-pull", "fullsite", r, [str(bench.fullsite), "offsite", "pull",
                                                     "--root", str(pulled), "site"],
                    fullsite_env(r, pulled))
        run.size = tree_bytes(pulled / "site")[0]
        subprocess.run([str(bench.fullsite), "verify", "--root", str(pulled), "site"],
                       env=bench.fullsite_env(pulled), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(pulled)
        timed("offsite-verify", "fullsite", r, [str(bench.fullsite), "offsite", "verify", "site"],
              env)

    def rclone(r: int) -> None:
        env = crypt_env(bench, f"rc{r}")
        push = timed("offsite-push", "rclone crypt", r, ["rclone", "copy", "--transfers", "8",
                                                          str(generation), "vault:"], env)
        push.size = stored[f"rclone-{r}"] = stored_bytes(bench, f"rc{r}")
        pulled = bench.work / f"rclone-pulled-{r}"
        run = timed("offsite-pull", "rclone crypt", r, ["rclone", "copy", "--transfers", "8",
                                                         "vault:", str(pulled)], env)
        run.size = tree_bytes(pulled)[0]
        shutil.rmtree(pulled)
        timed("offsite-verify", "rclone crypt", r, ["rclone", "check", "--download",
                                                     "--transfers", "8", str(generation),
                                                     "vault:"], env)

    for r, _, action in bench.alternate([("fullsite", fullsite), ("rclone crypt", rclone)]):
        action(r)
