"""ONNX export of every architecture: dynamic axes, logits equal to the Keras model's."""

import json

import keras
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx_exports import exported
from onnx_exports import keras_model

from gliclass_keras.export import onnx_export

# One fixture per architecture and backbone family.
ARCHITECTURES = [
    "uni_deberta_default",
    "uni_bert_default",
    "uni_modernbert_edge",
    "uni_t5encoder_avg",
    "bi_bert_bert",
    "bifused_deberta_bert",
    "encdec_t5",
    "encdeccls_t5",
]
# Tracing happens in JAX; on the other backends one export per model type
# covers the path through a JAX subprocess.
FIXTURES = ARCHITECTURES if keras.config.backend() == "jax" else ["uni_deberta_default"]

BATCHES = [
    (["Our team won the match."], ["sport", "travel", "science"]),
    (
        [
            "One day I will see the world and every ocean in it, from the north to the south.",
            "Stocks fell.",
            "The new vaccine trial reported strong results in older patients.",
        ],
        ["sport", "travel", "science", "finance", "health"],
    ),
    (["a", "b c d e f g h i j k"], ["politics", "food"]),
]


def _session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", FIXTURES)
def test_export_matches_keras_on_several_shapes(name):
    model = keras_model(name)
    directory = exported(name)
    session = _session(directory / "model.onnx")
    assert [i.name for i in session.get_inputs()] == list(model.input)
    # Batch, sequence and label axes are symbolic in the graph.
    for graph_input in session.get_inputs():
        assert all(isinstance(dim, str) for dim in graph_input.shape), graph_input
    shapes = set()
    for texts, labels in BATCHES:
        arrays = model.preprocessor.collate(model.preprocessor.encode(texts, labels))
        shapes.add(tuple(arrays["token_ids"].shape) + (arrays["label_mask"].shape[1],))
        expected = np.asarray(model.predict_on_batch(arrays))
        got = session.run(None, arrays)[0]
        assert got.shape == expected.shape
        real = arrays["label_mask"] == 1
        np.testing.assert_allclose(got[real], expected[real], atol=1e-4, rtol=0)
    assert len(shapes) == len(BATCHES)


@pytest.mark.parametrize("name", FIXTURES)
def test_export_directory_describes_the_model(name):
    model = keras_model(name)
    directory = exported(name)
    config = json.loads((directory / "gliclass_export.json").read_text())
    assert config["format_version"] == 1
    assert config["architecture_type"] == model.config.architecture_type
    assert config["preprocessor"]["class_name"] == type(model.preprocessor).__name__
    assert config["preprocessor"]["config"]["max_length"] == model.preprocessor.max_length
    assert config["inputs"] == list(model.input)
    for file_name in config["graphs"].values():
        onnx.checker.check_model(str(directory / file_name))
    for file_name in config["tokenizers"].values():
        assert (directory / file_name).read_text().startswith("{")
    if name.startswith("bi_"):
        assert set(config["graphs"]) == {"model", "text_encoder", "label_encoder", "scorer"}
        assert set(config["tokenizers"]) == {"tokenizer", "label_tokenizer"}


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="the towers are traced by JAX; the jax run checks them"
)
def test_bi_encoder_towers_reproduce_the_label_cache():
    model = keras_model("bi_bert_bert")
    directory = exported("bi_bert_bert")
    labels = ["sport", "travel", "science", "a much longer label name"]
    cache = model.encode_labels(labels)
    token_ids, padding_mask = model.preprocessor.collate_labels(
        [[list(e.ids) for e in model.preprocessor._truncating_backend("label").encode_batch(labels)]],
        len(labels),
    )
    label_mask = np.ones((1, len(labels)), dtype="int32")
    classes = _session(directory / "label_encoder.onnx").run(
        None,
        {"label_token_ids": token_ids, "label_padding_mask": padding_mask, "label_mask": label_mask},
    )[0]
    np.testing.assert_allclose(classes[0], cache.vectors, atol=1e-5, rtol=0)
    texts = ["Our team won the match.", "Stocks fell sharply today after the report."]
    rows = model.preprocessor.encode_rows(texts, [[] for _ in texts], [None, None], [None, None])
    ids, mask = model.preprocessor.pad_rows([r.token_ids for r in rows], model.preprocessor.pad_token_id)
    text = _session(directory / "text_encoder.onnx").run(None, {"token_ids": ids, "padding_mask": mask})[0]
    np.testing.assert_allclose(text, model.encode_texts(texts), atol=1e-5, rtol=0)
    logits = _session(directory / "scorer.onnx").run(
        None,
        {
            "text": text,
            "classes": np.repeat(classes, len(texts), axis=0),
            "label_mask": np.ones((len(texts), len(labels)), dtype="int32"),
        },
    )[0]
    expected = np.stack(model.predict_logits(texts, cache))
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_int8_export_is_smaller_and_close():
    name = "uni_deberta_default"
    model = keras_model(name)
    float_dir, int8_dir = exported(name), exported(name, quantize="int8")
    config = json.loads((int8_dir / "gliclass_export.json").read_text())
    assert config["quantization"] == "int8"
    graph = onnx.load(str(int8_dir / "model.onnx"))
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in graph.graph.node)
    assert (int8_dir / "model.onnx").stat().st_size < (float_dir / "model.onnx").stat().st_size
    texts, labels = BATCHES[1]
    arrays = model.preprocessor.collate(model.preprocessor.encode(texts, labels))
    full = _session(float_dir / "model.onnx").run(None, arrays)[0]
    quantized = _session(int8_dir / "model.onnx").run(None, arrays)[0]
    assert not np.array_equal(full, quantized)
    # Measured on this tiny random model (width 24): max |difference| 0.09 of the logits' range.
    assert np.max(np.abs(full - quantized)) <= 0.2 * (full.max() - full.min())
    # The attention projections (Einsum in the float graph) are quantized too.
    weights = {init.name for init in graph.graph.initializer}
    assert not [n.name for n in graph.graph.node if n.op_type == "Einsum" and n.input[1] in weights]


@pytest.mark.parametrize(
    "equation, weight_shape, x_shape",
    [("abc,cde->abde", (6, 2, 3), (2, 4, 6)), ("abc,cd->abd", (6, 5), (2, 4, 6)),
     ("abcd,cde->abe", (3, 2, 5), (2, 4, 3, 2)), ("bd,dk->bk", (6, 5), (3, 6))],
)
def test_einsums_with_constant_weights_become_matmuls(equation, weight_shape, x_shape):
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.normal(size=weight_shape).astype("float32")
    x = rng.normal(size=x_shape).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("Einsum", ["x", "w"], ["y"], equation=equation)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None] * len(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w")],
    )
    assert onnx_export.einsums_as_matmuls(graph) == 1
    assert "Einsum" not in {n.op_type for n in graph.node}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], np.einsum(equation, x, weight), atol=1e-5)


@pytest.mark.parametrize(
    "equation, weight_shape",
    [("bhij,bjhd->bihd", (2, 3, 4, 5)), ("abc,dce->abde", (2, 3, 4)), ("abc,cd->adb", (3, 4))],
)
def test_einsums_that_are_not_matmuls_stay(equation, weight_shape):
    assert onnx_export._einsum_as_matmul(equation, list(weight_shape)) is None


def test_export_rejects_bad_arguments(tmp_path):
    model = keras_model("uni_deberta_default")
    with pytest.raises(ValueError, match="quantize"):
        onnx_export.export_onnx(model, tmp_path, quantize="int4")


def test_export_verifies_its_graphs(tmp_path, monkeypatch):
    model = keras_model("uni_deberta_default")
    directory = exported("uni_deberta_default")
    onnx_export.check_graph(model, directory / "model.onnx")
    # A graph that is not the model's fails the check, naming the file.
    other = exported("uni_bert_default") if keras.config.backend() == "jax" else None
    if other is not None:
        with pytest.raises(RuntimeError, match="does not reproduce"):
            onnx_export.check_graph(model, other / "model.onnx")
