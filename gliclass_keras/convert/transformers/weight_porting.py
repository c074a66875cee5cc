"""NumPy -> Keras variable helpers shared by the converters.

* Transforms `(array, variable_shape) -> array` that check the shape fits:
  `copy_tensor`, `reshape_to`, `linear_kernel` (a transposed
  `torch.nn.Linear` weight, attention heads split as Hugging Face's
  `view(..., num_heads, head_dim)`), `output_linear_kernel`.
* `port_weights(tensors, prefix, plan)`: assign a whole plan, all or nothing.
* `StateDictLoader`: the `loader` of keras-hub's converter contract for an
  in-memory state dict; `port_weight` plans an assignment, `assign_all`
  carries out the plan with `port_weights` and records the keys it used.
* `port_dense`, `port_layer_norm`: the keys of a `torch.nn.Linear` and a
  `torch.nn.LayerNorm` planned onto a Keras `Dense`/`EinsumDense` and
  `LayerNormalization`.

This module never imports torch or transformers.

Example:
```python
loader = StateDictLoader(safetensors.numpy.load_file("model.safetensors"))
loader.port_weight(backbone.token_embedding.embeddings, "shared.weight")
port_dense(loader, layer.dense, "encoder.layer.0.output.dense")
used = loader.assign_all()  # checks every key and shape, then assigns
```
"""

import math

import numpy as np


def copy_tensor(tensor, shape):
    """Return `tensor` unchanged; `shape` must be its shape.

    A transform for `port_weights` (embeddings, layer norms, Dense biases).
    """
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"expected shape {tuple(shape)}")
    return tensor


def reshape_to(tensor, shape):
    """Reshape a tensor with the same number of elements to `shape`.

    A transform for `port_weights`, e.g. a `(num_heads * head_dim,)` query bias
    -> the `(num_heads, head_dim)` bias of a Keras `EinsumDense`.
    """
    if tensor.ndim != 1 or tensor.size != math.prod(shape):
        raise ValueError(f"expected shape ({math.prod(shape)},)")
    return np.reshape(tensor, shape)


def linear_kernel(weight, shape, num_input_axes=1):
    """Turn a `torch.nn.Linear` weight `(out, in)` into a Keras kernel.

    The weight is transposed to `(in, out)` and reshaped to `shape`, whose
    first `num_input_axes` axes are the input axes: `(in, out)` for a Dense
    kernel, `(in, num_heads, head_dim)` for an attention query/key/value
    `EinsumDense` (`num_input_axes=1`) and `(num_heads, head_dim, out)` for
    an attention output projection (`num_input_axes=2`). The head split
    matches Hugging Face's `view(..., num_heads, head_dim)`.
    """
    shape = tuple(shape)
    expected = (
        math.prod(shape[num_input_axes:]),
        math.prod(shape[:num_input_axes]),
    )
    if tuple(weight.shape) != expected:
        raise ValueError(f"expected shape {expected}")
    return np.reshape(np.transpose(weight), shape)


def output_linear_kernel(weight, shape):
    """`linear_kernel` for a kernel with two input axes (heads, head_dim)."""
    return linear_kernel(weight, shape, num_input_axes=2)


def _check_tensors(tensors):
    if not isinstance(tensors, dict):
        raise TypeError(
            "`tensors` must be a dict of NumPy arrays. Received: "
            f"tensors={type(tensors).__name__}"
        )


def port_weights(tensors, prefix, plan):
    """Assign NumPy tensors to Keras variables, all or nothing.

    Args:
        tensors: dict mapping names to NumPy arrays (a Hugging Face state
            dict).
        prefix: str prepended to every key of `plan`.
        plan: list of `(variable, key, transform)`; `transform(array, shape)`
            returns the array to assign to `variable` (`copy_tensor`,
            `reshape_to`, `linear_kernel`, ...) and raises `ValueError` when
            the array's shape does not fit.

    Returns:
        The set of full keys (`prefix + key`) that were assigned.

    Raises:
        ValueError: listing every missing key, or every shape mismatch. No
            variable is changed in that case.
    """
    _check_tensors(tensors)
    missing = [
        prefix + key for _, key, _ in plan if prefix + key not in tensors
    ]
    if missing:
        raise ValueError(
            f"Missing {len(missing)} weight(s) in `tensors` (prefix "
            f"{prefix!r}): {', '.join(missing)}"
        )
    values, problems = [], []
    for variable, key, transform in plan:
        full_key = prefix + key
        tensor = np.asarray(tensors[full_key])
        shape = tuple(variable.shape)
        try:
            value = transform(tensor, shape)
        except ValueError as e:
            problems.append(
                f"{full_key}: shape {tuple(tensor.shape)}, {e} for "
                f"{variable.path} {shape}"
            )
            continue
        values.append((variable, value))
    if problems:
        raise ValueError(
            "Shape mismatch between `tensors` and the backbone: "
            + "; ".join(problems)
        )
    for variable, value in values:
        variable.assign(value)  # Keras casts to the variable's dtype
    return {prefix + key for _, key, _ in plan}


class StateDictLoader:
    """A Hugging Face state dict (NumPy arrays) under `prefix`, ported all or nothing.

    The `loader` a converter's `convert_weights(backbone, loader,
    transformers_config)` receives, as keras-hub's `SafetensorLoader` is,
    with one difference: `port_weight` only plans the assignment.
    `assign_all()` then checks that every planned key exists and that every
    tensor fits its variable, and only if all do assigns them all
    (`port_weights`); the keys it used are kept in `used_keys`, so callers
    can name the ones left over. Keys are given without the prefix.

    Args:
        tensors: dict mapping names to NumPy arrays, e.g. from
            `safetensors.numpy.load_file`.
        prefix: str. The prefix of the backbone's keys in `tensors`, e.g.
            `"model.encoder_model."`. Defaults to `""`.

    Example:
    ```python
    loader = StateDictLoader(tensors, prefix="model.encoder_model.")
    convert_bert.convert_weights(backbone, loader, transformers_config)
    used = loader.assign_all()
    ```
    """

    def __init__(self, tensors, prefix=""):
        if not isinstance(prefix, str):
            raise TypeError(
                f"`prefix` must be a str. Received: prefix={prefix!r}"
            )
        _check_tensors(tensors)
        self.tensors = tensors
        self.prefix = prefix
        self.plan = []
        self.used_keys = None

    def has_tensor(self, hf_weight_key):
        """Whether the state dict has `prefix + hf_weight_key`."""
        return self.prefix + hf_weight_key in self.tensors

    def get_tensor(self, hf_weight_key):
        """The array at `prefix + hf_weight_key` (a `KeyError` when absent)."""
        return np.asarray(self.tensors[self.prefix + hf_weight_key])

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        """Plan `keras_variable <- hook_fn(tensor, shape)` (`copy_tensor` by default)."""
        self.plan.append((keras_variable, hf_weight_key, hook_fn or copy_tensor))

    def assign_all(self):
        """Carry out the plan all or nothing (see `port_weights`); return the used keys."""
        self.used_keys = port_weights(self.tensors, self.prefix, self.plan)
        return self.used_keys


def port_dense(loader, layer, base, kernel=linear_kernel, bias=copy_tensor):
    """Plan a `torch.nn.Linear` (`base.weight`, `base.bias`) onto a Keras dense layer.

    `kernel` transforms the weight (`linear_kernel`, or `output_linear_kernel`
    for an attention output `EinsumDense`), `bias` the bias (`copy_tensor`,
    or `reshape_to` for a per-head `EinsumDense` bias); the bias is only
    ported where the layer has one.
    """
    loader.port_weight(layer.kernel, f"{base}.weight", kernel)
    if layer.bias is not None:
        loader.port_weight(layer.bias, f"{base}.bias", bias)


def port_layer_norm(loader, layer, base):
    """Plan a `torch.nn.LayerNorm` onto a Keras `LayerNormalization`.

    The keys are `base.weight` and `base.bias`, or the legacy `base.gamma`
    and `base.beta` of older BERT-style checkpoints when only those are
    present; the bias is only ported where the layer has one
    (`center=True`).
    """
    gamma, beta = "weight", "bias"
    if not loader.has_tensor(f"{base}.weight") and loader.has_tensor(f"{base}.gamma"):
        gamma, beta = "gamma", "beta"
    loader.port_weight(layer.gamma, f"{base}.{gamma}")
    if layer.beta is not None:
        loader.port_weight(layer.beta, f"{base}.{beta}")
