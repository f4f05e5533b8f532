"""Run contiguous model segments with reusable LiteRT interpreters (the ``runtime`` layer)."""
