"""Each client's own data, generated where the client runs, plus the server's held-out set.

Nothing is shipped between processes: a client rebuilds its partition from the run's seed and
its partition id, which is what a real device does with its own sensors. Two models:

- ``sensor``: each client is one site of the sensor pipeline's simulated plant (its own
  weather, sensor noise and anomaly rate), three sensors sampled at 1 Hz. A window is 128
  samples of the three channels, each centred on its median and scaled by its sensor type's
  nominal noise; its label is 1 when any injected anomaly overlaps it.
- ``fomo``: synthetic shape scenes (the demo models' generator), labelled for partitioning by
  their most frequent object class (0 for empty scenes).

Label skew: with ``alpha`` set, a client draws its class mix from Dirichlet(alpha) and
resamples its pool to that mix, so small alpha gives clients that see almost one class.
The held-out set is every client's later, unskewed windows (or scenes) pooled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from sciot.federated._settings import FederatedSettings
from sciot.model.zoo import synthetic_fomo_scenes
from sciot.sensors import SENSOR_TYPES, Simulator, parse_config

WINDOW = 128
STEP = 64
SITE_SENSORS = ("temperature", "humidity", "power")
# Anomaly kinds a window can show; dropouts leave gaps that break channel alignment.
WINDOW_ANOMALIES = ("spike", "level_shift", "drift", "stuck", "noise_burst")
_SCALE_SIGMAS = 4.0
_FOMO_CLASSES = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """Model inputs ``x`` (float32) and labels ``y`` (sensor: per window; fomo: 12x12 map)."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def partition_labels(self) -> npt.NDArray[np.int64]:
        """One class per sample for partitioning (a scene's most frequent object class)."""
        if self.y.ndim == 1:
            return self.y
        flat = self.y.reshape(len(self), -1)
        counts = np.stack([(flat == c).sum(axis=1) for c in range(1, _FOMO_CLASSES)], axis=1)
        labels = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1) + 1, 0)
        return labels.astype(np.int64)


def client_train_set(settings: FederatedSettings, partition_id: int) -> Dataset:
    """The training data of client ``partition_id`` (label-skewed when ``alpha`` is set)."""
    pool, _ = _client_pools(settings.model, settings.seed, partition_id, _pool_sizes(settings))
    if settings.alpha is None:
        return _take(pool, np.arange(min(len(pool), settings.samples_per_client)))
    rng = np.random.default_rng((settings.seed, partition_id, 1))
    return _take(pool, skewed_indices(pool.partition_labels(), settings, rng))


def held_out_set(settings: FederatedSettings) -> Dataset:
    """Every client's held-out data pooled: the server's centralised evaluation set."""
    parts = [
        _client_pools(settings.model, settings.seed, k, _pool_sizes(settings))[1]
        for k in range(settings.clients)
    ]
    return _concat(parts)


def pooled_train_set(settings: FederatedSettings) -> Dataset:
    """All clients' training data in one place: centralised training and int8 calibration."""
    return _concat([client_train_set(settings, k) for k in range(settings.clients)])


def skewed_indices(
    labels: npt.NDArray[np.int64], settings: FederatedSettings, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """``samples_per_client`` indices whose class mix follows Dirichlet(alpha).

    Classes absent from the pool are dropped from the mix; a class short of samples is
    resampled with replacement, as a device that mostly sees one condition repeats it.
    """
    assert settings.alpha is not None
    classes = np.unique(labels)
    mix = rng.dirichlet(np.full(classes.shape[0], settings.alpha))
    counts = rng.multinomial(settings.samples_per_client, mix)
    chosen: list[npt.NDArray[np.int64]] = []
    for cls, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == cls)
        replace = count > members.shape[0]
        chosen.append(rng.choice(members, size=int(count), replace=replace).astype(np.int64))
    order = np.concatenate(chosen)
    rng.shuffle(order)
    return order


def _pool_sizes(settings: FederatedSettings) -> tuple[int, int]:
    """How much a client generates: a larger training pool when it must be resampled."""
    train = settings.samples_per_client * (3 if settings.alpha is not None else 1)
    return train, settings.test_samples_per_client


@lru_cache(maxsize=64)
def _client_pools(
    model: str, seed: int, partition_id: int, sizes: tuple[int, int]
) -> tuple[Dataset, Dataset]:
    """(training pool, held-out) of one client, cached: a process serves many rounds."""
    if model == "sensor":
        return _site_windows(seed, partition_id, sizes)
    return _fomo_scenes(seed, partition_id, sizes)


def _fomo_scenes(seed: int, partition_id: int, sizes: tuple[int, int]) -> tuple[Dataset, Dataset]:
    train_n, test_n = sizes
    scenes = synthetic_fomo_scenes(train_n + test_n, seed * 100_003 + partition_id)
    data = Dataset(x=scenes.images, y=scenes.targets)
    return _take(data, np.arange(train_n)), _take(data, np.arange(train_n, train_n + test_n))


def _site_windows(seed: int, site: int, sizes: tuple[int, int]) -> tuple[Dataset, Dataset]:
    """Windows of one simulated site: the first ``train`` for training, the rest held out."""
    train_n, test_n = sizes
    total = train_n + test_n
    rng = np.random.default_rng((seed, site, 0))
    sensors: list[dict[str, str | float]] = [
        {
            "id": f"{kind}_{site:03d}",
            "type": kind,
            "location": f"site_{site:03d}",
            "rate_hz": 1.0,
            "noise": float(SENSOR_TYPES[kind].noise * rng.uniform(0.6, 1.6)),
        }
        for kind in SITE_SENSORS
    ]
    config = parse_config(
        {
            "seed": int(rng.integers(2**31)),
            "sensors": sensors,
            "anomalies": {
                "kinds": list(WINDOW_ANOMALIES),
                # Sites differ in how often things go wrong: the natural label skew.
                "mean_gap_s": float(rng.uniform(600.0, 3000.0)),
                "warmup_s": 0.0,
                "min_gap_s": 30.0,
            },
        },
        source=f"<federated site {site}>",
    )
    sim = Simulator(config)
    samples = (total + 1) * STEP
    batches = sim.advance(sim.start_s + samples)
    by_id = {b.info.sensor_id: b for b in batches}
    ids = [str(s["id"]) for s in sensors]
    channels = np.stack([by_id[i].value[:samples] for i in ids], axis=1)
    times = by_id[ids[0]].timestamp_s[:samples]
    nominal = np.array([SENSOR_TYPES[k].noise for k in SITE_SENSORS])
    starts = np.arange(total) * STEP
    windows = np.stack([channels[s : s + WINDOW] for s in starts])
    windows = (windows - np.median(windows, axis=1, keepdims=True)) / (nominal * _SCALE_SIGMAS)
    labels = np.zeros(total, dtype=np.int64)
    for event in sim.events:
        first, last = times[starts], times[starts + WINDOW - 1]
        labels[(first <= event.end_s) & (last >= event.start_s)] = 1
    data = Dataset(x=windows.astype(np.float32), y=labels)
    return _take(data, np.arange(train_n)), _take(data, np.arange(train_n, total))


def _take(data: Dataset, index: npt.NDArray[np.int64]) -> Dataset:
    return Dataset(x=data.x[index], y=data.y[index])


def _concat(parts: list[Dataset]) -> Dataset:
    return Dataset(x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]))
