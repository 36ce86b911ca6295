"""Local lake listings that a symlink cannot break (issue 29).

Why its own walk: a link pointing to itself in one tape folder made every listing and read raise
`OSError: [Errno 40] Too many levels of symbolic links`, failing the run for every date; a
directory link back to an ancestor would make a recursive walk list forever. The rule: a link
that resolves is followed once (a file link lists with its target's size and mtime, a directory
link is walked unless that directory was already listed); one that does not (a loop, no target,
no permission) is not an object but a `BadLink` with the reason, which the layer that owns the
folder quarantines. Anything that is neither a regular file nor a directory (a FIFO would block
the read forever) is a `BadLink` too.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

# A read that meets one of these lost a race with a change of the lake (the object went, or a
# link was replaced by a bad one between listing and read): the object is treated as vanished.
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ELOOP, errno.ENOTDIR})


@dataclass(frozen=True)
class BadLink:
    path: str
    reason: str  # "unreadable symlink: ..." or "not a regular file: ..."


def _reason(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        why = "symlink loop (too many levels of symbolic links)"
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        why = f"no target ({_target(path)} does not exist)"
    else:
        why = f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"unreadable symlink: {why}" if os.path.islink(path) else f"unreadable entry: {why}"


def _target(path: str) -> str:
    try:
        return repr(os.readlink(path))
    except OSError:
        return "its target"


def entry_stat(entry: os.DirEntry[str]) -> os.stat_result | BadLink:
    """The stat of a directory entry, following a symlink; a BadLink when it cannot be followed."""
    try:
        return entry.stat()
    except OSError as exc:
        return BadLink(entry.path, _reason(entry.path, exc))


def walk(base: str) -> tuple[list[tuple[str, os.stat_result]], list[BadLink]]:
    """Every regular file under `base` (path, stat) and every entry that is not one.

    Each directory is listed once, by its (device, inode): a second link to it (a loop back to an
    ancestor, or two links to one folder) is a BadLink, so no object is listed twice."""
    try:
        top = os.stat(base)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [BadLink(base, _reason(base, exc))]
    if stat.S_ISREG(top.st_mode):
        return [(base, top)], []
    files: list[tuple[str, os.stat_result]] = []
    bad: list[BadLink] = []
    seen = {(top.st_dev, top.st_ino)}
    todo = [base]
    while todo:
        folder = todo.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):  # removed since it was listed
            continue
        except OSError as exc:
            bad.append(BadLink(folder, _reason(folder, exc)))
            continue
        for e in entries:
            st = entry_stat(e)
            if isinstance(st, BadLink):
                bad.append(st)
            elif stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in seen:
                    bad.append(
                        BadLink(e.path, "unreadable symlink: its directory is already listed (a loop)")
                    )
                else:
                    seen.add(ident)
                    todo.append(e.path)
            elif stat.S_ISREG(st.st_mode):
                files.append((e.path, st))
            else:
                bad.append(BadLink(e.path, f"not a regular file: mode {stat.filemode(st.st_mode)}"))
    return files, bad
