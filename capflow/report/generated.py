"""Table 5: the SM and KW queries generated for one passage of each pool, the passage chosen by a
seeded rule: among passages with both kinds of query, the one with the smallest
SHA-256(seed, pool, passage id), so the choice is stable and independent of file order."""

from __future__ import annotations

import hashlib

from capflow.errors import UserError
from capflow.io import iter_jsonl, read_json
from capflow.report.table import Row, Table
from capflow.vocabulary import POOL_DISPLAY

PASSAGE_CHARS = 80


def add_arguments(parser) -> None:
    parser.add_argument("--pool", nargs=2, action="append", required=True, metavar=("NAME", "PASSAGES"),
                        help="a pool's name and passages.jsonl; repeatable (rows in this order)")
    parser.add_argument("--queries", nargs=2, action="append", required=True, metavar=("POOL", "SHARD"),
                        help="a generation shard (SM or KW) of a pool; repeatable")
    parser.add_argument("--stats", nargs=2, action="append", default=[], metavar=("POOL", "STATS"),
                        help="a shard's stats JSON, for the generator's label; repeatable")
    parser.add_argument("--seed", type=int, default=0, help="which passage is shown (default 0)")


def pick(seed: int, pool: str, passage_ids) -> str:
    return min(passage_ids, key=lambda pid: hashlib.sha256(f"{seed}\0{pool}\0{pid}".encode()).digest())


def build(args) -> Table:
    queries: dict[str, dict[str, dict[str, list[str]]]] = {}  # pool -> passage -> kind -> queries
    for pool, shard in args.queries:
        for lineno, row in iter_jsonl(shard, {"passage_id": str, "kind": str, "query": str}):
            if row["kind"] not in ("sm", "kw"):
                raise UserError(f"kind '{row['kind']}' is not sm or kw", shard, lineno)
            passage = queries.setdefault(pool, {}).setdefault(row["passage_id"], {"sm": [], "kw": []})
            passage[row["kind"]].append(row["query"])
    generators: dict[str, set[str]] = {}
    for pool, path in args.stats:
        generators.setdefault(pool, set()).add(str(read_json(path).get("generator", "unknown")))
    rows = []
    for pool, passages_path in args.pool:
        both = [pid for pid, kinds in queries.get(pool, {}).items() if kinds["sm"] and kinds["kw"]]
        if not both:
            raise UserError(f"pool '{pool}': no passage has both SM and KW queries among the shards given")
        chosen = pick(args.seed, pool, both)
        text = next((r["text"] for _, r in iter_jsonl(passages_path, {"id": str, "text": str}) if r["id"] == chosen),
                    None)
        if text is None:
            raise UserError(f"pool '{pool}': passage '{chosen}' of the shards is not in the pool", passages_path)
        label = POOL_DISPLAY.get(pool, pool)
        if generators.get(pool):
            label += f" ({' + '.join(sorted(generators[pool]))})"
        short = text if len(text) <= PASSAGE_CHARS else text[:PASSAGE_CHARS - 1] + "…"
        kinds = queries[pool][chosen]
        rows.append(Row(label, {}, {"Passage": short, "SM": " / ".join(kinds["sm"]), "KW": "; ".join(kinds["kw"])}))
    caption = args.caption or "Generated queries for one passage per pool (the paper's Table 5)"
    notes = [f"Passages chosen by seed {args.seed}: the smallest SHA-256(seed, pool, passage id) among passages "
             "with both SM and KW queries."] + list(args.note or [])
    return Table(caption=caption, label="tab:generated", columns=[], groups=[("", rows)],
                 text_columns=["Passage", "SM", "KW"], notes=notes, row_header="Pool", text_width="6.5cm")
