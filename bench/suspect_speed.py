"""Speed and memory of the mismatch flags (``emmel flag``, ``emmel build --clip-model``): pairs scored per second.

    PYTHONPATH=. python bench/suspect_speed.py                               # 2,000 samples, tiny CLIP, CPU
    PYTHONPATH=. python bench/suspect_speed.py --samples 10000 --preset base --device cuda   # paper-size CLIP

A synthetic dataset (``tests.synth.learnable``: 88 entities, JPEG images of 160-320 px) of about
``--samples`` samples is written, a random CLIP of the preset's size is saved with ``save_pretrained``
and loaded through ``baseline.checkpoints.load_clip``, and ``emmel.flagging.flag_dataset`` scores every
(image, text) and (image, label) pair and writes the flagged version, exactly as ``emmel flag`` does.
Printed: seconds and pairs/s of scoring (decoding included), of the whole command, and peak resident
memory (scoring decodes ``suspect.batch_size`` images at a time, so memory does not grow with the dataset).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def save_random_clip(folder: Path, preset: str) -> Path:
    """A random-initialised ChineseCLIPModel of ``preset``'s size with the Chinese vocabulary, as a checkpoint folder."""
    from baseline.checkpoints import build_clip
    from baseline.config import PRESETS
    from baseline.runtime import quiet_transformers
    from baseline.vocab import cnclip_vocab_path, tokenizer_from_vocab

    tokenizer = tokenizer_from_vocab(cnclip_vocab_path())
    model = build_clip(PRESETS[preset], tokenizer.vocab_size, seed=0)
    with quiet_transformers():
        model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def main() -> None:
    from baseline.mismatch import ClipPairScorer
    from emmel.config import SuspectConfig
    from emmel.flagging import flag_dataset
    from tests.synth.learnable import LearnableConfig, write_learnable

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "base"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=SuspectConfig.batch_size)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    per_entity = max(3, round(args.samples / 88))
    with tempfile.TemporaryDirectory(prefix="emmel-bench-suspect-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        cfg = LearnableConfig(crafts=8, places=10, train_per_entity=per_entity - 2, dev_per_entity=1, test_per_entity=1, candidates=20)
        write_learnable(tmp / "EMMEL", cfg, plots=False)
        clip = save_random_clip(tmp / "clip", args.preset)
        print(f"dataset {88 * per_entity} samples, CLIP preset {args.preset}: prepared in {time.perf_counter() - started:.1f} s", flush=True)

        scorer = ClipPairScorer(clip, device=args.device, batch_size=args.batch_size, log=lambda line: None)
        timed = {}
        inner = scorer.score

        def score(pairs):
            clock = time.perf_counter()
            result = inner(pairs)
            timed['score'] = time.perf_counter() - clock
            return result

        scorer.score = score
        clock = time.perf_counter()
        _, flags = flag_dataset(tmp / "EMMEL", tmp / "FLAGGED", scorer, SuspectConfig(batch_size=args.batch_size))
        total = time.perf_counter() - clock
    n = flags.summary["scored"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scored {n} samples ({2 * n} pairs) in {timed['score']:.1f} s: {n / timed['score']:.1f} samples/s, "
          f"{2 * n / timed['score']:.1f} pairs/s (images decoded from JPEG, batch {args.batch_size}, device {args.device}, "
          f"{torch.get_num_threads()} threads)")
    print(f"emmel flag as a whole (load, score, judge, write the version): {total:.1f} s; flagged {flags.summary['flagged']}")
    print(f"peak resident memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
