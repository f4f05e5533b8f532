"""Read, analyse, split, export and convert TFLite models (the ``model`` layer)."""
