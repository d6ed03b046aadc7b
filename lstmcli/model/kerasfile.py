"""Read a `.keras` file lstmcli wrote into NumPy weights, without Keras and without running it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard

import numpy as np

from lstmcli.errors import RunDirError
from lstmcli.model.cell import CELLS, F32, RecurrentWeights

if TYPE_CHECKING:
    import h5py

Kind = str  # a registered cell's name (lstmcli.model.cell.CELLS)

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
# A .keras file lstmcli writes has a few KB of JSON; refusing huge members keeps a hostile
# archive (a zip bomb) from exhausting memory before we have looked at anything.
_MAX_JSON_BYTES = 16 * 1024 * 1024
_MAX_WEIGHTS_BYTES = 2 * 1024 * 1024 * 1024

_KIND: dict[str, Kind] = {c.keras_class: c.name for c in CELLS.values()}
# Keras stores each layer's weights under its snake-cased *class* name, numbered per class in
# model order (lstm, lstm_1, …), never under the layer's own name
# (keras/src/saving/saving_lib.py, _save_container_state).
_H5_NAME = {
    **{c.keras_class: c.h5_name for c in CELLS.values()},
    "Dropout": "dropout",
    "Dense": "dense",
    "Masking": "masking",
}


@dataclass(eq=False)
class RecurrentSpec:
    """One recurrent layer: its kind, Keras layer name, size and weights."""

    kind: Kind
    name: str
    units: int
    return_sequences: bool
    weights: RecurrentWeights


@dataclass(eq=False)
class DenseSpec:
    """The output layer: kernel (units, vocab), bias (vocab,), activation (always "softmax")."""

    name: str
    kernel: F32
    bias: F32
    activation: str


@dataclass(eq=False)
class ModelSpec:
    """Everything `cell.forward` needs to reproduce the saved model, plus where it came from."""

    input_dim: int
    layers: list[RecurrentSpec]
    dense: DenseSpec
    keras_version: str
    # A classifier (task: classify): a Masking layer masks all-zero input rows, and the last
    # recurrent layer returns only its last output, which the Dense maps to the labels.
    masking: bool = False

    @property
    def classifier(self) -> bool:
        return bool(self.layers) and not self.layers[-1].return_sequences

    def stack(self) -> list[RecurrentWeights | DenseSpec]:
        """The layer list `cell.forward` takes: recurrent weights in order, then the Dense."""
        return [*(layer.weights for layer in self.layers), self.dense]


def load_spec(path: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None) -> ModelSpec:
    """Read a `.keras` file lstmcli wrote; raise `RunDirError` for anything else.

    Only zip members are parsed as JSON and HDF5: no Keras code runs, no pickled or serialized
    Python (Lambda layers, custom objects) is ever decoded, and the compile config is not read.

    With `cache` (a run directory's weights.npz), the weights come from that file when it was
    made from this very model file (its SHA-256) and its arrays are intact (theirs); otherwise
    from the HDF5 member, after which the cache is (re)written. See `read_cache`.
    """
    label = os.fspath(path)
    if not os.path.exists(label):
        _fail(label, "no such file")
    if not os.path.isfile(label):
        _fail(label, "is not a file")
    try:
        f = open(label, "rb")
    except OSError as e:
        _fail(label, f"cannot be read: {e.strerror or e}")
    with f:
        digest = _file_digest(f, label) if cache is not None else ""
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            # A damaged central directory can also surface as a failed seek (OSError).
            _fail(label, f"is not a .keras archive (not a zip file, or truncated): {e}")
        with zf:
            config = _read_json(zf, _CONFIG, label)
            metadata = _read_json(zf, _METADATA, label)
            keras_version = _keras_version(metadata, label)
            plan = _parse_config(config, label)
            cached = read_cache(cache, digest) if cache is not None else None
            if cached is not None:
                try:
                    return _build_spec(plan, _cached_reader(cached), keras_version, label)
                except _CacheMismatch:
                    pass  # read the model file instead, and rewrite the cache
            h5_bytes = _read_member(zf, _WEIGHTS, _MAX_WEIGHTS_BYTES, label)
    read: list[F32] = []
    spec = _load_weights(plan, h5_bytes, keras_version, label, read)
    if cache is not None:
        write_cache(cache, digest, read)
    return spec


def _file_digest(f: io.BufferedReader, label: str) -> str:
    try:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0)
    except OSError as e:
        _fail(label, f"cannot be read: {e.strerror or e}")
    return digest


# --- the weights cache (a run directory's weights.npz) ----------------------------------------
#
# Reading model.weights.h5 needs h5py, whose import is a tenth of `predict`'s start-up. The
# cache holds the arrays `_build_spec` read from it, in reading order, as a plain .npz (NumPy's
# own format, loaded with allow_pickle=False) plus a JSON record: the SHA-256 of the model file
# they came from and the SHA-256 of the arrays themselves. A cache is used only when both match:
# a model file replaced by training, a copy or an edit (whatever its size or mtime) makes it
# stale, and an edited or damaged cache fails its own digest; either way the weights are read
# from the model file again and the cache rewritten. The cache is as trusted as the run
# directory holding it: someone who can write both files can also replace model.keras.

CACHE_FORMAT = 1


def _arrays_digest(arrays: list[F32]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def read_cache(cache: str | os.PathLike[str], source_digest: str) -> list[F32] | None:
    """The cached weight arrays, or None when the cache is missing, stale or not intact."""
    try:
        with np.load(cache, allow_pickle=False) as npz:
            record = json.loads(str(npz["record"][()]))
            count = record["count"]
            if record.get("format") != CACHE_FORMAT or record.get("source_sha256") != source_digest:
                return None
            arrays: list[F32] = [npz[f"w{n}"] for n in range(count)]
    # A cache is only ever a shortcut: whatever is wrong with it (missing, truncated, not a
    # .npz, a record of the wrong shape) means "read the model file", never an error.
    except Exception:
        return None
    if any(a.dtype != np.float32 for a in arrays) or record.get("arrays_sha256") != _arrays_digest(arrays):
        return None
    return arrays


def write_cache(cache: str | os.PathLike[str], source_digest: str, arrays: list[F32]) -> None:
    """Write the cache under a temporary name and rename it into place; a run directory that
    cannot be written (read-only, full) simply keeps no cache. Hand-written rather than
    `runs.atomic_path`: model/ sits below runs, and a cache needs no fsync (a torn file fails
    its own digest)."""
    record = {
        "format": CACHE_FORMAT,
        "source_sha256": source_digest,
        "arrays_sha256": _arrays_digest(arrays),
        "count": len(arrays),
    }
    folder, name = os.path.split(os.fspath(cache))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            members: dict[str, Any] = {f"w{n}": a for n, a in enumerate(arrays)}
            np.savez(out, record=np.array(json.dumps(record)), **members)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; the run's other files are 0666 & ~umask
        os.replace(tmp, os.fspath(cache))
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fail(label: str, message: str) -> NoReturn:
    raise RunDirError(f"{label}: {message}")


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, label: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        _fail(label, f"archive has no {name}; it is not a model saved with model.save()")
    if info.file_size > limit:
        _fail(label, f"{name} is {info.file_size} bytes, more than lstmcli ever writes ({limit})")
    try:
        return zf.read(info)
    # Damage shows as a bad CRC or header (BadZipFile), bad deflate data (zlib.error), a short
    # read (EOFError), a failed seek (OSError), an encrypted member (RuntimeError) or an unknown
    # compression method (NotImplementedError).
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as e:
        _fail(label, f"{name} is corrupt inside the archive: {e}")


def _read_json(zf: zipfile.ZipFile, name: str, label: str) -> dict[str, Any]:
    raw = _read_member(zf, name, _MAX_JSON_BYTES, label)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(label, f"{name} is not valid JSON: {e}")
    if not isinstance(data, dict):
        _fail(label, f"{name} should hold a JSON object. Received: {type(data).__name__}")
    return data


def _keras_version(metadata: dict[str, Any], label: str) -> str:
    version = metadata.get("keras_version")
    if not isinstance(version, str):
        _fail(label, f"{_METADATA} has no keras_version string")
    # Keras 2 wrote .keras files with a different weights layout; guessing at it is how
    # weights end up in the wrong gates.
    if not version.startswith("3."):
        _fail(label, f"was saved by Keras {version}; lstmcli reads files written by Keras 3")
    return version


# --- config.json -------------------------------------------------------------------------------


@dataclass
class _LayerPlan:
    """A validated config entry and where its weights live in the HDF5 file."""

    class_name: str
    name: str
    h5_path: str
    units: int = 0
    return_sequences: bool = True


@dataclass
class _Plan:
    input_dim: int | None
    layers: list[_LayerPlan]


def _parse_config(config: dict[str, Any], label: str) -> _Plan:
    """config.json checked layer by layer: only the Sequential stacks lstmcli writes."""
    entries = _layer_entries(config, label)
    input_dim: int | None = None
    plans: list[_LayerPlan] = []
    used: dict[str, int] = {}
    for n, entry in enumerate(entries):
        cls, cfg, name = _checked_entry(entry, n, label)
        if cls == "InputLayer":
            if n != 0:
                _fail(label, f"InputLayer {name!r} is not the first layer")
            input_dim = _input_dim(cfg, name, label)
            continue
        plans.append(_layer_plan(cls, cfg, name, plans, used, label))
    _check_stack(plans, label)
    return _Plan(input_dim=input_dim, layers=plans)


def _layer_entries(config: dict[str, Any], label: str) -> list[Any]:
    """The model's layer list, once the model is known to be a stock keras Sequential."""
    if config.get("class_name") != "Sequential" or config.get("module") != "keras":
        _fail(
            label,
            f"{_CONFIG} describes a {config.get('class_name')!r} model; lstmcli only writes "
            "keras Sequential models",
        )
    if config.get("registered_name") is not None:
        _fail(label, f"the model is the custom class {config.get('registered_name')!r}")
    model_cfg = config.get("config")
    if not isinstance(model_cfg, dict) or not isinstance(model_cfg.get("layers"), list):
        raise RunDirError(f"{label}: {_CONFIG}: expected config.layers to be a list")
    entries: list[Any] = model_cfg["layers"]
    return entries


def _checked_entry(entry: Any, n: int, label: str) -> tuple[str, dict[str, Any], str]:
    """(class name, config, layer name) of layer n, refusing any class or object lstmcli never writes."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise RunDirError(f"{label}: {_CONFIG}: config.layers[{n}] is not a layer object")
    cls = entry.get("class_name")
    cfg: dict[str, Any] = entry["config"]
    name = cfg.get("name", f"#{n}")
    if (
        cls not in (*_H5_NAME, "InputLayer")
        or entry.get("module") != "keras.layers"
        or entry.get("registered_name") is not None
    ):
        _fail(
            label,
            f"layer {name!r} of class {cls} (module {entry.get('module')}) is not one lstmcli "
            "writes; refusing to load it",
        )
    assert isinstance(cls, str)
    _check_no_foreign_objects(entry, f"config.layers[{n}]", label)
    _check_dtype(cfg, name, label)
    return cls, cfg, name


def _layer_plan(
    cls: str, cfg: dict[str, Any], name: str, plans: list[_LayerPlan], used: dict[str, int], label: str
) -> _LayerPlan:
    """One non-input layer checked in its place after `plans`, and where its weights live."""
    if cls == "Masking":
        if plans:
            _fail(label, f"Masking {name!r} is not the first layer after the input")
        _expect(cfg, "mask_value", 0.0, 0.0, name, label)
    if plans and plans[-1].class_name == "Dense":
        _fail(label, f"layer {name!r} comes after the output Dense layer")
    # Keras numbers the weight groups per class among the model's layers (InputLayer is
    # not one of them), so count exactly as it does.
    base = _H5_NAME[cls]
    count = used.get(base)
    used[base] = 0 if count is None else count + 1
    h5_name = base if count is None else f"{base}_{count + 1}"
    plan = _LayerPlan(class_name=cls, name=name, h5_path=f"layers/{h5_name}")
    if cls in _KIND:
        plan.units = _check_recurrent(cls, cfg, name, label)
        plan.return_sequences = cfg.get("return_sequences") is True
    elif cls == "Dense":
        plan.units = _check_dense(cfg, name, label)
    elif cls == "Dropout":
        _check_dropout(cfg, name, label)
    return plan


def _check_stack(plans: list[_LayerPlan], label: str) -> None:
    """The whole stack: recurrent layers feeding each other, then exactly one softmax Dense."""
    recurrent = [p for p in plans if p.class_name in _KIND]
    if not recurrent:
        _fail(label, f"the model has no recurrent layer ({', '.join(_KIND)})")
    if not plans or plans[-1].class_name != "Dense":
        _fail(label, "the model does not end in a softmax Dense layer")
    if sum(p.class_name == "Dense" for p in plans) != 1:
        _fail(label, "the model has more than one Dense layer")
    for p in recurrent[:-1]:
        if not p.return_sequences:
            _fail(
                label, f"layer {p.name!r} has return_sequences=False but another recurrent layer follows it"
            )
    if not recurrent[-1].return_sequences and not any(p.class_name == "Masking" for p in plans):
        _fail(
            label,
            f"layer {recurrent[-1].name!r} has return_sequences=False without a Masking layer: "
            "lstmcli writes that only for classifiers, which mask their padding",
        )


def _check_no_foreign_objects(value: Any, where: str, label: str) -> None:
    """Refuse serialized code and objects from outside Keras anywhere inside a layer config."""
    if isinstance(value, list):
        for n, item in enumerate(value):
            _check_no_foreign_objects(item, f"{where}[{n}]", label)
        return
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        cls = value.get("class_name")
        module = value.get("module")
        registered = value.get("registered_name")
        if cls == "__lambda__":
            _fail(label, f"{where} is serialized Python code (a lambda); refusing to load it")
        if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
            _fail(label, f"{where} is the custom object {cls!r} from module {module!r}")
        if isinstance(registered, str) and ">" in registered:
            _fail(label, f"{where} is the registered custom object {registered!r}")
    for key, item in value.items():
        _check_no_foreign_objects(item, f"{where}.{key}", label)


def _check_dtype(cfg: dict[str, Any], name: str, label: str) -> None:
    dtype = cfg.get("dtype")
    if dtype is None:
        return
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        dtype = inner.get("name") if isinstance(inner, dict) else None
    # Mixed precision would compute in float16, which the float32 NumPy cell does not reproduce.
    if dtype != "float32":
        _fail(label, f"layer {name!r} has dtype policy {dtype!r}; lstmcli writes float32 models")


def _input_dim(cfg: dict[str, Any], name: str, label: str) -> int:
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not _is_count(shape[2])
        or (shape[1] is not None and not _is_count(shape[1]))
    ):
        _fail(
            label,
            f"InputLayer {name!r} should have batch_shape [null, null, vocab]. Received: {shape}",
        )
    if cfg.get("sparse") or cfg.get("ragged"):
        _fail(label, f"InputLayer {name!r} is sparse or ragged; lstmcli feeds dense one-hot input")
    return int(shape[2])


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _expect(cfg: dict[str, Any], key: str, expected: Any, default: Any, name: str, label: str) -> None:
    value = cfg.get(key, default)
    if value != expected or type(value) is not type(expected):
        _fail(
            label,
            f"layer {name!r} has {key}={value!r}; lstmcli only writes {key}={expected!r}",
        )


def _check_recurrent(cls: str, cfg: dict[str, Any], name: str, label: str) -> int:
    units = cfg.get("units")
    if not _is_count(units):
        _fail(label, f"layer {name!r} should have a positive integer units. Received: {units!r}")
    cell = CELLS[_KIND[cls]]
    for key, (expected, default) in cell.keras_config.items():
        _expect(cfg, key, expected, default, name, label)
    _expect(cfg, "use_bias", True, True, name, label)
    if not isinstance(cfg.get("return_sequences", False), bool):
        _fail(
            label, f"layer {name!r} has return_sequences={cfg.get('return_sequences')!r}; expected a boolean"
        )
    _expect(cfg, "return_state", False, False, name, label)
    _expect(cfg, "go_backwards", False, False, name, label)
    _expect(cfg, "stateful", False, False, name, label)
    # dropout / recurrent_dropout only act while training, so any rate is fine here.
    return int(units)


def _check_dense(cfg: dict[str, Any], name: str, label: str) -> int:
    units = cfg.get("units")
    if not _is_count(units):
        _fail(label, f"layer {name!r} should have a positive integer units. Received: {units!r}")
    _expect(cfg, "activation", "softmax", "linear", name, label)
    _expect(cfg, "use_bias", True, True, name, label)
    for key in ("quantization_config", "lora_rank"):
        if cfg.get(key) is not None:
            _fail(label, f"layer {name!r} has {key}={cfg[key]!r}; lstmcli never sets it")
    return int(units)


def _check_dropout(cfg: dict[str, Any], name: str, label: str) -> None:
    rate = cfg.get("rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate < 1:
        _fail(label, f"Dropout {name!r} should have a rate in [0, 1). Received: {rate!r}")


# --- model.weights.h5 --------------------------------------------------------------------------


# Reads one layer's weight arrays: (layer plan, its vars group path, the shapes it must have).
_Reader = Callable[["_LayerPlan", str, list[tuple[int | None, ...]]], list[F32]]


def _load_weights(plan: _Plan, h5_bytes: bytes, keras_version: str, label: str, read: list[F32]) -> ModelSpec:
    """The spec from model.weights.h5; every array read is appended to `read` (the cache's)."""
    import h5py  # here, not at the top: a run read through its weights cache never needs it

    try:
        with h5py.File(io.BytesIO(h5_bytes), "r") as h5:
            _check_layer_groups(h5, plan, label)

            def reader(p: _LayerPlan, group_path: str, shapes: list[tuple[int | None, ...]]) -> list[F32]:
                arrays = _read_vars(h5, group_path, shapes, p, label)
                read.extend(arrays)
                return arrays

            return _build_spec(plan, reader, keras_version, label)
    except RunDirError:
        raise
    # HDF5 reports damage through many exception types: OSError ("file signature not found",
    # "truncated file"), KeyError/RuntimeError from damaged groups and links, OverflowError
    # and ValueError from nonsense sizes (all seen by flipping bytes in a real file).
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, OverflowError, IndexError) as e:
        _fail(label, f"{_WEIGHTS} is not a readable HDF5 weights file: {e}")


def _check_layer_groups(h5: h5py.File, plan: _Plan, label: str) -> None:
    import h5py

    layers_group = h5.get("layers")
    if not isinstance(layers_group, h5py.Group):
        _fail(label, f"{_WEIGHTS} has no 'layers' group")
    expected_groups = {p.h5_path.removeprefix("layers/") for p in plan.layers}
    extra = sorted(set(layers_group.keys()) - expected_groups)
    if extra:
        _fail(label, f"{_WEIGHTS} holds weights for layers the config does not list: {extra}")


class _CacheMismatch(Exception):
    """The cached arrays do not fit the model's layers (a cache this code did not write)."""


def _cached_reader(cached: list[F32]) -> _Reader:
    """Hands out the cached arrays in the order `_build_spec` asks for them, checked as the
    HDF5 ones are."""
    rest = iter(cached)

    def reader(p: _LayerPlan, group_path: str, shapes: list[tuple[int | None, ...]]) -> list[F32]:
        out = [next(rest, None) for _ in shapes]
        arrays = [a for a in out if a is not None]
        if len(arrays) != len(shapes) or not all(
            _shape_fits(a.shape, shape) for a, shape in zip(arrays, shapes, strict=True)
        ):
            raise _CacheMismatch(p.name)
        return arrays

    return reader


def _shape_fits(got: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    # None stands for the vocabulary when the config did not record it (no InputLayer).
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want, strict=True))


def _build_spec(plan: _Plan, read: _Reader, keras_version: str, label: str) -> ModelSpec:
    input_dim = plan.input_dim
    prev_units = input_dim
    recurrent: list[RecurrentSpec] = []
    dense: DenseSpec | None = None
    for p in plan.layers:
        if p.class_name in ("Dropout", "Masking"):
            read(p, f"{p.h5_path}/vars", [])
            continue
        if p.class_name == "Dense":
            kernel, bias = read(p, f"{p.h5_path}/vars", [(prev_units, p.units), (p.units,)])
            dense = DenseSpec(name=p.name, kernel=kernel, bias=bias, activation="softmax")
            continue
        kind = _KIND[p.class_name]
        cell = CELLS[kind]
        g, u = cell.blocks, p.units
        kernel, rec, bias = read(
            p, f"{p.h5_path}/cell/vars", [(prev_units, g * u), (u, g * u), cell.bias_shape(u)]
        )
        if input_dim is None:
            # Without an InputLayer entry the first kernel is the only record of the vocabulary.
            input_dim = int(kernel.shape[0])
        weights: RecurrentWeights = cell.weights(kernel=kernel, recurrent_kernel=rec, bias=bias)
        recurrent.append(
            RecurrentSpec(
                kind=kind, name=p.name, units=u, return_sequences=p.return_sequences, weights=weights
            )
        )
        prev_units = u

    if dense is None or input_dim is None:  # _parse_config guarantees both; keeps mypy honest
        _fail(label, "the model has no recurrent layer or no Dense layer")
    masking = any(p.class_name == "Masking" for p in plan.layers)
    classifier = bool(recurrent) and not recurrent[-1].return_sequences
    if not classifier and dense.kernel.shape[1] != input_dim:
        _fail(
            label,
            f"the output layer {dense.name!r} predicts {dense.kernel.shape[1]} tokens but the "
            f"input is one-hot over {input_dim}; lstmcli models predict their own vocabulary",
        )
    return ModelSpec(
        input_dim=input_dim, layers=recurrent, dense=dense, keras_version=keras_version, masking=masking
    )


_VAR_NAMES = {
    "LSTM": ["kernel", "recurrent_kernel", "bias"],
    "GRU": ["kernel", "recurrent_kernel", "bias"],
    "SimpleRNN": ["kernel", "recurrent_kernel", "bias"],
    "Dense": ["kernel", "bias"],
    "Dropout": [],
    "Masking": [],
}


def _read_vars(
    h5: h5py.File,
    group_path: str,
    shapes: list[tuple[int | None, ...]],
    p: _LayerPlan,
    label: str,
) -> list[F32]:
    """Read datasets "0", "1", … of a vars group, checking there are exactly `len(shapes)`."""
    import h5py

    layer = f"layer {p.name!r} ({p.class_name})"
    group = h5.get(group_path)
    if not isinstance(group, h5py.Group):
        if not shapes and group is None and h5.get(p.h5_path) is None:
            return []  # a weightless layer may leave no group at all
        _fail(label, f"{_WEIGHTS} has no weights for {layer} at {group_path}")
    keys = set(group.keys())
    wanted = {str(i) for i in range(len(shapes))}
    if not keys and wanted:
        # What Keras writes for a Sequential saved before it was ever built or called.
        _fail(label, f"{layer} has no weights in {_WEIGHTS}; was the model saved before it was built?")
    if keys != wanted:
        _fail(
            label,
            f"{layer} should have {len(shapes)} weight arrays in {_WEIGHTS} at {group_path}. "
            f"Received: {sorted(keys) or 'none'}",
        )
    out: list[F32] = []
    for i, shape in enumerate(shapes):
        what = _VAR_NAMES[p.class_name][i]
        ds = group[str(i)]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f":
            _fail(label, f"{layer} weight {what!r} is not an array of floats")
        if not _shape_fits(ds.shape, shape):
            _fail(
                label,
                f"{layer} weight {what!r} has shape {ds.shape}; the config "
                f"(units={p.units}) needs {tuple('vocab' if d is None else d for d in shape)}",
            )
        out.append(np.asarray(ds[()], dtype=np.float32))
    return out
