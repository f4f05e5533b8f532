"""Running a device from its configuration: transport choice, test input and the loop.

This is what ``sciot device`` (and anything else that wants a whole device, such as the demo)
calls: it opens the transport the configuration names, prepares a client, registers, and runs
inferences for a bounded count or duration, handing each outcome to a callback. Anything the
CLI can do is one call here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from sciot.device._artefacts import CutArtefacts
from sciot.device._config import DeviceConfig
from sciot.device._outcome import DeviceStats, InferenceOutcome
from sciot.errors import ConfigError, SciotError

if TYPE_CHECKING:
    from sciot.device._client import DeviceClient
    from sciot.transport import ClientTransport


def edge_url_for(config: DeviceConfig) -> str:
    """The URL the configured transport dials: an ``http://`` edge URL is turned into the
    matching ``ws://`` one when the transport is WebSocket, so one ``edge_url`` serves both."""
    url = config.edge_url
    if config.transport == "ws" and url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    if config.transport == "ws" and url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if config.transport == "http" and url.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"key 'edge_url': {url!r} is a WebSocket URL but 'transport' is http; "
            "set transport: ws or use http://HOST:PORT"
        )
    schemes = _RAW_SCHEMES.get(config.transport)
    if schemes is not None and not url.startswith(schemes):
        raise ConfigError(
            f"key 'edge_url': {url!r} does not match 'transport: {config.transport}'; "
            f"use {schemes[0]}HOST:PORT or change 'transport'"
        )
    if schemes is None and url.startswith(_ALL_RAW_SCHEMES):
        raise ConfigError(
            f"key 'edge_url': {url!r} needs 'transport' set to its scheme "
            f"(tcp, udp or mqtt), not {config.transport}"
        )
    return url


_RAW_SCHEMES: dict[str, tuple[str, ...]] = {
    "tcp": ("tcp://",),
    "udp": ("udp://",),
    "mqtt": ("mqtt://", "mqtts://"),
}
"""The URL schemes of the transports that have no HTTP form to derive their URL from."""
_ALL_RAW_SCHEMES = tuple(scheme for group in _RAW_SCHEMES.values() for scheme in group)


def open_transport(config: DeviceConfig) -> ClientTransport:
    """The client transport the configuration asks for (nothing is dialled yet)."""
    from sciot.transport import HttpClientTransport, WebSocketClientTransport, client_transport

    url = edge_url_for(config)
    if config.transport in _RAW_SCHEMES:
        return client_transport(url, ca_file=config.ca_file)
    if config.transport == "ws":
        return WebSocketClientTransport(url, ca_file=config.ca_file)
    return HttpClientTransport(url, ca_file=config.ca_file)


def sample_input(artefacts: CutArtefacts, model: str, seed: int) -> np.ndarray:
    """A realistic input: the demo model's own sample when there is one, otherwise seeded
    noise of the right shape and dtype (enough to exercise every op)."""
    try:
        from sciot.model.zoo import load_demo_input

        array = np.asarray(load_demo_input(model, seed))
    except (ImportError, SciotError):
        array = None
    spec = artefacts.graph.inputs[0]
    if array is not None and tuple(array.shape) == tuple(spec.shape):
        return array.astype(spec.dtype, copy=False)
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.random(spec.shape, dtype=np.float32).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=spec.shape, endpoint=True, dtype=dtype)


def run_device(
    config: DeviceConfig,
    *,
    count: int | None = None,
    duration_s: float | None = None,
    transport: ClientTransport | None = None,
    on_outcome: Callable[[DeviceClient, InferenceOutcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DeviceStats:
    """Register and run inferences until ``count`` or ``duration_s`` (whichever comes first)
    or ``should_stop()``; returns the final statistics after a last offline upload."""
    from sciot.device._client import DeviceClient

    if count is None and duration_s is None and should_stop is None:
        raise ConfigError("give a count, a duration or a stop condition; a device loop must end")
    if count is not None and count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    if duration_s is not None and duration_s < 0:
        raise ConfigError(f"duration must be >= 0 s, got {duration_s}")
    client = DeviceClient(
        config, transport if transport is not None else open_transport(config), clock=clock
    )
    with client:
        data = sample_input(client.artefacts, config.model, config.seed)
        client.start()
        started_s = clock()
        done = 0
        while (count is None or done < count) and (
            duration_s is None or clock() - started_s < duration_s
        ):
            if should_stop is not None and should_stop():
                break
            outcome = client.infer(data)
            done += 1
            if on_outcome is not None:
                on_outcome(client, outcome)
    return client.stats()


__all__ = ["edge_url_for", "open_transport", "run_device", "sample_input"]
