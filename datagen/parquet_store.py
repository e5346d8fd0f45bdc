"""A Parquet dataset: where each table's files live, how one is written (whole or not at all), and the manifest
beside them. Local folders and object-store URLs (s3://bucket/prefix) go through one pyarrow filesystem.

    <root>/accounts/part-0.parquet                        a core table: one file
    <root>/tap_events/day=2025-06-23/part-0.parquet       an event table: one file per day and block
    <root>/_datagen_manifest.json                         written after the data files it describes

File names, row order (the builders' order), row-group size and compression are fixed, so the same config and
seed give the same bytes. The manifest has the shape of the PostgreSQL manifest's JSON export (manifest.md):
partitions carry the same names (app_database_tap_events_p20250623), so validate compares both the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlparse

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datagen import tuning
from datagen.errors import OutputError, UsageError
from datagen.tables import Table

MANIFEST_FILE = "_datagen_manifest.json"
TMP_SUFFIX = ".tmp"  # a file being written (Dataset._replace); renamed to its name when whole
Compression = Literal["zstd", "snappy", "lz4", "gzip", "uncompressed"]
COMPRESSIONS: tuple[Compression, ...] = ("zstd", "snappy", "lz4", "gzip", "uncompressed")
SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class Dataset:
    """A dataset root: a local folder or an object-store prefix, with its filesystem."""

    display: str  # as the user gave it, for messages
    fs: pafs.FileSystem
    root: str  # the root inside fs (no trailing slash)

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def core_file(self, t: Table) -> str:
        return self.path(t.key, "part-0.parquet")

    def day_dir(self, t: Table, day: dt.date) -> str:
        return self.path(t.key, f"day={day.isoformat()}")

    def part_file(self, t: Table, day: dt.date, block: int) -> str:
        return f"{self.day_dir(t, day)}/part-{block}.parquet"

    # -- reading the layout ------------------------------------------------------------------------
    def _entries(self, path: str) -> list[pafs.FileInfo]:
        try:
            return list(self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))
        except OSError as exc:
            raise OutputError(f"cannot list {self.display}: {exc}") from None

    def has_table(self, t: Table) -> bool:
        return bool(self._entries(self.path(t.key)))

    def days(self, t: Table) -> dict[dt.date, list[str]]:
        """The day folders of an event table and the files in each (full paths), sorted."""
        out: dict[dt.date, list[str]] = {}
        for info in self._entries(self.path(t.key)):
            name = info.base_name
            if info.type == pafs.FileType.Directory and name.startswith("day="):
                try:
                    day = dt.date.fromisoformat(name[4:])
                except ValueError:
                    continue
                files = [f.path for f in self._entries(info.path) if _block(f.base_name) is not None]
                out[day] = sorted(files, key=lambda p: _block(p.rsplit("/", 1)[1]) or 0)
        return dict(sorted(out.items()))

    def read(self, path: str, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
        """One file of the dataset, its columns as written (no hive column from its folder); only `columns`
        when given."""
        try:
            with self.fs.open_input_file(path) as f:
                return pl.read_parquet(f, columns=list(columns) if columns is not None else None)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise OutputError(f"cannot read {self._show(path)}: {exc}") from None

    # -- writing -----------------------------------------------------------------------------------
    def write(self, frames: Iterable[pl.DataFrame], path: str, compression: Compression) -> None:
        """The frames, in order, as one Parquet file at path (each frame its own row groups, of at most
        tuning.PARQUET_ROW_GROUP_ROWS rows), appearing whole or not at all. frames may be a generator: one frame
        is held at a time."""
        self._replace(path, lambda out: _write_frames(out, frames, compression))

    def write_text(self, path: str, text: str) -> None:
        self._replace(path, lambda out: out.write(text.encode("utf-8")))

    def _replace(self, path: str, fill: Callable[[Any], object]) -> None:
        """Write path through fill under a temporary name beside it (TMP_SUFFIX), then rename it over path (an
        object store's move is a copy then a delete: the final key appears in one PUT either way)."""
        parent, name = path.rsplit("/", 1)
        tmp = f"{parent}/.{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
        try:
            self.fs.create_dir(parent, recursive=True)
            with self.fs.open_output_stream(tmp) as out:
                fill(out)
            self.fs.move(tmp, path)
        except _Upstream as exc:  # what the frames' producer raised (a slice failing its checks, a bug): as is
            self._forget(tmp)
            raise exc.__cause__ from None  # type: ignore[misc]
        except (OSError, pl.exceptions.PolarsError, pa.ArrowException) as exc:
            self._forget(tmp)
            raise OutputError(f"cannot write {self._show(path)}: {exc}") from None
        except BaseException:  # Ctrl-C: no half file left behind
            self._forget(tmp)
            raise

    def leftovers(self, folder: str) -> list[str]:
        """Temporary files a killed writer left in folder (never listed as data)."""
        return [f.path for f in self._entries(folder) if f.base_name.endswith(TMP_SUFFIX)]

    def delete_files(self, paths: list[str]) -> None:
        for p in paths:
            self._forget(p)

    def delete_dir(self, path: str) -> None:
        try:
            self.fs.delete_dir(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"cannot remove {self._show(path)}: {exc}") from None

    def _forget(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.delete_file(path)

    def _show(self, path: str) -> str:
        return self.display.rstrip("/") + path[len(self.root):]

    # -- the manifest ------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(self.path(MANIFEST_FILE)) as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot read {self._show(self.path(MANIFEST_FILE))}: {exc}",
                              hint="remove the dataset folder and generate it again") from None
        return data if isinstance(data, dict) else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.write_text(self.path(MANIFEST_FILE), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


class _Upstream(Exception):
    """Carries (as its __cause__) an exception the frames' producer raised while a file was being written, so
    that it is not mistaken for a write error."""


def _pulled(frames: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    it = iter(frames)
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except Exception as exc:
            raise _Upstream() from exc
        yield frame
        del frame


def _write_frames(out: Any, frames: Iterable[pl.DataFrame], compression: Compression) -> None:
    """pyarrow's Parquet writer, which takes a file a row group at a time (Polars writes a whole frame):
    statistics on, dictionary encoding for the string columns only (a number rarely repeats enough to gain
    from it), decimals as integers (as Polars stores them), zstd at tuning.PARQUET_ZSTD_LEVEL. The same frames
    give the same bytes."""
    writer: pq.ParquetWriter | None = None
    try:
        for frame in _pulled(frames):
            table = frame.to_arrow()
            if writer is None:
                strings = [f.name for f in table.schema if pa.types.is_large_string(f.type)
                           or pa.types.is_string(f.type) or pa.types.is_string_view(f.type)]
                writer = pq.ParquetWriter(
                    out, table.schema, compression="none" if compression == "uncompressed" else compression,
                    compression_level=tuning.PARQUET_ZSTD_LEVEL if compression == "zstd" else None,
                    use_dictionary=strings, write_statistics=True, store_decimal_as_integer=True)
            writer.write_table(table, row_group_size=tuning.PARQUET_ROW_GROUP_ROWS)
            del frame, table  # before the next frame is made
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):  # the first error is the one to report
                writer.close()
        raise
    if writer is None:  # a file needs a schema: the callers always give at least one frame, if empty
        raise AssertionError("a Parquet file was asked for with no frame")
    writer.close()


def _block(name: str) -> int | None:
    """The block of a partition file's name (part-<block>.parquet), or None for any other name."""
    digits = name.removeprefix("part-").removesuffix(".parquet")
    return int(digits) if name.startswith("part-") and name.endswith(".parquet") and digits.isdigit() else None


def open_dataset(out: str, *, create: bool) -> Dataset:
    """--out PATH_OR_URL as a Dataset; refuses an unknown scheme, and (create) a root that cannot be written."""
    scheme = urlparse(out).scheme
    if len(scheme) > 1 and scheme not in SCHEMES:  # one letter: a Windows drive, not a scheme
        raise UsageError(f"--out {out}: unknown scheme {scheme}://", hint="give a folder, file://PATH or s3://BUCKET/PREFIX")
    if scheme in ("", "file") or len(scheme) == 1:
        root = os.path.abspath(out[len("file://"):] if scheme == "file" else out).rstrip("/") or "/"
        ds = Dataset(out, pafs.LocalFileSystem(), root)
    else:
        ds = _s3(out)
    if create:
        _probe(ds)
    return ds


# Where the AWS SDK finds credentials besides the environment (files, a web identity, a container's role).
_AWS_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _s3(out: str) -> Dataset:
    """s3://BUCKET/PREFIX with the usual settings: credentials from the AWS variables, profile or files; the
    endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (an S3-compatible server); ?anonymous=true for a public
    bucket. A missing credential is refused here, not met as an anonymous write's "access denied" later."""
    url = urlparse(out)
    query = dict(parse_qsl(url.query))
    unknown = sorted(set(query) - {"anonymous"})
    if not url.netloc or unknown:
        raise UsageError(f"--out {out}: " + (f"unknown setting {', '.join(unknown)}" if unknown else "no bucket"),
                         hint="write s3://BUCKET/PREFIX (the endpoint and region come from AWS_ENDPOINT_URL, "
                              "AWS_REGION)")
    anonymous = query.get("anonymous", "").lower() == "true"
    home = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials"))
    config = Path(os.environ.get("AWS_CONFIG_FILE", Path.home() / ".aws" / "config"))
    if not anonymous and not any(os.environ.get(v) for v in _AWS_CREDENTIAL_VARIABLES) and not (
            home.is_file() or config.is_file()):
        raise UsageError(f"--out {out}: no AWS credentials (none of {', '.join(_AWS_CREDENTIAL_VARIABLES[:2])} is "
                         f"set and there is no {home} or {config})",
                         hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or add "
                              "?anonymous=true for a public bucket")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        fs = pafs.S3FileSystem(anonymous=anonymous, endpoint_override=endpoint, region=region,
                               connect_timeout=tuning.OBJECT_STORE_TIMEOUT_S,
                               request_timeout=tuning.OBJECT_STORE_TIMEOUT_S,
                               retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out {out}: {exc}") from None
    return Dataset(out.split("?", 1)[0].rstrip("/"), fs, f"{url.netloc}{url.path}".rstrip("/"))


def _probe(ds: Dataset) -> None:
    """The root must take a file (written and removed at once), so nothing is built for nothing."""
    if ds.local and os.path.exists(ds.root) and not os.path.isdir(ds.root):
        raise UsageError(f"--out {ds.display} is a file, not a folder", hint="give a folder for the dataset")
    probe = ds.path(f".datagen-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if ds.local:
            ds.fs.create_dir(ds.root, recursive=True)
        with ds.fs.open_output_stream(probe) as f:
            f.write(b"")
        ds.fs.delete_file(probe)
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        raise OutputError(f"cannot write to {ds.display}: {reason}; nothing was written",
                          hint="give --out a folder (or bucket) you can write") from None
