"""The build owns only what it wrote: a manifest per output folder, refusals, atomic publishing.

An output folder receives ``docs/``, ``site/``, ``paper/``, ``mkdocs.yml`` and a stamp. Those
names are common (a thesis has a ``docs/``, a blog a ``site/``), so the build never assumes that
they are its own. It keeps a manifest, ``.atlas-manifest.json``, of every file it published
and

- refuses a folder that is not empty and has no manifest (it did not create it), and the folders
  where a mistake would be a disaster whatever they hold: ``/``, the home folder and the folder of
  the config file. The project's own checkout is the exception the user asked for (its top level
  holds ``docs/`` and ``site/``): it is claimed while its generated names hold no file the build
  did not write;
- refuses an owned folder where a file it did not write appeared under one of its names
  (``docs/notes/thesis.md``), instead of deleting it on the next swap;
- publishes ``docs/``, ``site/`` and ``paper/`` by building a staging folder beside the old one
  and swapping it in with two renames, so a killed build leaves the previous outputs whole.

Everything here is plain file-system bookkeeping; :mod:`report.driver` calls it around the
renderers.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

MANIFEST = ".atlas-manifest.json"
#: Names inside an output folder that the build writes (and therefore owns once listed).
MANAGED = ("docs", "site", "paper", "overrides", "mkdocs.yml", ".site-inputs.sha256")
#: Prefix of the staging and retired folders; a killed build's leftovers carry it and are removed.
STAGING_PREFIX = ".atlas-staging-"
LOCK_NAME = ".atlas.lock"
_TOOL = "face-embedding-atlas"


class OutputFolderError(RuntimeError):
    """An output folder the build must not write into; the message names the folder and the fix."""


def _forbidden_roots(config_dir: Path | None, project_root: Path | None) -> dict[Path, str]:
    roots = {Path("/").resolve(): "the file-system root", Path.home().resolve(): "your home folder"}
    if config_dir is not None and (project_root is None or config_dir.resolve() != project_root.resolve()):
        roots[config_dir.resolve()] = "the folder of the config file"
    return roots


def claim_output_dir(output_dir: Path, cache_dir: Path | None = None, config_dir: Path | None = None,
                     project_root: Path | None = None) -> Path:
    """Check that the build may write into ``output_dir``, create it, and mark it as the build's own.

    Parameters
    ----------
    output_dir : Path
        The study's output folder.
    cache_dir : Path, optional
        The cache folder; when it lies inside ``output_dir`` its files do not make the folder foreign.
    config_dir, project_root : Path, optional
        Folders that are never valid output folders (the config's own folder, the source checkout).

    Returns
    -------
    Path
        The resolved output folder, existing and holding a manifest.

    Raises
    ------
    OutputFolderError
        For a forbidden root, a path that is a file, a non-empty folder without manifest, or an
        owned folder where a foreign file sits under a managed name.
    """
    out = Path(output_dir).expanduser().resolve()
    fix = "set [study] output_dir (or --output-dir) to a new or empty folder, e.g. build/<study-name>"
    reason = _forbidden_roots(config_dir, project_root).get(out)
    if reason is not None:
        raise OutputFolderError(f"refusing to write the outputs into {out} ({reason}); {fix}")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"output_dir {out} is a file, not a folder; {fix}")
    manifest = out / MANIFEST
    # The project's own checkout is the one non-empty folder the build may claim: its top level
    # holds docs/ and site/ by design (they are git-ignored outputs), and the code beside them is
    # never a managed name. It is claimed only while no managed name holds a file the build did
    # not write (a user's docs/guide.md is refused by name, never deleted).
    is_project = project_root is not None and out == Path(project_root).resolve()
    if out.is_dir() and not manifest.is_file():
        foreign = managed_files(out) if is_project else _foreign_entries(out, cache_dir)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"output folder {out} is not empty and was not created by this build (no {MANIFEST}; it holds "
                f"{shown}); nothing was written. {fix}, or move those files away"
            )
    out.mkdir(parents=True, exist_ok=True)
    remove_staging_leftovers(out)
    if not manifest.is_file():
        write_manifest(out)
        return out
    owned = set(read_manifest(out))
    strangers = [f for f in managed_files(out) if f not in owned]
    if strangers:
        shown = ", ".join(strangers[:5]) + (f" and {len(strangers) - 5} more" if len(strangers) > 5 else "")
        raise OutputFolderError(
            f"{out} holds file(s) this build did not write under its generated folders: {shown}; the next build "
            f"would replace them. Move them out of {out} (or delete them) and build again"
        )
    return out


def _foreign_entries(out: Path, cache_dir: Path | None) -> list[str]:
    cache = Path(cache_dir).resolve() if cache_dir is not None else None
    names = []
    for entry in sorted(out.iterdir()):
        if entry.name == LOCK_NAME:
            continue
        if cache is not None and entry.resolve() == cache:
            continue
        names.append(entry.name + ("/" if entry.is_dir() else ""))
    return names


def managed_files(out: Path) -> list[str]:
    """Every file under the managed names of ``out``, as sorted posix paths relative to it."""
    files = []
    for name in MANAGED:
        p = out / name
        if p.is_symlink() or p.is_file():
            files.append(name)
        elif p.is_dir():
            files.extend(q.relative_to(out).as_posix() for q in p.rglob("*") if q.is_file() or q.is_symlink())
    return sorted(files)


def read_manifest(out: Path) -> list[str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputFolderError(f"{out / MANIFEST} is unreadable ({exc}); delete {out} and build again") from exc
    if not isinstance(data, dict) or data.get("tool") != _TOOL or not isinstance(data.get("files"), list):
        raise OutputFolderError(f"{out / MANIFEST} is not a manifest of this tool; choose another output folder")
    return [str(f) for f in data["files"]]


def write_manifest(out: Path, files: list[str] | None = None) -> None:
    """Record ``files`` (default: every file now under the managed names of ``out``) as written by the build."""
    text = json.dumps({"tool": _TOOL, "files": sorted(set(managed_files(out) if files is None else files))},
                      indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=STAGING_PREFIX + "manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, out / MANIFEST)


def remove_staging_leftovers(out: Path) -> None:
    """Delete the staging folders a killed build left behind (they carry :data:`STAGING_PREFIX`)."""
    for p in out.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def staging_dir(out: Path, name: str) -> Path:
    """A new, empty staging folder for ``out/name``, beside it (same file system: renames are atomic).

    Its mode follows the umask like a folder made by ``mkdir`` (``mkdtemp`` makes it private,
    which would make a published site/ unreadable to a web server).
    """
    path = Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGING_PREFIX}{name}-"))
    os.chmod(path, 0o777 & ~_umask())
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def record(out: Path, rel_paths) -> None:
    """Add files about to be written to the manifest of ``out`` (before writing them, so that a build
    killed right after still recognises them as its own)."""
    if (out / MANIFEST).is_file():
        write_manifest(out, read_manifest(out) + [str(p) for p in rel_paths])


def swap_in(staged: Path, target: Path) -> None:
    """Replace ``target`` by ``staged`` with two renames; the old folder is removed afterwards.

    Between the renames ``target`` is missing for an instant, never half-written. The staged
    files are added to the manifest of ``target.parent`` first.
    """
    record(target.parent, (f"{target.name}/{q.relative_to(staged).as_posix()}" for q in staged.rglob("*")
                           if q.is_file() or q.is_symlink()))
    retired = None
    if target.exists():
        retired = target.parent / f"{STAGING_PREFIX}old-{target.name}-{os.getpid()}"
        os.replace(target, retired)
    os.replace(staged, target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
