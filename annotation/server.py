"""Push a dataset to a Label Studio server and pull the review back, through ``label-studio-sdk`` 2.x.

The token comes from ``LABEL_STUDIO_API_KEY`` only (never a flag, never printed). The SDK tells the
two kinds apart: a personal access token (a JWT refresh token) is exchanged for short-lived access
tokens sent as ``Bearer``; a legacy token is sent as ``Token``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

from annotation.config import label_config
from annotation.images import ImageURLs
from annotation.results import parse_export
from annotation.roundtrip import import_review, make_tasks
from annotation.tasks import DEFAULT_ORDER, is_task_file
from emmel.errors import EmmelError
from emmel.io import check_output_file, write_output_file
from emmel.schema import SPLITS

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
BATCH = 1000
INSTRUCTIONS = (
    "<p>For each sample, check that the image and its description are about the entity selected.</p>"
    "<ul><li>Keep the pre-selected entity if it is right, or pick the right one from the list "
    "(shown as label — category — region).</li>"
    "<li>None of the candidates fits: pick the last option, <b>NIL</b>.</li>"
    "<li>The sample itself is unusable: tick every reject reason that applies.</li>"
    "<li>Anything else worth knowing goes into the note.</li></ul>"
)


def connect(url: str):
    """A ``LabelStudio`` client for ``url`` with the token from the environment."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EmmelError(f"--url must be the http(s) address of a Label Studio server, got {url!r}")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise EmmelError(f"set {TOKEN_ENV} to a Label Studio personal access token or legacy token (Account & Settings)")
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    try:
        return LabelStudio(base_url=url.rstrip("/"), api_key=token)
    except ApiError as exc:  # an expired personal access token is refused at once
        raise EmmelError(f"{TOKEN_ENV} was refused: {_detail(exc)}") from None


def _detail(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        body = body.get("detail") or body.get("validation_errors") or body
    return f"HTTP {getattr(exc, 'status_code', '?')}: {body}"


@contextmanager
def api(action: str, url: str):
    """Turn SDK and network failures into one-line ``EmmelError``s."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        if exc.status_code == 401:
            raise EmmelError(f"{action}: Label Studio refused the token in {TOKEN_ENV} (HTTP 401)", path=url) from None
        raise EmmelError(f"{action}: {_detail(exc)}", path=url) from None
    except httpx.HTTPError as exc:
        raise EmmelError(f"{action}: cannot reach Label Studio ({type(exc).__name__}: {exc})", path=url) from None


def push(dataset_dir: str | Path, url: str, *, images: ImageURLs, splits=SPLITS, predictions=None, title: str | None = None,
         order=DEFAULT_ORDER, problems: list[str] | None = None) -> dict:
    """Create a project with the labeling config, attach local-files storage when local images are
    used, and import one task per sample (with its pre-annotation). Returns ids and counts."""
    from emmel.dataset import Dataset

    dataset = Dataset.load(dataset_dir)
    tasks = make_tasks(dataset, splits=splits, images=images, predictions=predictions, order=order, problems=problems)
    versions = Counter(t["predictions"][0]["model_version"] for t in tasks)
    model_version = min(versions, key=lambda v: (-versions[v], v))  # the most common pre-annotation
    name = dataset.meta.get("name", "EMMEL")
    title = (title or f"{name} review ({', '.join(s for s in SPLITS if s in splits)})")[:50]
    if len(title) < 3:
        raise EmmelError("--title needs at least 3 characters")
    ls = connect(url)
    with api("creating the project", url):
        project = ls.projects.create(
            title=title,
            description=f"emmel annotate push of {Path(dataset_dir).resolve().name}: {len(tasks)} samples",
            label_config=label_config(),
            expert_instruction=INSTRUCTIONS,
            show_instruction=True,
            show_collab_predictions=True,
            model_version=model_version,
        )
    storage_id = None
    try:
        if images.mode == "local-files":
            with api("attaching local-files storage", url):
                storage = ls.import_storage.local.create(
                    project=project.id, path=str(Path(dataset.root).resolve()), title="emmel images", use_blob_urls=False
                )
            storage_id = storage.id
        imported = 0
        for start in range(0, len(tasks), BATCH):
            batch = tasks[start : start + BATCH]
            with api("importing tasks", url):
                response = ls.projects.import_tasks(id=project.id, request=batch, return_task_ids=True)
            if response.task_count != len(batch):
                raise EmmelError(f"importing tasks: Label Studio took {response.task_count} of {len(batch)}", path=url)
            imported += response.task_count
    except BaseException:
        with suppress(Exception):  # leave no half-made project behind; the first error is the one to report
            ls.projects.delete(id=project.id)
        raise
    problem = _probe_image(ls, url, tasks[0]["data"]["image"]) if images.mode != "inline" else None
    return {"project": project.id, "tasks": imported, "storage": storage_id, "title": title, "image_problem": problem}


def _probe_image(ls, url: str, image_url: str) -> str | None:
    """Fetch the first task's image as the browser would; a reason when that fails, else None.

    Catches a server whose document root is not the one the URLs were made for."""
    import httpx

    target = image_url if image_url.startswith(("http://", "https://")) else url.rstrip("/") + image_url
    try:
        headers = ls._client_wrapper.get_headers() if target.startswith(url.rstrip("/")) else {}
        response = httpx.get(target, headers=headers, timeout=10, follow_redirects=True)
    except Exception as exc:  # a probe only: never fails the push
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"HTTP {response.status_code} for {image_url}"


def fetch_export(project_id: int, url: str, export_type: str = "JSON") -> bytes:
    """The project's export (every task, annotated or not) as raw bytes."""
    ls = connect(url)
    with api(f"exporting project {project_id}", url):
        return b"".join(ls.projects.exports.download_sync(project_id, export_type=export_type, download_all_tasks=True))


def pull(project_id: int, url: str, dataset_dir, out, *, save_export=None, export_type: str = "JSON", **kwargs):
    """Download the project's export and run it through ``import`` into a new dataset version."""
    overwrite = kwargs.get("overwrite", False)
    if save_export:  # checked before the download, written right after it
        check_output_file(save_export, overwrite=overwrite, is_ours=is_task_file, what="Label Studio export", inputs=(dataset_dir,))
    raw = fetch_export(project_id, url, export_type)
    if save_export:
        write_output_file(save_export, raw, overwrite=overwrite, is_ours=is_task_file, what="Label Studio export", inputs=(dataset_dir,))
    source = f"label-studio project {project_id}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmmelError(f"the server sent an export that is not JSON ({exc})", path=source) from None
    fmt, tasks = parse_export(data, source)
    return import_review(dataset_dir, tasks, out, source=source, export_format=fmt, export_sha256=hashlib.sha256(raw).hexdigest(), **kwargs)
