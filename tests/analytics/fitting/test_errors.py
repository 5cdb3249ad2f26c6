"""One exception type for every fitter."""

from __future__ import annotations

from analytics.fitting import errors, mixing, synthetic


def test_every_fitting_module_raises_the_one_fit_error() -> None:
    assert synthetic.FitError is errors.FitError
    assert mixing.FitError is errors.FitError
    assert issubclass(errors.FitError, ValueError)
