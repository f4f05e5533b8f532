"""C array export: the bytes round-trip, identifiers are valid, the source compiles."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sciot.errors import ModelError
from sciot.model import c_identifier, write_c_array

PAYLOAD = bytes(range(256)) * 3 + b"\x00tail"


def parse_array(source: str) -> bytes:
    body = source[source.index("{") + 1 : source.index("};")]
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body))


def test_bytes_and_length_round_trip(tmp_path: Path) -> None:
    source, header = write_c_array(PAYLOAD, tmp_path, "fomo96-head.v2")
    assert source.name == "fomo96_head_v2.c" and header.name == "fomo96_head_v2.h"
    text = source.read_text()
    assert parse_array(text) == PAYLOAD
    assert f"fomo96_head_v2_len = {len(PAYLOAD)}u;" in text
    assert "alignas(16)" in text
    assert "extern const unsigned char fomo96_head_v2[];" in header.read_text()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("head", "head"), ("3cut", "m_3cut"), ("int", "m_int"), ("a b-c", "a_b_c"), ("", "m_")],
)
def test_identifiers_are_valid_c(name: str, expected: str) -> None:
    ident = c_identifier(name)
    assert ident == expected
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident)


def test_empty_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="empty"):
        write_c_array(b"", tmp_path, "x")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("std", ["c99", "c11"])
def test_source_compiles_and_array_is_aligned(tmp_path: Path, std: str) -> None:
    source, _ = write_c_array(PAYLOAD, tmp_path, "model_data")
    main = tmp_path / "main.c"
    main.write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "model_data.h"\n'
        "int main(void) {\n"
        '  printf("%u %u %u\\n", model_data_len, (unsigned)((uintptr_t)model_data % 16),'
        " (unsigned)model_data[model_data_len - 1]);\n  return 0;\n}\n"
    )
    exe = tmp_path / "probe"
    subprocess.run(
        ["cc", f"-std={std}", "-Wall", "-Werror", "-o", str(exe), str(main), str(source)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == [str(len(PAYLOAD)), "0", str(PAYLOAD[-1])]
