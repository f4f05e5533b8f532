"""A device-only install (``pip install sciot``, no extras) runs a device and says clearly
which extra a server role needs: nothing on the device path imports a web framework, uvicorn,
paho-mqtt, httpx, scikit-learn or matplotlib."""

from __future__ import annotations

import subprocess
import sys
import textwrap

ROLE_PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "watchfiles", "httpx", "paho")
ROLE_PACKAGES += ("sklearn", "matplotlib")

# Runs in a fresh interpreter in which the role extras' packages cannot be imported.
_WITHOUT_EXTRAS = textwrap.dedent(
    f"""
    import importlib.abc, sys

    BLOCKED = {ROLE_PACKAGES!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_device_role_needs_no_extra() -> None:
    result = _run(
        """
        import sciot.device, sciot.transport, sciot.wire, sciot.cli.app
        from sciot.device import DeviceClient, DeviceConfig, open_transport, sample_input
        config = DeviceConfig(edge_url="http://127.0.0.1:9", timeout_s=1.0)
        client = DeviceClient(config, open_transport(config))
        assert not client.start()  # nothing listens on port 9: the device runs locally
        print(client.infer(sample_input(client.artefacts, "fomo96", 0)).mode)
        client.close()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "local"


def test_a_server_role_without_its_extra_names_the_extra() -> None:
    result = _run(
        """
        from sciot.cli.app import main
        main(["serve", "--port", "0"])
        """
    )
    assert result.returncode == 9, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install 'sciot[edge]'" in lines[0]
