"""Generate a local mirror of the three crawled sites (ihchina, guangdong, guizhou).

Entity names, categories, declaring regions and ihchina detail ids are real (drawn from
``data/ihchina_national_list.csv``); descriptions, captions, batch numbers and images are
generated, and every page says so. The mirror is a plain folder that ``crawlers.mirror_server`` serves
on 127.0.0.1, so ``emmel crawl`` runs the real spiders against it:

    python -m tests.synth.mirror --out data/mirror            # regenerate the bundled mirror

A request with a query string is served from the file ``<path>@<sorted non-empty params>`` (see
:func:`crawlers.mirror_server.file_key`), e.g. ``ihchina/getProject.html@category_id=16&limit=10&p=1``.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from crawlers.ethnic import ethnic_group
from emmel.io import atomic_directory, dumps
from emmel.labels import CLOSING, base_name, qualifiers
from tests.synth.pictures import draw, jpeg_bytes, make_signature, stable_int

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CSV = REPO_ROOT / "data" / "ihchina_national_list.csv"
IHCHINA_QUERY = "province=&rx_time=&type=&cate=&keywords=&category_id=16&limit={limit}&p={page}"
NOTE = "镜像说明：本页为 emmel 生成的测试镜像；项目名称、类别、地区取自国家级非遗名录，描述、图片说明、批次编号与图片均为程序生成，并非官方资料。"

CATEGORY_NUMERALS = {
    "民间文学": "Ⅰ", "传统音乐": "Ⅱ", "传统舞蹈": "Ⅲ", "传统戏剧": "Ⅳ", "曲艺": "Ⅴ",
    "传统体育、游艺与杂技": "Ⅵ", "传统美术": "Ⅶ", "传统技艺": "Ⅷ", "传统医药": "Ⅸ", "民俗": "Ⅹ",
}
BATCHES = (("第一批", 2006), ("第二批", 2008), ("第三批", 2011), ("第四批", 2014), ("第五批", 2021))
SCENES = {
    "传统美术": ("作品细节", "纹样局部", "创作过程", "作品陈列"),
    "传统舞蹈": ("表演现场", "巡游队伍", "演出场景", "舞者合影"),
    "传统技艺": ("制作过程", "成品展示", "工具与材料", "匠人操作"),
    "传统音乐": ("演奏现场", "演唱场景", "乐器特写"),
    "传统戏剧": ("演出剧照", "角色扮相", "后台化妆"),
    "曲艺": ("说唱表演", "演出现场"),
    "民俗": ("节庆仪式", "活动现场", "祭祀场面"),
    "传统体育、游艺与杂技": ("比赛现场", "技艺表演", "训练场景"),
    "传统医药": ("药材炮制", "诊疗场景", "药方与器具"),
    "民间文学": ("讲述现场", "故事传承人", "手抄文本"),
}
ORIGINS = ("相传起源于明清时期", "已有数百年的历史", "历史可追溯至宋代", "形成于清代中叶", "世代相传至今")
BODIES = {
    "传统美术": "其作品以{m}为主要材料，构图饱满，线条流畅，题材多取自花鸟、人物和吉祥图案。",
    "传统舞蹈": "表演时{m}相配合，动作刚柔并济，队形变化丰富，常在节庆和庙会中出现。",
    "传统技艺": "其工序繁复，选料讲究，以{m}为核心环节，成品兼具实用与审美价值。",
    "传统音乐": "其曲调悠扬，节奏自由，多以{m}伴奏，内容反映当地生产生活。",
    "传统戏剧": "其唱腔独特，表演质朴，伴奏以{m}为主，剧目多取材于历史故事和民间传说。",
    "曲艺": "其说唱结合，语言生动，以{m}伴奏，深受当地群众喜爱。",
    "民俗": "活动期间人们{m}，祈求风调雨顺、人寿年丰，具有浓厚的地方特色。",
    "传统体育、游艺与杂技": "其讲究{m}，竞技性与观赏性兼备，是当地群众喜闻乐见的活动。",
    "传统医药": "其以{m}为特色，积累了丰富的临床经验，在当地群众中享有声誉。",
    "民间文学": "其内容以{m}为主，情节曲折，语言朴实，通过口耳相传保存至今。",
}
MATERIALS = {
    "传统美术": ("红纸", "彩纸", "木料", "丝线"), "传统舞蹈": ("锣鼓与唢呐", "鼓乐与歌声"),
    "传统技艺": ("手工锻打", "蜡绘与浸染", "榫卯结构"), "传统音乐": ("芦笙", "二胡与笛子", "木叶"),
    "传统戏剧": ("锣鼓", "板胡"), "曲艺": ("三弦", "鼓板"), "民俗": ("祭祀祖先、歌舞欢庆", "赛马摔跤、宴饮歌舞"),
    "传统体育、游艺与杂技": ("力量与技巧", "身法与步法"), "传统医药": ("草药外敷", "药浴熏蒸"),
    "民间文学": ("英雄故事", "神话传说"),
}
TRANSMISSION = ("家族传承与师徒传承并存", "以师带徒的方式代代相传", "主要依靠口传心授")
STATUS = ("近年来当地建立了传习所，培养了一批年轻传承人。", "目前面临传承人老龄化等问题，亟需加强保护。",
          "列入名录后，保护与传承工作逐步走上正轨。")


@dataclass
class MirrorConfig:
    """How big the mirror is and which faults it contains."""

    seed: int = 13
    csv_path: str = str(DEFAULT_CSV)
    ihchina: int = 16
    guangdong: int = 12
    guizhou: int = 12
    images_min: int = 3
    images_max: int = 6
    size_min: int = 256
    size_max: int = 640
    ihchina_page_size: int = 10
    provincial_page_size: int = 6
    quality: int = 82
    bad_images: bool = True  # tiny, truncated and near-duplicate pictures for the build's cleaning
    faults: bool = False  # test-only: missing fields, robots, redirect, 429/503, broken/oversized, undeclared GBK

    @classmethod
    def for_tests(cls, seed: int = 7) -> MirrorConfig:
        """A small mirror with every fault, quick to generate and crawl (two ihchina list pages)."""
        return cls(seed=seed, ihchina=8, guangdong=3, guizhou=3, images_min=2, images_max=3, size_min=200,
                   size_max=260, provincial_page_size=2, faults=True)


@dataclass
class Picture:
    path: str  # file in the mirror, relative to its root
    caption: str
    alt: str
    kind: str = "ok"  # ok, tiny, truncated, near_duplicate, broken, oversized


@dataclass
class Entity:
    site: str
    id: str
    title: str
    category: str
    region: str
    ethnic_group: str
    family: str
    batch: str
    year: int
    num: str
    page: str = ""  # detail page path in the mirror
    description: list[str] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    fault: str = ""


# ---------------------------------------------------------------- pure helpers

def short_name(title: str) -> str:
    """The variant named by a trailing qualifier (``剪纸（蔚县剪纸）`` → ``蔚县剪纸``), else the title."""
    named = qualifiers(title)
    return named[-1] if named and title.rstrip().endswith(tuple(CLOSING)) else title


def short_region(region: str) -> str:
    rest = re.sub(r"^.+?(省|自治区|特别行政区)", "", region)
    return rest or region


def read_national_list(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in row:
            row[key] = (row[key] or "").replace("\xa0", " ").strip()
        row["id"] = re.search(r"(\d+)\.html", row["detail_url"]).group(1)
    return rows


def select_entities(rows: list[dict], config: MirrorConfig) -> dict[str, list[dict]]:
    """Pick each site's entities: ambiguous families and ethnic-minority items first, seeded."""
    rng = random.Random(config.seed)
    taken: set[str] = set()

    def pick(pool: list[dict], pattern: str, k: int) -> list[dict]:
        matches = [r for r in pool if pattern in r["name"] and r["id"] not in taken]
        chosen = rng.sample(matches, min(k, len(matches)))
        chosen.sort(key=lambda r: int(r["id"]))
        taken.update(r["id"] for r in chosen)
        return chosen

    def fill(plan: list[tuple[str, int]], pool: list[dict], total: int) -> list[dict]:
        out: list[dict] = []
        for pattern, k in plan:
            out += pick(pool, pattern, min(k, total - len(out)))
        out += pick(pool, "", total - len(out))
        return out

    ihchina = fill([("剪纸（", 4), ("龙舞（", 4), ("鄂温克", 2), ("蒙古族", 3), ("苗族", 2), ("侗族", 1)], rows, config.ihchina)
    guangdong_pool = [r for r in rows if r["region"].startswith("广东省")]
    guizhou_pool = [r for r in rows if r["region"].startswith("贵州省")]
    guangdong = fill([("剪纸（广东剪纸）", 3), ("龙舞（", 2)], guangdong_pool, config.guangdong)
    guizhou = fill([("苗族", 4), ("侗族", 3), ("剪纸（", 1)], guizhou_pool, config.guizhou)
    return {"ihchina": ihchina, "guangdong": guangdong, "guizhou": guizhou}


def make_description(title: str, category: str, region: str, rng: random.Random) -> list[str]:
    short = short_name(title)
    people = ethnic_group(title, region) or "群众"
    body = BODIES.get(category, BODIES["民俗"]).format(m=rng.choice(MATERIALS.get(category, ("传统方式",))))
    return [
        f"{short}是流传于{short_region(region)}一带的{category or '非物质文化遗产'}项目，{rng.choice(ORIGINS)}。{body}",
        f"当地{people}把{short}视为重要的文化传统。{short}的传承{rng.choice(TRANSMISSION)}，{rng.choice(STATUS)}",
    ]


def make_caption(title: str, category: str, region: str, rng: random.Random) -> str:
    """A short generated caption of 8-20 characters."""
    short = short_name(title)
    scene = rng.choice(SCENES.get(category, ("现场照片",)))
    options = [f"{short}{scene}", f"{short_region(region)}{short}{scene}", f"传承人展示{short}", f"{short}的{scene}"]
    options = [o for o in options if 8 <= len(o) <= 20] or [(f"{short}{scene}")[:20]]
    text = rng.choice(options)
    return text if len(text) >= 8 else (short_region(region) + text)[:20]


def picture_size(rng: random.Random, config: MirrorConfig) -> tuple[int, int]:
    long_side = rng.randint(max(config.size_min, int(config.size_max * 0.7)), config.size_max)
    short_side = rng.randint(config.size_min, long_side)
    return (long_side, short_side) if rng.random() < 0.7 else (short_side, long_side)


def oversized_jpeg(width: int, height: int) -> bytes:
    """A small JPEG whose header claims ``width`` x ``height`` (a decompression-bomb stand-in)."""
    data = bytearray(jpeg_bytes(Image.new("L", (64, 64), 128), quality=50))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


# ---------------------------------------------------------------- page templates

def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, body: str, charset: str | None = "utf-8") -> str:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n' if charset else ""
    return (f"<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n{meta}<title>{_e(title)}</title>\n</head>\n<body>\n"
            f"{body}\n<p class=\"mirror-note\">{NOTE}</p>\n</body>\n</html>\n")


def _figures(entity: Entity, page_dir: str, figure: str) -> str:
    out = []
    for pic in entity.pictures:
        src = _e(_relative(page_dir, pic.path))
        if figure == "ihchina":
            cap = f"<figcaption>{_e(pic.caption)}</figcaption>" if pic.caption else ""
            out.append(f'<figure class="pic"><img src="{src}" alt="{_e(pic.alt)}">{cap}</figure>')
        elif figure == "guangdong":
            cap = f'<p class="pic-title">{_e(pic.caption)}</p>' if pic.caption else ""
            out.append(f'<div class="item"><img src="{src}" alt="{_e(pic.alt)}">{cap}</div>')
        else:
            out.append(f'<p style="text-align:center"><img src="{src}" alt="{_e(pic.alt)}" border="0"></p>')
            if pic.caption:
                out.append(f'<p class="pic_title" style="text-align:center">{_e(pic.caption)}</p>')
    return "\n".join(out)


def _relative(page_dir: str, target: str) -> str:
    """Relative link from a page in ``page_dir`` to ``target`` (both relative to the mirror root)."""
    base = [p for p in page_dir.split("/") if p]
    parts = target.split("/")
    common = 0
    while common < len(base) and common < len(parts) - 1 and base[common] == parts[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + parts[common:])


def ihchina_detail(entity: Entity) -> str:
    info = "".join(f"<span>{_e(k)}：{_e(v)}</span>" for k, v in (
        ("项目编号", entity.num), ("公布时间", f"{entity.year}({entity.batch})" if entity.year else ""),
        ("类别", entity.category), ("申报地区或单位", entity.region)) if v)
    title = f'<div class="h30">{_e(entity.title)}</div>' if entity.title else '<div class="h30"></div>'
    text = ""
    if entity.description:
        paras = [f"申报地区或单位：{entity.region}"] + entity.description if entity.region else entity.description
        text = '<div class="text"><div class="p">' + "".join(f"<p>{_e(p)}</p>" for p in paras) + "</div></div>"
    body = (f'<div class="inherit_xx1 article-mod2">\n{title}\n<div class="x-box">{info}</div>\n{text}\n'
            f'<div class="pics">\n{_figures(entity, "ihchina/project_details", "ihchina")}\n</div>\n</div>')
    return _page(f"{entity.title or '项目详情'} - 中国非物质文化遗产网（镜像）", body)


def ihchina_list_record(entity: Entity, project_num: int) -> dict:
    content = ""
    if entity.description:
        content = html.escape("".join(f"<p>{p}</p>" for p in [f"申报地区或单位：{entity.region}"] + entity.description))
    record = {
        "id": entity.id, "num": entity.num, "project_num": str(project_num), "title": entity.title,
        "type": entity.category, "cate": "扩展项目" if "（" in entity.title else "新增项目",
        "rx_time": f"{entity.year}</br>({entity.batch})" if entity.year else None,
        "province": entity.region, "protect_unit": f"{short_region(entity.region)}文化馆" if entity.region else "",
        "content": content,
    }
    if entity.fault == "missing_fields":
        for key in ("type", "num"):
            record.pop(key)
    return record


def guangdong_detail(entity: Entity, charset: str | None) -> str:
    rows = "".join(f"<tr><th>{k}</th><td>{_e(v)}</td></tr>" for k, v in (
        ("项目类别", entity.category), ("申报地区", entity.region), ("级别", "国家级"),
        ("批次", f"{entity.batch}（{entity.year}年）"), ("项目编号", entity.num)))
    paras = "".join(f"<p>{_e(p)}</p>" for p in entity.description)
    body = (f'<div class="fy-detail">\n<h1 class="fy-title">{_e(entity.title)}</h1>\n<table class="fy-info">{rows}</table>\n'
            f'<div class="fy-content">{paras}</div>\n<div class="fy-gallery">\n'
            f'{_figures(entity, "guangdong/ich/detail", "guangdong")}\n</div>\n</div>')
    return _page(f"{entity.title}_广东省非物质文化遗产（镜像）", body, charset)


def guangdong_list(entities: list[Entity], page: int, pages: int) -> str:
    items = "\n".join(
        f'<li><a href="detail/{e.id}.html" title="{_e(e.title)}">{_e(e.title)}</a><span class="cat">{_e(e.category)}</span></li>'
        for e in entities)
    nxt = f'<a class="next" href="list_{page + 1}.html">下一页</a>' if page < pages else ""
    body = f'<ul class="fy-list">\n{items}\n</ul>\n<div class="page"><span>第{page}/{pages}页</span>{nxt}</div>'
    return _page("国家级非物质文化遗产名录_广东省（镜像）", body)


def guizhou_detail(entity: Entity) -> str:
    info = "　".join(f"{k}：{v}" for k, v in (("类别", entity.category), ("地区", entity.region),
                                            ("民族", entity.ethnic_group or "—"), ("批次", f"{entity.batch}（{entity.year}）")))
    paras = "".join(f"<p>　　{_e(p)}</p>" for p in entity.description)
    page_dir = entity.page.rsplit("/", 1)[0]
    body = (f'<div class="xl_title"><h2>{_e(entity.title)}</h2></div>\n<div class="xl_info">{_e(info)}</div>\n'
            f'<div class="TRS_Editor">{paras}\n{_figures(entity, page_dir, "guizhou")}\n</div>')
    return _page(f"{entity.title}-贵州省非物质文化遗产名录（镜像）", body, "gb2312")


def guizhou_list(entities: list[Entity], page: int, pages: int) -> str:
    rows = "\n".join(
        f'<tr><td class="xh">{i}</td><td class="mc"><a href="./{e.page.split("fwzml/", 1)[1]}" target="_blank">{_e(e.title)}</a></td>'
        f'<td class="lb">{_e(e.category)}</td><td class="dq">{_e(e.region)}</td></tr>'
        for i, e in enumerate(entities, start=1))
    nxt = f'<a class="next" href="index_{page + 1}.html">下一页</a>' if page + 1 < pages else ""
    body = f'<table class="ml-table">\n{rows}\n</table>\n<div class="page">{nxt}</div>'
    return _page("国家级名录_贵州省非物质文化遗产（镜像）", body, "gb2312")


def robots_txt(faults: bool) -> str:
    lines = ["User-agent: *", "Disallow: /guangdong/ich/search", "Disallow: /guizhou/fwzml/draft/"]
    if faults:
        lines.append("Disallow: /ihchina/project_details/90003.html")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- generation

class _Writer:
    """Collects the mirror's files in memory so generation is a pure function of the config."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def text(self, path: str, text: str, encoding: str = "utf-8") -> None:
        self.files[path] = text.encode(encoding)

    def data(self, path: str, data: bytes) -> None:
        self.files[path] = data


def _make_entity(site: str, row: dict, eid: str, rng: random.Random) -> Entity:
    batch, year = rng.choice(BATCHES)
    family = base_name(row["name"])  # the motif its pictures share with the family's other items
    numeral = CATEGORY_NUMERALS.get(row["category"], "Ⅹ")
    return Entity(site=site, id=eid, title=row["name"], category=row["category"], region=row["region"],
                  ethnic_group=ethnic_group(row["name"], row["region"]), family=family, batch=batch, year=year,
                  num=f"{numeral}-{stable_int('num', family) % 160 + 1}",
                  description=make_description(row["name"], row["category"], row["region"], rng))


def _add_pictures(entity: Entity, files: _Writer, config: MirrorConfig, path_of, rng: random.Random) -> None:
    signature = make_signature(entity.family, f"{entity.title}|{entity.region}", config.seed)
    count = rng.randint(config.images_min, config.images_max)
    for k in range(count):
        size = picture_size(rng, config)
        data = jpeg_bytes(draw(signature, rng, size), config.quality)
        roll = rng.random()
        caption = make_caption(entity.title, entity.category, entity.region, rng)
        if k == 0 or roll < 0.7:
            pic = Picture(path_of(k), caption, entity.title if rng.random() < 0.5 else "")
        elif roll < 0.85:
            pic = Picture(path_of(k), "", caption)  # alt text only
        else:
            pic = Picture(path_of(k), "", "")  # nothing: the crawler falls back to the description
        files.data(pic.path, data)
        entity.pictures.append(pic)


def _add_bad(entity: Entity, files: _Writer, config: MirrorConfig, kind: str, path: str, rng: random.Random) -> None:
    signature = make_signature(entity.family, f"{entity.title}|{entity.region}", config.seed)
    caption = make_caption(entity.title, entity.category, entity.region, rng)
    if kind == "tiny":
        data = jpeg_bytes(draw(signature, rng, (80, 60)), config.quality)
    elif kind == "truncated":
        full = jpeg_bytes(draw(signature, rng, picture_size(rng, config)), config.quality)
        data = full[: int(len(full) * 0.55)]
    elif kind == "near_duplicate":
        original = Image.open(io.BytesIO(files.files[entity.pictures[0].path]))
        resized = original.resize((int(original.width * 0.97), int(original.height * 0.97)), Image.Resampling.BILINEAR)
        data = jpeg_bytes(resized, quality=55)
        caption = entity.pictures[0].caption or caption
    elif kind == "broken":
        data = b"<html><body>404 image not found</body></html>\n"
    elif kind == "oversized":
        data = oversized_jpeg(7200, 6400)
    else:  # pragma: no cover
        raise ValueError(kind)
    files.data(path, data)
    entity.pictures.append(Picture(path, caption, "", kind))


def generate(config: MirrorConfig) -> tuple[dict[str, bytes], dict]:
    """All files of the mirror (path -> bytes) and its manifest. Pure: same config, same bytes."""
    rows = read_national_list(config.csv_path)
    chosen = select_entities(rows, config)
    files = _Writer()
    manifest: dict = {"seed": config.seed, "config": asdict(config) | {"csv_path": Path(config.csv_path).name},
                      "sites": {}, "routes": {"fail_first": {}, "redirect": {}}}
    rng = random.Random(config.seed)

    # --- ihchina: JSON list endpoint + detail pages
    entities = []
    for row in chosen["ihchina"]:
        e = _make_entity("ihchina", row, row["id"], rng)
        e.page = f"ihchina/project_details/{e.id}.html"
        _add_pictures(e, files, config, lambda k, e=e: f"ihchina/Uploads/{e.id}/{k + 1}.jpg", rng)
        entities.append(e)
    if config.bad_images and len(entities) > 3:
        _add_bad(entities[1], files, config, "tiny", f"ihchina/Uploads/{entities[1].id}/tiny.jpg", rng)
        _add_bad(entities[3], files, config, "truncated", f"ihchina/Uploads/{entities[3].id}/part.jpg", rng)
    if config.faults:
        _add_bad(entities[0], files, config, "broken", f"ihchina/Uploads/{entities[0].id}/broken.jpg", rng)
        _add_bad(entities[0], files, config, "oversized", f"ihchina/Uploads/{entities[0].id}/huge.jpg", rng)
        base = chosen["ihchina"][0]
        for eid, fault in (("90001", "missing_fields"), ("90002", "redirect"), ("90003", "robots"), ("90004", "no_title")):
            e = _make_entity("ihchina", base, eid, rng)
            e.title, e.fault, e.page = f"{base['name']}（故障样例{eid[-1]}）", fault, f"ihchina/project_details/{eid}.html"
            if fault == "missing_fields":
                e.category, e.year, e.batch, e.num, e.description = "", 0, "", "", []
                e.pictures.append(Picture(f"ihchina/Uploads/{eid}/1.jpg", "", f"{short_name(base['name'])}作品一件"))
                files.data(e.pictures[0].path, jpeg_bytes(draw(make_signature("故障", eid, config.seed), rng, (300, 260))))
            elif fault == "no_title":
                e.title = ""
            entities.append(e)
        manifest["routes"]["redirect"]["ihchina/project_details/90002.html"] = "http://localhost:{port}/elsewhere/90002.html"
    size = config.ihchina_page_size
    pages = max(1, -(-len(entities) // size))
    for p in range(1, pages + 1):
        chunk = entities[(p - 1) * size: p * size]
        payload = {"total": len(entities), "links": {"total_pages": pages, "current_page": p, "per_page": size},
                   "list": [ihchina_list_record(e, 100 + i) for i, e in enumerate(chunk, start=(p - 1) * size)]}
        files.text(f"ihchina/getProject.html@category_id=16&limit={size}&p={p}", json.dumps(payload, ensure_ascii=False, indent=1))
    for e in entities:
        if e.fault not in ("redirect",):
            files.text(e.page, ihchina_detail(e))
    if config.faults and pages >= 2:
        manifest["routes"]["fail_first"][f"ihchina/getProject.html@category_id=16&limit={size}&p=2"] = [429, 429]
        manifest["routes"]["fail_first"][entities[1].page] = [503]
        manifest["routes"]["fail_first"][entities[2].pictures[0].path] = [429]
    manifest["sites"]["ihchina"] = {"start": "ihchina/getProject.html?" + IHCHINA_QUERY.format(limit=size, page=1),
                                    "entities": [_entity_json(e) for e in entities]}

    # --- guangdong: HTML list pages + detail pages (UTF-8; one undeclared GBK page with faults)
    entities = []
    for i, row in enumerate(chosen["guangdong"]):
        e = _make_entity("guangdong", row, str(4400 + i * 7 + 1), rng)
        e.page = f"guangdong/ich/detail/{e.id}.html"
        _add_pictures(e, files, config, lambda k, e=e: f"guangdong/ich/upload/{e.id}_{k + 1}.jpg", rng)
        entities.append(e)
    if config.bad_images and entities:
        _add_bad(entities[0], files, config, "near_duplicate", f"guangdong/ich/upload/{entities[0].id}_dup.jpg", rng)
    size = config.provincial_page_size
    pages = max(1, -(-len(entities) // size))
    for p in range(1, pages + 1):
        name = "list.html" if p == 1 else f"list_{p}.html"
        files.text(f"guangdong/ich/{name}", guangdong_list(entities[(p - 1) * size: p * size], p, pages))
    for i, e in enumerate(entities):
        if config.faults and i == 1:
            e.fault = "undeclared_gbk"
            files.text(e.page, guangdong_detail(e, charset=None), encoding="gbk")
        else:
            files.text(e.page, guangdong_detail(e, charset="utf-8"))
    manifest["sites"]["guangdong"] = {"start": "guangdong/ich/list.html", "entities": [_entity_json(e) for e in entities]}

    # --- guizhou: TRS-style pages, all GBK-encoded and declared as gb2312
    entities = []
    for i, row in enumerate(chosen["guizhou"]):
        e = _make_entity("guizhou", row, str(8800100 + i * 13), rng)
        e.page = f"guizhou/fwzml/202405/t20240516_{e.id}.html"
        _add_pictures(e, files, config, lambda k, e=e: f"guizhou/fwzml/202405/W0{e.id}{k + 1:02d}.jpg", rng)
        entities.append(e)
    pages = max(1, -(-len(entities) // size))
    for p in range(pages):
        name = "index.html" if p == 0 else f"index_{p}.html"
        files.text(f"guizhou/fwzml/{name}", guizhou_list(entities[p * size: (p + 1) * size], p, pages), encoding="gbk")
    for e in entities:
        files.text(e.page, guizhou_detail(e), encoding="gbk")
    manifest["sites"]["guizhou"] = {"start": "guizhou/fwzml/index.html", "entities": [_entity_json(e) for e in entities]}

    files.text("robots.txt", robots_txt(config.faults))
    files.text("README.md", readme(config, manifest))
    files.text("manifest.json", json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1) + "\n")
    return files.files, manifest


def _entity_json(e: Entity) -> dict:
    return {"id": e.id, "title": e.title, "category": e.category, "region": e.region, "ethnic_group": e.ethnic_group,
            "batch": e.batch, "year": e.year, "num": e.num, "page": e.page, "fault": e.fault,
            "description": "\n".join(e.description),
            "pictures": [asdict(p) for p in e.pictures]}


def readme(config: MirrorConfig, manifest: dict) -> str:
    counts = {site: len(info["entities"]) for site, info in manifest["sites"].items()}
    pictures = sum(len(e["pictures"]) for info in manifest["sites"].values() for e in info["entities"])
    return f"""# Local mirror of three intangible-cultural-heritage sites (generated)

This folder is a **generated stand-in** for the sites `emmel crawl` targets, so the real spiders can
run offline (tests, `emmel demo`, the crawl benchmark). Serve it and crawl it:

```bash
python -m crawlers.mirror_server data/mirror            # prints http://127.0.0.1:PORT/
emmel crawl --mirror http://127.0.0.1:PORT/ --out raw/
```

## What is real and what is generated

| part | real or generated |
|---|---|
| entity names, categories, declaring regions, ihchina detail ids | **real**, from `data/ihchina_national_list.csv` (the national ICH list) |
| descriptions, image captions and alt texts | **generated** from templates; not official text |
| batch, year, item number (编号), protection unit | **generated** (plausible form, not the real values) |
| images | **generated**: procedural drawings; all pictures of one entity share a palette and motif |
| page layouts of guangdong and guizhou | **invented** (the ihchina layout follows the real list endpoint and detail page) |

Every page carries the note: "{NOTE}"

## Contents (seed {config.seed})

- entities: {counts} ({sum(counts.values())} in all), {pictures} pictures.
- Ambiguous families on purpose: several `剪纸（…）` and `龙舞（…）` variants, three `剪纸（广东剪纸）`
  entries with the same name and different regions, and ethnic-minority items (鄂温克族, 蒙古族, 苗族, 侗族).
- Deliberately bad pictures for the build's cleaning: a tiny 80 px image, a truncated JPEG and a
  near-duplicate re-encoded copy (see `kind` in `manifest.json`).
- `ihchina/`: the JSON list endpoint (`getProject.html?...&p=N`, stored as `getProject.html@...&p=N`)
  and `project_details/<id>.html`; `guangdong/ich/`: `list.html`, `list_N.html`, `detail/<id>.html`
  (UTF-8); `guizhou/fwzml/`: `index.html`, `index_N.html` and detail pages encoded in GBK and
  declared as gb2312, like many provincial sites; `robots.txt` at the root.
- `manifest.json` lists every entity and picture (what a crawl must find).

## Regenerate

```bash
python -m tests.synth.mirror --out data/mirror [--seed {config.seed}]
```

Same seed and same Pillow give byte-identical files.
"""


def generate_mirror(out: str | Path, config: MirrorConfig | None = None, *, overwrite: bool = True) -> dict:
    """Write the mirror into ``out`` (atomically) and return its manifest."""
    config = config or MirrorConfig()
    files, manifest = generate(config)
    with atomic_directory(out, kind="mirror", overwrite=overwrite) as tmp:
        for rel, data in sorted(files.items()):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.synth.mirror", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="mirror folder to (re)write")
    parser.add_argument("--seed", type=int, default=MirrorConfig.seed)
    parser.add_argument("--faults", action="store_true", help="add the test-only faults (robots, redirect, 429, ...)")
    args = parser.parse_args(argv)
    manifest = generate_mirror(args.out, MirrorConfig(seed=args.seed, faults=args.faults))
    total = sum(len(s["entities"]) for s in manifest["sites"].values())
    print(dumps({"out": str(args.out), "entities": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
