"""Walk a parsed TF.js graph and emit the ONNX graph, one TF node at a time.

The ``Builder`` is the small state every op translator shares: which ONNX tensor stands for which TF
tensor, which TF tensors are compile-time constants (their values are kept as numpy arrays, so shape
arguments, paddings and filters are read directly and constant sub-graphs are folded instead of
emitted), and the ONNX nodes and initialisers produced so far. Names come from the TF graph plus a
counter, and nodes are emitted in a fixed depth-first order, so the output bytes never vary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from watchnet.vision.models.tfjs import IR_VERSION, OPSET, ConvertError, TfjsGraph, TfNode

Translator = Callable[["Builder", TfNode], list[str]]
Folder = Callable[[TfNode, list[np.ndarray]], list[np.ndarray]]

#: op name -> translator; filled by ``tfjs_ops`` and ``tfjs_nn`` through ``register``.
TRANSLATORS: dict[str, Translator] = {}
#: op name -> numpy evaluator, used when every input of a node is constant (``tfjs_fold``).
FOLDERS: dict[str, Folder] = {}


def register(*ops: str) -> Callable[[Translator], Translator]:
    """Decorator: ``fn`` translates the TF ops ``ops``."""

    def wrap(fn: Translator) -> Translator:
        for name in ops:
            TRANSLATORS[name] = fn
        return fn

    return wrap


def tensor_key(ref: str) -> str:
    """Canonical TF tensor name: ``x`` and ``x:0`` are the same tensor."""
    name, _, idx = ref.partition(":")
    return f"{name}:{idx or 0}"


class Builder:
    """Shared state of one conversion (see the module docstring)."""

    def __init__(self, graph: TfjsGraph) -> None:
        self.graph = graph
        self.by_name = {n.name: n for n in graph.nodes}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, TensorProto] = {}
        self.values: dict[str, np.ndarray] = {}  # TF tensor key -> constant value
        self.onnx_of: dict[str, str] = {}  # TF tensor key -> ONNX tensor name
        self._taken: set[str] = set()
        self._shared: dict[tuple[str, float], str] = {}

    # --- names ---------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A tensor/node name not used yet, derived from ``base``."""
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}__{k}"
        self._taken.add(name)
        return name

    # --- inputs of a TF node ------------------------------------------------------------------------
    def const(self, node: TfNode, k: int) -> np.ndarray | None:
        """The constant value of input ``k`` of ``node``, or None when it is computed at run time."""
        return self.values.get(tensor_key(node.inputs[k]))

    def need_const(self, node: TfNode, k: int) -> np.ndarray:
        value = self.const(node, k)
        if value is None:
            raise ConvertError(
                f"{node.op} node '{node.name}': input {k} ('{node.inputs[k]}') must be a constant here"
            )
        return value

    def inp(self, node: TfNode, k: int) -> str:
        """ONNX tensor name for input ``k`` of ``node`` (a constant becomes an initialiser on first use)."""
        key = tensor_key(node.inputs[k])
        if key not in self.onnx_of:
            if key not in self.values:
                raise ConvertError(f"'{node.name}' reads '{node.inputs[k]}', which was never produced")
            name = key[:-2] if key.endswith(":0") else key
            self.onnx_of[key] = self.constant(self.values[key], name)
        return self.onnx_of[key]

    # --- emitting -----------------------------------------------------------------------------
    def scalar(self, value: float, dtype: str = "float32") -> str:
        """A scalar initialiser shared by every node that needs the same value (Relu6's 0 and 6...)."""
        key = (dtype, float(value))
        if key not in self._shared:
            self._shared[key] = self.constant(np.array(value, dtype=dtype), f"const_{dtype}_{value:g}")
        return self._shared[key]

    def constant(self, value: np.ndarray | np.generic | float | int | Sequence[int], name: str) -> str:
        """Add an initialiser and return its (fresh) name."""
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self.fresh(name)
        self.initializers[name] = numpy_helper.from_array(np.array(array, order="C"), name)
        return name

    def ints(self, values: Sequence[int] | np.ndarray, name: str) -> str:
        """An int64 initialiser (the dtype ONNX wants for shapes, axes, pads, repeats)."""
        return self.constant(np.asarray(values, dtype=np.int64), name)

    def emit(self, op_type: str, inputs: Sequence[str], name: str, n_out: int = 1, **attrs: Any) -> list[str]:
        """Append one ONNX node; return its output names (``name``, then ``name:1``, ...)."""
        node_name = self.fresh(name)
        outs = [node_name] + [self.fresh(f"{node_name}:{i}") for i in range(1, n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        """``emit`` for the common single-output case."""
        return self.emit(op_type, inputs, name, 1, **attrs)[0]

    def as_int64(self, node: TfNode, k: int) -> str:
        """Input ``k`` as an int64 tensor (constant-converted when possible, else a Cast node)."""
        value = self.const(node, k)
        if value is not None:
            return self.ints(value.astype(np.int64), f"{node.name}/in{k}_i64")
        return self.op("Cast", [self.inp(node, k)], f"{node.name}/in{k}_i64", to=TensorProto.INT64)


def _order(b: Builder, wanted: Sequence[str]) -> list[TfNode]:
    """Nodes the outputs depend on, dependencies first (iterative DFS: graphs are deep)."""
    seen: set[str] = set()
    order: list[TfNode] = []
    for ref in wanted:
        root = ref.partition(":")[0]
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, done = stack.pop()
            if done:
                order.append(b.by_name[name])
                continue
            if name in seen:
                continue
            if name not in b.by_name:
                raise ConvertError(f"the graph has no node named '{name}'")
            seen.add(name)
            stack.append((name, True))
            for dep in reversed(b.by_name[name].inputs):
                dep_name = dep.partition(":")[0]
                if dep_name not in seen:
                    stack.append((dep_name, False))
    return order


def _default_outputs(graph: TfjsGraph) -> list[str]:
    sig = graph.signature.get("outputs", {})
    if sig:
        names = [v.get("name", k) for k, v in sig.items()]
        # Natural order (Identity, Identity_1, ..., Identity_10): the order TF gave the outputs.
        return sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])
    consumed = {i.partition(":")[0] for n in graph.nodes for i in n.inputs}
    return [n.name for n in graph.nodes if n.op == "Identity" and n.name not in consumed]


def build_model(
    graph: TfjsGraph,
    *,
    outputs: list[str] | None,
    output_names: list[str] | None,
    input_name: str | None,
    input_shape: list[int | str] | None,
) -> onnx.ModelProto:
    """The ONNX model for ``graph`` (see ``tfjs.convert`` for the arguments)."""
    from watchnet.vision.models import tfjs_fold, tfjs_nn, tfjs_ops  # noqa: F401  (fill the registries)

    b = Builder(graph)
    for name, value in graph.weights.items():
        b.values[tensor_key(name)] = value
    wanted = outputs or _default_outputs(graph)
    names = output_names or [w[:-2] if w.endswith(":0") else w for w in wanted]
    if len(names) != len(wanted):
        raise ConvertError(f"{len(wanted)} outputs but {len(names)} output_names")
    order = _order(b, wanted)
    placeholders = [n for n in order if n.op == "Placeholder"]
    if input_name is not None and len(placeholders) != 1:
        raise ConvertError(f"input_name needs exactly one input; the graph has {len(placeholders)}")
    graph_inputs = []
    for node in order:
        if node.op == "Placeholder":
            graph_inputs.append(_placeholder(b, node, input_name, input_shape))
        elif node.op == "Const":
            if tensor_key(node.name) not in b.values:
                raise ConvertError(f"constant '{node.name}' has no value in the weight manifest")
        else:
            _translate(b, node)
    graph_outputs = []
    for ref, name in zip(wanted, names, strict=True):
        key = tensor_key(ref)
        source = b.onnx_of.get(key) or b.inp(TfNode("output", "Identity", (ref,)), 0)
        if source != name:
            if name in b._taken:
                raise ConvertError(f"output name '{name}' is already used inside the graph")
            b._taken.add(name)
            b.nodes.append(helper.make_node("Identity", [source], [name], name=name))
        graph_outputs.append(onnx.ValueInfoProto(name=name))
    nodes = b.nodes
    used = {i for n in nodes for i in n.input}
    inits = [t for name, t in b.initializers.items() if name in used]
    g = helper.make_graph(nodes, "watchnet", graph_inputs, graph_outputs, initializer=inits)
    model = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="watchnet.tfjs", producer_version="1"
    )
    model.ir_version = IR_VERSION
    return _with_output_types(model)


def _placeholder(
    b: Builder, node: TfNode, rename: str | None, shape: list[int | str] | None
) -> onnx.ValueInfoProto:
    dims: list[int | str]
    if shape is not None:
        dims = list(shape)
    else:
        dims = [int(d.get("size", -1)) for d in node.attr.get("shape", {}).get("shape", {}).get("dim", [])]
    dims = [
        ("batch" if i == 0 else f"dim{i}") if (isinstance(d, int) and d < 0) else d
        for i, d in enumerate(dims)
    ]
    name = rename or node.name
    b._taken.add(name)
    b.onnx_of[tensor_key(node.name)] = name
    elem = helper.np_dtype_to_tensor_dtype(node.dtype("dtype"))
    return helper.make_tensor_value_info(name, elem, dims)


def _translate(b: Builder, node: TfNode) -> None:
    keys = [tensor_key(i) for i in node.inputs]
    folder = FOLDERS.get(node.op)
    if folder is not None and all(k in b.values for k in keys):
        for idx, value in enumerate(folder(node, [b.values[k] for k in keys])):
            b.values[f"{node.name}:{idx}"] = value
        return
    translator = TRANSLATORS.get(node.op)
    if translator is None:
        raise ConvertError(
            f"TF op '{node.op}' (node '{node.name}') is not supported by watchnet's TF.js converter"
        )
    for idx, out in enumerate(translator(b, node)):
        b.onnx_of[f"{node.name}:{idx}"] = out


def _with_output_types(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fill the graph outputs' dtype and shape from ONNX shape inference (kept out of value_info)."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for out in model.graph.output:
        info = known.get(out.name)
        if info is None or not info.type.HasField("tensor_type"):
            raise ConvertError(f"cannot infer the type of output '{out.name}'")
        out.type.CopyFrom(info.type)
    return model
