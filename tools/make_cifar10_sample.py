"""Build the CIFAR-10 sample that ships inside the package (``--data cifar10-sample``).

    python tools/make_cifar10_sample.py ../shared/data/cifar10-jpeg.tar.gz

Takes a fixed, stratified random choice of files (500 train and 100 test images per
class, seed 0) from a CIFAR-10 archive of JPEG class folders and writes them,
byte for byte, to ``src/resdepth/data/cifar10_sample.tar.gz``.  The same input gives
the same output: members are sorted, and their times and owners are fixed.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import tarfile
from pathlib import Path

PER_CLASS = {"train": 500, "test": 100}
OUT = Path(__file__).resolve().parents[1] / "src" / "resdepth" / "data" / "cifar10_sample.tar.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="CIFAR-10 as train/ and test/ JPEG folders")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    files: dict[tuple[str, str], dict[str, bytes]] = {}
    with tarfile.open(args.archive, "r|*") as tf:
        for member in tf:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) == 3 and parts[0] in PER_CLASS:
                handle = tf.extractfile(member)
                assert handle is not None
                files.setdefault((parts[0], parts[1]), {})[parts[2]] = handle.read()
    rng = random.Random(0)
    chosen = []
    for (split, cls), members in sorted(files.items()):
        for name in sorted(rng.sample(sorted(members), PER_CLASS[split])):
            chosen.append((f"cifar10-sample/{split}/{cls}/{name}", members[name]))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as out:
        for name, data in chosen:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            out.addfile(info, io.BytesIO(data))
    args.out.write_bytes(gzip.compress(raw.getvalue(), compresslevel=9, mtime=0))
    print(f"wrote {len(chosen)} images, {args.out.stat().st_size / 1e6:.2f} MB, to {args.out}")


if __name__ == "__main__":
    main()
