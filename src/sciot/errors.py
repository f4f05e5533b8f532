"""One exception hierarchy for the whole package.

Every error a user can cause or meet derives from :class:`SciotError`, split by what the
caller can do about it. Adapters translate other libraries' exceptions (LiteRT, paho,
OS errors) into these with ``raise ... from exc`` so callers never need to know which
library sits underneath. The CLI prints ``str(error)`` as one line and exits with
``error.exit_code``; a traceback means a bug.
"""

from __future__ import annotations


class SciotError(Exception):
    """Base of every error sciot raises on purpose."""

    exit_code: int = 1


class ConfigError(SciotError):
    """A configuration file, option or argument is invalid; the message names it."""

    exit_code = 2


class ModelError(SciotError):
    """A model file cannot be read, analysed, split or converted."""

    exit_code = 3


class ExecutionError(SciotError):
    """Running a model segment failed (wrong inputs, interpreter failure)."""

    exit_code = 4


class WireError(SciotError):
    """A frame could not be encoded or decoded."""

    exit_code = 5


class LocalProtocolError(WireError):
    """We were asked to produce a frame that breaks the wire format's rules."""


class RemoteProtocolError(WireError):
    """A peer sent bytes that break the wire format's rules."""


class TransportError(SciotError):
    """A peer could not be reached, timed out or went away."""

    exit_code = 6


class PlannerError(SciotError):
    """The planner was given inconsistent inputs (unknown cut, bad observation)."""

    exit_code = 7


class SensorError(SciotError):
    """The sensor pipeline was misconfigured or lost its broker."""

    exit_code = 8


class MissingExtraError(SciotError):
    """An optional dependency is not installed; the message says which extra to install."""

    exit_code = 9

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}', which is not installed; "
            f"install it with: pip install 'sciot[{extra}]'"
        )
        self.package = package
        self.extra = extra


__all__ = [
    "ConfigError",
    "ExecutionError",
    "LocalProtocolError",
    "MissingExtraError",
    "ModelError",
    "PlannerError",
    "RemoteProtocolError",
    "SciotError",
    "SensorError",
    "TransportError",
    "WireError",
]
