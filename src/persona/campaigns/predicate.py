"""Audience predicates: small, safe boolean expressions over customer fields, evaluated on a DataFrame.

Grammar (a subset of Python): comparisons ``< <= > >= == !=``, ``in`` / ``not in`` with a list,
``and`` / ``or`` / ``not``, parentheses, numbers, strings, ``true``/``false``/``null``, field names.
Example: ``churn_probability > 0.6 and clv_12m > 100 and country in ['DE', 'FR']``.
A missing value never matches a comparison.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError

_CMP = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_CONST_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class Predicate:
    """A parsed predicate. ``fields`` lists the names it uses; ``evaluate(frame)`` gives a boolean mask."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        if not self.text:
            raise InputError("empty predicate", hint="write e.g. `churn_probability > 0.6`")
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as exc:
            raise InputError(
                f"cannot parse predicate {self.text!r} at column {exc.offset}: {exc.msg}",
                hint="use comparisons joined by and/or, e.g. `recency_days > 90 and frequency >= 2`",
            ) from exc
        self._tree = tree.body
        self.fields: set[str] = set()
        self._check(self._tree)

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            self._check(node.operand)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _CMP and not isinstance(op, ast.In | ast.NotIn):
                    raise InputError(f"operator {type(op).__name__} is not allowed in {self.text!r}")
            for v in [node.left, *node.comparators]:
                self._check(v)
        elif isinstance(node, ast.Name):
            if node.id not in _CONST_NAMES:
                self.fields.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | str | bool | type(None)):
                raise InputError(f"constant {node.value!r} is not allowed in {self.text!r}")
        elif isinstance(node, ast.List | ast.Tuple):
            for v in node.elts:
                self._check(v)
        else:
            raise InputError(
                f"{type(node).__name__} is not allowed in predicate {self.text!r}",
                hint="only field names, numbers, strings, lists, comparisons and and/or/not",
            )

    def validate_fields(self, available: Iterable[str]) -> None:
        """Raise if the predicate names a field that does not exist."""
        avail = set(available)
        unknown = sorted(self.fields - avail)
        if unknown:
            raise InputError(
                f"predicate {self.text!r} uses unknown field(s) {', '.join(unknown)}",
                hint=f"available: {', '.join(sorted(avail))}",
            )

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean mask over ``frame``'s rows."""
        self.validate_fields(frame.columns)
        out = self._eval(self._tree, frame)
        if not isinstance(out, pd.Series):
            return pd.Series(bool(out), index=frame.index)
        return out.fillna(False).astype(bool)

    def _eval(self, node: ast.AST, f: pd.DataFrame) -> Any:
        if isinstance(node, ast.BoolOp):
            vals = [self._as_mask(self._eval(v, f), f) for v in node.values]
            acc = vals[0]
            for v in vals[1:]:
                acc = (acc & v) if isinstance(node.op, ast.And) else (acc | v)
            return acc
        if isinstance(node, ast.UnaryOp):
            val = self._eval(node.operand, f)
            return ~self._as_mask(val, f) if isinstance(node.op, ast.Not) else -val
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, f)
            acc = pd.Series(True, index=f.index)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, f)
                if isinstance(op, ast.In | ast.NotIn):
                    items = right if isinstance(right, list) else [right]
                    res = left.isin(items) if isinstance(left, pd.Series) else pd.Series(left in items, index=f.index)
                    if isinstance(op, ast.NotIn):
                        res = ~res & (left.notna() if isinstance(left, pd.Series) else True)
                else:
                    res = self._compare(_CMP[type(op)], left, right, f)
                acc = acc & res
                left = right
            return acc
        if isinstance(node, ast.Name):
            if node.id in _CONST_NAMES:
                return _CONST_NAMES[node.id]
            return f[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(v, f) for v in node.elts]
        raise InputError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check

    @staticmethod
    def _compare(fn: Any, left: Any, right: Any, f: pd.DataFrame) -> pd.Series:
        if right is None or left is None:
            other = left if right is None else right
            isna = other.isna() if isinstance(other, pd.Series) else pd.Series(other is None, index=f.index)
            return isna if fn is operator.eq else ~isna
        try:
            if isinstance(left, pd.Series) and isinstance(right, int | float) and not isinstance(right, bool):
                left = pd.to_numeric(left, errors="coerce")
            if isinstance(right, pd.Series) and isinstance(left, int | float) and not isinstance(left, bool):
                right = pd.to_numeric(right, errors="coerce")
            res = fn(left, right)
        except TypeError as exc:
            raise InputError(f"cannot compare {left!r:.40} with {right!r:.40}: {exc}") from exc
        if not isinstance(res, pd.Series):
            res = pd.Series(bool(res), index=f.index)
        return res.fillna(False).astype(bool)

    @staticmethod
    def _as_mask(v: Any, f: pd.DataFrame) -> pd.Series:
        if isinstance(v, pd.Series):
            if v.dtype == bool:
                return v
            return v.fillna(0).astype(bool) if v.dtype != object else v.notna() & (v != "")
        return pd.Series(bool(v), index=f.index)


def evaluate(text: str, frame: pd.DataFrame) -> np.ndarray:
    """Convenience: the rows of ``frame`` matching ``text`` as a boolean array."""
    return Predicate(text).evaluate(frame).to_numpy()
