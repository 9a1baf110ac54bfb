"""`emmel link DATASET_OR_MODEL --image IMG --text TEXT [-k 5]`: top-k entities for one input."""

from __future__ import annotations


def add_arguments(parser) -> None:
    from baseline.config import DEFAULT_DEVICE, LINK_MODEL, LINK_TOP_K, MODEL_NAMES

    parser.add_argument("target", metavar="DATASET_OR_MODEL",
                        help="a saved model folder, an `emmel benchmark` output folder, or a dataset folder with its benchmark output beside it")
    parser.add_argument("--image", help="image of the mention")
    parser.add_argument("--text", required=True, help="description of the mention (the sentence it occurs in)")
    parser.add_argument("--mention", default="", help="the mention string inside --text, where known (joins the text-text input, "
                                                      "and is what the lexical retriever looks up)")
    parser.add_argument("-k", type=int, default=LINK_TOP_K, help=f"how many entities to list (default: {LINK_TOP_K})")
    parser.add_argument("--model", default=LINK_MODEL,
                        help=f"which trained model of a benchmark output to use, one of {', '.join(MODEL_NAMES)} (default: {LINK_MODEL})")
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=f"cpu or cuda (default: {DEFAULT_DEVICE})")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")


def run(args) -> int:
    from baseline.link import load_for_link
    from emmel.io import dumps
    from emmel.stats import format_table

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model, folder = load_for_link(args.target, args.model, args.device)
    rows = model.link(args.image, args.text, args.k, mention=args.mention)
    if args.json:
        for row in rows:
            print(dumps(row))
        return 0
    cfg = model.config
    how = f"α = {cfg.alpha:.2f}, {cfg.normalization}" if len(cfg.modules) == 2 else f"{cfg.modules[0]} module only"
    print(f"model {folder} ({cfg.name}: {how}); KB {len(model.kb)} entities")
    print(format_table(rows))
    return 0
