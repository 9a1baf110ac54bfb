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


@lru_cache(maxsize=1)
def reject_reasons() -> tuple[str, ...]:
    """The reject reasons the config offers (read from the XML, so the two never disagree)."""
    root = ET.fromstring(label_config())
    for choices in root.iter("Choices"):
        if choices.get("name") == REJECT:
            return tuple(choice.get("value") for choice in choices.iter("Choice"))
    raise RuntimeError("label_config.xml has no reject choices")
