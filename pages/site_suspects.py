"""Model-flagged mismatches on the site (docs/suspect.md): the overview's summary of the flagging run,
the ``suspects.html`` list (flagged samples, most suspect first) and each sample's scores."""

from __future__ import annotations

from emmel.suspect import KINDS
from pages.html import el, table
from pages.layout import section
from pages.paginate import pager, paginate

STEM = "suspects"


def _number(value, digits: int = 3):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return el("span", f"{value:.{digits}f}", class_="score")
    return "–" if value is None else str(value)


def flagged(site) -> list:
    """The flagged original samples, most suspect (lowest z) first."""
    return sorted((s for s in site.originals if s.flagged), key=lambda s: (s.suspect["z"], s.id))


def run_text(summary: dict) -> list:
    """Which model scored, how it was fitted and by which rule, as page text."""
    fit = summary.get("fit")
    settings = summary.get("settings", {})
    how = (f"fitted for {fit.get('epochs')} epochs on the {fit.get('samples')} {fit.get('split')} samples (lr {fit.get('lr')})"
           if isinstance(fit, dict) else "used as given (no fit)")
    return [f"Scored by {summary.get('model', '?')}, {how}. A sample is flagged when its image–text or image–label score lies far "
            f"below its entity's typical score: robust z = 0.6745·(x − median)/MAD < −{settings.get('threshold', '?')}."]


def summary_section(site) -> object:
    """The overview's panel: counts of the flagging run and a link to the list."""
    summary = site.dataset.meta["suspect"]
    now = len(flagged(site))
    rows = [["scored", summary.get("scored", "–")], ["flagged", summary.get("flagged", "–")],
            ["moved to the rejects (suspect_mismatch)", summary.get("rejected", 0)], ["flagged samples in the dataset now", now]]
    return section("Suspect pairs (model-flagged)", el("p", *run_text(summary), " ", el("a", "See the flagged samples", href=f"{STEM}.html"),
                                                        ", most suspect first."),
                   table(["", "samples"], rows, numeric=(1,)), id="suspects")


def write(site) -> None:
    """``suspects.html`` (paginated): rank, thumbnail, sample, entity, split, both scores against their medians, z, reason."""
    summary = site.dataset.meta["suspect"]
    samples = flagged(site)
    for page in paginate(samples, site.options.rows_per_page):
        rows = []
        for rank, s in enumerate(page.items, start=page.first + 1):
            v = s.suspect
            thumb = el("a", site.img(site.sample_thumb.get(s.id), 0, alt=s.text[:40], class_="mini"), href=site.sample_href(s.id, 0))
            rows.append([rank, thumb, site.sample_link(s.id, 0, s.text), site.entity_link(s.entity_id, 0),
                         el("span", s.split, class_=f"badge {s.split}"),
                         *[el("span", _number(v.get(kind)), " / ", _number(v.get(median))) for kind, median, _, _ in KINDS],
                         _number(v.get("z"), 2), v.get("reason", "")])
        headers = ["#", "", "sample", "entity", "split", "image–text / median", "image–label / median", "z", "why"]
        body = [el("h1", "Suspect pairs"), el("p", *run_text(summary), class_="sub"),
                pager(page, STEM, len(samples)),
                table(headers, rows, numeric=(0, 5, 6, 7)) if samples else el("p", "No sample is flagged now.", class_="note"),
                pager(page, STEM, len(samples))]
        site.write(page.file(STEM), f"Suspect pairs ({page.number}/{page.count})", body, active="Suspects")


def sample_section(sample) -> object | None:
    """A sample's scores (its optional ``suspect`` field): each pair score beside the median it was compared with and
    its robust z-score; flagged samples say why. Fields the format does not define are listed as they are."""
    suspect = getattr(sample, "suspect", None)
    if not suspect:
        return None
    if not isinstance(suspect, dict):
        return section("Mismatch scores", el("p", str(suspect)))
    rows = [[name, _number(suspect.get(kind)), _number(suspect.get(median)), _number(suspect.get(z_key), 2)]
            for kind, median, z_key, name in KINDS if kind in suspect]
    known = {key for kind in KINDS for key in kind[:3]} | {"z", "flagged", "reason", "reference", "n"}
    extra = [[key, _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value), "", ""]
             for key, value in sorted(suspect.items()) if key not in known]
    among = {"entity": f"the {suspect.get('n')} samples of its entity", "global": f"all {suspect.get('n')} samples"}.get(suspect.get("reference"))
    if sample.flagged:
        title = el("span", "Flagged as a possible mismatch ", el("span", "suspect", class_="badge warn"))
        note = el("p", suspect.get("reason") or "A model scored this image far below its entity's typical pairs.", class_="note")
    else:
        title = "Mismatch scores"
        note = el("p", "A model scored this image against its description and its entity's label; both are typical "
                       + (f"among {among}." if among else "for its entity."), class_="note")
    return section(title, note, table(["pair", "score", "median", "z"], rows + extra, numeric=(1, 2, 3)), id="suspect")
