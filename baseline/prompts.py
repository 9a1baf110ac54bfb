"""Prompt templates of zero-shot CLIP: how an entity label becomes the text CLIP embeds.

Zero-shot CLIP does not embed a bare class name: it embeds the name inside several prompt templates
("a photo of {}.") and averages the L2-normalised embeddings (then normalises the mean), the
ensembling of the CLIP paper; Chinese-CLIP evaluates the same way with Chinese templates
(``一张{}的照片。``). Only the ``clip-zeroshot`` row uses them (:data:`baseline.config.RECIPES`): the
trained modules embed the plain label, as MCR's visual-text module does.

``--prompts`` takes a built-in list name (:data:`PROMPT_SETS`), ``auto`` (the list of the dataset's
language: ``zh`` for Chinese, ``en`` otherwise; a dataset says its language in its manifest,
imported benchmarks always do, ``emmel build`` output is Chinese) or a UTF-8 text file with one
template a line, each holding ``{}`` once where the label goes (blank lines and lines starting
with ``#`` are skipped).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emmel.errors import EmmelError

AUTO = "auto"
PLACEHOLDER = "{}"

# Written for emmel in the style of the two papers' lists (short photo/picture phrasings around the name).
PROMPT_SETS: dict[str, tuple[str, ...]] = {
    "en": (
        "a photo of {}.",
        "a photo of the {}.",
        "a picture of {}.",
        "an image of {}.",
        "a good photo of {}.",
        "a close-up photo of {}.",
        "a photo showing {}.",
        "a photograph of {}.",
    ),
    "zh": (
        "一张{}的照片。",
        "{}的照片。",
        "一张{}的图片。",
        "{}的图片。",
        "一张关于{}的照片。",
        "一张清晰的{}的照片。",
        "{}的特写照片。",
        "这是{}的照片。",
    ),
    "none": (PLACEHOLDER,),  # the bare label, as the trained modules see it
}


def language_of(meta: dict) -> str:
    """The dataset's main language from its manifest (``"language": ["en"]``); Chinese when it says none."""
    languages = meta.get("language") or ["zh"]
    first = languages[0] if isinstance(languages, list) else languages
    return str(first).lower() if first else "zh"


def resolve_prompts(spec: str | None, language: str = "zh") -> tuple[str, ...]:
    """The templates ``--prompts`` names: ``auto``/None (by ``language``), a built-in name, or a file."""
    if spec is None or spec == AUTO:
        return PROMPT_SETS["zh" if language.startswith("zh") else "en"]
    if spec in PROMPT_SETS:
        return PROMPT_SETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise EmmelError(f"--prompts: neither a prompt set ({', '.join([AUTO, *PROMPT_SETS])}) nor a file", path=path)
    return read_prompt_file(path)


def read_prompt_file(path: Path) -> tuple[str, ...]:
    """Templates of a file, one a line; an empty file, or a line without exactly one ``{}``, is a one-line error."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EmmelError(f"--prompts: not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    except OSError as exc:
        raise EmmelError(f"--prompts: cannot read the file ({exc.strerror})", path=path) from None
    templates = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        check_template(line, path=path, record=f"line {number}")
        templates.append(line)
    if not templates:
        raise EmmelError("--prompts: the file holds no template (one a line, each with {} where the label goes)", path=path)
    return tuple(templates)


def check_template(template: str, *, path=None, record=None) -> str:
    """A template holds ``{}`` exactly once and no other brace field (``str.format`` must put the label there)."""
    if template.count(PLACEHOLDER) != 1:
        raise EmmelError(f"--prompts: template {template!r} must hold {PLACEHOLDER} exactly once, where the label goes",
                         path=path, record=record)
    try:
        template.format("x")
    except (IndexError, KeyError, ValueError) as exc:
        raise EmmelError(f"--prompts: template {template!r} has a brace field other than {PLACEHOLDER} ({exc})",
                         path=path, record=record) from None
    return template


def apply(templates: tuple[str, ...] | list[str], labels: list[str]) -> Iterator[list[str]]:
    """Per template (one at a time), every label put in its place: ``template.format(label)``."""
    for template in templates:
        yield [template.format(label) for label in labels]
