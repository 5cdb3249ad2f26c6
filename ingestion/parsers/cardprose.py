"""Facts stated in the prose of a model card, each with the model it is about.

Lines are joined into paragraphs (a sentence may wrap), "Key: value" lines are read like table rows, and
sentences are matched against a few phrasings per fact ("trained on 1,500B tokens", "with 12B active
parameters", "context length of 4096", "**39.3**M GPU hours", "11,390 tons CO2eq"). A number is dropped when
it is a comparison or a range ("models with up to 30B parameters", "ranging from 0.5 to 72 billion
parameters", "less than 13 billion"). The subject is the first model named before the number (text in
parentheses aside); a sentence that names no model is about the card's model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingestion.parsers.cardfacts import (
    NOT_A_FACT_RE,
    clean_inline,
    fact_for_label,
    make_fact,
    norm_name,
    parse_value,
    same_model,
    strip_symbols,
)
from ingestion.parsers.records import FactRecord
from ingestion.parsers.text import find_date

PROSE_CONFIDENCE = 0.6
KEY_VALUE_CONFIDENCE = 0.8
MAX_PARAGRAPH_CHARS = 20_000

_NUM = r"\d[\d,]*(?:\.\d+)?"
_MAG = r"\s*(?:[KMBT](?![\w])|thousand|million|billion|trillion)"
_APPROX = r"(?:about|approximately|approx\.?|around|roughly|nearly|over|more than|~|≈)\s*"


@dataclass(frozen=True, slots=True)
class _Pattern:
    name: str
    regex: re.Pattern[str]
    comparisons: bool = True  # drop the number when a comparison ("up to", "less than") precedes it


_PATTERNS: list[_Pattern] = [
    _Pattern(
        "active_parameters",
        re.compile(
            rf"((?:{_APPROX})?{_NUM}{_MAG})\s*(?:of\s+(?:which|them)\s+)?(?:are\s+)?activ(?:e|ated)\b", re.I
        ),
    ),
    _Pattern(
        "parameters",
        re.compile(
            rf"((?:{_APPROX})?{_NUM}(?:{_MAG})?)\s*(?:billion\s+|million\s+)?[- ]?(?:total\s+|trainable\s+)?"
            r"param(?:eter)?s?\b"
            r"(?![- ]?(?:efficient|count))",
            re.I,
        ),
    ),
    _Pattern(
        "parameters",
        re.compile(
            rf"(?:\b(?:is|was|are)\s+an?|,\s*an?)\s+({_NUM}{_MAG})\s+(?:[\w-]+\s+){{0,3}}?(?:model|LLM|transformer)\b",
            re.I,
        ),
    ),
    _Pattern(
        "training_tokens",
        re.compile(
            rf"\b(?:pre-?train(?:ed|ing)?|train(?:ed|ing)?|saw|seen)\b(?:[^.;:]|(?<=\d)\.(?=\d)){{0,80}}?"
            rf"\b(?:on|with|using|over|for|totaling|totalling|comprising)\s+"
            rf"(?:a\s+(?:total|corpus|dataset|mix(?:ture)?)\s+of\s+|an?\s+)?((?:{_APPROX})?{_NUM}(?:{_MAG})?)\s*"
            rf"(?:[\w-]+\s+){{0,3}}?tokens?\b",
            re.I,
        ),
    ),
    _Pattern(
        "training_tokens",
        re.compile(
            rf"((?:{_APPROX})?{_NUM}(?:{_MAG})?)\s+(?:(?:pre-?)?training\s+tokens\b|tokens\s+(?:during|of)\s+(?:pre-?)?training\b)",
            re.I,
        ),
    ),
    _Pattern(
        "context_length",
        re.compile(
            r"(?<!in-)\bcontext(?:[ -](?:length|window|size|support))?s?"
            r"(?:\s+(?:lengths?|windows?|sizes?)\b)?\s*"
            rf"(?:of|is|was|:|=|reaches|extends to|extended to)?\s*(?:up\s*to\s+)?"
            rf"({_NUM}\s?[kKM]?)(?![\w]|\.\d)",
            re.I,
        ),
        comparisons=False,
    ),
    _Pattern(
        "context_length",
        re.compile(
            rf"({_NUM}\s?[kKM]?)[- ](?:token[- ])?context(?:[ -](?:length|window|size))?\b"
            r"(?!\s+(?:tasks?|data|examples?|benchmarks?|evaluations?|retrieval|settings?|baselines?|models?|"
            r"training|fine-?tuning|samples?|inputs?|documents?|extension))",
            re.I,
        ),
        comparisons=False,
    ),
    _Pattern(
        "gpu_hours",
        re.compile(
            rf"((?:{_APPROX})?{_NUM}(?:{_MAG})?)\s*"
            r"(?:[A-Z]{0,3}\d{2,4}[A-Z]?(?:-\d+\s?GB)?\s+)?GPU[- ]?hours?",
            re.I,
        ),
        comparisons=False,
    ),
    _Pattern(
        "co2_tonnes",
        re.compile(
            rf"((?:{_APPROX})?{_NUM})\s*(?:metric\s+)?(?:tons?|tonnes?|t)\s*(?:of\s+)?CO2\s*(?:-?\s*eq(?:uivalent)?|e)?\b",
            re.I,
        ),
        comparisons=False,
    ),
    _Pattern(
        "tdp_watts",
        re.compile(rf"TDP\s+of\s+({_NUM}(?:\s?-\s?{_NUM})?)\s*W\b|({_NUM})\s*W\s+TDP\b", re.I),
        comparisons=False,
    ),
]
_HARDWARE_RE = re.compile(
    r"\b((?:NVIDIA\s+)?(?:H100|H200|H800|A100|A800|V100|B200|GB200|MI250X?|MI300X|TPU\s?v\d\w*)(?:-\d+\s?GB)?)\b"
)
_RELEASE_RE = re.compile(r"\b(?:release date|released on|released in|released|release)\b\W{0,6}", re.I)
_COMPARISON_RE = re.compile(
    r"(?:\b(?:less|fewer|smaller|larger|bigger|greater|lower|higher)\s+than|\bunder|\bbelow|\babove|\bup\s+to|"
    r"\bupto|\bbetween|\bfrom|\bto|\bvs\.?|\bversus|\blike|e\.g\.,?|\bsuch\s+as|\bthan|\bexceeding|\bbeyond)"
    r"\s*$",
    re.I,
)
# An enumeration of sizes ("2K, 4K and 8K", "8B and 70B parameters") lists settings, not one fact.
_LISTED_BEFORE_RE = re.compile(r"\d(?:[\d.,]*\d)?\s*[kmbt]?\s*(?:,|\band\b|\bor\b|/)\s*$", re.I)
_LISTED_AFTER_RE = re.compile(r"^\s*(?:tokens?\s*)?(?:,|\band\b|\bor\b|/)\s*\d", re.I)
_CONTEXT_LIMITED_RE = re.compile(
    r"(?:limited to|less than|fewer than|shorter than|than|under|below|vs\.?)\s*$", re.I
)
# Specifications are written in the third person or as "we"; "I"/"you" sentences are dialogue or banter.
_CONVERSATIONAL_RE = re.compile(r"\b(?:I|I'm|I've|I'd|my|me|you|your|you've|you're|yourself)\b")
_THIRD_PERSON_FACTS = frozenset(
    {"parameters", "active_parameters", "training_tokens", "gpu_hours", "co2_tonnes"}
)
_CARD_PRONOUN_RE = re.compile(
    r"^\s*(?:it|it's|this model|the model|our model|this checkpoint|this version)\b", re.I
)
_RANGE_SENTENCE_RE = re.compile(r"\brang(?:e|es|ing)\b|\bsizes?\s+(?:of|from)\b|\bvarious sizes\b", re.I)
_BLOCKED_WINDOW_RE = re.compile(
    r"batch|warm-?up|ramp-?up|\bevery\b|\bper\b|checkpoint|\bsteps?\b|sequence|window|generate|generation|"
    r"vocab|tokenizer|\bcontext\b",
    re.I,
)
# Model families, so a sentence's subject can be told from hardware ("H100-80GB") and versions ("v4.34").
_FAMILIES = (
    r"codellama|tinyllama|llama|mistral|mixtral|codestral|qwen|gemma|phi|olmo|pythia|bloomz?|"
    r"falcon|deepseek(?:[- ]?(?:llm|coder|v\d|r\d))?|gpt|opt|t5|flan-t5|palm|chinchilla|gopher|claude|"
    r"gemini|yi|"
    r"baichuan\d?|internlm\d?|chatglm\d?|glm|mpt|stablelm|starcoder\d?|smollm\d?|granite|jamba|mamba|zephyr|"
    r"vicuna|alpaca|orca|solar|command-r|dbrx|grok|nemotron|minicpm|aya|bert|roberta|gpt-?j|gpt-?neox|"
    r"cerebras-gpt|amber|crystalcoder|poro|xwinlm|tulu|starling|notus|galactica|ernie|jais|persimmon|"
    r"redpajama|openllama|dolly|ministral|exaone|hunyuan|kimi|minimax"
)
_MENTION_RE = re.compile(
    rf"(?<![\w/-])(?:{_FAMILIES})(?![a-z])(?:[-_ ]?(?:v?\d+(?:\.\d+)*[a-z]?|[A-Z]\d+)(?![\w]))?"
    rf"(?:[-_ ](?:\d+(?:\.\d+)?[bmt]|\d+x\d+b|v\d[\w.]*|a\d+b|instruct|chat|base|coder|math)(?![\w]))*"
    rf"(?:'s)?",
    re.I,
)
_KEY_VALUE_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+\.\s+)?(?P<key>[^:]{1,60}?)\s*:\s*(?P<value>\S.*)$")
_BLOCK_START_RE = re.compile(
    r"^\s*(?:[-*+]\s+|\d+\.\s+|#{1,6}\s|>|\||<(?:/?(?:div|p|table|details|summary|ul|ol|li|br|hr|img|center|figure)\b))",
    re.I,
)
_HEADING_LINE_RE = re.compile(r"^\s{0,3}#{1,6}\s")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[])")


@dataclass(slots=True)
class Paragraph:
    text: str
    starts: list[tuple[int, int]]  # (offset in text, 1-based line)

    def line_at(self, offset: int) -> int:
        line = self.starts[0][1]
        for start, number in self.starts:
            if start > offset:
                break
            line = number
        return line


def paragraphs(lines: list[str], first_line: int, skip: set[int]) -> Iterator[Paragraph]:
    """Runs of prose lines as cleaned paragraphs; list items start a new one. Headings are titles, not
    statements ("Example test on long context of 13400 tokens"), so they end a paragraph and give none."""
    current: Paragraph | None = None
    for i, raw in enumerate(lines):
        if i in skip or not raw.strip() or len(raw) > MAX_PARAGRAPH_CHARS or _HEADING_LINE_RE.match(raw):
            if current:
                yield current
            current = None
            continue
        text = clean_inline(raw)
        if not text:
            continue
        if current is None or _BLOCK_START_RE.match(raw) or len(current.text) > MAX_PARAGRAPH_CHARS:
            if current:
                yield current
            current = Paragraph("", [])
        offset = len(current.text) + (1 if current.text else 0)
        current.text = f"{current.text} {text}" if current.text else text
        current.starts.append((offset, first_line + i))
    if current:
        yield current


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        yield start, text[start : m.start()]
        start = m.end()
    yield start, text[start:]


def _without_parentheses(text: str) -> str:
    out = re.sub(r"\([^()]{0,300}\)", lambda m: " " * len(m.group(0)), text)
    return re.sub(r"\[[^\[\]]{0,300}\]", lambda m: " " * len(m.group(0)), out)


class SubjectFinder:
    """Which model a sentence is about: the first model it names before the number."""

    def __init__(self, card_name: str, known: list[str]) -> None:
        self.card_name = card_name
        names = {strip_symbols(k) for k in known if k and len(norm_name(k)) >= 3}
        names.add(card_name)
        first = card_name.split()[0] if card_name.split() else ""
        if len(norm_name(first)) >= 4:
            names.add(
                re.split(r"[-_]", first)[0] if len(norm_name(re.split(r"[-_]", first)[0])) >= 4 else first
            )
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if n)
        self._known = (
            re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])(?:'s)?", re.I) if alternatives else None
        )

    def mentions(self, sentence: str) -> list[tuple[int, str]]:
        """Model names in the sentence (parenthetical asides hidden), known names winning over families."""
        visible = _without_parentheses(sentence)
        found: dict[int, str] = {}
        covered: set[int] = set()
        for regex in (self._known, _MENTION_RE):
            if regex is None:
                continue
            for m in regex.finditer(visible):
                if m.start() in covered:
                    continue
                text = m.group(0).strip()
                found[m.start()] = text[:-2] if text.endswith("'s") else text
                covered.update(range(m.start(), m.end()))
        return sorted(found.items())

    def subject(self, sentence: str, position: int) -> str:
        if _CARD_PRONOUN_RE.match(sentence):
            return (
                ""  # "It is an extension of Mistral-7B and supports a 128k context": "It" is the card's model
            )
        before = [text for start, text in self.mentions(sentence) if start < position]
        if not before:
            return ""
        name = before[0]
        return "" if same_model(name, self.card_name) else strip_symbols(name)


def _compared(sentence: str, start: int) -> bool:
    return bool(_COMPARISON_RE.search(sentence[max(0, start - 30) : start]))


def _listed(sentence: str, start: int, end: int) -> bool:
    return bool(
        _LISTED_BEFORE_RE.search(sentence[max(0, start - 20) : start])
        or _LISTED_AFTER_RE.match(sentence[end:])
    )


def _sentence_facts(
    sentence: str, offset: int, paragraph: Paragraph, finder: SubjectFinder, excerpt: str
) -> list[FactRecord]:
    facts: list[FactRecord] = []
    ranged = bool(_RANGE_SENTENCE_RE.search(sentence))
    conversational = bool(_CONVERSATIONAL_RE.search(sentence))
    taken: set[tuple[str, int]] = set()
    for pattern in _PATTERNS:
        for m in pattern.regex.finditer(sentence):
            group = next((g for g in range(1, (m.lastindex or 0) + 1) if m.group(g)), None)
            if group is None:
                continue
            start = m.start(group)
            name = pattern.name
            if name == "parameters" and (
                ("parameters", start) in taken or ("active_parameters", start) in taken
            ):
                continue
            if pattern.comparisons and (_compared(sentence, start) or (ranged and "param" in name)):
                continue
            if name in _THIRD_PERSON_FACTS and conversational:
                continue  # "With 33 billion parameters and all, you've outdone yourself": banter, not a spec
            if _listed(sentence, start, m.end(group)) or (
                name == "context_length" and _CONTEXT_LIMITED_RE.search(sentence[max(0, start - 25) : start])
            ):
                continue
            if name == "training_tokens" and _BLOCKED_WINDOW_RE.search(m.group(0)):
                continue
            if name == "co2_tonnes" and re.search(
                r"market[- ]based", sentence[max(0, start - 120) : start], re.I
            ):
                name = "co2_tonnes_market_based"
            value = parse_value(name, m.group(group))
            if value is None:
                continue
            taken.add((name, start))
            facts.append(
                make_fact(
                    name,
                    value,
                    line=paragraph.line_at(offset + start),
                    confidence=PROSE_CONFIDENCE,
                    location="prose",
                    excerpt=excerpt,
                    subject=finder.subject(sentence, start),
                )
            )
    for m in _RELEASE_RE.finditer(sentence):
        found = find_date(sentence[m.end() : m.end() + 40])
        date_value = parse_value("release_date", found[0]) if found and found[1] == 0 else None
        if date_value is not None:
            facts.append(
                make_fact(
                    "release_date",
                    date_value,
                    line=paragraph.line_at(offset + m.end()),
                    confidence=PROSE_CONFIDENCE,
                    location="prose",
                    excerpt=excerpt,
                    subject=finder.subject(sentence, m.start()),
                )
            )
            break
    hardware = _HARDWARE_RE.search(sentence)
    if hardware:
        value = parse_value("hardware", hardware.group(1))
        if value is not None:
            facts.append(
                make_fact(
                    "hardware",
                    value,
                    line=paragraph.line_at(offset + hardware.start()),
                    confidence=PROSE_CONFIDENCE,
                    location="prose",
                    excerpt=excerpt,
                )
            )
    return facts


def _key_value_fact(paragraph: Paragraph) -> tuple[list[FactRecord], bool]:
    """Facts of a "Key: value" line, and whether its prose should be skipped (a key that is no fact)."""
    m = _KEY_VALUE_RE.match(paragraph.text)
    if not m or len(m["key"].split()) > 8:
        return [], False
    key = m["key"]
    name = fact_for_label(key)
    if name is None:
        return [], bool(NOT_A_FACT_RE.search(key.lower()))
    value = parse_value(name, m["value"])
    if value is None:
        return [], False  # "Emissions: Estimated total ... were 11,390 tons": the sentence says it
    fact = make_fact(
        name,
        value,
        line=paragraph.line_at(m.start("value")),
        confidence=KEY_VALUE_CONFIDENCE,
        location=f"prose '{key.strip()}'",
        excerpt=paragraph.text,
    )
    return [fact], True


def prose_facts(
    lines: list[str], first_line: int, skip: set[int], card_name: str, known: list[str]
) -> list[FactRecord]:
    finder = SubjectFinder(card_name, known)
    facts: list[FactRecord] = []
    for paragraph in paragraphs(lines, first_line, skip):
        keyed, handled = _key_value_fact(paragraph)
        facts.extend(keyed)
        if handled:
            continue
        for offset, sentence in _sentences(paragraph.text):
            facts.extend(_sentence_facts(sentence, offset, paragraph, finder, sentence.strip()))
    return facts
