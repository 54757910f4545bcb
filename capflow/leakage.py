"""The leakage filter: drop pool passages that are near-copies of a test caption.

A passage is dropped when its character-level ROUGE-L F1 against ANY test caption is at or above the
threshold. Tokens are the passage's characters, lower-cased, with whitespace removed (``char_tokens``),
so copies that differ only in case or spacing count as copies; rouge-score given ``CharTokenizer``
computes the same score. With LCS the length of the longest common subsequence and la, lb the token
counts, F1 = 2·LCS / (la + lb). LCS comes from rapidfuzz (C++, bit-parallel), and the decision is
taken in integers with the threshold as an exact fraction p/q: drop iff 2·LCS·q >= p·(la + lb). Float
arithmetic would put some pairs that are exactly at the threshold just below it.

Speed: since LCS <= min(la, lb), F1 <= 2·min(la, lb) / (la + lb), so a pair whose lengths are too far
apart cannot reach a floor f. Passages and captions are sorted by length and each block of passages
is compared (``rapidfuzz.process.cdist``, all cores) only with the window of captions whose lengths
could reach f. Every pair that could score >= f is computed exactly, which makes the decisions exact
(f <= threshold) and every passage's nearest score exact whenever it is >= f; passages whose nearest
caption scores below f are counted together in one bottom bin of the histogram.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from capflow import benchmark as bm
from capflow import worklog
from capflow.errors import UserError
from capflow.io import iter_jsonl, write_json, write_jsonl, write_text
from capflow.runtime import hardware

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = "0.7"
DEFAULT_EXACT_FROM = "0.1"  # every histogram bin exact
BINS = 10  # histogram bins of width 0.1
SIMD_MAX_CHARS = 64
TOKENS = "characters, lower-cased, whitespace removed"


def char_tokens(text: str) -> str:
    """The token sequence ROUGE-L is computed on: every non-whitespace character, lower-cased."""
    return "".join(text.lower().split())


class CharTokenizer:
    """``char_tokens`` in the interface rouge-score's ``RougeScorer(tokenizer=...)`` expects."""

    def tokenize(self, text: str) -> list[str]:
        return list(char_tokens(text))


def parse_fraction(value, key: str) -> Fraction:
    """A config value in (0, 1] ("0.7", 0.7 or "7/10") as an exact fraction; a one-line error otherwise."""
    try:
        fraction = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UserError(f"{key} must be a number in (0, 1], got {value!r}") from None
    if not 0 < fraction <= 1:
        raise UserError(f"{key} must be in (0, 1], got {value!r}")
    return fraction


def reaches(lcs, la, lb, threshold: Fraction):
    """Whether F1 = 2·lcs/(la+lb) >= threshold, exactly (works on ints and integer numpy arrays)."""
    return 2 * threshold.denominator * lcs >= threshold.numerator * (la + lb)


def rouge_l(a: str, b: str) -> Fraction:
    """Exact character-level ROUGE-L F1 of two texts (0 when both are empty)."""
    from rapidfuzz.distance import LCSseq

    ta, tb = char_tokens(a), char_tokens(b)
    if not ta or not tb:
        return Fraction(0)
    return Fraction(2 * LCSseq.similarity(ta, tb), len(ta) + len(tb))


@dataclass
class Nearest:
    """Per passage: the nearest test caption found (index into the test list or -1) and its LCS."""

    index: np.ndarray      # int64, -1 where no caption could reach the floor
    lcs: np.ndarray        # int64 LCS with that caption
    length: np.ndarray     # int64 passage token count
    test_length: np.ndarray  # int64 token count of that caption (0 where index is -1)
    leaked: np.ndarray     # bool: some caption reaches the threshold
    pairs_total: int
    pairs_compared: int


def length_window(floor: Fraction) -> tuple[int, int]:
    """(p, r) with floor = p/q and r = 2q - p: lengths la, lb can reach the floor only if
    lb·r >= la·p and la·r >= lb·p."""
    return floor.numerator, 2 * floor.denominator - floor.numerator


def compact_alphabet(*groups: list[str]) -> list[list[str]]:
    """The same strings with each character replaced by its frequency rank (most frequent -> U+0000).

    A one-to-one relabelling leaves every LCS unchanged, but rapidfuzz looks characters below 256 up
    in a flat table and the others in a hash map: for Chinese text this makes LCS ~2.5x faster."""
    counts = Counter("".join("".join(group) for group in groups))
    ranked = sorted(counts, key=lambda ch: (-counts[ch], ch))
    table = {ord(ch): rank for rank, ch in enumerate(ranked)}
    return [[text.translate(table) for text in group] for group in groups]


def nearest_captions(passages: list[str], tests: list[str], threshold: Fraction, floor: Fraction, *,
                     same_items: bool = False, block: int = 1024, workers: int = -1) -> Nearest:
    """Exact nearest test caption for every passage whose nearest scores >= ``floor``, and exact
    leak decisions at ``threshold`` (floor <= threshold). ``same_items``: passages and tests are the
    same list, and an item is not compared with itself."""
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    if floor > threshold:
        raise ValueError("the floor must not exceed the threshold")
    p_tokens, t_tokens = compact_alphabet([char_tokens(t) for t in passages], [char_tokens(t) for t in tests])
    p_len = np.array([len(t) for t in p_tokens], dtype=np.int64)
    t_len = np.array([len(t) for t in t_tokens], dtype=np.int64)
    t_order = np.argsort(t_len, kind="stable")
    t_sorted_len = t_len[t_order]
    t_sorted = [t_tokens[i] for i in t_order]
    p_order = np.argsort(p_len, kind="stable")

    n = len(passages)
    best_index = np.full(n, -1, dtype=np.int64)
    best_lcs = np.zeros(n, dtype=np.int64)
    best_test_len = np.zeros(n, dtype=np.int64)
    p_num, r = length_window(floor)
    compared = 0
    for start in range(0, n, block):
        rows = p_order[start:start + block]
        rows = rows[p_len[rows] > 0]  # an empty passage scores 0 against everything
        if len(rows) == 0:
            continue
        la_min, la_max = int(p_len[rows].min()), int(p_len[rows].max())
        if p_num == 0:  # a zero floor: every pair counts
            lo, hi = 0, len(t_sorted)
        else:
            lo = np.searchsorted(t_sorted_len, -(-la_min * p_num // r), side="left")
            hi = np.searchsorted(t_sorted_len, la_max * r // p_num, side="right")
        if hi <= lo:
            continue
        window = t_order[lo:hi]
        block_tokens = [p_tokens[i] for i in rows]
        if la_min > SIMD_MAX_CHARS:
            # rapidfuzz batches short queries (<= 64 characters) in SIMD lanes: when every passage
            # of the block is longer, let the captions be the queries.
            lcs = process.cdist(t_sorted[lo:hi], block_tokens, scorer=LCSseq.similarity, dtype=np.int32,
                                workers=workers).T
        else:
            lcs = process.cdist(block_tokens, t_sorted[lo:hi], scorer=LCSseq.similarity, dtype=np.int32,
                                workers=workers)
        compared += lcs.size
        if same_items:
            lcs[rows[:, None] == window[None, :]] = -1
        # Within a row the F1 values are lcs/(la+lb); two distinct ones differ by at least
        # 1/((la+lb)(la+lb')), far above float64 rounding, so this argmax finds the exact maximum
        # (ties: the first caption in length order), and a passage leaks iff that maximum does.
        column = np.argmax(lcs / (p_len[rows][:, None] + t_sorted_len[lo:hi][None, :]), axis=1)
        best = lcs[np.arange(len(rows)), column].astype(np.int64)
        found = best >= 0
        best_index[rows[found]] = window[column[found]]
        best_lcs[rows[found]] = best[found]
        best_test_len[rows[found]] = t_sorted_len[lo:hi][column[found]]
    leaked = (best_index >= 0) & reaches(best_lcs, p_len, best_test_len, threshold)
    pairs_total = n * len(tests) - (n if same_items else 0)
    return Nearest(best_index, best_lcs, p_len, best_test_len, leaked, pairs_total, compared)


def histogram(nearest: Nearest, floor: Fraction) -> dict:
    """Counts of nearest scores in 0.1 bins; bins below ``floor`` (a multiple of 0.1) are merged,
    since a nearest score under the floor is known only to be under it."""
    floor_bin = math.floor(floor * BINS)
    counts = [0] * BINS
    below = 0
    for index, lcs, la, lb in zip(nearest.index, nearest.lcs, nearest.length, nearest.test_length):
        if index < 0 and floor_bin == 0:
            counts[0] += 1  # an empty passage, or no caption at all: score 0
        elif index < 0 or not reaches(int(lcs), int(la), int(lb), floor):
            below += 1
        else:
            counts[min(BINS - 1, (2 * BINS * int(lcs)) // int(la + lb))] += 1
    bins = [{"from": 0.0, "to": floor_bin / BINS, "count": below}] if floor_bin else []
    for k in range(floor_bin, BINS):
        bins.append({"from": k / BINS, "to": (k + 1) / BINS, "count": counts[k]})
    return {"bins": bins, "exact_from": floor_bin / BINS,
            "note": "each bin [from, to) counts items by the ROUGE-L F1 of their nearest test caption "
                    "(the last bin includes 1.0); every nearest score at or above exact_from is exact"}


def share_reaching(nearest: Nearest, value: Fraction) -> float:
    hits = sum(1 for index, lcs, la, lb in zip(nearest.index, nearest.lcs, nearest.length, nearest.test_length)
               if index >= 0 and reaches(int(lcs), int(la), int(lb), value))
    return hits / len(nearest.index) if len(nearest.index) else 0.0


def read_pool(path: Path) -> list[dict]:
    rows, seen = [], {}
    for lineno, obj in iter_jsonl(path, {"id": str, "text": str}):
        if obj["id"] in seen:
            raise UserError(f"duplicate passage id {obj['id']!r} (first on line {seen[obj['id']]})", path, lineno)
        seen[obj["id"]] = lineno
        rows.append(obj)
    return rows


def filter_pool(pool: list[dict], test_ids: list[str], test_texts: list[str], threshold: Fraction, *,
                exact_from: Fraction = Fraction(DEFAULT_EXACT_FROM), workers: int = -1) -> tuple[list[dict], dict]:
    """The passages kept, and the report: counts, each dropped passage with its nearest caption,
    the histogram of nearest scores, and how close the test captions are to each other."""
    floor = Fraction(math.floor(min(threshold, exact_from) * BINS), BINS)
    texts = [row["text"] for row in pool]
    nearest = nearest_captions(texts, test_texts, threshold, floor, workers=workers)
    kept = [row for row, leak in zip(pool, nearest.leaked) if not leak]
    dropped = []
    for i in np.flatnonzero(nearest.leaked):
        j, lcs = int(nearest.index[i]), int(nearest.lcs[i])
        score = Fraction(2 * lcs, int(nearest.length[i] + nearest.test_length[i]))
        dropped.append({"id": pool[i]["id"], "text": pool[i]["text"], "nearest_id": test_ids[j],
                        "nearest_text": test_texts[j], "lcs": lcs, "score": round(float(score), 6),
                        "score_exact": f"{score.numerator}/{score.denominator}"})
    within = nearest_captions(test_texts, test_texts, threshold, floor, same_items=True, workers=workers)
    report = {
        "threshold": float(threshold),
        "threshold_exact": f"{threshold.numerator}/{threshold.denominator}",
        "rule": "drop a passage iff its ROUGE-L F1 = 2*LCS/(la+lb) against any test caption is >= threshold",
        "tokens": TOKENS,
        "counts": {"in": len(pool), "dropped": len(dropped), "kept": len(kept), "test_captions": len(test_ids)},
        "pairs": {"total": nearest.pairs_total, "compared": nearest.pairs_compared,
                  "skipped_by_length_bound": nearest.pairs_total - nearest.pairs_compared},
        "histogram": histogram(nearest, floor),
        "test_captions_among_themselves": {
            "note": "how close the test captions are to one another, to judge the threshold by: the share "
                    "of test captions with another test caption at or above each score",
            "at_or_above_threshold": round(share_reaching(within, threshold), 6),
            "at_or_above_0.5": round(share_reaching(within, Fraction(1, 2)), 6)
            if floor <= Fraction(1, 2) else None,
            "histogram": histogram(within, floor),
        },
        "dropped": dropped,
    }
    return kept, report


def histogram_csv(report: dict) -> str:
    pool_bins = report["histogram"]["bins"]
    test_bins = report["test_captions_among_themselves"]["histogram"]["bins"]
    lines = ["from,to,pool_passages,test_captions"]
    for pool_bin, test_bin in zip(pool_bins, test_bins):
        lines.append(f"{pool_bin['from']:.1f},{pool_bin['to']:.1f},{pool_bin['count']},{test_bin['count']}")
    return "\n".join(lines) + "\n"


def configure_parser(parser) -> None:
    parser.add_argument("--pool", required=True, type=Path, help="passages.jsonl to filter")
    parser.add_argument("--test-captions", required=True, type=Path,
                        help="the test captions: a benchmark's candidates JSONL {id, text}")
    parser.add_argument("--threshold", default=DEFAULT_THRESHOLD,
                        help="drop at ROUGE-L F1 >= this (exact; e.g. 0.7 or 7/10)")
    parser.add_argument("--exact-from", default=DEFAULT_EXACT_FROM,
                        help="nearest scores at or above this are exact in the histogram, lower ones share the bin "
                             "[0, this); higher values skip more pairs (0.1, the default: every bin exact)")
    parser.add_argument("--out-passages", required=True, type=Path, help="the kept passages (JSONL)")
    parser.add_argument("--report", required=True, type=Path, help="the leakage report (JSON)")
    parser.add_argument("--histogram", type=Path, help="the nearest-score histogram (CSV)")
    parser.add_argument("--workers", type=int, default=-1, help="threads for rapidfuzz (-1: all cores)")


def main(args) -> None:
    threshold = parse_fraction(args.threshold, "threshold")
    exact_from = parse_fraction(args.exact_from, "exact-from")
    pool = read_pool(args.pool)
    test_ids, test_texts = bm.load_candidates(args.test_captions)
    with worklog.timed() as seconds:
        kept, report = filter_pool(pool, test_ids, test_texts, threshold, exact_from=exact_from, workers=args.workers)
    units = {"passages": len(pool), "kept": len(kept), "test_captions": len(test_ids),
             "pairs": len(pool) * len(test_ids)}
    worklog.write(worklog.WorkRecord("leakage", units, seconds(), device=hardware.device_name()))
    report["pool"] = str(args.pool)
    report["test"] = str(args.test_captions)
    write_jsonl(args.out_passages, kept)
    write_json(args.report, report)
    if args.histogram:
        write_text(args.histogram, histogram_csv(report))
    log.info("leakage at %s: %d in, %d dropped, %d kept", report["threshold_exact"], len(pool),
             report["counts"]["dropped"], len(kept))
