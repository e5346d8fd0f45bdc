"""Join kernels the checks share: dense key indexes, lookups, positions of child keys in their parents."""

from __future__ import annotations

import numpy as np
import polars as pl

from datagen.tuning import DENSE_MAX_KEY


def key_index(parent_keys: pl.Series) -> np.ndarray | None:
    """Row position by key value (-1: no such row; the last slot is always -1), for small non-negative
    integer keys; None for other keys (the caller joins instead)."""
    if not parent_keys.dtype.is_integer() or parent_keys.null_count():
        return None
    if parent_keys.len() == 0 or int(parent_keys.min()) < 0 or int(parent_keys.max()) > DENSE_MAX_KEY:  # type: ignore[arg-type]
        return None
    index = np.full(int(parent_keys.max()) + 2, -1, dtype=np.int64)  # type: ignore[arg-type]
    index[parent_keys.to_numpy()] = np.arange(parent_keys.len())
    return index


def lookup(index: np.ndarray, child_keys: pl.Series) -> np.ndarray:
    """index's row of each child key: -1 for NULL, negative and too large keys (all land on the last slot)."""
    keys = (child_keys.fill_null(-1) if child_keys.null_count() else child_keys).to_numpy()
    lowest = 0 if keys.dtype.kind == "u" else -1  # -1 reads the last slot, as index[-1] does
    return np.asarray(index.take(np.clip(keys, lowest, index.size - 1)))


def positions(parent_keys: pl.Series, child_keys: pl.Series) -> np.ndarray | None:
    """Row position in the parent of each child key (-1: no such parent): a join for small integer keys,
    without hashing (event partitions join millions of rows against tens of thousands of parents).
    None when the keys are not small non-negative integers (the caller joins instead)."""
    if not child_keys.dtype.is_integer():
        return None
    index = key_index(parent_keys)
    return None if index is None else lookup(index, child_keys)


def increasing(ids: pl.Series) -> bool:
    if ids.len() < 2:
        return True
    if ids.dtype.is_integer() and ids.null_count() == 0:
        a = ids.to_numpy()  # no copy: one pass in numpy instead of a diff column
        return bool((a[1:] > a[:-1]).all())
    return bool((ids.diff().slice(1) > 0).all())


def no_rows(ids: pl.Series, bad: np.ndarray) -> pl.Series:
    """ids where bad is set: the violators of a check (empty at once when there is none, the usual case)."""
    return ids.filter(pl.Series(bad)) if bad.any() else ids.head(0)


def keys(frame: pl.DataFrame, col: str = "id") -> pl.Series:
    return frame.get_column(col).unique(maintain_order=True)


def off_run(ids: pl.Series, first: int, rows: int) -> pl.Series:
    """Where ids differ from the run first .. first + rows - 1: the missing ids (naming a gap), then the ids
    outside the run. Empty when ids are exactly that run in order (checked without hashing)."""
    if ids.len() == rows and ids.null_count() == 0 and ids.dtype.is_integer():
        a = ids.to_numpy()
        if rows == 0 or (a[0] == first and a[-1] == first + rows - 1 and bool((a[1:] - a[:-1] == 1).all())):
            return ids.head(0)  # the run itself, in order: no second column to compare with
    expected = pl.int_range(first, first + rows, eager=True).cast(ids.dtype)
    if ids.len() == rows and ids.null_count() == 0 and (bool((ids == expected).all())
                                                        or bool((ids.sort() == expected).all())):
        return ids.head(0)  # builders emit id order; a table read back may hold its rows in another order
    return pl.concat([expected.filter(~expected.is_in(ids.implode())), ids.filter(~ids.is_in(expected.implode()))])
