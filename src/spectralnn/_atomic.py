"""Atomic writes: a temp file next to the target, fsync, rename (see :mod:`spectralnn._io`,
which re-exports these names), and :func:`write_together` for files that belong together."""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import tempfile

_pending: contextvars.ContextVar = contextvars.ContextVar("spectralnn_write_together", default=None)


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only be read by setting
    it, which would race with other threads creating files).  Linux reports it in
    ``/proc/self/status``; elsewhere the conventional 0o022 is assumed."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _file_mode() -> int:
    """What ``open()`` would give a new file; ``mkstemp`` alone gives 0o600.  Read at each
    write (a library never changes, nor freezes at import, the process umask)."""
    return 0o666 & ~_umask()


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write, *, text: bool = False) -> str:
    """Write ``path`` atomically: ``write(f)`` fills an open temp file ``f``, then a rename.

    Parameters
    ----------
    path : path
        The target.  Its folder is created if missing.
    write : callable
        Called once with the temp file object (binary, or text with ``newline=""`` when
        ``text``); it must write through that object, never reopen a name.
    text : bool, default=False
        Open the temp file in text mode (UTF-8).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> from spectralnn._io import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write(target, lambda f: f.write("hello"), text=True)
    >>> target.read_text(), os.listdir(target.parent)
    ('hello', ['a.txt'])
    """
    path = os.fspath(path)
    tmp = _write_temp(path, write, text)
    queue = _pending.get()
    if queue is not None:  # inside write_together(): renamed with the others at its end
        for i, (old, target) in enumerate(queue):
            if target == path:
                _unlink(old)
                queue[i] = (tmp, path)
                return path
        queue.append((tmp, path))
        return path
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_folder(os.path.dirname(os.path.abspath(path)))
    return path


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_temp(path: str, write, text: bool) -> str:
    """A fresh temp file next to ``path`` filled by ``write`` and fsync'ed; its name."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _file_mode())
        f = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


@contextlib.contextmanager
def write_together():
    """Make every :func:`atomic_write` inside the block part of one unit: all its files, or
    (on an error) none of them.

    Each write goes to its own temp file at once; only when the block ends without an error are
    they renamed over their targets, together.  Before the renames each existing target is
    hard-linked to a backup, so that an error during the renames (a folder created in the way
    meanwhile, say) puts the old files back: readers see the old set or the new set, never a
    mix of two runs.  An error inside the block deletes the temp files and leaves every target
    as it was.  Nested blocks join the outer one.

    Residual window: the renames themselves are not one atomic step.  A process killed (SIGKILL,
    power loss) between the first and the last rename -- a span of microseconds -- leaves some
    targets new and some old; the ``.NAME.*.tmp`` / ``.NAME.*.bak`` files such a crash leaves
    in the folder show that it happened.

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> from spectralnn._io import write_text, write_together
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with write_together():
    ...     _ = write_text(d / "a.txt", "a")
    ...     _ = write_text(d / "b.txt", "b")
    ...     os.listdir(d) == []  or sorted(os.listdir(d))[0].startswith(".")
    True
    >>> sorted(os.listdir(d))
    ['a.txt', 'b.txt']
    """
    if _pending.get() is not None:
        yield
        return
    queue: list[tuple[str, str]] = []
    token = _pending.set(queue)
    try:
        yield
    except BaseException:
        _pending.reset(token)
        for tmp, _ in queue:
            _unlink(tmp)
        raise
    _pending.reset(token)
    _commit(queue)


def _commit(temps: list[tuple[str, str]]) -> None:
    """Rename ``(temp, target)`` pairs together (see :func:`write_together`)."""
    backups: list[tuple[str, str]] = []  # (backup, target) of the targets that existed
    done: list[str] = []
    try:
        for _, path in temps:
            bak = os.path.join(
                os.path.dirname(os.path.abspath(path)),
                f".{os.path.basename(path)}.{secrets.token_hex(8)}.bak",
            )
            if os.path.islink(path):  # the rename replaces the link itself: keep a copy of it
                os.symlink(os.readlink(path), bak)
                backups.append((bak, path))
            elif os.path.isfile(path):
                os.link(path, bak)
                backups.append((bak, path))
        for tmp, path in temps:
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        restored = {path for _, path in backups}
        for bak, path in backups:
            if path in done:
                os.replace(bak, path)
        for path in done:
            if path not in restored:
                _unlink(path)  # a new file of this run: the old set had none there
        for tmp, _ in temps:
            _unlink(tmp)
        for bak, _ in backups:
            _unlink(bak)
        raise
    for bak, _ in backups:
        _unlink(bak)
    for folder in dict.fromkeys(os.path.dirname(os.path.abspath(p)) for _, p in temps):
        _fsync_folder(folder)


def write_group(items) -> list[str]:
    """Write ``(path, write, text)`` items (as for :func:`atomic_write`) as one unit, see
    :func:`write_together`."""
    with write_together():
        return [atomic_write(p, w, text=t) for p, w, t in items]
