"""An LLM-free, deterministic stand-in for the query generator (tables label it "heuristic (no LLM)").

KW: the passage's keywords (jieba's TF-IDF ``extract_tags`` for Chinese; stopword-delimited
phrases ranked RAKE-style for English) plus short noun phrases. No hypernyms: those need a
language model. SM: the first sentence with its caption frame ("The image shows ...",
"这张图片显示了……") removed, then cut to its first clause when still long.

Answers are returned as the same ``{"queries": [...]}`` JSON an LLM gives, so they are parsed and
filtered exactly like LLM output.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

from capflow.generate.backend import GenerationRequest, OnAnswer
from capflow.generate.parsing import comparison_key

MAX_KEYWORDS = 8
MAX_PHRASE_WORDS = 3  # English keyword phrases
MAX_PHRASE_CHARS = 8  # Chinese noun phrases
SUMMARY_MAX_WORDS = 16  # English
SUMMARY_MAX_CHARS = 40  # Chinese

_ZH_FRAME = re.compile(
    r"^(?:(?:这|该|此)?(?:一)?[张幅个]?(?:图片|图像|照片|截图|画面)(?:中|里|上)?"
    r"(?:显示|展示|展现|呈现|描绘|记录|包含)(?:的是|了|出)?|这是一[张幅个条份])")
_EN_FRAME = re.compile(
    r"^(?:(?:the|this|a|an) )?(?:image|picture|photo|photograph|screenshot|scene)s? "
    r"(?:shows|displays|depicts|contains|features|presents|captures|is of)(?: that)?,? ", re.IGNORECASE)
_ZH_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_ZH_CLAUSE = re.compile(r"[，,：:、]")
_EN_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_EN_CLAUSE = re.compile(r"[,:;]\s+|\s+(?:which|while|and then|where)\s+")
_EN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*|[^\sA-Za-z0-9]")
_NUMBERISH = re.compile(r"^[\d.,:/%'\"-]+$")

# frame words of image captions: never a useful search term on their own
_ZH_FRAME_WORDS = frozenset("图片 图像 画面 显示 展示 展现 呈现 这张 一张 照片中 图中 内容 包含".split())
_ZH_KEYWORD_POS = ("n", "nr", "ns", "nt", "nz", "nw", "vn", "v", "l", "i", "j", "eng", "an", "s")
_ZH_PHRASE_HEAD = ("n", "vn", "j", "l", "eng")
_ZH_PHRASE_MODIFIER = ("a", "b")
_EN_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself yourselves
image images picture pictures photo photos shows show showing shown displays display displayed depicts
depicting features featuring contains containing includes including appears seen visible there's it's
one two several various many next whether indicating indicates onto upon across along behind beside near
around within without via among
""".split())


class HeuristicBackend:
    def __init__(self, language: str):
        self.language = language

    def generate(self, requests: Sequence[GenerationRequest], on_answer: OnAnswer | None = None) -> list[str]:
        make = {"sm": summaries, "kw": keywords}
        answers = []
        for i, r in enumerate(requests):
            answers.append(json.dumps({"queries": make[r.kind](r.passage, self.language)}, ensure_ascii=False))
            if on_answer is not None:
                on_answer(i, answers[-1])
        return answers


def summaries(passage: str, language: str) -> list[str]:
    """Up to two summary-style queries: the de-framed first sentence and its first clause, each kept
    only within the length limit; failing both, the first clause cut to the limit."""
    zh = language == "zh"
    text = passage.strip()
    first = (_ZH_SENTENCE_END.split(text) if zh else _EN_SENTENCE_END.split(text))[0].strip()
    first = (_ZH_FRAME if zh else _EN_FRAME).sub("", first).strip().rstrip("。！？；.!?;")
    if not zh and first:
        first = first[0].upper() + first[1:]
    clause = (_ZH_CLAUSE if zh else _EN_CLAUSE).split(first)[0].strip()
    out = [q for q in dict.fromkeys([first, clause]) if q and _short_enough(q, zh)]
    if not out and clause:
        out = [clause[:SUMMARY_MAX_CHARS] if zh else " ".join(clause.split()[:SUMMARY_MAX_WORDS])]
    whole = comparison_key(passage)
    return [q for q in out if comparison_key(q) != whole]


def _short_enough(text: str, zh: bool) -> bool:
    return len(text) <= SUMMARY_MAX_CHARS if zh else len(text.split()) <= SUMMARY_MAX_WORDS


def keywords(passage: str, language: str) -> list[str]:
    found = _keywords_zh(passage) if language == "zh" else _keywords_en(passage)
    out: list[str] = []
    for word in found:
        if word not in out:
            out.append(word)
    return out[:MAX_KEYWORDS]


def _keywords_zh(passage: str) -> list[str]:
    import jieba.analyse
    import jieba.posseg

    tags = [w for w in jieba.analyse.extract_tags(passage, topK=2 * MAX_KEYWORDS, allowPOS=_ZH_KEYWORD_POS)
            if w not in _ZH_FRAME_WORDS and not _NUMBERISH.match(w)]
    phrases: list[str] = []
    run: list[tuple[str, str]] = []
    for pair in [*jieba.posseg.lcut(passage), None]:
        word, flag = (pair.word, pair.flag) if pair is not None else ("", "x")
        opens = flag.startswith(_ZH_PHRASE_HEAD) or (flag.startswith(_ZH_PHRASE_MODIFIER) and not run)
        if opens and word not in _ZH_FRAME_WORDS:
            run.append((word, flag))
            continue
        if len(run) >= 2 and run[-1][1].startswith(_ZH_PHRASE_HEAD):
            phrase = "".join(w for w, _ in run)
            if len(phrase) <= MAX_PHRASE_CHARS:
                phrases.append(phrase)
        run = []
    # phrases first: they are what a user types for a caption ("平均心率", "电源适配器")
    return phrases[:3] + tags


def _keywords_en(passage: str) -> list[str]:
    runs: list[list[str]] = []
    current: list[str] = []
    for token in _EN_TOKEN.findall(passage):
        word = token.lower().strip("'’-")
        if not word or not word[0].isalnum() or word in _EN_STOPWORDS or _NUMBERISH.match(word):
            if current:
                runs.append(current)
            current = []
        else:
            current.append(token.strip("'’-"))
    if current:
        runs.append(current)
    # a participle closing a run is a verb, not part of the name: "gas meter installed"
    runs = [run[:-1] if len(run) > 1 and run[-1].lower().endswith(("ed", "ing")) else run for run in runs]
    # RAKE: a word scores degree/frequency; a phrase, the sum over its words
    frequency: Counter = Counter()
    degree: Counter = Counter()
    for run in runs:
        for word in run:
            frequency[word.lower()] += 1
            degree[word.lower()] += len(run)
    candidates: dict[str, float] = {}
    for run in runs:
        for phrase_words in ([run] if len(run) <= MAX_PHRASE_WORDS else [run[-MAX_PHRASE_WORDS:], run[:2]]):
            phrase = " ".join(phrase_words)
            score = sum(degree[w.lower()] / frequency[w.lower()] for w in phrase_words)
            candidates.setdefault(phrase, score)
    ranked = sorted(candidates, key=lambda p: -candidates[p])  # stable: ties keep passage order
    out: list[str] = []
    for phrase in ranked:
        out.append(phrase)
        head = phrase.split()[-1]
        if " " in phrase and len(head) > 2:
            out.append(head)  # the phrase's head noun, e.g. "gas meter" -> "meter"
    return [p for p in out if len(p) > 1]
