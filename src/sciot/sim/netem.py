"""Whether real kernel network emulation (``ip netns`` + ``tc netem``) is usable here.

Kernel emulation puts the device and the edge in two network namespaces joined by a veth pair
and shapes the link with ``tc qdisc ... netem delay/rate/loss``; it needs root (or
CAP_NET_ADMIN) and the ``ip`` and ``tc`` tools. :func:`detect_kernel_netem` checks without
changing anything and says why not when it is not available; runs record its answer next to
the emulation they actually used, which is the in-process model
(:class:`~sciot.sim.LinkModel` behind the :class:`~sciot.sim.NetworkEmulator` seam) in every
case today: the kernel path is detected, not implemented.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

IN_PROCESS = "in-process virtual clock"


@dataclass(frozen=True, slots=True, kw_only=True)
class NetemSupport:
    available: bool
    reason: str


def detect_kernel_netem(*, timeout_s: float = 2.0) -> NetemSupport:
    """Check for root, ``ip``, ``tc`` and a working ``ip netns list``; never modifies state."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() != 0:
        return NetemSupport(available=False, reason="not running as root (needs CAP_NET_ADMIN)")
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return NetemSupport(available=False, reason=f"missing tools: {', '.join(missing)}")
    try:
        done = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NetemSupport(available=False, reason=f"'ip netns list' failed: {exc}")
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        return NetemSupport(available=False, reason=f"'ip netns list' failed: {stderr}")
    return NetemSupport(available=True, reason="root with ip and tc: netns + netem usable")


__all__ = ["IN_PROCESS", "NetemSupport", "detect_kernel_netem"]
