"""What the documentation states about settings and commands stays true to the code.

The settings blocks of ``docs/edge.md`` and ``docs/device.md`` are shown as "every key at its
default"; they are parsed here and compared with the settings models' defaults, so a changed
default cannot leave the documentation behind. The user-facing documents write commands one
way, ``sciot ...`` (README says how to get it on the PATH).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sciot.device import DeviceConfig
from sciot.edge import EdgeConfig

ROOT = Path(__file__).resolve().parents[1]


def _settings_block(doc: str) -> object:
    """The first YAML code block under the document's ``## Configuration`` heading."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    section = text.split("\n## Configuration", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert match is not None, f"docs/{doc}: no yaml block under '## Configuration'"
    return yaml.safe_load(match.group(1))


def test_edge_doc_shows_the_code_defaults() -> None:
    assert EdgeConfig.from_mapping(_settings_block("edge.md")) == EdgeConfig()


def test_device_doc_shows_the_code_defaults() -> None:
    assert DeviceConfig.from_mapping(_settings_block("device.md")) == DeviceConfig()


USER_DOCS = ["README.md", "docs/edge.md", "docs/device.md", "docs/sensors.md", "docs/results.md"]


@pytest.mark.parametrize("doc", USER_DOCS)
def test_docs_spell_the_command_one_way(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    for other in ("python -m sciot", ".venv/bin/sciot"):
        assert other not in text, f"{doc} writes '{other} ...'; write 'sciot ...'"
