"""`emmel stats DIR [--check] [--json]`: Table-1 statistics and the integrity check."""

from __future__ import annotations

import json


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder written by `emmel build`")
    parser.add_argument("--check", action="store_true", help="verify schema, checksums, split disjointness, candidates and accounting; exit 1 on any problem")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args) -> int:
    from emmel.dataset import Dataset
    from emmel.integrity import check
    from emmel.stats import format_table, table1

    dataset = Dataset.load(args.dataset)
    rows = table1(dataset)
    counts = dataset.counts()
    problems = check(args.dataset) if args.check else []
    if args.json:
        print(json.dumps({"table1": rows, "counts": counts, "problems": problems}, ensure_ascii=False, indent=2))
    else:
        print(format_table(rows, ["split", "samples", "augmented", "entities", "avg_text_len"]))
        print(f"\ninput {counts['input_records']} = kept {counts['kept']} + rejected {counts['rejected']}; "
              f"KB {counts['entities']} entities; λ = {counts['candidates_per_sample']}")
        if args.check:
            if problems:
                print(f"\ncheck: {len(problems)} problem(s)")
                for line in problems:
                    print(f"  - {line}")
            else:
                declared = dataset.meta.get("candidates", {})
                golds = ("imported candidate lists as declared (golds missing: "
                         + ", ".join(f"{k} {v}" for k, v in declared.get("missing_gold", {}).items()) + ")"
                         if declared.get("gold_always_included") is False else "candidates hold the gold")
                print(f"\ncheck: OK (schema, checksums, splits disjoint, {golds}, accounting)")
    return 1 if problems else 0
