"""The running pipeline: a publisher and an ingest stage, wired by topics, for a bounded time.

:func:`run_pipeline` runs the :class:`~sciot.sensors._publisher.SensorPublisher`, the
:class:`~sciot.sensors._ingest.IngestStage` or both for a bounded wall time, on an MQTT broker
or in one process, and returns a :class:`~sciot.sensors._report.RunReport`.
:func:`evaluate_detection` replays simulated hours through the same stages in seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from sciot.errors import ConfigError
from sciot.sensors._config import PipelineConfig
from sciot.sensors._detector_base import Detector
from sciot.sensors._ingest import IngestStage
from sciot.sensors._publisher import SensorPublisher
from sciot.sensors._report import Mode, RunReport, build_report
from sciot.sensors._transport import InProcessPubSub, MqttPubSub, PubSub, parse_broker

# IngestStage, RunReport and SensorPublisher were defined here once; the names still resolve.
__all__ = ["IngestStage", "RunReport", "SensorPublisher", "evaluate_detection", "run_pipeline"]

Progress = Callable[[float], None]


def evaluate_detection(
    config: PipelineConfig,
    *,
    simulated_s: float,
    chunk_s: float = 30.0,
    detector: Detector | None = None,
) -> RunReport:
    """Replay ``simulated_s`` of the plant through the ingest stage as fast as it goes.

    Same simulator, decoder, windows, detector and alert gate as a live run, carried by the
    in-process transport in batch encoding and driven by simulated time instead of the wall
    clock, so detection quality can be measured over hours of plant time in seconds and is
    exactly reproducible for a seed.
    """
    if not 0 < simulated_s <= 30 * 86_400:
        raise ConfigError(f"simulated_s must be in (0, 30 days], got {simulated_s}")
    if chunk_s <= 0:
        raise ConfigError(f"chunk_s must be > 0, got {chunk_s}")
    replay = config.model_copy(
        update={"simulation": config.simulation.model_copy(update={"encoding": "batch"})}
    )
    bus = InProcessPubSub()
    wall0 = time.monotonic()
    ingest = IngestStage(replay, bus, detector=detector)
    publisher = SensorPublisher(replay, bus)
    start_s = publisher.simulator.start_s
    chunks = max(1, math.ceil(simulated_s / chunk_s))
    for k in range(1, chunks + 1):
        publisher.publish_until(start_s + min(simulated_s, k * chunk_s))
        while ingest.step(timeout_s=0.0):
            pass
    bus.close()
    return build_report(
        replay, "all", time.monotonic() - wall0, publisher, ingest, longer="replay more (--hours)"
    )


def run_pipeline(
    config: PipelineConfig,
    *,
    mode: Mode = "all",
    duration_s: float = 10.0,
    broker: str | None = None,
    detector: Detector | None = None,
    settle_s: float = 5.0,
    progress: Progress | None = None,
) -> RunReport:
    """Run for ``duration_s`` wall seconds (plus at most ``settle_s`` to drain) and report.

    Without ``broker`` both stages share an in-process transport (``mode`` must be ``all``).
    With one, ``simulate`` only publishes, ``ingest`` only consumes (ground truth, if any,
    arrives on ``sensors/<id>/anomaly``), ``all`` does both with two MQTT clients.
    """
    if not 0 < duration_s <= 86_400:
        raise ConfigError(f"--duration must be in (0, 86400] seconds, got {duration_s}")
    if broker is None and mode != "all":
        raise ConfigError(
            f"--mode {mode} needs --broker HOST:PORT: without a broker the readings stay inside "
            "one process, so simulate and ingest must run together (--mode all)"
        )
    pubsubs: list[PubSub] = []
    pub_side: PubSub | None = None
    ingest_side: PubSub | None = None
    try:
        if broker is None:
            pub_side = ingest_side = InProcessPubSub()
            pubsubs.append(pub_side)
        else:
            address = parse_broker(broker)
            if mode in ("simulate", "all"):
                pub_side = MqttPubSub(address)
                pubsubs.append(pub_side)
            if mode in ("ingest", "all"):
                ingest_side = MqttPubSub(address)
                pubsubs.append(ingest_side)
        return _run(config, mode, duration_s, pub_side, ingest_side, detector, settle_s, progress)
    finally:
        for p in pubsubs:
            p.close()


def _run(
    config: PipelineConfig,
    mode: Mode,
    duration_s: float,
    pub_side: PubSub | None,
    ingest_side: PubSub | None,
    detector: Detector | None,
    settle_s: float,
    progress: Progress | None,
) -> RunReport:
    ingest = None
    if ingest_side is not None:
        ingest = IngestStage(config, ingest_side, detector=detector)
    publisher = SensorPublisher(config, pub_side) if pub_side is not None else None
    failure: list[BaseException] = []
    done = threading.Event()

    def publish() -> None:
        assert publisher is not None and pub_side is not None
        try:
            publisher.run(duration_s=duration_s, stop=done)
            pub_side.flush(timeout_s=settle_s)
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)
        finally:
            done.set()

    wall0 = time.monotonic()
    thread = None
    if publisher is not None:
        thread = threading.Thread(target=publish, name="sciot-sensor-publisher", daemon=True)
        thread.start()
    else:
        done.set()
    try:
        _consume(ingest, publisher, done, wall0, duration_s, settle_s, progress)
    finally:
        done.set()
        if thread is not None:
            thread.join(timeout=settle_s + 5.0)
    if failure:
        raise failure[0]
    return build_report(config, mode, time.monotonic() - wall0, publisher, ingest)


def _consume(
    ingest: IngestStage | None,
    publisher: SensorPublisher | None,
    done: threading.Event,
    wall0: float,
    duration_s: float,
    settle_s: float,
    progress: Progress | None,
) -> None:
    """Drive the ingest stage until the publisher is done and everything has arrived."""
    idle_since: float | None = None
    while True:
        now = time.monotonic()
        if progress is not None:
            progress(min(1.0, (now - wall0) / duration_s))
        if ingest is None:
            if done.wait(0.1):
                return
            continue
        if now - wall0 > duration_s + settle_s:
            ingest.abandon_backlog()  # bounded: what is still queued counts as dropped
            return
        handled = ingest.step(timeout_s=0.02)
        if publisher is None:
            # Ingest only: readings come from elsewhere, so run for the whole duration.
            if now - wall0 >= duration_s:
                ingest.abandon_backlog()
                return
            continue
        if handled or not done.is_set():
            idle_since = None
            continue
        if _all_arrived(ingest, publisher):
            return
        idle_since = now if idle_since is None else idle_since
        # At QoS 0 the broker may drop messages, so a quiet second means the rest is gone. At
        # QoS >= 1 every message is on its way however slowly a loaded machine moves it, so the
        # wait ends only when all arrived or at the settle bound above.
        may_lose = ingest.config.simulation.qos == 0
        if may_lose and now - idle_since > min(1.0, settle_s):
            return


def _all_arrived(ingest: IngestStage, publisher: SensorPublisher) -> bool:
    return ingest.inbox.received >= publisher.messages and len(ingest.inbox) == 0
