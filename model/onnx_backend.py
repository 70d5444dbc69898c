"""Run an artifact's network with ONNX Runtime, without importing torch.

The graph is built at load time from the artifact's weights (numpy arrays from safetensors), so
the artifact format stays the same and every artifact can use either runtime. It computes what
`BiLSTMClassifier.forward` computes in eval mode: ONNX's bidirectional LSTM with `sequence_lens`
reverses each text within its own length, exactly like the classifier's backward LSTM, and the
pooling ignores padded steps. Outputs match the torch network within 1e-5 (tests/model).

PyTorch orders an LSTM's gates (input, forget, cell, output); ONNX (input, output, forget, cell).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SUM_OVER_TIME = "sum_over_time"  # the MatMul that sums the LSTM's outputs: int8 leaves it fp32


def _gates_to_onnx(weight: np.ndarray, hidden: int) -> np.ndarray:
    i, f, g, o = (weight[k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, o, f, g])


def build_graph(weights: Mapping[str, np.ndarray], num_layers: int, hidden: int) -> onnx.ModelProto:
    """Inputs: ids int64 (B, T), lengths int32 (B,), valid bool (T, 1, B, 1).

    Output: logits (B, L); with a polarity head (weights "polarity.*"), (B, L + 1): the logits and
    then tanh of the polarity head, as `BiLSTMClassifier.outputs` gives them.
    """
    inits = [numpy_helper.from_array(weights["embedding.weight"].astype(np.float32), "embedding")]
    if num_layers > 1:
        inits.append(numpy_helper.from_array(np.array([0, 0, 2 * hidden], dtype=np.int64), "shape_tb2h"))
    nodes = [
        # the ids are turned to (T, B) before the lookup: a small int tensor moves, not (B, T, E) floats
        helper.make_node("Transpose", ["ids"], ["ids_tb"], perm=[1, 0]),
        helper.make_node("Gather", ["embedding", "ids_tb"], ["x0"]),  # (T, B, E)
    ]
    x = "x0"
    for layer in range(num_layers):
        w, r, b = [], [], []
        for direction in ("forward_lstms", "backward_lstms"):
            prefix = f"{direction}.{layer}."
            w.append(_gates_to_onnx(weights[prefix + "weight_ih_l0"], hidden))
            r.append(_gates_to_onnx(weights[prefix + "weight_hh_l0"], hidden))
            b.append(
                np.concatenate(
                    [
                        _gates_to_onnx(weights[prefix + "bias_ih_l0"], hidden),
                        _gates_to_onnx(weights[prefix + "bias_hh_l0"], hidden),
                    ]
                )
            )
        for name, value in (("W", w), ("R", r), ("B", b)):
            inits.append(numpy_helper.from_array(np.stack(value).astype(np.float32), f"{name}{layer}"))
        y = f"y{layer}"  # (T, 2, B, H)
        nodes.append(
            helper.make_node(
                "LSTM",
                [x, f"W{layer}", f"R{layer}", f"B{layer}", "lengths"],
                [y],
                direction="bidirectional",
                hidden_size=hidden,
            )
        )
        if layer + 1 < num_layers:
            # (T, 2, B, H) -> (T, B, 2, H) -> (T, B, 2H): [forward ; backward], the next layer's input.
            nodes.append(helper.make_node("Transpose", [y], [f"{y}t"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"{y}t", "shape_tb2h"], [f"x{layer + 1}"]))
            x = f"x{layer + 1}"
    last = f"y{num_layers - 1}"
    inits += [
        numpy_helper.from_array(np.array([-np.inf], dtype=np.float32), "minus_inf"),
        numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape_t_flat"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([2, -1, hidden], dtype=np.int64), "shape_2bh"),
        numpy_helper.from_array(np.array([0, 2 * hidden], dtype=np.int64), "shape_b2h"),
        numpy_helper.from_array(weights["output.weight"].astype(np.float32), "out_w"),
        numpy_helper.from_array(weights["output.bias"].astype(np.float32), "out_b"),
    ]
    nodes += [
        # masked max and mean over time of (T, 2, B, H), as the torch network pools
        helper.make_node("Where", ["valid", last, "minus_inf"], ["masked"]),
        helper.make_node("ReduceMax", ["masked"], ["max"], keepdims=0, axes=[0]),  # (2, B, H)
        # the sum over time as a (1, T) x (T, 2BH) product: ONNX Runtime's ReduceSum over the first
        # axis ran 3x slower than this on (T, 2BH) (BENCHMARKS.md, "The graph around the LSTM")
        helper.make_node("Cast", ["valid"], ["validf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [last, "validf"], ["zeroed"]),
        helper.make_node("Reshape", ["zeroed", "shape_t_flat"], ["zeroed_flat"]),  # (T, 2BH)
        helper.make_node("Shape", ["zeroed_flat"], ["t_only"], end=1),
        helper.make_node("Concat", ["one", "t_only"], ["shape_1t"], axis=0),
        helper.make_node(
            "ConstantOfShape", ["shape_1t"], ["ones_1t"], value=numpy_helper.from_array(np.ones(1, np.float32))
        ),
        helper.make_node("MatMul", ["ones_1t", "zeroed_flat"], ["sum_flat"], name=SUM_OVER_TIME),  # (1, 2BH)
        helper.make_node("Reshape", ["sum_flat", "shape_2bh"], ["sum"]),  # (2, B, H)
        helper.make_node("Cast", ["lengths"], ["lengthsf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["lengthsf", "unsq_axes"], ["lengths_b1"]),  # (B, 1)
        helper.make_node("Div", ["sum", "lengths_b1"], ["mean"]),
        helper.make_node("Transpose", ["max"], ["max_t"], perm=[1, 0, 2]),  # (B, 2, H)
        helper.make_node("Transpose", ["mean"], ["mean_t"], perm=[1, 0, 2]),
        helper.make_node("Reshape", ["max_t", "shape_b2h"], ["max_flat"]),  # (B, 2H): [f ; b]
        helper.make_node("Reshape", ["mean_t", "shape_b2h"], ["mean_flat"]),
        helper.make_node("Concat", ["max_flat", "mean_flat"], ["pooled"], axis=1),  # (B, 4H)
    ]
    if "polarity.weight" in weights:
        inits += [
            numpy_helper.from_array(weights["polarity.weight"].astype(np.float32), "pol_w"),
            numpy_helper.from_array(weights["polarity.bias"].astype(np.float32), "pol_b"),
        ]
        nodes += [
            helper.make_node("Gemm", ["pooled", "out_w", "out_b"], ["class_logits"], transB=1),
            helper.make_node("Gemm", ["pooled", "pol_w", "pol_b"], ["pol_raw"], transB=1),  # (B, 1)
            helper.make_node("Tanh", ["pol_raw"], ["pol"]),
            helper.make_node("Concat", ["class_logits", "pol"], ["logits"], axis=1),
        ]
    else:
        nodes.append(helper.make_node("Gemm", ["pooled", "out_w", "out_b"], ["logits"], transB=1))
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "unsq_axes"))
    graph = helper.make_graph(
        nodes,
        "bilstm_classifier",
        inputs=[
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["B"]),
            helper.make_tensor_value_info("valid", TensorProto.BOOL, ["T", 1, "B", 1]),
        ],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", None])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class OnnxNetwork:
    """Callable like the torch network in eval mode, on numpy arrays: ids (B, T), lengths (B,)."""

    def __init__(
        self,
        weights: Mapping[str, np.ndarray],
        num_layers: int,
        hidden: int,
        *,
        threads: int = 0,
        precision: str = "fp32",
        per_channel: bool = True,
        quantize_embedding: bool = False,
    ) -> None:
        """`precision` "int8": quantized from the fp32 graph (model/precision.py quantize_int8; the other two
        arguments are its options, for benchmarks)."""
        model = build_graph(weights, num_layers, hidden)
        if precision == "int8":
            from model.precision import quantize_int8

            model = quantize_int8(model, per_channel=per_channel, embedding=quantize_embedding, exclude=[SUM_OVER_TIME])  # type: ignore[assignment]
        elif precision != "fp32":
            raise ValueError(f"ONNX Runtime runs fp32 or int8 here, not {precision!r}")
        # The embedding table (most of the weights) is handed to the sessions as the artifact's own array
        # instead of a copy deserialised from the graph: one copy per model in memory, not one per session.
        embedding = weights["embedding.weight"]
        self._embedding = None
        if not quantize_embedding and embedding.dtype == np.float32 and embedding.flags.c_contiguous:
            self._embedding = ort.OrtValue.ortvalue_from_numpy(embedding)  # the sessions read it: keep it alive
        graph = model.SerializeToString()
        self.session = self._session(graph, threads)  # 0: ONNX Runtime's default (one thread per core)
        # In int8 a pass of one text runs on one thread: DynamicQuantizeLSTM's per-step work on one row
        # is too small to share, and a lone review took 1.4-3x as long on two threads (fp32 gains from
        # the second thread even then). BENCHMARKS.md, "One text per pass". Every lone request at c=1.
        self._single = self._session(graph, 1) if precision == "int8" and threads != 1 else self.session

    def _session(self, graph: bytes, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No CPU arena: each session's arena stayed reserved after a hot reload (RSS +91% over 40
        # reloads, bench/reload_memory.py); short-text throughput is the same without it (BENCHMARKS.md).
        options.enable_cpu_mem_arena = False
        if self._embedding is not None:
            options.add_initializer("embedding", self._embedding)
        return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        session = self._single if len(ids) == 1 else self.session
        (logits,) = session.run(None, self.feed(ids, lengths))
        return logits  # type: ignore[no-any-return]

    @staticmethod
    def feed(ids: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's inputs for right-padded `ids` (B, T) of true `lengths` (B,)."""
        steps = np.arange(ids.shape[1])
        valid = (steps[:, None] < lengths[None, :])[:, None, :, None]  # (T, 1, B, 1)
        return {"ids": ids.astype(np.int64), "lengths": lengths.astype(np.int32), "valid": valid}
