"""F1 metrics equal scikit-learn's on the same predictions."""

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from gliclass_keras.metrics import F1Score


def _random_batches(seed, num_batches=3, batch=5, slots=4, vocab=6):
    """Ragged label lists with names, targets and logits, as a GLiClassDataset sends them."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(num_batches):
        targets = np.full((batch, slots), -100.0, dtype="float32")
        ids = np.full((batch, slots), -1, dtype="int32")
        logits = np.full((batch, slots), -1000.0, dtype="float32")
        for b in range(batch):
            count = int(rng.integers(1, slots + 1))
            ids[b, :count] = rng.choice(vocab, size=count, replace=False)
            targets[b, :count] = rng.integers(0, 2, size=count)
            targets[b, int(rng.integers(count))] = 1.0
            logits[b, :count] = rng.normal(size=count) * 2
        batches.append((targets, ids, logits))
    return batches


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_multi_label_f1_equals_sklearn(average):
    batches = _random_batches(0)
    metric = F1Score(average, threshold=0.5)
    true_sets, pred_sets, candidates = [], [], set()
    for targets, ids, logits in batches:
        metric.update_state(targets, logits, label_ids=ids)
        for t, i, l in zip(targets, ids, logits):
            real = i >= 0
            candidates |= set(i[real].tolist())
            true_sets.append(set(i[real][t[real] >= 0.5].tolist()))
            pred_sets.append(set(i[real][1 / (1 + np.exp(-l[real])) >= 0.5].tolist()))
    binarizer = MultiLabelBinarizer(classes=sorted(candidates))
    expected = f1_score(
        binarizer.fit_transform(true_sets), binarizer.transform(pred_sets), average=average, zero_division=0
    )
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_single_label_f1_equals_sklearn(average):
    batches = _random_batches(1)
    metric = F1Score(average, classification_type="single-label")
    y_true, y_pred = [], []
    for targets, ids, logits in batches:
        one_hot = np.where(targets >= 0, 0.0, -100.0).astype("float32")
        for b in range(len(targets)):
            real = np.flatnonzero(ids[b] >= 0)
            truth = int(real[np.argmax(targets[b, real])])
            one_hot[b, truth] = 1.0
            y_true.append(int(ids[b, truth]))
            y_pred.append(int(ids[b, real[np.argmax(logits[b, real])]]))
        metric.update_state(one_hot, logits, label_ids=ids)
    expected = f1_score(y_true, y_pred, average=average)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


def test_slots_are_classes_without_label_ids():
    y_true = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype="float32")
    logits = np.array([[3, -1, -2], [0.5, -0.2, 1], [-1, -1, 2], [-3, 2, -1]], dtype="float32")
    for average in ("micro", "macro"):
        metric = F1Score(average)
        metric.update_state(y_true, logits)
        expected = f1_score(y_true, (logits >= 0).astype(int), average=average, zero_division=0)
        assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_padded_slots_and_rows_are_ignored():
    y_true = [[1.0, 0.0, -100.0], [-100.0, -100.0, -100.0]]
    logits = [[2.0, -2.0, 5.0], [5.0, 5.0, 5.0]]
    micro, macro = F1Score("micro"), F1Score("macro")
    micro.update_state(y_true, logits)
    macro.update_state(y_true, logits)
    assert float(micro.result()) == pytest.approx(1.0)
    # class 1 was a candidate with no positives: F1 0, as scikit-learn's column
    assert float(macro.result()) == pytest.approx(f1_score([[1, 0]], [[1, 0]], average="macro", zero_division=0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="average"):
        F1Score("weighted")
    with pytest.raises(ValueError, match="classification_type"):
        F1Score(classification_type="multi")
    with pytest.raises(ValueError, match="threshold"):
        F1Score(threshold=1.0)


def test_config_round_trip():
    metric = F1Score("macro", classification_type="single-label", threshold=0.3, max_classes=64)
    clone = F1Score.from_config(metric.get_config())
    assert clone.get_config() == metric.get_config()
    assert clone.name == "macro_f1"
