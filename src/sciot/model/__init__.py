"""Read, analyse, split, export and convert TFLite models (the ``model`` layer).

``load_model`` parses a ``.tflite`` flatbuffer into a :class:`ModelGraph` (ops, tensors, MAC
estimates, every cut and the tensors crossing it); ``split_model`` cuts it into a head and a
tail that chain bit-exactly; ``write_c_array`` exports a head for TFLite Micro. No TensorFlow
is needed for any of these.
"""

from sciot.model._c_array import c_identifier, write_c_array
from sciot.model._export import describe_graph, write_splits
from sciot.model._graph import ModelGraph, load_model
from sciot.model._resolve import demo_names, resolve_model_path
from sciot.model._split import extract_op, extract_segment, split_all, split_model
from sciot.model._types import Cut, OpInfo, SplitModel, TensorInfo
from sciot.model.convert import (
    ConversionResult,
    IOSpec,
    convert_keras,
    convert_keras_model,
    describe_tflite,
    load_image,
    load_keras_model,
)
from sciot.model.zoo import (
    DemoModelInfo,
    demo_model_info,
    demo_model_names,
    demo_model_path,
    load_demo_input,
)

__all__ = [
    "ConversionResult",
    "Cut",
    "DemoModelInfo",
    "IOSpec",
    "ModelGraph",
    "OpInfo",
    "SplitModel",
    "TensorInfo",
    "c_identifier",
    "convert_keras",
    "convert_keras_model",
    "demo_model_info",
    "demo_model_names",
    "demo_model_path",
    "demo_names",
    "describe_graph",
    "describe_tflite",
    "extract_op",
    "extract_segment",
    "load_demo_input",
    "load_image",
    "load_keras_model",
    "load_model",
    "resolve_model_path",
    "split_all",
    "split_model",
    "write_c_array",
    "write_splits",
]
