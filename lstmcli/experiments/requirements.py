"""`--require` quality gates: `NAME OP VALUE` checked against a run's final metrics."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from lstmcli.errors import UsageError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_PATTERN = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Requirement:
    metric: str
    op: str
    value: float
    text: str

    def holds(self, reached: float) -> bool:
        return math.isfinite(reached) and _OPS[self.op](reached, self.value)


def parse(text: str) -> Requirement:
    m = _PATTERN.match(text)
    if not m:
        raise UsageError(
            f"--require {text!r}: expected METRIC OP NUMBER with OP one of >=, <=, >, < "
            "(e.g. 'accuracy>=0.95')"
        )
    name, op, raw = m.groups()
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--require {text!r}: expected a number after {op}, got {raw!r}") from None
    return Requirement(name, op, value, text.strip())


def check_names(reqs: list[Requirement], available: list[str]) -> None:
    """A metric the run will not have is a usage error, found before any training."""
    for r in reqs:
        if r.metric not in available:
            raise UsageError(
                f"--require {r.text!r}: this run has no metric {r.metric!r}; "
                f"expected one of {', '.join(available)}"
            )


def unmet(reqs: list[Requirement], metrics: dict[str, float]) -> list[str]:
    """One message per requirement not met, naming it and the value reached."""
    return [
        f"requirement {r.text!r} not met: {r.metric} = {metrics[r.metric]:.6g}"
        for r in reqs
        if not r.holds(metrics[r.metric])
    ]
