"""Figure JSON for a <script type="application/json"> element: the one way pages embed figures.

Escaped exactly like Django's json_script (safe inside <script>), but str.replace runs over the whole
string in C: json_script's per-character translate took ~120 ms for a 1k-model timeline. NumPy arrays and
scalars become lists and numbers; NaN and infinities (a diverged step, an unbounded interval) become null,
since JSON has neither.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def to_script_json(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:  # a NaN or infinity somewhere: the slow path replaces them with null
        text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False, default=_default)
    for raw, escaped in _SCRIPT_ESCAPES:
        text = text.replace(raw, escaped)
    return text
