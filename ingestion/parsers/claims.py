"""Claims from article prose: which model a number is about, what it measures, its value, bounds and line.

Pure (no Django). ``extract_claims`` reads Markdown-ish plain text in any language (ATX headings ``#``,
bullets ``-``/``*``/``•``/``1.``, pipe tables, paragraphs; ``ingestion.parsers.article`` turns HTML into
this shape) and returns one ``FactRecord`` per claim.

Quantities (``FactRecord.name`` -> ``unit``):

- ``parameters``, ``active_parameters`` -> ``"params"``
- ``training_tokens``, ``context_length`` -> ``"tokens"``
- ``gpu_hours`` -> ``"GPU-hours"``; ``training_compute`` -> ``"FLOP"``
- ``cost`` -> ``"USD"`` (only amounts in dollars: 달러, 美元, ドル; other currencies are not claims)
- ``release_date`` -> ``value`` None, ``text_value`` ISO ``YYYY-MM-DD`` (or ``YYYY-MM`` for "2024年9月")
- ``benchmark_score`` -> ``value`` as written, ``text_value`` the benchmark ("MMLU"), ``unit`` ``"%"`` when
  written as a percentage, else ``""``

For the numeric quantities ``text_value`` is the number as written ("405B", "4050억", "1.8万亿").

Bounds: "more than / over / at least / 15T+ / 이상 / 超过 / 以上" set ``lower`` (= value); "up to /
under / at most / 최대 / 不超过 / 以下" set ``upper`` (= value); "about / ~ / 약 / 约 / 約" keep the value
and lower the confidence (x0.8). A range ("7B-70B", "2 to 3 trillion", "70억~700억") is one claim with
``lower``, ``upper`` and the midpoint as value (as ``text.parse_quantity`` does). A list of sizes
("8B, 70B and 405B", "12B/48B/310B") gives one ``parameters`` claim per size, about ``"<family> <size>"``.

"K" after a context length is binary (128K context = 131072, as model configs count); every other
multiplier is decimal (1M context = 1,000,000).

Subject: the model named in the number's clause; else, after "It / This model / 该模型 / 이 모델", the
previous sentence's subject; else another model in the same sentence; else a parent bullet, a lead-in line
ending in ":", the nearest heading (or the title) naming exactly one model; else the previous sentence's
subject within the same paragraph; else ``""`` (unknown subject). A transliterated
name with the English one in parentheses counts as the English one ("라마 3.1(Llama 3.1)" -> "Llama 3.1",
"通义千问（Qwen2.5）" -> "Qwen2.5"); a few common transliterations are mapped (라마 -> Llama). A size that
names a model ("Llama 3.1 405B", "the 405B model", a row label) is part of the subject, not a claim.

Confidence starts at 0.9 for a number with its unit written after it, 0.85 for a label before it
("Parameters: 405B", "参数量为…") or a table cell, 0.8 for a benchmark score, 0.7 for a size in a list; it is
lowered for an inherited subject, an unknown subject, hedges ("reportedly") and approximations.
"""

# ruff: noqa: RUF001, RUF002 (CJK punctuation and full-width forms are what this module reads)
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ingestion.parsers.records import FactRecord

UNITS: dict[str, str] = {
    "parameters": "params",
    "active_parameters": "params",
    "training_tokens": "tokens",
    "gpu_hours": "GPU-hours",
    "training_compute": "FLOP",
    "cost": "USD",
    "context_length": "tokens",
    "release_date": "",
    "benchmark_score": "",
}
QUANTITIES: tuple[str, ...] = tuple(UNITS)

MAX_EXCERPT = 500
_MAX_SENTENCE = 2000
_MAX_NUMBERS = 200

# Plausible magnitudes: a number outside them is not that quantity ("7 parameters", "$499 tickets").
_MIN_VALUE = {
    "parameters": 1e6,
    "active_parameters": 1e6,
    "training_tokens": 1e9,
    "gpu_hours": 1.0,
    "training_compute": 1e15,
    "cost": 1e4,
    "context_length": 256.0,
}
_MAX_VALUE = {"context_length": 1e9, "parameters": 1e15, "active_parameters": 1e15, "training_tokens": 1e16}

# Length-preserving fold: full-width ASCII, ideographic and no-break spaces, curly quotes, minus signs.
_FOLD: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD.update(
    {
        0x3000: 0x20,
        0x00A0: 0x20,
        0x2007: 0x20,
        0x2009: 0x20,
        0x202F: 0x20,
        0x200B: 0x20,
        0x2212: 0x2D,
        0x2010: 0x2D,
        0x2011: 0x2D,
        0x2018: 0x27,
        0x2019: 0x27,
        0x201C: 0x22,
        0x201D: 0x22,
        0x0009: 0x20,
    }
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _words_in_order(text: str) -> list[str]:
    return text.split()


def _split_bar(text: str) -> list[str]:
    return text.split("|")


def _fold(text: str) -> str:
    return text.translate(_FOLD)


_CJK = "\uac00-\ud7af\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"

# ------------------------------------------------------------------------------------------------ numbers

_AR = r"(?:\d{1,3}(?:,\d{3})+|\d{1,18})(?:\.\d{1,12})?"
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_CJK_BIG = {"万": 1e4, "萬": 1e4, "만": 1e4, "亿": 1e8, "億": 1e8, "억": 1e8, "兆": 1e12, "조": 1e12}
_CJK_SMALL = {"十": 10.0, "拾": 10.0, "십": 10.0, "百": 100.0, "佰": 100.0, "백": 100.0}
_CJK_SMALL.update({"千": 1e3, "仟": 1e3, "천": 1e3})
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_BIG_CH = "".join(_CJK_BIG)
_SMALL_CH = "".join(_CJK_SMALL)
_CN_CH = "".join(_CN_DIGITS) + "十百千拾佰仟"
_CJK_GROUP = (
    rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d{{1,12}})(?:\.\d{{1,9}})?[ ]?(?:[{_SMALL_CH}][{_BIG_CH}]*|[{_BIG_CH}]+)"
)

_NUMBER_RE = re.compile(
    rf"""(?=[\d{_CN_CH}])(?<![A-Za-z0-9_.@#^])(?:
      (?P<sm>{_AR})[ ]?(?:[x×✕*·]|\\times)[ ]?10[ ]?(?:\^|\*\*)[ ]?[({{]?(?P<se>[-+]?\d{{1,3}})[)}}]?
    | (?P<um>{_AR})[ ]?[x×✕*·][ ]?10(?P<ue>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]{{1,3}})
    | (?P<em>\d{{1,3}}(?:\.\d{{1,12}})?)[eE](?P<ee>[-+]?\d{{1,3}})(?![A-Za-z0-9])
    | 10[ ]?\^[ ]?(?P<pe>\d{{1,3}})(?!\d)
    | (?P<cjk>{_CJK_GROUP}(?:[ ]?{_CJK_GROUP})*(?:\d{{1,4}}(?![\d.,]))?)(?!큼)
    | (?P<cn>[{_CN_CH}]+[万萬亿億兆]+(?:[{_CN_CH}]+[万萬亿億兆]*)*)
    | (?P<a>{_AR})(?:[ ]?(?P<suf>[KMBT])(?![A-Za-z0-9])|(?P<lsuf>[kmb])(?![A-Za-z0-9])
        |[ -]?(?P<word>thousand|million|billion|trillion|bn|mn|tn|mln)(?![A-Za-z]))?
    )(?P<plus>\+(?![\d+]))?(?P<pct>[ ]?(?:%|percent(?![A-Za-z])|퍼센트))?""",
    re.VERBOSE,
)
_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "k": 1e3, "m": 1e6, "b": 1e9}
_WORD_SCALE = {"thousand": 1e3, "million": 1e6, "mn": 1e6, "mln": 1e6, "billion": 1e9, "bn": 1e9}
_WORD_SCALE.update({"trillion": 1e12, "tn": 1e12})

_UNIT_WORDS = {"zero": 0, "a": 1, "an": 1}
_UNIT_WORDS.update(
    zip(
        _words_in_order(
            "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen"
        ),
        range(1, 20),
        strict=True,
    )
)
_TENS_WORDS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70}
_TENS_WORDS.update({"eighty": 80, "ninety": 90})
_W_ALL = "|".join(sorted([*_UNIT_WORDS, *_TENS_WORDS, "hundred"], key=len, reverse=True))
_W_START = "|".join(sorted([w for w in [*_UNIT_WORDS, *_TENS_WORDS] if w != "zero"], key=len, reverse=True))
_WORD_NUMBER_RE = re.compile(
    rf"(?<![A-Za-z])(?P<w>(?:{_W_START})(?:[ -]+(?:and[ -]+)?(?:{_W_ALL})){{0,6}}|half[ -]+an?)"
    rf"(?P<half>[ -]+and[ -]+a[ -]+half)?[ -]+(?P<scale>thousand|million|billion|trillion)(?![A-Za-z])",
    re.IGNORECASE,
)


@dataclass(slots=True)
class _Num:
    start: int
    end: int
    value: float
    coef: float
    mult: float
    suffix: str  # "K" "M" "B" "T" (a letter), "word", "cjk", "sci" or ""
    raw: str
    pct: bool = False
    plus: bool = False
    lower: float | None = None
    upper: float | None = None
    plain_int: bool = False


def _tidy(value: float) -> float:
    """Twelve significant digits: 3.1 * 1e25 is 3.1000000000000002e25, 128 * 1.024e3 is 131072.00000000001."""
    return float(f"{value:.12g}")


def _to_float(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value - value == 0.0 else None


def _cjk_value(text: str) -> float | None:
    """'4050억' -> 4.05e11, '1조 5천억' -> 1.5e12, '1.8万亿' -> 1.8e12, '十五万亿' -> 1.5e13, '12만8000'."""
    total = 0.0
    chunk = 0.0
    number: float | None = None
    last_big: float | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() and ch.isascii():
            j = i
            while j < len(text) and ((text[j].isdigit() and text[j].isascii()) or text[j] in ".,"):
                j += 1
            number = _to_float(text[i:j])
            if number is None:
                return None
            i = j
            continue
        if ch in _CN_DIGITS:
            number = float(_CN_DIGITS[ch]) if number is None else number * 10 + _CN_DIGITS[ch]
        elif ch in _CJK_SMALL:
            chunk += (1.0 if number is None else number) * _CJK_SMALL[ch]
            number = None
        elif ch in _CJK_BIG:
            big = _CJK_BIG[ch]
            value = chunk + (number or 0.0)
            if value == 0.0 and total > 0 and last_big is not None and big > last_big:
                total *= big  # "万亿": the unit multiplies what came before
            elif last_big is not None and big > last_big:
                total = (total + value) * big
            else:
                total += value * big
            last_big = big
            chunk = 0.0
            number = None
        i += 1
    total += chunk + (number or 0.0)
    return total if total > 0 and total - total == 0.0 else None


def _word_value(words: str, half: bool) -> float | None:
    tokens = [t for t in re.split(r"[ -]+", words.lower()) if t and t != "and"]
    if tokens[:1] == ["half"]:
        return 0.5
    current = 0.0
    for token in tokens:
        if token in _UNIT_WORDS:
            current += _UNIT_WORDS[token]
        elif token in _TENS_WORDS:
            current += _TENS_WORDS[token]
        elif token == "hundred":  # noqa: S105
            current = (current or 1.0) * 100
        else:
            return None
    return current + (0.5 if half else 0.0)


def _find_numbers(s: str) -> list[_Num]:
    out: list[_Num] = []
    for m in _NUMBER_RE.finditer(s):
        coef: float | None
        mult = 1.0
        suffix = ""
        if m["sm"] is not None or m["um"] is not None:
            coef = _to_float(m["sm"] or m["um"])
            exp = m["se"] if m["sm"] is not None else m["ue"].translate(_SUPERSCRIPTS)
            mult = float(f"1e{int(exp)}")  # inf past 1e308, dropped below; ** would raise
            suffix = "sci"
        elif m["em"] is not None:
            coef = _to_float(m["em"])
            mult = float(f"1e{int(m['ee'])}")
            suffix = "sci"
        elif m["pe"] is not None:
            coef = 1.0
            mult = float(f"1e{int(m['pe'])}")
            suffix = "sci"
        elif m["cjk"] is not None or m["cn"] is not None:
            text = m["cjk"] or m["cn"]
            if m["cn"] is not None and m.start() > 0 and s[m.start() - 1] in "数幾几수몇":
                continue  # "数千亿" = some hundreds of billions: not a number
            coef = _cjk_value(text)
            suffix = "cjk"
        else:
            coef = _to_float(m["a"])
            if m["suf"] or m["lsuf"]:
                suffix = m["suf"] or m["lsuf"]
                mult = _SUFFIX[suffix]
                suffix = suffix.upper()
            elif m["word"]:
                mult = _WORD_SCALE[m["word"]]
                suffix = "word"
        if coef is None:
            continue
        value = coef * mult
        if value - value != 0.0:
            continue
        value = _tidy(value)
        raw = m.group(0).rstrip()
        plain_int = suffix == "" and m["a"] is not None and "." not in m["a"] and "," not in m["a"]
        out.append(
            _Num(
                m.start(),
                m.end(),
                value,
                coef,
                mult,
                suffix,
                raw,
                pct=bool(m["pct"]),
                plus=bool(m["plus"]),
                plain_int=plain_int,
            )
        )
        if len(out) >= _MAX_NUMBERS:
            break
    has_scale_word = _SCALE_WORD_RE.search(s) is not None
    for m in _WORD_NUMBER_RE.finditer(s) if has_scale_word else ():
        coef = _word_value(m["w"], bool(m["half"]))
        if coef is None or any(n.start < m.end() and m.start() < n.end for n in out):
            continue
        mult = _WORD_SCALE[m["scale"].lower()]
        out.append(_Num(m.start(), m.end(), _tidy(coef * mult), coef, mult, "word", m.group(0)))
    out.sort(key=lambda n: n.start)
    starts = [n.start for n in out]
    suspended: dict[int, _Num] = {}
    for m in _SUSPENDED_RE.finditer(s) if "-" in s else ():
        k = bisect_right(starts, m.end() - 1)
        later = out[k] if k < len(out) else None
        if later is None or later.mult <= 1 or later.suffix == "sci":
            continue
        word = m["n"].lower()
        coef = (
            _to_float(word) if word[0].isdigit() else float(_UNIT_WORDS.get(word, _TENS_WORDS.get(word, 0)))
        )
        if coef:
            value = _tidy(coef * later.mult)
            suspended[m.start()] = _Num(
                m.start(), m.end("n") + 1, value, coef, later.mult, later.suffix, m["n"]
            )
    if suspended:
        kept = [n for n in out if n.start not in suspended]
        out = sorted([*kept, *suspended.values()], key=lambda n: n.start)
    return out


_SCALE_WORD_RE = re.compile(r"thousand|million|billion|trillion", re.IGNORECASE)
_SUSPENDED_RE = re.compile(
    rf"(?<![A-Za-z0-9.])(?P<n>\d{{1,4}}(?:\.\d{{1,2}})?|{_W_START})-[ ]*(?=(?:and|or|to|,)[ ]+\d)",
    re.IGNORECASE,
)
_CHANGE_FROM_RE = re.compile(
    r"(?i:expand|increas|grow|grew|scal|rais|rose|jump|doubl|tripl|boost|extend|went|up|moved?|bump)\w*"
    r"(?:\s+[\w-]+){0,4}?\s+from\s*$"
)
_RANGE_GAP_RE = re.compile(r"\s*(?:-|–|—|~|〜|to|through|至|到|에서|から)\s*")
_LIST_GAP_RE = re.compile(
    r"(?:\s*(?:개|個|个))?\s*(?:,|、|/|;|\band\b|\bor\b|&|및|와|과|和|及|与|與|や|と|또는)\s*(?:and\s+|or\s+)?"
)


def _is_year(n: _Num) -> bool:
    return n.plain_int and not n.pct and 1900 <= n.value <= 2100


def _merge_ranges(s: str, nums: list[_Num]) -> list[_Num]:
    out: list[_Num] = []
    i = 0
    while i < len(nums):
        a = nums[i]
        if i + 1 < len(nums):
            b = nums[i + 1]
            gap = s[a.end : b.start]
            between = bool(re.search(r"(?i:between|from)\s*$", s[max(0, a.start - 9) : a.start]))
            if _CHANGE_FROM_RE.search(s[max(0, a.start - 60) : a.start]):
                out.append(a)  # "grew from 7 to 18 trillion tokens" is a change, not a range
                i += 1
                continue
            if (
                (_RANGE_GAP_RE.fullmatch(gap) or (between and re.fullmatch(r"\s*and\s*", gap)))
                and a.pct == b.pct
                and not (_is_year(a) and _is_year(b))
            ):
                lo_value = a.value
                if a.suffix == "" and b.suffix not in ("", "sci") and a.mult == 1.0:
                    lo_value = _tidy(a.coef * b.mult)
                if 0 < lo_value < b.value:
                    merged = _Num(
                        a.start,
                        b.end,
                        _tidy((lo_value + b.value) / 2),
                        b.coef,
                        b.mult,
                        b.suffix,
                        s[a.start : b.end],
                        pct=b.pct,
                        lower=lo_value,
                        upper=b.value,
                    )
                    out.append(merged)
                    i += 2
                    continue
        out.append(a)
        i += 1
    return out


# -------------------------------------------------------------------------------------------------- dates

_MONTH_NAMES = [
    ("January", "Jan"),
    ("February", "Feb"),
    ("March", "Mar"),
    ("April", "Apr"),
    ("May",),
    ("June", "Jun"),
    ("July", "Jul"),
    ("August", "Aug"),
    ("September", "Sept", "Sep"),
    ("October", "Oct"),
    ("November", "Nov"),
    ("December", "Dec"),
]
_MONTHS = {name: i for i, names in enumerate(_MONTH_NAMES, start=1) for name in names}
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_RE = re.compile(
    rf"""(?<![A-Za-z])(?P<a_mon>{_MON})\.?[ ](?P<a_d>\d{{1,2}})(?:st|nd|rd|th)?,?[ ]
        (?P<a_y>(?:19|20)\d{{2}})(?!\d)
    |(?<![\d.])(?P<b_d>\d{{1,2}})(?:st|nd|rd|th)?[ ](?P<b_mon>{_MON})\.?,?[ ](?P<b_y>(?:19|20)\d{{2}})(?!\d)
    |(?<![A-Za-z])(?P<c_mon>{_MON})\.?,?[ ](?P<c_y>(?:19|20)\d{{2}})(?!\d)
    |(?<![\d.])(?P<d_y>(?:19|20)\d{{2}})(?P<sep>[-/.])(?P<d_m>\d{{1,2}})(?P=sep)(?P<d_d>\d{{1,2}})(?![\d])\.?
    |(?P<e_y>(?:19|20)\d{{2}})[ ]?[년年][ ]?(?P<e_m>\d{{1,2}})[ ]?[월月]
        (?:[ ]?(?P<e_d>\d{{1,2}})[ ]?[일日号號])?
    |(?<![\d.])(?P<f_y>(?:19|20)\d{{2}})\.[ ](?P<f_m>\d{{1,2}})\.[ ]?(?P<f_d>\d{{1,2}})\.?
    |(?P<g_y>(?:19|20)\d{{2}})[ ]?[년年](?!\d)""",
    re.VERBOSE,
)
_RELEASE_CUE_RE = re.compile(
    r"(?i:releas|launch|unveil|announc|introduc|debut|open[- ]?sourc|made available|rolled out)"
    r"|출시|공개|발표|선보|내놓|릴리스|发布|發佈|推出|开源|開源|上线|亮相|リリース|公開|発表|登場"
)
_DATE_EXCLUDE_RE = re.compile(
    r"(?i:cut-?off|knowledge|as of|posted|updated|published|written)"
    r"|기준|작성|업데이트|截止|更新|作者|投稿"
)


@dataclass(slots=True)
class _Date:
    start: int
    end: int
    iso: str  # "" for a bare year


def _find_dates(s: str) -> list[_Date]:
    out: list[_Date] = []
    for m in _DATE_RE.finditer(s):
        g = m.groupdict()
        year: str | None
        month: int | None
        day: str | None
        if g["a_y"]:
            year, month, day = g["a_y"], _MONTHS[g["a_mon"]], g["a_d"]
        elif g["b_y"]:
            year, month, day = g["b_y"], _MONTHS[g["b_mon"]], g["b_d"]
        elif g["c_y"]:
            year, month, day = g["c_y"], _MONTHS[g["c_mon"]], None
        elif g["d_y"]:
            year, month, day = g["d_y"], int(g["d_m"]), g["d_d"]
        elif g["e_y"]:
            year, month, day = g["e_y"], int(g["e_m"]), g["e_d"]
        elif g["f_y"]:
            year, month, day = g["f_y"], int(g["f_m"]), g["f_d"]
        else:
            out.append(_Date(m.start(), m.end(), ""))
            continue
        if not 1 <= month <= 12 or (day is not None and not 1 <= int(day) <= 31):
            continue
        iso = f"{year}-{month:02d}" + (f"-{int(day):02d}" if day is not None else "")
        out.append(_Date(m.start(), m.end(), iso))
    return out


# ---------------------------------------------------------------------------------------------- benchmarks

_BENCHMARKS = _split_bar(
    "MMLU-Pro|MMLU-Redux|MMLU|KMMLU|CMMLU|GPQA Diamond|GPQA-Diamond|GPQA|GSM8K|GSM-8K|MATH-500|MATH|"
    "HumanEval+|"
    "HumanEval|MBPP+|MBPP|ARC-Challenge|ARC-Easy|ARC-C|ARC-E|ARC|HellaSwag|TruthfulQA|BIG-Bench Hard|"
    "BIG-Bench|BBH|WinoGrande|DROP|IFEval|C-Eval|CEval|AIME 2024|AIME 2025|AIME|LiveCodeBench|"
    "SWE-bench Verified|SWE-bench|Arena-Hard|MT-Bench|AlpacaEval 2.0|AlpacaEval|HAE-RAE|KoBEST|MMMU|"
    "MathVista|MGSM|TriviaQA|NaturalQuestions|PIQA|SIQA|OpenBookQA|BoolQ|LAMBADA|Codeforces|CRUXEval|"
    "MuSR|SimpleQA|BFCL|HLE|Humanity's Last Exam|BrowseComp|LiveBench|Tau-bench|ZebraLogic|JMMLU|"
    "JHumanEval|KMMLU-Pro|CLUEWSC|Chatbot Arena"
)
_BENCH_SET = frozenset(_BENCHMARKS)


def _bench_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "", name).lower()


_BENCH_CANONICAL: dict[str, str] = {}
for _name in _BENCHMARKS:
    _BENCH_CANONICAL.setdefault(_bench_key(_name), _name)  # the first spelling listed is the canonical one


def _bench_pattern(name: str) -> str:
    body = r"[ \-]?".join(re.escape(part) for part in re.split(r"[ \-]", name))
    # Short all-caps names (MATH, DROP, ARC) are ordinary words in lower case: exact case only.
    return body if len(name) <= 5 and name.isupper() else f"(?i:{body})"


_BENCH_RE = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(_bench_pattern(b) for b in sorted(_BENCHMARKS, key=len, reverse=True))
    + r")(?![A-Za-z0-9])"
)

# ------------------------------------------------------------------------------------------------- models

_KNOWN_FAMILIES = _words(
    "llama codellama tinyllama gpt chatgpt instructgpt claude gemini gemma palm chinchilla gopher "
    "qwen qwq mistral mixtral codestral ministral deepseek falcon bloom bloomz opt phi yi baichuan "
    "chatglm glm internlm grok command jamba olmo pythia t5 flan mpt starcoder vicuna alpaca nemotron "
    "granite exaone hyperclova solar kimi minimax hunyuan ernie dbrx arctic aya smollm stablelm "
    "galactica lamda megatron jurassic orca zephyr doubao reka"
)
_KNOWN_RE = re.compile(
    "(?:" + "|".join(sorted(_KNOWN_FAMILIES, key=len, reverse=True)) + r")(?![a-z])", re.IGNORECASE
)
# Family names that are also ordinary words or companies: a model only with a version or size.
_NEEDS_VERSION = frozenset(
    {"phi", "yi", "opt", "glm", "command", "solar", "falcon", "alpaca", "orca", "arctic", "aya", "granite"}
    | {"zephyr", "gpt", "t5", "reka", "jurassic", "flan", "megatron", "palm", "ernie"}
)
_WEAK_FAMILIES = frozenset({"deepseek", "mistral", "minimax"})  # also company names
_STOP = _words(
    "The This That These Those It Its Our Their We You They He She In On At For From With By As And Or "
    "But If When While Where After Before Since Although Unlike Like Compared According Also However "
    "Meanwhile Table Figure Fig Section Chapter Page Pages Slide Slides Version Issue No Room Level Tier "
    "Type Class Step Stage Phase Round Part Item Note Appendix Eq Ref Vol Route Gate Floor Top Pass Day "
    "Week Month Year Q Model Models Series Family Layer Group Team Transformer Transformers Mixture "
    "Attention Language Base Reward Teacher Student Foundation Frontier Open Dense Sparse Large Small "
    "Medium New Old Big Tiny Meta Google OpenAI Anthropic Microsoft Alibaba Baidu Tencent ByteDance "
    "Nvidia NVIDIA AMD Intel Apple Amazon AWS Huawei Samsung Naver LG Kakao Helios Labs Lab Inc Corp "
    "University Company Startup GPU GPUs TPU TPUs CPU NPU API AI LLM LLMs MoE GQA MLA FP8 FP16 BF16 INT4 "
    "INT8 RLHF SFT DPO PPO CUDA COVID ISO RFC USB HTTP JSON Python PyTorch TensorFlow JAX Windows Linux "
    "Trainium Inferentia Gaudi Blackwell Hopper Ampere Ascend Kunlun Maia Cerebras Groq SambaNova Xeon "
    "EPYC Tesla Quadro RTX DGX HGX January February March April May June July August September October "
    "November December Monday Tuesday Wednesday Thursday Friday Saturday Sunday Phone Email Contact "
    "Posted Published"
)
_HARDWARE_RE = re.compile(r"(?:[HABLV]\d{2,4}|GB\d{3}|MI\d{3}X?|TPU\w*|RTX\w*|GTX\w*|DGX\w*|HGX\w*)$")
_VARIANTS = (
    "Instruct|Chat|Base|Pro|Mini|mini|Max|Turbo|Ultra|Flash|Nano|Coder|Vision|Large|Small|Medium|Sonnet"
    "|Opus|Haiku|Lite|Plus|Preview|Omni|Scout|Maverick|Behemoth|Next|Thinking"
)
_VARIANT_SET = frozenset(_VARIANTS.split("|"))
_SIZE_TOKEN = r"\d{1,4}(?:\.\d{1,2})?[BMT]"  # noqa: S105 (a size such as 405B, not a secret)
_CONT_ITEM = (
    rf"(?:\d{{1,2}}x\d{{1,3}}(?:\.\d)?B|{_SIZE_TOKEN}|A\d{{1,3}}B|\d{{1,2}}(?:\.\d{{1,2}}){{0,2}}"
    rf"|{_VARIANTS}|R|X|[A-Z]\d{{1,2}}(?:\.\d)?|\({_SIZE_TOKEN}\))\+?(?![A-Za-z0-9]|\.\d|,\d)"
)
_NAME_RE = re.compile(
    rf"(?<![A-Za-z0-9_\-])(?=[A-Z]|{_KNOWN_RE.pattern})"
    r"(?P<base>[A-Za-z][A-Za-z0-9]*(?:\.\d+[A-Za-z0-9]*)*(?:[-_][A-Za-z0-9]+(?:\.\d+[A-Za-z0-9]*)*)*\+?)"
    rf"(?P<cont>(?:[ ]{_CONT_ITEM})*)",
    re.IGNORECASE * 0,
)
_CONT_ITEM_RE = re.compile(rf"[ ]({_CONT_ITEM})")
_SIZE_RE = re.compile(rf"(?:{_SIZE_TOKEN}|\d{{1,2}}x\d{{1,3}}(?:\.\d)?B)")
_SIZE_VALUE_RE = re.compile(r"(\d{1,4}(?:\.\d{1,2})?)([BMT])$")
_MODEL_CUE_AFTER_RE = re.compile(
    r"[ ]?(?:\d{1,4}(?:\.\d+)?[BMT][ ]?)?"
    r"(?:models?\b|series\b|family\b|LLMs?\b|language models?\b|checkpoints?\b"
    r"|모델|시리즈|模型|系列|大模型|モデル|シリーズ)"
)
# A size or version in a name stops where a unit follows: "GPT-4 1.8T parameters", "Llama 2 70 billion".
_UNIT_AHEAD_RE = re.compile(
    r"[ \-]*(?:thousand|million|billion|trillion|%|[KMBT]\b|param|total|active|tokens?\b|GPU|FLOP|context"
    r"|개|個|个|매개|파라|토큰|参数|參數|パラ|トーク)",
    re.IGNORECASE,
)
_TRANSLIT = {
    "라마": "Llama",
    "젬마": "Gemma",
    "제미나이": "Gemini",
    "클로드": "Claude",
    "큐웬": "Qwen",
    "큐원": "Qwen",
    "딥시크": "DeepSeek",
    "미스트랄": "Mistral",
    "믹스트랄": "Mixtral",
    "엑사원": "EXAONE",
    "하이퍼클로바": "HyperCLOVA",
    "그록": "Grok",
    "챗GPT": "ChatGPT",
    "通义千问": "Qwen",
    "通義千問": "Qwen",
    "千问": "Qwen",
    "文心一言": "ERNIE Bot",
    "混元": "Hunyuan",
    "豆包": "Doubao",
    "ジェミニ": "Gemini",
    "クロード": "Claude",
}
_TRANSLIT_RE = re.compile(
    "(?P<pre>[A-Z]{1,3}-)?(?P<t>"
    + "|".join(sorted(_TRANSLIT, key=len, reverse=True))
    + r")(?P<rest>(?:-[A-Za-z0-9.]+)*(?:[ ]?(?:"
    + _SIZE_TOKEN
    + r"|\d{1,2}(?:\.\d{1,2}){0,2}|X)(?![A-Za-z0-9]|\.\d))*)"
)
_ALIAS_RE = re.compile(
    rf"(?P<native>[{_CJK}][{_CJK}A-Za-z0-9.]{{0,15}}(?:-[A-Za-z0-9.]{{1,10}})?)"
    r"[ ]?\((?P<inner>[^()]{1,60})\)"
)
# A quoted name next to a word for "model": 大規模言語モデル「japanese-large-lm」, 모델 '오로라', the "Nimbus"
# model. ASCII single quotes count only beside a CJK word (English uses them as apostrophes), and a name
# quoted beside a CJK word has no spaces (so the closing quote of '전문가 모델' opens nothing).
_CJK_MODEL_WORD = r"(?:모델|언어[ ]?모델|模型|大模型|モデル|言語モデル)"
_EN_MODEL_WORD = r"(?:models?|LLMs?|language models?)"
_QUOTE_OPEN = "「『\"'“‘"
_QUOTE_CLOSE = "」』\"'”’"
_QUOTED = rf"(?P<{{g}}>[^{_QUOTE_OPEN}{_QUOTE_CLOSE}\n]{{{{2,40}}}}?)"
_QUOTED_TIGHT = rf"(?P<{{g}}>[^\s(){_QUOTE_OPEN}{_QUOTE_CLOSE}]{{{{2,40}}}}?)"
_QUOTED_NAME_RE = re.compile(
    rf"{_CJK_MODEL_WORD}[ ]?[{_QUOTE_OPEN}]{_QUOTED_TIGHT.format(g='a')}[{_QUOTE_CLOSE}]"
    rf"|[{_QUOTE_OPEN}]{_QUOTED_TIGHT.format(g='b')}[{_QUOTE_CLOSE}][ ]?{_CJK_MODEL_WORD}"
    rf"|{_EN_MODEL_WORD}[ ]?[\"“]{_QUOTED.format(g='c')}[\"”]"
    rf"|[\"“]{_QUOTED.format(g='d')}[\"”][ ]?{_EN_MODEL_WORD}"
)
_DESIGNATOR_RE = re.compile(
    rf"(?<![A-Za-z0-9.])(?P<size>{_SIZE_TOKEN}|\d{{1,4}}(?:\.\d{{1,2}})?[ -](?:billion|million|trillion))"
    r"(?P<param>[ -]?param(?:eter)?s?)?[ -]*(?:の|의|的)?[ ]?"
    r"(?:models?\b|variants?\b|versions?\b|checkpoints?\b|siblings?\b|모델|버전|模型|版本|モデル)"
)
_SIZE_BEFORE_LIST_RE = re.compile(rf"{_SIZE_TOKEN}(?:[ ]*(?:,|/|、|and|or|및|와|과|和|及)[ ]*)$")
_PREDICATE_RE = re.compile(r"(?i:\b(?:is|was|as)\s+an?|\ban?)\s*$|(?:是一个|是一款|是)\s*$")


@dataclass(slots=True)
class _Model:
    start: int
    end: int
    name: str
    size: float | None = None
    weak: bool = False
    designator: bool = False

    @property
    def family(self) -> str:
        return _strip_size(self.name)


def _strip_size(name: str) -> str:
    parts = name.rsplit(" ", 1)
    if len(parts) == 2 and _SIZE_RE.fullmatch(parts[1]):
        return parts[0]
    m = re.match(rf"(.+?)-{_SIZE_TOKEN}$", name)
    return m.group(1) if m else name


def _size_value(token: str) -> float | None:
    m = _SIZE_VALUE_RE.match(token)
    if m:
        return float(m.group(1)) * _SUFFIX[m.group(2)]
    m = re.fullmatch(r"(\d{1,4}(?:\.\d{1,2})?)[ -](billion|million|trillion)", token)
    return float(m.group(1)) * _WORD_SCALE[m.group(2)] if m else None


def _with_size(family_or_name: str, size: str) -> str:
    """The model called `size` in a family: "Llama 3.1" + "405B"; a name that already ends in it is kept."""
    if re.sub(r"[\s\-]", "", family_or_name).lower().endswith(size.lower()):
        return family_or_name
    return f"{_strip_size(family_or_name)} {size}"


def _size_label(value: float) -> str:
    for mult, letter in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if value >= mult:
            return f"{value / mult:g}{letter}"
    return f"{value:g}"


def _model_strength(base: str, cont: str, follow: str, lexicon: frozenset[str]) -> int:
    """0: not a model; 1: a weak mention (a family that is also a company); 2: a model."""
    head = base.split("-", 1)[0]
    if base in _STOP or head in _STOP or base in _BENCH_SET or _HARDWARE_RE.match(base):
        return 0
    low = base.lower()
    segments = re.split(r"[-_]", base)
    known = _KNOWN_RE.match(low)
    if known is None:
        known = next((m for seg in segments[1:] if (m := _KNOWN_RE.match(seg.lower()))), None)
    has_version = any(c.isdigit() for c in base) or "-" in base or bool(cont.strip())
    if known is not None:
        family = known.group(0).lower()
        if family in _NEEDS_VERSION and not has_version:
            return 0
        if family in _WEAK_FAMILIES and not has_version:
            return 1
        return 2
    if base in lexicon:
        return 2
    title = len(base) > 1 and base[0].isupper() and any(c.islower() for c in base[1:4])
    for seg in segments[1:]:
        if _SIZE_RE.fullmatch(seg):
            return 2
    if title and any(
        seg and (seg[0].isdigit() or (len(seg) <= 3 and seg.isupper()) or seg in _VARIANT_SET)
        for seg in segments[1:]
    ):
        return 2
    if title and re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]*)?\d[\w.]*|[A-Z][a-z]+(?:LM|GPT)\d*", base):
        return 2
    if title and _SIZE_RE.search(cont):
        return 2
    if title and _MODEL_CUE_AFTER_RE.match(follow):
        return 2
    return 0


def _trim_cont(s: str, cont_start: int, cont: str) -> str:
    """Drop continuation items from the first one that a unit follows (then it is a quantity)."""
    kept = ""
    for m in _CONT_ITEM_RE.finditer(cont):
        end = cont_start + m.end()
        item = m.group(1)
        if (item[0].isdigit()) and _UNIT_AHEAD_RE.match(s, end):
            break
        if item in ("R", "X") and not kept and len(s) > end and s[end : end + 1].isalpha():
            break
        kept = cont[: m.end()]
    return kept


def _find_models(s: str, lexicon: frozenset[str]) -> list[_Model]:
    found: list[_Model] = []
    for m in _NAME_RE.finditer(s):
        base = m["base"]
        if base.endswith("+") and not base[:-1].endswith(("R", "r")):
            base = base[:-1]
        cont = _trim_cont(s, m.start("cont"), m["cont"])
        end = m.start("cont") + len(cont) if cont else m.start("base") + len(base)
        strength = _model_strength(base, cont, s[end : end + 40], lexicon)
        if strength == 0:
            continue
        name = re.sub(r"\((\d[^)]*)\)", r"\1", (base + cont).strip())  # "Llama 3.1 (405B)"
        size = None
        tail = name.rsplit(" ", 1)[-1] if " " in name else name.rsplit("-", 1)[-1]
        if _SIZE_VALUE_RE.match(tail) and tail[0].isdigit():
            size = _size_value(tail)
        found.append(_Model(m.start(), end, name, size, weak=strength == 1))
    ascii_only = s.isascii()  # transliterations and native-name aliases need a CJK letter
    for m in _TRANSLIT_RE.finditer(s) if not ascii_only else ():
        before = s[m.start("t") - 1] if m.start("t") > 0 else " "
        first = m["t"][0]
        if "\uac00" <= first <= "\ud7af" and "\uac00" <= before <= "\ud7af":
            continue  # "드라마" is not "라마"
        if "\u30a0" <= first <= "\u30ff" and "\u30a0" <= before <= "\u30ff":
            continue
        rest = _trim_cont(s, m.start("rest"), m["rest"]) if m["rest"].startswith(" ") else m["rest"]
        if rest and not rest.startswith((" ", "-")) and _UNIT_AHEAD_RE.match(s, m.start("rest") + len(rest)):
            rest = ""
        name = (m["pre"] or "") + _TRANSLIT[m["t"]] + rest
        tail = name.rsplit(" ", 1)[-1]
        size = _size_value(tail) if tail[:1].isdigit() else None
        found.append(_Model(m.start(), m.start("rest") + len(rest), name, size))
    found.sort(key=lambda x: (x.start, -x.end))
    # Aliases: "라마 3.1(Llama 3.1)" is one mention named in English; "Llama 3.1(라마 3.1)" too.
    for m in _ALIAS_RE.finditer(s) if not ascii_only else ():
        inner_start = m.start("inner") + (len(m["inner"]) - len(m["inner"].lstrip()))
        inner_end = m.end("inner") - (len(m["inner"]) - len(m["inner"].rstrip()))
        latin = next(
            (x for x in found if x.start == inner_start and x.end == inner_end and x.name[:1].isascii()), None
        )
        if latin is None:
            continue
        end = m.end()
        cont = (
            _trim_cont(s, end, m_cont.group(0))
            if (m_cont := re.match(rf"(?:[ ]{_CONT_ITEM})*", s[end:]))
            else ""
        )
        name = latin.name + cont
        tail = name.rsplit(" ", 1)[-1]
        size = _size_value(tail) if tail[:1].isdigit() else latin.size
        alias = _Model(m.start("native"), end + len(cont), name, size)
        found = [x for x in found if x.end <= alias.start or x.start >= alias.end] + [alias]
        found.sort(key=lambda x: (x.start, -x.end))
    for m in _QUOTED_NAME_RE.finditer(s) if any(q in s for q in _QUOTE_OPEN) else ():
        group = next(g for g in "abcd" if m[g] is not None)
        start, end = m.start(group), m.end(group)
        name = m[group].strip()
        if name[:1].isalpha() and not any(x.start < end and start < x.end for x in found):
            found.append(_Model(start, end, name))
    found.sort(key=lambda x: (x.start, -x.end))
    merged: list[_Model] = []
    for x in found:
        if merged and x.start < merged[-1].end:
            continue  # overlapped by a longer mention
        if merged and re.fullmatch(r"[ ]?\(", s[merged[-1].end : x.start]) and s[x.end : x.end + 1] == ")":
            merged[-1].end = x.end + 1  # "Llama 3.1(라마 3.1)": the gloss is the same model
            continue
        merged.append(x)
    return merged


def _specific(models: list[_Model]) -> list[_Model]:
    """Drops a bare family (no version) named beside a specific model of it ("通义千问团队 ...
    Qwen3-235B-A22B"); a versioned family ("Qwen2.5 系列 ... Qwen2.5-72B") stays: it can be the subject."""
    keys = [re.sub(r"[\s\-_]", "", m.name).lower() for m in models]
    return [
        m
        for m, k in zip(models, keys, strict=True)
        if any(c.isdigit() for c in k) or not any(o != k and o.startswith(k) for o in keys)
    ]


def _find_lexicon(text: str) -> frozenset[str]:
    """Names that look like models somewhere in the document count as models everywhere in it."""
    names: set[str] = set()
    for m in _NAME_RE.finditer(text):
        base = m["base"].rstrip("+")
        cont = _trim_cont(text, m.start("cont"), m["cont"])
        if _KNOWN_RE.match(base.lower()) is None and _model_strength(
            base, cont, text[m.end() : m.end() + 40], frozenset()
        ):
            names.add(base)
        if len(names) > 500:
            break
    return frozenset(names)


# ------------------------------------------------------------------------------------------------- masks

_MASK_RES = [
    # Every pattern starts where a run starts (lookbehind) and is bounded: no backtracking over long runs.
    re.compile(r"https?://\S+|www\.\S+|(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}\.[\w.]{1,63}"),
    re.compile(
        r"(?<![\d.])(?:\+\d{1,3}[ -]?)?(?:\(?\d{2,4}\)?[ -])?\d{3,4}[ -]\d{4}(?!\d)"
        r"|(?<!\d)0\d{1,2}-\d{7,8}(?!\d)"
    ),
    re.compile(r"\[\^?\w{1,8}\]|\[\d+(?:\s*[,–-]\s*\d+)*\]"),
    re.compile(
        r"(?i:\b(?:p|pp|page|pages|fig|figure|table|tab|section|sec|eq|equation|chapter|slide|slides|issue|no"
        r"|vol|room|appendix|step|steps|epoch|epochs|layer|layers|batch size|seq(?:uence)? len(?:gth)?)\.?"
        r"\s*#?\d[\d.,–-]*)"
        r"|第\s?\d{1,6}\s?[页頁章节節条條]|(?<!\d)\d{1,6}\s?(?:페이지|쪽)|(?:그림|표|図|表|图)\s?\d+|#\d+"
    ),
    re.compile(
        r"(?<![A-Za-z0-9])[vV]\d+(?:\.\d+)+|(?<![\d.])\d+\.\d+\.\d+(?![\d.])|(?i:version)\s*\d+(?:\.\d+)*"
        r"|(?<![\d.])\d{1,6}(?:\.\d{1,6})?\s?버전|(?:バージョン|版本)\s?\d+(?:\.\d+)*"
        r"|(?<![\d.])\d{4}\.\d{4,5}(?:v\d+)?(?![\d.])"
        r"|(?<![\d:])\d{1,2}:\d{2}(?![\d:])|(?<![\d.])\d{1,4}(?:\.\d{1,2})?[ -]?(?:shots?|샷)(?![A-Za-z])"
    ),
]
_PHONE_HINT_RE = re.compile(r"\d[ -]\d{3}")
_YEAR_HINT_RE = re.compile(r"(?:19|20)\d\d")
# Each mask pattern with a cheap test of whether it can match at all (most sentences have no URL).
_MASK_GATES: list[tuple[re.Pattern[str], Callable[[str], bool]]] = [
    (_MASK_RES[0], lambda s: "http" in s or "www." in s or "@" in s),
    (_MASK_RES[1], lambda s: _PHONE_HINT_RE.search(s) is not None),
    (_MASK_RES[2], lambda s: "[" in s),
    (_MASK_RES[3], lambda s: True),
    (_MASK_RES[4], lambda s: True),
]

# Sentences without any of these have no number, date or size to look at.
_NUMERIC_HINT_RE = re.compile(r"[0-9零〇一二两兩三四五六七八九十百千]|(?i:thousand|million|billion|trillion)")


def _masked(masks: list[tuple[int, int]]) -> Callable[[int], bool]:
    """A test "is position p inside one of these spans", by bisection over the spans sorted by start."""
    spans = sorted(masks)
    starts = [a for a, _ in spans]
    reach: list[int] = []
    furthest = -1
    for _, b in spans:
        furthest = max(furthest, b)
        reach.append(furthest)

    def inside(pos: int) -> bool:
        k = bisect_right(starts, pos) - 1
        return k >= 0 and pos < reach[k]

    return inside


# --------------------------------------------------------------------------------------------- quantities

# Between a number and its unit: a counter (개/个), a bound word (이상/以上), a particle (의/の/的).
_GAP = (
    r"(?:[ ]?\([^()]{1,16}\))?(?:[ \-]*(?:개|個|个|件))?[ \-]*"
    r"(?P<mid>이상|이하|미만|초과|넘는|넘게|以上|以下|未満|以内|이내|左右|余|가량|정도|程度|ほど|前後)?"
    r"[ ]*(?:의|の|的)?[ \-]*"
)
_UNIT_AFTER: list[tuple[str, re.Pattern[str]]] = [
    (
        "gpu_hours",
        re.compile(
            _GAP + r"(?:(?:NVIDIA|Nvidia)[ ]+)?(?:[A-Z]{1,2}\d{2,4}[A-Za-z]?(?:-\d+GB)?[ ]*)?"
            r"(?:(?:GPU|TPU|accelerator)s?[ \-]*(?:hours?|hrs?|h\b|시간|小时|小時|時間|时)"
            r"|[A-Z]{1,2}\d{3}[ \-]*(?:hours?|시간|小时|時間)"
            r"|卡时|卡小时)"
        ),
    ),
    (
        "training_compute",
        re.compile(
            _GAP + r"(?:次)?(?:FLOPs?(?![A-Za-z/])|flops?(?![A-Za-z/])|floating[- ]point operations"
            r"|부동[ ]?소수점[ ]?연산|浮点运算|浮點運算|浮点操作|浮動小数点演算|플롭스?)"
        ),
    ),
    (
        "parameters",
        re.compile(
            _GAP + r"(?:(?:total|overall|trainable)[ ]+)?"
            r"(?P<act>(?:active|activated|활성(?:화된)?|激活的?|アクティブ)[ ]*)?"
            r"(?:[\uac00-\ud7af]{1,4}[ ]?)??"
            r"(?:总|總|총[ ]?)?"
            r"(?:param(?:eter)?s?(?![A-Za-z])|매개[ ]?변수|파라미터|参数|參數|パラメータ|パラメーター)"
            r"(?P<act2>[ ]+(?:active|activated)(?![A-Za-z]))?"
        ),
    ),
    (
        "active_parameters",
        re.compile(
            r"[ ]*(?:개)?(?:만)?[ ]*(?:(?:are|is|were)[ ]+)?(?:active|activated|활성화|激活)(?![A-Za-z])"
        ),
    ),
    (
        "training_tokens",
        re.compile(
            _GAP
            + r"(?:(?:training|pre-?training|high[- ]quality|text|multilingual|unique|diverse|web|curated)"
            r"[ ]+){0,3}"
            rf"(?:[{_CJK}]{{1,8}}?[ ]?)??(?:tokens?(?![A-Za-z])|토큰|词元|標記|标记|トークン)"
        ),
    ),
    ("cost", re.compile(_GAP + r"(?:US[ ]?)?(?:dollars?(?![A-Za-z])|USD(?![A-Za-z])|달러|美元|美金|ドル)")),
]
_CONTEXT_AFTER_RE = re.compile(
    _GAP + r"(?:(?:tokens?|토큰|token)[ \-]*(?:의|の|的)?[ ]*)?(?:[\u4e00-\u9fff]{1,4}?)?"
    r"(?:context|컨텍스트|문맥|上下文|コンテキスト|文脈)",
    re.IGNORECASE,
)
_CONTEXT_BEFORE_RE = re.compile(
    r"(?:context(?:[ ]+(?:length|window|size))?|컨텍스트(?:[ ]?(?:길이|윈도우|창))?|문맥[ ]?길이"
    r"|上下文(?:长度|窗口|長度)?"
    r"|コンテキスト(?:長|長さ|ウィンドウ)?)[^0-9]{0,24}$",
    re.IGNORECASE,
)
_CONTEXT_WORD_RE = re.compile(r"context|컨텍스트|문맥|上下文|コンテキスト", re.IGNORECASE)
_CONNECTOR = (
    r"(?:[ ]*(?:\*\*)?[ ]*(?:[:=]|is|was|are|were|of|at|reaches|reached|totals?"
    r"|达到?|为|是|有|拥有|总计|共计|合计|는|은|이|가|수는|규모는|총|高达|仅为?|只有|only|roughly|just)?"
    r"[ ]*(?:\*\*)?[ ]*){0,3}$"
)
_LABEL_BEFORE: list[tuple[str, re.Pattern[str]]] = [
    (
        "active_parameters",
        re.compile(
            r"(?:active|activated)[ ]+param(?:eter)?s?|activates|activating|激活参数(?:量)?|激活"
            r"|활성[ ]?(?:매개변수|파라미터)"
            r"|アクティブパラメータ(?:数)?" + _CONNECTOR,
            re.IGNORECASE,
        ),
    ),
    (
        "parameters",
        re.compile(
            r"(?:param(?:eter)?s?(?:[ ]+count)?|parameter[ ]+count|参数(?:量|规模|总量|總量|数量)?"
            r"|參數(?:量|數量)?"
            r"|매개변수(?:[ ]?수)?|파라미터(?:[ ]?수)?|パラメータ(?:数)?)" + _CONNECTOR,
            re.IGNORECASE,
        ),
    ),
    (
        "training_tokens",
        re.compile(
            r"(?:(?:training|pre-?training)[ ]+(?:tokens|data|corpus)|训练数据(?:量)?|训练[ ]?tokens?(?:数)?"
            r"|预训练数据|학습[ ]?(?:데이터|토큰)|토큰[ ]?수|学習(?:データ|トークン)(?:数)?)" + _CONNECTOR,
            re.IGNORECASE,
        ),
    ),
    ("gpu_hours", re.compile(r"GPU[ \-]?(?:hours|시간|小时|時間)" + _CONNECTOR, re.IGNORECASE)),
    (
        "training_compute",
        re.compile(
            r"(?:(?:training[ ]+)?compute(?:[ ]+budget)?|FLOPs|算力|연산량|計算量|计算量)" + _CONNECTOR,
            re.IGNORECASE,
        ),
    ),
]
_ANY_LABEL_RE = re.compile(
    r"param|token|data|corpus|gpu|compute|flop|activ|参数|參數|激活|训练|매개|파라|토큰|학습|활성|パラ|トークン|学習"
    r"|アクティブ|算力|연산량|計算量|计算量",
    re.IGNORECASE,
)
_COST_BEFORE_RE = re.compile(r"(?:US[ ]?\$|\$|USD[ ]?|US[ ]dollars[ ])[ ]?$")
_COST_CUE_RE = re.compile(
    r"(?i:cost|budget|spent|spend|price|train|compute)|비용|예산|학습|훈련|成本|花费|预算|费用|训练|コスト|費用|学習"
)
_COST_EXCLUDE_RE = re.compile(
    r"(?i:raised|funding|valuation|revenue|investment|per[ ]month|a[ ]month|/month|per[ ]million"
    r"|per[ ]1M|subscription)"
    r"|투자|매출|월|融资|估值|营收|每月|月額|資金調達"
)
_LOWER_BEFORE_RE = re.compile(
    r"(?:more[ ]than|over|above|at[ ]least|exceeding|in[ ]excess[ ]of|upwards[ ]of|north[ ]of|greater[ ]than"
    r"|no[ ]less[ ]than|not[ ]less[ ]than|>=|>|≥|(?<!不)超过|(?<!不)超過|超出|逾|至少|不少于|不低于"
    r"|최소)[ ]*$",
    re.IGNORECASE,
)
_UPPER_BEFORE_RE = re.compile(
    r"(?:up[ ]to|under|less[ ]than|fewer[ ]than|below|at[ ]most|no[ ]more[ ]than|not[ ]more[ ]than|<=|<|≤"
    r"|不超过|不超過|最多|最高|不到|(?<!不)少于|(?<!不)低于|최대|最大)[ ]*$",
    re.IGNORECASE,
)
_APPROX_BEFORE_RE = re.compile(
    r"(?:about|approximately|approx\.?|around|roughly|nearly|almost|close[ ]to|some|circa|ca\.|an[ ]estimated"
    r"|estimated|~|≈|약|대략|거의|约|約|大约|大約|近|将近|接近|大概|およそ|ほぼ)[ ]*$",
    re.IGNORECASE,
)
_HEDGE_RE = re.compile(
    r"(?i:reportedly|rumou?red|supposedly|allegedly|claims?|unconfirmed|rumors?)|据传|据称|传闻|알려|주장|とされ|噂"
)
_LOWER_AFTER = ("이상", "초과", "넘는", "넘게", "以上", "余")
_UPPER_AFTER = ("이하", "미만", "以下", "未満", "以内", "이내")
_APPROX_AFTER = ("左右", "가량", "정도", "程度", "ほど", "前後")
_DELTA_BEFORE_RE = re.compile(
    r"(?:\bby|\+|gain of|improvement of|提升了?|提高了?|增加了?|增长了?)[ ]*$", re.IGNORECASE
)
_DELTA_AFTER_RE = re.compile(
    r"[ ]*(?:%|점|分)?[ ]*(?:points?|pp|percentage points?)?[ ]*"
    r"(?:higher|lower|better|worse|more|less|improvement"
    r"|gain|increase|drop|향상|상승|하락|높|낮|提升|提高)",
    re.IGNORECASE,
)
_ANAPHORA_RE = re.compile(
    r"\s*(?:(?:It|Its|It's|The model|This model|The new model|That model|The model's|This model's)"
    r"(?![A-Za-z])|该模型|此模型|这款模型|这一模型|该系列|它|其|이[ ]모델|해당[ ]모델|이[ ]모델은"
    r"|同モデル|本モデル|このモデル)"
)
_PLURAL_ANAPHORA_RE = re.compile(
    r"\s*(?:(?:Both|They|These models|Those models|All three|Both models|All of them)(?![A-Za-z])"
    r"|두[ ]모델|이[ ]두[ ]모델|两者|两款模型|两个模型|両モデル)"
)
_CLAUSE_SPLIT_RE = re.compile(
    r"[;:]\s*|,(?!\d)\s*|、|\s+(?:while|whereas|but|unlike|compared (?:to|with)|versus|vs\.?)\s+"
    r"|(?:반면|한편|그러나)\s*|[而但]|一方"
)
_BOUND_CUT_RE = re.compile(r"(?:US[ ]?\$|\$|USD[ ]?)[ ]?$")


@dataclass(slots=True)
class _Hit:
    name: str
    evidence: float
    end: int  # where the cue ends in the sentence (for bound words between number and unit)
    bench: str = ""


def _classify(s: str, n: _Num, sentence_has_cost_cue: bool) -> _Hit | None:
    after_pos = n.end
    before = s[max(0, n.start - 60) : n.start]
    if n.pct:
        return None
    context_after = _CONTEXT_AFTER_RE.match(s, after_pos)
    context_before = _CONTEXT_WORD_RE.search(before) and _CONTEXT_BEFORE_RE.search(before)
    if (context_after and not _is_year(n)) or context_before:
        return _Hit(
            "context_length",
            0.9 if context_after else 0.85,
            context_after.end() if context_after else after_pos,
        )
    for name, pattern in _UNIT_AFTER:
        m = pattern.match(s, after_pos)
        if m is None:
            continue
        if name == "parameters":
            active = (
                m["act"]
                or m["act2"]
                or re.search(
                    r"(?:active|activated|activates|activating|激活|활성)[ ]*$", before, re.IGNORECASE
                )
            )
            return _Hit("active_parameters" if active else "parameters", 0.9, m.end())
        if name == "training_tokens" and re.search(
            r"(?i:batch|배치|批|バッチ|vocab|어휘|词表|語彙)", before[-30:]
        ):
            return None
        if name == "cost" and not sentence_has_cost_cue:
            return None
        return _Hit(name, 0.9, m.end())
    if _is_year(n):
        return None
    if _COST_BEFORE_RE.search(before) and sentence_has_cost_cue:
        return _Hit("cost", 0.9, after_pos)
    if not _ANY_LABEL_RE.search(before):
        return None
    stripped = _strip_bounds(before)
    for name, pattern in _LABEL_BEFORE:
        if pattern.search(stripped):
            return _Hit(name, 0.85, after_pos)
    return None


def _strip_bounds(before: str) -> str:
    text = before
    for _ in range(3):
        new = _BOUND_CUT_RE.sub("", text)
        for pattern in (_LOWER_BEFORE_RE, _UPPER_BEFORE_RE, _APPROX_BEFORE_RE):
            new = pattern.sub("", new)
        if new == text:
            break
        text = new
    return text


def _bounds(s: str, n: _Num, cue_end: int) -> tuple[str, bool]:
    """('lower' | 'upper' | '', approximate) from words around the number."""
    before = _BOUND_CUT_RE.sub("", s[max(0, n.start - 30) : n.start])
    approx = False
    kind = ""
    for _ in range(2):
        if m := _LOWER_BEFORE_RE.search(before):
            kind = kind or "lower"
        elif m := _UPPER_BEFORE_RE.search(before):
            kind = kind or "upper"
        elif m := _APPROX_BEFORE_RE.search(before):
            approx = True
        else:
            break
        before = _BOUND_CUT_RE.sub("", before[: m.start()])
    gap = s[n.end : max(cue_end, n.end) + 12]
    if (
        n.plus
        or re.match(r"\s*(?:or more|or higher|plus)\b", gap)
        or any(w in gap[:12] for w in _LOWER_AFTER)
    ):
        kind = kind or "lower"
    elif re.match(r"\s*(?:or less|or fewer)\b", gap) or any(w in gap[:12] for w in _UPPER_AFTER):
        kind = kind or "upper"
    if any(w in gap[:12] for w in _APPROX_AFTER):
        approx = True
    return kind, approx


# ---------------------------------------------------------------------------------------------- structure

_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+•·–—]|\d{1,3}[.)])\s+(?P<body>\S.*)$")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_RULE_RE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_SETEXT_RE = re.compile(r"^\s*(=+|-+)\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_SIZE_LABEL_RE = re.compile(rf"^\s*(?:\*\*)?({_SIZE_TOKEN})(?:\*\*)?\s*(?:[:：\-–—(]|$)")


@dataclass(slots=True)
class _Block:
    kind: str  # "paragraph" | "bullet" | "heading" | "row"
    raw: str
    offsets: list[int]
    lines: list[int]
    context: list[tuple[str, str]]  # (kind, text), innermost first
    table_header: list[str] = field(default_factory=list)


def _split_row(line: str) -> list[str]:
    inner = line.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|"):
        inner = inner[:-1]
    return [c.strip().replace("**", "") for c in inner.split("|")]


def _iter_blocks(lines: Sequence[str], line_of: Sequence[int], title: str) -> Iterator[_Block]:
    headings: list[tuple[int, str]] = [(0, title)] if title else []
    bullets: list[tuple[int, str]] = []
    lead = ""
    para: list[tuple[str, int]] = []
    para_kind = "paragraph"
    para_context: list[tuple[str, str]] = []
    in_fence = False
    i = 0

    def context() -> list[tuple[str, str]]:
        ctx = [("bullet", text) for _, text in reversed(bullets)]
        if lead:
            ctx.append(("lead", lead))
        ctx.extend(("heading", text) for _, text in reversed(headings))
        return ctx

    def flush() -> Iterator[_Block]:
        nonlocal para, lead
        if para:
            raw = ""
            offsets: list[int] = []
            src: list[int] = []
            for text, line in para:
                if raw:
                    raw += " "
                offsets.append(len(raw))
                src.append(line)
                raw += text
            yield _Block(para_kind, raw, offsets, src, para_context)
            if para_kind == "paragraph":
                lead = raw if raw.rstrip().endswith((":", "：")) else ""
        para = []

    while i < len(lines):
        line = lines[i].rstrip("\r")
        src = line_of[i]
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            yield from flush()
            i += 1
            continue
        if in_fence:
            i += 1
            continue
        stripped = line.strip()
        while stripped.startswith(">"):
            stripped = stripped[1:].strip()
            line = stripped
        if not stripped:
            yield from flush()
            i += 1
            continue
        heading = _HEADING_RE.match(line)
        if heading is None and i + 1 < len(lines) and not para and _SETEXT_RE.match(lines[i + 1]):
            if not _BULLET_RE.match(line) and "|" not in line:
                heading = re.match(r"^()(.*)$", stripped)
                level = 1 if lines[i + 1].strip().startswith("=") else 2
                i += 1
            else:
                level = 0
        else:
            level = len(heading.group(1)) if heading else 0
        if heading is not None:
            yield from flush()
            text = heading.group(2).strip()
            while headings and headings[-1][0] >= level:
                headings.pop()
            bullets.clear()
            lead = ""
            yield _Block("heading", text, [0], [src], context())
            headings.append((level, text))
            i += 1
            continue
        if _RULE_RE.match(line):
            yield from flush()
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEP_RE.match(lines[i + 1]) and "-" in lines[i + 1]:
            yield from flush()
            header = _split_row(line)
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                yield _Block("row", lines[j].strip(), [0], [line_of[j]], context(), header)
                j += 1
            i = j
            continue
        bullet = _BULLET_RE.match(line)
        if bullet is not None:
            yield from flush()
            indent = len(bullet["indent"].replace("\t", "    "))
            while bullets and bullets[-1][0] >= indent:
                bullets.pop()
            para_kind = "bullet"
            para_context = context()
            para = [(bullet["body"], src)]
            bullets.append((indent, bullet["body"]))
            i += 1
            continue
        if not para:
            if bullets and not line[:1].isspace() and para_kind != "bullet":
                bullets.clear()
            para_kind = "paragraph" if not (bullets and line[:1].isspace()) else "bullet"
            if para_kind == "paragraph":
                bullets.clear()
            para_context = context()
        para.append((stripped, src))
        i += 1
    yield from flush()


# -------------------------------------------------------------------------------------------------- claims

_ABBREVIATIONS = _words(
    "p pp fig figs no vol vs e.g i.e etc approx ca mr mrs ms dr st inc ltd co jr sr eq sec al jan feb mar "
    "apr jun jul aug sep sept oct nov dec u.s est"
)
_SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*\s+|[。！？]\s*")


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        end = m.end()
        if text[m.start()] == ".":
            word = re.search(r"(?:^|\s)\(?([A-Za-z][A-Za-z.]*)$", text[start : m.start()])
            nxt = text[end : end + 1]
            if word and (
                word.group(1).lower() in _ABBREVIATIONS
                or (len(word.group(1)) == 1 and word.group(1).isupper())
            ):
                continue
            if nxt and nxt.islower():
                continue
        yield from _chunks(start, end)
        start = end
    if start < len(text):
        yield from _chunks(start, len(text))


def _chunks(start: int, end: int) -> Iterator[tuple[int, int]]:
    while end - start > _MAX_SENTENCE:
        yield start, start + _MAX_SENTENCE
        start += _MAX_SENTENCE
    yield start, end


@dataclass(slots=True)
class _Claim:
    name: str
    subject: str
    source: str
    pos: int  # offset in the block text
    end: int  # end of the sentence holding it, in the block text
    start: int  # start of that sentence
    confidence: float
    value: float | None = None
    text_value: str = ""
    lower: float | None = None
    upper: float | None = None
    unit: str = ""
    location: str = ""


def _confidence(evidence: float, source: str, *, approx: bool, hedged: bool, ranged: bool) -> float:
    conf = evidence
    if source == "previous sentence":
        conf -= 0.1
    elif source.startswith(("bullet", "lead", "row")):
        conf -= 0.05
    elif source.startswith("heading"):
        conf -= 0.15
    elif source != "sentence":
        conf -= 0.3
    if approx:
        conf *= 0.8
    if hedged:
        conf *= 0.9
    if ranged:
        conf *= 0.9
    return round(min(1.0, max(0.05, conf)), 2)


class _Sentence:
    """Claims of one sentence; `prev` holds the subjects of the sentence before (for "It", "该模型")."""

    def __init__(
        self,
        s: str,
        lexicon: frozenset[str],
        prev: list[str],
        ctx: tuple[str, str],
        prev_local: bool = False,
        ctx_bench: str = "",
    ) -> None:
        self.s = s
        self.ctx_bench = ctx_bench
        self.prev = prev
        self.prev_local = prev_local
        self.ctx = ctx
        self.models = _find_models(s, lexicon)
        self.strong = _specific([m for m in self.models if not m.weak] or list(self.models))
        numeric = bool(_NUMERIC_HINT_RE.search(s))
        self.dates = _find_dates(s) if numeric and _YEAR_HINT_RE.search(s) else []
        masks = [(m.start, m.end) for m in self.models] + [(d.start, d.end) for d in self.dates]
        if numeric:
            for pattern, gate in _MASK_GATES:
                if gate(s):
                    masks.extend((m.start(), m.end()) for m in pattern.finditer(s))
        self.anaphora = bool(_ANAPHORA_RE.match(s))
        self.plural = bool(_PLURAL_ANAPHORA_RE.match(s))
        self.clauses = [0, *(m.end() for m in _CLAUSE_SPLIT_RE.finditer(s)), len(s) + 1]
        self.claims: list[_Claim] = []
        self.used: set[int] = set()
        self.predicates: list[re.Match[str]] = []
        # Sizes that name a model ("the 405B model") take their family from the sentence or the context;
        # sizes in a list ("the 1B and 3B models") are claims, handled with the other lists.
        for m in _DESIGNATOR_RE.finditer(s) if numeric else ():
            if any(x.start <= m.start() < x.end for x in self.models) or _SIZE_BEFORE_LIST_RE.search(
                s[max(0, m.start() - 12) : m.start()]
            ):
                continue
            if not m["param"]:
                masks.append((m.start(), m.end()))
                if _PREDICATE_RE.search(s[: m.start()]):
                    self.predicates.append(m)
                    continue
            value = _size_value(m["size"])
            family = self.family_before(m.start())
            if family and value is not None:
                name = _with_size(
                    self.prev[-1] if not self.family_in_sentence(m.start()) and self.prev else family,
                    _size_label(value),
                )
                self.strong.append(_Model(m.start(), m.end(), name, value, designator=True))
        self.strong.sort(key=lambda x: x.start)
        inside = _masked(masks)
        numbers = [n for n in _find_numbers(s) if not inside(n.start)] if numeric else []
        self.numbers = _merge_ranges(s, numbers)

    @cached_property
    def cost_cue(self) -> bool:
        return bool(_COST_CUE_RE.search(self.s)) and not _COST_EXCLUDE_RE.search(self.s)

    @cached_property
    def hedged(self) -> bool:
        return bool(_HEDGE_RE.search(self.s))

    # --- subjects

    def family_before(self, pos: int) -> str:
        before = [m for m in self.strong if m.end <= pos and not m.designator]
        if before:
            return before[-1].family
        if self.prev:
            return _strip_size(self.prev[-1])
        return _strip_size(self.ctx[0]) if self.ctx[0] else ""

    def family_in_sentence(self, pos: int) -> bool:
        return any(m.end <= pos and not m.designator for m in self.strong)

    def family_source(self, pos: int) -> str:
        if any(m.end <= pos and not m.designator for m in self.strong):
            return "sentence"
        if self.prev:
            return "previous sentence"
        return self.ctx[1] or "none"

    def resolve(self, pos: int) -> tuple[list[str], str]:
        k = bisect_right(self.clauses, pos) - 1
        lo, hi = self.clauses[k], self.clauses[min(k + 1, len(self.clauses) - 1)]
        in_clause = [m for m in self.strong if lo <= m.start < hi]
        if in_clause:
            adjacent = [
                m
                for m in in_clause
                if m.end <= pos and re.fullmatch(r"\s*(?:'s|의|的|の)?\s*", self.s[m.end : pos])
            ]
            before = [m for m in in_clause if m.end <= pos]
            pick = adjacent[-1] if adjacent else (before[0] if before else in_clause[0])
            return [pick.name], "sentence"
        if (self.anaphora or self.plural) and self.prev:
            return (list(self.prev) if self.plural else self.prev[-1:]), "previous sentence"
        if self.strong:
            before = [m for m in self.strong if m.end <= pos]
            return [(before[-1] if before else self.strong[0]).name], "sentence"
        if self.ctx[0]:
            return [self.ctx[0]], self.ctx[1]
        if self.prev_local and self.prev:
            # Nothing else names a model: the paragraph is still about the one its last sentence was about.
            return self.prev[-1:], "previous sentence"
        return [""], self.ctx[1] or "none"

    # --- claims

    def add(
        self,
        name: str,
        pos: int,
        subjects: list[str],
        source: str,
        evidence: float,
        *,
        value: float | None = None,
        text_value: str = "",
        lower: float | None = None,
        upper: float | None = None,
        approx: bool = False,
        unit: str | None = None,
    ) -> None:
        ranged = lower is not None and upper is not None
        conf = _confidence(evidence, source, approx=approx, hedged=self.hedged, ranged=ranged)
        for subject in subjects:
            self.claims.append(
                _Claim(
                    name,
                    subject,
                    source,
                    pos,
                    0,
                    0,
                    conf,
                    value,
                    text_value,
                    lower,
                    upper,
                    UNITS[name] if unit is None else unit,
                )
            )
        self.used.add(pos)

    def run(self) -> list[_Claim]:
        self._release_dates()
        for group in self._groups():
            self._group(group)
        self._benchmarks()
        self._predicates()
        self._family_members()
        return self.claims

    def _family_members(self) -> None:
        """Different parameter counts for one family in one sentence are its members: "라마3는 80억개와
        700억개", "32B(매개변수 320억 개)의 전문가 모델과 1.2B(매개변수 12억 개)의 온디바이스 모델"."""
        by_subject: dict[str, list[_Claim]] = {}
        for c in self.claims:
            if c.name == "parameters" and c.subject and c.value and c.lower is None and c.upper is None:
                by_subject.setdefault(c.subject, []).append(c)
        for subject, claims in by_subject.items():
            values: list[float] = []
            for c in claims:
                if c.value is not None and not any(abs(c.value - v) <= 0.03 * v for v in values):
                    values.append(c.value)
            if len(values) >= 2 and _strip_size(subject) == subject:
                for c in claims:
                    c.subject = _with_size(subject, _size_label(c.value or 0.0))

    def next_prev(self) -> list[str]:
        subjects = [c.subject for c in self.claims if c.subject]
        if subjects:
            return list(dict.fromkeys(subjects))
        # Without claims, the sentence changes the topic only if a model is in its first clause
        # ("Meta released Llama 3.1."), not if it names models in passing ("..., alongside Gemini 2").
        first_clause = [m for m in self.strong if m.start < self.clauses[1]] if len(self.clauses) > 1 else []
        if first_clause:
            return [first_clause[0].name]
        return self.prev if self.prev else [m.name for m in self.strong[:1]]

    def _release_dates(self) -> None:
        if not any(d.iso for d in self.dates) or not _RELEASE_CUE_RE.search(self.s):
            return
        for d in self.dates:
            if not d.iso or _DATE_EXCLUDE_RE.search(self.s[max(0, d.start - 20) : d.start]):
                continue
            subjects, source = self.resolve(d.start)
            self.add("release_date", d.start, subjects, source, 0.85, text_value=d.iso)

    def _groups(self) -> list[list[_Num]]:
        """Numbers joined by list separators: "8B, 70B and 405B", "12B/48B/310B", "80억개와 700억개"."""
        groups: list[list[_Num]] = []
        for n in self.numbers:
            if (
                groups
                and n.lower is None
                and groups[-1][-1].lower is None
                and _LIST_GAP_RE.fullmatch(self.s[groups[-1][-1].end : n.start])
            ):
                groups[-1].append(n)
            else:
                groups.append([n])
        for model in self.strong:
            # "Aurora-X 12B, 48B and 310B": the first size of the list is inside the name.
            if model.size is None or model.designator:
                continue
            following = next((g for g in groups if g[0].start >= model.end), None)
            if (
                following
                and following[0].suffix in ("B", "M", "T")
                and _LIST_GAP_RE.fullmatch(self.s[model.end : following[0].start])
            ):
                tail = re.split(r"[ \-]", model.name)[-1]
                start = model.end - len(tail)
                following.insert(0, _Num(start, model.end, model.size, model.size, 1.0, tail[-1], tail))
                model.name = model.family
                model.size = None
                model.end = start
        return groups

    def _group(self, group: list[_Num]) -> None:
        s = self.s
        last = group[-1]
        hit = _classify(s, last, self.cost_cue)
        if hit is None:
            sizes = all(n.suffix in ("B", "M", "T", "word") and n.lower is None for n in group)
            if len(group) >= 2 and sizes and not _UNIT_AHEAD_RE.match(s, last.end):
                family = self.family_before(group[0].start)
                source = self.family_source(group[0].start)
                if family:
                    for n in group:
                        if n.value >= _MIN_VALUE["parameters"]:
                            subject = f"{family} {_size_label(n.value)}"
                            self.add(
                                "parameters", n.start, [subject], source, 0.7, value=n.value, text_value=n.raw
                            )
                return
            for n in group:
                if n is not last and (own := _classify(s, n, self.cost_cue)) is not None:
                    self._emit(n, own, n.value, family_sizes=False)
            return
        for n in group:
            own = hit if n is last else _classify(s, n, self.cost_cue)
            if n is not last and own is None and _is_year(n):
                continue
            use = own or hit
            value = n.value
            if own is None and n.suffix == "" and last.mult > 1 and n.lower is None:
                value = _tidy(n.coef * last.mult)
            self._emit(n, use, value, family_sizes=len(group) >= 2 and use.name == "parameters")

    def _emit(self, n: _Num, hit: _Hit, value: float, *, family_sizes: bool) -> None:
        name = hit.name
        lower, upper = n.lower, n.upper
        if name == "context_length" and n.suffix == "K":
            value = _tidy(value * 1.024)
            lower = _tidy(lower * 1.024) if lower is not None else None
            upper = _tidy(upper * 1.024) if upper is not None else None
        if value < _MIN_VALUE.get(name, 0.0) or value > _MAX_VALUE.get(name, float("inf")):
            return
        kind, approx = _bounds(self.s, n, hit.end)
        if lower is None and upper is None:
            if kind == "lower":
                lower = value
            elif kind == "upper":
                upper = value
        subjects, source = self.resolve(n.start)
        if name == "parameters" and len(subjects) == 1:
            # "36億パラメータ(3.6Bモデル)と17億パラメータ(1.7Bモデル)": when the subject found has another
            # size, a model in the same clause named by this very size is the one meant.
            resolved = next((m for m in self.strong if m.name == subjects[0]), None)
            k = bisect_right(self.clauses, n.start) - 1
            lo, hi = self.clauses[k], self.clauses[min(k + 1, len(self.clauses) - 1)]
            same = [
                m
                for m in self.strong
                if m.size is not None and abs(m.size - value) <= 0.01 * value and lo <= m.start < hi
            ]
            if same and resolved is not None and resolved.size is not None and resolved not in same:
                subjects = [min(same, key=lambda m: abs(m.start - n.start)).name]
        if _CHANGE_FROM_RE.search(self.s[max(0, n.start - 60) : n.start]) and re.match(
            r"[^.;]{0,40}?\bto\s", self.s[n.end : n.end + 50]
        ):
            subjects, source = [""], "earlier value in a change"  # "from 7T tokens to 18T tokens"
        if family_sizes and len(subjects) == 1 and subjects[0]:
            subjects = [_with_size(_strip_size(subjects[0]), _size_label(value))]
        self.add(
            name,
            n.start,
            subjects,
            source,
            hit.evidence,
            value=_tidy(value),
            text_value=n.raw,
            lower=lower,
            upper=upper,
            approx=approx,
        )

    def _benchmarks(self) -> None:
        s = self.s
        if not any(n.suffix == "" and n.start not in self.used and 0 < n.value <= 100 for n in self.numbers):
            return
        benches = list(_BENCH_RE.finditer(s))
        if not benches:
            if self.ctx_bench:
                self._context_benchmark()
            return
        bench_ends = [b.end() for b in benches]
        number_starts = [n.start for n in self.numbers]
        for n in self.numbers:
            if n.start in self.used or n.suffix != "" or n.lower is not None or _is_year(n):
                continue
            if not 0 < n.value <= 100:
                continue
            if _DELTA_BEFORE_RE.search(s[max(0, n.start - 20) : n.start]) or _DELTA_AFTER_RE.match(s, n.end):
                continue
            bench = ""
            after = re.match(
                r"[ ]?(?:%|점|分|points?)?[ ]*(?:on|in|at|for)[ ]+(?:the[ ]+)?", s[n.end : n.end + 24]
            )
            if after:
                b = _BENCH_RE.match(s, n.end + after.end())
                bench = _BENCH_CANONICAL.get(_bench_key(b.group(1)), b.group(1)) if b else ""
            if not bench:
                k = bisect_right(bench_ends, n.start) - 1
                if k >= 0 and n.start - bench_ends[k] <= 30:
                    j = bisect_right(number_starts, bench_ends[k] - 1)
                    if j >= len(number_starts) or number_starts[j] >= n.start:
                        bench = _BENCH_CANONICAL.get(_bench_key(benches[k].group(1)), benches[k].group(1))
            if not bench:
                continue
            subjects, source = self.resolve(n.start)
            self.add(
                "benchmark_score",
                n.start,
                subjects,
                source,
                0.8,
                value=n.value,
                text_value=bench,
                unit="%" if n.pct else "",
            )

    def _context_benchmark(self) -> None:
        """Under "MMLU Pro scores:" (a lead-in, parent bullet or heading naming one benchmark), a bullet
        "Gemma 3 (27B): 67.5%" is a score on it; only percentages and decimals count."""
        for n in self.numbers:
            if n.start in self.used or n.suffix != "" or n.lower is not None or not 0 < n.value <= 100:
                continue
            if not (n.pct or "." in n.raw) or _DELTA_AFTER_RE.match(self.s, n.end):
                continue
            subjects, source = self.resolve(n.start)
            self.add(
                "benchmark_score",
                n.start,
                subjects,
                source,
                0.7,
                value=n.value,
                text_value=self.ctx_bench,
                unit="%" if n.pct else "",
            )

    def _predicates(self) -> None:
        for m in self.predicates:
            value = _size_value(m["size"])
            subjects, source = self.resolve(m.start())
            if value is not None and subjects != [""]:
                self.add("parameters", m.start(), subjects, source, 0.75, value=value, text_value=m["size"])


def _column_quantity(header: str) -> tuple[str, str] | None:
    h = header.strip().lower()
    bench = next((b for b in _BENCHMARKS if b.lower() == h), None)
    if bench:
        return "benchmark_score", bench
    checks = [
        ("gpu_hours", r"gpu[ \-]?(?:hours|hrs|시간|小时|時間)|gpu hours"),
        ("training_compute", r"flop|compute|연산량|算力|计算量|計算量"),
        ("cost", r"cost|budget|비용|예산|成本|费用|預算|预算|コスト|費用"),
        ("context_length", r"context|컨텍스트|문맥|上下文|コンテキスト|文脈"),
        ("active_parameters", r"active|激活|활성|アクティブ"),
        ("training_tokens", r"token|토큰|词元|トークン|training data|训练数据|학습 데이터"),
        ("parameters", r"param|参数|參數|매개변수|파라미터|パラメータ|^size$|model size|规模|크기"),
        ("release_date", r"release|출시|공개|发布|リリース|公開"),
    ]
    for name, pattern in checks:
        if re.search(pattern, h):
            return name, ""
    return None


_MODEL_COLUMN_RE = re.compile(r"(?i)^(?:models?|names?|model name|模型|模型名称|모델|モデル)$")


class _Extractor:
    def __init__(self, lexicon: frozenset[str]) -> None:
        self.lexicon = lexicon
        self.prev: list[str] = []
        self.prev_block: _Block | None = None
        self._context_cache: dict[str, list[str]] = {}

    def _names_in(self, text: str) -> list[str]:
        cached = self._context_cache.get(text)
        if cached is None:
            models = [m for m in _find_models(_fold(text), self.lexicon) if not m.weak]
            names = list(dict.fromkeys(m.name for m in models))
            keys = [re.sub(r"[\s\-_]", "", n).lower() for n in names]
            # "the Qwen team ... Qwen2.5": the bare family does not make the heading ambiguous.
            cached = [
                n
                for n, k in zip(names, keys, strict=True)
                if not any(o != k and o.startswith(k) for o in keys)
            ]
            self._context_cache[text] = cached
        return cached

    def context_subject(self, context: list[tuple[str, str]]) -> tuple[str, str]:
        pending_size = ""
        for kind, text in context:
            names = self._names_in(text)
            if kind == "bullet" and not names and not pending_size:
                label = _SIZE_LABEL_RE.match(_fold(text))
                if label:
                    pending_size = label.group(1)
                    continue
            if len(names) == 1:
                name = f"{_strip_size(names[0])} {pending_size}" if pending_size else names[0]
                return name, f"{kind} '{text[:80]}'"
            if len(names) > 1:
                return "", f"{kind} naming several models"
        return "", ""

    def block(self, block: _Block) -> list[FactRecord]:
        if block.kind == "row":
            return self._row(block)
        text = _fold(block.raw)
        context = block.context
        if block.kind == "bullet" and _SIZE_LABEL_RE.match(text):
            context = [
                ("bullet", block.raw),
                *context,
            ]  # "- 12B: ..." under "Aurora-X comes in:" is Aurora-X 12B
        ctx = self.context_subject(context)
        ctx_bench = ""
        for _, ctx_text in context:
            names = {
                _BENCH_CANONICAL.get(_bench_key(m.group(1)), m.group(1)) for m in _BENCH_RE.finditer(ctx_text)
            }
            if names:
                ctx_bench = names.pop() if len(names) == 1 else ""
                break
        facts: list[FactRecord] = []
        for start, end in _sentences(text):
            sentence = _Sentence(
                text[start:end], self.lexicon, self.prev, ctx, self.prev_block is block, ctx_bench
            )
            claims = sentence.run()
            self.prev = sentence.next_prev()
            self.prev_block = block
            excerpt = block.raw[start:end].strip()[:MAX_EXCERPT]
            for c in claims:
                facts.append(self._fact(block, c, start + c.pos, excerpt))
        if block.kind == "heading":
            self.prev = []
        return facts

    def _fact(self, block: _Block, c: _Claim, pos: int, excerpt: str) -> FactRecord:
        line = block.lines[max(0, bisect_right(block.offsets, pos) - 1)]
        return FactRecord(
            c.name,
            c.value,
            unit=c.unit,
            text_value=c.text_value,
            lower=c.lower,
            upper=c.upper,
            confidence=c.confidence,
            line=line,
            location=(c.location or f"{block.kind}; subject from {c.source}")[:300],
            excerpt=excerpt,
            subject=c.subject[:200],
        )

    def _row(self, block: _Block) -> list[FactRecord]:
        header = block.table_header
        cells = _split_row(block.raw)
        if not cells or not any(cells):
            return []
        label = _fold(cells[0])
        names = self._names_in(cells[0])
        ctx_subject, ctx_source = self.context_subject(block.context)
        size = _SIZE_LABEL_RE.match(label)
        if len(names) == 1:
            subject, source = names[0], "row"
        elif header and _MODEL_COLUMN_RE.match(header[0].strip()) and label and not size:
            subject, source = label.strip()[:200], "row"
        elif size and ctx_subject:
            subject, source = f"{_strip_size(ctx_subject)} {size.group(1)}", "row"
        else:
            subject, source = ctx_subject, ctx_source or "none"
        if subject.lower() in ("total", "합계", "总计", "合計"):
            return []
        facts: list[FactRecord] = []
        excerpt = block.raw[:MAX_EXCERPT]
        for k, cell in enumerate(cells[1:], start=1):
            if k >= len(header) or not cell:
                continue
            quantity = _column_quantity(header[k])
            if quantity is None:
                continue
            name, bench = quantity
            folded = _fold(cell)
            location = f"table column '{header[k][:60]}'" + (f" row '{cells[0][:60]}'" if cells[0] else "")
            conf = _confidence(0.85, source, approx=False, hedged=False, ranged=False)
            if name == "release_date":
                date = next((d for d in _find_dates(folded) if d.iso), None)
                if date is not None:
                    facts.append(
                        FactRecord(
                            name,
                            None,
                            text_value=date.iso,
                            confidence=conf,
                            line=block.lines[0],
                            location=location,
                            excerpt=excerpt,
                            subject=subject,
                        )
                    )
                continue
            numbers = [n for n in _merge_ranges(folded, _find_numbers(folded)) if not _is_year(n)]
            if not numbers:
                continue
            n = numbers[0]
            value, lower, upper = n.value, n.lower, n.upper
            if name == "benchmark_score":
                if not 0 < value <= 100 or n.suffix:
                    continue
                facts.append(
                    FactRecord(
                        name,
                        value,
                        unit="%" if n.pct else "",
                        text_value=bench,
                        confidence=conf,
                        line=block.lines[0],
                        location=location,
                        excerpt=excerpt,
                        subject=subject,
                    )
                )
                continue
            if name == "context_length" and n.suffix == "K":
                value = _tidy(value * 1.024)
                lower = _tidy(lower * 1.024) if lower is not None else None
                upper = _tidy(upper * 1.024) if upper is not None else None
            if (
                n.suffix == ""
                and name in ("parameters", "active_parameters", "training_tokens")
                and value < 1e6
            ):
                continue  # a bare "12" in a Params column has no scale we can trust
            if value < _MIN_VALUE.get(name, 0.0) or value > _MAX_VALUE.get(name, float("inf")):
                continue
            kind, approx = _bounds(folded, n, n.end)
            if lower is None and upper is None:
                lower = value if kind == "lower" else None
                upper = value if kind == "upper" else None
            facts.append(
                FactRecord(
                    name,
                    _tidy(value),
                    unit=UNITS[name],
                    text_value=n.raw,
                    lower=lower,
                    upper=upper,
                    confidence=_confidence(
                        0.85, source, approx=approx, hedged=False, ranged=n.lower is not None
                    ),
                    line=block.lines[0],
                    location=location,
                    excerpt=excerpt,
                    subject=subject,
                )
            )
        return facts


def _same(a: FactRecord, b: FactRecord) -> bool:
    if (a.name, a.subject.casefold(), a.line) != (b.name, b.subject.casefold(), b.line):
        return False
    if a.value is None or b.value is None:
        return a.value is None and b.value is None and a.text_value == b.text_value
    if a.name == "benchmark_score" and a.text_value != b.text_value:
        return False
    return abs(a.value - b.value) <= 0.03 * max(abs(a.value), abs(b.value))


def extract_claims(
    text: str,
    *,
    line_offset: int = 0,
    line_map: Sequence[int] | None = None,
    title: str = "",
) -> list[FactRecord]:
    """Claims in `text`, each with the line it is on: `line_map[i]` for line i (0-based) when given, else
    ``i + 1 + line_offset``. `title` (e.g. a plain-text article's first line) acts as a top-level heading
    when no heading in the text names a model."""
    lines = text.split("\n")
    if line_map is not None and len(line_map) >= len(lines):
        line_of: Sequence[int] = line_map
    else:
        line_of = range(1 + line_offset, len(lines) + 1 + line_offset)
    extractor = _Extractor(_find_lexicon(_fold(text)))
    facts: list[FactRecord] = []
    seen: dict[tuple[str, str, int | None], list[FactRecord]] = {}
    for block in _iter_blocks(lines, line_of, title):
        for fact in extractor.block(block):
            # A restatement on the same line ("12만8000개(128K)") is one claim.
            same_key = seen.setdefault((fact.name, fact.subject.casefold(), fact.line), [])
            if not any(_same(fact, kept) for kept in same_key):
                same_key.append(fact)
                facts.append(fact)
    return facts
