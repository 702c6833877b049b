"""Rebuild the real-face set (clips and stills) from GitHub mirrors; check every file.

    .venv/bin/python bench/realsets/build_faces.py            (extract what is missing, check all)
    .venv/bin/python bench/realsets/build_faces.py --check    (only check the files already there)
    .venv/bin/python bench/realsets/build_faces.py --force    (extract every file again)

Each clip and still in faces.json names its source and the file's path inside it
(repo_path); the bytes come from `git show <commit>:<repo_path>` on the bare mirror that the
search tool's fetch leaves at /work/.mirror/<owner>+<name>/repo. Clips are kept whole (byte
for byte, so their sha256 does not depend on an encoder); segments are times inside them.
A missing mirror stops the build with one line that says which repository to fetch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make `bench` importable

from bench.realsets.build_cards import MIRRORS, BuildError, git_blob, mirror_git_dir, sha256

MANIFEST = HERE / "faces.json"


def build(manifest: Path, root: Path | None, check_only: bool, force: bool, mirrors: Path) -> int:
    man = json.loads(manifest.read_text(encoding="utf-8"))
    root = root or Path(man["root"])
    sources = man["sources"]
    written = checked = 0
    entries = man["clips"] + man["stills"]
    for ent in entries:
        out = root / ent["path"]
        if out.is_file() and not force:
            if sha256(out.read_bytes()) != ent["sha256"]:
                raise BuildError(f"{out}: sha256 differs from the manifest (delete it and rebuild)")
            checked += 1
            continue
        if check_only:
            raise BuildError(f"{out}: missing (run without --check to extract it)")
        src = sources[ent["source"]]
        data = git_blob(mirror_git_dir(src["repo"], mirrors), src["commit"], ent["repo_path"])
        if sha256(data) != ent["sha256"]:
            raise BuildError(f"{src['repo']}@{src['commit'][:12]}:{ent['repo_path']}: sha256 differs")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        written += 1
    print(f"{len(man['clips'])} clips and {len(man['stills'])} stills under {root}: "
          f"{written} extracted, {checked} already there, all sha256 ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--root", type=Path, default=None, help="override the manifest's root")
    ap.add_argument("--mirrors", type=Path, default=MIRRORS)
    ap.add_argument("--check", action="store_true", help="only verify files already extracted")
    ap.add_argument("--force", action="store_true", help="extract every file again")
    args = ap.parse_args(argv)
    try:
        return build(args.manifest, args.root, args.check, args.force, args.mirrors)
    except BuildError as exc:
        print(f"build_faces: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
