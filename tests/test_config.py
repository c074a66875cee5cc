import inspect
import json

import pytest

from conftest import REFERENCE_MODELS

from gliclass_keras import GLiClassConfig


def test_every_reference_field_and_default():
    from gliclass import GLiClassModelConfig

    reference = inspect.signature(GLiClassModelConfig.__init__).parameters
    ours = inspect.signature(GLiClassConfig).parameters
    for name, param in reference.items():
        if name in ("self", "kwargs"):
            continue
        assert name in ours, name
        assert ours[name].default == param.default, name


@pytest.mark.parametrize("model_dir", sorted(p.name for p in REFERENCE_MODELS.iterdir()))
def test_reads_reference_config_json(model_dir):
    path = REFERENCE_MODELS / model_dir / "config.json"
    raw = json.loads(path.read_text())
    config = GLiClassConfig.from_json_file(path)
    for key, value in raw.items():
        if key == "encoder_model_name":
            assert config.encoder_model == value
        elif key not in ("architectures", "transformers_version", "dtype", "model_type"):
            assert config.to_dict()[key] == value, key
    again = GLiClassConfig.from_json(config.to_json())
    assert again == config


def test_derived_fields_follow_the_reference():
    from gliclass import GLiClassModelConfig

    encoder = {"model_type": "bert", "hidden_size": 48, "vocab_size": 120, "pad_token_id": 0}
    ref = GLiClassModelConfig(encoder_config=dict(encoder), encoder_model="x")
    ours = GLiClassConfig(encoder_config=dict(encoder), encoder_model="x")
    for field in ("hidden_size", "vocab_size", "class_token_index", "text_token_index",
                  "example_token_index", "pad_token_id"):
        assert getattr(ours, field) == getattr(ref, field), field


def test_unknown_keys_are_kept():
    config = GLiClassConfig.from_dict({"shuffle_labels": True, "pooling_strategy": "avg"})
    assert config.extra == {"shuffle_labels": True}
    assert config.to_dict()["shuffle_labels"] is True


@pytest.mark.parametrize(
    "field, value",
    [
        ("pooling_strategy", "median"),
        ("scorer_type", "bilinear"),
        ("architecture_type", "decoder-only"),
        ("problem_type", "ranking"),
        ("class_token_pooling", "last"),
        ("max_labels_alloc", "sometimes"),
    ],
)
def test_invalid_choices_list_valid_values(field, value):
    with pytest.raises(ValueError) as info:
        GLiClassConfig(**{field: value})
    message = str(info.value)
    assert field in message and repr(value) in message
    valid = {"pooling_strategy": "abs_avg", "scorer_type": "cross-attn",
             "architecture_type": "bi-encoder-fused", "problem_type": "multi_label_classification",
             "class_token_pooling": "average", "max_labels_alloc": "dynamic"}[field]
    assert valid in message


def test_wrong_types():
    with pytest.raises(TypeError, match="encoder_config"):
        GLiClassConfig(encoder_config="deberta")
    with pytest.raises(ValueError, match="dropout"):
        GLiClassConfig(dropout=1.5)
    with pytest.raises(ValueError, match="label_model_config"):
        GLiClassConfig(architecture_type="bi-encoder")
