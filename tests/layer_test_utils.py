"""Helpers shared by the layer tests."""

import json

import keras
import numpy as np
import torch

ATOL = 1e-5


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def torch_state(module, prefix):
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def randomize(module, seed, std=0.3):
    """Seeded non-trivial weights (LayerNorm scales around 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * std
            if "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + noise)
            else:
                param.copy_(noise)
    return module.eval()


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


def assert_close(actual, expected, atol=ATOL):
    actual = to_np(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert max_diff(actual, expected) <= atol, max_diff(actual, expected)


def assert_roundtrip(layer, *args, **kwargs):
    """get_config -> from_config gives the same config and, with copied
    weights, the same outputs; also through keras serialization."""
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer)
    assert revived.get_config() == config
    expected = layer(*args, **kwargs)
    clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    actual = clone(*args, **kwargs)
    keras.tree.map_structure(lambda a, e: assert_close(a, to_np(e), atol=0), actual, expected)
