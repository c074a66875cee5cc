"""Runs the reference PyTorch GLiClass (gliclass==0.1.21, a test-only dependency)."""

import functools
import json

import numpy as np

from conftest import REFERENCE_MODELS

# Models whose forward pass needs `output_hidden_states=True` (the reference
# pipeline does not pass it, so `encoder_layer_id != -1` crashes there).
NEEDS_HIDDEN_STATES = {"uni_deberta_layer1"}


@functools.lru_cache(maxsize=None)
def reference(name):
    """`(model, tokenizer, pipeline)` of a committed reference checkpoint."""
    import torch
    from gliclass import GLiClassModel
    from gliclass import ZeroShotClassificationPipeline
    from transformers import AutoTokenizer

    # One intra-op thread: the fixtures are tiny, and on 2 cores a second
    # thread only adds contention (with jax's or tensorflow's thread pools,
    # or a busy machine): a reference forward pass of the T5 fixtures took
    # 0.3-0.9 s with two threads, 10-20 ms with one (torch also runs
    # gliclass-keras on the torch backend, and was no slower).
    torch.set_num_threads(1)
    path = str(REFERENCE_MODELS / name)
    model = GLiClassModel.from_pretrained(path)
    _retie_t5_embeddings(model)
    model.eval()
    label_model_name = getattr(model.config, "label_model_name", None)
    if label_model_name and not label_model_name.startswith("/"):
        # Committed bi-encoder fixtures name their label tokenizer relative
        # to the checkpoint; the reference pipeline resolves it from the cwd.
        model.config.label_model_name = str(REFERENCE_MODELS / name / label_model_name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    pipeline = ZeroShotClassificationPipeline(
        model, tokenizer, classification_type="multi-label", device="cpu", progress_bar=False
    )
    return model, tokenizer, pipeline


def _retie_t5_embeddings(model):
    """Undo the reference's T5 reload bug (spec 13.11).

    T5 checkpoints hold only `shared.weight`; after `from_pretrained` the
    decoder's `embed_tokens` is left untied (random), so the reloaded model
    no longer computes what was saved. Tying it back restores the saved
    model exactly.
    """
    backbone = getattr(model.model, "encoder_decoder_model", None)
    if backbone is not None and hasattr(backbone, "shared"):
        backbone.encoder.embed_tokens.weight = backbone.shared.weight
        backbone.decoder.embed_tokens.weight = backbone.shared.weight


@functools.lru_cache(maxsize=None)
def oracle(name):
    path = REFERENCE_MODELS / name
    with open(path / "oracle.json") as f:
        js = json.load(f)
    return js, dict(np.load(path / "oracle.npz"))


@functools.lru_cache(maxsize=None)
def _reference_float64(name):
    import copy

    return copy.deepcopy(reference(name)[0]).double()


def reference_logits(name, text, labels, prompt=None, examples=None, float64=False):
    """Reference logits for ONE text (no padding, so its pooling bug cannot show).

    `float64=True` runs a float64 copy of the reference model: the exact
    values that float32 results of both libraries approximate.
    """
    import torch

    model, _, pipeline = reference(name)
    if float64:
        model = _reference_float64(name)
    inner = pipeline.pipe
    batch = inner.prepare_inputs([text], labels, same_labels=True, examples=examples, prompt=prompt)
    tensors = {k: v for k, v in dict(batch).items() if isinstance(v, torch.Tensor)}
    kwargs = {"output_hidden_states": True} if name in NEEDS_HIDDEN_STATES else {}
    with torch.no_grad():
        out = model(**tensors, max_num_classes=len(labels), **kwargs)
    return out.logits[0, : len(labels)].numpy().astype("float64" if float64 else "float32")


def reference_input_ids(name, text, labels, prompt=None, examples=None):
    _, _, pipeline = reference(name)
    string = pipeline.pipe.prepare_input(text, labels, examples, prompt)
    _, tokenizer, _ = reference(name)
    return tokenizer(string, truncation=False)["input_ids"]
