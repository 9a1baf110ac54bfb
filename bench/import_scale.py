"""Scale of `emmel import` (a benchmark, not a test): prints figures.

1. Writes a MIMIC-layout benchmark of WikiMEL's size into a temporary folder (109,976 entities with
   one small image each, 25,000 mentions with small images; see tests/benchmark_layouts.py) and
   runs ``emmel import mimic`` on it in a child process: wall time and peak RSS of the process tree
   (sampled from /proc every 50 ms, plus the kernel's own peak of the child). Target: < 5 min, < 4 GB.
2. emmel's λ = 100 candidate generator on a RichpediaMEL-sized KB: index build and generation
   time for 25,000 mentions against 160,933 entities.
3. With ``--profile``: the import once more in-process under cProfile, the top functions printed,
   to say what dominates; with ``--check``: the time of ``emmel stats --check`` on the result.

    PYTHONPATH=. python bench/import_scale.py [--entities 109976] [--mentions 25000] [--kb 160933] [--check] [--profile]

The machine is shared: the load average (as `uptime` prints it) is shown beside every figure.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> str:
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next((int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(child) for child in handle.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def write_layout(root: Path, entities: int, mentions: int) -> None:
    from tests.benchmark_layouts import write_mimic

    train = int(mentions * 0.7)
    dev = (mentions - train) // 2
    started = time.perf_counter()
    step = max(1, (entities + mentions) // 20)
    write_mimic(root, entities=entities, mentions=(train, dev, mentions - train - dev), image_size=(24, 16),
                progress=lambda k: (k % step == 0) and print(".", end="", flush=True))
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"\nwrote a MIMIC layout: {entities:,} entities, {mentions:,} mentions, {size / 1e6:.0f} MB "
          f"in {time.perf_counter() - started:.0f} s ({load()})")


def run_import(source: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMMEL_PROGRESS": "off"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "emmel", "import", "mimic", str(source), "--out", str(out)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.05)
    output = process.stdout.read()
    seconds = time.perf_counter() - started
    if process.returncode:
        sys.exit(f"import failed ({process.returncode}):\n{output}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    kernel_peak, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
    print(output.strip())
    print(f"\nIMPORT  {seconds:.1f} s wall ({cpu:.1f} s CPU: the machine is shared), peak RSS {max(peak, kernel_peak) / 2**30:.2f} GB "
          f"(process tree sampled {peak / 2**30:.2f} GB; kernel peak of the child {kernel_peak / 2**30:.2f} GB)  ({load()})")
    print(f"        targets: < 300 s, < 4 GB -> {'met' if seconds < 300 and max(peak, kernel_peak) < 4 * 2**30 else 'NOT met'}")


def run_check(folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "emmel", "stats", "--check", str(folder)], env=env, capture_output=True, text=True, check=False)
    verdict = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()
    print(f"\nCHECK   emmel stats --check: {time.perf_counter() - started:.1f} s wall; {verdict}  ({load()})")


def candidate_speed(kb_size: int, mentions: int) -> None:
    from emmel.candidates import CandidateIndex, select_candidates
    from emmel.io import stable_id
    from emmel.schema import Entity
    from tests.benchmark_layouts import entity_name

    rng = random.Random(0)
    kb = [Entity(id=stable_id("E", f"Q{k}"), label=entity_name(k)) for k in range(kb_size)]
    started = time.perf_counter()
    index = CandidateIndex(kb)
    built = time.perf_counter() - started
    golds = [rng.randrange(kb_size) for _ in range(mentions)]
    started, cpu = time.perf_counter(), time.process_time()
    for i, k in enumerate(golds):
        select_candidates(index, kb[k].id, f"A photo of {entity_name(k)} taken in {2000 + i % 20}.", 100, 13, f"S{i}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\nCANDIDATES  λ = 100 for {mentions:,} mentions against {kb_size:,} entities: index {built:.1f} s, "
          f"generation {seconds:.1f} s wall, {cpu:.1f} s CPU ({1000 * cpu / mentions:.2f} ms CPU/mention; {len(index.capped)} "
          f"bigrams over the postings cap skipped)  ({load()})")


def profile_import(source: Path, out: Path) -> None:
    import cProfile
    import pstats

    from importers import ImportConfig
    from importers import run_import as import_benchmark

    os.environ["EMMEL_PROGRESS"] = "off"
    profiler = cProfile.Profile()
    profiler.enable()
    import_benchmark("mimic", source, out, ImportConfig())
    profiler.disable()
    print("\nPROFILE (in-process import, top 15 by own time):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=109_976, help="KB size of the generated layout (WikiMEL: 109,976)")
    parser.add_argument("--mentions", type=int, default=25_000)
    parser.add_argument("--kb", type=int, default=160_933, help="KB size for the candidate generator (RichpediaMEL: 160,933)")
    parser.add_argument("--candidate-mentions", type=int, default=25_000)
    parser.add_argument("--profile", action="store_true", help="also profile one import in-process")
    parser.add_argument("--check", action="store_true", help="also time `emmel stats --check` on the imported dataset")
    parser.add_argument("--keep", help="write the layout and dataset here instead of a temporary folder")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; {load()}")
    with tempfile.TemporaryDirectory(prefix="emmel-import-scale-") as tmp:
        root = Path(args.keep or tmp)
        write_layout(root / "WikiMEL", args.entities, args.mentions)
        run_import(root / "WikiMEL", root / "WM")
        if args.check:
            run_check(root / "WM")
        if args.profile:
            profile_import(root / "WikiMEL", root / "WM-profiled")
    candidate_speed(args.kb, args.candidate_mentions)


if __name__ == "__main__":
    main()
