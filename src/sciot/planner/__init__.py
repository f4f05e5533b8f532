"""Pure, deterministic split decision logic (the ``planner`` layer)."""
