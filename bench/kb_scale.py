"""Whole-KB evaluation at WikiMEL's size (a benchmark, not a test): prints figures.

1. Writes a MIMIC-layout benchmark of WikiMEL's size (109,976 entities; by default 2,500 train,
   500 dev and 2,500 test mentions, small images; tests/benchmark_layouts.py) and imports it with
   ``emmel import mimic`` (not timed here: bench/import_scale.py does).
2. Runs ``emmel benchmark WM --full-kb --epochs 1 --threads 1`` with the tiny preset in a child
   process: every row of the table is trained (1 epoch) and ranks the 2,500 test queries against all
   109,976 entities (bi-encoder rows exactly, cross-encoder rows by reranking the lexical + visual
   shortlist: baseline/retrieval.py). Prints the time of each visual module's KB embeddings and of each
   row's whole-KB ranking (from the run's log), their sum, the wall time of the whole run and the peak RSS of its process tree (sampled from
   /proc every 50 ms, and the kernel's peak of the child). Target: the whole-KB evaluation under
   10 minutes, memory bounded.

    PYTHONPATH=. python bench/kb_scale.py [--entities 109976] [--train 2500] [--dev 500] [--test 2500] [--models ...]

The machine is shared: the load average is shown beside every figure.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.import_scale import load, tree_rss  # noqa: E402  (after the path is set)


def write_and_import(root: Path, entities: int, mentions: tuple[int, int, int]) -> Path:
    from tests.benchmark_layouts import write_mimic

    started = time.perf_counter()
    write_mimic(root / "WikiMEL", entities=entities, mentions=mentions, image_size=(24, 16))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMMEL_PROGRESS": "off"}
    subprocess.run([sys.executable, "-m", "emmel", "import", "mimic", str(root / "WikiMEL"), "--out", str(root / "WM")],
                   env=env, check=True, capture_output=True, text=True)
    print(f"wrote and imported a WikiMEL-sized MIMIC layout: {entities:,} entities, {'/'.join(map(str, mentions))} "
          f"train/dev/test mentions in {time.perf_counter() - started:.0f} s ({load()})", flush=True)
    return root / "WM"


def run_benchmark(dataset: Path, out: Path, extra: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "emmel", "benchmark", str(dataset), "--full-kb", "--epochs", "1", "--threads", "1",
               "--out", str(out), "--no-save-models", *extra]
    print("$ emmel " + " ".join(command[3:]), flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, loads = 0, []
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        loads.append(os.getloadavg()[0])
        time.sleep(0.05)
    output = process.stdout.read()
    seconds = time.perf_counter() - started
    if process.returncode:
        sys.exit(f"benchmark failed ({process.returncode}):\n{output}")
    kernel_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(output.strip())
    embedded = re.findall(r"^(\S+): KB embeddings of (\d+) labels(.*) \(([\d.]+) s\)$", output, flags=re.M)
    ranked = re.findall(r"^(\S+): whole KB \((\d+) entities\), (.*) \(([\d.]+) s\)$", output, flags=re.M)
    total = sum(float(s) for *_, s in embedded + ranked)
    print("\nWHOLE-KB EVALUATION (from the log): each visual module's KB label embeddings (once), then each row's ranking")
    for name, size, prompts, secs in embedded:
        print(f"  {name + ' KB':20s} {float(secs):7.1f} s   {size} labels{prompts}")
    for name, _size, how, secs in ranked:
        print(f"  {name:20s} {float(secs):7.1f} s   {how}")
    rss = max(peak, kernel_peak)
    print(f"  {'total':20s} {total:7.1f} s for {len(ranked)} rows x the test queries x {ranked[0][1] if ranked else '?'} entities  "
          f"-> target < 600 s: {'met' if ranked and total < 600 else 'NOT met'}")
    print(f"\nRUN     {seconds:.0f} s wall for the whole benchmark (1 epoch of training, pools, dev/test candidates, whole KB); "
          f"peak RSS {rss / 2**30:.2f} GB (tree sampled {peak / 2**30:.2f} GB, kernel peak of the child {kernel_peak / 2**30:.2f} GB); "
          f"load during the run {min(loads, default=0):.1f}-{max(loads, default=0):.1f} ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=109_976, help="KB size (WikiMEL: 109,976)")
    parser.add_argument("--train", type=int, default=2_500)
    parser.add_argument("--dev", type=int, default=500)
    parser.add_argument("--test", type=int, default=2_500)
    parser.add_argument("--keep", help="write the layout, dataset and results here instead of a temporary folder")
    args, extra = parser.parse_known_args()  # anything else goes to `emmel benchmark` (e.g. --models mcr --shortlist 50)
    print(f"machine: {os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory(prefix="emmel-kb-scale-") as tmp:
        root = Path(args.keep or tmp)
        dataset = write_and_import(root, args.entities, (args.train, args.dev, args.test))
        run_benchmark(dataset, root / "WM-benchmark", extra)


if __name__ == "__main__":
    main()
