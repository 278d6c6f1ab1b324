"""Convert dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

dlib-bin runs this network single-threaded without BLAS (~80 ms per face). The converter reads the
weights straight from dlib's binary serialisation and rebuilds the same network with
``onnx.helper``, so onnxruntime can run it batched and multi-threaded.

The graph (opset 17, dynamic batch dimension ``N``):

* input ``chips``: float32 ``(N, 3, 150, 150)``, RGB pixel values 0..255, *not* normalised. The
  graph subtracts the per-channel means stored in the file and divides by 256, exactly like
  dlib's ``input_rgb_image_sized<150>``.
* output ``descriptors``: float32 ``(N, 128)``, the raw output of the ``fc_no_bias`` layer, i.e.
  what ``dlib.face_recognition_model_v1.compute_face_descriptor(chip)`` returns. It is *not*
  L2-normalised (dlib does not normalise either).

File format notes (dlib ``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``, ``cuda/tensor.h``):

* integers are "packed": one control byte (low 4 bits = number of value bytes, bit 7 = negative,
  bits 4-6 reserved and zero) followed by the magnitude, little-endian; zero is ``01 00``;
* strings are a packed length then the bytes; ``bool`` is one ASCII byte ``'0'`` or ``'1'``;
* ``float``/``double`` outside tensors are two packed ints, mantissa and exponent, value =
  mantissa * 2**exponent (exponent 32000/32001/32002 encode +inf/-inf/nan);
* a tensor is packed ints version (2), num_samples, k, nr, nc, then raw little-endian float32s;
  an ``alias_tensor`` (a shape only) is version (1), num_samples, k, nr, nc;
* ``add_loss_layer`` writes version 1, the loss details, then the network; ``add_layer`` writes
  its version, then its *sub-network first*, then its own layer details and some state (three
  bools, and the empty tensors ``x_grad``, ``cached_output`` and ``params_grad``/``grad_final``);
  ``add_tag_layer`` and ``add_skip_layer`` write version 1 and their sub-network only. So the
  file is: a run of wrapper version ints from the top of the network down, the input layer, then
  the layer details from the bottom (input) up.

Tag ids are not stored in the file (``add_prev_`` writes only its name), so the connectivity comes
from the architecture in dlib's ``dnn_face_recognition_ex.cpp``, transcribed below; every
wrapper version, layer name, size, stride and padding in the file is checked against it.

:func:`converted` keeps the graph in the user cache folder (:mod:`facewise.models.cache`), keyed
by the ``.dat`` file's sha256 and :data:`CONVERTER_VERSION`, so a process loads it (~0.1 s)
instead of converting (~2 s); bump :data:`CONVERTER_VERSION` whenever the graph it builds changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise._onnx import serialised_model

__all__ = [
    "CHIP_SIZE",
    "CONVERTER_VERSION",
    "DESCRIPTOR_SIZE",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "convert",
    "converted",
]

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128

CONVERTER_VERSION = "1"
"""Part of the graph cache's key: change it whenever :func:`convert` would build another graph."""


F32 = npt.NDArray[np.float32]

# ---------------------------------------------------------------------------------------------
# The architecture (dlib/examples/dnn_face_recognition_ex.cpp), listed from the top down, the
# same order as the wrapper version ints at the start of the file. Each entry is one add_layer
# (a layer with details), or a tag / skip wrapper (no details).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    num: int = 0  # filters (con), outputs (fc), tag id (tag, skip, add_prev)
    size: int = 0  # window / filter size; 0 = whole input (avg_pool_everything)
    stride: int = 1


def _block(n: int, stride: int) -> list[_Spec]:
    # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [
        _Spec("affine"),
        _Spec("con", n, 3, 1),
        _Spec("relu"),
        _Spec("affine"),
        _Spec("con", n, 3, stride),
    ]


def _ares(n: int) -> list[_Spec]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [_Spec("relu"), _Spec("add_prev", 1), *_block(n, 1), _Spec("tag", 1)]


def _ares_down(n: int) -> list[_Spec]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        _Spec("relu"),
        _Spec("add_prev", 2),
        _Spec("avg_pool", 0, 2, 2),
        _Spec("skip", 1),
        _Spec("tag", 2),
        *_block(n, 2),
        _Spec("tag", 1),
    ]


def _architecture() -> list[_Spec]:
    alevel0 = _ares_down(256)
    alevel1 = [*_ares(256), *_ares(256), *_ares_down(256)]
    alevel2 = [*_ares(128), *_ares(128), *_ares_down(128)]
    alevel3 = [*_ares(64), *_ares(64), *_ares(64), *_ares_down(64)]
    alevel4 = [*_ares(32), *_ares(32), *_ares(32)]
    levels = alevel0 + alevel1 + alevel2 + alevel3 + alevel4
    return [
        _Spec("fc", DESCRIPTOR_SIZE),
        _Spec("avg_pool", 0, 0, 1),  # avg_pool_everything
        *levels,
        _Spec("max_pool", 0, 3, 2),
        _Spec("relu"),
        _Spec("affine"),
        _Spec("con", 32, 7, 2),  # its sub-network is input_rgb_image_sized<150>
    ]


# ---------------------------------------------------------------------------------------------
# Reading dlib's serialisation
# ---------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise ValueError(
                f"truncated dlib model: needed {n} bytes for {what} at offset {self.pos}, "
                f"file has {len(self.data)}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def read_int(self, what: str) -> int:
        """dlib ``pack_int``: control byte, then |value| little-endian."""
        at = self.pos
        ctrl = self._take(1, what)[0]
        size = ctrl & 0x0F
        if ctrl & 0x70 or size == 0 or size > 8:
            raise ValueError(f"bad integer control byte 0x{ctrl:02x} for {what} at offset {at}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if ctrl & 0x80 else value

    def read_uint(self, what: str) -> int:
        at = self.pos
        value = self.read_int(what)
        if value < 0:
            raise ValueError(f"negative value {value} for {what} at offset {at}")
        return value

    def read_str(self, what: str) -> str:
        n = self.read_uint(f"length of {what}")
        raw = self._take(n, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{what} at offset {self.pos - n} is not ASCII: {raw[:32]!r}") from exc

    def read_bool(self, what: str) -> bool:
        at = self.pos
        b = self._take(1, what)
        if b not in (b"0", b"1"):
            raise ValueError(f"bad bool byte {b!r} for {what} at offset {at}")
        return b == b"1"

    def read_real(self, what: str) -> float:
        """dlib ``float_details``: mantissa * 2**exponent (with inf/nan codes)."""
        mantissa = self.read_int(f"mantissa of {what}")
        exponent = self.read_int(f"exponent of {what}")
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def read_tensor(self, what: str) -> F32:
        """``resizable_tensor``: version 2, n, k, nr, nc, then raw little-endian float32."""
        at = self.pos
        version = self.read_int(f"version of {what}")
        if version != 2:
            raise ValueError(f"unexpected tensor version {version} for {what} at offset {at}")
        shape = tuple(self.read_uint(f"{d} of {what}") for d in ("num_samples", "k", "nr", "nc"))
        count = int(np.prod(shape, dtype=np.int64))
        raw = self._take(4 * count, f"data of {what} {shape}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias(self, what: str) -> tuple[int, int, int, int]:
        """``alias_tensor``: version 1, n, k, nr, nc (a shape, no data)."""
        at = self.pos
        version = self.read_int(f"version of {what}")
        if version != 1:
            raise ValueError(f"unexpected alias_tensor version {version} for {what} at offset {at}")
        n, k, nr, nc = (self.read_uint(f"{d} of {what}") for d in ("num_samples", "k", "nr", "nc"))
        return n, k, nr, nc

    def expect_str(self, allowed: tuple[str, ...], what: str) -> str:
        at = self.pos
        s = self.read_str(what)
        if s not in allowed:
            raise ValueError(
                f"unexpected layer string {s!r} at offset {at} (expected {' or '.join(allowed)} "
                f"for {what}); not dlib's face recognition ResNet v1"
            )
        return s


@dataclass
class _Layer:
    """Parsed details of one add_layer, in network order (bottom up)."""

    spec: _Spec
    index: int  # position from the bottom, for messages
    params: dict[str, Any] = field(default_factory=dict)


def _check(cond: bool, layer: _Layer, msg: str) -> None:
    if not cond:
        raise ValueError(f"layer {layer.index} ({layer.spec.kind}): {msg}")


def _default_pad(size: int, stride: int) -> int:
    # dlib's default template padding for con_/max_pool_/avg_pool_.
    return 0 if stride != 1 else size // 2


def _read_con(r: _Reader, layer: _Layer) -> None:
    spec = layer.spec
    version = r.expect_str(("con_4", "con_5"), f"layer {layer.index} (con)")
    params = r.read_tensor("con params")
    num_filters = r.read_int("con num_filters")
    nr, nc = r.read_int("con nr"), r.read_int("con nc")
    sy, sx = r.read_int("con stride_y"), r.read_int("con stride_x")
    py, px = r.read_int("con padding_y"), r.read_int("con padding_x")
    filters = r.read_alias("con filters")
    biases = r.read_alias("con biases")
    for what in (
        "learning_rate_multiplier",
        "weight_decay_multiplier",
        "bias_learning_rate_multiplier",
        "bias_weight_decay_multiplier",
    ):
        r.read_real(f"con {what}")
    use_bias = r.read_bool("con use_bias") if version == "con_5" else True

    pad = _default_pad(spec.size, spec.stride)
    _check(num_filters == spec.num, layer, f"{num_filters} filters, expected {spec.num}")
    _check((nr, nc) == (spec.size, spec.size), layer, f"filter {nr}x{nc}, expected {spec.size}")
    _check((sy, sx) == (spec.stride, spec.stride), layer, f"stride {sy},{sx}")
    _check((py, px) == (pad, pad), layer, f"padding {py},{px}, dlib's default is {pad}")
    fn, fk, fr, fc = filters
    _check((fn, fr, fc) == (num_filters, nr, nc), layer, f"filters alias shape {filters}")
    n_w = fn * fk * fr * fc
    n_b = num_filters if use_bias else 0
    _check(
        params.size == n_w + n_b, layer, f"params has {params.size} values, expected {n_w + n_b}"
    )
    if use_bias:
        _check(biases == (1, num_filters, 1, 1), layer, f"biases alias shape {biases}")
    flat = params.reshape(-1)
    layer.params = {
        "w": flat[:n_w].reshape(fn, fk, fr, fc),
        "b": flat[n_w:].copy() if use_bias else np.zeros(num_filters, np.float32),
        "stride": (sy, sx),
        "pad": (py, px),
    }


def _read_affine(r: _Reader, layer: _Layer) -> None:
    version = r.expect_str(("affine_", "affine_2"), f"layer {layer.index} (affine)")
    params = r.read_tensor("affine params")
    gamma = r.read_alias("affine gamma")
    beta = r.read_alias("affine beta")
    mode = r.read_int("affine mode")
    disabled = r.read_bool("affine is_disabled") if version == "affine_2" else False
    _check(mode in (0, 1), layer, f"unknown layer mode {mode}")
    if disabled:
        layer.params = {"disabled": True}
        return
    g_size = int(np.prod(gamma))
    _check(gamma == beta, layer, f"gamma {gamma} and beta {beta} shapes differ")
    _check(
        params.size == 2 * g_size, layer, f"params has {params.size} values, expected {2 * g_size}"
    )
    flat = params.reshape(-1)
    _, k, nr, nc = gamma
    if mode == 0:  # CONV_MODE: one gamma/beta per channel
        _check(gamma == (1, k, 1, 1), layer, f"conv-mode gamma shape {gamma}")
    layer.params = {
        "disabled": False,
        "mode": mode,
        "gamma": flat[:g_size].reshape(k, nr, nc),
        "beta": flat[g_size:].reshape(k, nr, nc),
    }


def _read_pool(r: _Reader, layer: _Layer) -> None:
    spec = layer.spec
    name = "max_pool_2" if spec.kind == "max_pool" else "avg_pool_2"
    r.expect_str((name,), f"layer {layer.index} ({spec.kind})")
    nr, nc = r.read_int("pool nr"), r.read_int("pool nc")
    sy, sx = r.read_int("pool stride_y"), r.read_int("pool stride_x")
    py, px = r.read_int("pool padding_y"), r.read_int("pool padding_x")
    pad = _default_pad(spec.size, spec.stride)
    _check((nr, nc) == (spec.size, spec.size), layer, f"window {nr}x{nc}, expected {spec.size}")
    _check((sy, sx) == (spec.stride, spec.stride), layer, f"stride {sy},{sx}")
    _check((py, px) == (pad, pad), layer, f"padding {py},{px}, dlib's default is {pad}")
    layer.params = {"size": (nr, nc), "stride": (sy, sx), "pad": (py, px)}


def _read_fc(r: _Reader, layer: _Layer) -> None:
    version = r.expect_str(("fc_2", "fc_3"), f"layer {layer.index} (fc)")
    num_outputs = r.read_uint("fc num_outputs")
    num_inputs = r.read_uint("fc num_inputs")
    params = r.read_tensor("fc params")
    weights = r.read_alias("fc weights")
    r.read_alias("fc biases")
    bias_mode = r.read_int("fc bias_mode")
    for what in (
        "learning_rate_multiplier",
        "weight_decay_multiplier",
        "bias_learning_rate_multiplier",
        "bias_weight_decay_multiplier",
    ):
        r.read_real(f"fc {what}")
    if version == "fc_3":
        r.read_bool("fc use_bias")
    _check(bias_mode == 1, layer, f"bias mode {bias_mode}, expected FC_NO_BIAS (1)")
    _check(
        num_outputs == layer.spec.num, layer, f"{num_outputs} outputs, expected {layer.spec.num}"
    )
    _check(weights == (num_inputs, num_outputs, 1, 1), layer, f"weights alias shape {weights}")
    _check(params.size == num_inputs * num_outputs, layer, f"params has {params.size} values")
    # dlib computes out = x * W with W stored row-major as (num_inputs x num_outputs).
    layer.params = {"w": params.reshape(num_inputs, num_outputs)}


def _read_details(r: _Reader, layer: _Layer) -> None:
    kind = layer.spec.kind
    what = f"layer {layer.index} ({kind})"
    if kind == "con":
        _read_con(r, layer)
    elif kind == "affine":
        _read_affine(r, layer)
    elif kind in ("max_pool", "avg_pool"):
        _read_pool(r, layer)
    elif kind == "relu":
        r.expect_str(("relu_",), what)
    elif kind == "add_prev":
        r.expect_str(("add_prev_",), what)
    elif kind == "fc":
        _read_fc(r, layer)
    else:  # pragma: no cover - the architecture table only has the kinds above
        raise AssertionError(kind)


def _parse(data: bytes) -> tuple[tuple[float, float, float], list[_Layer | _Spec]]:
    """Parse the whole file; return the input means and the network bottom-up.

    The network list holds a :class:`_Layer` for each add_layer and the bare :class:`_Spec` for
    each tag / skip wrapper.
    """
    r = _Reader(data)
    arch = _architecture()
    n_layers = sum(s.kind not in ("tag", "skip") for s in arch)

    version = r.read_int("add_loss_layer version")
    if version != 1:
        raise ValueError(f"unexpected add_loss_layer version {version}; not a dlib network file")
    loss = r.expect_str(("loss_metric_", "loss_metric_2"), "the loss layer")
    if loss == "loss_metric_2":
        r.read_real("loss margin")
        r.read_real("loss dist_thresh")

    # Wrapper versions, top down. The bottom add_layer sits directly on the input layer and
    # uses dlib's input-layer specialisation (version 2 or 3).
    versions: list[int] = []
    for i, spec in enumerate(arch):
        at = r.pos
        v = r.read_int(f"wrapper version of {spec.kind}")
        if spec.kind in ("tag", "skip"):
            ok = v == 1
        elif i == len(arch) - 1:
            ok = v in (2, 3)
        else:
            ok = v in (1, 2)
        if not ok:
            raise ValueError(
                f"unexpected version {v} at offset {at} for the {spec.kind} wrapper "
                f"#{i} from the top: the layer count/structure does not match dlib's face "
                f"recognition ResNet v1 ({n_layers} layers)"
            )
        versions.append(v)

    r.expect_str(("input_rgb_image_sized",), "the input layer")
    means = (r.read_real("avg_red"), r.read_real("avg_green"), r.read_real("avg_blue"))
    nr, nc = r.read_uint("input nr"), r.read_uint("input nc")
    if (nr, nc) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"input layer is {nr}x{nc}, expected {CHIP_SIZE}x{CHIP_SIZE}")

    net: list[_Layer | _Spec] = []
    index = 0
    for spec, v in zip(reversed(arch), reversed(versions), strict=True):
        if spec.kind in ("tag", "skip"):
            net.append(spec)
            continue
        layer = _Layer(spec, index)
        index += 1
        _read_details(r, layer)
        for name in (
            "this_layer_setup_called",
            "gradient_input_is_stale",
            "get_output_and_gradient_input_disabled",
        ):
            r.read_bool(name)
        r.read_tensor("x_grad")
        r.read_tensor("cached_output")
        if index == 1:  # the input-layer specialisation of add_layer
            r.read_tensor("grad_final")
            if v == 3:
                r.read_uint("sample_expansion_factor")
        elif v == 2:
            r.read_tensor("params_grad")
        net.append(layer)

    if r.pos != len(data):
        raise ValueError(
            f"{len(data) - r.pos} unexpected trailing bytes after the network at offset {r.pos}"
        )
    return means, net


# ---------------------------------------------------------------------------------------------
# Building the ONNX graph
# ---------------------------------------------------------------------------------------------


class _Graph:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        name = self.name(prefix)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        out = output or self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


@dataclass
class _Value:
    name: str
    shape: tuple[int, int, int]  # (channels, rows, cols) for one sample
    # Set while the value is the output of a conv that has not been emitted yet (so that an
    # affine right after it can be folded into its weights): the conv and its input's name.
    conv: _Layer | None = None
    conv_input: str = ""


def _conv_node(g: _Graph, x: str, conv: _Layer, out: str) -> str:
    p = conv.params
    py, px = p["pad"]
    return g.node(
        "Conv",
        [x, g.const("W", p["w"]), g.const("B", p["b"])],
        out,
        kernel_shape=list(p["w"].shape[2:]),
        strides=list(p["stride"]),
        pads=[py, px, py, px],
    )


def _materialise(g: _Graph, v: _Value) -> _Value:
    """Emit a conv that was held back (to fold a following affine into it)."""
    if v.conv is not None:
        return _Value(_conv_node(g, v.conv_input, v.conv, out=v.name), v.shape)
    return v


def _build(means: tuple[float, float, float], net: list[_Layer | _Spec]) -> bytes:
    g = _Graph()
    # dlib: (pixel - avg) / 256.0, computed as float(float(p - avg) / 256); 1/256 is exact.
    mean = np.asarray(means, np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", [INPUT_NAME, g.const("mean", mean)])
    cur = _Value(
        g.node("Mul", [x, g.const("scale", np.float32(1.0 / 256.0))]), (3, CHIP_SIZE, CHIP_SIZE)
    )
    tags: dict[int, _Value] = {}

    for item in net:
        if isinstance(item, _Spec):
            if item.kind == "tag":
                cur = _materialise(g, cur)
                tags[item.num] = cur
            else:  # skip: continue from the tagged value
                if item.num not in tags:
                    raise ValueError(f"skip{item.num} before any tag{item.num}")
                cur = tags[item.num]
            continue

        layer, kind, p = item, item.spec.kind, item.params
        c, h, w = cur.shape
        if kind == "con":
            cur = _materialise(g, cur)
            k_out, k_in, fr, fc = p["w"].shape
            _check(k_in == c, layer, f"filters expect {k_in} input channels, input has {c}")
            (sy, sx), (py, px) = p["stride"], p["pad"]
            oh, ow = 1 + (h + 2 * py - fr) // sy, 1 + (w + 2 * px - fc) // sx
            _check(oh > 0 and ow > 0, layer, f"filter larger than its {h}x{w} input")
            # Hold the conv back: if an affine follows, it is folded into the weights.
            cur = _Value(g.name("conv"), (k_out, oh, ow), conv=layer, conv_input=cur.name)
        elif kind == "affine":
            if p["disabled"]:
                continue
            gamma, beta = p["gamma"], p["beta"]
            _check(gamma.shape[0] == c, layer, f"{gamma.shape[0]} channels, input has {c}")
            if cur.conv is not None and p["mode"] == 0:
                # y = gamma * (W*x + b) + beta  ==  (gamma*W)*x + (gamma*b + beta)
                conv = cur.conv
                g1 = gamma.reshape(-1).astype(np.float64)
                folded = _Layer(conv.spec, conv.index, dict(conv.params))
                folded.params["w"] = (conv.params["w"] * g1[:, None, None, None]).astype(np.float32)
                folded.params["b"] = (conv.params["b"] * g1 + beta.reshape(-1)).astype(np.float32)
                cur = _Value(cur.name, cur.shape, conv=folded, conv_input=cur.conv_input)
            else:
                cur = _materialise(g, cur)
                if p["mode"] == 1:
                    _check(gamma.shape == cur.shape, layer, f"fc-mode gamma shape {gamma.shape}")
                y = g.node("Mul", [cur.name, g.const("gamma", gamma[None])])
                cur = _Value(g.node("Add", [y, g.const("beta", beta[None])]), cur.shape)
        elif kind == "relu":
            cur = _materialise(g, cur)
            cur = _Value(g.node("Relu", [cur.name]), cur.shape)
        elif kind in ("max_pool", "avg_pool"):
            cur = _materialise(g, cur)
            (nr, nc), (sy, sx), (py, px) = p["size"], p["stride"], p["pad"]
            nr, nc = nr or h, nc or w  # 0 means "the whole input" (avg_pool_everything)
            oh, ow = 1 + (h + 2 * py - nr) // sy, 1 + (w + 2 * px - nc) // sx
            _check(oh > 0 and ow > 0, layer, f"window larger than its {h}x{w} input")
            if kind == "avg_pool" and (nr, nc) == (h, w) and (py, px) == (0, 0):
                out = g.node("GlobalAveragePool", [cur.name])
            else:
                # dlib's window for output (r, c) starts at (r*sy - py, c*sx - px) and is clipped
                # to the image: ONNX pooling with pads and, for averages, count_include_pad=0.
                extra: dict[str, Any] = {"count_include_pad": 0} if kind == "avg_pool" else {}
                out = g.node(
                    "MaxPool" if kind == "max_pool" else "AveragePool",
                    [cur.name],
                    kernel_shape=[nr, nc],
                    strides=[sy, sx],
                    pads=[py, px, py, px],
                    **extra,
                )
            cur = _Value(out, (c, oh, ow))
        elif kind == "add_prev":
            cur = _materialise(g, cur)
            other = tags.get(layer.spec.num)
            if other is None:
                raise ValueError(f"add_prev{layer.spec.num} without tag{layer.spec.num}")
            # dlib's tt::add: the output has the larger size in every dimension and each input
            # counts as zero outside its own extent (zero padding at the end of k, rows, cols).
            (c1, h1, w1), (c2, h2, w2) = cur.shape, other.shape
            shape = (max(c1, c2), max(h1, h2), max(w1, w2))
            terms = []
            for v in (cur, other):
                if v.shape == shape:
                    terms.append(v.name)
                    continue
                pads = [0, 0, 0, 0, 0, *(m - s for m, s in zip(shape, v.shape, strict=True))]
                padded = g.node("Pad", [v.name, g.const("pads", pads, np.int64)], mode="constant")
                terms.append(padded)
            cur = _Value(g.node("Add", terms), shape)
        elif kind == "fc":
            cur = _materialise(g, cur)
            wmat = p["w"]
            _check(
                wmat.shape[0] == c * h * w,
                layer,
                f"{wmat.shape[0]} inputs, the layer below gives {c}x{h}x{w}",
            )
            flat = g.node("Flatten", [cur.name], axis=1)
            out = g.node("MatMul", [flat, g.const("fc_W", wmat)], OUTPUT_NAME)
            cur = _Value(out, (wmat.shape[1], 1, 1))

    if cur.name != OUTPUT_NAME:
        raise ValueError("the network does not end with the fc layer")

    return serialised_model(
        g.nodes,
        g.inits,
        name="dlib_face_recognition_resnet_model_v1",
        inputs=[(INPUT_NAME, ["N", 3, CHIP_SIZE, CHIP_SIZE])],
        outputs=[(OUTPUT_NAME, ["N", DESCRIPTOR_SIZE])],
        producer="facewise.embedders.dlib_onnx",
        doc="dlib face recognition ResNet v1, converted from dlib's serialised weights. "
        "Input: float32 (N,3,150,150) RGB 0..255; output: float32 (N,128), not normalised.",
    )


def convert(dat_path: str | os.PathLike[str]) -> bytes:
    """Convert ``dlib_face_recognition_resnet_model_v1.dat`` to a serialised ONNX model.

    Args:
        dat_path: path to dlib's face recognition ResNet weights (e.g.
            ``face_recognition_models.face_recognition_model_location()``).

    Returns:
        The ONNX model as bytes (opset 17). Input ``"chips"``: float32 of shape
        ``(N, 3, 150, 150)``, RGB pixel values 0..255 in NCHW order (unnormalised; the mean
        subtraction and /256 scaling are inside the graph). Output ``"descriptors"``: float32 of
        shape ``(N, 128)``, equal (to float rounding) to what
        ``dlib.face_recognition_model_v1.compute_face_descriptor(chip)`` returns for each
        150x150x3 uint8 RGB chip; not L2-normalised. ``N`` is dynamic.

    Raises:
        ValueError: the file is not dlib's face recognition ResNet v1 (wrong layer count or
            structure, an unexpected layer string or version, mismatched sizes, truncated or
            trailing data).
        OSError: the file cannot be read.
    """
    with open(dat_path, "rb") as f:
        data = f.read()
    try:
        means, net = _parse(data)
        return _build(means, net)
    except ValueError as exc:
        raise ValueError(f"cannot convert {os.fspath(dat_path)!r}: {exc}") from exc


def converted(dat_path: str | os.PathLike[str], *, sha256: str | None = None) -> bytes:
    """:func:`convert`, through the user's graph cache (see :mod:`facewise.models.cache`).

    ``sha256``: the ``.dat`` file's sha256 when the caller has verified it already (the model
    catalog does); otherwise it is computed here. The cached graph is used only when it was built
    from a file with that sha256 by this :data:`CONVERTER_VERSION` and its own checksum is right;
    else it is rebuilt (and rewritten when the cache folder is writable)."""
    from facewise.models import file_sha256
    from facewise.models.cache import cached_graph

    digest = sha256 or file_sha256(Path(dat_path))
    return cached_graph(
        "dlib-resnet",
        source_sha256=digest,
        converter=CONVERTER_VERSION,
        build=lambda: convert(dat_path),
    )
