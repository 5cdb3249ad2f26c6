"""Training stdout logs: Megatron-LM / Megatron-DeepSpeed / NeMo, nanoGPT and llm.c style, Hugging Face
Trainer stdout, and generic ``step: 10 loss: 2.3`` lines.

Launchers prefix every line: ``[2025-08-01 07:19:37]`` (Megatron), ``[Rank 0]``, ``[default0]:`` (torchrun
``--tee``), ``0:`` (``srun -l``), ``[1,0]<stdout>:`` (mpirun), ``2024-05-01 10:00:00 INFO``. The prefix is
stripped before a line is matched; a bracketed date in it becomes the point's wall time.

Series keep the names the log writes (``lm loss``, ``trl``, ``train loss``, ``val_loss``); values written with
a unit (``12.3ms``, ``45.6%``) keep the number. Lines that match no pattern are ignored; a matched point
whose value is NaN/Inf is a RowError. A file without a single point is rejected.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import UTC, datetime

from ingestion.parsers.points import RowErrors, SeriesAcc, finish_record
from ingestion.parsers.records import ParseError, RunLogRecord

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
# Like _NUM, also reading thousands separators ("tps: 1,234" is 1234, not 1).
_NUM_GROUPED = rf"[-+]?\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![\d])|{_NUM}"
_NUM_RE = re.compile(rf"^(?:{_NUM})$", re.IGNORECASE)

# One launcher/logger prefix; several may stack ("0: [default0]: [2025-01-01 10:00:00] ...").
_PREFIX_RE = re.compile(  # used with .match(line, pos), which anchors at pos
    r"""\s*(?:
        \[[^\]\n]{0,80}\](?:<std(?:out|err)>)?:?  # [2025-08-01 07:19:37] [Rank 0] [default0]: [1,0]<stdout>:
      | \d{1,5}:(?=\s)                                   # srun -l: "0: "
      | \([\w.:-]+\ pid=\d+(?:,\ ip=[\d.]+)?\)              # Ray: "(TaskRunner pid=11874)"
      | \d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?  # 2024-05-01 10:00:00,123
      | (?:INFO|WARNING|WARN|DEBUG|ERROR|CRITICAL)\b:?(?:\s*-)?
    )\s*""",
    re.VERBOSE,
)
_DATE_IN_PREFIX_RE = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:[.,]\d+)?)")


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def decolor(text: str) -> str:
    """Terminal colour codes removed (torchtitan, NeMo and Ray colour their console output)."""
    return _ANSI_RE.sub("", text) if "\x1b" in text else text


def strip_prefix(line: str) -> tuple[str, str]:
    """(prefix, rest): every launcher or logger prefix (and terminal colour codes) removed from the front."""
    if "\x1b" in line:
        line = _ANSI_RE.sub("", line)
    pos = 0
    while True:
        m = _PREFIX_RE.match(line, pos)
        if not m or m.end() == pos:
            return line[:pos], line[pos:].lstrip()
        pos = m.end()


def _prefix_time(prefix: str) -> float | None:
    m = _DATE_IN_PREFIX_RE.search(prefix)
    if not m:
        return None
    try:
        return (
            datetime.fromisoformat(f"{m.group(1)} {m.group(2).replace(',', '.')}")
            .replace(tzinfo=UTC)
            .timestamp()
        )
    except ValueError:
        return None


class _Points:
    """Accumulates named points of one file."""

    def __init__(self) -> None:
        self.accs: dict[tuple[str, str], SeriesAcc] = {}
        self.errors = RowErrors()

    def add(self, name: str, step: int, raw: str, line: int, wall: float | None = None) -> None:
        try:
            value = float(raw.replace(",", ""))
        except ValueError:
            return
        if value - value != 0.0:
            self.errors.add(line, f"non-finite value {raw!r} for {name!r}")
            return
        acc = self.accs.get(("", name))
        if acc is None:
            acc = self.accs["", name] = SeriesAcc(name)
        acc.add(step, value, wall, line)

    def finish(self, fmt: str, filename: str) -> RunLogRecord:
        return finish_record(self.accs.values(), self.errors, fmt, filename)


# --- Megatron-LM, Megatron-DeepSpeed, NeMo ---------------------------------------------------------------

MEGATRON_ITER_RE = re.compile(r"^iteration\s+(\d+)\s*/\s*(\d+)\s*\|")
# GPT-NeoX puts "samples/sec: X |" before the iteration: "samples/sec: 27.1 | iteration 10/ 320000 | ...".
NEOX_ITER_RE = re.compile(r"^(?:[\w/ ().-]+:\s*[-+\d.eE]+\s*\|\s*)+iteration\s+(\d+)\s*/\s*(\d+)\s*\|")
MEGATRON_VALID_RE = re.compile(r"^validation loss at (?:iteration\s+(\d+)|the end of training)[^|]*\|", re.I)
NEMO_ITER_RE = re.compile(r"^Training epoch (\d+), iteration (\d+)\s*/\s*(\d+)\s*\|")
# NeMo 1.x / Lightning bar: "Epoch 0: 100%|##| 10/10 [00:05<00:00, reduced_train_loss=10.3, global_step=9.0]"
PTL_BAR_RE = re.compile(r"Epoch \d+:.*\[[^\]]*?<[^\]]*?,\s*([^\]]*global_step=[^\]]*)\]")
_PTL_PAIR_RE = re.compile(r"([A-Za-z_][\w/.-]*)=([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)\b")
_PTL_SKIP = frozenset({"global_step", "v_num", "epoch", "step"})
# Counters and flags Megatron prints beside the metrics; not metrics themselves.
_MEGATRON_SKIP = frozenset(
    {"iteration", "number of skipped iterations", "number of nan iterations", "global_step", "epoch"}
)


def _pipe_pairs(rest: str) -> list[tuple[str, str]]:
    pairs = []
    for part in rest.split("|"):
        key, sep, value = part.rpartition(":")
        key = key.strip()
        value = value.strip()
        if sep and key and _NUM_RE.match(value):
            pairs.append((key, value))
    return pairs


def parse_megatron(text: str, *, filename: str) -> RunLogRecord:
    """``iteration N/ M | lm loss: ... |`` (Megatron-LM, Megatron-DeepSpeed), ``validation loss at iteration
    N | lm loss value: ... |``, and NeMo 2's ``Training epoch E, iteration N/M | reduced_train_loss: ... |``.

    The step is the iteration (NeMo: ``global_step`` when printed). Format ``nemo`` when NeMo lines are found.
    """
    text = decolor(text)
    points = _Points()
    nemo = False
    last_step = 0
    for line, raw in enumerate(text.splitlines(), start=1):
        if "iteration" not in raw and "validation" not in raw and "global_step=" not in raw:
            continue
        prefix, rest = strip_prefix(raw)
        m = MEGATRON_ITER_RE.match(rest) or NEOX_ITER_RE.match(rest)
        if m:
            step = last_step = int(m.group(1))
            wall = _prefix_time(prefix)
            before = rest[: m.start(0) + m.group(0).rfind("iteration")]
            for key, value in _pipe_pairs(before) + _pipe_pairs(rest[m.end() :]):
                if key not in _MEGATRON_SKIP:
                    points.add(key, step, value, line, wall)
            continue
        m = NEMO_ITER_RE.match(rest)
        if m:
            nemo = True
            pairs = _pipe_pairs(rest[m.end() :])
            step = next(
                (int(float(v)) for k, v in pairs if k == "global_step" and float(v) >= 0), int(m.group(2))
            )
            last_step = step
            for key, value in pairs:
                if key not in _MEGATRON_SKIP:
                    points.add(key, step, value, line, _prefix_time(prefix))
            continue
        m = MEGATRON_VALID_RE.match(rest)
        if m:
            step = int(m.group(1)) if m.group(1) else last_step
            # "... at the end of training for test data |" / "... on test set |": keep test apart from val
            label = "test" if "test" in m.group(0).lower() else "validation"
            for key, value in _pipe_pairs(rest[m.end() :]):
                points.add(f"{label} {key}", step, value, line, _prefix_time(prefix))
            continue
        m = PTL_BAR_RE.search(rest)
        if m:
            bar: dict[str, str] = dict(_PTL_PAIR_RE.findall(m.group(1)))
            try:
                step = int(float(bar["global_step"]))
            except (KeyError, ValueError, OverflowError):
                continue
            if step < 0:
                continue
            nemo = True
            last_step = step
            for key, value in bar.items():
                if key not in _PTL_SKIP:
                    points.add(key, step, value, line)
    return points.finish("nemo" if nemo else "megatron", filename)


def looks_like_megatron(lines: list[str]) -> bool:
    for raw in lines:
        if "iteration" in raw:
            rest = strip_prefix(raw)[1]
            if MEGATRON_ITER_RE.match(rest) or NEOX_ITER_RE.match(rest) or NEMO_ITER_RE.match(rest):
                return True
        elif "global_step=" in raw and PTL_BAR_RE.search(raw):
            return True
    return False


# --- Hugging Face Trainer stdout --------------------------------------------------------------------------

# The dict the Trainer prints at each logging step: {'loss': 2.1, 'grad_norm': ..., 'epoch': 0.1}.
_HF_DICT_RE = re.compile(r"\{'[\w/.-]+': (?:[^{}()\n]|\([^()\n]*\))*\}")
_HF_KEYS = frozenset(
    {"loss", "learning_rate", "epoch", "eval_loss", "train_runtime", "grad_norm", "train_loss"}
)
# tqdm's bar: "{desc}: 10%|#   | 10/4854 [00:16<2:14:42,  1.67s/it]". The Trainer's own bars (training and
# evaluation) have no description; "Map: 100%|...|" and "Loading checkpoint shards: ..." do.
_TQDM_RE = re.compile(r"(:\s*)?\d{1,3}%\|[^|\n]*\|\s*(\d+)/(\d+) \[")


# Metrics computed with NumPy print as np.float64(0.85) in recent Trainer output.
_NUMPY_SCALAR_RE = re.compile(r"\b(?:np|numpy)\.\w+\(([^()]*)\)")


def _hf_dict(text: str) -> dict[str, object] | None:
    try:
        obj = ast.literal_eval(_NUMPY_SCALAR_RE.sub(r"\1", text))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def looks_like_hf_trainer_log(lines: list[str]) -> bool:
    for raw in lines:
        if "{'" in raw:
            for m in _HF_DICT_RE.finditer(raw):
                obj = _hf_dict(m.group(0))
                if obj and _HF_KEYS & set(obj):
                    return True
    return False


class _Bars:
    """The Trainer's progress bars seen so far. The training bar is the one being drawn when the first
    training dict was printed; evaluation bars (drawn just before ``eval_*`` dicts) restart every time."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.restarted: set[int] = set()
        self.latest: int | None = None  # total of the bar drawn most recently
        self.training: int | None = None

    def see(self, n: int, total: int) -> None:
        if total in self.last and n < self.last[total]:
            self.restarted.add(total)
        self.last[total] = n
        self.latest = total

    def step_for(self, keys: set[str]) -> int | None:
        evaluation = all(k.startswith(("eval_", "test_")) for k in keys - {"epoch", "step"})
        if self.training is None and not evaluation and self.latest is not None:
            self.training = self.latest
        if self.training is not None:
            return self.last[self.training]
        steady = [t for t in self.last if t not in self.restarted and t > 1]
        return self.last[max(steady)] if steady else None


def parse_hf_trainer_log(text: str, *, filename: str) -> RunLogRecord:
    """Hugging Face Trainer stdout: the ``{'loss': ..., 'learning_rate': ..., 'epoch': ...}`` dicts.

    The step is the dict's own ``step`` when present, else the training progress bar's counter printed before
    it, else the dict's ordinal (1, 2, ...). ``epoch`` is the x-axis, not a series; text values are ignored.
    """
    text = decolor(text)
    points = _Points()
    bars = _Bars()
    ordinal = 0
    for line, raw in enumerate(text.splitlines(), start=1):
        if "{'" not in raw and "/" not in raw:
            continue
        events: list[tuple[int, re.Match[str], bool]] = [
            (m.start(), m, True) for m in _HF_DICT_RE.finditer(raw)
        ]
        if not events and "[" not in raw:
            continue
        events += [(m.start(), m, False) for m in _TQDM_RE.finditer(raw)]
        events.sort(key=lambda e: e[0])
        for _pos, m, is_dict in events:
            if not is_dict:
                if not m.group(1):  # a described bar (dataset map, checkpoint loading) is not the Trainer's
                    bars.see(int(m.group(2)), int(m.group(3)))
                continue
            obj = _hf_dict(m.group(0))
            if not obj or not (_HF_KEYS & set(obj) or any(k.startswith(("eval_", "train_")) for k in obj)):
                continue
            ordinal += 1
            own = obj.get("step")
            bar_step = bars.step_for(set(obj))
            if isinstance(own, int) and not isinstance(own, bool) and own >= 0:
                step = own
            elif bar_step is not None:
                step = bar_step
            else:
                step = ordinal
            for key, value in obj.items():
                if key in ("step", "epoch") or isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                points.add(key, step, repr(value), line)
    return points.finish("hf_trainer_log", filename)


# --- nanoGPT, modded-nanogpt, llm.c and generic step logs ---------------------------------------------

# nanoGPT: "iter 10: loss 2.9234, time 156.78ms, mfu 15.23%" and "step 250: train loss 1.8234, val loss 1.9"
_NANOGPT_RE = re.compile(r"^(?:iter|step) (\d+): ((?:train |val )?loss [-+\d.eEnaif]+.*)$")
# modded-nanogpt: "step:125/1750 val_loss:4.2 train_time:12345ms step_avg:98.7ms"
_MODDED_RE = re.compile(r"^step:(\d+)/\d+ ((?:train|val)_loss:.*)$")
# build-nanogpt: "step 0 | loss: 10.93 | lr: 6.0e-05 | norm: 27.0 | time: 17830.71ms | tokens/sec: 29403.65"
# build-nanogpt / nanochat / torchtune: "step N[/M] [(P%)] | key: value | key: value ...", and nanochat's
# "Step 00250 | Validation bpb: 1.2345".
_BUILD_RE = re.compile(
    r"^step\s+(\d+)(?:\s*/\s*\d+)?(?:\s*\([\d.]+%\))?\s*[|,]\s*(\S.*?:\s*\S.*)$", re.IGNORECASE
)
# LitGPT: "Epoch 1 | iter 10 step 1 | loss train: 1.234, val: n/a | iter time: 100.00 ms (step)" and the older
# "iter 10 step 1: loss 1.2345, iter time: 100.00ms"; the optimizer step is the step.
_LITGPT_RE = re.compile(r"(?:^|\|\s*)iter (\d+) step (\d+)\s*[|:]\s*(.*)$")
_LITGPT_FIELD_RE = re.compile(rf"(loss train|loss|val|iter time):? ({_NUM})")
_SEGMENT_SPLIT_RE = re.compile(r"\s*\|\s*|,\s+")
_STEP_LINE_SKIP = frozenset({"epoch", "step"})
# llm.c main.log: "s:0 trl:11.0 lr:0.000001 norm:15.37" / "s:0 tel:10.98"
_LLMC_LOG_RE = re.compile(r"^s:(\d+) ((?:trl|tel|trf|tef|eval):.*)$")
# llm.c stdout: "step    1/74 | train loss 11.009 | norm 15.37 | lr 1.00e-06 | (42.6 ms | 12345 tok/s)"
_LLMC_OUT_RE = re.compile(r"^step\s+(\d+)\s*/\s*\d+\s*\|\s*(train loss .*)$")
# "val loss 3.27" printed by llm.c after a step line (no step of its own).
_LLMC_VAL_RE = re.compile(r"^val loss ([-+\d.eEnaif]+)\s*$")

_UNIT = r"(?:ms|s|%|x)?"
_SEGMENT_PAIR_RE = re.compile(rf"^([A-Za-z_][\w ./()-]*?):\s*({_NUM_GROUPED}){_UNIT}$", re.IGNORECASE)
_COLON_PAIR_RE = re.compile(rf"([A-Za-z_][\w./-]*):\s*({_NUM_GROUPED}){_UNIT}(?![\w.])", re.IGNORECASE)
_SPACE_PAIR_RE = re.compile(rf"^([A-Za-z_][A-Za-z_ ./-]*?)\s+({_NUM}){_UNIT}$", re.IGNORECASE)


def _space_segments(rest: str, points: _Points, step: int, line: int) -> None:
    for segment in re.split(r"\s*[|,]\s+|\s*\|\s*", rest):
        m = _SPACE_PAIR_RE.match(segment.strip())
        if m:
            name = m.group(1).strip()
            if name == "mfu" and m.group(2).startswith("-"):
                points.errors.add(line, f"mfu {m.group(2)}% is nanoGPT's 'not measured yet' marker")
                continue
            points.add(name, step, m.group(2), line)


def _mixed_segments(
    rest: str,
    points: _Points,
    step: int,
    line: int,
    skip: frozenset[str] = frozenset(),
    prefix: str = "",
) -> None:
    """Segments split on '|' or ', ', each "key: value" or "key value" (build-nanogpt: "lr 6.0e-05")."""
    for segment in _SEGMENT_SPLIT_RE.split(rest):
        whole = _SEGMENT_PAIR_RE.match(segment.strip())  # "Validation bpb: 1.23": a key with spaces
        # "loss:2.34 lr:2e-05 tokens_per_second_per_gpu:1234" (torchtune) holds several pairs in one segment
        pairs = (
            [whole]
            if whole
            else list(_COLON_PAIR_RE.finditer(segment))
            or [p for p in [_SPACE_PAIR_RE.match(segment.strip())] if p is not None]
        )
        for pair in pairs:
            if pair.group(1).strip().lower() not in skip:
                points.add(prefix + pair.group(1).strip(), step, pair.group(2), line)


def _colon_pairs(rest: str, points: _Points, step: int, line: int) -> None:
    for m in _COLON_PAIR_RE.finditer(rest):
        points.add(m.group(1), step, m.group(2), line)


def parse_step_log(text: str, *, filename: str) -> RunLogRecord:
    """nanoGPT, modded-nanogpt and llm.c logs (formats ``nanogpt`` and ``llmc``)."""
    text = decolor(text)
    points = _Points()
    kinds: set[str] = set()
    last_step: int | None = None
    for line, raw in enumerate(text.splitlines(), start=1):
        rest = strip_prefix(raw)[1].rstrip()
        if not rest:
            continue
        m = _NANOGPT_RE.match(rest)
        if m:
            kinds.add("nanogpt")
            last_step = int(m.group(1))
            _space_segments(m.group(2), points, last_step, line)
            continue
        m = _MODDED_RE.match(rest)
        if m:
            kinds.add("nanogpt")
            last_step = int(m.group(1))
            _colon_pairs(m.group(2), points, last_step, line)
            continue
        m = _LITGPT_RE.search(rest)
        if m and ("loss" in m.group(3)):
            kinds.add("nanogpt")
            last_step = int(m.group(2))
            for name, value in _LITGPT_FIELD_RE.findall(m.group(3)):
                points.add("loss val" if name == "val" else name, last_step, value, line)
            continue
        m = _LLMC_LOG_RE.match(rest)
        if m:
            kinds.add("llmc")
            last_step = int(m.group(1))
            _colon_pairs(m.group(2), points, last_step, line)
            continue
        m = _LLMC_OUT_RE.match(rest)
        if m:
            kinds.add("llmc")
            last_step = int(m.group(1))
            _space_segments(m.group(2), points, last_step, line)
            continue
        m = _BUILD_RE.match(rest)
        if m:
            kinds.add("nanogpt")
            last_step = int(m.group(1))
            _mixed_segments(m.group(2), points, last_step, line, skip=_STEP_LINE_SKIP)
            continue
        m = _LLMC_VAL_RE.match(rest)
        if m and last_step is not None and "llmc" in kinds:
            points.add("val loss", last_step, m.group(1), line)
    fmt = "llmc" if kinds == {"llmc"} else "nanogpt"
    return points.finish(fmt, filename)


def step_log_kind(lines: list[str]) -> str | None:
    """'nanogpt' or 'llmc' when a line of that family appears, else None."""
    for raw in lines:
        rest = strip_prefix(raw)[1]
        if _LLMC_LOG_RE.match(rest) or _LLMC_OUT_RE.match(rest):
            return "llmc"
        if _NANOGPT_RE.match(rest) or _MODDED_RE.match(rest) or _BUILD_RE.match(rest):
            return "nanogpt"
        lit = _LITGPT_RE.search(rest)
        if lit and "loss" in lit.group(3):
            return "nanogpt"
        if _LLMC_LOG_RE.match(rest) or _LLMC_OUT_RE.match(rest):
            return "llmc"
    return None


# --- MosaicML Composer / llm-foundry console logger --------------------------------------------------

# "[batch=10/4800]:" (or "[epoch=1][batch=10/4800]:"), then indented "Train loss/train/total: 2.3" lines.
_COMPOSER_HEAD_RE = re.compile(r"^(?:\[epoch=\d+\])?\[batch=(\d+)/\d+\]:\s*$")
_COMPOSER_ROW_RE = re.compile(rf"^\s+(?:Train|Eval) (\S.*?):\s*({_NUM})\s*$")


def looks_like_composer(lines: list[str]) -> bool:
    return any(_COMPOSER_HEAD_RE.match(raw.strip()) for raw in lines if "[batch=" in raw)


def parse_composer(text: str, *, filename: str) -> RunLogRecord:
    """Composer's console logger: each ``[batch=N/M]:`` block's ``Train|Eval <name>: <value>`` lines."""
    text = decolor(text)
    points = _Points()
    step: int | None = None
    for line, raw in enumerate(text.splitlines(), start=1):
        if "[batch=" in raw:
            m = _COMPOSER_HEAD_RE.match(raw.strip())
            step = int(m.group(1)) if m else None
            continue
        if step is None:
            continue
        row = _COMPOSER_ROW_RE.match(raw)
        if row:
            points.add(row.group(1), step, row.group(2), line)
        elif raw.strip() and not raw[:1].isspace():
            step = None  # the block ended
    return points.finish("composer", filename)


# --- generic key-value logs -----------------------------------------------------------------------------

KV_STEP_RE = re.compile(
    # "steps" only as DeepSpeed writes it, before more pairs ("steps: 10 loss: 2.3"), not "Total steps: 9"
    r"(?:^|[\s,|\[(/])"
    r"(global_step|step|steps(?=\s*[:=]\s*\d+\s+[A-Za-z_][\w/ ()]*[:=])|iteration|iter|num_updates)"
    r"\s*[:=]\s*(\d+)(?:\s*/\s*\d+)?(?![\w.])",
    re.IGNORECASE,
)
# key: value / key=value; a bracketed list ("lr=[3e-4, 3e-4]", one value per parameter group) gives its first.
_KV_RE = re.compile(
    rf"([A-Za-z_][\w./-]*(?: [A-Za-z_][\w./-]*)*)\s*[:=]\s*\[?\s*({_NUM_GROUPED}){_UNIT}(?![\w.])",
    re.IGNORECASE,
)
# Counters that locate a point rather than measure anything.
_KV_SKIP = frozenset(
    {"step", "steps", "global_step", "iteration", "iter", "epoch", "micro_step", "batch", "ep", "num_updates"}
)
# fairseq's end-of-epoch summary: "epoch 001 | loss 4.3 | ppl 19.5 | ... | num_updates 1000 | lr 0.0005"
_FAIRSEQ_RE = re.compile(r"\|\s*num_updates (\d+)\s*(?:\||$)")


def parse_kv_log(text: str, *, filename: str) -> RunLogRecord:
    """Generic ``step: 10 loss: 2.31 lr: 3e-4`` / ``step=10, loss=2.31`` lines (after launcher prefixes);
    lines without a step are ignored."""
    text = decolor(text)
    points = _Points()
    for line, raw in enumerate(text.splitlines(), start=1):
        m = KV_STEP_RE.search(raw)
        if not m:
            fm = _FAIRSEQ_RE.search(raw)
            if fm:
                head, _, rest = strip_prefix(raw)[1].partition("| epoch")
                # "| valid | epoch 001 | valid on 'valid' subset | loss 4.1 |": not the training loss
                subset = re.search(r"\|\s*(valid|test)\w*\s*$", head.strip())
                prefix = f"{subset.group(1)}/" if subset else ""
                _mixed_segments(rest, points, int(fm.group(1)), line, skip=_KV_SKIP, prefix=prefix)
            continue
        step = int(m.group(2))
        for km in _KV_RE.finditer(strip_prefix(raw)[1]):
            key = km.group(1).strip()
            # "epoch 1 step: 10 loss: 2.3": the key pattern may swallow preceding words; keep the last one.
            key = key.rsplit(" ", 1)[-1]
            if key.lower() in _KV_SKIP or key.lower().endswith("_step"):
                continue
            points.add(key, step, km.group(2), line)
    return points.finish("kv_log", filename)


def looks_like_kv_log(lines: list[str]) -> bool:
    return any(KV_STEP_RE.search(line) or _FAIRSEQ_RE.search(line) for line in lines)


# --- detection ------------------------------------------------------------------------------------------

TextParser = Callable[..., RunLogRecord]


def sniff(lines: list[str]) -> str | None:
    """The text-log format of these (first) lines, most specific first; None when none matches."""
    lines = [decolor(line) for line in lines]
    if looks_like_megatron(lines):
        return "megatron"
    if looks_like_hf_trainer_log(lines):
        return "hf_trainer_log"
    kind = step_log_kind(lines)
    if kind:
        return kind
    if looks_like_composer(lines):
        return "composer"
    if looks_like_kv_log(lines):
        return "kv_log"
    return None


def why_not(lines: list[str]) -> list[str]:
    """One line per text-log format saying what it looks for (for refusal messages)."""
    del lines
    return [
        "megatron/nemo: no 'iteration N/ M | lm loss: X |' or 'Training epoch E, iteration N/M |' line",
        "hf_trainer_log: no Trainer dict line such as {'loss': 2.1, 'learning_rate': 2e-05, 'epoch': 0.1}",
        "nanogpt/llmc: no 'iter N: loss X', 'step N: train loss X', 'step:N/M val_loss:X', 's:N trl:X' line",
        "composer: no '[batch=N/M]:' block",
        "kv_log: no 'step: N' / 'step=N' / 'iter N' line with key: value pairs",
    ]


PARSERS: dict[str, TextParser] = {
    "megatron": parse_megatron,
    "nemo": parse_megatron,
    "hf_trainer_log": parse_hf_trainer_log,
    "nanogpt": parse_step_log,
    "llmc": parse_step_log,
    "kv_log": parse_kv_log,
    "composer": parse_composer,
}


def parse_text(fmt: str, text: str, *, filename: str) -> RunLogRecord:
    parser = PARSERS.get(fmt)
    if parser is None:
        raise ParseError(f"no text-log parser for {fmt!r}", filename=filename)
    return parser(text, filename=filename)
