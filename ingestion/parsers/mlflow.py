"""MLflow file store (``mlruns/<experiment>/<run>/...``), one file at a time.

- ``<run>/metrics/<name>``: lines ``<timestamp ms> <value> <step>`` (see ``runlogs.parse_mlflow_metric``).
- ``<run>/meta.yaml``: the run (``run_id``, ``run_name``, times, status) -> a run manifest whose external id
  is ``mlflow:<run_id>`` and whose name is the run name.
- ``<run>/params/<key>`` and ``<run>/tags/<key>``: one value each -> a manifest carrying it in ``config``
  (``mlflow.runName`` also names the run).
- ``<experiment>/meta.yaml`` describes an experiment, not a run: refused, saying so.
"""

from __future__ import annotations

import re

from ingestion.parsers.manifest import load_yaml_mapping
from ingestion.parsers.records import ParseError, RunManifestRecord

_VALUE_FILE_RE = re.compile(r"(?:^|/)(?P<kind>params|tags)/(?P<key>[^/]+)$")
# mlruns/<experiment>/<run id>/(metrics|params|tags)/...: every member names its run.
_RUN_DIR_RE = re.compile(r"(?:^|/)(?P<run>[\w-]{8,64})/(?:metrics|params|tags)/")
_RUN_META_KEYS = frozenset({"run_id", "run_uuid"})
_EXPERIMENT_META_KEYS = frozenset({"experiment_id", "artifact_location"})
_MAX_VALUE_CHARS = 5000


def value_file(filename: str) -> tuple[str, str] | None:
    """('params' | 'tags', key) for a path inside an MLflow run folder, else None."""
    m = _VALUE_FILE_RE.search(filename.replace("\\", "/"))
    return (m.group("kind"), m.group("key")) if m else None


def run_id_from_path(filename: str) -> str | None:
    """The run id in a member's path (``mlruns/0/<run id>/metrics/loss``), so all files of a run converge."""
    m = _RUN_DIR_RE.search(filename.replace("\\", "/"))
    return m.group("run") if m else None


def run_manifest_for(filename: str) -> RunManifestRecord | None:
    run_id = run_id_from_path(filename)
    return RunManifestRecord(external_id=f"mlflow:{run_id}") if run_id else None


def is_meta_yaml(filename: str) -> bool:
    return filename.replace("\\", "/").rsplit("/", 1)[-1] == "meta.yaml"


def meta_kind(obj: object) -> str | None:
    """'run' or 'experiment' for a loaded MLflow meta.yaml, else None."""
    if not isinstance(obj, dict):
        return None
    keys = set(map(str, obj))
    if keys & _RUN_META_KEYS and "experiment_id" in keys:
        return "run"
    if keys >= _EXPERIMENT_META_KEYS and not keys & _RUN_META_KEYS:
        return "experiment"
    return None


def parse_meta_yaml(text: str, *, filename: str) -> RunManifestRecord:
    obj = load_yaml_mapping(text, filename=filename)
    kind = meta_kind(obj)
    if kind == "experiment":
        assert isinstance(obj, dict)
        raise ParseError(
            f"MLflow experiment metadata (experiment {obj.get('experiment_id')!r}, name {obj.get('name')!r}):"
            " it describes an experiment, not a run, and holds no metrics; upload the run folders"
            " (mlruns/<experiment>/<run>/ with meta.yaml, metrics/, params/, tags/)",
            filename=filename,
            line=1,
        )
    if kind != "run":
        raise ParseError("not an MLflow run meta.yaml (needs run_id and experiment_id)", filename=filename)
    assert isinstance(obj, dict)
    run_id = str(obj.get("run_id") or obj.get("run_uuid") or "").strip()
    name = str(obj.get("run_name") or "").strip()
    config: dict[str, object] = {}
    for key in ("experiment_id", "status", "start_time", "end_time", "user_id", "lifecycle_stage"):
        value = obj.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            config[f"mlflow.{key}"] = value
    return RunManifestRecord(name=name[:500], external_id=f"mlflow:{run_id}"[:500], config=config)


def parse_value_file(text: str, *, filename: str) -> RunManifestRecord:
    found = value_file(filename)
    if found is None:
        raise ParseError("not an MLflow params/ or tags/ file", filename=filename)
    kind, key = found
    value = text.strip()
    if len(value) > _MAX_VALUE_CHARS:
        raise ParseError(
            f"MLflow {kind[:-1]} {key!r} is longer than {_MAX_VALUE_CHARS} characters", filename=filename
        )
    record = run_manifest_for(filename) or RunManifestRecord()
    record.config = {f"mlflow.{kind}": {key: value}}
    if kind == "tags" and key == "mlflow.runName":
        record.name = value[:500]
    return record
