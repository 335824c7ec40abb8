"""Listing a dataset folder: sorted, every file once, nothing that can block, one rule for links.

The folder, filename and unlabelled adapters list ``root`` with :func:`list_tree`; the csv
adapter checks each listed path with :func:`check_listed_file`. Both apply the same rules.

Symbolic links (one rule for every image adapter, stated in the README):

* a link to a **file** is used when the file it points to lies inside ``root`` (a photo linked
  from one identity folder into another); a link pointing outside ``root`` is used only with
  ``follow_symlinks = true``, otherwise it is a skip whose reason names that option;
* a link to a **folder** is entered only with ``follow_symlinks = true``; otherwise it is a skip
  naming the option (it used to vanish without a row);
* every folder is listed once, at its first path (the real folders first, then the links in
  sorted order): a link loop (``A/up -> ..``) or a second link to a listed folder is a skip, so a
  loop can neither multiply the photos nor hang the listing, and each file of a folder counts once;
* a link to a file is an entry of its own, even when its target is listed too: linking one photo
  into two folders is a deliberate statement (a benchmark repeating files does it), and the
  Data page counts the identical embeddings it gives.

Only regular files are listed. A FIFO, a socket or a device named ``*.jpg``, or a link to one
(``/dev/zero``), is a skip: opening a FIFO blocks until someone writes to it and ``/dev/zero``
never ends. Nothing here opens a file; the hashing and the decoding open each file with
:func:`analysis.embedding.images.open_regular`, which checks again on the open descriptor, so a
file swapped for a FIFO in between cannot block either.

A name that is not valid UTF-8 (written by another system's encoding) cannot be stored, shown or
compared with the names of other files: it is a skip listed under a printable form of the name
(``caf\\xe9.jpg``), and the build goes on.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from analysis.embedding.images import NOT_REGULAR, special_kind

# Reasons (stable strings: reports count them).
LINKED_FOLDER = "symbolic link to a folder (not followed; set follow_symlinks = true to include it)"
LINK_OUTSIDE_ROOT = "symbolic link to a file outside root (set follow_symlinks = true to include it)"
LINK_LISTED = "symbolic link to a folder already listed (loop or second path)"
BROKEN_LINK = "broken symbolic link"
NOT_UTF8 = "name is not valid UTF-8 (rename it)"
UNREADABLE_FOLDER = "unreadable folder"
UNREADABLE_FILE = "unreadable file"
MISSING_FILE = "missing file"
EMPTY_FOLDER = "empty folder"
FOLDER_NAMED_LIKE_IMAGE = "a folder named like an image file"


@dataclass(frozen=True)
class Listing:
    """What :func:`list_tree` found under a root.

    Parameters
    ----------
    files : tuple of (str, bool)
        ``(relative posix path, hidden)`` of every regular file to consider, sorted by path.
        Hidden: the file or one of its folders starts with ``.``.
    skips : tuple of (str, str)
        ``(item, reason)`` of entries left out whatever the layout: links not followed, loops,
        special files, undecodable names, unreadable folders. Folders end with ``/``.
    folders : tuple of (str, str)
        ``(folder + "/", reason)`` of empty folders and folders named like images: worth a row
        where folders carry identities (folder adapter), not where they carry no meaning.
    """

    files: tuple[tuple[str, bool], ...]
    skips: tuple[tuple[str, str], ...]
    folders: tuple[tuple[str, str], ...]


def printable(name: str) -> str:
    """``name`` with the bytes that are not UTF-8 written as ``\\xNN`` (a str from ``os.scandir``
    carries them as surrogates, which no UTF-8 file, page or table can hold)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _inside(path: str, real_root: str) -> bool:
    return os.path.commonpath([path, real_root]) == real_root


def list_tree(root: Path, follow_symlinks: bool, extensions: tuple[str, ...]) -> Listing:
    """Every regular file under ``root``, each once, sorted; what was left out, with the reason.

    Parameters
    ----------
    root : Path
        An existing folder (resolved by the caller).
    follow_symlinks : bool
        Enter linked folders and use links pointing outside ``root`` (see the module docstring).
    extensions : tuple of str
        Image extensions: a folder named like an image file is reported in ``folders``.
    """
    walker = _Walker(str(root), follow_symlinks, {e.lower() for e in extensions})
    return walker.run()


class _Walker:
    def __init__(self, root: str, follow: bool, exts: set[str]) -> None:
        self.root, self.follow, self.exts = root, follow, exts
        self.real_root = os.path.realpath(root)
        self.seen_dirs: set[tuple[int, int]] = set()
        self.files: list[tuple[str, bool]] = []
        self.file_links: list[tuple[str, bool, str]] = []
        self.dir_links: list[tuple[str, str, bool, tuple[int, int]]] = []
        self.skips: list[tuple[str, str]] = []
        self.folders: list[tuple[str, str]] = []

    def run(self) -> Listing:
        st = os.stat(self.root)
        self.seen_dirs.add((st.st_dev, st.st_ino))
        self._scan(self.root, "", False)
        # Linked folders after every real one, round by round in sorted order: the real path of a
        # folder wins over a link to it, and the outcome does not depend on the walk order.
        while self.dir_links:
            pending, self.dir_links = sorted(self.dir_links), []
            for rel, path, hidden, key in pending:
                if not self.follow:
                    self.skips.append((rel + "/", LINKED_FOLDER))
                elif key in self.seen_dirs:
                    self.skips.append((rel + "/", LINK_LISTED))
                else:
                    self.seen_dirs.add(key)
                    self._scan(path, rel, hidden)
        for rel, hidden, path in self.file_links:
            if not self.follow and not _inside(os.path.realpath(path), self.real_root):
                self.skips.append((rel, LINK_OUTSIDE_ROOT))
            else:
                self.files.append((rel, hidden))
        files = tuple(sorted(self.files))
        return Listing(files, tuple(sorted(self.skips)), tuple(sorted(self.folders)))

    def _scan(self, top: str, top_rel: str, top_hidden: bool) -> None:
        stack = [(top, top_rel, top_hidden)]
        while stack:
            path, rel, hidden = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self.skips.append(((rel or ".") + "/", f"{UNREADABLE_FOLDER} ({type(exc).__name__})"))
                continue
            if rel and not entries:
                self.folders.append((rel + "/", EMPTY_FOLDER))
            elif rel and os.path.splitext(rel)[1].lower() in self.exts:
                self.folders.append((rel + "/", FOLDER_NAMED_LIKE_IMAGE))
            subdirs = []
            for entry in entries:
                sub = f"{rel}/{entry.name}" if rel else entry.name
                if not _is_utf8(entry.name):  # a folder's files are not listed one by one: one row
                    self.skips.append((printable(sub) + ("/" if _is_dir(entry) else ""), NOT_UTF8))
                    continue
                sub_hidden = hidden or entry.name.startswith(".")
                found = self._entry(entry, sub, sub_hidden)
                if found is not None:
                    subdirs.append(found)
            stack.extend(reversed(subdirs))  # depth first, in sorted order

    def _entry(self, entry: os.DirEntry, rel: str, hidden: bool):
        """Record one entry; returns ``(path, rel, hidden)`` of a real sub-folder to descend into."""
        try:
            if entry.is_symlink():
                try:
                    st = os.stat(entry.path)  # the target
                except OSError:  # dangling, or a loop of links (ELOOP)
                    self.skips.append((rel, BROKEN_LINK))
                    return None
                key = (st.st_dev, st.st_ino)
                if stat.S_ISDIR(st.st_mode):
                    self.dir_links.append((rel, entry.path, hidden, key))
                elif stat.S_ISREG(st.st_mode):
                    self.file_links.append((rel, hidden, entry.path))
                else:
                    self.skips.append((rel, f"{NOT_REGULAR} ({special_kind(st.st_mode)})"))
                return None
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            self.skips.append((rel, f"{UNREADABLE_FILE} ({type(exc).__name__})"))
            return None
        key = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if key in self.seen_dirs:  # a bind mount of a listed folder
                self.skips.append((rel + "/", LINK_LISTED))
                return None
            self.seen_dirs.add(key)
            return entry.path, rel, hidden
        if stat.S_ISREG(st.st_mode):
            self.files.append((rel, hidden))
        else:
            self.skips.append((rel, f"{NOT_REGULAR} ({special_kind(st.st_mode)})"))
        return None


def check_listed_file(root: Path, rel: str, follow_symlinks: bool) -> str | None:
    """Whether the file ``root/rel`` that a manifest names may be used, by the rules of :func:`list_tree`.

    Parameters
    ----------
    root : Path
        The resolved dataset root.
    rel : str
        A path relative to ``root`` that does not leave it as written (no leading ``..``).
    follow_symlinks : bool

    Returns
    -------
    str or None
        Why the file is a skip; None when it can be used.
    """
    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return BROKEN_LINK if os.path.islink(path) else MISSING_FILE
    except OSError as exc:
        return BROKEN_LINK if exc.errno == errno.ELOOP else f"{UNREADABLE_FILE} ({type(exc).__name__})"
    if not stat.S_ISREG(st.st_mode):
        return f"{NOT_REGULAR} ({special_kind(st.st_mode)})"
    if not follow_symlinks and not _inside(os.path.realpath(path), os.path.realpath(root)):
        return LINK_OUTSIDE_ROOT
    return None
