"""The edge server: device registry, planner calls, tail execution, telemetry."""
