"""Which network emulation a run uses, and whether kernel ``netns`` + ``netem`` is usable here.

Three emulations exist by name (:data:`EMULATIONS`). ``virtual``: the in-process link model
on a virtual clock (:class:`~sciot.sim.LinkModel` behind the :class:`~sciot.sim.NetworkEmulator`
seam). ``live``: the same link model inside the real transport path
(:class:`~sciot.transport.EmulatedTransport`) between real device clients and a real edge, in
wall time. ``netem``: the kernel's emulation, a device and an edge namespace joined by a veth
pair shaped with ``tc qdisc ... netem delay/rate/loss``; it needs root (or CAP_NET_ADMIN) and
the ``ip`` and ``tc`` tools, and a kernel with the netem qdisc. :func:`detect_kernel_netem`
checks all of it (the last by adding a netem qdisc inside a throwaway namespace it deletes
again) and says why not when something is missing. The kernel path itself is not implemented
yet: a run that asks for it falls back to ``live``, the closest emulation that is, with a
note saying why (:func:`netem_fallback_note`). Every run records the emulation asked for, the
one used and the detection result in ``run.json``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass

IN_PROCESS = "in-process virtual clock"
LIVE = "live: real edge and device clients on loopback, in-process link emulation"
EMULATIONS = ("virtual", "live", "netem")
EMULATION_LABELS = {"virtual": IN_PROCESS, "live": LIVE}


@dataclass(frozen=True, slots=True, kw_only=True)
class NetemSupport:
    available: bool
    reason: str


_PROBES = itertools.count()


def detect_kernel_netem(*, timeout_s: float = 2.0, probe: bool = True) -> NetemSupport:
    """Check for root, ``ip``, ``tc``, a working ``ip netns list`` and (``probe``) a netem
    qdisc the kernel accepts; nothing outside the probe's own namespace is touched."""
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
    if probe:
        problem = _probe_netem(timeout_s)
        if problem is not None:
            return NetemSupport(available=False, reason=problem)
    return NetemSupport(available=True, reason="root with ip and tc: netns + netem usable")


def _run(args: list[str], timeout_s: float) -> str | None:
    """None on success, else what went wrong (stderr or the OS error)."""
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
    return None


def _probe_netem(timeout_s: float) -> str | None:
    """Add a netem qdisc to the loopback of a namespace created for it, then delete it."""
    name = f"sciot-probe-{os.getpid()}-{next(_PROBES)}"
    problem = _run(["ip", "netns", "add", name], timeout_s)
    if problem is not None:
        return f"cannot create a network namespace: {problem}"
    try:
        netem = ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root"]
        problem = _run([*netem, "netem", "delay", "1ms"], timeout_s)
    finally:
        _run(["ip", "netns", "del", name], timeout_s)
    if problem is not None:
        return f"the kernel refused a netem qdisc (no sch_netem?): {problem}"
    return None


def netem_fallback_note(support: NetemSupport) -> str:
    """Why a run that asked for kernel netem runs ``live`` instead."""
    if support.available:
        why = "kernel netem is usable here, but sciot's netem runner is not implemented yet"
    else:
        why = f"kernel netem is not usable here: {support.reason}"
    return f"{why}; falling back to live emulation ({LIVE})"


__all__ = [
    "EMULATIONS",
    "EMULATION_LABELS",
    "IN_PROCESS",
    "LIVE",
    "NetemSupport",
    "detect_kernel_netem",
    "netem_fallback_note",
]
