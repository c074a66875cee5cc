"""`ModernBertBackbone` and its Hugging Face converter against transformers.

A tiny seeded `transformers.ModernBertModel` (4 layers, a global layer every
3, a local window of 8 tokens and different rotary bases) is converted once
per module; a right-padded batch of 20, 13 and 5 tokens exercises the
sliding window and the padding. Every hidden state of the real tokens must
match transformers within 1e-5 (float32). Measured on an AVX2 machine
(torch, jax, tensorflow), test_every_hidden_state_matches_transformers'
states are at most 1.1e-6 apart, transformers' own float32 ones 7e-7 from
float64 ones, so 1e-5 is ten times the float32 noise (where a model's noise
is larger, the tests compare with a float64 copy instead: tests/parity.py).
"""

import json

import keras
import numpy as np
import pytest
import torch
import transformers

from gliclass_keras.backbones.backbone_encoder import BackboneEncoder
from gliclass_keras.backbones.modernbert import ModernBertBackbone
from gliclass_keras.backbones.modernbert import modernbert_hidden_states
from gliclass_keras.convert.transformers import backbone_from_hf_config
from gliclass_keras.convert.transformers import load_hf_backbone_weights

ATOL = 1e-5
VOCAB = 99
LENGTHS = (20, 13, 5)


def _hf_config(**overrides):
    kwargs = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=48,
        global_attn_every_n_layers=3,
        local_attention=8,
        global_rope_theta=1000.0,
        local_rope_theta=50.0,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        cls_token_id=1,
        sep_token_id=2,
    )
    kwargs.update(overrides)
    return transformers.ModernBertConfig(**kwargs)


def _hf_model(config, seed=0):
    """A ModernBertModel with weights spread out enough to matter."""
    torch.manual_seed(seed)
    model = transformers.ModernBertModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * noise)
            elif "tok_embeddings" in name:
                p.copy_(noise)
            elif p.ndim == 2:
                p.copy_(noise * 0.7 / p.shape[1] ** 0.5)
            else:
                p.copy_(0.05 * noise)
    return model


def _state_dict(model, prefix=""):
    return {prefix + k: v.numpy() for k, v in model.state_dict().items()}


def _inputs():
    rng = np.random.default_rng(0)
    length = max(LENGTHS)
    mask = (np.arange(length)[None] < np.array(LENGTHS)[:, None]).astype("int32")
    token_ids = rng.integers(3, VOCAB, (len(LENGTHS), length)).astype("int32") * mask
    return {"token_ids": token_ids, "padding_mask": mask}


def _hf_outputs(model, inputs, inputs_embeds=None):
    with torch.no_grad():
        kwargs = {"attention_mask": torch.tensor(inputs["padding_mask"])}
        if inputs_embeds is None:
            kwargs["input_ids"] = torch.tensor(inputs["token_ids"], dtype=torch.long)
        else:
            kwargs["inputs_embeds"] = torch.tensor(inputs_embeds)
        out = model(**kwargs, output_hidden_states=True)
    return out.last_hidden_state.numpy(), [h.numpy() for h in out.hidden_states]


def _real(x, mask):
    return np.asarray(keras.ops.convert_to_numpy(x))[mask.astype(bool)]


def _max_diff(got, want, mask):
    return float(np.abs(_real(got, mask) - _real(want, mask)).max())


@pytest.fixture(scope="module")
def converted():
    config = _hf_config()
    hf = _hf_model(config)
    backbone = backbone_from_hf_config(config.to_dict())
    prefix = "model.encoder_model."
    consumed = load_hf_backbone_weights(backbone, _state_dict(hf, prefix), prefix)
    inputs = _inputs()
    last, hidden = _hf_outputs(hf, inputs)
    return dict(
        config=config, hf=hf, backbone=backbone, consumed=consumed,
        inputs=inputs, last=last, hidden=hidden,
    )


def test_converted_config(converted):
    backbone = converted["backbone"]
    assert isinstance(backbone, ModernBertBackbone)
    assert backbone.num_layers == 4 and backbone.hidden_dim == 32
    assert backbone.local_attention == 8
    assert backbone.global_attn_every_n_layers == 3
    assert (backbone.global_rope_theta, backbone.local_rope_theta) == (1000.0, 50.0)
    assert not (backbone.norm_bias or backbone.attention_bias or backbone.mlp_bias)
    layers = backbone.transformer_layers
    assert [layer.local_attention for layer in layers] == [None, 8, 8, None]
    assert [layer.rope_max_wavelength for layer in layers] == [1000.0, 50.0, 50.0, 1000.0]
    # Every parameter of the HF model was used (no biases: norm_bias=False ...).
    assert converted["consumed"] == set(_state_dict(converted["hf"], "model.encoder_model."))


def test_last_hidden_state_matches_transformers(converted):
    inputs = converted["inputs"]
    got = converted["backbone"](inputs)
    assert tuple(got.shape) == (3, 20, 32)
    assert _max_diff(got, converted["last"], inputs["padding_mask"]) < ATOL
    # Padded rows are finite.
    assert np.isfinite(keras.ops.convert_to_numpy(got)).all()


def test_every_hidden_state_matches_transformers(converted):
    inputs = converted["inputs"]
    encoder = BackboneEncoder(converted["backbone"])
    got = encoder(inputs["token_ids"], inputs["padding_mask"])
    want = converted["hidden"]
    assert len(got) == len(want) == 5
    for i, (g, w) in enumerate(zip(got, want)):
        assert _max_diff(g, w, inputs["padding_mask"]) < ATOL, i
    # As HF: the last hidden state is the final-normed output.
    assert _max_diff(got[-1], converted["last"], inputs["padding_mask"]) < ATOL


def test_padded_rows_equal_running_each_text_alone(converted):
    inputs, backbone = converted["inputs"], converted["backbone"]
    batched = keras.ops.convert_to_numpy(backbone(inputs))
    for row, length in enumerate(LENGTHS[1:], start=1):
        # predict_on_batch: one compiled graph per shape (eager jax compiles
        # op by op, several times slower for a new shape).
        alone = backbone.predict_on_batch(
            {k: v[row : row + 1, :length] for k, v in inputs.items()}
        )
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(alone)[0], batched[row, :length], atol=ATOL
        )


def test_sliding_window_matters(converted):
    # A window one token narrower or wider each side must not match HF: the
    # inputs really exercise the local layers' window.
    inputs, backbone = converted["inputs"], converted["backbone"]
    local = [layer for layer in backbone.transformer_layers if layer.local_attention]
    try:
        for window in (6, 10):
            for layer in local:
                layer.local_attention = window
            got = backbone(inputs)
            assert _max_diff(got, converted["last"], inputs["padding_mask"]) > 1e-3
    finally:
        for layer in local:
            layer.local_attention = 8


def test_extra_embeddings_are_added_before_the_embedding_norm(converted):
    # GLiClass segment embeddings: HF `inputs_embeds = tok_embeddings(ids) + extra`.
    inputs, hf = converted["inputs"], converted["hf"]
    extra = np.random.default_rng(1).normal(size=(3, 20, 32)).astype("float32")
    with torch.no_grad():
        embeds = hf.embeddings.tok_embeddings(
            torch.tensor(inputs["token_ids"], dtype=torch.long)
        ).numpy()
    _, want = _hf_outputs(hf, inputs, inputs_embeds=embeds + extra)
    got = modernbert_hidden_states(
        converted["backbone"], inputs["token_ids"], inputs["padding_mask"],
        extra_embeddings=extra,
    )
    for i, (g, w) in enumerate(zip(got, want)):
        assert _max_diff(g, w, inputs["padding_mask"]) < ATOL, i


def test_inputs_embeds_replace_the_token_embeddings(converted):
    # The hook behind BackboneEncoder's `replace_embeddings` (bi-encoder-fused).
    inputs, hf = converted["inputs"], converted["hf"]
    embeds = np.random.default_rng(2).normal(size=(3, 20, 32)).astype("float32")
    _, want = _hf_outputs(hf, inputs, inputs_embeds=embeds)
    got = modernbert_hidden_states(
        converted["backbone"], inputs["token_ids"], inputs["padding_mask"],
        inputs_embeds=embeds,
    )
    for i, (g, w) in enumerate(zip(got, want)):
        assert _max_diff(g, w, inputs["padding_mask"]) < ATOL, i


def test_biases_and_tanh_gelu_match_transformers():
    config = _hf_config(
        num_hidden_layers=2, global_attn_every_n_layers=2, norm_bias=True,
        attention_bias=True, mlp_bias=True, hidden_activation="gelu_pytorch_tanh",
        norm_eps=1e-6,
    )
    hf = _hf_model(config, seed=1)
    backbone = backbone_from_hf_config(config.to_dict())
    assert backbone.norm_bias and backbone.attention_bias and backbone.mlp_bias
    assert backbone.layer_norm_epsilon == 1e-6
    consumed = load_hf_backbone_weights(backbone, _state_dict(hf))
    assert consumed == set(_state_dict(hf))
    inputs = _inputs()
    last, _ = _hf_outputs(hf, inputs)
    assert _max_diff(backbone(inputs), last, inputs["padding_mask"]) < ATOL


def test_legacy_and_new_config_formats_agree(converted):
    new = converted["config"].to_dict()
    assert "layer_types" in new and "rope_parameters" in new
    legacy = {
        k: v for k, v in new.items() if k not in ("layer_types", "rope_parameters")
    }
    legacy.update(global_rope_theta=1000.0, local_rope_theta=50.0)
    only_new = {k: v for k, v in new.items() if k != "global_attn_every_n_layers"}
    def config(backbone):
        return {k: v for k, v in backbone.get_config().items() if k != "name"}

    for hf_config in (legacy, only_new):
        assert config(backbone_from_hf_config(hf_config)) == config(converted["backbone"])


def test_get_config_round_trip(converted):
    backbone = converted["backbone"]
    config = backbone.get_config()
    restored = ModernBertBackbone.from_config(json.loads(json.dumps(config)))
    assert isinstance(restored, ModernBertBackbone)
    assert restored.get_config() == config
    for key in ("local_attention", "global_rope_theta", "norm_bias", "hidden_activation"):
        assert config[key] == getattr(backbone, key)


def test_keras_file_round_trip(converted, tmp_path):
    backbone, inputs = converted["backbone"], converted["inputs"]
    path = str(tmp_path / "modernbert.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ModernBertBackbone)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(inputs)),
        keras.ops.convert_to_numpy(backbone(inputs)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"hidden_activation": "swish"}, "hidden_activation"),
        ({"layer_types": ["full_attention"] * 4}, "layer_types"),
        ({"rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 2.0}}},
         "rope_type"),
        ({"local_attention": 0}, "local_attention"),
        ({"norm_bias": "yes"}, "norm_bias"),
        ({"head_dim": 8}, "head_dim"),
    ],
)
def test_unsupported_config_value_names_the_field(converted, overrides, field):
    hf_config = {**converted["config"].to_dict(), **overrides}
    with pytest.raises(ValueError, match=field):
        backbone_from_hf_config(hf_config)


def test_bad_constructor_argument_names_it():
    with pytest.raises(ValueError, match="global_attn_every_n_layers"):
        ModernBertBackbone(
            vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=8,
            intermediate_dim=8, global_attn_every_n_layers=0,
        )
    with pytest.raises(ValueError, match="hidden_dim"):
        ModernBertBackbone(
            vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=6,
            intermediate_dim=8,
        )


def test_missing_keys_and_shape_mismatches_are_named(converted):
    backbone = converted["backbone"]
    tensors = _state_dict(converted["hf"])
    del tensors["layers.2.attn_norm.weight"]
    with pytest.raises(ValueError, match=r"layers\.2\.attn_norm\.weight"):
        load_hf_backbone_weights(backbone, tensors)
    tensors = _state_dict(converted["hf"])
    tensors["layers.1.mlp.Wi.weight"] = tensors["layers.1.mlp.Wi.weight"][:48]
    with pytest.raises(ValueError, match=r"layers\.1\.mlp\.Wi\.weight"):
        load_hf_backbone_weights(backbone, tensors)


def test_fused_dense_products_equal_the_layers_own_calls(converted, monkeypatch):
    # On torch and TensorFlow, ModernBERT's dense layers run as fused products
    # (`fused_projections`: oneDNN's kernel on a torch CPU, also in training on torch);
    # values, and on torch gradients, equal the layers' own calls.
    from gliclass_keras.backbones import fused_projections

    inputs, backbone = converted["inputs"], converted["backbone"]
    layer = backbone.transformer_layers[0]
    assert fused_projections.fusable(layer._qkv_dense, layer._mlp_output_dense) == (
        keras.config.backend() in ("torch", "tensorflow")
    )

    def run(training):
        out = backbone(inputs, training=training)
        if keras.config.backend() != "torch" or not training:
            return keras.ops.convert_to_numpy(out), None
        weights = [w.value for w in backbone.trainable_weights]
        (out * keras.ops.cos(out)).sum().backward()
        grads = [w.grad.detach().numpy().copy() for w in weights]
        for w in weights:
            w.grad = None
        return keras.ops.convert_to_numpy(out.detach()), grads

    for training in (False, True):
        fused, fused_grads = run(training)
        with monkeypatch.context() as patch:
            patch.setattr(fused_projections, "fusable", lambda *layers: False)
            plain, plain_grads = run(training)
        assert _max_diff(fused, plain, inputs["padding_mask"]) < 1e-5
        if fused_grads is not None:
            assert len(fused_grads) == len(plain_grads) > 10
            for a, b in zip(fused_grads, plain_grads):
                np.testing.assert_allclose(a, b, atol=1e-5)
            assert max(np.abs(g).max() for g in fused_grads) > 1e-2
