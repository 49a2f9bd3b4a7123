"""The benchmark's object corpus: files written locally, then uploaded with rclone.

Deterministic from the seed: the same keys, sizes and bytes every run. Object bodies are random
bytes (incompressible, like JPEG/PNG media) of 2 KB to 120 KB; about 3% of the image keys repeat
the bytes of an earlier image (the same picture posted twice), and profile avatars share a few
default pictures, so deduplication by content has something to find. The 1% mutation replaces
0.5% of the images with new bytes, adds 0.3% and deletes 0.2%.
"""

import random
from dataclasses import dataclass
from pathlib import Path

MIN_SIZE = 2 * 1024
MAX_SIZE = 120 * 1024


@dataclass
class Corpus:
    """What was uploaded, by bucket."""

    root: Path  # local copy: root/<bucket>/<key>
    objects: dict[str, int]  # bucket -> object count
    bytes: int
    duplicates: int  # objects whose bytes another object already has


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def image_key(i: int) -> str:
    return f"posts/{2024 + i % 3}/{1 + i % 12:02}/{i:07}-{(i * 2654435761) % 2**32:08x}.jpg"


def generate(root: Path, images: int, seed: int) -> Corpus:
    """stgy-images (`images` objects) and stgy-profiles (one avatar per 20 images)."""
    rng = random.Random(seed)
    total = duplicates = 0
    bodies: list[bytes] = []
    for i in range(images):
        if bodies and rng.random() < 0.03:
            data = rng.choice(bodies)
            duplicates += 1
        else:
            data = rng.randbytes(rng.randint(MIN_SIZE, MAX_SIZE))
            if len(bodies) < 64:
                bodies.append(data)
        _write(root / "stgy-images" / image_key(i), data)
        total += len(data)
    defaults = [rng.randbytes(rng.randint(MIN_SIZE, 16 * 1024)) for _ in range(4)]
    avatars = max(1, images // 20)
    for u in range(avatars):
        if u % 4 == 0:  # a quarter keep one of the default pictures
            data = defaults[(u // 4) % len(defaults)]
            duplicates += u // 4 >= len(defaults)
        else:
            data = rng.randbytes(rng.randint(MIN_SIZE, 64 * 1024))
        _write(root / "stgy-profiles" / f"user{u:06}/avatar.png", data)
        total += len(data)
    return Corpus(root, {"stgy-images": images, "stgy-profiles": avatars}, total, duplicates)


@dataclass
class Mutation:
    """The 1% change: images replaced with new bytes, added, and deleted (by key)."""

    replaced: int
    added: int
    deleted: list[str]

    def changed(self) -> int:
        return self.replaced + self.added + len(self.deleted)


def mutation(images: int, seed: int, staging: Path) -> Mutation:
    """Writes the replaced and the added images under staging/<key>."""
    rng = random.Random(seed + 1)
    keys = list(range(images))
    rng.shuffle(keys)
    replaced = keys[: max(1, images // 200)]
    deleted = keys[len(replaced): len(replaced) + max(1, images // 500)]
    added = range(images, images + max(1, images * 3 // 1000))
    for i in [*replaced, *added]:
        _write(staging / image_key(i), rng.randbytes(rng.randint(MIN_SIZE, MAX_SIZE)))
    return Mutation(len(replaced), len(added), [image_key(i) for i in deleted])


def tiny(root: Path, count: int, seed: int) -> None:
    """`count` small objects (64 bytes) for the listing run: object count, not bytes, dominates."""
    rng = random.Random(seed + 2)
    for i in range(count):
        _write(root / f"n/{i % 1000:03}/{i:08}.bin", rng.randbytes(64))
