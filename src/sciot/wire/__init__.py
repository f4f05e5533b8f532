"""The versioned binary frame format shared by every transport (the ``wire`` layer)."""
