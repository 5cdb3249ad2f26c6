"""Which metric a researcher wants to see first, and which number is a run's final loss.

Pure (no Django): run pages, comparisons and ingestion share these rules.

Metric order (`metric_sort_key`): a name is normalised (lower case; "_", "-", "." and runs of spaces become
one space; "/" and ":" become "/"), then ranked by the first group it matches, and by name within a group:

0. training loss: loss, train/loss, train loss, training loss, lm loss, train/lm loss, loss/train, ...
1. validation loss: eval/loss, val/loss, val loss, valid/loss, validation loss, test/loss, lm loss validation,
   loss/val, ...
2. other losses and perplexities: any name containing "loss", "ppl" or "perplexity" (z loss, eval/ppl)
3. quality: accuracy, acc, f1, bleu, rouge, exact match, score, pass@k, win rate
4. optimisation: grad norm, learning rate, lr, params norm, weight decay, momentum
5. throughput and system: tokens per second, samples per second, throughput, tflops, mfu, iteration time,
   memory, gpu, power
6. anything else (and "loss scale", which is mixed-precision bookkeeping)
7. counters, last: consumed samples, consumed tokens, samples, tokens, step, iteration, epoch, batch size,
   time, timestamp, runtime, skipped iterations, number of nan iterations ...

so a Megatron log opens on "lm loss", never on "consumed samples".

Final loss (`final_loss_choose`), computed when a run log is stored:
1. the last value (at the highest step) of the best-ranked validation-loss series (group 1), else
2. the mean of the last `FINAL_LOSS_TRAIN_K` = 20 points of the best-ranked training-loss series (group 0)
   (all of them when it has fewer): one training step's loss is noisy, the last 20 logged points are not,
   and 20 keeps the estimate at the end of training even for short runs logged every 100 steps, else
3. none.
Non-finite values are skipped. The rule text is stored with the value, so a page can say how it was made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FINAL_LOSS_TRAIN_K = 20

TRAIN_LOSS, EVAL_LOSS, OTHER_LOSS, QUALITY, OPTIMISATION, SYSTEM, OTHER, COUNTER = range(8)
GROUP_LABELS = {
    TRAIN_LOSS: "training loss",
    EVAL_LOSS: "validation loss",
    OTHER_LOSS: "other losses",
    QUALITY: "quality",
    OPTIMISATION: "optimisation",
    SYSTEM: "throughput and system",
    OTHER: "other",
    COUNTER: "counters",
}

_SPLIT = "train|training|trn"
_EVAL = "eval|evaluation|val|valid|validation|test|dev|heldout|held out"

# (group, pattern) in order; the first match wins. Patterns are matched against the normalised name.
_RULES: list[tuple[int, re.Pattern[str]]] = [
    (TRAIN_LOSS, re.compile(rf"^(?:(?:{_SPLIT})[/ ])?(?:lm )?loss(?:[/ ](?:{_SPLIT}))?$")),
    (TRAIN_LOSS, re.compile(rf"^(?:{_SPLIT})[/ ](?:lm )?loss$|^(?:{_SPLIT}) lm loss$")),
    (EVAL_LOSS, re.compile(rf"^(?:{_EVAL})[/ ](?:lm )?loss$")),
    (EVAL_LOSS, re.compile(rf"^(?:lm )?loss[/ ](?:{_EVAL})$")),
    (EVAL_LOSS, re.compile(rf"^(?:lm )?loss (?:{_EVAL})$|^(?:{_EVAL}) (?:lm )?loss$")),
    (EVAL_LOSS, re.compile(rf"(?:^|/)(?:{_EVAL})(?:/| ).*(?:^|[/ ])loss$")),
    (OTHER, re.compile(r"loss scale")),  # mixed-precision bookkeeping, not a loss
    (OTHER_LOSS, re.compile(r"loss|ppl|perplexity")),
    # Counters before quality/system words: "consumed tokens" is a counter, not a throughput.
    (
        COUNTER,
        re.compile(
            r"^(?:consumed|total|cumulative|num|number of|n)[ /].*(?:samples|tokens|examples|steps)$"
            r"|^(?:train/|trainer/|_)?(?:global )?(?:step|steps|iteration|iter|iterations|epoch|epochs"
            r"|samples|tokens|examples|batch size|global batch size|runtime|timestamp|time|wall time"
            r"|elapsed|elapsed time|progress)$"
            r"|skipped iterations|nan iterations|num input tokens seen"
        ),
    ),
    (
        QUALITY,
        re.compile(r"acc|accuracy|(?:^|[/ ])f1$|bleu|rouge|exact match|(?:^|[/ ])em$|score|pass@|win rate"),
    ),
    (
        OPTIMISATION,
        re.compile(r"grad|(?:^|[/ ])lr$|learning rate|loss scale|params? norm|weight decay|momentum"),
    ),
    (
        SYSTEM,
        re.compile(
            r"per sec|per second|/s$|throughput|tflops|mfu|iteration time|time per|memory|mem|gpu|power"
            r"|utili[sz]ation|latency"
        ),
    ),
]


def normalise(name: str) -> str:
    text = name.strip().lower()
    text = re.sub(r"[:/]+", "/", text)
    text = re.sub(r"[\s_.\-]+", " ", text)
    return re.sub(r" ?/ ?", "/", text).strip()


def metric_group(name: str) -> int:
    norm = normalise(name)
    for group, pattern in _RULES:
        if pattern.search(norm):
            return group
    return OTHER


def metric_sort_key(name: str) -> tuple[int, int, str]:
    norm = normalise(name)
    for index, (group, pattern) in enumerate(_RULES):
        if pattern.search(norm):
            return group, index, norm
    return OTHER, len(_RULES), norm


def metrics_ordered(names: Iterable[str]) -> list[str]:
    """Names in the documented order (loss first, counters last); duplicates dropped."""
    return sorted(dict.fromkeys(names), key=metric_sort_key)


@dataclass(frozen=True)
class SeriesTail:
    """The last points of one series (steps ascending), as much as the rule needs (>= FINAL_LOSS_TRAIN_K)."""

    name: str
    steps: Sequence[int]
    values: Sequence[float]


@dataclass(frozen=True)
class FinalLoss:
    value: float
    series: str
    rule: str  # for people: "last eval/loss (step 10,000)"


def _finite(tail: SeriesTail) -> list[tuple[int, float]]:
    return [(s, v) for s, v in zip(tail.steps, tail.values, strict=True) if math.isfinite(v)]


def final_loss_choose(tails: Iterable[SeriesTail], k: int = FINAL_LOSS_TRAIN_K) -> FinalLoss | None:
    """The documented rule above, over the tails of a run's series."""
    ranked = sorted(
        (t for t in tails if metric_group(t.name) in (TRAIN_LOSS, EVAL_LOSS)),
        key=lambda t: metric_sort_key(t.name),
    )
    for tail in ranked:
        if metric_group(tail.name) != EVAL_LOSS:
            continue
        points = _finite(tail)
        if points:
            step, value = max(points)
            return FinalLoss(value=value, series=tail.name, rule=f"last {tail.name} (step {step:,})")
    for tail in ranked:
        if metric_group(tail.name) != TRAIN_LOSS:
            continue
        points = sorted(_finite(tail))[-k:]
        if points:
            mean = math.fsum(v for _, v in points) / len(points)
            first, last = points[0][0], points[-1][0]
            where = f"step {last:,}" if first == last else f"steps {first:,}\u2013{last:,}"
            what = "the last point" if len(points) == 1 else f"the last {len(points)} points"
            return FinalLoss(value=mean, series=tail.name, rule=f"mean of {what} of {tail.name} ({where})")
    return None
