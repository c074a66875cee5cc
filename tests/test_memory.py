"""Freed heap memory goes back to the OS after loading and after JAX compilations."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import pytest

from gliclass_keras.utils import memory

REPO = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINT = REPO / "tests" / "fixtures" / "reference" / "uni_bert_default"


def test_only_large_compilations_trim_the_heap(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    long_enough = memory.MIN_COMPILATION_SECONDS
    memory._after_compilation(memory.COMPILATION_EVENT, long_enough)
    assert len(calls) == 1
    memory._after_compilation(memory.COMPILATION_EVENT, long_enough / 2)  # too small to matter
    memory._after_compilation("/jax/core/compile/jaxpr_trace_duration", 5.0)  # not a compilation
    assert len(calls) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")
def test_release_freed_memory_hands_pages_back():
    # 100 MB in blocks small enough for glibc's heap (not mmap), then freed:
    # there are free pages to hand back whatever the process did before.
    blocks = [bytearray(2048) for _ in range(50_000)]
    del blocks
    assert memory.release_freed_memory() is True


def test_listener_is_registered_on_jax_only(monkeypatch):
    monkeypatch.delenv(memory.ENVIRONMENT_VARIABLE, raising=False)
    if keras.config.backend() != "jax":
        # Other backends have no JAX compilations to follow.
        assert memory.release_memory_after_compilations() is False
        assert memory._listening is False
        return
    # A fresh JAX process: creating a model registers the listener once, and
    # compiling the model's functions trims the heap; the opt-out leaves it alone.
    for opt_out in ("1", "0"):
        code = f"""
            import json, os
            os.environ["KERAS_BACKEND"] = "jax"
            os.environ[{memory.ENVIRONMENT_VARIABLE!r}] = {opt_out!r}
            from gliclass_keras.utils import memory
            calls = []
            memory.release_freed_memory = lambda: calls.append(1) or True
            memory.MIN_COMPILATION_SECONDS = 0.0
            import gliclass_keras
            before = memory._listening
            model = gliclass_keras.GLiClassClassifier.from_pretrained({str(CHECKPOINT)!r})
            after_load = len(calls)  # the load's own trim, not a compilation
            scores = model.predict_scores(["We won the match."], ["sport", "travel"])
            print(json.dumps({{
                "before": before, "listening": memory._listening,
                "trims": len(calls) - after_load, "scores": [float(s) for s in scores[0].values()],
            }}))
        """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        data = json.loads(result.stdout.strip().splitlines()[-1])
        assert data["before"] is False
        assert len(data["scores"]) == 2 and all(0.0 < s < 1.0 for s in data["scores"])
        if opt_out == "1":
            assert data["listening"] is True
            assert data["trims"] >= 1  # predict compiled at least one program
        else:
            assert data["listening"] is False and data["trims"] == 0
