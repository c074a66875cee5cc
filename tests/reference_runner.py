"""Runs the reference PyTorch GLiClass (gliclass==0.1.21, a test-only dependency)."""

import contextlib
import functools
import json
import types

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
    """A float64 copy of the reference model, float64 throughout.

    `.double()` alone leaves some float32 inside transformers' code: T5's
    layer norm computes its variance in float32 (that alone moves
    encdeccls_t5's "exact" logits by 2.2e-6) and ModernBERT its rotary
    embedding (2.4e-7). Those layers of the copy compute in float64 here;
    the functions that cast are replaced while it runs (`_float64_functions`).
    """
    return float64_copy(reference(name)[0])


def float64_copy(model):
    """A float64 copy of a torch model, its transformers layers float64 throughout.

    Call it under `_float64_functions()` where it runs DeBERTa or ModernBERT.
    """
    import copy

    model = copy.deepcopy(model).double()
    for module in model.modules():
        kind = type(module).__name__
        if kind == "T5LayerNorm":
            module.forward = types.MethodType(_t5_layer_norm, module)
        elif kind == "ModernBertRotaryEmbedding":
            module.forward = types.MethodType(_modernbert_rotary_embedding, module)
    return model


def _t5_layer_norm(self, hidden_states):
    # transformers' T5LayerNorm, without its cast to float32.
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * (variance + self.variance_epsilon).rsqrt())


def _modernbert_rotary_embedding(self, x, position_ids, layer_type):
    # transformers' ModernBertRotaryEmbedding ("default" rope), in x's dtype.
    import torch

    parameters = self.config.rope_parameters[layer_type]
    assert parameters.get("rope_type", "default") == "default", parameters
    dim = getattr(self.config, "head_dim", None) or (
        self.config.hidden_size // self.config.num_attention_heads
    )
    exponents = torch.arange(0, dim, 2, dtype=x.dtype, device=x.device) / dim
    inv_freq = 1.0 / (parameters["rope_theta"] ** exponents)
    freqs = position_ids[..., None].to(x.dtype) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    scaling = getattr(self, f"{layer_type}_attention_scaling")
    return emb.cos() * scaling, emb.sin() * scaling


@contextlib.contextmanager
def _float64_functions():
    """transformers' functions that compute in float32, in their inputs' dtype.

    Same results for float32 inputs; only the float64 copy's calls differ.
    """
    import torch
    from transformers.models.deberta_v2 import modeling_deberta_v2 as deberta
    from transformers.models.modernbert import modeling_modernbert as modernbert

    def scaled_size_sqrt(query_layer, scale_factor):
        size = torch.tensor(query_layer.size(-1), dtype=query_layer.dtype)
        return torch.sqrt(size * scale_factor)

    def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
        cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
        rotate = modernbert.rotate_half
        return q * cos + rotate(q) * sin, k * cos + rotate(k) * sin

    saved = deberta.scaled_size_sqrt, modernbert.apply_rotary_pos_emb
    deberta.scaled_size_sqrt = scaled_size_sqrt
    modernbert.apply_rotary_pos_emb = apply_rotary_pos_emb
    try:
        yield
    finally:
        deberta.scaled_size_sqrt, modernbert.apply_rotary_pos_emb = saved


def reference_logits(name, text, labels, prompt=None, examples=None, float64=False):
    """Reference logits for ONE text (no padding, so its pooling bug cannot show).

    `float64=True` runs a float64 copy of the reference model: the exact
    values that float32 results of both libraries approximate.
    """
    import torch

    model, _, pipeline = reference(name)
    functions = contextlib.nullcontext()
    if float64:
        model, functions = _reference_float64(name), _float64_functions()
    inner = pipeline.pipe
    batch = inner.prepare_inputs([text], labels, same_labels=True, examples=examples, prompt=prompt)
    tensors = {k: v for k, v in dict(batch).items() if isinstance(v, torch.Tensor)}
    kwargs = {"output_hidden_states": True} if name in NEEDS_HIDDEN_STATES else {}
    with torch.no_grad(), functions:
        out = model(**tensors, max_num_classes=len(labels), **kwargs)
    return out.logits[0, : len(labels)].numpy().astype("float64" if float64 else "float32")


@functools.lru_cache(maxsize=None)
def reference_error(name):
    """Max |float32 - float64| of the reference's logits over the fixture's oracle inputs.

    Every text with the shared labels, with its own labels, and with the
    prompt and examples: the reference's float32 error on this model, for
    tests that compare only a few values (`parity.Parity(reference_error=)`).
    """
    js, _ = oracle(name)
    texts = js["texts"]
    runs = (
        [(t, js["labels"], {}) for t in texts]
        + [(t, labels, {}) for t, labels in zip(texts, js["per_text_labels"])]
        + [(t, js["labels"], {"prompt": js["prompt"], "examples": js["examples"]}) for t in texts]
    )
    error = 0.0
    for text, labels, kwargs in runs:
        want = reference_logits(name, text, labels, **kwargs)
        exact = reference_logits(name, text, labels, float64=True, **kwargs)
        error = max(error, float(np.abs(want - exact).max()))
    return error


def exact_scores(name, text, labels, classification_type="multi-label", prompt=None, examples=None):
    """`{label: score}` of the float64 reference, as its pipeline scores one text."""
    from parity import activation

    logits = reference_logits(name, text, labels, prompt, examples, float64=True)
    return dict(zip(labels, activation(logits, classification_type)))


def exact_oracle_loss(name, targets, case="A"):
    """The float64 reference's default multi-label loss on a stored oracle batch.

    Runs the float64 copy of the reference on the batch's stored inputs, as
    tests/fixtures/make_reference_models.py ran the float32 model to store
    `{case}_loss_multi_focal_default` (targets padded with zeros to the
    logits' slots).
    """
    import torch

    _, npz = oracle(name)
    model = _reference_float64(name)
    prefix = f"{case}_in_"
    tensors = {k[len(prefix) :]: torch.tensor(v) for k, v in npz.items() if k.startswith(prefix)}
    classes = int(npz[f"{case}_max_num_classes"])
    kwargs = {"max_num_classes": None if classes < 0 else classes}
    target = torch.tensor(np.asarray(targets, "float64"))
    with torch.no_grad(), _float64_functions():
        slots = model(**tensors, **kwargs).logits.shape[-1]
        target = torch.nn.functional.pad(target, (0, slots - target.shape[-1]))
        return float(model(**tensors, labels=target, **kwargs).loss)


def reference_input_ids(name, text, labels, prompt=None, examples=None):
    _, _, pipeline = reference(name)
    string = pipeline.pipe.prepare_input(text, labels, examples, prompt)
    _, tokenizer, _ = reference(name)
    return tokenizer(string, truncation=False)["input_ids"]
