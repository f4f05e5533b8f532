"""From anomalous windows to alerts an operator can act on: severity, reason, cool-down.

An anomaly usually spans many overlapping windows; paging once per window would bury the
operator. :class:`AlertGate` lets one alert per sensor through and then stays quiet for
``cooldown_s`` of sensor time (time from the readings, not the wall clock, so replaying a
recording gives the same alerts).
"""

from __future__ import annotations

import numpy as np

from sciot.sensors._config import AlertConfig, DetectionConfig
from sciot.sensors._types import Alert, Finding, Severity


def describe(finding: Finding) -> str:
    """One sentence: which feature, how far from normal, what it probably means."""
    if finding.kind == "dropout":
        return (
            f"readings stopped: a gap of {finding.value:.1f} typical sampling intervals "
            "between consecutive readings"
        )
    likely = f"likely {finding.kind.replace('_', ' ')}"
    if finding.feature == "spike":
        return (
            f"a reading {finding.value:.4g} off the window's course: {abs(finding.z):.1f} sigma "
            f"of its usual noise {finding.spread:.3g} ({likely})"
        )
    direction = "above" if finding.z >= 0 else "below"
    if finding.feature == "log_noise":
        factor = float(np.exp(finding.value - finding.expected))
        return (
            f"noise {factor:.2g} times its usual level, {abs(finding.z):.1f} sigma {direction} "
            f"normal ({likely})"
        )
    name = "level" if finding.feature == "level" else f"{finding.feature} (per s)"
    return (
        f"{name} {finding.value:.4g} is {abs(finding.z):.1f} sigma {direction} its expected "
        f"{finding.expected:.4g} ({likely})"
    )


class AlertGate:
    """De-duplicates findings into alerts with a per-sensor cool-down."""

    def __init__(self, alerts: AlertConfig, detection: DetectionConfig) -> None:
        self._cooldown_s = alerts.cooldown_s
        self._critical = detection.critical
        self._last_s: dict[str, float] = {}
        self.suppressed = 0

    def admit(self, findings: list[Finding], *, raised_s: float) -> list[Alert]:
        """Alerts for the findings that are not within a cool-down; ``raised_s`` is now."""
        out: list[Alert] = []
        for f in findings:
            last = self._last_s.get(f.sensor_id)
            if last is not None and f.timestamp_s - last < self._cooldown_s:
                self.suppressed += 1
                continue
            self._last_s[f.sensor_id] = f.timestamp_s
            out.append(
                Alert(
                    sensor_id=f.sensor_id,
                    timestamp_s=f.timestamp_s,
                    severity=self._severity(f),
                    kind=f.kind,
                    feature=f.feature,
                    score=f.score,
                    value=f.value,
                    expected=f.expected,
                    reason=describe(f),
                    sent_s=f.sent_s,
                    raised_s=raised_s,
                )
            )
        return out

    def _severity(self, f: Finding) -> Severity:
        # score is the deviation over its threshold, so one ratio serves every input.
        return "critical" if f.score >= self._critical else "warning"
