"""The PostgreSQL binary COPY format: header, trailer and tuples, for every writer (the loaders' COPY, the
benchmark ceilings' files), all through write_copy. As psycopg separates its Formatter from where the bytes go,
this module only makes bytes; a Writer (anything with write(), a psycopg Copy or a file) takes them.

Tuples come from pgpq (Arrow to binary COPY) or, for high-volume tables, from numpy one row layout at a time.

A builder that knows its rows fall into a few layouts (which columns are NULL, which constant strings they
carry) tags each row with a layout number. Rows of one layout have the same byte structure, so a packed
numpy record dtype describes them and filling it is a handful of strided copies: several times faster
than a general encoder that walks every value. Rows come out grouped by layout (COPY order does not
change table content; ids are explicit). Everything else goes through pgpq.

Format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4 (each tuple: int16 field
count, then per field int32 length, -1 for NULL, and the value in network byte order).

A packed jsonb column (tables.Packed: tap events' `metrics` in the contract layout) is built the same way.
Rows of one layout carry the same keys, so the object's text is constant but for its numbers; each number is
right-aligned in a width fixed per partition and key (JSON allows the spaces before a value, and jsonb does
not keep them), so the field has one length per layout too. A number's text comes from a table of the
partition's value range, rendered once by integer arithmetic and gathered per row. jsonb's binary input is a
version byte (1) and the JSON text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pgpq
import polars as pl

from datagen.tables import DEFAULT_LAYOUT, Table
from datagen.tuning import COPY_BATCH_ROWS, DECIMAL_TEXT_TABLE_MAX

PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, header extension length
PGCOPY_TRAILER = b"\xff\xff"


class Writer(Protocol):
    def write(self, data: bytes | memoryview, /) -> Any: ...


def write_copy(writer: Writer, bodies: Iterable[bytes | memoryview]) -> None:
    """One whole COPY stream: the header, the tuples of each body, the trailer."""
    writer.write(PGCOPY_HEADER)
    for body in bodies:
        writer.write(body)
        del body  # let a part's buffer go before the next one is waited for (the event loader's peak memory)
    writer.write(PGCOPY_TRAILER)


def pgpq_tuples(frame: pl.DataFrame, batch_rows: int = COPY_BATCH_ROWS) -> Iterator[tuple[bytes, int]]:
    """The frame's tuples (no header, no trailer) through pgpq, a batch at a time: (bytes, rows)."""
    arrow = frame.to_arrow()
    encoder = pgpq.ArrowToPostgresBinaryEncoder(arrow.schema)
    if encoder.write_header() != PGCOPY_HEADER:
        raise AssertionError("pgpq writes another binary COPY header")
    for batch in arrow.to_batches(max_chunksize=batch_rows):
        yield encoder.write_batch(batch), batch.num_rows
    rest = encoder.finish()  # pgpq buffers: what it still holds, then the trailer
    if not rest.endswith(PGCOPY_TRAILER):
        raise AssertionError("pgpq writes another binary COPY trailer")
    yield rest[:-len(PGCOPY_TRAILER)], 0


def tuples(frame: pl.DataFrame, table: Table, layout: str = DEFAULT_LAYOUT, *,
           row_layout: npt.NDArray[np.integer] | None = None, batch_rows: int = COPY_BATCH_ROWS) -> bytes | memoryview:
    """The tuples (no header, no trailer) of frame, table's declared columns, stored in layout: numpy by row
    layout when the builder tagged its rows (packing a contract layout's jsonb column), else pgpq."""
    p = table.packed if table.layout_of(layout) == "contract" else None
    if row_layout is not None:
        return encode_by_layout(frame, row_layout, packed=PackedJson(p.column, p.keys, p.after) if p else None)
    if p is not None:  # a packed column needs the builder's row layouts
        raise AssertionError(f"{table.key}: the {layout} layout needs the builder's row layouts")
    return b"".join(chunk for chunk, _ in pgpq_tuples(frame, batch_rows))

_PG_EPOCH_US = int((dt.datetime(2000, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
_PG_EPOCH_DAYS = (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days


_NATIVE: dict[type[pl.DataType], str] = {pl.Int32: ">i4", pl.Int64: ">i8", pl.Int16: ">i2", pl.Float32: ">f4",
                                         pl.Float64: ">f8"}


def _wire(series: pl.Series) -> tuple[np.ndarray, str]:
    """The column as a numpy array of wire values, and its wire dtype (None-safe: NULLs become zeros)."""
    dtype = series.dtype
    native = _NATIVE.get(dtype.base_type())
    if native is not None and series.null_count() == 0:  # no NULLs: numpy's view of the column, no copy
        return series.to_numpy(), native
    if dtype == pl.Int32:
        return series.fill_null(0).to_numpy(), ">i4"
    if dtype == pl.Int64:
        return series.fill_null(0).to_numpy(), ">i8"
    if dtype == pl.Int16:
        return series.fill_null(0).to_numpy(), ">i2"
    if dtype == pl.Float32:
        return series.fill_null(0.0).to_numpy(), ">f4"
    if dtype == pl.Float64:
        return series.fill_null(0.0).to_numpy(), ">f8"
    if dtype == pl.Boolean:
        return series.fill_null(False).cast(pl.UInt8).to_numpy(), "u1"
    if dtype == pl.Datetime("us"):
        return series.to_physical().fill_null(0).to_numpy() - _PG_EPOCH_US, ">i8"
    if dtype == pl.Date:
        return series.cast(pl.Int32).fill_null(0).to_numpy() - _PG_EPOCH_DAYS, ">i4"
    raise TypeError(f"no fixed-width wire encoding for {dtype}")


def render_decimal(k: npt.NDArray[np.int64], decimals: int) -> npt.NDArray[np.bytes_]:
    """k / 10**decimals as JSON number texts with exactly `decimals` digits after the point, right-aligned
    with spaces to one width (the longest), as a numpy bytes array. Integer arithmetic only."""
    k = np.asarray(k, dtype=np.int64)
    neg = k < 0
    a = np.abs(k)
    whole, frac = np.divmod(a, 10 ** decimals)
    ndig = np.ones(k.shape, dtype=np.int64)
    j = 1
    while j < 19 and (whole >= 10 ** j).any():
        ndig += whole >= 10 ** j
        j += 1
    int_width = int((ndig + neg).max()) if k.size else 1  # digits before the point, and the sign
    width = int_width + (decimals + 1 if decimals else 0)
    out = np.full((k.size, width), ord(" "), dtype=np.uint8)
    col = width - 1
    for d in range(decimals):
        out[:, col] = 48 + (frac // 10 ** d) % 10
        col -= 1
    if decimals:
        out[:, col] = ord(".")
        col -= 1
    for d in range(int_width):
        digit = 48 + (whole // 10 ** d) % 10 if d < 19 else np.zeros_like(whole)
        out[:, col] = np.where((d == 0) | (ndig > d), digit, np.where(neg & (ndig == d), ord("-"), ord(" ")))
        col -= 1
    return out.view(f"S{width}").ravel()


@dataclass(frozen=True)
class PackedJson:
    """A jsonb column made of number keys of the frame (tables.Packed): stored at position `at` of the output
    columns, in place of the key columns."""

    column: str
    keys: tuple[tuple[str, int], ...]  # (frame column = key, decimals)
    after: str


def _scaled(series: pl.Series, decimals: int) -> npt.NDArray[np.int64]:
    """The column's values times 10**decimals as integers (NULLs as 0), refusing values whose text would need
    more decimals, and -0.0 (its text reads back as 0.0): the text must read back (as real or integer) to
    exactly the value loaded."""
    if series.dtype.is_integer():
        if decimals:
            raise ValueError(f"column {series.name}: an integer column has no decimals")
        return series.fill_null(0).cast(pl.Int64).to_numpy()
    v = series.fill_null(0.0).to_numpy()
    k = np.rint(v.astype(np.float64) * 10.0 ** decimals).astype(np.int64)
    back = k.astype(v.dtype) / v.dtype.type(10 ** decimals)  # correctly rounded: the nearest to k / 10**d
    if np.abs(k).max(initial=0) >= 1 << 24 or not np.array_equal(back, v) or np.signbit(v[v == 0]).any():
        raise ValueError(f"column {series.name}: values need more than {decimals} decimals to read back exactly")
    return k


def _packed_texts(frame: pl.DataFrame, packed: PackedJson, valid: dict[str, np.ndarray]
                  ) -> dict[str, tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64]]]:
    """Per key: the texts (a table over the value range, or one per row) and each row's index into them."""
    out = {}
    for key, decimals in packed.keys:
        k = _scaled(frame[key], decimals)
        mask = valid[key]
        if not mask.any():
            out[key] = (render_decimal(np.zeros(1, dtype=np.int64), decimals), np.zeros(k.size, dtype=np.int64))
            continue
        lo, hi = int(k[mask].min()), int(k[mask].max())
        if hi - lo < min(DECIMAL_TEXT_TABLE_MAX, k.size):
            out[key] = (render_decimal(np.arange(lo, hi + 1, dtype=np.int64), decimals),
                        np.where(mask, k - lo, 0))
        else:
            out[key] = (render_decimal(np.where(mask, k, lo), decimals), np.arange(k.size, dtype=np.int64))
    return out


def encode_by_layout(frame: pl.DataFrame, layout: npt.NDArray[np.integer], *,
                     packed: PackedJson | None = None) -> memoryview:
    """Binary COPY tuples (no header, no trailer) for frame, whose rows of equal `layout` share which
    columns are NULL and the value of every string column. With packed, its key columns are written as one
    jsonb column in their place (after packed.after), each row's object holding its non-NULL keys."""
    n = frame.height
    if n == 0:
        return memoryview(b"")
    pkeys = [k for k, _ in packed.keys] if packed else []
    out_cols: list[str] = []
    for col in frame.columns:
        if col not in pkeys:
            out_cols.append(col)
        if packed is not None and col == packed.after:
            out_cols.append(packed.column)
    small = layout.size == 0 or (int(layout.min()) >= 0 and int(layout.max()) < 1 << 16)
    order = np.argsort(layout.astype(np.uint16) if small else layout, kind="stable")  # uint16: a radix sort
    sorted_layout = layout[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_layout[1:] != sorted_layout[:-1]]))
    ends = np.append(starts[1:], n)
    first_rows = order[starts]
    wire: dict[str, tuple[np.ndarray, str]] = {}
    nulls: dict[str, np.ndarray] = {}
    for col in frame.columns:
        s = frame[col]
        if s.null_count():
            nulls[col] = s.is_null().to_numpy()
        if s.dtype != pl.String and col not in pkeys:
            wire[col] = _wire(s)
    texts = _packed_texts(frame, packed, {k: ~nulls[k] if k in nulls else np.ones(n, dtype=bool) for k in pkeys}
                          ) if packed else {}
    string_cols = [col for col in frame.columns if frame[col].dtype == pl.String]
    strings = {col: frame[col].gather(pl.Series(first_rows)).to_list() for col in string_cols}
    if string_cols:  # the contract: every string column holds one value per layout (checked by 64-bit hash)
        group_of = np.empty(n, dtype=np.int64)
        group_of[order] = np.repeat(np.arange(starts.size), ends - starts)
        for col in string_cols:
            h = frame[col].hash(seed=0).to_numpy()
            if not np.array_equal(h, h[first_rows][group_of]):
                raise ValueError(f"column {col}: rows of one layout differ in value")
    for col, mask in nulls.items():  # the contract: NULL-ness is the same for every row of a layout
        per_group = np.add.reduceat(mask[order].astype(np.int64), starts)
        if not np.all((per_group == 0) | (per_group == ends - starts)):
            raise ValueError(f"column {col}: rows of one layout differ in NULL-ness")
    groups = []
    for g, (a, b) in enumerate(zip(starts, ends, strict=True)):
        rows = order[a:b]
        first = int(first_rows[g])
        fields: list[tuple[str, str]] = [("n", ">i2")]
        data: list[tuple[str, Any]] = []
        lengths: list[tuple[str, int]] = []
        for i, col in enumerate(out_cols):
            if packed is not None and col == packed.column:
                # the object: constant fragments and the row's numbers, one fixed-width field per key
                parts: list[tuple[str, str, Any]] = []  # (field, dtype, constant bytes or per-row values)
                text = b"\x01{"
                for j, key in enumerate(pkeys):
                    if key in nulls and nulls[key][first]:
                        continue
                    table, index = texts[key]
                    text += (b", " if text != b"\x01{" else b"") + f'"{key}":'.encode()
                    parts.append((f"c{i}_{j}", f"S{len(text)}", text))
                    parts.append((f"v{i}_{j}", table.dtype.str, table[index[rows]]))
                    text = b""
                text += b"}"
                parts.append((f"c{i}_end", f"S{len(text)}", text))
                fields.append((f"l{i}", ">i4"))
                lengths.append((f"l{i}", sum(np.dtype(d).itemsize for _, d, _ in parts)))
                for name, dt_, value in parts:
                    fields.append((name, dt_))
                    data.append((name, value))
                continue
            if col in nulls and nulls[col][first]:
                fields.append((f"l{i}", ">i4"))
                lengths.append((f"l{i}", -1))
                continue
            if col in strings:
                raw = strings[col][g].encode("utf-8")
                fields += [(f"l{i}", ">i4"), (f"v{i}", f"S{max(len(raw), 1)}")] if raw else [(f"l{i}", ">i4")]
                lengths.append((f"l{i}", len(raw)))
                if raw:
                    data.append((f"v{i}", raw))
                continue
            values, wdtype = wire[col]
            fields += [(f"l{i}", ">i4"), (f"v{i}", wdtype)]
            lengths.append((f"l{i}", np.dtype(wdtype).itemsize))
            data.append((f"v{i}", values[rows].astype(wdtype)))  # byte-swapped while contiguous
        groups.append((rows, np.dtype(fields), lengths, data))  # packed: no padding in a list-of-tuples dtype
    # one buffer for the whole partition. Each layout's constant bytes (field count, lengths, strings) are
    # written once into a template record and repeated; only the values are assigned per row (assigning
    # constants into packed fields row by row costs more than all the values together).
    out = np.empty(sum(rows.size * dtype.itemsize for rows, dtype, _, _ in groups), dtype=np.uint8)
    offset = 0
    for rows, dtype, lengths, data in groups:
        size = rows.size * dtype.itemsize
        rec = out[offset:offset + size].view(dtype)  # the records, written in place in the output buffer
        template = np.zeros(1, dtype=dtype)
        template["n"] = len(out_cols)
        for name, length in lengths:
            template[name] = length
        for name, value in data:
            if isinstance(value, bytes):
                template[name] = value
        out[offset:offset + size].reshape(rows.size, dtype.itemsize)[:] = template.view(np.uint8)
        for name, value in data:
            if not isinstance(value, bytes):
                rec[name] = value
        offset += size
    return memoryview(out.data)
