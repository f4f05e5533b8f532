"""Registration with the edge, and the device's one-line status messages.

:func:`registration` builds the ``Register`` frame (the device's per-op prior included);
:func:`accepted_registration` reads the edge's answer: an ack for this model, a refusal
(:class:`RegistrationRefused`, which retrying cannot fix) or something unusable
(:class:`~sciot.device._exchange.CallFailed`). :class:`StatusLog` words every change of the
device's state the same way, on the ``sciot.device`` logger by default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sciot.device._artefacts import CutArtefacts
from sciot.device._config import DeviceConfig
from sciot.device._exchange import CallFailed, describe
from sciot.errors import ConfigError
from sciot.wire import DeviceProfile, ErrorCode, ErrorFrame, Message, Register, RegisterAck


class RegistrationRefused(ConfigError):
    """The edge refused this device's registration (for example it lacks the model)."""

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.code = code


def initial_cut(config: DeviceConfig, artefacts: CutArtefacts) -> int:
    """The cut before the edge has said anything: the configured one, else device-only."""
    cut = config.initial_cut
    if cut is None:
        return artefacts.num_ops
    if not artefacts.usable(cut):
        raise ConfigError(
            f"key 'initial_cut': {cut} is not a usable cut of this model "
            f"(0..{artefacts.num_ops}, unblocked)"
        )
    return cut


def registration(
    config: DeviceConfig,
    artefacts: CutArtefacts,
    *,
    seq: int,
    op_seconds: Sequence[float],
    sent_at_s: float,
) -> Register:
    return Register(
        device_id=config.device_id,
        model_id=artefacts.model_id,
        seq=seq,
        profile=DeviceProfile(
            kind=config.profile, speed_factor=config.speed_factor, op_seconds=tuple(op_seconds)
        ),
        sent_at_s=sent_at_s,
    )


def accepted_registration(
    reply: Message, config: DeviceConfig, artefacts: CutArtefacts
) -> RegisterAck:
    """The edge's ack for this model, or :class:`RegistrationRefused` / :class:`CallFailed`."""
    if isinstance(reply, ErrorFrame):
        raise RegistrationRefused(
            f"edge {config.edge_url} refused device '{config.device_id}' "
            f"(model {artefacts.model_id}): {reply.reason} [{reply.code.name}]",
            reply.code,
        )
    if not isinstance(reply, RegisterAck) or reply.num_ops != artefacts.num_ops:
        raise CallFailed(f"unexpected registration reply {describe(reply)}")
    return reply


class StatusLog:
    """The device's status lines: one per change of state, never one per inference."""

    def __init__(self, device_id: str, logger: logging.Logger) -> None:
        self.device_id = device_id
        self.logger = logger

    def registered(self, edge_url: str, model_id: str, num_ops: int, cut: int) -> None:
        self.logger.info(
            "%s: registered with %s (model %s, %d ops, cut %d)",
            self.device_id,
            edge_url,
            model_id,
            num_ops,
            cut,
        )

    def back(self, offline_s: float, cut: int, queued: int) -> None:
        self.logger.warning(
            "%s: edge back after %.1f s offline; registered again (cut %d), "
            "%d offline inferences to upload",
            self.device_id,
            offline_s,
            cut,
            queued,
        )

    def forgotten(self, reason: object) -> None:
        self.logger.warning(
            "%s: edge forgot this device (%s); registering again", self.device_id, reason
        )

    def went_offline(self, reason: object, retry_s: float) -> None:
        self.logger.warning(
            "%s: %s; running locally, retry in %.2f s", self.device_id, reason, retry_s
        )

    def still_offline(self, reason: object, retry_s: float) -> None:
        self.logger.info(
            "%s: still offline (%s); next retry in %.2f s", self.device_id, reason, retry_s
        )

    def unusable_cut(self, cut: int, current: int) -> None:
        self.logger.warning(
            "%s: edge asked for unusable cut %d; staying at cut %d", self.device_id, cut, current
        )

    def result_not_kept(self, kind: str, reason: object) -> None:
        self.logger.warning("%s: %s result not kept: %s", self.device_id, kind, reason)


__all__ = [
    "RegistrationRefused",
    "StatusLog",
    "accepted_registration",
    "initial_cut",
    "registration",
]
