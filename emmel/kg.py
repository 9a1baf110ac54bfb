"""The KB as a small knowledge graph: an ontology of classes and the relations of every entity.

Classes: the national list's ten categories, the 56 recognised ethnic groups, and places with
their province → prefecture → county hierarchy parsed from the entities' region strings
(``parse_region``). Relations: ``category``, ``ethnic_group``, ``located_in`` (entity → its most
specific place), ``part_of`` (place → the place above it) and ``variant_of`` (a qualified label →
its base, 春节(查干萨日) → 春节). Everything is a pure function of the KB, so the graph is
rebuilt whenever a dataset is written and always agrees with ``kb.jsonl``.

The graph is a sorted list of triples whose terms are CURIEs (``entity:E1f0c3a9d5e21``,
``property:located_in``, ``place:贵州省/黔东南苗族侗族自治州/雷山县``) or literals
(``{"value": "春节"}``). ``kg/triples.jsonl`` holds them one per line; ``kg/kg.ttl`` is the same
graph in RDF Turtle, every emmel prefix expanding under ``urn:emmel:`` (docs/FORMAT.md §2).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from emmel.errors import EmmelError
from emmel.io import atomic_write_bytes, dumps, iter_jsonl_lines
from emmel.labels import base_name
from emmel.schema import Entity

NAMESPACE = "urn:emmel:"
TRIPLES_FILE = "kg/triples.jsonl"
TURTLE_FILE = "kg/kg.ttl"
EMMEL_PREFIXES = ("entity", "category", "ethnic_group", "place", "class", "property")
STANDARD_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}

# -- the fixed vocabularies ------------------------------------------------------------------------

# The ten categories of the national list (国家级非物质文化遗产代表性项目名录), with the names the
# first batch (2006) used for four of them.
CATEGORIES = ("民间文学", "传统音乐", "传统舞蹈", "传统戏剧", "曲艺", "传统体育、游艺与杂技", "传统美术", "传统技艺", "传统医药", "民俗")
CATEGORY_SYNONYMS = {"民间音乐": "传统音乐", "民间舞蹈": "传统舞蹈", "杂技与竞技": "传统体育、游艺与杂技",
                     "民间美术": "传统美术", "传统手工技艺": "传统技艺"}

# The 56 ethnic groups recognised in China.
ETHNIC_GROUPS = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族", "满族", "侗族", "瑶族", "白族",
    "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族", "佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族",
    "景颇族", "柯尔克孜族", "土族", "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族",
    "普米族", "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
    "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
)
# Names distinctive enough to count without 族 in a label (蒙古, 朝鲜, 俄罗斯 also name countries).
_BARE_IN_LABELS = ("维吾尔", "哈萨克", "柯尔克孜", "鄂温克", "鄂伦春", "达斡尔", "塔吉克", "乌孜别克", "塔塔尔", "傈僳", "景颇",
                   "纳西", "拉祜", "仫佬", "仡佬", "毛南", "裕固", "赫哲", "珞巴", "门巴", "基诺", "德昂", "布依", "独龙", "土家")
_NOT_GROUPS = ("水族馆", "水族箱", "本土族")

# The 34 province-level divisions: full name and the short form used in names of organisations.
PROVINCES = (
    "北京市", "天津市", "上海市", "重庆市", "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省", "江苏省", "浙江省", "安徽省",
    "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省",
    "甘肃省", "青海省", "台湾省", "内蒙古自治区", "广西壮族自治区", "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区",
    "香港特别行政区", "澳门特别行政区",
)
_PROVINCE_SHORT = {re.sub(r"(壮族|回族|维吾尔)?(自治区|特别行政区|省|市)$", "", p): p for p in PROVINCES}
_PROVINCE_FORMS = sorted([(p, p) for p in PROVINCES] + list(_PROVINCE_SHORT.items()), key=lambda kv: -len(kv[0]))

LEVELS = ("province", "prefecture", "county")
LEVEL_CLASS = {"province": "class:Province", "prefecture": "class:Prefecture", "county": "class:County", "city": "class:City"}


# -- region strings -> places -------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """One place named by a region string: its administrative units, top down, and what was left.

    ``units`` are ``(level, name)`` pairs; level is ``province``, ``prefecture``, ``county``, or
    ``city`` for an X市 written directly under its province with nothing below (the string does not
    say whether it is a prefecture-level or a county-level city; ``resolve_places`` settles it when
    another region string of the KB does).
    """

    units: tuple[tuple[str, str], ...] = ()
    rest: str = ""  # text after the last unit that is not an administrative unit (an organisation)

    @property
    def complete(self) -> bool:
        """The whole string was administrative units."""
        return bool(self.units) and not self.rest

    def level(self, level: str) -> str:
        return next((name for lv, name in self.units if lv == level), "")


_SEPARATORS = re.compile(r"[、，,;；/|]+")
_SPACE = re.compile(r"\s+")
# Suffixes of sub-provincial units, longest first; 州 alone only in a full parse (广州潘高寿… is not a place).
_SUFFIXES = (("自治州", "prefecture"), ("地区", "prefecture"), ("盟", "prefecture"), ("州", "prefecture?"),
             ("自治县", "county"), ("自治旗", "county"), ("县", "county"), ("旗", "county"), ("区", "county"), ("市", "city"))


def _unit_kind(text: str) -> str | None:
    """The kind of an administrative unit name by its suffix, or None."""
    if len(text) < 2:
        return None
    for suffix, kind in _SUFFIXES:
        if text.endswith(suffix):
            return kind
    return None


def _names_no_place(units: tuple[tuple[str, str], ...]) -> bool:
    """The first unit is only group names + 自治…: 藏族自治州, the tail of 海南藏族自治州 misread as 海南 + …"""
    name = units[0][1] if units else ""
    match = re.search(r"自治(?:州|县|旗)$", name)
    return bool(match) and not _peel_groups(name[: match.start()])[1]


def _segmentations(text: str) -> list[list[tuple[str, str]]]:
    """Every split of ``text`` into one or two unit strings (prefecture then county), in the order
    shortest-first-unit first; each unit is ``(kind, name)``."""
    out = []
    for i in range(2, len(text) + 1):
        first = _unit_kind(text[:i])
        if first is None or (first == "prefecture?" and text[i : i + 1] == "市"):
            continue  # 苏州|市 is never a cut
        if i == len(text):
            out.append([(first, text)])
            continue
        second = _unit_kind(text[i:])
        if second is not None and second != "prefecture?":
            out.append([(first, text[:i]), (second, text[i:])])
    return out


def _levels(units: list[tuple[str, str]], under_municipality: bool) -> list[tuple[str, str]] | None:
    """Assign levels to one or two units, or None when the order is impossible (a county above anything)."""
    kinds = [kind.rstrip("?") for kind, _ in units]
    names = [name for _, name in units]
    if len(units) == 1:
        kind = kinds[0]
        if kind == "city":
            kind = "county" if under_municipality else "city"
        return [(kind, names[0])]
    first, second = kinds
    if first == "county" or second == "prefecture":
        return None
    return [("prefecture", names[0]), ("county", names[1])]


def parse_region(region: str) -> list[Place]:
    """The places a region string names, e.g. ``贵州省黔东南苗族侗族自治州雷山县`` →
    province 贵州省 / prefecture 黔东南苗族侗族自治州 / county 雷山县.

    Several places separated by 、，; share the context of the one before (``贵州省雷山县、台江县``:
    台江县 is in 贵州省 too). A part that is not wholly administrative units (``贵州省黔剧团``,
    ``北京月盛斋清真食品有限公司``) keeps only its province, with the rest in ``Place.rest``:
    units are never guessed out of an organisation's name.
    """
    places: list[Place] = []
    context: tuple[tuple[str, str], ...] = ()
    for part in _SEPARATORS.split(_SPACE.sub("", region or "")):
        if not part:
            continue
        place = _parse_part(part)
        if place.units and place.units[0][0] != "province" and context:
            # inherit the units above this one from the previous place
            top = LEVELS.index(place.units[0][0]) if place.units[0][0] in LEVELS else 2
            inherited = tuple(u for u in context if u[0] in LEVELS and LEVELS.index(u[0]) < top)
            place = Place(inherited + place.units, place.rest)
        if place.units or place.rest:
            places.append(place)
        if place.units:
            context = place.units
    return places


def _parse_part(text: str) -> Place:
    if text.startswith("中国") and any(text[2:].startswith(form) for form, _ in _PROVINCE_FORMS):
        text = text[2:]
    for form, full in _PROVINCE_FORMS:
        if not text.startswith(form):
            continue
        after = text[len(form):]
        if form != full and after[:1] in ("市", "县", "区", "州"):
            continue  # 吉林市 is a city of 吉林省, not the province
        units = _sub_units(after, full.endswith("市"))
        if units is not None and not (form != full and _names_no_place(units)):
            return Place((("province", full),) + units)
        if form != full and _sub_units(text, False) is not None:
            break  # 海南藏族自治州 is a prefecture of 青海省, not 海南 + something
        return Place((("province", full),), after)
    units = _sub_units(text, False)
    return Place(units) if units is not None else Place((), text)


def _sub_units(text: str, under_municipality: bool) -> tuple[tuple[str, str], ...] | None:
    """The units below the province that make up all of ``text`` (empty for no text), or None."""
    if not text:
        return ()
    for candidate in _segmentations(text):
        levels = _levels(candidate, under_municipality)
        if levels is not None:
            return tuple(levels)
    return None


# -- ethnic groups --------------------------------------------------------------------------------------

_GROUP_NAMES = sorted(ETHNIC_GROUPS, key=len, reverse=True)
_EXPLICIT = re.compile("|".join(_GROUP_NAMES))
_BARE = re.compile("|".join(sorted(_BARE_IN_LABELS, key=len, reverse=True)))


def _explicit_groups(text: str, *, bare: bool = False) -> list[str]:
    for word in _NOT_GROUPS:
        text = text.replace(word, "")
    found = set(_EXPLICIT.findall(text))
    if bare:
        found |= {name + "族" for name in _BARE.findall(text)}
    return sorted(found, key=ETHNIC_GROUPS.index)


def _peel_groups(head: str) -> tuple[list[str], str]:
    """Group names at the end of an autonomous area's name, and the place name before them:
    海西蒙古族藏族 → ([藏族, 蒙古族], 海西); 鄂伦春 → ([鄂伦春族], "") (the 族 may be left out there)."""
    found = []
    while head:
        for name in _GROUP_NAMES:
            form = next((f for f in (name, name[:-1]) if len(f) >= 2 and head.endswith(f)), None)
            if form:
                found.append(name)
                head = head[: -len(form)]
                break
        else:
            break
    return found, head


def autonomous_groups(places: list[Place]) -> list[str]:
    """Titular groups of the innermost autonomous prefecture, county or banner of each place
    (黔东南苗族侗族自治州 → 苗族, 侗族). The five provincial autonomous regions are left out: a
    project of 广西 or 新疆 is not thereby 壮族 or 维吾尔族."""
    found = set()
    for place in places:
        for level, name in reversed(place.units):
            match = re.search(r"自治(?:州|县|旗)$", name) if level != "province" else None
            if match:
                found.update(_peel_groups(name[: match.start()])[0])
                break
    return sorted(found, key=ETHNIC_GROUPS.index)


def ethnic_groups(entity: Entity, places: list[Place] | None = None) -> list[str]:
    """The ethnic groups an entity belongs to: those its label or aliases name (苗族刺绣, 摔跤（彝族摔跤）),
    else the titular groups of the autonomous areas of its region, else those its description names."""
    names = " ".join([entity.label, *entity.aliases])
    places = parse_region(entity.region) if places is None else places
    return _explicit_groups(names, bare=True) or autonomous_groups(places) or _explicit_groups(entity.description)


def category_name(category: str) -> str:
    """The national-list category a category string means (old names and punctuation variants
    included), or the string itself when it is not one of the ten."""
    key = re.sub(r"[^\u3400-\u9fff]", "", category)
    for name in CATEGORIES:
        if key == re.sub(r"[^\u3400-\u9fff]", "", name):
            return name
    return CATEGORY_SYNONYMS.get(key, category.strip())


# -- the graph ------------------------------------------------------------------------------------------

Term = Union[str, "Literal"]


@dataclass(frozen=True, order=True)
class Literal:
    value: str


@dataclass(frozen=True, order=True)
class Triple:
    s: str
    p: str
    o: Term

    def to_dict(self) -> dict:
        return {"s": self.s, "p": self.p, "o": {"value": self.o.value} if isinstance(self.o, Literal) else self.o}

    @classmethod
    def from_dict(cls, data: dict) -> Triple:
        s, p, o = data.get("s"), data.get("p"), data.get("o")
        if isinstance(o, dict) and isinstance(o.get("value"), str) and set(o) == {"value"}:
            o = Literal(o["value"])
        if not (isinstance(s, str) and isinstance(p, str) and isinstance(o, (str, Literal))):
            raise ValueError("a triple needs string 's' and 'p' and an 'o' that is a string or {\"value\": string}")
        return cls(s, p, o)


_UNSAFE = re.compile(r"[^0-9A-Za-z\-._~\u00a1-\U0010ffff]|[\u2028\u2029\ufff0-\uffff\s]")


def _escape(name: str) -> str:
    """A name as the local part of a CURIE/IRI: ASCII punctuation, spaces and controls percent-encoded,
    every other character (CJK included) kept, so the IRI stays readable."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), name)


def node(kind: str, *names: str) -> str:
    """The CURIE of a node: ``node("place", "贵州省", "雷山县")`` → ``place:贵州省/雷山县``."""
    return f"{kind}:" + "/".join(_escape(n) for n in names)


ONTOLOGY_CLASSES = {
    "class:Entity": "intangible cultural heritage entity (a KB row)",
    "class:Category": "category of the national list",
    "class:EthnicGroup": "ethnic group",
    "class:Place": "administrative place",
    "class:Province": "province-level division (省, 自治区, 直辖市, 特别行政区)",
    "class:Prefecture": "prefecture-level division (市, 自治州, 地区, 盟)",
    "class:County": "county-level division (县, 自治县, 旗, 区, county-level 市)",
    "class:City": "city written directly under its province, level not stated",
}
PROPERTIES = {  # name: (domain, range, meaning)
    "category": ("class:Entity", "class:Category", "the entity's category"),
    "ethnic_group": ("class:Entity", "class:EthnicGroup", "a group the entity belongs to"),
    "located_in": ("class:Entity", "class:Place", "the most specific place of the entity's region"),
    "part_of": ("class:Place", "class:Place", "the place one level up"),
    "variant_of": ("class:Entity", "class:Entity", "the base entity of a qualified label"),
}


@dataclass
class KnowledgeGraph:
    """The triples plus the per-entity facts candidate generation and the site use."""

    triples: list[Triple]
    categories: dict[str, str] = field(default_factory=dict)  # entity id -> category node
    groups: dict[str, list[str]] = field(default_factory=dict)  # entity id -> ethnic group nodes
    places: dict[str, list[str]] = field(default_factory=dict)  # entity id -> place nodes (most specific)
    variant_of: dict[str, str] = field(default_factory=dict)  # entity id -> base entity id
    parent: dict[str, str] = field(default_factory=dict)  # place node -> place node one level up
    names: dict[str, str] = field(default_factory=dict)  # node -> its label
    kinds: dict[str, str] = field(default_factory=dict)  # place node -> class
    regions: dict[str, int] = field(default_factory=dict)  # region strings: complete / partial / none / empty

    def ancestors(self, place: str) -> list[str]:
        """The place and every place above it, most specific first."""
        out = [place]
        while out[-1] in self.parent:
            out.append(self.parent[out[-1]])
        return out

    def facts(self, entity_id: str) -> set[str]:
        """Nodes the entity is linked to: category, groups, places and their ancestors."""
        out = set(self.groups.get(entity_id, ()))
        if entity_id in self.categories:
            out.add(self.categories[entity_id])
        for place in self.places.get(entity_id, ()):
            out.update(self.ancestors(place))
        return out

    def summary(self) -> dict:
        predicates = Counter(t.p for t in self.triples)
        kinds = Counter(self.kinds.values())
        return {
            "triples": len(self.triples),
            "entities": len({t.s for t in self.triples if t.p == "rdf:type" and t.o == "class:Entity"}),
            "with_national_category": sum(1 for c in self.categories.values() if self.names.get(c) in CATEGORIES),
            "with_ethnic_group": len(self.groups),
            "with_place": len(self.places),
            "variant_of": predicates["property:variant_of"],
            "places": {k.split(":")[1].lower(): kinds[k] for k in sorted(kinds)},
            "regions": dict(self.regions),
        }


def resolve_places(parsed: dict[str, list[Place]]) -> dict[str, list[Place]]:
    """Complete short region strings from the others of the KB: a county written directly under its
    province (江苏省溧水区) goes under the prefecture other strings name for it, when they name
    exactly one; an X市 with nothing below becomes a county when seen as one, a prefecture when seen
    with counties below it; a place without province gets the one its prefecture is seen under."""
    above: dict[tuple[str, str], set[tuple]] = defaultdict(set)  # (province, county) -> prefecture units
    prefectures: set[tuple[str, str]] = set()  # (province, prefecture) with something below
    province_of: dict[str, set[str]] = defaultdict(set)  # prefecture -> provinces
    for places in parsed.values():
        for place in places:
            if not place.complete:
                continue
            province, prefecture, county = (place.level(lv) for lv in LEVELS)
            if prefecture and county:
                above[(province, county)].add(prefecture)
                prefectures.add((province, prefecture))
            if province and prefecture:
                province_of[prefecture].add(province)

    def resolve(place: Place) -> Place:
        if not place.complete:
            return place
        units = list(place.units)
        levels = [lv for lv, _ in units]
        province = place.level("province")
        if levels == ["province", "city"]:
            name = units[1][1]
            if len(above.get((province, name), ())) == 1:
                units = [units[0], ("prefecture", next(iter(above[(province, name)]))), ("county", name)]
            elif (province, name) in prefectures:
                units = [units[0], ("prefecture", name)]
        elif levels == ["province", "county"] and len(above.get((province, units[1][1]), ())) == 1:
            units = [units[0], ("prefecture", next(iter(above[(province, units[1][1])]))), units[1]]
        if units[0][0] != "province":
            prefecture = next((n for lv, n in units if lv == "prefecture"), "")
            if prefecture and len(province_of.get(prefecture, ())) == 1:
                units = [("province", next(iter(province_of[prefecture])))] + units
        return Place(tuple(units), place.rest)

    return {key: [resolve(p) for p in places] for key, places in parsed.items()}


def build_graph(kb: list[Entity]) -> KnowledgeGraph:
    """The knowledge graph of a KB (deterministic: sorted triples, no dependence on KB order)."""
    triples: set[Triple] = set()
    graph = KnowledgeGraph(triples=[])

    def add(s: str, p: str, o: Term) -> None:
        triples.add(Triple(s, p, o))

    def named(n: str, cls: str, label: str) -> str:
        add(n, "rdf:type", cls)
        add(n, "rdfs:label", Literal(label))
        graph.names[n] = label
        return n

    # ontology
    for cls, meaning in ONTOLOGY_CLASSES.items():
        add(cls, "rdf:type", "rdfs:Class")
        add(cls, "rdfs:label", Literal(cls.split(":")[1]))
        add(cls, "rdfs:comment", Literal(meaning))
    for cls in ("class:Province", "class:Prefecture", "class:County", "class:City"):
        add(cls, "rdfs:subClassOf", "class:Place")
    for name, (domain, range_, meaning) in PROPERTIES.items():
        prop = f"property:{name}"
        add(prop, "rdf:type", "rdf:Property")
        add(prop, "rdfs:label", Literal(name))
        add(prop, "rdfs:comment", Literal(meaning))
        add(prop, "rdfs:domain", domain)
        add(prop, "rdfs:range", range_)
    for name in CATEGORIES:
        named(node("category", name), "class:Category", name)
    for name in ETHNIC_GROUPS:
        named(node("ethnic_group", name), "class:EthnicGroup", name)
    for name in PROVINCES:
        named(node("place", name), "class:Province", name)

    # places
    regions = Counter()
    parsed = {}
    for e in kb:
        places = parse_region(e.region)
        parsed[e.id] = places
        regions["empty" if not e.region.strip() else "complete" if places and all(p.complete for p in places)
                else "partial" if any(p.units for p in places) else "unparsed"] += 1
    graph.regions = {k: regions[k] for k in ("complete", "partial", "unparsed", "empty")}
    parsed = resolve_places(parsed)
    for e in kb:
        located = []
        for place in parsed[e.id]:
            path: list[str] = []
            parent = None
            for level, name in place.units:
                path.append(name)
                n = named(node("place", *path), LEVEL_CLASS[level], name)
                graph.kinds[n] = LEVEL_CLASS[level]
                if parent:
                    add(n, "property:part_of", parent)
                    graph.parent[n] = parent
                parent = n
            if parent and parent not in located:
                located.append(parent)
        for n in located:
            add(entity_node(e.id), "property:located_in", n)
        if located:
            graph.places[e.id] = located

    # entities
    by_label = {e.label: e.id for e in kb}
    alias_owners: dict[str, set[str]] = defaultdict(set)
    for e in kb:
        for alias in e.aliases:
            alias_owners[alias].add(e.id)
    for e in sorted(kb, key=lambda e: e.id):
        s = entity_node(e.id)
        add(s, "rdf:type", "class:Entity")
        add(s, "rdfs:label", Literal(e.label))
        graph.names[s] = e.label
        for alias in e.aliases:
            add(s, "skos:altLabel", Literal(alias))
        if e.category.strip():
            c = named(node("category", category_name(e.category)), "class:Category", category_name(e.category))
            add(s, "property:category", c)
            graph.categories[e.id] = c
        groups = [node("ethnic_group", g) for g in ethnic_groups(e, parsed[e.id])]
        for g in groups:
            add(s, "property:ethnic_group", g)
        if groups:
            graph.groups[e.id] = groups
        base = base_name(e.label)
        if base != e.label:
            owners = {by_label[base]} if base in by_label else alias_owners.get(base, set())
            if len(owners) == 1 and next(iter(owners)) != e.id:
                graph.variant_of[e.id] = next(iter(owners))
                add(s, "property:variant_of", entity_node(graph.variant_of[e.id]))
    graph.triples = sorted(triples, key=_triple_key)
    return graph


def entity_node(entity_id: str) -> str:
    return node("entity", entity_id)


def _triple_key(t: Triple) -> tuple:
    return (t.s, t.p, isinstance(t.o, Literal), t.o.value if isinstance(t.o, Literal) else t.o)


# -- files ----------------------------------------------------------------------------------------------


def expand(curie: str) -> str:
    """The full IRI of a CURIE: ``entity:E1`` → ``urn:emmel:entity:E1``, ``rdfs:label`` → the RDFS IRI."""
    prefix, _, local = curie.partition(":")
    if prefix in STANDARD_PREFIXES:
        return STANDARD_PREFIXES[prefix] + local
    if prefix in EMMEL_PREFIXES:
        return NAMESPACE + curie
    raise ValueError(f"unknown prefix in {curie!r}")


def to_rdflib(triples: Iterable[Triple]):
    """An ``rdflib.Graph`` of the triples, with every prefix bound."""
    import rdflib

    g = rdflib.Graph(bind_namespaces="none")
    for prefix in EMMEL_PREFIXES:
        g.bind(prefix, rdflib.Namespace(NAMESPACE + prefix + ":"))
    for prefix, iri in STANDARD_PREFIXES.items():
        g.bind(prefix, rdflib.Namespace(iri))
    for t in triples:
        o = rdflib.Literal(t.o.value) if isinstance(t.o, Literal) else rdflib.URIRef(expand(t.o))
        g.add((rdflib.URIRef(expand(t.s)), rdflib.URIRef(expand(t.p)), o))
    return g


def turtle(triples: list[Triple]) -> bytes:
    """RDF Turtle of the triples, byte-identical for the same triples."""
    data = to_rdflib(triples).serialize(format="turtle", encoding="utf-8")
    header = (f"# emmel knowledge graph: {len(triples)} triples; emmel prefixes expand under <{NAMESPACE}>.\n"
              "# The same triples as kg/triples.jsonl (docs/FORMAT.md).\n").encode()
    return header + data


def write_graph(graph: KnowledgeGraph, folder: str | Path) -> None:
    """``kg/triples.jsonl`` and ``kg/kg.ttl`` under a dataset folder."""
    folder = Path(folder)
    atomic_write_bytes(folder / TRIPLES_FILE, "".join(dumps(t.to_dict()) + "\n" for t in graph.triples).encode("utf-8"))
    atomic_write_bytes(folder / TURTLE_FILE, turtle(graph.triples))


def read_triples(path: str | Path) -> list[Triple]:
    """The triples of a ``kg/triples.jsonl``; a bad line is an error naming the file and line."""
    out = []
    for number, obj, problem in iter_jsonl_lines(path):
        if problem:
            raise EmmelError(problem.split(": ", 1)[1], path=path, record=f"line {number}")
        try:
            out.append(Triple.from_dict(obj))
        except ValueError as exc:
            raise EmmelError(str(exc), path=path, record=f"line {number}") from None
    return out
