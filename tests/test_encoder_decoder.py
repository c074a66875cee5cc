"""The encoder-decoder architectures (`GLiClassEncoderDecoderClassifier`) against the reference.

The committed `encdec_t5` (text -> T5 encoder, labels -> bidirectional T5
decoder) and `encdeccls_t5` (labels -> encoder, text -> causal decoder)
checkpoints (made by tests/fixtures/make_reference_models.py) are compared
with the reference package run in the same process, its decoder embedding
re-tied to `shared` (spec 13.11; see reference_runner). `encdec_t5` pools
with `avg`, which the reference computes over padding, so logits are
compared one text at a time.

Logits, scores and losses are compared by the rule of tests/parity.py,
against a float64 copy of the reference: the T5 attention is unscaled
(scores up to |17| here), so each attention layer amplifies the float32
rounding of its inputs three to four times, and the four layers of
`encdeccls_t5` leave both libraries' float32 logits (|4.7| at most) up to
~1e-5 from the exact ones, in different directions on different processors
(issue 17).

Kept small for CI: each model is built once per module, inference runs
through `predict_logits`/`classify` (bucketed shapes, so jax and tensorflow
compile few functions), and the training checks take a few steps.
"""

import functools
import json
import shutil

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors.numpy import save_file

from conftest import REFERENCE_MODELS
from parity import Parity
from parity import add_predictions
from parity import assert_parity
from reference_runner import _reference_float64
from reference_runner import exact_scores
from reference_runner import float64_copy
from reference_runner import oracle
from reference_runner import reference
from reference_runner import reference_error
from reference_runner import reference_logits

import gliclass_keras
from gliclass_keras import GLiClassClassifier
from gliclass_keras import GLiClassEncoderDecoderClassifier
from gliclass_keras import GLiClassEncoderDecoderPreprocessor
from gliclass_keras.backbones.t5 import T5EncoderBackbone
from gliclass_keras.backbones.t5 import T5EncoderDecoderBackbone
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import encoder_decoder_backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights

ARCHITECTURES = {"encdec_t5": "encoder-decoder", "encdeccls_t5": "encoder-decoder-cls"}
NAMES = list(ARCHITECTURES)


@functools.lru_cache(maxsize=None)
def keras_model(name):
    return GLiClassClassifier.from_pretrained(REFERENCE_MODELS / name)


# ----------------------------------------------------------------- loading
@pytest.mark.parametrize("name", NAMES)
def test_from_pretrained_dispatches_with_one_shared_embedding(name):
    model = keras_model(name)
    assert isinstance(model, GLiClassEncoderDecoderClassifier)
    assert isinstance(model.backbone, T5EncoderDecoderBackbone)
    assert model.config.architecture_type == ARCHITECTURES[name]
    # One token embedding for encoder and decoder: the checkpoint's `shared`.
    tables = [v for v in model.backbone.weights if "token_embedding" in v.path]
    assert len(tables) == 1
    shared = load_file(REFERENCE_MODELS / name / "model.safetensors")[
        "model.encoder_decoder_model.shared.weight"
    ]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(tables[0]), shared)
    assert model.decoder.causal == (name == "encdeccls_t5")
    assert {id(v) for v in model.backbone_variables()} == {
        id(v) for v in model.backbone.trainable_variables
    }


def test_unexpected_weight_is_named(tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(REFERENCE_MODELS / "encdec_t5", copy)
    tensors = load_file(copy / "model.safetensors")
    tensors["model.encoder_decoder_model.lm_head.weight"] = tensors[
        "model.encoder_decoder_model.shared.weight"
    ]
    save_file(tensors, copy / "model.safetensors")
    with pytest.raises(ValueError, match="lm_head"):
        GLiClassClassifier.from_pretrained(copy)


def test_untied_decoder_embedding_is_rejected():
    name = "encdec_t5"
    tensors = load_file(REFERENCE_MODELS / name / "model.safetensors")
    prefix = "model.encoder_decoder_model."
    tensors[prefix + "decoder.embed_tokens.weight"] = tensors[prefix + "shared.weight"] + 1.0
    # Raises while planning, before any variable is assigned.
    with pytest.raises(ValueError, match="decoder.embed_tokens"):
        load_hf_backbone_weights(keras_model(name).backbone, tensors, prefix)


def test_gated_gelu_t5_encoder_matches_hugging_face():
    # The fixtures' T5 is relu with 8 buckets; T5 v1.1, flan-T5 and mT5 are
    # gated-gelu with 32. A tiny random gated-gelu encoder (the encoder-only
    # backbone; both stacks share the layer and its converter) against
    # transformers, on 20 tokens: past the exact-offset range of the buckets.
    # Compared by the rule of tests/parity.py, the exact states from a
    # float64 copy of the model (the unscaled attention again: transformers'
    # own float32 states are 3.2e-6 from them).
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.T5Config(
        vocab_size=40, d_model=16, d_kv=8, d_ff=24, num_layers=2, num_heads=2,
        feed_forward_proj="gated-gelu", dropout_rate=0.0,
    )
    torch.manual_seed(0)
    hf = transformers.T5EncoderModel(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            std = 1.0 / np.sqrt(p.shape[-1]) if p.dim() >= 2 else 0.1
            p.copy_(torch.randn(p.shape) * std + (1.0 if "layer_norm" in name else 0.0))
    ids = np.random.default_rng(0).integers(1, 40, (2, 20)).astype("int32")
    mask = np.ones((2, 20), "int32")
    mask[1, 14:] = 0
    inputs = dict(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask))
    with torch.no_grad():
        want = hf(**inputs).last_hidden_state.numpy()
        exact = float64_copy(hf)(**inputs).last_hidden_state.numpy()
    tensors = {k: v.numpy() for k, v in hf.state_dict().items()}
    backbone = backbone_from_hf_config(config.to_dict())
    assert isinstance(backbone, T5EncoderBackbone) and backbone.use_gated_activation
    assert load_hf_backbone_weights(backbone, tensors) == set(tensors)
    got = backbone.predict_on_batch({"token_ids": ids, "padding_mask": mask})
    real = mask == 1
    assert_parity("gated-gelu T5 encoder states", got[real], want[real], exact[real])


def test_unsupported_t5_configs_are_named():
    config = json.loads((REFERENCE_MODELS / "encdec_t5" / "config.json").read_text())
    t5 = config["encoder_config"]
    for field, value, match in (
        ("feed_forward_proj", "gated-swish", "feed_forward_proj"),
        ("relative_attention_max_distance", 4, "relative_attention_max_distance"),
        ("relative_attention_num_buckets", 6, "relative_attention_num_buckets"),
        ("num_decoder_layers", 3, "num_decoder_layers"),
    ):
        with pytest.raises(ValueError, match=match):
            encoder_decoder_backbone_from_hf_config({**t5, field: value})
    with pytest.raises(ValueError, match="model_type"):
        encoder_decoder_backbone_from_hf_config({**t5, "model_type": "bart"})


def test_unsupported_head_options_raise():
    model = keras_model("encdeccls_t5")
    config = model.config.to_dict()
    for overrides, error in (
        ({"architecture_type": "uni-encoder"}, ValueError),
        ({"squeeze_layers": True}, NotImplementedError),
        ({"use_lstm": True}, NotImplementedError),
        ({"scorer_type": "cross-attn", "pooling_strategy": "pass"}, NotImplementedError),
    ):
        with pytest.raises(error):
            GLiClassEncoderDecoderClassifier(model.backbone, {**config, **overrides})


# ------------------------------------------------------------ preprocessing
@pytest.mark.parametrize("name", NAMES)
def test_inputs_match_reference(name):
    js, npz = oracle(name)
    preprocessor = keras_model(name).preprocessor
    for case, kwargs in (("A", {}), ("PE", {"prompt": js["prompt"], "examples": js["examples"]})):
        batch = preprocessor(js["texts"], js["labels"], **kwargs)
        for ours, theirs in (("token_ids", "input_ids"), ("class_token_ids", "class_input_ids")):
            mask_key = ours.replace("token_ids", "padding_mask")
            want_ids = npz[f"{case}_in_{theirs}"]
            want_mask = npz[f"{case}_in_{theirs.replace('input_ids', 'attention_mask')}"]
            for row in range(len(js["texts"])):
                got = batch[ours][row][batch[mask_key][row] == 1].tolist()
                assert got == want_ids[row][want_mask[row] == 1].tolist(), (case, ours, row)


def test_preprocessor_chunks_labels_and_keeps_every_label_token():
    model = keras_model("encdec_t5")
    js, _ = oracle("encdec_t5")
    preprocessor = GLiClassEncoderDecoderPreprocessor(
        model.preprocessor.tokenizer, max_length=10, pad_token_id=0
    )
    labels = js["labels"]
    with pytest.warns(UserWarning, match="chunks"):
        rows = preprocessor.encode([js["texts"][0]], labels)
    assert len(rows) > 1
    assert [i for row in rows for i in row.label_indices] == list(range(len(labels)))
    class_id = model.config.class_token_index
    for row in rows:
        assert len(row.class_token_ids) <= 10
        assert row.class_token_ids.count(class_id) == len(row.label_indices)
    with pytest.warns(UserWarning, match="chunks"), pytest.raises(ValueError, match="several chunks"):
        preprocessor([js["texts"][0]], labels)
    with pytest.raises(ValueError, match="max_length=10"):
        preprocessor.encode(["a"], ["a very long label that cannot fit in ten tokens"])


def test_preprocessor_cuts_text_and_keeps_examples():
    model = keras_model("encdec_t5")
    js, _ = oracle("encdec_t5")
    tokenizer = model.preprocessor.tokenizer
    preprocessor = GLiClassEncoderDecoderPreprocessor(tokenizer, max_length=24)
    text, examples = js["texts"][1], js["examples"][:1]
    with pytest.warns(UserWarning, match="cut"):
        rows = preprocessor.encode([text], js["labels"], examples=examples)
    (row,) = rows
    assert 0 < row.truncated_characters < len(text) and len(row.token_ids) <= 24
    kept = text[: len(text) - row.truncated_characters]
    assert row.token_ids == tokenizer.encode([preprocessor.format_text(kept, examples)[0]])[0]
    with pytest.raises(ValueError, match="examples"):
        GLiClassEncoderDecoderPreprocessor(tokenizer, max_length=12).encode(
            [text], js["labels"], examples=examples
        )


def test_preprocessor_config_round_trip():
    preprocessor = keras_model("encdeccls_t5").preprocessor
    config = preprocessor.get_config()
    assert config["max_length"] == 1024 and config["pad_token_id"] == 0
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor)
    )
    assert isinstance(restored, GLiClassEncoderDecoderPreprocessor)
    assert restored.max_length == preprocessor.max_length
    assert restored.pad_token_id == preprocessor.pad_token_id
    for bad, error in (({"max_length": 2}, ValueError), ({"tokenizer": "x"}, TypeError)):
        with pytest.raises(error):
            GLiClassEncoderDecoderPreprocessor(**{"tokenizer": None, **bad})


# -------------------------------------------------------------------- parity
# Every inference check below runs on one batch shape, (16 rows, text 48,
# class prompt 32, 8 label slots) after bucketing: jax and tensorflow then
# compile one predict function per model. The rows mix the three oracle
# cases: shared labels ("A"), per-text labels ("B"), prompt and examples
# ("PE").
BATCH = 16


def _cases(js):
    """`(case, texts, labels, prompts, examples)` per row, for the three cases."""
    texts = js["texts"]
    n = len(texts)
    return (
        ("A", texts, [js["labels"]] * n, [None] * n, [[]] * n),
        ("B", texts, js["per_text_labels"], [None] * n, [[]] * n),
        ("PE", texts, [js["labels"]] * n, [js["prompt"]] * n, [js["examples"]] * n),
    )


@functools.lru_cache(maxsize=None)
def mixed_logits(name):
    """Our logits for every row of the three cases, in one batch: {case: [row logits]}."""
    js, _ = oracle(name)
    cases = _cases(js)
    rows = [list(part) for part in zip(*[c[1:] for c in cases])]
    texts, labels, prompts, examples = (sum(part, []) for part in rows)
    logits = keras_model(name).predict_logits(
        texts, labels, prompt=prompts, examples=examples, batch_size=BATCH
    )
    n = len(js["texts"])
    return {case[0]: logits[i * n : (i + 1) * n] for i, case in enumerate(cases)}


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_reference(name, record_property):
    js, _ = oracle(name)
    got = mixed_logits(name)
    parity = Parity(f"{name} logits", reference_error=reference_error(name))
    for case, texts, labels, prompts, examples in _cases(js):
        for row, text in enumerate(texts):
            kwargs = dict(prompt=prompts[row], examples=examples[row] or None)
            want = reference_logits(name, text, labels[row], **kwargs)
            exact = reference_logits(name, text, labels[row], float64=True, **kwargs)
            parity.add(got[case][row], want, exact, where=f"{case} row {row}")
    record_property("max_abs_logit_diff", parity.pair_error)
    record_property("max_abs_logit_error", parity.ours_error)
    record_property("max_abs_reference_logit_error", parity.reference_error)
    print(parity.message())
    parity.check()


def test_causal_decoder_matches_oracle_batch():
    # No pooling over padding in encoder-decoder-cls (the text vector is the
    # last real token), so the reference's own padded batch applies. Its
    # float32 logits were stored on the machine that made the fixtures; the
    # exact ones are the float64 reference's, one text at a time.
    name = "encdeccls_t5"
    js, npz = oracle(name)
    got = np.stack(mixed_logits(name)["A"])
    want = npz["A_out_logits"][:, : len(js["labels"])]  # the 5 real label slots of 25
    exact = np.stack([reference_logits(name, t, js["labels"], float64=True) for t in js["texts"]])
    assert_parity(
        f"{name} logits vs the stored oracle batch", got, want, exact,
        reference_error=reference_error(name),
    )


@pytest.mark.parametrize("name", NAMES)
def test_classify_matches_reference_pipeline(name):
    js, _ = oracle(name)
    _, _, pipeline = reference(name)
    cases = {case[0]: case[1:] for case in _cases(js)}
    runs = [  # (case, pipeline kwargs)
        ("A", dict(threshold=0.0)),
        ("A", dict(threshold=0.5)),
        ("A", dict(classification_type="single-label")),
        ("PE", dict(threshold=0.0, prompt=js["prompt"], examples=js["examples"])),
    ]
    want, texts, labels, prompts, examples, thresholds, kinds = [], [], [], [], [], [], []
    for case, kwargs in runs + [("B", dict(threshold=0.0))]:
        case_texts, case_labels, case_prompts, case_examples = cases[case]
        shared = case_labels if case == "B" else case_labels[0]
        want += pipeline(case_texts, shared, batch_size=1, **kwargs)
        texts += case_texts
        labels += case_labels
        prompts += case_prompts
        examples += case_examples
        thresholds += [kwargs.get("threshold", 0.5)] * len(case_texts)
        kinds += [kwargs.get("classification_type", "multi-label")] * len(case_texts)
    # One call, per-text thresholds / types / prompts / examples.
    got = keras_model(name).classify(
        texts, labels, threshold=thresholds, classification_type=kinds,
        prompt=prompts, examples=examples, batch_size=BATCH,
    )
    assert len(got) == len(want) == len(texts)
    parity = Parity(f"{name} pipeline scores")
    for row, (got_text, want_text) in enumerate(zip(got, want)):
        exact = exact_scores(
            name, texts[row], labels[row], kinds[row], prompts[row], examples[row] or None
        )
        add_predictions(parity, got_text, want_text, exact, where=f"text {row}, {kinds[row]}")
    parity.check()


def test_save_and_load_round_trip(tmp_path):
    name = "encdec_t5"
    js, _ = oracle(name)
    model = keras_model(name)
    path = tmp_path / "encdec.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, GLiClassEncoderDecoderClassifier)
    assert isinstance(restored.backbone, T5EncoderDecoderBackbone)
    assert isinstance(restored.preprocessor, GLiClassEncoderDecoderPreprocessor)
    assert restored.get_config()["config"] == model.get_config()["config"]
    assert restored.decoder.causal is False
    (_, texts, labels, prompts, examples), *_ = reversed(_cases(js))  # the PE case
    if keras.backend.backend() == "tensorflow":
        # Eager calls: XLA-compiling the restored model's predict function
        # costs ~30x more (jax, the other way round, compiles faster than
        # it runs eagerly).
        batch = restored.preprocessor(texts, labels, prompt=prompts, examples=examples)
        got = keras.ops.convert_to_numpy(restored(batch))
        want = keras.ops.convert_to_numpy(model(batch))
    else:
        kwargs = dict(prompt=prompts, examples=examples, batch_size=BATCH)
        got = restored.predict_logits(texts, labels, **kwargs)
        want = mixed_logits(name)["PE"]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def _reference_focal_loss(name, texts, labels, targets, float64=False):
    """The reference's multi-label focal loss, one text at a time, averaged.

    Every text has the same number of labels, so this is the reference's
    batch loss (masked mean over real label slots) without its pooling
    over padding. `float64=True`: that of the float64 copy of the reference.
    """
    import torch

    model, _, pipeline = reference(name)
    dtype = torch.float32
    if float64:
        model, dtype = _reference_float64(name), torch.float64
    losses = []
    for text, row in zip(texts, targets):
        batch = pipeline.pipe.prepare_inputs([text], labels, same_labels=True)
        tensors = {k: v for k, v in dict(batch).items() if isinstance(v, torch.Tensor)}
        with torch.no_grad():
            slots = model(**tensors).logits.shape[-1]
            target = torch.zeros((1, slots), dtype=dtype)
            target[0, : len(row)] = torch.tensor(row, dtype=dtype)
            losses.append(float(model(**tensors, labels=target).loss))
    return float(np.mean(losses))


RECORDS = [
    {"text": "We won the football match", "all_labels": ["sport", "travel", "science"], "true_labels": ["sport"]},
    {"text": "A long trip to Paris by train", "all_labels": ["sport", "travel"], "true_labels": ["travel"]},
    {"text": "Atoms bond into molecules", "all_labels": ["science", "travel", "sport"], "true_labels": ["science"]},
    {"text": "The delivery was slow", "all_labels": ["delivery", "science"], "true_labels": ["delivery"]},
]


@pytest.mark.parametrize("name", NAMES)
def test_compiled_loss_equals_reference(name):
    js, _ = oracle(name)
    model = keras_model(name)
    # The model's logits (computed with the other inference checks), then
    # the loss `compile()` chose (focal, from problem_type).
    logits = np.stack(mixed_logits(name)["A"])
    model.compile()
    y = np.asarray(js["multi_targets"], dtype="float32")
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(y=y, y_pred=logits)))
    want = _reference_focal_loss(name, js["texts"], js["labels"], js["multi_targets"])
    exact = _reference_focal_loss(name, js["texts"], js["labels"], js["multi_targets"], True)
    # A mean of 15 focal terms (each moves by at most ~1x its logit's error):
    # the logits' rule, scaled like the old relative 1e-5 check.
    assert_parity(f"{name} focal loss", loss, want, exact, atol=1e-5 * max(1.0, abs(exact)))


def test_fit_on_records_lowers_loss():
    # One architecture: both share every training code path.
    model = GLiClassClassifier.from_pretrained(
        REFERENCE_MODELS / "encdeccls_t5", config_overrides={"dropout": 0.0}
    )
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # the backbone's own dropout too, for a steady loss
    # Two steps: on tensorflow, XLA-compiling the train step costs ~20x
    # more than running them eagerly (the compiled forward pass is checked
    # by the inference tests); jax and torch use their defaults.
    eager = keras.backend.backend() == "tensorflow"
    model.compile(
        training_config=gliclass_keras.TrainingConfig(learning_rate=3e-4),
        metrics=[],
        run_eagerly=eager,
        jit_compile=False if eager else "auto",
    )
    history = model.fit(RECORDS, batch_size=4, epochs=2, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history["loss"]
