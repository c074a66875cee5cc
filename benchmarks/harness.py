"""The benchmark harness: worker processes, timing, and what ran where.

Every contender (the reference pipeline, gliclass-keras on one Keras backend)
runs in its own process, started as `python -m benchmarks.<script> --worker
NAME ...` from the repository root, so it imports this checkout's
`gliclass_keras` and can set `KERAS_BACKEND` before Keras is imported.

* One-shot workers print one `RESULT <json>` line (`print_result`), which
  `run_worker` returns.
* Long-lived workers (`Contender`, `serve_contender`) warm up once, then
  answer `call` / `finish` commands on stdin with JSON lines on a private
  pipe; `run_contenders` sends the timed calls round-robin, so a burst of load
  from other processes slows every contender alike.

```python
from benchmarks import harness

first_s, median_s, result = harness.time_calls(lambda: sum(range(10**6)), repeats=3)
print(harness.device_description("jax"), harness.loadavg())
```
"""

import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_PREFIX = "RESULT "
PACKAGES = (
    "gliclass-keras", "keras", "keras-hub", "torch", "jax", "jaxlib", "tensorflow", "gliclass",
    "transformers", "tokenizers", "safetensors", "numpy", "datasets",
)


"""
## Worker processes
"""


def worker_env(**overrides):
    """The environment of a worker: this one, quieter TensorFlow and tokenizers."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(overrides)
    return env


def worker_command(module, *args):
    """`python -m benchmarks.<module> args...` (run it with `cwd=REPO_ROOT`)."""
    return [sys.executable, "-m", f"benchmarks.{module}"] + [str(a) for a in args]


def print_result(result):
    """A one-shot worker's answer: one `RESULT <json>` line on stdout."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(module, args, name, echo=None, env=None):
    """Run a one-shot worker to the end and return its `print_result` dict.

    `echo(line)` says which of its other output lines to print (default:
    none). A failure prints the last 20 lines and raises `SystemExit`.
    """
    proc = subprocess.run(
        worker_command(module, *args), cwd=REPO_ROOT, env=env or worker_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = proc.stdout.splitlines()
    results = [line for line in lines if line.startswith(RESULT_PREFIX)]
    if echo is not None:
        shown = [line for line in lines if not line.startswith(RESULT_PREFIX) and echo(line)]
        if shown:
            print("\n".join(shown), flush=True)
    if proc.returncode != 0 or not results:
        print(f"--- the last lines of {name}:\n" + "\n".join(lines[-20:]))
        raise SystemExit(f"{name} failed (exit code {proc.returncode}).")
    return json.loads(results[-1][len(RESULT_PREFIX):])


class Contender:
    """Driver-side handle of one long-lived worker process (see `serve_contender`)."""

    def __init__(self, module, name, work_file, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        read_fd, write_fd = os.pipe()
        cmd = worker_command(module, "--worker", name, "--work-file", work_file,
                             "--msg-fd", write_fd)
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=worker_env(), stdin=subprocess.PIPE,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True,
                                     pass_fds=(write_fd,))
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


def serve_contender(contender, msg_fd):
    """The worker side of `Contender`: warm up, then answer `call` and `finish`.

    `contender` is a dict with `call()` (the timed work), `timers` (a `Timers`
    wrapping its stages), `load_s`, `device`, `threads`, `versions` and
    `finish()` (a dict of extra results, e.g. scores to check). Replies are
    JSON lines on the pipe `msg_fd`, so whatever the libraries print cannot
    get in the way.
    """
    out = os.fdopen(msg_fd, "w", buffering=1)

    def send(message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    timers = contender["timers"]
    t0 = time.perf_counter()
    contender["call"]()
    first = time.perf_counter() - t0
    send(dict(ready=True, load_s=contender["load_s"], first_call_s=first,
              device=contender["device"], warmup_breakdown=timers.snapshot_and_reset()))

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
            send(dict(steady_breakdown_per_call=steady, threads=contender["threads"],
                      versions=contender["versions"], **contender["finish"]()))
            return


def run_contenders(module, names, work, repeats):
    """Warm every contender up (one at a time), then time them round-robin.

    Returns `{name: result}`: the worker's messages, `times_s`, `cpu_s` and
    `loadavg` per timed call, and `median_s`, `mean_s`, `cpu_s_median`,
    `loadavg_range`; or `error`.
    """
    results = {name: {} for name in names}
    alive = {}
    with tempfile.TemporaryDirectory() as tmp:
        work_file = os.path.join(tmp, "work.json")
        with open(work_file, "w") as f:
            json.dump(work, f)
        try:
            for name in names:
                print(f"Loading + warm-up call: {name} ...", flush=True)
                contender = Contender(module, name, work_file, tmp)
                try:
                    ready = contender.receive()
                except RuntimeError as e:
                    print(f"  FAILED: {e}")
                    results[name]["error"] = str(e)
                    contender.close()
                    continue
                print(f"  load {ready['load_s']:.2f}s, first call {ready['first_call_s']:.2f}s "
                      f"on {ready['device']}", flush=True)
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
    for res in results.values():
        if "error" in res or not res.get("times_s"):
            res.setdefault("error", "no timed call")
            continue
        res["median_s"] = statistics.median(res["times_s"])
        res["mean_s"] = statistics.mean(res["times_s"])
        # CPU seconds of the worker process (all threads) per call: less sensitive to
        # other processes than wall time, but inflated by threads that spin-wait.
        res["cpu_s_median"] = statistics.median(res["cpu_s"])
        loads = [v for pair in res["loadavg"] for v in pair if v is not None]
        res["loadavg_range"] = [min(loads), max(loads)] if loads else None
    return results


"""
## Timing
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


def time_calls(fn, repeats):
    """(first-call seconds, median seconds of `repeats` more calls, last result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return first, times[len(times) // 2], result


def loadavg():
    """The 1-minute load average, or None where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def max_abs_diff(ours, ref):
    """Largest |score difference| over texts of `{label: score}` dicts (inf if a label is missing)."""
    diffs = []
    for a, b in zip(ours, ref):
        for label, value in b.items():
            if label not in a:
                return float("inf")
            diffs.append(abs(a[label] - value))
    return max(diffs) if diffs else float("nan")


def top_label_agreement(ours, ref):
    """Share of texts whose highest-scoring label is the same in both lists of `{label: score}`."""
    same = [max(a, key=a.get) == max(b, key=b.get) for a, b in zip(ours, ref)]
    return sum(same) / len(same) if same else float("nan")


"""
## The machine, the device and the threads
"""


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info(torch_threads=None):
    """CPU, Python, platform and the versions of the packages that matter."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return dict(
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        usable_cpus=usable,
        platform=platform.platform(),
        python=platform.python_version(),
        torch_threads=torch_threads,
        packages={name: package_version(name) for name in PACKAGES},
    )


def device_description(framework="cpu"):
    """Where `framework` computes: `"GPU (<name>)"` or `"CPU (<model>)"`.

    `framework` is `"torch"`, `"jax"` or `"tensorflow"` (for gliclass-keras:
    the Keras backend, which uses the first accelerator it finds), or `"cpu"`
    for work pinned to the CPU (the reference pipeline with `device="cpu"`).
    Call it in the process that does the work.
    """
    accelerators = []  # (kind, name)
    if framework == "torch":
        import torch

        if torch.cuda.is_available():
            accelerators = [("GPU", torch.cuda.get_device_name(i))
                            for i in range(torch.cuda.device_count())]
    elif framework == "jax":
        import jax

        accelerators = [(d.platform.upper(), d.device_kind) for d in jax.devices()
                        if d.platform != "cpu"]
    elif framework == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            accelerators.append(("GPU", details.get("device_name", gpu.name)))
    if not accelerators:
        return f"CPU ({cpu_model()})"
    kind, name = accelerators[0]
    more = f", {len(accelerators)} visible" if len(accelerators) > 1 else ""
    return f"{kind} ({name}{more})"


def set_torch_threads(num_threads):
    """`torch.set_num_threads(num_threads)`; returns the default and the used count."""
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    return dict(torch_default=default, torch_used=torch.get_num_threads())


"""
## The reference package
"""


def load_reference(checkpoint):
    """The reference `GLiClassModel` (eval mode) and tokenizer of a checkpoint, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gliclass import GLiClassModel
    from transformers import AutoTokenizer

    return GLiClassModel.from_pretrained(checkpoint).eval(), AutoTokenizer.from_pretrained(checkpoint)


def scores_by_label(per_text):
    """A reference pipeline's output for one text as `{label: score}`."""
    return {d["label"]: float(d["score"]) for d in per_text}
