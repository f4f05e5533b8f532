"""Live scenarios: the real edge, real device clients and an emulated link, in wall time.

Where the virtual runner computes what would happen, a live run makes it happen: for every
scenario and policy it starts a fresh edge server (uvicorn on a free loopback port, the policy
as its planner) and one :class:`~sciot.device.DeviceClient` thread per scenario client. Each
client talks to the edge through an :class:`~sciot.transport.EmulatedTransport` carrying the
scenario's :class:`~sciot.sim.LinkModel` (round trip, jitter, bandwidth steps, outage windows),
and runs its head on :class:`~sciot.sim.emulation.PacedArtefacts` paced to the scenario's
device: after the real LiteRT head, the client sleeps until the time the device profile's
per-op model (noise, stragglers, throttling windows and the computation delay included) says
the head takes. The
planner therefore decides from what the device measured and the edge served, over real
HTTP, as in deployment. Rows and summaries have the virtual runner's columns, so
``sciot analyze`` reads either.

What a live run cannot do: slow the real edge during a window (``edge_overload``) or know
the true expected latency of a cut at every instant (``oracle-dynamic``); both are refused.
Its ``oracle`` is the fixed cut with the best true expected latency, run live. Scenario time
is wall time: ``duration_s`` seconds per scenario and policy.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sciot.device import (
    CutArtefacts,
    DeviceClient,
    DeviceConfig,
    InferenceMode,
    InferenceOutcome,
    open_transport,
    sample_input,
)
from sciot.edge import EdgeConfig, start_edge
from sciot.errors import ConfigError
from sciot.sim._run_types import InferenceRow, ProgressFn, RunConfig, rounded_row
from sciot.sim.emulation import PacedArtefacts
from sciot.sim.environment import Environment
from sciot.sim.profiles import DeviceProfile
from sciot.sim.scenarios import Scenario
from sciot.transport import EmulatedTransport

LIVE_UNSUPPORTED_POLICIES = ("oracle-dynamic", "oracle-now")
# Reconnect quickly after an outage: a scenario lasts seconds, not hours.
_BACKOFF = {"initial_s": 0.2, "max_s": 1.0, "factor": 2.0, "jitter": 0.1}
# Each failure and reconnection is already a row (``failed``, ``reason``); the clients' status
# lines go to this logger, silent unless the application configures logging.
DEVICE_LOG = logging.getLogger("sciot.sim.live")
DEVICE_LOG.addHandler(logging.NullHandler())


def check_live(config: RunConfig, scenarios: Sequence[Scenario]) -> None:
    """Refuse what a live run cannot emulate, naming the scenario or policy."""
    for policy in config.policies:
        if policy in LIVE_UNSUPPORTED_POLICIES:
            raise ConfigError(
                f"policy {policy!r} needs the true expected latency at every instant and runs "
                "only with --emulation virtual"
            )
    for chosen in scenarios:
        if chosen.edge_load_at is not None:
            raise ConfigError(
                f"scenario {chosen.name!r} slows the edge during a window, which a live run "
                "cannot do to a real edge; run it with --emulation virtual"
            )
        # Cross traffic on a trace link is the trace's own thinning, which live runs replay.
        virtual_only = [
            e for e in chosen.effects.active if not (e == "cross_traffic" and chosen.trace)
        ]
        if virtual_only:
            raise ConfigError(
                f"scenario {chosen.name!r} has effects ({', '.join(virtual_only)}) that exist "
                "only in the virtual world; run it with --emulation virtual"
            )


class LiveRunner:
    """Runs policies on scenarios live; holds one paced artefact set per client (reused)."""

    def __init__(self, config: RunConfig, model_path: Path, device: DeviceProfile) -> None:
        self.config = config
        self.model_path = model_path
        self.device = device
        self._artefacts: list[PacedArtefacts] = []
        self._progress_lock = threading.Lock()

    def artefacts(self, clients: int) -> list[PacedArtefacts]:
        while len(self._artefacts) < clients:
            rng = np.random.default_rng([self.config.seed, 7, len(self._artefacts)])
            self._artefacts.append(PacedArtefacts(self.model_path, rng=rng))
        return self._artefacts[:clients]

    def run_policy(
        self,
        env: Environment,
        chosen: Scenario,
        policy: str,
        progress: ProgressFn | None = None,
    ) -> list[InferenceRow]:
        """Rows of one policy on one scenario, from a fresh edge (fresh planner state)."""
        edge_policy = policy
        if policy == "oracle":
            edge_policy = _oracle_cut(env, self.artefacts(1)[0], self.config.duration_s)
        with _edge(self.config, self.model_path, edge_policy) as url:
            t0_s = time.perf_counter()

            def now_s() -> float:
                return time.perf_counter() - t0_s

            clients = [
                _Client(
                    index=i,
                    url=url,
                    env=env,
                    env_label=chosen.name,
                    artefacts=artefacts,
                    config=self.config,
                    now_s=now_s,
                )
                for i, artefacts in enumerate(self.artefacts(chosen.clients))
            ]
            t0_s = time.perf_counter()  # scenario time starts once every client is registered
            label = f"{chosen.name} / {policy} (live)"

            def tick(units: int) -> None:
                if progress is not None:
                    with self._progress_lock:
                        progress(units, label)

            threads = [
                threading.Thread(target=c.run, args=(tick,), name=f"live-{c.name}", daemon=True)
                for c in clients
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=self.config.duration_s + 60.0)
            for client in clients:
                client.close()
            errors = [c.error for c in clients if c.error is not None]
            if errors:
                raise errors[0]
        rows = [row for c in clients for row in c.rows]
        return [rounded_row(_finish(row, chosen.name, policy, env, self.device)) for row in rows]


class _Client:
    """One device thread: a registered client, its emulated transport and its rows."""

    def __init__(
        self,
        *,
        index: int,
        url: str,
        env: Environment,
        env_label: str,
        artefacts: PacedArtefacts,
        config: RunConfig,
        now_s: Callable[[], float],
    ) -> None:
        self.name = f"client-{index}"
        self.config = config
        self.now_s = now_s
        self.rows: list[InferenceRow] = []
        self.error: BaseException | None = None
        device_config = DeviceConfig.from_mapping(
            {
                "device_id": self.name,
                "edge_url": url,
                "transport": config.live_transport,
                "model": config.model,
                "timeout_s": config.timeout_s,
                "backoff": _BACKOFF,
                "seed": config.seed + index,
            },
            source="live device",
        )
        scenario_seed = zlib.crc32(env_label.encode())
        artefacts.pace(
            env.device, now_s, np.random.default_rng([config.seed, scenario_seed, index])
        )
        self.transport = EmulatedTransport(
            open_transport(device_config),
            env.link,
            rng=np.random.default_rng([config.seed, 11, index]),
            clock=now_s,
        )
        self.client = DeviceClient(
            device_config, self.transport, artefacts=artefacts, logger=DEVICE_LOG
        )
        self.input = sample_input(artefacts, config.model, config.seed + index)
        self.num_ops = artefacts.num_ops
        self.client.start()

    def run(self, tick: Callable[[int], None]) -> None:
        try:
            self._loop(tick)
        except BaseException as exc:  # re-raised by the runner's thread
            self.error = exc

    def _loop(self, tick: Callable[[int], None]) -> None:
        config = self.config
        pending = 0
        wall_end_s = time.perf_counter() + min(config.duration_s, config.max_wall_s) + 5.0
        for index in range(config.requests):
            start_s = self.now_s()
            if start_s >= config.duration_s or time.perf_counter() > wall_end_s:
                break
            outcome = self.client.infer(self.input)
            self.rows.append(self._row(index, start_s, outcome))
            pending += 1
            if pending == 10:
                tick(pending)
                pending = 0
            if config.think_s > 0:
                time.sleep(config.think_s)
        tick(pending)

    def _row(self, index: int, start_s: float, outcome: InferenceOutcome) -> InferenceRow:
        exchange = self.transport.last_exchange
        local = outcome.mode is InferenceMode.LOCAL
        downlink = 0 if local or exchange is None else exchange.reply_bytes
        return InferenceRow(
            scenario="",
            policy="",
            client=self.name,
            index=index,
            start_s=start_s,
            cut=outcome.cut,
            probe=False,
            failed=local,
            latency_ms=outcome.total_s * 1e3,
            device_ms=outcome.device_s * 1e3,
            edge_ms=outcome.edge_s * 1e3,
            network_ms=outcome.network_s * 1e3,
            queue_ms=0.0,
            predicted_ms=math.nan,
            uplink_bytes=0 if local else outcome.payload_bytes,
            downlink_bytes=downlink,
            energy_mj=0.0,
            true_bytes_per_s=0.0,
            true_rtt_ms=0.0,
            reason=outcome.reason,
        )

    def close(self) -> None:
        self.transport.close()


def _finish(
    row: InferenceRow, scenario: str, policy: str, env: Environment, device: DeviceProfile
) -> InferenceRow:
    """Fill what the device thread does not know: labels, energy and the true link."""
    rtt_s, rate = env.link.at(row.start_s)
    latency_s, device_s = row.latency_ms / 1e3, row.device_ms / 1e3
    energy_j = (
        device.energy.compute_w * device_s
        + device.energy.idle_w * max(0.0, latency_s - device_s)
        + device.energy.radio_j_per_byte * (row.uplink_bytes + row.downlink_bytes)
    )
    return replace(
        row,
        scenario=scenario,
        policy=policy,
        energy_mj=energy_j * 1e3,
        true_bytes_per_s=rate,
        true_rtt_ms=rtt_s * 1e3,
    )


def _oracle_cut(
    env: Environment, artefacts: CutArtefacts, duration_s: float, samples: int = 200
) -> str:
    """``fixed:K`` for the usable cut with the lowest true expected latency over the run."""
    times_s = np.linspace(0.0, duration_s, samples, endpoint=False)
    expected = [
        float(np.mean([env.expected_latency_s(cut, t) for t in times_s]))
        for cut in range(env.space.num_cuts)
    ]
    for cut in np.argsort(expected).tolist():
        if artefacts.usable(int(cut)):
            return f"fixed:{int(cut)}"
    return "device-only"


@contextlib.contextmanager
def _edge(config: RunConfig, model_path: Path, policy: str) -> Iterator[str]:
    """A fresh edge for one policy on a free loopback port; stopped on the way out."""
    edge_config = EdgeConfig.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "models": [{"path": str(model_path)}],
            "planner": {"policy": policy, "seed": config.seed},
            "telemetry": {"enabled": False},
        },
        source="live edge",
    )
    server, _app = start_edge(edge_config)
    try:
        yield server.http_url
    finally:
        server.stop()


def live_metadata(config: RunConfig) -> dict[str, Any]:
    """What ``run.json`` says about a live run, beside the virtual runner's fields."""
    return {
        "edge": "uvicorn on 127.0.0.1 (free port), one fresh edge per scenario and policy",
        "transport": f"{config.live_transport} through EmulatedTransport (sciot.transport)",
        "device_pacing": "real LiteRT head, then sleep to the device profile's per-op times",
        "backoff": _BACKOFF,
        "oracle": "fixed cut with the lowest true expected latency, run live",
        "time": "wall time: duration_s seconds per scenario and policy",
    }


__all__ = ["LiveRunner", "PacedArtefacts", "check_live", "live_metadata"]
