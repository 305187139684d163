"""The service image's build context (``stack/images/service/Dockerfile``): only what ``pip install``
needs, no ``.venv`` or ``runs/``; and its digest, which the image carries as the label
:data:`SOURCES_LABEL` so that an image older than the sources is noticed (its observer and services
would run old code).

Standard library only: ``scripts/ci-docker.sh`` runs it as a script, before anything is installed::

    python3 stack/docker/context.py --tar | docker build ... -
    python3 stack/docker/context.py --digest
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile
import tomllib
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent.parent
#: the files pip needs besides the packages
PROJECT_FILES = ("pyproject.toml", "README.md")
SOURCES_LABEL = "org.crashlab.sources"


def packages(root: Path = REPO_DIR) -> list[str]:
    """The top-level packages the project installs: pyproject's own list
    (``[tool.setuptools.packages.find] include``), so a new package reaches the image with no second
    list to keep."""
    with (root / "pyproject.toml").open("rb") as fh:
        config = tomllib.load(fh)
    find = config.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    includes = find.get("include", [])
    return sorted({str(pattern).split(".")[0].rstrip("*") for pattern in includes})


def context_files(root: Path = REPO_DIR) -> list[Path]:
    """The files of the context, relative to ``root``, sorted (no caches, no compiled files)."""
    found: list[Path] = []
    for name in (*PROJECT_FILES, *packages(root)):
        path = root / name
        if path.is_file():
            found.append(Path(name))
        elif path.is_dir():
            for child in path.rglob("*"):
                rel = child.relative_to(root)
                if child.is_file() and "__pycache__" not in rel.parts and child.suffix != ".pyc":
                    found.append(rel)
    return sorted(found)


#: in the context for ``pip install`` (pyproject's readme) but no code: its edits leave the image current
NOT_DIGESTED = frozenset({"README.md"})


def sources_digest(root: Path = REPO_DIR) -> str:
    """sha256 over the context's paths and contents (not their times), the README aside."""
    digest = hashlib.sha256()
    for rel in context_files(root):
        if str(rel) in NOT_DIGESTED:
            continue
        digest.update(str(rel).encode() + b"\0")
        digest.update((root / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_context(root: Path = REPO_DIR) -> io.BytesIO:
    """The context as an uncompressed tar, ready for the engine's build API."""
    buf = io.BytesIO()
    # plain ustar entries with whole-second times: a first pax header would hide the archive from
    # `docker build -`, which looks at the first 1 KiB only
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel in context_files(root):
            info = tar.gettarinfo(root / rel, arcname=str(rel))
            info.mtime = int(info.mtime)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with (root / rel).open("rb") as data:
                tar.addfile(info, data)
    buf.seek(0)
    return buf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--tar", action="store_true", help="write the build context (tar) to stdout")
    what.add_argument("--digest", action="store_true", help=f"print the digest ({SOURCES_LABEL})")
    args = parser.parse_args(argv)
    if args.tar:
        sys.stdout.buffer.write(build_context().getvalue())
    else:
        print(sources_digest())


if __name__ == "__main__":
    main()
