"""Head layers vs the reference `gliclass` torch modules (poolers, projectors,
scorers, logit scale, weight loaders, and the full head on the committed
reference checkpoints).

Runs on whatever `KERAS_BACKEND` is set; the reference always runs in torch.
"""

import json
import pathlib
import types

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gliclass import layers as ref_layers
from gliclass import poolings as ref_poolings
from gliclass import scorers as ref_scorers
from safetensors.numpy import load_file
from transformers.activations import ACT2FN

from layer_test_utils import ATOL, assert_close, assert_roundtrip, max_diff, rand, randomize, to_np, torch_state
from gliclass_keras.convert.head_weights import load_reference_layer_weights
from gliclass_keras.layers import SCORERS
from gliclass_keras.layers import BiEncoderProjector
from gliclass_keras.layers import ClassTokenExtractor
from gliclass_keras.layers import ClassTokenInjector
from gliclass_keras.layers import ContrastiveLabelLoss
from gliclass_keras.layers import CrossAttentionScorer
from gliclass_keras.layers import DotScorer
from gliclass_keras.layers import FeaturesProjector
from gliclass_keras.layers import HopfieldScorer
from gliclass_keras.layers import LayerwiseAttention
from gliclass_keras.layers import LogitScale
from gliclass_keras.layers import MLPScorer
from gliclass_keras.layers import SegmentEmbedding
from gliclass_keras.layers import TextLSTM
from gliclass_keras.layers import TokenPooler
from gliclass_keras.layers import WeightedDotScorer
from gliclass_keras.layers import get_hf_activation
from gliclass_keras.layers import get_scorer
from gliclass_keras.layers import l2_normalize
from gliclass_keras.losses import sequence_contrastive_loss
from gliclass_keras.utils.activations import HF_ACTIVATIONS

REFERENCE_MODELS = pathlib.Path(__file__).parent / "fixtures" / "reference"
B, L, D, K = 3, 7, 8, 4
# Right-padded rows of length 4, 7 (full) and 2.
MASK = np.array([[1, 1, 1, 1, 0, 0, 0], [1] * 7, [1, 1, 0, 0, 0, 0, 0]], "int32")
















# --------------------------------------------------------------------------
# TokenPooler
# --------------------------------------------------------------------------

POOL_NAMES = ["first", "last", "avg", "max", "sum", "rms", "abs_max", "abs_avg", "pass"]


def numpy_pool(x, mask, strategy):
    out = []
    for row, row_mask in zip(x, mask):
        real = row[row_mask.astype(bool)]
        if strategy == "first":
            out.append(row[0])
        elif strategy == "last":
            out.append(real[-1])
        elif strategy == "avg":
            out.append(real.mean(0))
        elif strategy == "max":
            out.append(real.max(0))
        elif strategy == "sum":
            out.append(real.sum(0))
        elif strategy == "rms":
            out.append(np.sqrt((real**2).mean(0)))
        elif strategy == "abs_max":
            out.append(np.abs(real).max(0))
        elif strategy == "abs_avg":
            out.append(np.abs(real).mean(0))
    return np.stack(out)


@pytest.mark.parametrize("strategy", POOL_NAMES)
def test_pooler_unmasked_matches_reference(strategy):
    x = rand(B, L, D)
    expected = ref_poolings.POOLING2OBJECT[strategy]()(torch.from_numpy(x)).numpy()
    pooler = TokenPooler(strategy)
    assert_close(pooler(x), expected)
    assert_close(pooler(x, mask=np.ones((B, L), "int32")), expected)
    assert_close(pooler(x, mask=np.ones((B, L), bool)), expected)


@pytest.mark.parametrize("strategy", [s for s in POOL_NAMES if s != "pass"])
def test_pooler_masked_uses_real_tokens_only(strategy):
    x = rand(B, L, D, seed=1)
    # Large values at padded positions must not leak into any statistic.
    x_padded = np.where(MASK[..., None] == 1, x, 100.0).astype("float32")
    # A non-contiguous mask too: only the count/positions of ones matter.
    mask = MASK.copy()
    mask[1, 3] = 0
    expected = numpy_pool(x_padded, mask, strategy)
    pooler = TokenPooler(strategy)
    assert_close(pooler(x_padded, mask=mask), expected)
    assert_close(pooler(x_padded, mask=mask.astype(bool)), expected)


@pytest.mark.parametrize("strategy", ["avg", "max", "sum", "rms", "abs_max", "abs_avg"])
def test_pooler_row_without_tokens_gives_zeros(strategy):
    x = rand(2, L, D, seed=2)
    mask = np.array([[0] * L, [1] * L], "int32")
    out = to_np(TokenPooler(strategy)(x, mask=mask))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], np.zeros(D, "float32"))


def test_pooler_pass_is_identity_and_keeps_mask():
    x = rand(B, L, D)
    pooler = TokenPooler("pass")
    np.testing.assert_array_equal(to_np(pooler(x, mask=MASK)), x)
    assert pooler.compute_output_shape((None, None, D)) == (None, None, D)
    assert TokenPooler("avg").compute_output_shape((None, None, D)) == (None, D)


@pytest.mark.parametrize("strategy", ["last", "avg", "pass"])
def test_pooler_roundtrip(strategy):
    assert_roundtrip(TokenPooler(strategy), rand(B, L, D), mask=MASK)


def test_pooler_symbolic():
    x = keras.Input((None, D))
    m = keras.Input((None,), dtype="int32")
    out = TokenPooler("max")(x, mask=m)
    assert tuple(out.shape) == (None, D)
    model = keras.Model([x, m], out)
    assert_close(model.predict([rand(B, L, D), MASK], verbose=0), numpy_pool(rand(B, L, D), MASK, "max"))


def test_pooler_bad_strategy():
    with pytest.raises(ValueError, match="strategy"):
        TokenPooler("mean")


# --------------------------------------------------------------------------
# Activations and projectors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HF_ACTIVATIONS))
def test_hf_activation_matches_transformers(name):
    x = np.linspace(-12, 12, 97).astype("float32")
    expected = ACT2FN[name](torch.from_numpy(x)).numpy()
    assert_close(get_hf_activation(name)(keras.ops.convert_to_tensor(x)), expected)


def projector_config(in_dim, hidden, act="gelu"):
    return types.SimpleNamespace(
        encoder_config=types.SimpleNamespace(hidden_size=in_dim),
        label_model_config=types.SimpleNamespace(hidden_size=in_dim),
        hidden_size=hidden,
        projector_hidden_act=act,
        dropout=0.1,
    )


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "silu"])
def test_features_projector_matches_reference(act):
    ref = randomize(ref_layers.FeaturesProjector(projector_config(D, 6, act)), seed=3)
    x = rand(B, K, D, seed=4)
    layer = FeaturesProjector(hidden_dim=6, output_dim=D, activation=act)
    keys = load_reference_layer_weights(layer, torch_state(ref, "model.text_projector."), "model.text_projector.")
    assert keys == set(torch_state(ref, "model.text_projector."))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    assert_close(layer(x), expected)
    assert_roundtrip(layer, x)


def test_features_projector_dropout_only_in_training():
    layer = FeaturesProjector(hidden_dim=16, output_dim=D, dropout=0.5)
    x = rand(B, D)
    np.testing.assert_array_equal(to_np(layer(x)), to_np(layer(x, training=False)))
    assert max_diff(to_np(layer(x, training=True)), to_np(layer(x))) > 0


def test_bi_encoder_projector_matches_reference():
    config = projector_config(D, 6)
    config.label_model_config.hidden_size = 5
    ref = randomize(ref_layers.BiEncoderProjector(config), seed=5)
    x = rand(B, K, 5, seed=6)
    layer = BiEncoderProjector(hidden_dim=6, output_dim=D)
    state = torch_state(ref, "model.biencoder_projector.")
    assert load_reference_layer_weights(layer, state, "model.biencoder_projector.") == set(state)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    assert_close(layer(x), expected)
    assert_roundtrip(layer, x)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (FeaturesProjector, {"hidden_dim": 0, "output_dim": 4}),
        (FeaturesProjector, {"hidden_dim": 4, "output_dim": 4.0}),
        (FeaturesProjector, {"hidden_dim": 4, "output_dim": 4, "activation": "gelu_fancy"}),
        (FeaturesProjector, {"hidden_dim": 4, "output_dim": 4, "dropout": 1.0}),
        (BiEncoderProjector, {"hidden_dim": 4, "output_dim": -1}),
        (BiEncoderProjector, {"hidden_dim": 4, "output_dim": 4, "activation": "nope"}),
    ],
)
def test_projector_bad_args(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


# --------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------


def reference_scorer(scorer_type, hidden, seed, **kwargs):
    module = ref_scorers.SCORER2OBJECT[scorer_type](
        hidden,
        num_heads=kwargs.get("num_heads", 16),
        scorer_mlp_hidden_size=kwargs.get("mlp_hidden_dim", 1024),
        attn_dropout=kwargs.get("attn_dropout", 0.1),
    )
    return randomize(module, seed, std=0.2)


SCORER_CASES = {
    "simple": {},
    "weighted-dot": {},
    "mlp": {},
    "hopfield": {},
    "cross-attn": {"num_heads": 2, "mlp_hidden_dim": 12},
}


@pytest.mark.parametrize("scorer_type", list(SCORER_CASES))
def test_scorer_matches_reference(scorer_type):
    kwargs = SCORER_CASES[scorer_type]
    ref = reference_scorer(scorer_type, D, seed=7, **kwargs)
    layer = get_scorer(scorer_type, D, **kwargs)
    assert isinstance(layer, SCORERS[scorer_type])
    state = torch_state(ref, "model.scorer.")
    assert load_reference_layer_weights(layer, state, "model.scorer.") == set(state)

    token_level = scorer_type == "cross-attn"
    text = rand(B, L, D, seed=8) if token_level else rand(B, D, seed=8)
    classes = rand(B, K, D, seed=9)
    text_mask = MASK if token_level else None
    with torch.no_grad():
        expected = ref(
            torch.from_numpy(text),
            torch.from_numpy(classes),
            text_mask=None if text_mask is None else torch.from_numpy(text_mask).bool(),
        ).numpy()
    actual = layer(text, classes, text_mask=text_mask)
    assert_close(actual, expected)
    assert tuple(layer.compute_output_shape(text.shape, classes.shape)) == (B, K)
    assert_roundtrip(layer, text, classes, text_mask=text_mask)


def test_cross_attention_ignores_padded_tokens_and_defaults_to_all():
    ref = reference_scorer("cross-attn", D, seed=10, num_heads=4, mlp_hidden_dim=8)
    layer = CrossAttentionScorer(D, num_heads=4, mlp_hidden_dim=8)
    load_reference_layer_weights(layer, torch_state(ref, "s."), "s.")
    text, classes = rand(B, L, D, seed=11), rand(B, K, D, seed=12)
    noisy = np.where(MASK[..., None] == 1, text, 50.0).astype("float32")
    assert_close(layer(noisy, classes, text_mask=MASK), to_np(layer(text, classes, text_mask=MASK)))
    with torch.no_grad():
        expected = ref(torch.from_numpy(text), torch.from_numpy(classes)).numpy()
    assert_close(layer(text, classes), expected)
    # A row without real text tokens: torch SDPA gives a zero context.
    empty = MASK.copy()
    empty[2] = 0
    with torch.no_grad():
        expected_empty = ref(
            torch.from_numpy(text), torch.from_numpy(classes), text_mask=torch.from_numpy(empty).bool()
        ).numpy()
    assert_close(layer(text, classes, text_mask=empty), expected_empty)
    # Attention dropout is active in training only.
    assert max_diff(to_np(layer(text, classes, training=True)), expected) > 0


def test_scorer_symbolic_dynamic_classes():
    text = keras.Input((D,))
    classes = keras.Input((None, D))
    scorer = get_scorer("weighted-dot", D)
    model = keras.Model([text, classes], scorer(text, classes))
    for num in (2, 5):
        assert model.predict([rand(B, D), rand(B, num, D)], verbose=0).shape == (B, num)


def test_get_scorer_mirrors_reference_construction():
    assert isinstance(get_scorer("simple", 32), DotScorer)
    # mlp/hopfield keep the reference's fixed 256-wide MLP.
    assert get_scorer("mlp", 32, mlp_hidden_dim=1024).mlp_hidden_dim == 256
    assert get_scorer("hopfield", 32, mlp_hidden_dim=1024).mlp_hidden_dim == 256
    assert get_scorer("weighted-dot", 32).dropout == 0.1
    cross = get_scorer("cross-attn", 32, num_heads=4, mlp_hidden_dim=64, attn_dropout=0.2, name="scorer")
    assert (cross.num_heads, cross.mlp_hidden_dim, cross.attn_dropout, cross.name) == (4, 64, 0.2, "scorer")
    assert set(SCORERS) == set(ref_scorers.SCORER2OBJECT) - {"decoder-kv"}
    with pytest.raises(ValueError, match="scorer_type"):
        get_scorer("dot", 32)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (WeightedDotScorer, {"hidden_dim": 0}),
        (WeightedDotScorer, {"hidden_dim": 4, "dropout": -0.1}),
        (MLPScorer, {"mlp_hidden_dim": 1}),
        (HopfieldScorer, {"hidden_dim": 4, "beta": 0}),
        (HopfieldScorer, {"hidden_dim": 4, "num_iterations": 0}),
        (CrossAttentionScorer, {"hidden_dim": 10, "num_heads": 4}),
        (CrossAttentionScorer, {"hidden_dim": 8, "num_heads": 2, "attn_dropout": 2.0}),
    ],
)
def test_scorer_bad_args(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_scorer_width_mismatch_raises():
    with pytest.raises(ValueError, match="hidden_dim"):
        HopfieldScorer(hidden_dim=6)(rand(B, D), rand(B, K, D))
    with pytest.raises(ValueError, match="rank-3"):
        CrossAttentionScorer(hidden_dim=D, num_heads=2)(rand(B, D), rand(B, K, D))


# --------------------------------------------------------------------------
# LogitScale and l2_normalize
# --------------------------------------------------------------------------


def test_logit_scale_and_normalize():
    layer = LogitScale(init_value=2.5)
    logits = rand(B, K)
    assert_close(layer(logits), logits * 2.5)
    assert [w.name for w in layer.weights] == ["logit_scale"]
    load_reference_layer_weights(layer, {"model.logit_scale": np.array(0.5, "float32")}, "model.")
    assert_close(layer(logits), logits * 0.5)
    load_reference_layer_weights(layer, {"model.logit_scale": np.array(1.5, "float32")}, "model.logit_scale")
    assert_close(layer(logits), logits * 1.5)
    assert_roundtrip(layer, logits)
    with pytest.raises(ValueError, match="init_value"):
        LogitScale(init_value="big")

    x = rand(B, K, D)
    x[0, 0] = 0.0
    xt = torch.from_numpy(x)
    assert_close(l2_normalize(x), (xt / (xt.norm(p=2, dim=-1, keepdim=True) + 1e-8)).numpy())
    assert_close(l2_normalize(x, mode="max"), F.normalize(xt, p=2, dim=-1, eps=1e-8).numpy())
    with pytest.raises(ValueError, match="mode"):
        l2_normalize(x, mode="sqrt")


def _backend_gradient(fn, x):
    """d sum(fn(x)) / dx on the current backend, as numpy."""
    backend = keras.backend.backend()
    if backend == "torch":
        xt = torch.tensor(x, requires_grad=True)
        (grad,) = torch.autograd.grad(fn(xt).sum(), xt)
        return grad.numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        value = tf.reduce_sum(fn(xt))
    return tape.gradient(value, xt).numpy()


@pytest.mark.parametrize("mode", ["add", "max"])
def test_l2_normalize_gradient_of_a_zero_vector_is_finite(mode):
    # A padded label slot through a bias-free (identity) projector is an
    # all-zero vector; sqrt's infinite gradient at 0 once turned every
    # weight of a LoRA-trained `default` preset into NaN after one step.
    x = rand(2, 3, 8)
    x[0, 1] = 0.0
    weights = rand(8)
    grad = _backend_gradient(lambda v: keras.ops.multiply(l2_normalize(v, mode=mode), weights), x)
    xt = torch.tensor(x, requires_grad=True)
    if mode == "max":
        reference = F.normalize(xt, p=2, dim=-1, eps=1e-8)
    else:
        reference = xt / (xt.norm(p=2, dim=-1, keepdim=True) + 1e-8)
    (expected,) = torch.autograd.grad((reference * torch.tensor(weights)).sum(), xt)
    assert np.all(np.isfinite(grad))
    assert_close(grad[0, 0], expected.numpy()[0, 0], atol=1e-4)
    assert_close(grad[1], expected.numpy()[1], atol=1e-4)
    # torch's norm has a zero gradient at 0; the vector's gradient is then
    # weights / eps (max) or weights / eps (add): finite, same as the reference.
    assert_close(grad[0, 1] / 1e8, expected.numpy()[0, 1] / 1e8, atol=1e-5)


# --------------------------------------------------------------------------
# Loader errors
# --------------------------------------------------------------------------


def test_loader_missing_key_and_shape_mismatch():
    ref = reference_scorer("mlp", D, seed=13)
    state = torch_state(ref, "model.scorer.")
    del state["model.scorer.mlp.2.bias"]
    with pytest.raises(ValueError, match=r"model\.scorer\.mlp\.2\.bias"):
        load_reference_layer_weights(MLPScorer(), state, "model.scorer.")
    state = torch_state(ref, "model.scorer.")
    with pytest.raises(ValueError, match=r"mlp\.0\.weight"):
        load_reference_layer_weights(MLPScorer(mlp_hidden_dim=64), state, "model.scorer.")
    with pytest.raises(ValueError, match="No reference weight loader"):
        load_reference_layer_weights(keras.layers.Dense(3), state, "model.scorer.")
    assert load_reference_layer_weights(DotScorer(), state, "model.scorer.") == set()


# --------------------------------------------------------------------------
# The whole head on the committed reference checkpoints
# --------------------------------------------------------------------------

HEAD_FIXTURES = [
    "uni_bert_default",
    "uni_deberta_default",
    "uni_deberta_promptfirst_avg_weighteddot",
    "uni_deberta_mlp_max_lstm",
    "uni_deberta_hopfield_last_noembedcls",
    "uni_deberta_normalized_rms",
    "uni_deberta_sum",
    "uni_deberta_absmax_avgclass_textfeat",
    "uni_deberta_absavg_segments",
]


def build_head(config, tensors):
    width = config["encoder_config"]["hidden_size"]
    hidden = config["hidden_size"] or width
    head = {
        "extractor": ClassTokenExtractor(
            config["class_token_index"],
            config["text_token_index"],
            class_token_pooling=config["class_token_pooling"],
            embed_class_token=config["embed_class_token"],
            extract_text_features=config["extract_text_features"],
        ),
        "pooler": TokenPooler(config["pooling_strategy"]),
        "text_projector": FeaturesProjector(hidden, width, config["projector_hidden_act"], config["dropout"]),
        "classes_projector": FeaturesProjector(hidden, width, config["projector_hidden_act"], config["dropout"]),
        "scorer": get_scorer(
            config["scorer_type"],
            hidden,
            num_heads=config["scorer_num_heads"],
            mlp_hidden_dim=config["scorer_mlp_hidden_size"],
            attn_dropout=config["scorer_attn_dropout"],
        ),
        "logit_scale": LogitScale(config["logit_scale_init_value"]),
    }
    if config["use_lstm"]:
        head["lstm"] = TextLSTM(hidden)
    if config["use_segment_embeddings"]:
        head["segment_embeddings"] = SegmentEmbedding(
            width, config["text_token_index"], config["example_token_index"]
        )
    prefixes = {"logit_scale": "model.", "extractor": "", "pooler": ""}
    used = set()
    for name, layer in head.items():
        used |= load_reference_layer_weights(layer, tensors, prefixes.get(name, f"model.{name}."))
    return head, used


def run_head(head, config, hidden_states, input_ids, attention_mask, num_classes):
    label_mask = np.ones((len(input_ids), num_classes), "int32")
    out = head["extractor"](hidden_states, input_ids, attention_mask, label_mask)
    text = out["text_embeddings"]
    if "lstm" in head:
        text = head["lstm"](text, mask=out["text_mask"])
    pooled = head["pooler"](text)  # the reference pools without a mask
    pooled = head["text_projector"](pooled)
    classes = head["classes_projector"](out["class_embeddings"])
    if config["normalize_features"]:
        pooled, classes = l2_normalize(pooled), l2_normalize(classes)
    logits = head["scorer"](pooled, classes, text_mask=out["text_mask"])
    if config["normalize_features"]:
        logits = head["logit_scale"](logits)
    return pooled, classes, out["class_mask"], logits


@pytest.mark.parametrize("fixture", HEAD_FIXTURES)
def test_head_on_reference_checkpoint(fixture):
    directory = REFERENCE_MODELS / fixture
    config = json.loads((directory / "config.json").read_text())
    tensors = load_file(directory / "model.safetensors")
    oracle = np.load(directory / "oracle.npz")
    head, used = build_head(config, tensors)
    head_keys = {k for k in tensors if not k.startswith("model.encoder_model.")}
    assert used == head_keys

    for split in ("A", "B"):
        pooled, classes, class_mask, logits = run_head(
            head,
            config,
            oracle[f"{split}_out_backbone_last_hidden_state"],
            oracle[f"{split}_in_input_ids"],
            oracle[f"{split}_in_attention_mask"],
            int(oracle[f"{split}_max_num_classes"]),
        )
        for actual, key in (
            (pooled, "text_embeddings"),
            (classes, "class_embeddings"),
            (logits, "logits"),
        ):
            expected = oracle[f"{split}_out_{key}"]
            # 1e-5 absolute, plus float32 rounding of large values ("sum"
            # pooling reaches |logit| ~ 370 here): 1e-6 of the largest value
            # is ~12 float32 ulps of it. Both sides run only the head, on the
            # same stored float32 states, so only the head's rounding (the
            # order of the sum over ~40 states) differs. Measured on an AVX2
            # machine: uni_deberta_sum's logits (|191|) at most 8.4e-5 of the
            # 2.0e-4 allowed (~5.5 ulps; torch 5.3e-5, jax 6.1e-5, tensorflow
            # 7.6e-5, jax with XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 8.4e-5),
            # every other value below 0.2 of its tolerance.
            assert_close(actual, expected, atol=ATOL + 1e-6 * np.abs(expected).max())
        np.testing.assert_array_equal(to_np(class_mask), oracle[f"{split}_out_class_mask"])

    if "segment_embeddings" in head:
        for split in ("A", "PE"):
            segment_ids = head["segment_embeddings"].segment_ids(oracle[f"{split}_in_input_ids"])
            np.testing.assert_array_equal(to_np(segment_ids), oracle[f"{split}_segment_ids"])


def test_hopfield_leaves_padded_class_slots_out_of_its_softmax():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    scorer = HopfieldScorer(hidden_dim=8)
    text = rng.normal(size=(2, 8)).astype("float32")
    classes = rng.normal(size=(2, 3, 8)).astype("float32")
    alone = keras.ops.convert_to_numpy(scorer(text, classes))
    # Large padded vectors dominate an unmasked softmax whatever the initial weights.
    extra = 20.0 * rng.normal(size=(2, 2, 8)).astype("float32")
    padded = np.concatenate([classes, extra], axis=1)
    mask = np.array([[1, 1, 1, 0, 0]] * 2, "int32")
    with_mask = keras.ops.convert_to_numpy(scorer(text, padded, class_mask=mask))
    np.testing.assert_allclose(with_mask[:, :3], alone, atol=1e-6)
    # Without the mask the padded slots change the real ones (the reference's bug).
    without = keras.ops.convert_to_numpy(scorer(text, padded))
    assert np.abs(without[:, :3] - alone).max() > 1e-4


# --------------------------------------------------------------------------
# ContrastiveLabelLoss
# --------------------------------------------------------------------------


def test_contrastive_label_loss_adds_its_term_and_passes_the_embeddings_through():
    classes = rand(B, K, D, seed=14)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], "int32")
    layer = ContrastiveLabelLoss(0.5)
    assert_close(layer(classes, mask), classes, atol=0)
    expected = 0.5 * to_np(sequence_contrastive_loss(classes, mask, padded_negatives=False))
    assert len(layer.losses) == 1
    assert_close(layer.losses[0], expected)
    config = layer.get_config()
    assert config["coefficient"] == 0.5
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is ContrastiveLabelLoss and revived.get_config() == config


# --------------------------------------------------------------------------
# Every layer takes the dtype policy it is given
# --------------------------------------------------------------------------

POLICY_TOKEN_IDS = np.array([[1, 5, 9, 5, 8, 6, 7], [1, 5, 9, 6, 7, 7, 2], [1, 5, 6, 7, 0, 0, 0]])
POLICY_CASES = {
    "TokenPooler": (lambda **kw: TokenPooler("avg", **kw), lambda: (rand(B, L, D),), {"mask": MASK}),
    "FeaturesProjector": (lambda **kw: FeaturesProjector(6, D, **kw), lambda: (rand(B, D),), {}),
    "BiEncoderProjector": (lambda **kw: BiEncoderProjector(6, D, **kw), lambda: (rand(B, 5),), {}),
    "DotScorer": (DotScorer, lambda: (rand(B, D), rand(B, K, D)), {}),
    "WeightedDotScorer": (lambda **kw: WeightedDotScorer(D, **kw), lambda: (rand(B, D), rand(B, K, D)), {}),
    "MLPScorer": (lambda **kw: MLPScorer(8, **kw), lambda: (rand(B, D), rand(B, K, D)), {}),
    "HopfieldScorer": (
        lambda **kw: HopfieldScorer(D, mlp_hidden_dim=8, **kw),
        lambda: (rand(B, D), rand(B, K, D)),
        {},
    ),
    "CrossAttentionScorer": (
        lambda **kw: CrossAttentionScorer(D, num_heads=2, mlp_hidden_dim=8, **kw),
        lambda: (rand(B, L, D), rand(B, K, D)),
        {"text_mask": MASK},
    ),
    "LogitScale": (LogitScale, lambda: (rand(B, K),), {}),
    "TextLSTM": (lambda **kw: TextLSTM(D, **kw), lambda: (rand(B, L, D),), {"mask": MASK}),
    "SegmentEmbedding": (lambda **kw: SegmentEmbedding(D, 6, 7, **kw), lambda: (POLICY_TOKEN_IDS,), {}),
    "LayerwiseAttention": (
        lambda **kw: LayerwiseAttention(3, D, **kw),
        lambda: ([rand(B, L, D, seed=i) for i in range(3)],),
        {"mask": MASK},
    ),
    "ClassTokenExtractor": (
        lambda **kw: ClassTokenExtractor(5, 6, **kw),
        lambda: (rand(B, L, D), POLICY_TOKEN_IDS, MASK, np.ones((B, 2), "int32")),
        {},
    ),
    "ClassTokenInjector": (
        lambda **kw: ClassTokenInjector(5, **kw),
        lambda: (rand(B, 2, D), POLICY_TOKEN_IDS, np.ones((B, 2), "int32")),
        {},
    ),
    "ContrastiveLabelLoss": (
        lambda **kw: ContrastiveLabelLoss(0.5, **kw),
        lambda: (rand(B, K, D), np.ones((B, K), "int32")),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(POLICY_CASES))
def test_layer_takes_the_dtype_policy_it_is_given(name):
    make, inputs, kwargs = POLICY_CASES[name]
    layer = make(dtype="mixed_bfloat16")
    outputs = layer(*inputs(), **kwargs)
    for sublayer in layer._flatten_layers(include_self=True):
        assert sublayer.dtype_policy.name == "mixed_bfloat16", sublayer.name
    assert all(v.dtype == "float32" for v in layer.weights)
    if isinstance(outputs, dict):  # the extractor's and the injector's float output
        outputs = outputs.get("class_embeddings", outputs.get("embeddings"))
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
