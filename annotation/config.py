"""The labeling config and the names that tie tasks, results and the dataset together."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from importlib import resources

ENTITY = "entity"  # <Choices> whose options are the task's own candidates (dynamic value)
REJECT = "reject"  # <Choices choice="multiple"> of reject reasons
NOTE = "note"  # <TextArea> free-text note
TO_NAME = "text"
NIL = "NIL"  # the "none of these" option, always the last candidate of a task
NIL_DISPLAY = "以上都不是 none of these (NIL)"

CURRENT_LINK_MODEL = "emmel-current-link"  # model_version of the pre-annotation "current link"
ORDERS = ("dataset", "uncertainty")  # task order of an export: split then id, or the model's least sure samples first
REJECTED_REASON = "annotator_rejected"  # Reject.reason of samples an annotator rejected
NIL_REASON = "annotator_nil"  # Reject.reason of samples whose entity is not in the KB

# Task-data keys. Label Studio's JSON_MIN export puts data keys and control names in one object
# next to its own keys, so none of these may clash with those.
DATA_KEYS = ("sample_id", "split", "image", "text", "link", "candidates")
RESERVED = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", ENTITY, REJECT, NOTE}
assert not RESERVED & set(DATA_KEYS)


@lru_cache(maxsize=1)
def label_config() -> str:
    """The XML of the labeling config (``annotation/label_config.xml``)."""
    return resources.files("annotation").joinpath("label_config.xml").read_text(encoding="utf-8")


def write_label_config(path, *, overwrite: bool = False) -> None:
    """Write the config to ``path``; an existing file is replaced only with ``overwrite`` and only
    if it is a labeling config of emmel's (``is_label_config``)."""
    from emmel.io import write_output_file

    write_output_file(path, label_config().encode("utf-8"), overwrite=overwrite, is_ours=is_label_config, what="labeling config")


def is_label_config(data: bytes) -> bool:
    """Whether ``data`` is emmel's labeling config: a ``<View>`` with the ``entity`` choices."""
    try:
        root = ET.fromstring(data.decode("utf-8"))
    except (ValueError, ET.ParseError):
        return False
    return root.tag == "View" and any(c.get("name") == ENTITY for c in root.iter("Choices"))


@lru_cache(maxsize=1)
def reject_reasons() -> tuple[str, ...]:
    """The reject reasons the config offers (read from the XML, so the two never disagree)."""
    root = ET.fromstring(label_config())
    for choices in root.iter("Choices"):
        if choices.get("name") == REJECT:
            return tuple(choice.get("value") for choice in choices.iter("Choice"))
    raise RuntimeError("label_config.xml has no reject choices")
