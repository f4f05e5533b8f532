"""Seeded synthetic data for the demo models: shape scenes for FOMO, sensor windows.

The same generators train the shipped models (``scripts/build_demo_models.py``), measure their
accuracy, and give the demo, tests and benches inputs that mean something to those models,
all with numpy alone. A scene is coloured circles, squares and triangles on a noisy, shaded
background; its target is the FOMO centroid map (the class of the object whose centroid falls
in each 8x8 cell, 0 for background). A sensor window is three channels of periodic signals with
noise; anomalous windows carry one injected fault (spike, level shift, stuck sensor,
high-frequency burst or noise burst).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sciot.errors import ConfigError

FOMO_SIZE_PX = 96
FOMO_GRID = 12
FOMO_CELL_PX = FOMO_SIZE_PX // FOMO_GRID
FOMO_CLASSES = ("background", "circle", "square", "triangle")

SENSOR_WINDOW = 128
SENSOR_CHANNELS = 3
SENSOR_CLASSES = ("normal", "anomalous")
SENSOR_FAULTS = ("spike", "level_shift", "stuck", "burst", "noise")

_MAX_OBJECTS = 3
_MIN_CONTRAST = 0.35
_EMPTY_SCENE_RATE = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class FomoScenes:
    """Images ``(n, 96, 96, 3)`` float32 in [0, 1] and centroid maps ``(n, 12, 12)`` int."""

    images: npt.NDArray[np.float32]
    targets: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorWindows:
    """Windows ``(n, 128, 3)`` float32 (mostly within [-2.5, 2.5]), labels (1 = anomalous)
    and the fault injected in each window (``""`` for normal ones)."""

    windows: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    faults: tuple[str, ...]


def synthetic_fomo_scenes(count: int, seed: int) -> FomoScenes:
    """``count`` seeded scenes with one to three objects each (one in ten has none)."""
    _check_count(count)
    rng = np.random.default_rng(seed)
    images = np.empty((count, FOMO_SIZE_PX, FOMO_SIZE_PX, 3), dtype=np.float32)
    targets = np.zeros((count, FOMO_GRID, FOMO_GRID), dtype=np.int64)
    for i in range(count):
        images[i], targets[i] = _fomo_scene(rng)
    return FomoScenes(images=images, targets=targets)


def synthetic_sensor_windows(count: int, seed: int, anomaly_rate: float = 0.5) -> SensorWindows:
    """``count`` seeded windows, a fraction ``anomaly_rate`` of them with one fault."""
    _check_count(count)
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ConfigError(f"anomaly_rate must be within [0, 1], got {anomaly_rate}")
    rng = np.random.default_rng(seed)
    windows = np.empty((count, SENSOR_WINDOW, SENSOR_CHANNELS), dtype=np.float32)
    labels = (rng.random(count) < anomaly_rate).astype(np.int64)
    faults = []
    for i in range(count):
        windows[i], fault = _sensor_window(rng, anomalous=bool(labels[i]))
        faults.append(fault)
    return SensorWindows(windows=windows, labels=labels, faults=tuple(faults))


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigError(f"count must be zero or more, got {count}")


# --- FOMO scenes -----------------------------------------------------------------------------

_YY, _XX = np.mgrid[0:FOMO_SIZE_PX, 0:FOMO_SIZE_PX].astype(np.float32)


def _background(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    base = rng.uniform(0.15, 0.85, size=3).astype(np.float32)
    slope = rng.uniform(-0.25, 0.25, size=(2, 3)).astype(np.float32)
    shade = _YY[..., None] / FOMO_SIZE_PX * slope[0] + _XX[..., None] / FOMO_SIZE_PX * slope[1]
    noise = rng.normal(0.0, rng.uniform(0.02, 0.08), size=(FOMO_SIZE_PX, FOMO_SIZE_PX, 3))
    background: npt.NDArray[np.float32] = (base + shade + noise).astype(np.float32)
    return background


def _mask(kind: int, cy: float, cx: float, radius: float) -> npt.NDArray[np.bool_]:
    dy, dx = _YY - cy, _XX - cx
    if kind == 1:
        return np.asarray(dy * dy + dx * dx <= radius * radius)
    if kind == 2:
        half = radius * 0.85
        return np.asarray((np.abs(dy) <= half) & (np.abs(dx) <= half))
    # Upward triangle with its centroid at (cy, cx): apex 2/3 of the height above it.
    height = radius * 2.0
    top = cy - height * 2.0 / 3.0
    rel = (_YY - top) / height  # 0 at the apex, 1 at the base
    return np.asarray((rel >= 0.0) & (rel <= 1.0) & (np.abs(dx) <= rel * radius * 1.1))


def _object_colour(
    rng: np.random.Generator, background: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    mean = background.reshape(-1, 3).mean(axis=0)
    for _ in range(50):
        colour = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        if float(np.abs(colour - mean).sum()) >= _MIN_CONTRAST * 3 / 2:
            return colour
    return np.where(mean > 0.5, 0.0, 1.0).astype(np.float32)


def _fomo_scene(
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    image = _background(rng)
    target = np.zeros((FOMO_GRID, FOMO_GRID), dtype=np.int64)
    centres: list[tuple[float, float, float]] = []
    wanted = 0 if rng.random() < _EMPTY_SCENE_RATE else int(rng.integers(1, _MAX_OBJECTS + 1))
    for _ in range(wanted * 10):
        if len(centres) == wanted:
            break
        radius = float(rng.uniform(6.0, 12.0))
        cy, cx = (float(v) for v in rng.uniform(radius + 1, FOMO_SIZE_PX - radius - 1, size=2))
        if any(np.hypot(cy - y, cx - x) < r + radius + 4 for y, x, r in centres):
            continue
        kind = int(rng.integers(1, len(FOMO_CLASSES)))
        mask = _mask(kind, cy, cx, radius)
        image[mask] = _object_colour(rng, image) + rng.normal(0.0, 0.03, size=(int(mask.sum()), 3))
        ys, xs = np.nonzero(mask)
        cell_y = min(int(ys.mean()) // FOMO_CELL_PX, FOMO_GRID - 1)
        cell_x = min(int(xs.mean()) // FOMO_CELL_PX, FOMO_GRID - 1)
        target[cell_y, cell_x] = kind
        centres.append((cy, cx, radius))
    return np.clip(image, 0.0, 1.0).astype(np.float32), target


# --- sensor windows --------------------------------------------------------------------------

_T = np.arange(SENSOR_WINDOW, dtype=np.float32)


def _sensor_window(
    rng: np.random.Generator, *, anomalous: bool
) -> tuple[npt.NDArray[np.float32], str]:
    period = rng.uniform(16.0, 48.0, size=SENSOR_CHANNELS)
    phase = rng.uniform(0.0, 2 * np.pi, size=SENSOR_CHANNELS)
    amplitude = rng.uniform(0.3, 0.8, size=SENSOR_CHANNELS)
    offset = rng.uniform(-0.3, 0.3, size=SENSOR_CHANNELS)
    noise = rng.uniform(0.02, 0.06)
    signal = (
        offset
        + amplitude * np.sin(2 * np.pi * _T[:, None] / period + phase)
        + 0.15 * amplitude * np.sin(4 * np.pi * _T[:, None] / period + 2 * phase)
        + rng.normal(0.0, noise, size=(SENSOR_WINDOW, SENSOR_CHANNELS))
    )
    fault = _inject_fault(rng, signal, noise) if anomalous else ""
    return signal.astype(np.float32), fault


def _inject_fault(rng: np.random.Generator, signal: npt.NDArray[np.float64], noise: float) -> str:
    """Corrupt one channel of ``signal`` in place with one fault type; return its name."""
    fault = SENSOR_FAULTS[int(rng.integers(len(SENSOR_FAULTS)))]
    channel = int(rng.integers(SENSOR_CHANNELS))
    length = int(rng.integers(16, 48))
    start = int(rng.integers(8, SENSOR_WINDOW - length - 8))
    span = slice(start, start + length)
    sign = float(rng.choice((-1.0, 1.0)))
    if fault == "spike":
        signal[start, channel] += sign * rng.uniform(0.8, 1.5)
    elif fault == "level_shift":
        signal[start:, channel] += sign * rng.uniform(0.5, 0.9)
    elif fault == "stuck":
        # A frozen sensor repeats its last reading: no noise, no motion, for a while.
        signal[start : start + length + 16, channel] = signal[start, channel]
    elif fault == "burst":
        signal[span, channel] += rng.uniform(0.3, 0.6) * np.sin(np.pi * 0.8 * _T[:length])
    else:
        signal[span, channel] += rng.normal(0.0, rng.uniform(0.25, 0.5) + noise, size=length)
    return fault


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionScore:
    """Centroid detection counts and the precision, recall and F1 they give."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


_MATCH_CELLS = 1.5


def score_fomo(
    predicted: npt.NDArray[np.integer], targets: npt.NDArray[np.integer]
) -> DetectionScore:
    """Score predicted class maps ``(n, 12, 12)`` against centroid targets.

    Neighbouring cells of one class are merged into one detection at their mean position, as
    FOMO post-processing does; a detection is correct when an unmatched object of its class
    has its centroid within 1.5 cells.
    """
    tp = fp = fn = 0
    for pred_map, target in zip(predicted, targets, strict=True):
        detections = _blobs(np.asarray(pred_map))
        truths = [(int(c), float(y), float(x)) for (y, x), c in np.ndenumerate(target) if c > 0]
        matched = [False] * len(truths)
        for cls, y, x in detections:
            best, best_dist = -1, _MATCH_CELLS
            for j, (t_cls, ty, tx) in enumerate(truths):
                dist = float(np.hypot(ty - y, tx - x))
                if not matched[j] and t_cls == cls and dist <= best_dist:
                    best, best_dist = j, dist
            if best >= 0:
                matched[best] = True
                tp += 1
            else:
                fp += 1
        fn += matched.count(False)
    return DetectionScore(true_positives=tp, false_positives=fp, false_negatives=fn)


def _blobs(class_map: npt.NDArray[np.integer]) -> list[tuple[int, float, float]]:
    """8-connected groups of equal non-background cells as (class, mean row, mean column)."""
    seen = np.zeros(class_map.shape, dtype=bool)
    rows, cols = class_map.shape
    found: list[tuple[int, float, float]] = []
    for (y0, x0), cls in np.ndenumerate(class_map):
        if cls == 0 or seen[y0, x0]:
            continue
        stack, cells = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            cells.append((y, x))
            for ny in range(max(y - 1, 0), min(y + 2, rows)):
                for nx in range(max(x - 1, 0), min(x + 2, cols)):
                    if not seen[ny, nx] and class_map[ny, nx] == cls:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        ys, xs = zip(*cells, strict=True)
        found.append((int(cls), float(np.mean(ys)), float(np.mean(xs))))
    return found
