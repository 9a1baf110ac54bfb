"""A messy raw source for build tests: real JPEG/PNG files of varied sizes, broken files,
exact and near duplicates, traditional characters and full-width punctuation, bad records.

``make_messy_source(folder)`` returns the expected reject reason of every record id (None = kept).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

ENTITIES = [
    # title, category, region, captions
    ("春节", "民俗", "全国", ["春节贴春联", "除夕守岁的人家", "春节庙会人潮"]),
    ("春節（查干薩日）", "民俗", "內蒙古自治區", ["蒙古族查干萨日祭火", "查干萨日的白食", "查干萨日拜年"]),
    ("剪纸（蔚县剪纸）", "传统美术", "河北省蔚县", ["蔚县点彩剪纸", "彩色戏曲人物剪纸", "窗花剪纸作品"]),
    ("剪纸（扬州剪纸）", "传统美术", "江苏省扬州市", ["扬州剪纸花卉", "扬州剪纸艺人创作"]),
    ("苗族银饰锻制技艺", "传统技艺", "贵州省雷山县", ["苗族银角头饰", "银匠锻制银饰", "苗族银项圈", "盛装银饰少女"]),
    ("鄂温克族萨满舞", "传统舞蹈", "内蒙古自治区鄂温克族自治旗", ["萨满舞表演", "鄂温克族萨满服饰", "萨满鼓与舞者"]),
]


def pattern_image(seed: int, size: tuple[int, int]) -> Image.Image:
    """A photo-like random image (gradient + shapes): distinct seeds give far-apart perceptual hashes."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    image = Image.fromarray(low).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y, r = int(rng.integers(0, size[0])), int(rng.integers(0, size[1])), int(rng.integers(10, 80))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def make_messy_source(folder: Path) -> dict[str, str | None]:
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []
    expected: dict[str, str | None] = {}
    seed = 100

    def add(record_id, title, text, image_name, data=None, expect=None, **extra):
        if data is not None:
            (folder / "images" / image_name).write_bytes(data)
        row = {"record_id": record_id, "title": title, "text": text, "image": f"images/{image_name}",
               "source": {"kind": "web", "url": f"http://example.test/{record_id}"}, "license": "CC BY 4.0", **extra}
        lines.append(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        expected[record_id] = expect

    sizes = [(320, 240), (512, 384), (400, 400), (640, 360), (300, 500)]
    for e, (title, category, region, captions) in enumerate(ENTITIES):
        for c, caption in enumerate(captions):
            seed += 1
            size = sizes[(e + c) % len(sizes)]
            fmt = "PNG" if (e + c) % 3 == 0 else "JPEG"
            data = encode(pattern_image(seed, size), fmt)
            text = f"　{caption}，{title}。" if c == 0 else caption  # full-width space and punctuation
            add(f"r{e}-{c}", title, text, f"e{e}-{c}.{fmt.lower()}", data, category=category, region=region,
                entity_description=f"{title}：生成的描述文字。")
    base = pattern_image(7, (480, 360))
    add("dup-exact-src", "苗族银饰锻制技艺", "苗族银饰展示", "base.jpg", encode(base, quality=92))
    add("dup-exact", "苗族银饰锻制技艺", "银饰展示台", "base-copy.jpg", encode(base, quality=92), "duplicate_image")
    add("dup-reencoded", "苗族银饰锻制技艺", "银饰柜台", "base-q60.jpg", encode(base, quality=60), "near_duplicate_image")
    add("dup-resized", "苗族银饰锻制技艺", "银饰局部", "base-small.png", encode(base.resize((360, 270)), "PNG"), "near_duplicate_image")
    add("dup-cropped", "苗族银饰锻制技艺", "银饰特写", "base-crop.jpg", encode(base.crop((3, 3, 477, 357))), "near_duplicate_image")
    add("conflict", "剪纸（扬州剪纸）", "一幅剪纸", "base-conflict.jpg", encode(base, quality=92), "image_entity_conflict")
    add("conflict-q70", "春节", "又一幅图", "base-conflict-q70.jpg", encode(base, quality=70), "image_entity_conflict")
    add("zero", "春节", "空文件图片", "zero.jpg", b"", "empty_file")
    add("html", "春节", "网页当作图片", "page.jpg", b"<html><body>404</body></html>", "not_an_image")
    add("truncated", "春节", "残缺的图片", "trunc.jpg", encode(pattern_image(8, (400, 300)))[:1500], "truncated_image")
    add("small", "春节", "太小的图片", "small.jpg", encode(pattern_image(9, (120, 90))), "low_resolution")
    add("wide", "春节", "横幅长图", "wide.jpg", encode(pattern_image(10, (1000, 250))), "extreme_aspect_ratio")
    add("bomb", "春节", "像素过多", "bomb.png", encode(Image.new("1", (12000, 9000)), "PNG"), "decompression_bomb")
    add("notext", "春节", "  ", "notext.jpg", encode(pattern_image(11, (300, 300))), "empty_text")
    add("longtext", "春节", "长" * 300, "long.jpg", encode(pattern_image(12, (300, 300))), "text_too_long")
    add("escape", "春节", "路径越界", "../../etc/passwd", None, "unsafe_path")
    add("gone", "春节", "图片不存在", "missing.jpg", None, "missing_image")
    add("r0-0", "春节", "重复的编号", "again.jpg", encode(pattern_image(13, (300, 300))), None)
    expected["r0-0#2"] = "malformed_record"
    lines.append(b'{"record_id": "broken", "title": "x", ')
    expected["broken"] = "malformed_record"
    lines.append('{"record_id": "latin", "title": "caf\u00e9", "text": "x", "image": "x.jpg"}'.encode("latin-1"))
    expected["latin"] = "bad_encoding"
    lines.append(json.dumps({"record_id": "notitle", "text": "没有标题", "image": "images/e0-0.png"}, ensure_ascii=False).encode())
    expected["notitle"] = "missing_field"
    (folder / "records.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "source.json").write_text('{"kind": "web"}', encoding="utf-8")
    return expected
