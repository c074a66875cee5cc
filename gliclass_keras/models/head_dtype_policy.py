"""The dtype policy of a GLiClass head, and how a quantized head is saved.

The head's layers (projectors, scorer, segment embedding, layer-wise
attention, ...) take the backbone's dtype policy, so a mixed-precision
backbone gives a mixed-precision head; each builds its `Dense` / `Embedding`
sublayers with its own policy. `model.quantize("int8")` then gives some of
those sublayers a quantized policy (`int8_from_float32`) and quantized
variables (an int8 `kernel` and a `kernel_scale`). A model rebuilt from its
config must create the same variables before a `.keras` file's weights load
into it, so, as keras-hub's `Backbone.get_config` does for the backbone's
layers, the model's `get_config` saves the quantized head layers' policies
in a `keras.dtype_policies.DTypePolicyMap` keyed by `layer.path`
(`quantized_head_policies`), and the constructor gives the head a map with
those entries whose default is the backbone's policy (`head_dtype_policy`):
every head layer and sublayer looks its own policy up by path when it
builds. The backbones keep their own (keras-hub's) maps. An unquantized
model saves no map: its config and its files are what they always were.

Once the model is built, `resolve_policy_maps` gives every quantized layer
that looked its policy up in a map that policy itself: Keras 3.15.1 saves a
quantized `Dense` / `EinsumDense` / `Embedding` by reading
`layer.dtype_policy.quantization_mode`, which for a map is its default's
(`None`), and then fails (`Invalid dtype: object`), so a reloaded quantized
model could not be saved again.
"""

import keras

DTypePolicyMap = keras.dtype_policies.DTypePolicyMap


def base_policy(policy):
    """`policy` itself, or the default policy of a `DTypePolicyMap`."""
    if isinstance(policy, DTypePolicyMap):
        return policy.default_policy
    return policy


def layer_policy(layer):
    """The policy `layer` was built with (its entry if it looks it up in a map)."""
    policy = layer.dtype_policy
    if isinstance(policy, DTypePolicyMap) and layer.path:
        return policy[layer.path]
    return policy


def head_dtype_policy(backbone, dtype=None):
    """The dtype policy to build the head layers of a model on `backbone` with.

    Args:
        backbone: the model's (text) backbone. Its dtype policy, or the
            default policy of its `DTypePolicyMap` (a reloaded quantized
            keras-hub backbone has one), is the head's.
        dtype: None, or a `DTypePolicyMap` (or its serialized dict) of head
            layers' own policies by `layer.path`, as `quantized_head_policies`
            gives it.

    Returns:
        The backbone's policy when `dtype` is None; otherwise a new
        `DTypePolicyMap` with `dtype`'s entries and the backbone's policy as
        its default (every head layer shares it and looks up its own path).
    """
    base = base_policy(backbone.dtype_policy)
    if dtype is None:
        return base
    if isinstance(dtype, dict):
        dtype = keras.dtype_policies.deserialize(dtype)
    if not isinstance(dtype, DTypePolicyMap):
        raise TypeError(
            "A GLiClass model's `dtype` is None (its head takes the backbone's dtype policy; "
            "build the backbone with `dtype=...` for another one) or the "
            "`keras.dtype_policies.DTypePolicyMap` of quantized head layers that `get_config` "
            f"saves. Received: {dtype!r}"
        )
    return DTypePolicyMap(default_policy=base, policy_map={path: dtype[path] for path in dtype})


def resolve_policy_maps(model):
    """Give each built, quantized layer of `model` its own policy instead of a map.

    A layer built with a `DTypePolicyMap` uses the map's entry for its path
    anyway; after this, `layer.dtype_policy` is that entry, which is what
    Keras' `save_own_variables` of quantized layers reads (see the module
    docstring). Layers with a plain policy, unbuilt layers and unquantized
    ones are left as they are (an unquantized model is not touched).
    """
    for layer in model._flatten_layers(include_self=False):
        policy = layer.dtype_policy
        if (
            isinstance(policy, DTypePolicyMap)
            and layer.built
            and layer.path
            and layer.quantization_mode is not None
        ):
            layer._dtype_policy = policy[layer.path]


def quantized_head_policies(model):
    """A `DTypePolicyMap` of the model's quantized layers outside its backbones, or None.

    Keys are the layers' paths (e.g. `"text_projector/linear_1"`), values
    their quantized policies; the default is the head's policy. Raises a
    `ValueError` if two quantized head layers share a path, since a rebuilt
    model could not tell them apart.
    """
    in_backbones = {
        id(layer) for backbone in model._backbones() for layer in backbone._flatten_layers()
    }
    policies, owners = {}, {}
    for layer in model._flatten_layers(include_self=False):
        if id(layer) in in_backbones or layer.quantization_mode is None:
            continue
        path = layer.path
        if not path or path in owners:
            raise ValueError(
                f"Cannot save this quantized {type(model).__name__}: its quantized head layer "
                f"{layer.name!r} has the path {path!r}"
                + (f", as {owners[path].name!r} does" if path in owners else "")
                + ", so a reloaded model could not give it its quantized policy."
            )
        owners[path] = layer
        policies[path] = layer_policy(layer)
    if not policies:
        return None
    head = base_policy(model._backbones()[0].dtype_policy)
    return DTypePolicyMap(default_policy=head, policy_map=policies)


def check_restored(model, saved):
    """Raise if `model` (rebuilt from a config) lacks the quantized head layers of `saved`.

    `saved` is the `DTypePolicyMap` (or its dict) of the config. A layer the
    rebuilt model does not quantize the same way would build float weights
    where the file holds quantized ones (or the reverse).
    """
    if saved is None:
        return
    if isinstance(saved, dict):
        saved = keras.dtype_policies.deserialize(saved)
    restored = quantized_head_policies(model) or {}
    expected = {path: saved[path].name for path in saved}
    got = {path: restored[path].name for path in restored}
    if expected != got:
        missing = sorted(set(expected.items()) - set(got.items()))
        unexpected = sorted(set(got.items()) - set(expected.items()))
        raise ValueError(
            f"Cannot rebuild this quantized {type(model).__name__}: the saved head layers "
            f"(path, dtype policy) {missing} are not quantized that way in the rebuilt model"
            + (f", which quantizes {unexpected} instead" if unexpected else "")
            + ". Was the file saved by another version of gliclass-keras, or loaded inside a "
            "`keras.name_scope`? Save the float model and quantize it after loading."
        )
