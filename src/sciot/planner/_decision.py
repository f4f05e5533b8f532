"""What a policy returns: the cut, and why.

A :class:`Decision` is a frozen value the edge sends to the device and logs. Its
:class:`Explanation` carries the predicted cost of the chosen cut and of the next best two, and
which estimates were stale or unstable when it was made, so a surprising cut can be traced to
its cause without re-running anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sciot.errors import PlannerError


@dataclass(frozen=True, slots=True, kw_only=True)
class CutCost:
    """One candidate as the policy saw it: predicted latency and objective cost."""

    cut: int
    predicted_s: float
    cost: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    policy: str
    chosen: CutCost
    runners_up: tuple[CutCost, ...] = ()
    stale_device_ops: tuple[int, ...] = ()
    stale_edge_ops: tuple[int, ...] = ()
    unstable_device_ops: tuple[int, ...] = ()
    unstable_edge_ops: tuple[int, ...] = ()
    link_identified: bool = True
    rtt_s: float | None = None
    bytes_per_s: float | None = None

    def summary(self) -> str:
        """One line: chosen and runner-up costs, then what was uncertain."""
        parts = [f"{self.policy}: cut {self.chosen.cut} ~{self.chosen.predicted_s * 1e3:.3f} ms"]
        parts += [f"cut {c.cut} ~{c.predicted_s * 1e3:.3f} ms" for c in self.runners_up]
        text = "; ".join(parts)
        flags = []
        if self.stale_device_ops or self.stale_edge_ops:
            flags.append(
                f"stale ops: device {list(self.stale_device_ops)}, edge {list(self.stale_edge_ops)}"
            )
        if self.unstable_device_ops or self.unstable_edge_ops:
            flags.append(
                f"unstable ops: device {list(self.unstable_device_ops)}, "
                f"edge {list(self.unstable_edge_ops)}"
            )
        if not self.link_identified:
            flags.append("bandwidth not yet separated from RTT")
        return text + (" [" + "; ".join(flags) + "]" if flags else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Where to cut one request. ``probe`` marks a cut chosen to measure, not to win."""

    cut: int
    predicted_s: float
    probe: bool
    reason: str
    explanation: Explanation = field(repr=False)

    def __post_init__(self) -> None:
        if self.cut < 0:
            raise PlannerError(f"a decision's cut must be >= 0, got {self.cut}")


__all__ = ["CutCost", "Decision", "Explanation"]
