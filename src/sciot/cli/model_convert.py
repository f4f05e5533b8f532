"""``sciot model convert``: a Keras ``.keras`` / legacy ``.h5`` model to a ``.tflite`` file.

Thin: parse, call :func:`sciot.model.convert_keras`, write, print. Status lines go to stderr so
stdout carries only the one-line summary; errors are :class:`~sciot.errors.SciotError` and
become one line through ``sciot.cli.app.main``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sciot.model.convert import IOSpec


def _status(line: str) -> None:
    print(f"sciot: {line}", file=sys.stderr, flush=True)


def convert_command(
    source: Annotated[Path, typer.Argument(help="Keras model: .keras or legacy Keras 2 .h5.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .tflite file to write.")],
    int8: Annotated[
        bool,
        typer.Option(
            "--int8", help="Full int8 (weights, activations, inputs, outputs) instead of float32."
        ),
    ] = False,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="int8 calibration data: a folder of images or a .npy array "
            "(default: synthetic samples uniform in [0, 1)).",
        ),
    ] = None,
    num_calibration: Annotated[
        int, typer.Option("--num-calibration", help="Calibration samples to use.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed for sampling calibration data.")] = 0,
) -> None:
    """Convert a Keras model to TFLite float32 or full int8."""
    from sciot.model.convert import convert_keras

    result = convert_keras(
        source,
        int8=int8,
        calibration=calibration,
        num_calibration=num_calibration,
        seed=seed,
        progress=_status,
    )
    written = result.write(output)
    print(
        f"wrote {written}: {result.size_bytes} bytes, {result.quantization}, "
        f"{_shapes(result.inputs)} -> {_shapes(result.outputs)}"
        + (f"; calibration: {result.calibration}" if result.calibration else "")
    )


def _shapes(specs: tuple[IOSpec, ...]) -> str:
    return ", ".join(f"{'x'.join(map(str, spec.shape))} {spec.dtype}" for spec in specs)
