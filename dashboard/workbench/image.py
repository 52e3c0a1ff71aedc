"""A planning mart written once as a DuckDB file, from which each analyst session opens its own locked instance.

Building a national mart takes tens of seconds; opening an instance over a ready file takes a fraction of one,
because DuckDB reads a file lazily. So the gate builds the image once per (warehouse, policy, purpose, key) and
every session over it opens its own read-only, locked instance (:meth:`MartImage.open_locked`).

Where the file lives: a fresh 0700 directory on a RAM file system (``/dev/shm``) when there is one. As soon as it
is written the image keeps one read-only file descriptor and deletes the file and its directory, so the data
exists only for as long as this process holds the descriptor: nothing is left behind after a crash or exit, and
there is no path another program (or a later ATTACH) could open. A session opens the file through
``/proc/self/fd`` (a symlink in its own short-lived 0700 directory, so the catalog is called ``mart`` and the
path DuckDB shows is that deleted symlink, never the warehouse's).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl

#: the mart's catalog name inside an analyst's instance (the file they open is called mart.duckdb)
MART_CATALOG = "mart"
#: images a gate keeps (one per purpose and key in use); older ones go when no session holds them any more
IMAGES_KEPT = 4
_PROC_FD = Path("/proc/self/fd")
_session_numbers = itertools.count(1)


class MartImageError(Exception):
    """The image could not be written or opened."""


def _bases() -> list[Path | None]:
    # A RAM file system when there is one: pseudonymised rows are personal data and should not touch a disk.
    # If it is too small (a container's 64MB /dev/shm), the system temp folder is the fallback.
    shm = Path("/dev/shm")
    return ([shm] if shm.is_dir() and os.access(shm, os.W_OK) else []) + [None]


class MartImage(Mapping[str, pl.DataFrame]):
    """A written mart: read-only, shared by the sessions that open instances over it. A Mapping of its tables
    (each read back as a Polars frame on access, for callers that want frames)."""

    def __init__(self, fd: int, tables: Mapping[str, tuple[str, ...]], rows: Mapping[str, int]) -> None:
        self._fd = fd
        self._columns = dict(tables)
        self._rows = dict(rows)
        self.anonymity = None        # what k-anonymity withheld (dashboard.policy.anonymity.Withheld), if known
        self._lock = threading.Lock()
        # closes the descriptor (and so frees the RAM) once no one holds the image; open sessions keep their own
        self._finalizer = weakref.finalize(self, os.close, fd)

    # ------------------------------------------------------------------------------------------- writing
    @classmethod
    def write(cls, tables: Mapping[str, pl.DataFrame] | Callable[[], Iterable[tuple[str, pl.DataFrame]]]
              ) -> MartImage:
        """Write the frames into a new image: a mapping, or a function giving (name, frame) pairs one at a time
        (so a national mart is never held in memory whole; it is called again if the first folder fails)."""
        produce = (lambda: tables.items()) if isinstance(tables, Mapping) else tables
        problem: BaseException | None = None
        for base in _bases():
            try:
                return cls._write(produce(), base)
            except (duckdb.Error, OSError) as e:
                problem = e
        raise MartImageError(f"the mart could not be written: {str(problem).strip().splitlines()[0]}")

    @classmethod
    def _write(cls, pairs, base: Path | None) -> MartImage:
        directory = tempfile.mkdtemp(prefix="csc-mart-", dir=base)  # mode 0700: no other local user can read it
        path = os.path.join(directory, f"{MART_CATALOG}.duckdb")
        columns: dict[str, tuple[str, ...]] = {}
        rows: dict[str, int] = {}
        try:
            # the writer is a plain, short-lived, unlocked instance that never sees a query from an analyst
            writer = duckdb.connect(path, config={
                "autoload_known_extensions": False, "autoinstall_known_extensions": False,
                "python_enable_replacements": False, "preserve_insertion_order": True,
            })
            try:
                writer.execute("SET enable_progress_bar = false")
                for name, frame in pairs:
                    if frame.width == 0:
                        continue        # a table the policy left with no column to show is not created
                    writer.register("__mart_load", frame.to_arrow())
                    writer.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __mart_load')
                    writer.unregister("__mart_load")
                    columns[name] = tuple(frame.columns)
                    rows[name] = frame.height
                writer.execute("CHECKPOINT")
            finally:
                writer.close()
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        finally:
            # Why delete at once: the descriptor keeps the data for this process only; no file is left for anyone
            # (or any later ATTACH) to find, and no directory remains for a COPY to write into.
            shutil.rmtree(directory, ignore_errors=True)
        return cls(fd, columns, rows)

    # ------------------------------------------------------------------------------------------- reading
    @property
    def columns(self) -> dict[str, tuple[str, ...]]:
        return dict(self._columns)

    @property
    def rows(self) -> dict[str, int]:
        return dict(self._rows)

    def __len__(self) -> int:
        return len(self._columns)

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __getitem__(self, table: str) -> pl.DataFrame:
        if table not in self._columns:
            raise KeyError(table)
        con = self.open(config={"threads": 1})
        try:
            return con.sql(f'SELECT * FROM "{table}"').pl()
        finally:
            con.close()

    def open_locked(self, config: Mapping[str, object]) -> duckdb.DuckDBPyConnection:
        """A new read-only DuckDB instance over the image with `config` (the analyst's locked configuration)."""
        return self.open(config=config)

    def open(self, config: Mapping[str, object]) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if not self._finalizer.alive:
                raise MartImageError("the mart image has been released")
            problem: BaseException | None = None
            for base in _bases():
                try:
                    return self._open(dict(config), base)
                except (duckdb.Error, OSError) as e:
                    problem = e
        raise MartImageError(f"the mart could not be opened: {str(problem).strip().splitlines()[0]}")

    def _open(self, config: dict, base: Path | None) -> duckdb.DuckDBPyConnection:
        # Why a fresh directory per session: DuckDB hands out ONE instance per path within a process, so a path
        # reused while another session is open would put two analysts in the same instance (shared settings,
        # memory and interrupts). The counter makes each path unique for the life of the process.
        directory = tempfile.mkdtemp(prefix=f"csc-wb-{next(_session_numbers)}-", dir=base)
        path = os.path.join(directory, f"{MART_CATALOG}.duckdb")
        try:
            if _PROC_FD.is_dir():
                os.symlink(f"/proc/self/fd/{self._fd}", path)
            else:  # no /proc (not Linux): a private copy of the bytes, deleted as soon as it is open
                with open(path, "wb") as out:
                    os.lseek(self._fd, 0, os.SEEK_SET)
                    while chunk := os.read(self._fd, 1 << 22):
                        out.write(chunk)
            return duckdb.connect(path, read_only=True, config=config)
        finally:
            # the open instance holds its own descriptor; the symlink (or copy) and its directory go at once
            shutil.rmtree(directory, ignore_errors=True)

    def release(self) -> None:
        """Close the descriptor now (sessions already open keep working on their own descriptors)."""
        with self._lock:
            self._finalizer()

    @property
    def size_bytes(self) -> int:
        return os.fstat(self._fd).st_size
