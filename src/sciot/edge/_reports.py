"""Reports of inferences a device ran alone: what the frame router checks and writes for them.

A device sends two kinds: a :class:`~sciot.wire.DeviceOnlyReport` for inferences it ran
locally by decision, and an :class:`~sciot.wire.OfflineReport` for those it ran because the
edge was unreachable. Both hold whole-model records only, must pass the per-device limits and
find room in the telemetry writer before they are taken (a refused report is kept by the
device and sent again), become one telemetry row per inference, and are acknowledged with an
:class:`~sciot.wire.OfflineAck` that carries the next cut. The router
(:class:`~sciot.edge.EdgeCore`) keeps the registry and planner bookkeeping; the rules that
both kinds share live here, once.
"""

from __future__ import annotations

from sciot.edge._limits import Refusal, ReportGate
from sciot.edge._telemetry import TelemetryRow, TelemetryWriter
from sciot.wire import DeviceOnlyReport, ErrorCode, OfflineAck, OfflineReport, encode

LocalReport = OfflineReport | DeviceOnlyReport


def misplaced_cut(msg: LocalReport, num_ops: int) -> str | None:
    """Why a report cannot be taken when one of its records is not at cut ``num_ops``."""
    bad = [r.cut for r in msg.records if r.cut != num_ops]
    if not bad:
        return None
    if isinstance(msg, DeviceOnlyReport):
        return (
            f"a device-only report holds cut {bad[0]}, but device-only is cut {num_ops} for "
            "this model; report other cuts with InferRequest"
        )
    return (
        f"an offline report holds cut {bad[0]}, but an offline inference runs the whole "
        f"model: cut {num_ops} for this model"
    )


def admission_refusal(
    gate: ReportGate, telemetry: TelemetryWriter | None, msg: LocalReport, now_s: float
) -> Refusal | None:
    """A refusal if the report breaks a limit (see :mod:`sciot.edge._limits`) or the device's
    share of the telemetry writer cannot take it whole."""
    refusal = gate.check(msg.device_id, msg.records, now_s)
    if refusal is not None:
        return refusal
    if telemetry is not None and not telemetry.room_for(msg.device_id, len(msg.records)):
        return Refusal(
            ErrorCode.OVERLOADED,
            f"the telemetry writer holds device {msg.device_id!r}'s share of pending rows; "
            "retry later",
        )
    return None


def report_ack(
    msg: LocalReport, model_id: str, next_cut: int, now_s: float, *, next_probe: bool = False
) -> bytes:
    """The acknowledgement of a report: how many records were taken, and the next cut
    (``next_probe``: it is a probe)."""
    return encode(
        OfflineAck(
            device_id=msg.device_id,
            model_id=model_id,
            seq=msg.seq,
            accepted=len(msg.records),
            next_cut=next_cut,
            sent_at_s=now_s,
            next_probe=next_probe,
        )
    )


def write_local_rows(
    telemetry: TelemetryWriter | None,
    msg: LocalReport,
    *,
    model_id: str,
    policy: str,
    next_cut: int | None,
    bytes_sent: int | None,
    edge_s: float | None,
    outcome: str,
) -> None:
    """One telemetry row per inference the device ran alone (whole model on the device), then
    a commit: an acknowledged report is on disk before its ack leaves."""
    if telemetry is None:
        return
    for r in msg.records:
        telemetry.append(
            TelemetryRow(
                at_s=r.started_at_s,
                device_id=msg.device_id,
                model_id=model_id,
                seq=r.seq,
                cut=r.cut,
                next_cut=next_cut,
                device_s=r.device_seconds,
                uplink_bytes=bytes_sent,
                downlink_bytes=bytes_sent,
                transfer_s=None,
                edge_s=edge_s,
                end_to_end_s=r.device_seconds,
                policy=policy,
                outcome=outcome,
            )
        )
    telemetry.flush()


__all__ = [
    "LocalReport",
    "admission_refusal",
    "misplaced_cut",
    "report_ack",
    "write_local_rows",
]
