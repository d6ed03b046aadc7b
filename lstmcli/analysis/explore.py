"""What `explore` computes: one layer's every state and gate over a text, quantised for the page.

The numbers come from lstmcli's NumPy engine (`model.cell.forward`, the equations `inspect
--verify` checks against Keras); no TensorFlow is imported. `render.explore_page` writes the
document this returns into the self-contained HTML page.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import tasks
from lstmcli.errors import UsageError

DEFAULT_MAX_TOKENS = 5000
TOP_K = 5
LEFT, RIGHT = 0.1, 0.9  # a gate is left-saturated below 0.1, right-saturated above 0.9 (Karpathy et al.)
# Which of a cell's per-step arrays (model.cell.CELLS[...].steps) are sigmoid gates, whose saturation the
# page plots: the states (h, c) and the tanh candidate g are not gates that saturate at 0 and 1.
NOT_GATES = ("h", "c", "g")
LABELS = {
    "h": "h — hidden state",
    "c": "c — cell state",
    "i": "i — input gate",
    "f": "f — forget gate",
    "g": "g — candidate",
    "o": "o — output gate",
    "z": "z — update gate",
    "r": "r — reset gate",
}


@dataclass
class ExploreResult:
    run: str
    source: str  # the --text file, or "--input"
    cell: str
    layer: int
    num_layers: int
    units: int
    task: str
    tokens: int
    arrays: dict[str, np.ndarray]  # name -> (time, units) float32, exact NumPy engine values
    document: dict[str, Any]  # what the page embeds (quantised)
    max_error: dict[str, float]  # the largest quantisation error of each array


def clean_text(text: str) -> str:
    """Lone surrogates (from a command line with invalid bytes, or a decoder's surrogateescape)
    become U+FFFD; a valid pair is joined. Python's own UTF-16 codec does both."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def read_text(path: Path) -> tuple[str, list[str]]:
    """A --text file as text: invalid UTF-8 is replaced by U+FFFD (a viewer shows what it can,
    and says so) rather than refused."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise UsageError(f"{path}: --text: expected a text file, got a directory") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: --text: no such file") from None
    notes = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", errors="replace")
        notes.append(f"{path}: invalid UTF-8 (first at byte {e.start}) shown as U+FFFD")
    return clean_text(text), notes


def pieces_of(text: str, mode: str) -> list[tuple[str, bool]]:
    """The text cut into (piece, is_token) in order; joined, the pieces are the text itself.

    Characters are each a token; words are the runs of non-space (str.split()'s tokens, which
    the tokenizer returns), with the whitespace between them kept as untinted pieces.
    """
    if mode != "word":
        return [(ch, True) for ch in text]
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer(r"\S+", text):
        if m.start() > pos:
            out.append((text[pos : m.start()], False))
        out.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def quantise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, units) float → uint8 codes (units, time) with a per-unit offset and step:
    value ≈ lo + code * step, off by at most step / 2."""
    a = np.asarray(a, dtype=np.float64).T  # unit-major: one unit over time is contiguous
    lo = a.min(axis=1)
    hi = a.max(axis=1)
    step = (hi - lo) / 255.0
    safe = np.where(step > 0, step, 1.0)
    codes = np.clip(np.rint((a - lo[:, None]) / safe[:, None]), 0, 255).astype(np.uint8)
    return codes, lo.astype(np.float32), step.astype(np.float32)


def dequantise(codes: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The values the page shows, (units, time), exactly as its script computes them (float32
    offset and step, as the JSON carries them)."""
    return lo.astype(np.float64)[:, None] + codes.astype(np.float64) * step.astype(np.float64)[:, None]


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode()


def _floats(a: np.ndarray) -> list[float]:
    # float32 values written with their shortest repr, so the page reads back the same float32
    return [float(str(x)) for x in np.asarray(a, dtype=np.float32)]


def _kind(name: str) -> str:
    if name == "c":
        return "cell"
    if name in ("h", "g"):
        return "tanh"
    return "sigmoid"


def _slice_hint(source: str, mode: str, n: int) -> str:
    """A shell command cutting a text file down to its first n tokens (for characters `head -c n`:
    n bytes never hold more than n characters)."""
    import shlex

    if source == "--input":
        return "shorten the --input text"
    f = shlex.quote(source)
    if mode == "word":
        # Python's own split, so a slice holds exactly the tokens lstmcli reads (tr's [:space:]
        # does not know U+2028 and the other Unicode spaces str.split() splits on)
        code = f"import sys; print(*open(sys.argv[1], encoding='utf-8').read().split()[:{n}])"
        cut = f"python3 -c {shlex.quote(code)} {f}"
    else:
        cut = f"head -c {n} {f}"
    return f"explore a slice ({cut} > slice.txt, then --text slice.txt)"


def _checked_tokens(text: str, mode: str, source: str, max_tokens: int) -> None:
    """Refuse an empty text, or one longer than --max-tokens (with a command that slices it)."""
    from lstmcli.tokens import tokenize

    toks = tokenize(text, mode)
    if not toks:
        raise UsageError(f"{source}: expected at least one token, got an empty text")
    if len(toks) > max_tokens:
        raise UsageError(
            f"{source}: expected at most {max_tokens} tokens (--max-tokens), got {len(toks)}: "
            f"{_slice_hint(source, mode, max_tokens)} or raise --max-tokens"
        )


def _step_ids(
    pieces: list[tuple[str, bool]], vocab: Any, unknown: str, source: str
) -> tuple[list[int], list[int]]:
    """The ids the engine steps through, and for each piece of the text the step its token became,
    or -1 (spaces, skipped tokens)."""

    def refuse(pos: int, token: str) -> UsageError:
        return UsageError(
            f"{source}: expected tokens from the run's vocabulary {vocab.shown()}, "
            f"got {token!r} at token {pos}"
        )

    ids, kept = vocab.ids_kept([p for p, is_token in pieces if is_token], unknown, refuse)
    step_of = dict(zip(kept, range(len(ids)), strict=True))
    piece_step: list[int] = []
    pos = -1
    for _, is_token in pieces:
        pos += is_token
        piece_step.append(step_of.get(pos, -1) if is_token else -1)
    if not ids:
        raise UsageError(f"{source}: no token left after skipping unknown tokens")
    return ids, piece_step


def _layer_arrays(trace: Any, cell_name: str) -> dict[str, np.ndarray]:
    """One layer's per-step arrays by their shown name, h and c first."""
    from lstmcli.model.cell import CELLS

    cell = CELLS[cell_name]
    arrays = {shown: np.asarray(getattr(trace, attr)[0], dtype=np.float32) for shown, attr in cell.steps}
    order = [n for n in ("h", "c") if n in arrays] + [n for n in arrays if n not in ("h", "c")]
    return {n: arrays[n] for n in order}


def _quantised(arrays: dict[str, np.ndarray]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The document's quantised arrays, and the largest quantisation error of each."""
    doc_arrays = []
    max_error: dict[str, float] = {}
    for name, values in arrays.items():
        codes, lo, step = quantise(values)
        shown = dequantise(codes, lo, step)
        max_error[name] = float(np.max(np.abs(shown - values.T.astype(np.float64)), initial=0.0))
        doc_arrays.append(
            {
                "name": name,
                "label": LABELS.get(name, name),
                "kind": _kind(name),
                "lo": _floats(lo),
                "step": _floats(step),
                "codes": _b64(codes),
            }
        )
    return doc_arrays, max_error


def _saturation(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per gate and unit, the share of steps left- and right-saturated."""
    gates = [n for n in arrays if n not in NOT_GATES]
    return {
        "left_below": LEFT,
        "right_above": RIGHT,
        "gates": gates,
        "left": [[float(v) for v in np.mean(arrays[g] < LEFT, axis=0)] for g in gates],
        "right": [[float(v) for v in np.mean(arrays[g] > RIGHT, axis=0)] for g in gates],
    }


def _next(cfg: Any, vocab: Any, probs: np.ndarray) -> dict[str, Any]:
    """What the model predicts: the labels' probabilities after the last step (classify), or each
    step's top tokens (next-token)."""
    p = np.asarray(probs[0], dtype=np.float64)  # (time, outputs)
    if tasks.of(cfg).output == "labels":
        labels = [str(label) for label in (cfg.labels if isinstance(cfg.labels, list) else [])]
        last = p[-1]
        return {
            "kind": "labels",
            "labels": labels,
            "probs": [float(v) for v in last],
        }
    k = min(TOP_K, p.shape[1])
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    top_p = np.take_along_axis(p, top, axis=1)
    id_type = np.uint16 if vocab.size <= 1 << 16 else np.uint32
    return {
        "kind": "tokens",
        "k": k,
        "vocab": list(vocab.tokens),
        "id_bytes": np.dtype(id_type).itemsize,
        "ids": _b64(top.astype(id_type)),
        # probabilities to 1/65535: the page shows 4 decimals
        "probs": _b64(np.rint(top_p * 65535).astype(np.uint16)),
    }


def explore(
    run_dir: str | Path,
    text: str,
    *,
    source: str,
    layer: int = 0,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> ExploreResult:
    """Run the text through a trained run's NumPy engine and build the page's data document."""
    from lstmcli import runs
    from lstmcli.data import vocab_of
    from lstmcli.model.cell import forward
    from lstmcli.model.engine import check_spec
    from lstmcli.model.kerasfile import load_spec

    if max_tokens < 1:
        raise UsageError(f"--max-tokens: expected a positive integer, got {max_tokens}")
    run = runs.open_run(run_dir)
    cfg = run.config
    spec = load_spec(run.model_path, run.weights_cache)
    check_spec(cfg, spec, run.model_path)
    n_layers = len(spec.layers)
    if not 0 <= layer < n_layers:
        raise UsageError(f"--layer: expected 0..{n_layers - 1}, got {layer}")
    vocab = vocab_of(cfg)
    mode = cfg.data.tokens
    _checked_tokens(text, mode, source, max_tokens)
    pieces = pieces_of(text, mode)
    ids, piece_step = _step_ids(pieces, vocab, cfg.data.unknown, source)

    x = vocab.one_hot(np.asarray(ids, dtype=np.int64)[None, :])
    traces, probs = forward(spec.stack(), x)
    arrays = _layer_arrays(traces[layer], cfg.model.cell)
    doc_arrays, max_error = _quantised(arrays)
    units = int(arrays["h"].shape[1])
    document = {
        "format": 1,
        "run": str(run_dir),
        "source": source,
        "cell": cfg.model.cell,
        "layer": layer,
        "num_layers": n_layers,
        "units": units,
        "task": cfg.task,
        "token_mode": mode,
        "steps": len(ids),
        "pieces": [piece for piece, _ in pieces],
        "piece_step": piece_step,
        "arrays": doc_arrays,
        "next": _next(cfg, vocab, probs),
        "saturation": _saturation(arrays),
    }
    return ExploreResult(
        run=str(run_dir),
        source=source,
        cell=cfg.model.cell,
        layer=layer,
        num_layers=n_layers,
        units=units,
        task=cfg.task,
        tokens=len(ids),
        arrays=arrays,
        document=document,
        max_error=max_error,
    )
