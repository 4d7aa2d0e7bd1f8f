"""Unpack the offline dataset copies (when present) into data/, checksum first.

Used by ``make data``: on machines that cannot reach the datasets' home servers, ``../shared/data`` holds
an ImageFolder copy of CIFAR-10 and a 1,000-image ImageNet sample. Each archive is verified against its
published sha256 and unpacked into a temporary folder that is renamed into place, so an interrupted
unpack never leaves a half-filled folder behind. Prints the environment settings that point vqlib at them.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
from pathlib import Path

from tqdm import tqdm

ARCHIVES = {
    # archive name: (sha256, folder it unpacks to, environment variable that points vqlib at it)
    "cifar10-jpeg.tar.gz": ("ff26949c34c4e67da3fa472a1f142e33365dea058f94f1fa369b14ef3d986968",
                            "cifar10-jpeg", "VQLIB_CIFAR10"),
    "imagenet-sample-256.tar": ("9297d4b1dd8bc604e6b6f643c34ef867c43db21ffb76502909f0d1a6e6b48f45",
                                "imagenet-sample-256", "VQLIB_IMAGENET"),
}


#: tarfile's "data" filter (no absolute paths, links out of the folder or device files) where this Python has it
#: (3.11.4 and later; Debian 12's 3.11.2 does not); the archives' sha256 is checked before anything is unpacked
SAFE_EXTRACT = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(source_dir: Path, data_dir: Path) -> dict[str, Path]:
    found = {}
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, (expected, folder, variable) in ARCHIVES.items():
        archive = source_dir / name
        target = data_dir / folder
        if target.is_dir():
            found[variable] = target
            continue
        if not archive.exists():
            continue
        print(f"checking {archive} ({archive.stat().st_size / 1e6:.0f} MB, sha256)", file=sys.stderr, flush=True)
        actual = sha256(archive)
        if actual != expected:
            sys.exit(f"error: {archive} is corrupt (sha256 {actual}, expected {expected}); replace the archive "
                     "or set the environment variable to a good copy")
        tmp = data_dir / f".{folder}.unpacking"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        with tarfile.open(archive) as tar, tqdm(desc=f"unpacking {archive.name} -> {target}", unit=" files",
                                                 file=sys.stderr, mininterval=0.5) as bar:
            for member in tar:  # one by one, so the bar moves (a gzip archive has no member count up front)
                tar.extract(member, tmp, **SAFE_EXTRACT)
                bar.update(1)
        (tmp / folder).rename(target)
        shutil.rmtree(tmp)
        found[variable] = target
    return found


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data")
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("data")
    for variable, path in unpack(source, data).items():
        print(f"{variable}={path.resolve()}")
