"""Typed readers over raw YAML values that raise ConfigError naming the key path."""

from __future__ import annotations

import builtins
import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from datagen.errors import ConfigError

_N = TypeVar("_N", int, float)
SHARE_TOLERANCE = 1e-6  # shares are written with a few decimals; anything closer than this sums to 1


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


class Node:
    """A YAML value and the dotted key path it came from."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, problem: str, *, hint: str | None = None) -> ConfigError:
        return ConfigError(self.path or "<root>", problem, hint=hint)

    def child(self, key: str | int) -> Node:
        if isinstance(key, int):
            return Node(self.value[key], f"{self.path}[{key}]")
        return Node(self.value[key], f"{self.path}.{key}" if self.path else key)

    # -- containers -------------------------------------------------------------------------------------
    def mapping(self, required: tuple[str, ...], optional: tuple[str, ...] = (),
                removed: dict[str, str] | None = None) -> dict[str, Node]:
        """A mapping with exactly these keys (optional ones may be absent).

        `removed` maps keys that older configs had to the reason they went: such a key is refused with
        that reason rather than as unknown, so a user upgrading learns why, and no key is ever accepted
        and ignored.
        """
        if not isinstance(self.value, dict):
            raise self.fail(f"must be a mapping with keys {', '.join(required + optional)}, "
                            f"got {type_name(self.value)}")
        allowed = required + optional
        for key, why in (removed or {}).items():
            if key in self.value:
                node = self.child(key)
                raise node.fail(f"was removed: {why}", hint=f"delete {node.path} from the config")
        for key in self.value:
            if not isinstance(key, str) or key not in allowed:
                raise ConfigError(f"{self.path}.{key}" if self.path else str(key),
                                  f"unknown key; allowed here: {', '.join(allowed)}")
        for key in required:
            if key not in self.value:
                raise ConfigError(f"{self.path}.{key}" if self.path else key, "missing required key")
        return {k: self.child(k) for k in allowed if k in self.value}

    def entries(self, *, min_len: int = 1) -> Iterator[tuple[str, Node]]:
        """A mapping of user-chosen names (industries, regions, ...) to values."""
        if not isinstance(self.value, dict):
            raise self.fail(f"must be a mapping of names to settings, got {type_name(self.value)}")
        if len(self.value) < min_len:
            raise self.fail(f"must have at least {min_len} entr{'y' if min_len == 1 else 'ies'}")
        for key in self.value:
            if not isinstance(key, str) or not key.strip():
                raise self.fail(f"names must be non-empty strings, got {key!r}")
            yield key, self.child(key)

    def items(self, *, min_len: int = 1, max_len: int | None = None, unique: bool = False) -> list[Node]:
        """A list; unique: a set written as a list, where a repeated item is a mistake, not a weight."""
        if not isinstance(self.value, list):
            raise self.fail(f"must be a list, got {type_name(self.value)}")
        if len(self.value) < min_len:
            raise self.fail(f"must have at least {min_len} item(s), got {len(self.value)}")
        if max_len is not None and len(self.value) > max_len:
            raise self.fail(f"must have at most {max_len} item(s), got {len(self.value)}")
        if unique:
            for i, v in enumerate(self.value):
                if any(type(v) is type(w) and v == w for w in self.value[:i]):
                    raise self.child(i).fail(f"repeats {v!r}; list each item once")
        return [self.child(i) for i in range(len(self.value))]

    # -- scalars ----------------------------------------------------------------------------------------
    def int(self, *, lo: builtins.int | None = None, hi: builtins.int | None = None) -> builtins.int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, builtins.int):
            raise self.fail(f"must be an integer, got {type_name(v)} {v!r}")
        self._bounds(v, lo, hi)
        return builtins.int(v)

    def float(self, *, lo: builtins.float | None = None, hi: builtins.float | None = None) -> builtins.float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(f"must be a number, got {type_name(v)} {v!r}")
        if not math.isfinite(v):
            raise self.fail(f"must be a finite number, got {v!r}")
        self._bounds(v, lo, hi)
        return float(v)

    def str(self, *, choices: tuple[builtins.str, ...] | None = None, max_len: builtins.int = 200) -> builtins.str:
        v = self.value
        if not isinstance(v, str) or not v.strip():
            raise self.fail(f"must be a non-empty string, got {type_name(v)} {v!r}")
        if len(v) > max_len:
            raise self.fail(f"must be at most {max_len} characters, got {len(v)}")
        if choices is not None and v not in choices:
            raise self.fail(f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def date(self) -> dt.date:
        v = self.value
        if isinstance(v, dt.datetime):
            raise self.fail(f"must be a date (YYYY-MM-DD) without a time, got {v!r}")
        if isinstance(v, dt.date):
            return v
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                pass
        raise self.fail(f"must be a date written YYYY-MM-DD, got {v!r}")

    def share(self) -> builtins.float:
        return self.float(lo=0.0, hi=1.0)

    def int_range(
        self, *, lo: builtins.int | None = None, hi: builtins.int | None = None
    ) -> tuple[builtins.int, builtins.int]:
        a, b = self.items(min_len=2, max_len=2)
        return self._ordered(a.int(lo=lo, hi=hi), b.int(lo=lo, hi=hi), b, str)

    def float_range(
        self, *, lo: builtins.float | None = None, hi: builtins.float | None = None
    ) -> tuple[builtins.float, builtins.float]:
        a, b = self.items(min_len=2, max_len=2)
        return self._ordered(a.float(lo=lo, hi=hi), b.float(lo=lo, hi=hi), b, "{:g}".format)

    def _ordered(self, lo_v: _N, hi_v: _N, second: Node, show: Callable[[_N], builtins.str]) -> tuple[_N, _N]:
        """[min, max], refused when max < min (naming the second item)."""
        if hi_v < lo_v:
            raise second.fail(f"must be >= the minimum {self.path}[0] ({show(lo_v)}), got {show(hi_v)}; "
                              "write [min, max]")
        return lo_v, hi_v

    def _bounds(self, v: builtins.float, lo: builtins.float | None, hi: builtins.float | None) -> None:
        if lo is not None and v < lo:
            raise self.fail(f"must be >= {lo:g}, got {v!r}")
        if hi is not None and v > hi:
            raise self.fail(f"must be <= {hi:g}, got {v!r}")


def check_shares(node: Node, shares: Mapping[str, float]) -> None:
    """Shares of one section must sum to 1."""
    total = sum(shares.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        parts = " + ".join(f"{k} {v:g}" for k, v in shares.items())
        raise node.fail(f"shares must sum to 1, got {total:.6g} ({parts})")
