"""Delay injection, device and network emulation, and the scenario runner."""
