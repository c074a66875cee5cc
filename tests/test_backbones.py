"""Backbones: HF config/weight conversion and `BackboneEncoder` parity.

Hugging Face models are tiny, seeded and re-initialised with a "spread" init
so that hidden states are O(1); every hidden state is compared on every real
(non-padded) token to 1e-5. Padded positions are never read by GLiClass-Keras,
whose pooling honours the padding mask. Measured on an AVX2 machine (torch,
jax, tensorflow), test_all_hidden_states_match_hf's states (ours and
transformers' float32 ones) are at most 1.7e-6 apart, transformers' own
1.4e-6 from float64 ones, so 1e-5 is over five times the float32 noise
(where a model's noise is larger, the tests compare with a float64 copy
instead: tests/parity.py).
"""

import json
import pathlib

import keras
import keras_hub
import numpy as np
import pytest
from safetensors.numpy import load_file

from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.backbones.bert import ExactGeluBertBackbone
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights
from gliclass_keras.convert.transformers.weight_porting import linear_kernel

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REFERENCE_MODELS = pathlib.Path(__file__).parent / "fixtures" / "reference"
ATOL = 1e-5
HIDDEN = 32
PREFIX = "encoder_model."
# Sizes of the committed reference models, so that backends that compile
# per shape (jax) reuse their compiled ops across tests.
VOCAB = {"deberta": 150, "bert": 333}
# Three padded sequences per kind; the DeBERTa ones are longer than
# position_buckets // 2, so log-bucketed relative positions are exercised.
LENGTHS = {"deberta": (72, 39, 9), "bert": (30, 17, 5)}


def _hf_config(kind):
    if kind == "deberta":  # as make_reference_models.backbone_config
        return transformers.DebertaV2Config(
            vocab_size=VOCAB[kind], hidden_size=HIDDEN, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=2 * HIDDEN,
            max_position_embeddings=256, relative_attention=True,
            pos_att_type=["p2c", "c2p"], position_buckets=32,
            max_relative_positions=-1, position_biased_input=False,
            type_vocab_size=0, norm_rel_ebd="layer_norm", share_att_key=True,
            pad_token_id=0, hidden_act="gelu",
        )
    return transformers.BertConfig(
        vocab_size=VOCAB[kind], hidden_size=HIDDEN, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=2 * HIDDEN,
        max_position_embeddings=256, pad_token_id=0,
    )


def _spread_init(model, seed):
    """N(0, 1/sqrt(fan_in)) matrices, 1 + N(0, .1) norms, N(0, .1) biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                std = 1.0 / float(np.sqrt(p.shape[-1]))
                p.copy_(torch.randn(p.shape, generator=g) * std)
            elif "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


class _Reference:
    """A tiny HF model, its numpy state dict and a padded batch."""

    def __init__(self, kind, seed=0):
        torch.manual_seed(seed)
        config = _hf_config(kind)
        model_cls = (
            transformers.DebertaV2Model
            if kind == "deberta"
            else transformers.BertModel
        )
        self.model = model_cls(config).eval()
        _spread_init(self.model, seed)
        self.config = config.to_dict()
        self.tensors = {
            PREFIX + k: v.detach().numpy().copy()
            for k, v in self.model.state_dict().items()
        }
        rng = np.random.default_rng(seed)
        lengths = LENGTHS[kind]
        self.mask = np.zeros((len(lengths), max(lengths)), "int32")
        for row, n in enumerate(lengths):
            self.mask[row, :n] = 1
        ids = rng.integers(1, VOCAB[kind], self.mask.shape)
        self.ids = ids.astype("int32")
        self.ids[self.mask == 0] = 0
        self.extra = rng.normal(0, 0.5, self.mask.shape + (HIDDEN,))
        self.extra = self.extra.astype("float32")
        self._converted = None

    def hidden_states(self, extra=None, replace=None, replace_mask=None):
        ids = torch.tensor(self.ids, dtype=torch.long)
        kwargs = {"attention_mask": torch.tensor(self.mask)}
        if extra is None and replace is None:
            kwargs["input_ids"] = ids
        else:
            word = self.model.get_input_embeddings()(ids)
            if replace is not None:
                where = torch.tensor(replace_mask.astype(bool))[..., None]
                word = torch.where(where, torch.tensor(replace), word)
            if extra is not None:
                word = word + torch.tensor(extra)
            kwargs["inputs_embeds"] = word
        with torch.no_grad():
            out = self.model(**kwargs, output_hidden_states=True)
        return [h.numpy() for h in out.hidden_states]

    def backbone(self):
        """The converted backbone and consumed keys (built once, shared)."""
        if self._converted is None:
            backbone = backbone_from_hf_config(self.config)
            consumed = load_hf_backbone_weights(backbone, self.tensors, PREFIX)
            self._converted = backbone, consumed
        return self._converted


@pytest.fixture(scope="module", params=["deberta", "bert"])
def reference(request):
    return _Reference(request.param)


def _max_diff(keras_states, hf_states, mask=None):
    """Largest difference over real tokens (all positions without a mask)."""
    assert len(keras_states) == len(hf_states)
    real = slice(None) if mask is None else np.asarray(mask).astype(bool)
    return max(
        float(np.abs(keras.ops.convert_to_numpy(k) - h)[real].max())
        for k, h in zip(keras_states, hf_states)
    )


# ----------------------------------------------------------------------------
# parity with Hugging Face
# ----------------------------------------------------------------------------
def test_all_hidden_states_match_hf(reference):
    backbone, consumed = reference.backbone()
    expected = {k for k in reference.tensors if not k.endswith("position_ids")}
    assert consumed == expected
    encoder = BackboneEncoder(backbone)
    states = encoder(reference.ids, reference.mask)
    assert len(states) == backbone.num_layers + 1 == encoder.num_hidden_states
    hf_states = reference.hidden_states()
    assert np.abs(hf_states[-1]).mean() > 0.1  # not trivially small
    assert _max_diff(states, hf_states, reference.mask) < ATOL


def test_extra_embeddings_match_hf_inputs_embeds(reference):
    backbone, _ = reference.backbone()
    encoder = BackboneEncoder(backbone)
    states = encoder(
        reference.ids, reference.mask, extra_embeddings=reference.extra
    )
    hf_states = reference.hidden_states(extra=reference.extra)
    assert _max_diff(states, hf_states, reference.mask) < ATOL
    # The extra embeddings really change the result.
    assert _max_diff(states, reference.hidden_states(), reference.mask) > 1e-2


def test_replace_embeddings_match_hf_inputs_embeds(reference):
    # The bi-encoder-fused hook: word embeddings replaced at some positions
    # (HF `inputs_embeds[b, s] = vector`), segment-style extras still added.
    backbone, _ = reference.backbone()
    encoder = BackboneEncoder(backbone)
    rng = np.random.default_rng(3)
    replace = rng.normal(0, 1, reference.extra.shape).astype("float32")
    replace_mask = (rng.random(reference.mask.shape) < 0.3).astype("int32")
    states = encoder(
        reference.ids,
        reference.mask,
        extra_embeddings=reference.extra,
        replace_embeddings=replace,
        replace_mask=replace_mask,
    )
    hf_states = reference.hidden_states(reference.extra, replace, replace_mask)
    assert _max_diff(states, hf_states, reference.mask) < ATOL
    assert _max_diff(states, reference.hidden_states(reference.extra), reference.mask) > 1e-2
    with pytest.raises(ValueError, match="replace_mask"):
        encoder(reference.ids, reference.mask, replace_embeddings=replace)


def test_last_state_matches_keras_hub_backbone_on_real_tokens(reference):
    backbone, _ = reference.backbone()
    inputs = {"token_ids": reference.ids, "padding_mask": reference.mask}
    if isinstance(backbone, keras_hub.models.BertBackbone):
        inputs["segment_ids"] = np.zeros_like(reference.ids)
        hub = backbone(inputs)["sequence_output"]
    else:
        hub = backbone(inputs)
    states = BackboneEncoder(backbone)(reference.ids, reference.mask)
    real = reference.mask.astype(bool)
    diff = keras.ops.convert_to_numpy(states[-1] - hub)
    assert np.abs(diff[real]).max() < ATOL


@pytest.mark.parametrize("name", ["uni_deberta_default", "uni_bert_default"])
def test_reference_checkpoint_backbone(name):
    directory = REFERENCE_MODELS / name
    with open(directory / "config.json") as f:
        hf_config = json.load(f)["encoder_config"]
    tensors = load_file(directory / "model.safetensors")
    prefix = "model.encoder_model."
    vocabulary_size = tensors[prefix + "embeddings.word_embeddings.weight"]
    backbone = backbone_from_hf_config(
        hf_config, vocabulary_size=vocabulary_size.shape[0]
    )
    consumed = load_hf_backbone_weights(backbone, tensors, prefix)
    assert consumed == {k for k in tensors if k.startswith(prefix)}
    oracle = np.load(directory / "oracle.npz")
    ids = oracle["A_in_input_ids"]
    mask = oracle["A_in_attention_mask"]
    assert (mask == 0).any()  # a padded batch
    states = BackboneEncoder(backbone)(ids, mask)
    expected = oracle["A_out_backbone_last_hidden_state"]
    last = keras.ops.convert_to_numpy(states[-1])
    # Real tokens match; padded positions are never read (pooling is masked).
    real = mask.astype(bool)
    assert np.abs(last - expected)[real].max() < ATOL


# ----------------------------------------------------------------------------
# the encoder layer
# ----------------------------------------------------------------------------
def _functional_model(backbone):
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    extra = keras.Input((None, HIDDEN), name="extra_embeddings")
    states = BackboneEncoder(backbone, name="encoder")(
        token_ids, padding_mask, extra_embeddings=extra
    )
    inputs = {
        "token_ids": token_ids,
        "padding_mask": padding_mask,
        "extra_embeddings": extra,
    }
    return keras.Model(inputs, states)


def test_functional_model_save_and_load(reference, tmp_path):
    backbone, _ = reference.backbone()
    model = _functional_model(backbone)
    # No variables besides the backbone's.
    assert {id(v) for v in model.weights} == {id(v) for v in backbone.weights}
    inputs = {
        "token_ids": reference.ids,
        "padding_mask": reference.mask,
        "extra_embeddings": reference.extra,
    }
    hf_states = reference.hidden_states(reference.extra)
    eager = [keras.ops.convert_to_numpy(s) for s in model(inputs)]
    assert len(eager) == backbone.num_layers + 1
    assert _max_diff(eager, hf_states, reference.mask) < ATOL
    # Compiled (jit / tf.function) graph.
    assert _max_diff(model.predict_on_batch(inputs), hf_states, reference.mask) < ATOL

    path = tmp_path / "encoder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    encoder = loaded.get_layer("encoder")
    assert type(encoder.backbone) is type(backbone)
    reloaded = [keras.ops.convert_to_numpy(s) for s in loaded(inputs)]
    for a, b in zip(reloaded, eager):
        np.testing.assert_array_equal(a, b)


def test_get_config_round_trip(reference):
    backbone, _ = reference.backbone()
    encoder = BackboneEncoder(backbone, name="enc")
    config = encoder.get_config()
    json.dumps(config)  # plain JSON
    clone = BackboneEncoder.from_config(config)
    assert clone.name == "enc"
    assert type(clone.backbone) is type(backbone)
    assert clone.backbone.get_config() == backbone.get_config()
    assert clone.get_config() == config
    for source, target in zip(backbone.weights, clone.backbone.weights):
        target.assign(source)
    a = encoder(reference.ids, reference.mask)
    b = clone(reference.ids, reference.mask)
    assert _max_diff(a, [keras.ops.convert_to_numpy(x) for x in b]) == 0.0


def test_symbolic_output_spec(reference):
    backbone, _ = reference.backbone()
    token_ids = keras.Input((None,), dtype="int32")
    padding_mask = keras.Input((None,), dtype="int32")
    states = BackboneEncoder(backbone)(token_ids, padding_mask)
    assert isinstance(states, list)
    assert len(states) == backbone.num_layers + 1
    for state in states:
        assert tuple(state.shape) == (None, None, HIDDEN)


def test_dropout_is_active_in_training(reference):
    backbone, _ = reference.backbone()
    encoder = BackboneEncoder(backbone)
    inference = encoder(reference.ids, reference.mask, training=False)
    training = encoder(reference.ids, reference.mask, training=True)
    inference = [keras.ops.convert_to_numpy(x) for x in inference]
    assert _max_diff(training, inference) > 1e-3


def test_encoder_rejects_unsupported_backbone():
    with pytest.raises(TypeError, match="backbone"):
        BackboneEncoder(keras.layers.Dense(4))


# ----------------------------------------------------------------------------
# ExactGeluBertBackbone
# ----------------------------------------------------------------------------
def _tiny_bert(cls=ExactGeluBertBackbone, **kwargs):
    return cls(
        vocabulary_size=VOCAB["bert"], num_layers=2, num_heads=2,
        hidden_dim=HIDDEN, intermediate_dim=2 * HIDDEN, max_sequence_length=16,
        **kwargs,
    )


def _bert_output(backbone, ids):
    return keras.ops.convert_to_numpy(
        backbone(
            {
                "token_ids": ids,
                "segment_ids": np.zeros_like(ids),
                "padding_mask": np.ones_like(ids),
            }
        )["sequence_output"]
    )


def test_exact_gelu_bert_activation_and_config():
    ids = np.arange(1, 13, dtype="int32").reshape(2, 6)
    plain = _tiny_bert(keras_hub.models.BertBackbone)
    exact = _tiny_bert()
    tanh = _tiny_bert(hidden_activation="gelu_new")
    assert exact.get_config()["hidden_activation"] == "gelu"
    # Same weights everywhere, kernels scaled up so pre-activations are O(1).
    for variable in plain.weights:
        if len(variable.shape) >= 2:
            variable.assign(variable * 20.0)
    for backbone in (exact, tanh):
        for source, target in zip(plain.weights, backbone.weights):
            target.assign(source)
    # tanh GELU == keras-hub's BertBackbone; exact GELU differs from it.
    reference = _bert_output(plain, ids)
    np.testing.assert_allclose(_bert_output(tanh, ids), reference, atol=1e-6)
    assert np.abs(_bert_output(exact, ids) - reference).max() > 1e-4
    clone = ExactGeluBertBackbone.from_config(tanh.get_config())
    assert clone.hidden_activation == "gelu_new"
    for backbone in (clone, tanh):
        layer = backbone.transformer_layers[0]
        dense = layer._feedforward_intermediate_dense
        assert dense.activation is layer.activation
    assert clone.transformer_layers[0].activation is (
        tanh.transformer_layers[0].activation
    )


def test_exact_gelu_bert_rejects_unknown_activation():
    with pytest.raises(ValueError, match="hidden_activation"):
        _tiny_bert(hidden_activation="swish")


# ----------------------------------------------------------------------------
# config conversion
# ----------------------------------------------------------------------------
def test_deberta_config_mapping():
    config = _hf_config("deberta").to_dict()
    backbone = backbone_from_hf_config(config, vocabulary_size=77)
    assert isinstance(backbone, keras_hub.models.DebertaV3Backbone)
    assert backbone.vocabulary_size == 77
    assert backbone.bucket_size == 32
    # max_relative_positions=-1 -> max_position_embeddings, the value
    # keras-hub uses in its log-bucket formula.
    assert backbone.max_sequence_length == 256
    assert backbone.dropout == config["hidden_dropout_prob"]
    config["max_relative_positions"] = 128
    assert backbone_from_hf_config(config).max_sequence_length == 128


def test_bert_config_mapping():
    config = _hf_config("bert").to_dict()
    config["hidden_act"] = "relu"
    backbone = backbone_from_hf_config(config)
    assert isinstance(backbone, ExactGeluBertBackbone)
    assert backbone.hidden_activation == "relu"
    assert backbone.num_segments == 2
    assert backbone.max_sequence_length == 256


@pytest.mark.parametrize(
    "kind, field, value",
    [
        ("deberta", "model_type", "electra"),
        ("deberta", "position_biased_input", True),
        ("deberta", "layer_norm_eps", 1e-5),
        ("deberta", "share_att_key", False),
        ("deberta", "pos_att_type", ["c2p"]),
        ("deberta", "position_buckets", -1),
        ("bert", "hidden_act", "silu"),
        ("bert", "layer_norm_eps", 1e-5),
    ],
)
def test_unsupported_config_raises(kind, field, value):
    config = _hf_config(kind).to_dict()
    config[field] = value
    with pytest.raises(ValueError, match=field) as info:
        backbone_from_hf_config(config)
    assert repr(value) in str(info.value)


def test_config_must_be_a_dict():
    with pytest.raises(TypeError, match="hf_config"):
        backbone_from_hf_config("deberta-v2")


# ----------------------------------------------------------------------------
# weight loading errors
# ----------------------------------------------------------------------------
def test_missing_key_is_named(reference):
    backbone, _ = reference.backbone()  # errors leave it unchanged
    tensors = dict(reference.tensors)
    missing = PREFIX + "encoder.layer.1.output.dense.weight"
    del tensors[missing]
    with pytest.raises(ValueError, match=missing.replace(".", r"\.")):
        load_hf_backbone_weights(backbone, tensors, PREFIX)
    with pytest.raises(ValueError, match="wrong_prefix.embeddings"):
        load_hf_backbone_weights(backbone, reference.tensors, "wrong_prefix.")


def test_shape_mismatch_is_reported_and_nothing_assigned(reference):
    backbone, _ = reference.backbone()
    before = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings)
    tensors = dict(reference.tensors)
    key = PREFIX + "encoder.layer.0.intermediate.dense.weight"
    tensors[key] = tensors[key][:, :-1]
    with pytest.raises(ValueError, match="intermediate.dense.weight"):
        load_hf_backbone_weights(backbone, tensors, PREFIX)
    after = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings)
    np.testing.assert_array_equal(before, after)


def test_bert_without_pooler_loads():
    reference = _Reference("bert", seed=1)
    tensors = {
        k: v for k, v in reference.tensors.items() if ".pooler." not in k
    }
    backbone = backbone_from_hf_config(reference.config)
    consumed = load_hf_backbone_weights(backbone, tensors, PREFIX)
    assert not any("pooler" in k for k in consumed)


def test_linear_kernel_splits_heads_like_hf():
    weight = np.arange(24, dtype="float32").reshape(6, 4)  # (out, in)
    kernel = linear_kernel(weight, (4, 2, 3))
    # out index h * head_dim + d -> kernel[:, h, d]
    np.testing.assert_array_equal(kernel[:, 1, 2], weight[5])
    with pytest.raises(ValueError, match="expected shape"):
        linear_kernel(weight, (6, 4))


@pytest.mark.parametrize("whole_table", ["by_length", "never"])
def test_deberta_reads_only_the_relative_rows_it_needs(monkeypatch, whole_table):
    # Short sequences read 2 L - 1 rows of the relative table (the ONNX
    # graph always does, as its length is symbolic); long ones the whole
    # table. Both must give Hugging Face's states at every length: below
    # position_buckets // 2 (exact buckets), past it (log buckets) and past
    # position_buckets (rows repeated when the whole table is never read).
    from gliclass_keras.backbones import deberta_v3

    if whole_table == "never":
        monkeypatch.setattr(deberta_v3, "_whole_table_is_smaller", lambda length, span: False)
    reference = _Reference("deberta", seed=1)
    backbone, _ = reference.backbone()
    encoder = BackboneEncoder(backbone)
    reads = []
    original = deberta_v3._relative_reads
    monkeypatch.setattr(deberta_v3, "_relative_reads", lambda *a, **k: reads.append(original(*a, **k)) or reads[-1])
    # 1 to 17 tokens: every distance its own bucket, read by relative shifts (no gather)
    for length in (1, 2, 9, 17, 18, 31, 32, 33, 72):
        ids = torch.tensor(reference.ids[:1, :length], dtype=torch.long)
        with torch.no_grad():
            hf = reference.model(input_ids=ids, output_hidden_states=True).hidden_states
        states = encoder(reference.ids[:1, :length], np.ones((1, length), "int32"))
        assert _max_diff(states, [h.numpy() for h in hf]) < ATOL, length
        assert (reads[-1][1] is None) == (length <= 17), length


@pytest.mark.parametrize("kind", ["bert", "deberta"])
def test_fused_inference_projections_equal_the_layers_own_calls(kind, monkeypatch):
    # On torch and TensorFlow, BERT and DeBERTa-v3 inference run attention projections and
    # feed-forward layers as fused products (`fused_projections`); they must
    # give the values of the layers' own calls, and LoRA adapters must be kept.
    from gliclass_keras.backbones import bert
    from gliclass_keras.backbones import deberta_v3
    from gliclass_keras.backbones import fused_projections

    if kind == "bert":
        backbone, hidden_states = _tiny_bert(), bert.bert_hidden_states
    else:
        backbone = keras_hub.models.DebertaV3Backbone(
            vocabulary_size=VOCAB["deberta"], num_layers=2, num_heads=2, hidden_dim=HIDDEN,
            intermediate_dim=2 * HIDDEN, max_sequence_length=16, bucket_size=8,
        )
        hidden_states = deberta_v3.deberta_v3_hidden_states
    for variable in backbone.weights:
        if len(variable.shape) >= 1:
            variable.assign(np.random.default_rng(len(variable.path)).normal(0, 0.2, variable.shape))
    ids = np.arange(1, 13, dtype="int32").reshape(2, 6)
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], dtype="int32")

    def last_state():
        states = hidden_states(backbone, ids, mask, training=False)
        return keras.ops.convert_to_numpy(states[-1])[mask.astype(bool)]

    layer = backbone.transformer_layers[0]
    attention = layer._self_attention_layer
    sublayers = (
        attention._query_dense, attention._key_dense, attention._value_dense,
        attention._output_dense, layer._feedforward_intermediate_dense,
        layer._feedforward_output_dense,
    )
    assert fused_projections.fusable(*sublayers) == (keras.config.backend() in ("torch", "tensorflow"))
    fused = last_state()
    with monkeypatch.context() as patch:
        patch.setattr(fused_projections, "fusable", lambda *layers: False)
        unfused = last_state()
    np.testing.assert_allclose(fused, unfused, atol=1e-5)
    assert np.abs(fused).max() > 0.1
    # LoRA: the adapted kernel is what both paths use
    attention._value_dense.enable_lora(2)
    attention._value_dense.lora_kernel_b.assign(np.full(attention._value_dense.lora_kernel_b.shape, 1.0))
    adapted = last_state()
    assert np.abs(adapted - fused).max() > 1e-3
    with monkeypatch.context() as patch:
        patch.setattr(fused_projections, "fusable", lambda *layers: False)
        np.testing.assert_allclose(last_state(), adapted, atol=1e-5)


def test_fused_projections_leave_quantized_and_mixed_precision_layers_alone():
    from gliclass_keras.backbones import fused_projections

    dense = keras.layers.Dense(4)
    dense.build((None, 3))
    assert fused_projections.fusable(dense) == (keras.config.backend() in ("torch", "tensorflow"))
    mixed = keras.layers.Dense(4, dtype="mixed_bfloat16")
    mixed.build((None, 3))
    no_bias = keras.layers.Dense(4, use_bias=False)  # ModernBERT's dense layers: fusable
    no_bias.build((None, 3))
    assert fused_projections.fusable(no_bias) == (keras.config.backend() in ("torch", "tensorflow"))
    no_bias = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 2))  # a projection without bias
    no_bias.build((None, None, 3))
    quantized = keras.layers.Dense(4)
    quantized.build((None, 3))
    quantized.quantize("int8")
    einsum = keras.layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c")
    einsum.build((None, 3))
    for layer in (mixed, no_bias, quantized, einsum):
        assert not fused_projections.fusable(layer), layer


@pytest.mark.skipif(keras.config.backend() != "torch", reason="oneDNN's fused linear kernel is torch's")
@pytest.mark.parametrize("activation", ["linear", "gelu", "gelu_new", "relu", "tanh"])
def test_torch_inference_linear_runs_onednn_with_its_activation_fused(activation, monkeypatch):
    # Torch inference on a CPU runs `fused_projections.linear` as oneDNN's product with the
    # bias and (exact or tanh) GELU / ReLU fused; values equal the plain product's, and
    # anything that needs a gradient keeps `torch.nn.functional.linear`.
    import torch

    from gliclass_keras.backbones import fused_projections
    from gliclass_keras.utils.activations import get_backbone_activation

    if activation in ("linear", "tanh"):
        fn = {"linear": None, "tanh": keras.activations.tanh}[activation]
    else:
        fn = get_backbone_activation(activation)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(3, 7, 48)), dtype=torch.float32)
    kernel = torch.tensor(rng.normal(0, 0.3, size=(48, 40)), dtype=torch.float32)
    bias = torch.tensor(rng.normal(size=(40,)), dtype=torch.float32)
    expected = x.double() @ kernel.double() + bias.double()
    if fn is not None:
        expected = torch.tensor(np.asarray(keras.ops.convert_to_numpy(fn(expected.float().double()))))
    assert fused_projections._onednn_works()  # torch's CPU wheels have oneDNN
    calls = []
    original = torch.ops.mkldnn._linear_pointwise

    def spy(*args):
        calls.append(args[3])
        return original(*args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", spy)
    with torch.no_grad():
        got = fused_projections.linear(x, kernel, bias, fn)
    assert calls == [{"gelu": "gelu", "gelu_new": "gelu", "relu": "relu"}.get(activation, "none")]
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=2e-5)
    assert got.shape == (3, 7, 40)
    # switched off: the plain product gives the same values
    monkeypatch.setattr(fused_projections, "_ONEDNN_LINEAR", [False])
    with torch.no_grad():
        plain = fused_projections.linear(x, kernel, bias, fn)
    np.testing.assert_allclose(got.numpy(), plain.numpy(), atol=2e-5)
    monkeypatch.setattr(fused_projections, "_ONEDNN_LINEAR", [True])
    # a product that needs a gradient: oneDNN's product forward and for the input's
    # gradient (the activation applied after it), the same gradients as torch's linear
    for onednn_training, expected_calls in ((True, ["none", "none"]), (False, [])):
        monkeypatch.setattr(fused_projections, "_ONEDNN_TRAINING", [onednn_training])
        calls.clear()
        inputs = x.clone().requires_grad_(True)
        weights = kernel.clone().requires_grad_(True)
        offsets = bias.clone().requires_grad_(True)
        out = fused_projections.linear(inputs, weights, offsets, fn)
        (out * torch.linspace(-1, 1, 40)).sum().backward()
        assert calls == expected_calls
        np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), atol=2e-5)
        ref_inputs = x.clone().requires_grad_(True)
        ref_weights = kernel.clone().requires_grad_(True)
        ref_offsets = bias.clone().requires_grad_(True)
        y = torch.nn.functional.linear(ref_inputs.double(), ref_weights.double().T, ref_offsets.double())
        ((y if fn is None else fn(y)) * torch.linspace(-1, 1, 40).double()).sum().backward()
        for got_grad, ref_grad in ((inputs, ref_inputs), (weights, ref_weights), (offsets, ref_offsets)):
            np.testing.assert_allclose(got_grad.grad.numpy(), ref_grad.grad.numpy(), atol=2e-5)
        assert np.abs(weights.grad.numpy()).max() > 0.1


@pytest.mark.skipif(keras.config.backend() != "torch", reason="oneDNN's fused linear kernel is torch's")
def test_onednn_linear_can_be_switched_off_by_environment():
    import os
    import subprocess
    import sys

    script = (
        "from gliclass_keras.backbones import fused_projections as f, bert; import torch;"
        "x = torch.ones(2, 3, 4); k = torch.ones(4, 5); b = torch.zeros(5);"
        "f._onednn_works(); calls = [];"
        "original = torch.ops.mkldnn._linear_pointwise;"
        "torch.ops.mkldnn._linear_pointwise = lambda *a: calls.append(1) or original(*a);"
        "torch.set_grad_enabled(False); y = f.linear(x, k, b);"
        "print(f._ONEDNN_LINEAR[0], len(calls), float(y.sum()))"
    )
    for value, expected in (("0", "False 0 120.0"), ("1", "True 1 120.0")):
        env = dict(os.environ, KERAS_BACKEND="torch", GLICLASS_KERAS_ONEDNN_LINEAR=value)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == expected, out.stdout


def test_attention_products_equal_the_einsums_they_replace():
    # Heads-first batched products (`attention_products`) must give the
    # einsums' values on every backend.
    from gliclass_keras.backbones import attention_products

    rng = np.random.default_rng(0)
    query, key, value = (rng.normal(size=(3, 7, 4, 5)).astype("float32") for _ in range(3))
    table = rng.normal(size=(2, 6, 4, 5)).astype("float32")  # (blocks, rows, heads, head_dim)
    probs = rng.random(size=(3, 4, 7, 7)).astype("float32")
    as_numpy = keras.ops.convert_to_numpy
    np.testing.assert_allclose(
        as_numpy(attention_products.attention_scores(query, key)),
        np.einsum("bqhd,bkhd->bhqk", query, key), atol=1e-5,
    )
    np.testing.assert_allclose(
        as_numpy(attention_products.attention_context(probs, value)),
        np.einsum("bhqk,bkhd->bqhd", probs, value), atol=1e-5,
    )
    # token outermost, then block, then row
    expected = np.einsum("bihd,prhd->bhipr", query, table).reshape(3, 4, 7 * 2 * 6)
    np.testing.assert_allclose(as_numpy(attention_products.position_scores(query, table)), expected, atol=1e-5)


def _numpy_attention(query, key, value, keep, scale):
    scores = np.einsum("bqhd,bkhd->bhqk", query, key) * scale
    scores = np.where(keep[:, None, None, :], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", probs, value)


def test_masked_attention_matches_softmax_attention_in_chunks_of_texts_or_whole(monkeypatch):
    # BERT's inference attention: the plain formula on every backend; on JAX
    # on a CPU, long sequences go a few texts at a time (`cpu_attention_chunk`),
    # which must not change the values.
    from gliclass_keras.backbones import attention_products

    rng = np.random.default_rng(1)
    query, key, value = (rng.normal(size=(6, 9, 3, 4)).astype("float32") for _ in range(3))
    keep = np.ones((6, 9), bool)
    keep[1, 5:] = False
    keep[4, 2:] = False
    expected = _numpy_attention(query, key, value, keep, 0.5)
    key_mask = keep[:, None, None, :]
    # the softmax normalised after the product (JAX's inference form), on every backend
    scores = np.einsum("bqhd,bkhd->bhqk", query, key) * 0.5
    context = attention_products.softmax_context(scores, value, key_mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(context), expected, atol=1e-5)
    for budget in (10**9, 3 * 9 * 9 * 4 * 2, 1):  # whole, 2 texts at a time, 1 at a time
        monkeypatch.setattr(attention_products, "CPU_SCORES_BUDGET", budget)
        out = attention_products.masked_attention(query, key, value, key_mask, 0.5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, atol=1e-5)


def test_attention_is_chunked_only_for_long_sequences_on_a_jax_cpu():
    import jax

    from gliclass_keras.backbones.attention_products import cpu_attention_chunk

    assert jax.default_backend() == "cpu"  # these tests run on CPUs
    # 12 heads: 3 MiB of scores per text at 256 tokens, 8 MiB budget
    assert cpu_attention_chunk(8, 256, 12) == 2
    assert cpu_attention_chunk(8, 320, 12) == 1
    assert cpu_attention_chunk(6, 192, 12) == 3  # the largest divisor of the batch that fits
    assert cpu_attention_chunk(8, 64, 12) is None  # small: the whole batch at once
    assert cpu_attention_chunk(None, 512, 12) is None  # symbolic (export): never
    assert cpu_attention_chunk(8, None, 12) is None
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()[:1]))
    try:
        assert cpu_attention_chunk(8, 256, 12) is None  # a sharded batch stays whole
    finally:
        keras.distribution.set_distribution(None)


def test_deberta_relative_shifts_train_as_the_gathers_do(monkeypatch):
    # Short sequences read DeBERTa-v3's relative scores by shifts instead of
    # gathers (`deberta_v3._relative_shift`): one SGD step must move every
    # weight as the gathers' gradients do.
    from gliclass_keras.backbones import deberta_v3

    def one_step(shift):
        keras.utils.set_random_seed(3)
        backbone = keras_hub.models.DebertaV3Backbone(
            vocabulary_size=VOCAB["deberta"], num_layers=2, num_heads=2, hidden_dim=HIDDEN,
            intermediate_dim=2 * HIDDEN, max_sequence_length=16, bucket_size=16, dropout=0.0,
        )
        encoder = BackboneEncoder(backbone)
        token_ids = keras.Input((7,), dtype="int32")
        mask = keras.Input((7,), dtype="int32")
        pooled = keras.ops.mean(encoder(token_ids, mask)[-1], axis=1)
        model = keras.Model([token_ids, mask], keras.layers.Dense(1, name="out")(pooled))
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        before = [np.array(w) for w in model.get_weights()]
        with monkeypatch.context() as patch:
            if not shift:
                patch.setattr(deberta_v3, "_exact_buckets", lambda length, span: False)
            ids = np.array([[3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3]], "int32")
            model.train_on_batch([ids, np.array([[1] * 7, [1] * 5 + [0] * 2], "int32")], np.array([[1.0], [-1.0]]))
        return before, [np.array(w) for w in model.get_weights()]

    before, shifted = one_step(shift=True)
    before_gather, gathered = one_step(shift=False)
    for b, bg in zip(before, before_gather):
        np.testing.assert_array_equal(b, bg)
    moved = 0
    for b, s, g in zip(before, shifted, gathered):
        np.testing.assert_allclose(s, g, atol=1e-5)
        moved += np.abs(s - b).max() > 1e-4
    assert moved > len(before) // 2
