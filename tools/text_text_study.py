"""Why does the tiny text-text module learn so little on the demo dataset? Ablations of each suspect.

    PYTHONPATH=. python tools/text_text_study.py emmel-demo/EMMEL --seeds 13 14 15 [--variants default lr-1e-3 ...]

Every variant trains MCR's text-text module (the cross-encoder, `--models text-only`) through the
benchmark's own code (``baseline.benchmark.Benchmark``: same data, pools, loss, epoch selection on
dev) and prints, per seed and on average, Top-1 of the train originals, dev and test against the
whole KB (on the demo λ = KB, so dev/test equal the table's Top-1), and the last epoch's loss. The
train column tells memorising from learning to match: a model that ranks its own training texts
right but not new ones has learnt the texts, not the label–description match. First it prints
facts about the data (distinct texts, how often a description contains its label) and the lexical
baseline on each split.

Variants (one change each against the tiny preset's defaults):
  default         lr 3e-3, 30 epochs, 15 negatives, vocabulary restricted to the dataset, [CLS] label [SEP] text [SEP]
  lr-1e-3 / lr-1e-2               the learning rate
  epochs-60                       twice the epochs
  negatives-3 / negatives-all     fewer negatives (the old default) / every other KB entity (hard pool = KB)
  full-vocab                      the whole 21,128-token vocabulary instead of the dataset's rows
  text-first                      [CLS] text [SEP] label [SEP]
  wider                           4 layers x 128 instead of 2 x 64
  no-dropout                      dropout 0 instead of 0.1
  distinct-texts                  train on one sample per distinct (text, entity) (no augmented copies)
  kb-texts                        also train on each entity's label, aliases and KB description as texts naming it
  kb-names                        also train on each entity's label and aliases as texts naming it (no description)
Variants combine with '+' (``distinct-texts+lr-1e-2``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("default", "lr-1e-3", "lr-1e-2", "epochs-60", "negatives-3", "negatives-all", "full-vocab", "text-first", "wider",
            "no-dropout", "distinct-texts", "kb-texts", "kb-names")


def data_facts(dataset_dir: str) -> None:
    from baseline.data import kb_of
    from baseline.lexical import BM25Index
    from emmel.dataset import Dataset
    from emmel.labels import base_name

    dataset = Dataset.load(dataset_dir)
    kb = {e.id: e for e in dataset.kb}
    index = BM25Index.from_entities(kb_of(dataset).entities)
    ids = kb_of(dataset).ids
    for split in ("train", "dev", "test"):
        samples = dataset.samples[split]
        texts = {s.text for s in samples}
        pairs = {(s.text, s.entity_id) for s in samples}
        label = sum(kb[s.entity_id].label in s.text for s in samples)
        base = sum(base_name(kb[s.entity_id].label) in s.text for s in samples)
        scores = index.scores([s.text for s in samples])
        top1 = sum(ids[int(scores[i].argmax())] == s.entity_id for i, s in enumerate(samples))
        print(f"{split:5s}: {len(samples)} samples, {len(texts)} distinct texts ({len(pairs)} text-entity pairs), "
              f"{sum(s.augmented_from is not None for s in samples)} augmented copies; text contains the full label "
              f"{100 * label / len(samples):.0f} %, its base name {100 * base / len(samples):.0f} %; lexical Top-1 (whole KB) "
              f"{100 * top1 / len(samples):.1f}")
    train_texts = {s.text for s in dataset.samples["train"]}
    for split in ("dev", "test"):
        seen = sum(s.text in train_texts for s in dataset.samples[split])
        print(f"{split} texts also in train: {seen} of {len(dataset.samples[split])}")


EPOCHS: dict = {}  # --epochs for a quick check of the script


def configure(variant: str, seed: int, dataset: str):
    """The BenchmarkConfig of a variant (parts joined by '+'), and the patches it needs (undone by the caller)."""
    from baseline.config import PRESETS, BenchmarkConfig

    train = {"seed": seed, **EPOCHS}
    preset = "tiny"
    patches = []
    text = dict(PRESETS["tiny"].text)
    restrict = True
    for part in variant.split("+"):
        if part.startswith("lr-"):
            train["lr"] = float(part[3:])
        elif part == "epochs-60":
            train["epochs"] = 60
        elif part == "negatives-3":
            train["text_negatives"] = 3
        elif part == "negatives-all":  # every other entity in the hard pool, as many negatives as the KB has
            from emmel.dataset import Dataset

            others = len(Dataset.load(dataset).kb) - 1
            train.update(text_negatives=others, hard_pool=others)
        elif part == "wider":
            text.update(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512)
        elif part == "no-dropout":
            text.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        elif part == "full-vocab":
            restrict = False
        elif part == "text-first":
            from baseline import pairs

            original = pairs.TextSide.pack

            def text_first(self, label_idx, text_idx, rt):
                width = pairs.pair_width(self.text_lengths[text_idx], self.label_lengths[label_idx], self.max_length,
                                         self.template.pair_specials)
                return pairs.pack_pairs(self.texts, self.labels, rt.put(text_idx), rt.put(label_idx), self.template, self.max_length, width)

            pairs.TextSide.pack = text_first
            patches.append(lambda original=original: setattr(pairs.TextSide, "pack", original))
        elif part not in ("default", "distinct-texts", "kb-texts", "kb-names"):
            raise SystemExit(f"unknown variant part {part!r}")
    if text != PRESETS["tiny"].text or not restrict:
        name = f"study-{variant}"
        PRESETS[name] = dataclasses.replace(PRESETS["tiny"], name=name, text=text, restrict_vocab=restrict)
        preset = name
        patches.append(lambda: PRESETS.pop(name))
    cfg = BenchmarkConfig(dataset=dataset, models=["text-only"], train=train, preset=preset, threads=1, progress=False,
                          save_models=False, out=str(Path("/tmp") / f"text-study-{variant}-{seed}"), overwrite=True)
    return cfg, patches


def reshape_train(run, variant: str) -> None:
    """distinct-texts: one sample per (text, entity); kb-texts: the KB's labels, aliases and descriptions added as texts;
    kb-names: the labels and aliases only."""
    split = run.splits["train"]
    texts, gold = list(split.texts), split.gold.tolist()
    if "distinct-texts" in variant.split("+"):
        pairs = list(dict.fromkeys(zip(texts, gold)))
        texts, gold = [t for t, _ in pairs], [g for _, g in pairs]
    parts = variant.split("+")
    if "kb-texts" in parts or "kb-names" in parts:
        for position, entity in enumerate(run.kb.entities):
            for extra in (entity.label, *entity.aliases, *([entity.description] if "kb-texts" in parts else [])):
                if extra:
                    texts.append(extra)
                    gold.append(position)
    if texts == split.texts:
        return
    n = len(texts)
    run.splits["train"] = dataclasses.replace(split, sample_ids=[f"t{i}" for i in range(n)], texts=texts, mentions=[""] * n,
                                              image_paths=[None] * n, gold=torch.tensor(gold, dtype=torch.long))
    run.queries["train"] = dataclasses.replace(run.queries["train"], texts=texts, images=None, image_rows=None, mentions=None)


def run_variant(variant: str, seed: int, dataset: str) -> dict:
    from baseline.benchmark import Benchmark
    from baseline.metrics import top_k

    cfg, patches = configure(variant, seed, dataset)
    try:
        run = Benchmark(cfg, log=lambda line: None)
        original = run.splits["train"]
        reshape_train(run, variant)
        clock = time.perf_counter()
        run.train()
        run.evaluate()
        model = run.models["text-only"]
        queries = dataclasses.replace(run.queries["train"], texts=original.texts, images=None, image_rows=None, mentions=None)
        train_top1 = top_k(model.score_queries(queries, None).ranks(original.gold), (1,))["top1"]  # the real train texts, whole KB
        report = run.report()["results"]["text-only"]
        fit = run.fits["text-text"]
        return {"train": train_top1, "dev": report["dev"]["top1"], "test": report["test"]["top1"], "loss": fit["history"][-1]["loss"],
                "best_epoch": fit["best_epoch"], "seconds": time.perf_counter() - clock}
    finally:
        for undo in patches:
            undo()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (a quick check of the script)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help=f"any of {', '.join(VARIANTS)}, or several joined by '+'")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.epochs:
        EPOCHS["epochs"] = args.epochs
    for variant in args.variants:
        unknown = [part for part in variant.split("+") if part not in VARIANTS]
        if unknown:
            parser.error(f"unknown variant {unknown[0]!r}")
    data_facts(args.dataset)
    print()
    print("| variant | train Top-1 | dev Top-1 | test Top-1 | last loss | best epoch | s/run |")
    print("|---|---|---|---|---|---|---|")
    for variant in args.variants:
        runs = [run_variant(variant, seed, args.dataset) for seed in args.seeds]

        def cell(key: str, runs=runs) -> str:
            values = [r[key] for r in runs]
            spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
            return f"{statistics.mean(values):.1f}{spread}"

        print(f"| {variant} | {cell('train')} | {cell('dev')} | {cell('test')} | {cell('loss')} | "
              f"{', '.join(str(r['best_epoch']) for r in runs)} | {statistics.mean(r['seconds'] for r in runs):.0f} |", flush=True)
        for seed, r in zip(args.seeds, runs):
            print(f"|   seed {seed} | {r['train']:.1f} | {r['dev']:.1f} | {r['test']:.1f} | {r['loss']:.3f} | {r['best_epoch']} | {r['seconds']:.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
