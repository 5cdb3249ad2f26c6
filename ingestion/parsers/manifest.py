"""Run manifests (YAML or JSON) and webhook ``run.*`` payloads with the same keys.

Error policy: all-or-nothing. Any bad value is a ParseError naming the key; unknown keys are kept in
``config`` only if given there (other unknown top-level keys are ignored).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from ingestion.parsers.records import ParseError, RunManifestRecord
from ingestion.parsers.text import decode_utf8, parse_quantity

MANIFEST_KEYS = frozenset(
    {
        "name",
        "external_id",
        "model",
        "parameters",
        "tokens",
        "unique_tokens",
        "hardware",
        "gpu_count",
        "gpu_hours",
        "precision",
        "synthetic_share",
        "synthetic_epochs",
        "data_sources",
        "config",
    }
)

PRECISIONS = {
    "bf16": "bf16",
    "bfloat16": "bf16",
    "bf16-mixed": "bf16",
    "bf16_mixed": "bf16",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "16": "fp16",
    "16-mixed": "fp16",
    "amp": "fp16",
    "fp8": "fp8",
    "float8": "fp8",
    "e4m3": "fp8",
    "fp8-e4m3": "fp8",
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "32": "fp32",
    "single": "fp32",
    "tf32": "tf32",
    "fp64": "fp64",
    "float64": "fp64",
    "double": "fp64",
    "int8": "int8",
    "fp4": "fp4",
    "nvfp4": "fp4",
    "mxfp4": "fp4",
}

_TEXT_LIMIT = 500


def _quantity(obj: dict[str, Any], key: str, filename: str, *, upper: float = 1e16) -> float | None:
    raw = obj.get(key)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ParseError(f"{key}: expected a number, got a boolean", filename=filename)
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        q = parse_quantity(raw)
        if q is None or q.text.strip() != raw.strip():
            raise ParseError(
                f"{key}: cannot read {raw[:50]!r} as a number (e.g. 8B, 1.5T, 70 billion)", filename=filename
            )
        value = q.value
    else:
        raise ParseError(f"{key}: expected a number, got {type(raw).__name__}", filename=filename)
    if not math.isfinite(value) or value <= 0 or value > upper:
        raise ParseError(f"{key}: {raw!r} is out of range (0, {upper:g}]", filename=filename)
    return value


def _share(raw: Any, key: str, filename: str) -> float:
    if isinstance(raw, bool):
        raise ParseError(f"{key}: expected a share, got a boolean", filename=filename)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ParseError(
                f"{key}: cannot read {raw[:50]!r} as a share (0..1 or 30%)", filename=filename
            ) from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise ParseError(f"{key}: expected a share, got {type(raw).__name__}", filename=filename)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ParseError(f"{key}: {raw!r} is outside 0..1", filename=filename)
    return value


def _text(obj: dict[str, Any], key: str, filename: str) -> str:
    raw = obj.get(key)
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ParseError(f"{key}: expected text, got {type(raw).__name__}", filename=filename)
    text = str(raw).strip()
    if len(text) > _TEXT_LIMIT:
        raise ParseError(f"{key}: longer than {_TEXT_LIMIT} characters", filename=filename)
    return text


def normalise_precision(raw: str, *, filename: str = "") -> str:
    key = raw.strip().lower().replace(" ", "")
    if key.startswith("torch."):
        key = key[len("torch.") :]
    if key in PRECISIONS:
        return PRECISIONS[key]
    for prefix in ("bf16", "fp16", "fp8", "fp32", "fp4"):
        if key.startswith(prefix):
            return prefix
    raise ParseError(f"precision: unknown value {raw[:50]!r} (e.g. bf16, fp16, fp8, fp32)", filename=filename)


# A YAML alias is a reference: ``safe_load`` shares the aliased node, but anything that walks the result
# (JSON conversion, a template, a diff) visits it once per reference, so 500 bytes of nested aliases can
# stand for 10**9 nodes. Documents are refused when their expanded size passes this budget.
MAX_EXPANDED_NODES = 100_000
# Config is stored in a JSON column and shown on pages: this is far above any real training config.
MAX_CONFIG_JSON_BYTES = 256 * 1024


class _Budget:
    __slots__ = ("left",)

    def __init__(self, nodes: int) -> None:
        self.left = nodes

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise ValueError(f"more than {MAX_EXPANDED_NODES:,} values once aliases are expanded")


def _json_safe(obj: Any, depth: int = 0, budget: _Budget | None = None) -> Any:
    """Config must round-trip through JSON (it is stored in a JSON column).

    Every value visited is counted, so shared (aliased) sub-trees cannot make the copy explode.
    """
    if budget is None:
        budget = _Budget(MAX_EXPANDED_NODES)
    budget.take()
    if depth > 20:
        raise ValueError("nested too deeply")
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("non-finite number")
        return obj
    if isinstance(obj, dict):
        return {str(k): _json_safe(v, depth + 1, budget) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v, depth + 1, budget) for v in obj]
    return str(obj)


def manifest_from_mapping(
    obj: dict[str, Any], *, filename: str, key_lines: dict[str, int] | None = None
) -> RunManifestRecord:
    """``key_lines``: the line of each top-level key when the mapping came from a file, for error messages."""
    if not isinstance(obj, dict):
        raise ParseError("manifest must be a mapping of keys to values", filename=filename)
    record = RunManifestRecord(
        name=_text(obj, "name", filename),
        external_id=_text(obj, "external_id", filename),
        model=_text(obj, "model", filename),
        hardware=_text(obj, "hardware", filename),
        parameters=_quantity(obj, "parameters", filename),
        tokens=_quantity(obj, "tokens", filename, upper=1e18),
        unique_tokens=_quantity(obj, "unique_tokens", filename, upper=1e18),
        gpu_hours=_quantity(obj, "gpu_hours", filename, upper=1e12),
        synthetic_epochs=_quantity(obj, "synthetic_epochs", filename, upper=1e6),
    )
    raw_count = obj.get("gpu_count")
    if raw_count is not None:
        if isinstance(raw_count, bool) or not isinstance(raw_count, int | float | str):
            raise ParseError("gpu_count: expected a whole number", filename=filename)
        try:
            count = float(raw_count)
        except ValueError:
            raise ParseError(f"gpu_count: cannot read {str(raw_count)[:50]!r}", filename=filename) from None
        if not (math.isfinite(count) and count.is_integer() and 1 <= count <= 10_000_000):
            raise ParseError(
                f"gpu_count: {raw_count!r} must be a whole number from 1 to 10,000,000", filename=filename
            )
        record.gpu_count = int(count)
    if obj.get("precision") not in (None, ""):
        if not isinstance(obj["precision"], str | int):
            raise ParseError("precision: expected text such as bf16", filename=filename)
        record.precision = normalise_precision(str(obj["precision"]), filename=filename)
    if obj.get("synthetic_share") not in (None, ""):
        record.synthetic_share = _share(obj["synthetic_share"], "synthetic_share", filename)
    if (
        record.unique_tokens is not None
        and record.tokens is not None
        and record.unique_tokens > record.tokens * (1 + 1e-9)
    ):
        raise ParseError("unique_tokens: larger than tokens", filename=filename)
    sources = obj.get("data_sources")
    if sources not in (None, {}):
        if not isinstance(sources, dict):
            raise ParseError("data_sources: expected a mapping of source label to share", filename=filename)
        for label, share in sources.items():
            if not isinstance(label, str | int) or not str(label).strip() or len(str(label)) > 200:
                raise ParseError(f"data_sources: bad label {str(label)[:50]!r}", filename=filename)
            record.data_sources[str(label).strip()] = _share(share, f"data_sources.{label}", filename)
        total = sum(record.data_sources.values())
        if total > 1.0 + 1e-6:
            raise ParseError(f"data_sources: shares sum to {total:.4g}, more than 1", filename=filename)
    config = obj.get("config")
    if config not in (None, {}):
        if not isinstance(config, dict):
            raise ParseError("config: expected a mapping", filename=filename)
        line = (key_lines or {}).get("config")
        try:
            record.config = _json_safe(config)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"config: {exc}", filename=filename, line=line) from None
        size = len(json.dumps(record.config, separators=(",", ":")))
        if size > MAX_CONFIG_JSON_BYTES:
            raise ParseError(
                f"config: {size:,} bytes as JSON, over the {MAX_CONFIG_JSON_BYTES:,}-byte limit",
                filename=filename,
                line=line,
            )
    return record


def _check_expansion(root: yaml.Node, *, filename: str, line_offset: int) -> None:
    """Refuse alias bombs and recursive aliases before anything is constructed.

    The composed graph shares one node object per anchor; sizes are computed once per node (a DAG walk), so
    the check itself is linear in the document while measuring what a full expansion would visit.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    total = 0

    def size(node: yaml.Node) -> int:
        nonlocal total
        key = id(node)
        known = sizes.get(key)
        if known is not None:  # a second reference: an alias
            total += known
            if total > MAX_EXPANDED_NODES:
                raise ParseError(
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values (alias bomb?)",
                    filename=filename,
                    line=node.start_mark.line + 1 + line_offset,
                )
            return known
        if key in active:
            raise ParseError(
                "recursive YAML alias", filename=filename, line=node.start_mark.line + 1 + line_offset
            )
        active.add(key)
        count = 1
        total += 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                count += size(child)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                count += size(k) + size(v)
        active.discard(key)
        sizes[key] = count
        if total > MAX_EXPANDED_NODES:
            raise ParseError(
                f"YAML document expands to more than {MAX_EXPANDED_NODES:,} values",
                filename=filename,
                line=node.start_mark.line + 1 + line_offset,
            )
        return count

    size(root)


def load_yaml_mapping(text: str, *, filename: str, line_offset: int = 0) -> Any:
    """``yaml.safe_load`` with the expansion of aliases bounded; errors (a ``!!python/object`` tag included)
    become a ParseError with a line."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise ParseError(f"bad YAML: {exc}".splitlines()[0][:200], filename=filename) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root, filename=filename, line_offset=line_offset)
        return loader.construct_document(root)
    except ParseError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark is not None else None
        raise ParseError(
            f"bad YAML: {exc.problem or exc.context or 'syntax error'}", filename=filename, line=line
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as exc:
        raise ParseError(f"bad YAML: {type(exc).__name__}", filename=filename) from None
    finally:
        loader.dispose()


_TOP_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.M)


def _key_lines(text: str) -> dict[str, int]:
    """Line of each top-level ``key:`` of a YAML document (first occurrence)."""
    lines: dict[str, int] = {}
    for m in _TOP_KEY_RE.finditer(text):
        lines.setdefault(m.group(1), text.count("\n", 0, m.start()) + 1)
    return lines


def parse_manifest(filename: str, data: bytes) -> RunManifestRecord:
    text = decode_utf8(data, filename=filename)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ParseError(
                f"bad JSON: {exc}", filename=filename, line=getattr(exc, "lineno", None)
            ) from None
        key_lines: dict[str, int] = {}
    else:
        obj = load_yaml_mapping(text, filename=filename)
        key_lines = _key_lines(text)
    if not isinstance(obj, dict):
        raise ParseError("manifest must be a mapping of keys to values", filename=filename)
    if not MANIFEST_KEYS & set(map(str, obj)):
        raise ParseError("no manifest keys (name, model, parameters, tokens, ...)", filename=filename)
    return manifest_from_mapping(obj, filename=filename, key_lines=key_lines)
