"""`squeeze_layers`: the reference crashes (spec 6.3), so the whole model is
checked against an independent NumPy computation of its head instead.

The NumPy head runs on every hidden state of the reference's own DeBERTa (the
checkpoint's backbone, run by transformers): in float32 (the "reference" of
tests/parity.py) and, on a float64 copy, in float64 (the exact values); the
logits are compared by the rule of tests/parity.py."""

import contextlib
import dataclasses
import math

import keras
import numpy as np

from conftest import REFERENCE_MODELS
from parity import Parity
from reference_runner import _float64_functions
from reference_runner import _reference_float64
from reference_runner import reference

import gliclass_keras
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.convert.checkpoint import read_checkpoint
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.preprocessing.uni_encoder_preprocessor import GLiClassPreprocessor

NAME = "uni_deberta_default"
TEXTS = ["One day I will see the world!", "Our team won the match."]
LABELS = ["travel", "sport", "science"]


def _erf_gelu(x):
    erf = np.vectorize(math.erf, otypes=[x.dtype])
    return (0.5 * x * (1.0 + erf(x / x.dtype.type(math.sqrt(2.0))))).astype(x.dtype)


def _dense(layer, x):
    kernel, bias = (keras.ops.convert_to_numpy(w).astype(x.dtype) for w in layer.weights)
    return x @ kernel + bias


def _squeeze_model():
    checkpoint = read_checkpoint(REFERENCE_MODELS / NAME)
    config = dataclasses.replace(checkpoint.config, squeeze_layers=True)
    tensors, tokenizer = checkpoint.tensors, checkpoint.tokenizer
    backbone = backbone_from_hf_config(
        config.encoder_config,
        vocabulary_size=tensors["model.encoder_model.embeddings.word_embeddings.weight"].shape[0],
    )
    preprocessor = GLiClassPreprocessor(tokenizer, prompt_first=config.prompt_first)
    model = gliclass_keras.GLiClassClassifier(backbone, config, preprocessor=preprocessor)
    load_hf_backbone_weights(backbone, tensors, "model.encoder_model.")
    for attribute in ("text_projector", "classes_projector"):
        load_reference_layer_weights(getattr(model, attribute), tensors, f"model.{attribute}.")
    # Give the freshly initialised layer attention non-trivial weights.
    rng = np.random.default_rng(0)
    for weight in model.layerwise_attention.weights:
        scale = 1.0 / math.sqrt(weight.shape[0]) if len(weight.shape) == 2 else 0.1
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype("float32"))
    return model


def _reference_hidden_states(ids, dtype):
    """Every hidden state of the checkpoint's DeBERTa (transformers), `(N, L, D)`."""
    import torch

    if dtype == "float64":
        encoder, functions = _reference_float64(NAME).model.encoder_model, _float64_functions()
    else:
        encoder, functions = reference(NAME)[0].model.encoder_model, contextlib.nullcontext()
    ids = torch.tensor(np.asarray(ids)[None], dtype=torch.long)
    with torch.no_grad(), functions:
        out = encoder(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    return np.stack([h[0].numpy() for h in out.hidden_states])


def _numpy_logits(model, text, labels, dtype="float32"):
    batch = model.preprocessor([text], labels)
    ids = batch["token_ids"][0][batch["padding_mask"][0] == 1]
    stacked = _reference_hidden_states(ids, dtype)  # (N, L, D)
    assert len(stacked) == model.layerwise_attention.num_hidden_states
    att = model.layerwise_attention
    z = _dense(att.squeeze, stacked)[..., 0].mean(axis=1)  # (N,)
    s = 1.0 / (1.0 + np.exp(-_dense(att.W2, np.maximum(_dense(att.W1, z), 0.0))))
    mixed = (stacked * s[:, None, None]).sum(axis=0)
    sequence = _dense(att.output_projection, mixed)  # (L, D)

    def project(projector, x):
        return _dense(projector.linear_2, _erf_gelu(_dense(projector.linear_1, x)))

    text_vector = project(model.text_projector, sequence[0])  # "first" pooling
    positions = np.flatnonzero(ids == model.config.class_token_index)
    classes = project(model.classes_projector, sequence[positions])
    return classes @ text_vector  # "simple" scorer


def test_squeeze_layers_matches_numpy():
    model = _squeeze_model()
    assert model.layerwise_attention.num_hidden_states == model.backbone.num_layers + 1
    got = model.predict_logits(TEXTS, LABELS)
    parity = Parity("squeeze_layers logits vs NumPy")
    for text, logits in zip(TEXTS, got):
        want = _numpy_logits(model, text, LABELS)
        parity.add(logits, want, _numpy_logits(model, text, LABELS, "float64"), where=text)
    parity.check()
    # The layer attention really takes part: other weights, other logits.
    kernel = model.layerwise_attention.output_projection.kernel
    kernel.assign(2.0 * keras.ops.convert_to_numpy(kernel))
    changed = model.predict_logits(TEXTS, LABELS)
    assert max(np.abs(a - b).max() for a, b in zip(got, changed)) > 1e-3
