"""Draw the layers of emmel and the imports between them into docs/layers.svg.

    python tools/draw_layers.py [--out docs/layers.svg]

The boxes are the layers of the import-linter contract in pyproject.toml; the arrows and their
counts come from the live import graph (grimp, which import-linter uses), so the picture shows
what the code does, not what it should do. Regenerate it after changing the structure.
"""

from __future__ import annotations

import argparse
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP, MIDDLE, CORE = "top", "middle", "core"
COLOURS = {TOP: "#f6d6ad", MIDDLE: "#b9d7ea", CORE: "#c9e4c5"}
TITLES = {TOP: "TOP: the CLI (parse arguments, call one library function)",
          MIDDLE: "MIDDLE: crawling, OCR, annotation, the baseline, static pages (independent of each other)",
          CORE: "CORE: the dataset format, the build stages and the rules (imports nothing above it)"}


def contract_layers() -> tuple[list[list[str]], set[str]]:
    """The three layers of the contract, as lists of module names, and the optional (not yet written) ones."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")["layers"]
    parsed, optional = [], set()
    for layer in layers:
        names = [n.strip() for n in layer.replace("|", ":").split(":")]
        optional |= {n.strip("()") for n in names if n.startswith("(")}
        parsed.append([n.strip("()") for n in names])
    return parsed, optional


def layer_of(module: str, layers: list[list[str]]) -> tuple[str, str] | None:
    """(layer, box) of a module: its box is the layer entry it belongs to."""
    for kind, names in zip((TOP, MIDDLE, CORE), layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                return kind, name
    return None


def imports_between_boxes(layers: list[list[str]]) -> Counter:
    import grimp

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    graph = grimp.build_graph(*config["tool"]["importlinter"]["root_packages"], cache_dir=None)
    edges: Counter = Counter()
    for importer in graph.modules:
        source = layer_of(importer, layers)
        for imported in graph.find_modules_directly_imported_by(importer):
            target = layer_of(imported, layers)
            if source and target and source[0] != CORE and source[1] != target[1]:
                # imports into the core are drawn to the core band, not to each of its modules
                edges[(source[1], CORE if target[0] == CORE else target[1])] += 1
    return edges


def draw(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "emmel"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small and searchable
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    layers, optional = contract_layers()
    edges = imports_between_boxes(layers)
    fig, ax = plt.subplots(figsize=(13, 6.6))
    ax.set_xlim(0, 13)
    ax.set_ylim(0.7, 7.2)
    ax.axis("off")
    centre: dict[str, tuple[float, float]] = {}
    bands = {TOP: (5.6, 1.2), MIDDLE: (3.4, 1.5), CORE: (0.8, 2.0)}
    for kind, names in zip((TOP, MIDDLE, CORE), layers):
        y, height = bands[kind]
        ax.add_patch(FancyBboxPatch((0.1, y), 12.8, height, boxstyle="round,pad=0.02", fc=COLOURS[kind], ec="#555", lw=1))
        ax.text(0.25, y + height - 0.22, TITLES[kind], fontsize=10, weight="bold", va="center")
        per_row = -(-len(names) // 3) if kind == CORE else len(names)  # the core band holds three rows
        rows = [names[i:i + per_row] for i in range(0, len(names), per_row)]
        for r, row in enumerate(rows):
            width = 12.4 / per_row
            for c, name in enumerate(row):
                x = 0.3 + c * width
                by = y + height - 0.8 - r * 0.55 if kind == CORE else y + 0.2
                dashed = name in optional
                ax.add_patch(FancyBboxPatch((x, by), width - 0.15, 0.42, boxstyle="round,pad=0.02", fc="white",
                                            ec="#999" if dashed else "#333", ls="--" if dashed else "-", lw=1))
                label = name.removeprefix("emmel.") if name.startswith("emmel.") and kind == CORE else name
                ax.text(x + (width - 0.15) / 2, by + 0.21, label + (" (planned)" if dashed else ""), ha="center", va="center",
                        fontsize=8.5, color="#777" if dashed else "#000", family="monospace")
                centre[name] = (x + (width - 0.15) / 2, by + 0.21)
    centre[CORE] = (6.5, bands[CORE][0] + bands[CORE][1])
    for (source, target), count in sorted(edges.items()):
        (x0, y0), (x1, y1) = centre[source], centre[target]
        if target == CORE:
            x1 = x0
        ax.annotate("", xy=(x1, y1 + (0.02 if target == CORE else 0.23)), xytext=(x0, y0 - 0.23),
                    arrowprops={"arrowstyle": "-|>", "color": "#444", "lw": 0.8, "alpha": 0.7})
        ax.text((x0 + x1) / 2 + 0.05, (y0 + y1) / 2, str(count), fontsize=7, color="#444")
    ax.text(6.5, 7.05, "emmel: layers and the imports between them (arrow = imports, number = import statements)",
            ha="center", fontsize=11)
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "layers.svg"))
    args = parser.parse_args(argv)
    draw(Path(args.out))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
