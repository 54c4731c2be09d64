"""ONNX Runtime sessions, made one way for every model, and batched calls over crops.

Providers default to the fastest that this onnxruntime build offers (TensorRT, CUDA, CoreML, then CPU),
so the same config runs on a laptop and on a GPU box; ``RuntimeConfig.providers`` pins them. Graph
optimisation is always ALL: the converted TF.js models rely on ONNX Runtime's transpose optimiser to
remove the NHWC<->NCHW transposes around their convolutions.

We do not save the optimised graph next to the cache: start-up is 30-110 ms per model on CPU, and a
graph optimised at level ALL is tied to the machine that wrote it (NCHWc kernels), so the cache would
need invalidating per host for a few tens of milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import platformdirs

from watchnet.core.config import RuntimeConfig
from watchnet.core.errors import ModelError

#: Most preferred first. CoreML only on macOS builds; CPU always last as the fallback.
PREFERRED = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers, in watchnet's order of preference."""
    have = set(ort.get_available_providers())
    return [p for p in PREFERRED if p in have] + sorted(have - set(PREFERRED))


def _provider_list(runtime: RuntimeConfig) -> list[str | tuple[str, dict[str, str]]]:
    have = available_providers()
    if runtime.providers:
        unknown = [p for p in runtime.providers if p not in have]
        if unknown:
            raise ModelError(
                f"runtime.providers names {unknown}, which this onnxruntime build lacks; available: {have}"
            )
        names = list(runtime.providers)
    else:
        names = [p for p in have if p in PREFERRED]
    out: list[str | tuple[str, dict[str, str]]] = []
    for name in names:
        if name == "TensorrtExecutionProvider":  # engine builds take minutes: keep them between runs
            cache = Path(platformdirs.user_cache_dir("watchnet")) / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            out.append((name, {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache)}))
        else:
            out.append(name)
    return out


def create_session(path: Path | bytes, runtime: RuntimeConfig, label: str | None = None) -> ort.InferenceSession:
    """An inference session for ``path`` (a file, or a serialised model built in memory, e.g. a detector
    re-shaped for another input size; ``label`` names it in errors) with watchnet's provider order,
    threads and optimisation level."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = runtime.intra_op_threads
    options.inter_op_num_threads = 1  # camera workers run in parallel processes; no second pool per model
    options.log_severity_level = (
        3  # warnings such as "TensorRT libraries not found" are fallbacks, not errors
    )
    try:
        source = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(source, options, providers=_provider_list(runtime))
    except ModelError:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        name = label or ("an in-memory model" if isinstance(path, bytes) else path)
        raise ModelError(f"onnxruntime cannot load {name}: {exc}; re-pull it or check model_paths") from exc


def _batch_dim(session: ort.InferenceSession, feed_name: str) -> int | None:
    """The fixed batch size of input ``feed_name``, or None when it is dynamic."""
    for meta in session.get_inputs():
        if meta.name == feed_name:
            first = meta.shape[0] if meta.shape else None
            return first if isinstance(first, int) and first > 0 else None
    names = [m.name for m in session.get_inputs()]
    raise ModelError(f"the model has no input '{feed_name}'; its inputs are {names}")


def run_batched(
    session: ort.InferenceSession,
    feeds_name: str,
    batch: np.ndarray,
    max_batch: int,
    output_names: list[str] | None = None,
) -> list[np.ndarray]:
    """Run ``batch`` (N x ...) through a single-input model, in chunks; outputs are concatenated on axis 0.

    A dynamic batch dim takes chunks of up to ``max_batch``; a fixed one (usually 1) is fed exactly that
    many at a time, the last chunk padded by repeating its final item and the padding cut off again.
    Every output must have the batch as its first axis.
    """
    names = output_names or [o.name for o in session.get_outputs()]
    fixed = _batch_dim(session, feeds_name)
    step = fixed or max(1, max_batch)
    if len(batch) == 0:
        metas = {o.name: o for o in session.get_outputs()}
        return [
            np.zeros([0, *(d if isinstance(d, int) else 0 for d in metas[n].shape[1:])], np.float32)
            for n in names
        ]
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(batch), step):
        chunk = batch[start : start + step]
        real = len(chunk)
        if fixed and real < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - real, axis=0)])
        for k, out in enumerate(session.run(names, {feeds_name: chunk})):
            parts[k].append(out[:real])
    return [p[0] if len(p) == 1 else np.concatenate(p) for p in parts]
