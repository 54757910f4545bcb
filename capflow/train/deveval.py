"""Retrieval evaluation during training: the held-out pairs as a retrieval task over their pool.

Each distinct held-out query is a dev query; the pool's passages are the corpus; a query's relevant
passages are those it was generated from and every passage of the same text (as in hard-negative
mining). The test view never takes part: its captions are not in any training pool. Scoring is
sentence-transformers' ``InformationRetrievalEvaluator`` (cosine, nDCG@10), every ``dev_eval_steps``
steps; with ``keep_best`` the trainer reloads the checkpoint with the best dev nDCG@10 at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from capflow.errors import UserError
from capflow.train.negatives import text_key

EVALUATOR_NAME = "dev"
# the trainer's name for the evaluator's nDCG@10 (eval_ + evaluator name + score function + metric)
DEV_METRIC = f"eval_{EVALUATOR_NAME}_cosine_ndcg@10"


@dataclass(frozen=True)
class DevEvaluation:
    dev_eval_steps: int | None = field(
        default=None, metadata={"type": int,
                                "help": "evaluate retrieval of the held-out queries over the pool every N steps"})
    keep_best: bool = field(
        default=False, metadata={"help": "keep the checkpoint with the best dev nDCG@10 as the final model"})

    @property
    def enabled(self) -> bool:
        return self.dev_eval_steps is not None

    def check(self) -> None:
        if self.dev_eval_steps is not None and self.dev_eval_steps < 1:
            raise UserError(f"training setting dev_eval_steps must be positive, got {self.dev_eval_steps}")
        if self.keep_best and not self.enabled:
            raise UserError("training setting keep_best needs dev_eval_steps: the best checkpoint is chosen by "
                            "dev nDCG@10")


def dev_task(heldout: Sequence[tuple[str, str]], passages: dict[str, str]) -> tuple[dict, dict, dict]:
    """(queries, corpus, relevant) by id, as the evaluator takes them: query ids ``q0, q1, ...`` in
    first-seen order; corpus ids are pool positions, zero-padded, since the evaluator breaks score ties
    by corpus id and capflow's rankings by pool order: so the two rank alike."""
    width = len(str(len(passages)))
    corpus_id = {pid: f"{n:0{width}d}" for n, pid in enumerate(passages)}
    same_text: dict[str, set[str]] = {}
    for pid, text in passages.items():
        same_text.setdefault(text_key(text), set()).add(corpus_id[pid])
    query_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for query, pid in heldout:
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        relevant.setdefault(qid, set()).update(same_text[text_key(passages[pid])])
    queries = {qid: query for query, qid in query_ids.items()}
    return queries, {corpus_id[pid]: text for pid, text in passages.items()}, relevant


def build_evaluator(queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]],
                    batch_size: int):
    """The evaluator over texts already prepared as the recipe prepares them."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries, corpus, relevant, name=EVALUATOR_NAME, batch_size=batch_size, show_progress_bar=False,
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1], precision_recall_at_k=[10], map_at_k=[10],
        score_functions=None)


NO_DEV_EVALUATION = DevEvaluation()
