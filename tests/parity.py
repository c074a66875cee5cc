"""One rule for every comparison of our float32 outputs with the reference's.

Both libraries compute in float32, each rounding differently (summation
order, fused kernels, the processor's vector width, the BLAS code path), so
their outputs differ by the float32 noise of BOTH. How large that noise is
depends on the model's conditioning, not only on the size of its outputs:
the T5 fixtures' unscaled attention, for one, amplifies each layer's
rounding three to four times (issue 17). A fixed tolerance measured between
the two float32 results on one processor can then fail on another.

The rule compares against the exact values instead, from a float64 copy of
the reference (`reference_runner.reference_logits(..., float64=True)`):

  (a) max|ours - exact| <= bound = max(atol, 2 * max|reference - exact|)
      ours are at least as close to the exact values as `atol` (1e-5, the
      project's parity tolerance), or, where the computation is so badly
      conditioned that the reference's own float32 results miss by more
      than half of that, within twice the reference's own float32 error;
  (b) max|ours - reference| <= bound + max|reference - exact|
      what (a) implies by the triangle inequality: the old direct check,
      with its tolerance derived instead of measured.

The maxima run over every value a test collects (all rows, all cases), a
steadier measure of the reference's error than any single row; a test that
compares only a few values can also pass `reference_error`, the reference's
float32 error on the same model measured over more inputs
(`reference_runner.reference_error`), and the larger of the two is used. The
reference's error is also capped (`max_reference_error` times the largest
exact value, or 10 if that is smaller): an "exact" value that disagrees with the
reference by more than float32 noise means the float64 copy computes
something else (say, pooling over padding that the float32 batch did not
read), and must not loosen the bound.

Set GLICLASS_PARITY_LOG to a file name to append every check's numbers to it
(one JSON object a line), e.g. to compare processors.
"""

import json
import os

import keras
import numpy as np

ATOL = 1e-5
# Times max(10, max|exact|): 1e-4 on logits and scores up to 10, ~84
# float32 ulps of larger ones. Five to thirteen times the largest float32
# errors of the reference measured here (2.0e-4 on uni_deberta_sum's logits
# of up to |266|, 8.3e-6 on its scores, 2.0e-5 on the fused logits of |31|,
# 5.9e-6 on encdeccls_t5's of |4.7|), far below any real disagreement
# (reading padding moves logits by 1e-2 and more).
MAX_REFERENCE_ERROR = 1e-5


class Parity:
    """Collects (ours, reference float32, exact float64) values; `check()` asserts the rule.

    Args:
        what: str, what is compared (named in the failure message).
        atol: the tolerance where the reference's own float32 error is small.
        reference_error: the reference's float32 error on the same model,
            measured over more inputs than the test compares (a floor for
            the one measured from the added values).
        max_reference_error: the most the float32 reference may miss the
            exact values by (see the module docstring).
    """

    def __init__(
        self, what, atol=ATOL, reference_error=0.0, max_reference_error=MAX_REFERENCE_ERROR
    ):
        self.what = what
        self.atol = atol
        self.max_reference_error = max_reference_error
        self.ours_error = self.pair_error = 0.0
        self.reference_error = float(reference_error)
        self.ours_where = self.pair_where = None
        self.reference_where = "more inputs" if reference_error else None
        self.count = 0
        self.exact_max = 0.0

    def add(self, ours, reference, exact, where=""):
        ours, reference, exact = (np.asarray(x, "float64") for x in (ours, reference, exact))
        assert ours.shape == reference.shape == exact.shape, (
            f"{self.what} {where}: shapes {ours.shape}, {reference.shape}, {exact.shape}"
        )
        assert np.isfinite(ours).all(), f"{self.what} {where}: ours not finite: {ours}"
        for name, difference in (
            ("ours", ours - exact),
            ("reference", reference - exact),
            ("pair", ours - reference),
        ):
            value = _max_abs(difference)
            if difference.size and value >= getattr(self, f"{name}_error"):
                index = np.unravel_index(np.argmax(np.abs(difference)), difference.shape)
                index = [int(i) for i in index]
                setattr(self, f"{name}_error", value)
                setattr(self, f"{name}_where", f"{where}{index}".strip())
        self.count += ours.size
        self.exact_max = max(self.exact_max, _max_abs(exact))
        return self

    @property
    def bound(self):
        return max(self.atol, 2.0 * self.reference_error)

    def message(self):
        return (
            f"{self.what} ({keras.backend.backend()}, {self.count} values): "
            f"max|ours - exact64| = {self.ours_error:.3e} (at {self.ours_where}), "
            f"max|reference32 - exact64| = {self.reference_error:.3e} "
            f"(at {self.reference_where}), "
            f"max|ours - reference32| = {self.pair_error:.3e} (at {self.pair_where}), "
            f"max|exact64| = {self.exact_max:.3g}; "
            f"bound max({self.atol:.0e}, 2 * reference error) = {self.bound:.3e}"
        )

    def check(self):
        """Assert the rule; returns `self` (its errors are attributes)."""
        assert self.count, f"{self.what}: nothing was compared"
        _log(self)
        message = self.message()
        cap = self.max_reference_error * max(10.0, self.exact_max)
        assert self.reference_error <= cap, (
            "the float64 reference does not compute what the float32 one did: " + message
        )
        assert self.ours_error <= self.bound, "ours are too far from exact: " + message
        assert self.pair_error <= self.bound + self.reference_error, (
            "ours are too far from the reference: " + message
        )
        return self


def assert_parity(what, ours, reference, exact, atol=ATOL, reference_error=0.0):
    """`Parity` for one set of values."""
    return Parity(what, atol, reference_error).add(ours, reference, exact).check()


def activation(logits, classification_type="multi-label"):
    """The reference pipeline's scores of one text's logits, in float64."""
    logits = np.asarray(logits, "float64")
    if classification_type == "single-label":
        e = np.exp(logits - logits.max())
        return e / e.sum()
    return 1.0 / (1.0 + np.exp(-logits))


def add_predictions(parity, got, want, exact_scores, where=""):
    """Same labels, in the same order, and their scores into `parity`.

    `got`, `want`: one text's predictions (lists of `{"label", "score"}`),
    ours and the reference pipeline's; `exact_scores`: `{label: score}`
    from the float64 reference.
    """
    assert [p["label"] for p in got] == [p["label"] for p in want], (where, got, want)
    parity.add(
        [p["score"] for p in got],
        [p["score"] for p in want],
        [exact_scores[p["label"]] for p in got],
        where=where,
    )


def _max_abs(x):
    return float(np.max(np.abs(x))) if x.size else 0.0


def _log(parity):
    path = os.environ.get("GLICLASS_PARITY_LOG")
    if not path:
        return
    record = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
        "what": parity.what,
        "backend": keras.backend.backend(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "values": parity.count,
        "ours_exact": parity.ours_error,
        "reference_exact": parity.reference_error,
        "ours_reference": parity.pair_error,
        "bound": parity.bound,
        "max_exact": parity.exact_max,
    }
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
