"""Shared by the converters that rebuild bundled networks as ONNX graphs (the dlib ResNet, fer's
mini-Xception): the opset and IR version they target, and the last step that wraps nodes and
weights into a checked, serialised model; and the CPU session every ONNX model runs in. Imports
onnx and onnxruntime only when called."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.10 reads IR 8; opset 17 needs IR >= 8


def serialised_model(
    nodes: Sequence[Any],
    inits: Sequence[Any],
    *,
    name: str,
    inputs: Sequence[tuple[str, Sequence[str | int]]],
    outputs: Sequence[tuple[str, Sequence[str | int]]],
    producer: str,
    doc: str,
) -> bytes:
    """A float32 graph of ``nodes`` and initialisers ``inits``, its ``inputs`` and ``outputs``
    given as (name, shape) with "N" for the batch, as a checked ONNX model's bytes."""
    import onnx
    from onnx import TensorProto, helper

    def info(pair: tuple[str, Sequence[str | int]]) -> Any:
        return helper.make_tensor_value_info(pair[0], TensorProto.FLOAT, list(pair[1]))

    graph = helper.make_graph(
        list(nodes), name, [info(i) for i in inputs], [info(o) for o in outputs], list(inits)
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=producer,
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def cpu_session(model: str | bytes, *, threads: int = 0) -> Any:
    """An onnxruntime CPU session for a model file's path or a serialised model, on ``threads``
    intra-op threads (0 = all cores) and one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


__all__ = ["IR_VERSION", "OPSET", "cpu_session", "serialised_model"]
