"""``sciot model inspect`` / ``split`` through the real entry point, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sciot.cli.app import main
from sciot.model import demo_names, load_model, resolve_model_path

DEMO = "fomo96_int8"
needs_demo = pytest.mark.skipif(DEMO not in demo_names(), reason="demo models not shipped")


def sciot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sciot", "model", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_demo
def test_inspect_json_document() -> None:
    result = sciot("inspect", DEMO, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    graph = load_model(resolve_model_path(DEMO))
    assert {"ops", "inputs", "outputs", "cuts", "num_ops", "model_id"} <= doc.keys()
    assert doc["num_ops"] == graph.num_ops == len(doc["ops"])
    assert len(doc["cuts"]) == graph.num_ops + 1
    assert doc["cuts"][3]["bytes"] == graph.cut(3).crossing_bytes
    assert [t["name"] for t in doc["cuts"][3]["tensors"]] == list(graph.cut(3).tensor_names)
    assert doc["ops"][0]["op_type"] == graph.ops[0].op_type
    assert doc["inputs"][0]["dtype"] == "int8" and doc["inputs"][0]["scale"]


@needs_demo
def test_inspect_table() -> None:
    result = sciot("inspect", DEMO)
    assert result.returncode == 0, result.stderr
    assert "CONV_2D" in result.stdout and "Cuts" in result.stdout


@needs_demo
def test_split_at_writes_manifest_exactly(tmp_path: Path) -> None:
    graph = load_model(resolve_model_path(DEMO))
    n = graph.num_ops
    result = sciot("split", DEMO, "--at", "0", "--at", "3", "--at", str(n), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # The first keys are the original contract; later ones were added after them.
    assert list(manifest)[:3] == ["model", "num_ops", "cuts"]
    assert manifest["model"] == DEMO and manifest["num_ops"] == n
    assert manifest["excluded"] == [] and manifest["num_folded_ops"] == 0
    first, middle, last = manifest["cuts"]
    for entry in manifest["cuts"]:
        assert list(entry)[:5] == ["index", "head", "tail", "tensors", "bytes"]
    assert first["index"] == 0 and first["head"] is None and first["tail"]
    assert last["index"] == n and last["tail"] is None and last["head"]
    assert middle["tensors"] == list(graph.cut(3).tensor_names)
    assert middle["bytes"] == graph.cut(3).crossing_bytes
    head = load_model(tmp_path / middle["head"])
    tail = load_model(tmp_path / middle["tail"])
    assert head.num_ops == 3 and tail.num_ops == n - 3
    assert not list(tmp_path.glob("*.c"))
    assert first["head_spec"] is None


@needs_demo
def test_manifest_head_spec_is_what_a_tflm_build_needs(tmp_path: Path) -> None:
    graph = load_model(resolve_model_path(DEMO))
    result = sciot("split", DEMO, "--at", "5", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["cuts"]
    spec = entry["head_spec"]
    head = (tmp_path / entry["head"]).read_bytes()
    assert spec["size_bytes"] == len(head)
    (image,) = spec["inputs"]
    assert image["shape"] == list(graph.inputs[0].shape) and image["dtype"] == "int8"
    assert image["scale"] == list(graph.inputs[0].scale)
    assert image["zero_point"] == list(graph.inputs[0].zero_point)
    outputs = spec["outputs"]
    assert [t["name"] for t in outputs] == list(graph.cut(5).tensor_names)
    assert [tuple(t["shape"]) for t in outputs] == [t.shape for t in graph.cut(5).tensors]
    assert all(t["scale"] for t in outputs)  # int8 activations carry their quantisation
    used = [op.op_type for op in graph.ops[:5]]
    assert [op["op_type"] for op in spec["ops"]] == list(dict.fromkeys(used))
    assert sum(op["count"] for op in spec["ops"]) == spec["num_operators"] == 5


@needs_demo
def test_inspect_table_fits_80_columns_with_numbers_whole() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sciot", "model", "inspect", "fomo96", "--no-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    graph = load_model(resolve_model_path("fomo96"))
    for op in graph.ops:
        row = next(line for line in lines if line.split()[:2] == [str(op.index), op.op_type])
        assert f"{sum(t.nbytes for t in op.outputs):,}" in row.split()
        assert f"{op.macs:,}" in row.split()
    for cut in graph.cuts:
        key = [str(cut.index), str(len(cut.tensors))]
        row = next(line for line in lines if line.split()[:2] == key)
        assert f"{cut.crossing_bytes:,}" in row.split()


@needs_demo
def test_split_all_with_c_arrays(tmp_path: Path) -> None:
    result = sciot("split", DEMO, "--all", "--c-array", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    n = manifest["num_ops"]
    assert [c["index"] for c in manifest["cuts"]] == list(range(n + 1))
    for entry in manifest["cuts"][1:]:
        head = Path(entry["head"])
        assert (tmp_path / head.with_suffix(".c")).is_file()
        assert (tmp_path / head.with_suffix(".h")).is_file()
    assert not (tmp_path / "cut_000_head.c").exists()


def bad_input_cases(tmp_path: Path) -> list[list[str]]:
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    out = str(tmp_path / "out")
    cases = [
        ["inspect", str(tmp_path / "missing.tflite")],
        ["inspect", str(text)],
        ["inspect", str(tmp_path)],
        ["split", str(text), "--all", "-o", out],
        ["split", str(tmp_path / "missing.tflite"), "--at", "1", "-o", out],
    ]
    if DEMO in demo_names():
        data = resolve_model_path(DEMO).read_bytes()
        truncated = tmp_path / "truncated.tflite"
        truncated.write_bytes(data[: len(data) // 2])
        cases += [
            ["inspect", str(truncated)],
            ["split", DEMO, "--at", "999", "-o", out],
            ["split", DEMO, "-o", out],
            ["split", DEMO, "--all", "--at", "2", "-o", out],
        ]
    return cases


def test_bad_input_is_one_line_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process through the same entry point the console script runs (fast); one case below
    # goes through a real subprocess.
    for args in bad_input_cases(tmp_path):
        with pytest.raises(SystemExit) as exited:
            main(["model", *args])
        captured = capsys.readouterr()
        assert exited.value.code not in (0, None), args
        assert "Traceback" not in captured.err, args
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sciot: error:"), (args, captured.err)


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    result = sciot("split", str(tmp_path / "missing.tflite"), "--all", "-o", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"sciot: error: model file not found: {tmp_path / 'missing.tflite'}; pass a .tflite "
        f"path or a demo model name ({', '.join(demo_names())})"
    ]
