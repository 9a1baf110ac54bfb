"""OCR engines behind one small interface: ``engine.recognize(image, dpi) -> list[OcrBox]``.

Boxes are in pixels of the given image. Lines are split at wide internal gaps (when the engine
reports character or word boxes) so that two columns or two captions merged by a detector come
back as separate runs; the layout stage joins runs of one line again.

* ``rapidocr`` (default): PaddleOCR's PP-OCR det/rec models in ONNX, shipped inside the
  ``rapidocr`` wheel and run by ``onnxruntime``: works offline, nothing downloaded.
* ``paddleocr`` (optional extra ``emmel[paddle]``): the PaddleOCR package with models the user
  provides (``--paddle-models DIR`` or ``$EMMEL_PADDLE_MODELS``); refuses to start, with a message
  saying how to provide them, when they are missing, instead of trying to download.
* ``tesseract``: the ``tesseract`` binary with ``chi_sim`` data (Debian ``tesseract-ocr-chi-sim``),
  called as a subprocess with TSV output.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from emmel.errors import EmmelError

ENGINES = ("rapidocr", "paddleocr", "tesseract")


@dataclass(frozen=True)
class OcrBox:
    text: str
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    confidence: float


class OcrEngine(Protocol):
    name: str

    def recognize(self, image, dpi: float) -> list[OcrBox]:  # image: PIL.Image
        ...


def _quad_box(points) -> tuple[float, float, float, float]:
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 0].max()), float(arr[:, 1].max())


def split_runs(text: str, line_box, confidence: float, parts: list[tuple[str, tuple]], gap_factor: float = 1.2) -> list[OcrBox]:
    """Split one recognised line into runs at gaps wider than ``gap_factor`` typical characters.

    ``parts`` are (text, box) of its characters or words, left to right. Without parts the line is
    returned whole.
    """
    parts = [(t, b) for t, b in parts if t and t.strip()]
    if len(parts) < 2:
        return [OcrBox(text.strip(), line_box, confidence)]
    n_chars = sum(len(t) for t, _ in parts)
    char_w = (parts[-1][1][2] - parts[0][1][0]) / max(1, n_chars)
    runs, current = [], [parts[0]]
    for part in parts[1:]:
        if part[1][0] - current[-1][1][2] > gap_factor * max(char_w, 1e-6):
            runs.append(current)
            current = []
        current.append(part)
    runs.append(current)
    if len(runs) == 1:
        return [OcrBox(text.strip(), line_box, confidence)]
    out = []
    for run in runs:
        run_text = ""
        for t, _ in run:
            if run_text and run_text[-1].isascii() and run_text[-1].isalnum() and t[0].isascii() and t[0].isalnum():
                run_text += " "
            run_text += t
        x0 = min(b[0] for _, b in run)
        x1 = max(b[2] for _, b in run)
        out.append(OcrBox(run_text, (x0, line_box[1], x1, line_box[3]), confidence))
    return out


@dataclass
class RapidOcrConfig:
    det_max_side: int = 1280  # detection runs on the page scaled to this longest side (speed)
    max_side: int = 2000  # recognition crops come from the page scaled to at most this side
    text_score: float = 0.5  # lines scored below this are dropped by RapidOCR
    use_cls: bool = False  # 180° line classifier: book pages are upright
    threads: int = 0  # onnxruntime intra-op threads; 0 = the machine's cores (at most 8)
    memory_arena: bool = True  # reuse buffers between lines of varying width (faster recognition)


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, config: RapidOcrConfig | None = None):
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EmmelError(f"the rapidocr engine needs `pip install rapidocr onnxruntime` ({exc})") from None
        cfg = self.config = config or RapidOcrConfig()
        params = {
            "Global.log_level": "error",
            "Global.use_cls": cfg.use_cls,
            "Global.text_score": cfg.text_score,
            "Global.max_side_len": cfg.max_side,
            "Det.limit_type": "max",
            "Det.limit_side_len": cfg.det_max_side,
        }
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = cfg.threads or min(8, os.cpu_count() or 1)
        params["EngineConfig.onnxruntime.enable_cpu_mem_arena"] = cfg.memory_arena
        self._ocr = RapidOCR(params=params)

    def recognize(self, image, dpi: float) -> list[OcrBox]:
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        result = self._ocr(bgr, return_word_box=True)
        if result is None or not getattr(result, "txts", None):
            return []
        words = result.word_results if len(result.word_results) == len(result.txts) else [()] * len(result.txts)
        out = []
        for quad, text, score, word in zip(result.boxes, result.txts, result.scores, words):
            parts = [(w[0], _quad_box(w[2])) for w in word if w and w[2] is not None]
            out.extend(split_runs(text, _quad_box(quad), float(score), parts))
        return out


@dataclass
class PaddleOcrConfig:
    models: str | None = None  # folder with <det_model>/ and <rec_model>/ (PaddleOCR 3 inference models)
    det_model: str = "PP-OCRv5_server_det"
    rec_model: str = "PP-OCRv5_server_rec"


PADDLE_HELP = (
    "PaddleOCR models not found ({where}). emmel never downloads models: on a machine with internet run "
    "`python -c \"from paddleocr import PaddleOCR; PaddleOCR()\"` (it caches {det} and {rec} under "
    "~/.paddlex/official_models), copy those two folders here and pass --paddle-models DIR "
    "(or set EMMEL_PADDLE_MODELS=DIR); see docs/ocr.md. The default engine rapidocr needs no download."
)


def _paddle_model_dirs(cfg: PaddleOcrConfig) -> tuple[Path, Path]:
    roots = []
    if cfg.models or os.environ.get("EMMEL_PADDLE_MODELS"):
        roots.append(Path(cfg.models or os.environ["EMMEL_PADDLE_MODELS"]).expanduser())
    else:
        cache = os.environ.get("PADDLE_PDX_CACHE_HOME")
        roots.append((Path(cache) if cache else Path.home() / ".paddlex") / "official_models")
    for root in roots:
        det, rec = root / cfg.det_model, root / cfg.rec_model
        if all((d / "inference.yml").is_file() for d in (det, rec)):
            return det, rec
    where = ", ".join(str(r) for r in roots)
    raise EmmelError(PADDLE_HELP.format(where=f"looked in {where}", det=cfg.det_model, rec=cfg.rec_model))


class PaddleOcrEngine:
    name = "paddleocr"

    def __init__(self, config: PaddleOcrConfig | None = None):
        cfg = self.config = config or PaddleOcrConfig()
        if importlib.util.find_spec("paddleocr") is None:
            raise EmmelError(
                "the paddleocr engine is an optional extra and is not installed: "
                "`pip install 'emmel[paddle]' paddlepaddle` (CPU build; see docs/ocr.md), "
                "or use the default --engine rapidocr"
            )
        det, rec = _paddle_model_dirs(cfg)
        # never probe model hosters: the models are local (PaddleX reads this at import)
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        from paddleocr import PaddleOCR

        self._ocr = PaddleOCR(
            text_detection_model_name=cfg.det_model,
            text_detection_model_dir=str(det),
            text_recognition_model_name=cfg.rec_model,
            text_recognition_model_dir=str(rec),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
        )

    def recognize(self, image, dpi: float) -> list[OcrBox]:  # pragma: no cover - needs paddle models
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        out = []
        for res in self._ocr.predict(bgr):
            for text, score, poly in zip(res["rec_texts"], res["rec_scores"], res["rec_polys"]):
                if text.strip():
                    out.append(OcrBox(text.strip(), _quad_box(poly), float(score)))
        return out


@dataclass
class TesseractConfig:
    binary: str = "tesseract"
    lang: str = "chi_sim"
    psm: int = 3  # fully automatic page segmentation
    timeout_s: float = 300.0


class TesseractEngine:
    name = "tesseract"

    def __init__(self, config: TesseractConfig | None = None):
        cfg = self.config = config or TesseractConfig()
        path = shutil.which(cfg.binary)
        if path is None:
            raise EmmelError("the tesseract engine needs the tesseract binary: apt-get install tesseract-ocr tesseract-ocr-chi-sim")
        self._binary = path
        langs = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=60).stdout.split()
        missing = [lang for lang in cfg.lang.split("+") if lang not in langs]
        if missing:
            raise EmmelError(f"tesseract has no {'+'.join(missing)} data: apt-get install tesseract-ocr-chi-sim")

    def recognize(self, image, dpi: float) -> list[OcrBox]:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "PNG")
        cmd = [self._binary, "stdin", "stdout", "-l", self.config.lang, "--psm", str(self.config.psm),
               "--dpi", str(int(round(dpi))), "tsv"]
        env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
        try:
            proc = subprocess.run(cmd, input=buffer.getvalue(), capture_output=True, timeout=self.config.timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"tesseract took more than {self.config.timeout_s:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
        return parse_tesseract_tsv(proc.stdout.decode("utf-8", "replace"))


def parse_tesseract_tsv(tsv: str) -> list[OcrBox]:
    """Word rows of tesseract's TSV grouped into lines, then split into runs at wide gaps."""
    lines: dict[tuple, list[tuple[str, tuple, float]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5" or not (row.get("text") or "").strip():
            continue
        key = (int(row["page_num"]), int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        left, top, width, height = (int(row[k]) for k in ("left", "top", "width", "height"))
        conf = max(0.0, float(row["conf"])) / 100.0
        lines.setdefault(key, []).append((row["text"].strip(), (left, top, left + width, top + height), conf))
    out = []
    for key in sorted(lines):
        words = sorted(lines[key], key=lambda w: w[1][0])
        text = ""
        for t, _, _ in words:
            if text and text[-1].isascii() and text[-1].isalnum() and t[0].isascii() and t[0].isalnum():
                text += " "
            text += t
        box = (min(w[1][0] for w in words), min(w[1][1] for w in words), max(w[1][2] for w in words), max(w[1][3] for w in words))
        weights = [len(w[0]) for w in words]
        conf = sum(c * w[2] for c, w in zip(weights, words)) / sum(weights)
        out.extend(split_runs(text, box, conf, [(w[0], w[1]) for w in words]))
    return out


def make_engine(name: str, *, paddle_models: str | None = None, rapid: RapidOcrConfig | None = None) -> OcrEngine:
    """Build an engine by name; a missing engine or model is a one-line ``EmmelError``."""
    if name == "rapidocr":
        return RapidOcrEngine(rapid)
    if name == "paddleocr":
        return PaddleOcrEngine(PaddleOcrConfig(models=paddle_models))
    if name == "tesseract":
        return TesseractEngine()
    raise EmmelError(f"unknown OCR engine {name!r} (choose {', '.join(ENGINES)})")
