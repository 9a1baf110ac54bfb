"""Label Studio exports for local tests: the JSON export shape the server writes (task id, data,
annotations with results), and JSON_MIN made from it by label-studio-sdk's own converter, the code
the server runs for that format. The server tests check the same shapes against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from annotation.config import ENTITY, NOTE, REJECT, TO_NAME, label_config


def entity(value: str) -> dict:
    return {"from_name": ENTITY, "to_name": TO_NAME, "type": "choices", "value": {"choices": [value]}}


def reject(*reasons: str) -> dict:
    return {"from_name": REJECT, "to_name": TO_NAME, "type": "choices", "value": {"choices": list(reasons)}}


def note(text: str) -> dict:
    return {"from_name": NOTE, "to_name": TO_NAME, "type": "textarea", "value": {"text": [text]}}


def json_export(tasks: list[dict], annotations: dict[str, list] | None = None) -> list[dict]:
    """``annotations``: sample id -> list of annotations, each a list of results, or a dict
    ``{"result": [...], "was_cancelled": True, "completed_by": 2}``."""
    annotations = annotations or {}
    out, next_annotation = [], 1
    for task_id, task in enumerate(tasks, start=1):
        items = []
        for spec in annotations.get(task["data"]["sample_id"], []):
            spec = spec if isinstance(spec, dict) else {"result": spec}
            items.append({
                "id": next_annotation,
                "completed_by": spec.get("completed_by", 1),
                "result": spec["result"],
                "was_cancelled": spec.get("was_cancelled", False),
                "ground_truth": False,
                "created_at": f"2026-01-01T00:00:{next_annotation % 60:02d}Z",
                "updated_at": f"2026-01-01T00:00:{next_annotation % 60:02d}Z",
                "lead_time": 3.5,
                "task": task_id,
                "project": 1,
            })
            next_annotation += 1
        out.append({"id": task_id, "annotations": items, "drafts": [], "predictions": [], "data": task["data"], "meta": {}, "project": 1})
    return out


def json_min_export(json_tasks: list[dict], workdir: Path) -> list[dict]:
    """JSON_MIN of a JSON export, converted by label-studio-sdk's Converter."""
    from label_studio_sdk.converter import Converter

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "export.json"
    source.write_text(json.dumps(json_tasks, ensure_ascii=False), encoding="utf-8")
    Converter(config=label_config(), project_dir=None, download_resources=False).convert_to_json_min(str(source), str(workdir / "min"), is_dir=False)
    return json.loads((workdir / "min" / "result.json").read_text(encoding="utf-8"))


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
