"""LoRA on the encoders of a GLiClass model, with the head kept trainable.

`GLiClassClassifier.enable_lora(rank)` calls Keras' own `Dense.enable_lora`
/ `EinsumDense.enable_lora` on the attention query and value projections of
every backbone (as keras-hub's `Backbone.enable_lora` does, with the names
of every backbone family GLiClass supports), freezes every other encoder
weight (the LoRA layers' frozen kernels and biases included) and leaves the
head (projectors, scorer, pooler, LSTM, logit scale, segment embeddings,
...) trainable.

Two things GLiClass adds to Keras' LoRA:

* **Unique variable paths.** Adapters created after the model is built get
  the path `query/lora_kernel_a` in every layer; they are created here under
  the name scope of their kernel, so their paths are unique (the optimizer's
  parameter groups are keyed by path) and say where they live.
* **`.keras` files keep the LoRA state.** Keras saves a LoRA layer with the
  adapters merged into its kernel and zeroes them on load, which leaves both
  adapters at zero (their gradients are then zero too: training cannot
  resume). The LoRA layers of a GLiClass model save their frozen kernel
  (with its scale if Keras quantized it) and both adapters instead, and
  `from_config` enables LoRA again before the weights load, so a reloaded
  model has the same scores and trains on.

`save_lora_weights` / `load_lora_weights` write and read only the adapters
and the head (an `.h5` file keyed by variable path).
"""

import contextlib
import functools

import keras

from gliclass_keras.utils.validation import check_positive_int

# The attention query and value projections of each backbone family:
# keras-hub BERT / DeBERTa-v3 (`query`, `value`), keras-hub's default names
# (`query_dense`, `value_dense`), T5 (`query_projector`, `value_projector`)
# and ModernBERT's fused projection (`qkv_dense`, Hugging Face's `Wqkv`).
DEFAULT_TARGET_LAYER_NAMES = (
    "query",
    "value",
    "query_dense",
    "value_dense",
    "query_projector",
    "value_projector",
    "qkv_dense",
)
_LORA_LAYER_TYPES = (keras.layers.Dense, keras.layers.EinsumDense)


def _scope_of(variable, layer_name):
    """The name scope `variable` was created under, minus its layer's own name."""
    parts = variable.path.split("/")
    if len(parts) >= 2 and parts[-2] == layer_name:
        return "/".join(parts[:-2])
    return "/".join(parts[:-1])


def _unmerged_variables(layer):
    """The frozen kernel, the bias, any quantization variables, then both adapters.

    In the order of Keras' `variable_serialization_spec` for the layer's
    quantization mode (`kernel`, `bias` unquantized; `kernel`, `bias`,
    `kernel_scale` for int8, ...), skipping what the layer lacks (no bias,
    per-channel int4's `kernel_zero`).
    """
    variables = []
    for name in layer.variable_serialization_spec[layer.quantization_mode]:
        if name == "kernel":
            variables.append(layer._kernel)
        elif getattr(layer, name, None) is not None:
            variables.append(getattr(layer, name))
    return variables + [layer.lora_kernel_a, layer.lora_kernel_b]


def _save_unmerged(layer, store):
    """Save the frozen (maybe quantized) kernel, the bias and both adapters (unmerged)."""
    for index, value in enumerate(_unmerged_variables(layer)):
        store[str(index)] = value


def _load_unmerged(layer, original_load, store):
    """Load what `_save_unmerged` wrote; anything else (a merged kernel) as Keras does."""
    variables = _unmerged_variables(layer)
    if len(store.keys()) != len(variables):
        return original_load(store)
    for index, variable in enumerate(variables):
        variable.assign(store[str(index)])


def _enable_layer(layer, rank, lora_alpha):
    scopes = [part for part in _scope_of(layer.kernel, layer.name).split("/") if part]
    layer.trainable = True
    with contextlib.ExitStack() as stack:
        for scope in scopes:  # one name scope per path component
            stack.enter_context(keras.name_scope(scope))
        layer.enable_lora(rank, lora_alpha=lora_alpha)
    # Keras froze the kernel; the bias is frozen too (adapters only).
    if layer.bias is not None:
        layer.bias.trainable = False
    original_load = layer.load_own_variables
    object.__setattr__(layer, "save_own_variables", functools.partial(_save_unmerged, layer))
    object.__setattr__(
        layer, "load_own_variables", functools.partial(_load_unmerged, layer, original_load)
    )


def enable_lora(backbones, rank, lora_alpha=None, target_layer_names=None):
    """Enable LoRA on `backbones`; returns the settings (for the model's config).

    Args:
        backbones: the model's keras-hub backbones.
        rank: int >= 1, the rank of the adapters.
        lora_alpha: int >= 1 or None; the adapters' update is scaled by
            `lora_alpha / rank` (Keras' default: `rank`, a scale of 1).
        target_layer_names: names of the `Dense` / `EinsumDense` layers to
            adapt; defaults to `DEFAULT_TARGET_LAYER_NAMES` (the attention
            query and value projections).
    """
    check_positive_int("rank", rank)
    if lora_alpha is not None:
        check_positive_int("lora_alpha", lora_alpha)
    if target_layer_names is None:
        target_layer_names = DEFAULT_TARGET_LAYER_NAMES
    if isinstance(target_layer_names, str) or not all(
        isinstance(name, str) for name in target_layer_names
    ):
        raise TypeError(
            "`target_layer_names` must be a list of layer names. "
            f"Received: target_layer_names={target_layer_names!r}"
        )
    targets = tuple(target_layer_names)
    enabled = 0
    for backbone in backbones:
        backbone.trainable = True
        layers = backbone._flatten_layers(include_self=False)
        for layer in layers:
            layer.trainable = False
        for layer in layers:
            if isinstance(layer, _LORA_LAYER_TYPES) and layer.name in targets:
                _enable_layer(layer, rank, lora_alpha)
                enabled += 1
    if not enabled:
        raise ValueError(
            f"No Dense or EinsumDense layer of the backbone is named one of {list(targets)}; "
            "pass the names of the layers to adapt as `target_layer_names`."
        )
    return {"rank": rank, "lora_alpha": lora_alpha, "target_layer_names": list(targets)}


def lora_variables(backbones):
    """The adapters of `backbones`, in layer order."""
    return [
        variable
        for backbone in backbones
        for layer in backbone._flatten_layers(include_self=False)
        if isinstance(layer, _LORA_LAYER_TYPES) and getattr(layer, "lora_enabled", False)
        for variable in (layer.lora_kernel_a, layer.lora_kernel_b)
    ]


def _check_filepath(filepath):
    if not str(filepath).endswith(".lora.h5"):
        raise ValueError(f"The file name must end in `.lora.h5`. Received: filepath={filepath!r}")


def save_weights(model, filepath):
    """Write `model.lora_weights()` and the LoRA settings to `filepath` (`.lora.h5`)."""
    import json

    import h5py

    _check_filepath(filepath)
    variables = model.lora_weights()
    with h5py.File(filepath, "w") as file:
        file.attrs["lora"] = json.dumps(model._state.lora)
        file.attrs["paths"] = json.dumps([v.path for v in variables])
        for index, variable in enumerate(variables):
            file.create_dataset(str(index), data=keras.ops.convert_to_numpy(variable))


def load_weights(model, filepath):
    """Read a `save_weights` file into `model`, enabling LoRA first if needed."""
    import json

    import h5py

    _check_filepath(filepath)
    with h5py.File(filepath, "r") as file:
        settings = json.loads(file.attrs["lora"])
        paths = json.loads(file.attrs["paths"])
        values = [file[str(index)][()] for index in range(len(paths))]
    if model._state.lora is None:
        model.enable_lora(**settings)
    elif model._state.lora["rank"] != settings["rank"]:
        raise ValueError(
            f"The LoRA rank of '{filepath}' is {settings['rank']}, but the model's is "
            f"{model._state.lora['rank']}. Both ranks must match."
        )
    variables = {v.path: v for v in model.lora_weights()}
    missing = sorted(set(variables) - set(paths))
    unexpected = sorted(set(paths) - set(variables))
    if missing or unexpected:
        raise ValueError(
            f"'{filepath}' does not match this model's LoRA adapters and head: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    for path, value in zip(paths, values):
        variable = variables[path]
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(
                f"Weight '{path}' has shape {tuple(value.shape)} in '{filepath}' and "
                f"{tuple(variable.shape)} in the model."
            )
        variable.assign(value)
