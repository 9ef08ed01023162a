"""Install collections from the `ansible` community package wheel into a collections path.

Used inside the execution-environment build (no Ansible Galaxy needed), the way
scripts/install-collections.sh does for a clone:

    python3 install-bundled-collections.py WHEEL SHA256 DEST NAMESPACE/NAME...

The wheel must match SHA256 (the pin in execution-environment.yml): a different file stops the build.
Each collection's MANIFEST.json comes along, so ansible-galaxy sees them as installed, with their
versions, when it installs edgeai.slm_fleet after them and checks its dependencies.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    wheel, want_sha, dest, wanted = Path(argv[0]), argv[1], Path(argv[2]), argv[3:]
    have_sha = sha256_of(wheel)
    if have_sha != want_sha:
        print(f"{wheel.name}: sha256 {have_sha}, the EE definition pins {want_sha}; "
              "put the pinned wheel in the build inputs or update the pin", file=sys.stderr)
        return 1
    prefixes = tuple(f"ansible_collections/{name}/" for name in wanted)
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.startswith(prefixes)]
        found = {n.split("/")[1] + "/" + n.split("/")[2] for n in members}
        missing = sorted(set(wanted) - found)
        if missing:
            print(f"{wheel.name} does not bundle {', '.join(missing)}", file=sys.stderr)
            return 1
        for name in wanted:
            shutil.rmtree(dest / "ansible_collections" / name, ignore_errors=True)
        archive.extractall(dest, members)
    for name in wanted:
        print(f"installed {name} from {wheel.name} into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
