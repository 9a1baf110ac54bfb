"""The knowledge graph behind the KB: region parser, ethnic groups, variant_of, files, RDF round trip."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emmel.candidates import CandidateIndex, select_candidates
from emmel.io import stable_id
from emmel.kg import (
    CATEGORIES,
    ETHNIC_GROUPS,
    TRIPLES_FILE,
    TURTLE_FILE,
    build_graph,
    category_name,
    ethnic_groups,
    expand,
    node,
    parse_region,
    read_triples,
    to_rdflib,
    write_graph,
)
from emmel.schema import Entity
from tests.dataset_factory import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def units(region: str) -> list[list[tuple[str, str]]]:
    return [list(place.units) for place in parse_region(region)]


def E(label: str, category: str = "", region: str = "", aliases=(), description: str = "") -> Entity:
    return Entity(id=stable_id("E", label), label=label, category=category, region=region, aliases=list(aliases), description=description)


def test_fixed_vocabularies():
    assert len(CATEGORIES) == 10 and len(set(ETHNIC_GROUPS)) == 56


@pytest.mark.parametrize("region, expected", [
    ("贵州省黔东南苗族侗族自治州雷山县", [[("province", "贵州省"), ("prefecture", "黔东南苗族侗族自治州"), ("county", "雷山县")]]),
    # 市 inside a district name, 州 inside a city name
    ("山东省济南市市中区", [[("province", "山东省"), ("prefecture", "济南市"), ("county", "市中区")]]),
    ("湖北省荆州市沙市区", [[("province", "湖北省"), ("prefecture", "荆州市"), ("county", "沙市区")]]),
    ("江苏省苏州市吴中区", [[("province", "江苏省"), ("prefecture", "苏州市"), ("county", "吴中区")]]),
    ("北京市通州区", [[("province", "北京市"), ("county", "通州区")]]),
    ("山西省晋城市城区", [[("province", "山西省"), ("prefecture", "晋城市"), ("county", "城区")]]),
    # a county-level city under a prefecture-level one; a county-level city under an autonomous prefecture
    ("云南省保山市腾冲市", [[("province", "云南省"), ("prefecture", "保山市"), ("county", "腾冲市")]]),
    ("湖北省恩施土家族苗族自治州利川市", [[("province", "湖北省"), ("prefecture", "恩施土家族苗族自治州"), ("county", "利川市")]]),
    ("黑龙江省大兴安岭地区", [[("province", "黑龙江省"), ("prefecture", "大兴安岭地区")]]),
    ("内蒙古自治区锡林郭勒盟正蓝旗", [[("province", "内蒙古自治区"), ("prefecture", "锡林郭勒盟"), ("county", "正蓝旗")]]),
    ("内蒙古自治区鄂伦春自治旗", [[("province", "内蒙古自治区"), ("county", "鄂伦春自治旗")]]),
    ("香港特别行政区", [[("province", "香港特别行政区")]]),
    # an X市 directly under its province: the string does not say its level
    ("山东省聊城市", [[("province", "山东省"), ("city", "聊城市")]]),
    # no province written; 海南藏族自治州 is in 青海, not 海南 + 藏族自治州; 吉林市 is not 吉林省
    ("海南藏族自治州", [[("prefecture", "海南藏族自治州")]]),
    ("吉林市", [[("city", "吉林市")]]),
    # organisations keep only their province, units are never guessed out of a name
    ("北京月盛斋清真食品有限公司", [[("province", "北京市")]]),
    ("广东省广州潘高寿药业股份有限公司", [[("province", "广东省")]]),
    ("云南省玉溪市滇剧团", [[("province", "云南省")]]),
    ("中国艺术研究院", [[]]),
    ("中国北京同仁堂（集团）有限责任公司", [[("province", "北京市")]]),
    # several places, the later ones in the context of the first; spaces and full-width commas
    ("贵州省黔东南苗族侗族自治州雷山县、台江县", [
        [("province", "贵州省"), ("prefecture", "黔东南苗族侗族自治州"), ("county", "雷山县")],
        [("province", "贵州省"), ("prefecture", "黔东南苗族侗族自治州"), ("county", "台江县")]]),
    (" 内蒙古自治区 ，辽宁省阜新市 ", [[("province", "内蒙古自治区")], [("province", "辽宁省"), ("city", "阜新市")]]),
    ("", []),
])
def test_region_parser_on_tricky_strings(region, expected):
    assert units(region) == expected


def test_partial_parse_keeps_the_rest():
    [place] = parse_region("贵州省黔剧团")
    assert place.units == (("province", "贵州省"),) and place.rest == "黔剧团" and not place.complete
    assert all(p.complete for p in parse_region("贵州省雷山县"))


def test_region_parser_on_the_real_national_list(capsys):
    rows = list(csv.DictReader((ROOT / "data" / "ihchina_national_list.csv").open(encoding="utf-8-sig")))
    regions = [r["region"].strip() for r in rows]
    unique = sorted(set(regions))
    full = {r for r in unique if parse_region(r) and all(p.complete for p in parse_region(r))}
    rows_full = sum(1 for r in regions if r in full)
    with capsys.disabled():
        print(f"\nnational list regions parsed fully: {len(full)}/{len(unique)} distinct strings, {rows_full}/{len(regions)} rows")
    # what is not parsed fully is an organisation (剧团, 公司, 学会, 研究院, …), never an administrative string
    for region in set(unique) - full:
        assert not any(region.strip().endswith(s) for s in ("县", "旗", "区", "自治州")), region
    assert rows_full / len(regions) > 0.9


def test_short_strings_resolved_from_the_rest_of_the_kb():
    kb = [E("甲", region="江苏省南京市溧水区"), E("乙", region="江苏省溧水区"), E("丙", region="湖北省荆州市松滋市"),
          E("丁", region="湖北省松滋市"), E("戊", region="山东省聊城市东昌府区"), E("己", region="山东省聊城市"),
          E("庚", region="黔东南苗族侗族自治州雷山县"), E("辛", region="贵州省黔东南苗族侗族自治州台江县")]
    graph = build_graph(kb)
    located = {e.label: graph.places[e.id] for e in kb}
    assert located["乙"] == [node("place", "江苏省", "南京市", "溧水区")]
    assert located["丁"] == [node("place", "湖北省", "荆州市", "松滋市")]
    assert located["己"] == [node("place", "山东省", "聊城市")] and graph.kinds[located["己"][0]] == "class:Prefecture"
    assert located["庚"] == [node("place", "贵州省", "黔东南苗族侗族自治州", "雷山县")]
    assert graph.ancestors(located["庚"][0]) == [node("place", *p) for p in (
        ("贵州省", "黔东南苗族侗族自治州", "雷山县"), ("贵州省", "黔东南苗族侗族自治州"), ("贵州省",))]


@pytest.mark.parametrize("entity, groups", [
    (E("苗族刺绣", region="贵州省黔东南苗族侗族自治州雷山县"), ["苗族"]),  # the label wins over the region
    (E("侗族大歌", region="贵州省黔东南苗族侗族自治州"), ["侗族"]),
    (E("芦笙舞", region="贵州省黔东南苗族侗族自治州丹寨县"), ["苗族", "侗族"]),  # from the autonomous prefecture
    (E("摔跤（彝族摔跤）"), ["彝族"]),
    (E("萨满舞", region="内蒙古自治区鄂温克族自治旗"), ["鄂温克族"]),
    (E("桦皮船制作技艺", region="内蒙古自治区鄂伦春自治旗"), ["鄂伦春族"]),  # 族 left out in the banner's name
    (E("木卡姆", region="新疆维吾尔自治区木垒哈萨克自治县"), ["哈萨克族"]),  # innermost autonomous area
    (E("铜鼓", region="广西壮族自治区贵港市平南县"), []),  # a provincial autonomous region says nothing
    (E("长调", region="内蒙古自治区"), []),
    (E("维吾尔木卡姆艺术"), ["维吾尔族"]),  # a distinctive name without 族
    (E("花儿", description="流传于回族、撒拉族、土族等民族中"), ["回族", "土族", "撒拉族"]),  # in the official order
    (E("土家族摆手舞"), ["土家族"]),  # not 土族
    (E("海洋馆展览", description="水族馆里的鱼"), []),
])
def test_ethnic_groups(entity, groups):
    assert ethnic_groups(entity) == groups


def test_categories_map_to_the_ten():
    assert category_name("传统体育,游艺与杂技") == "传统体育、游艺与杂技"
    assert category_name("民间美术") == "传统美术" and category_name("杂技与竞技") == "传统体育、游艺与杂技"
    assert category_name("手工艺") == "手工艺"


def test_variant_of_uses_the_label_rules():
    kb = [E("春节"), E("春节(查干萨日)"), E("春节（查干萨日）x"), E("剪纸(蔚县剪纸)"), E("剪纸(扬州剪纸)"), E("萨满舞(鄂温克族萨满舞)"), E("萨满舞")]
    graph = build_graph(kb)
    ids = {e.label: e.id for e in kb}
    assert graph.variant_of[ids["春节(查干萨日)"]] == ids["春节"]
    assert graph.variant_of[ids["萨满舞(鄂温克族萨满舞)"]] == ids["萨满舞"]
    assert ids["剪纸(蔚县剪纸)"] not in graph.variant_of  # no 剪纸 entity to point at
    assert ids["春节"] not in graph.variant_of
    triples = {(t.s, t.p, t.o) for t in graph.triples}
    assert (node("entity", ids["春节(查干萨日)"]), "property:variant_of", node("entity", ids["春节"])) in triples


def hostile_kb() -> list[Entity]:
    return [
        E("春节"), E("春节(查干萨日)", "民俗", "内蒙古自治区"), E("苗族刺绣", "传统美术", "贵州省黔东南苗族侗族自治州雷山县", ["苗绣"]),
        E('a "quoted" <label> \\ with\nnewline', "odd category #1 / 2", "Paris 75001", ["x y"]),
        E("侗族大歌", "民间音乐", "贵州省黔东南苗族侗族自治州黎平县、榕江县"),
    ]


def test_rdflib_parses_the_turtle_back_to_the_jsonl_triples(tmp_path):
    import rdflib

    graph = build_graph(hostile_kb())
    write_graph(graph, tmp_path)
    triples = read_triples(tmp_path / TRIPLES_FILE)
    assert triples == graph.triples
    parsed = rdflib.Graph()
    parsed.parse(tmp_path / TURTLE_FILE, format="turtle")
    expected = set(to_rdflib(triples))
    assert set(parsed) == expected and len(expected) == len(triples)
    # the IRIs are the documented ones: urn:emmel:<prefix>:<name>, names readable (CJK kept)
    assert rdflib.URIRef("urn:emmel:place:贵州省/黔东南苗族侗族自治州/雷山县") in set(parsed.subjects())
    assert expand("property:located_in") == "urn:emmel:property:located_in"
    odd = node("category", "odd category #1 / 2")
    assert odd == "category:odd%20category%20%231%20%2F%202"
    # N-Triples (one more RDF tool path) holds the same graph
    again = rdflib.Graph().parse(data=parsed.serialize(format="nt"), format="nt")
    assert set(again) == expected


def test_graph_files_are_byte_identical_across_processes(tmp_path):
    """Same KB ⇒ same bytes, whatever the hash seed and the KB order."""
    script = (
        "import sys; from tests.test_kg import hostile_kb; from emmel.kg import build_graph, write_graph;"
        "kb = hostile_kb(); kb = kb[::-1] if sys.argv[2] == 'rev' else kb; write_graph(build_graph(kb), sys.argv[1])"
    )
    outs = []
    for seed, order in (("1", "fwd"), ("2", "rev")):
        out = tmp_path / f"kg{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(out), order], cwd=ROOT, env=env, check=True)
        outs.append(out)
    for rel in (TRIPLES_FILE, TURTLE_FILE):
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_datasets_carry_the_graph_and_check_it(tmp_path):
    from emmel.dataset import MANIFEST
    from emmel.integrity import check
    from emmel.io import read_json

    folder = make_dataset(tmp_path / "ds")
    files = read_json(folder / MANIFEST)["files"]
    assert TRIPLES_FILE in files and TURTLE_FILE in files
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Knowledge graph" in card and "urn:emmel:" in card and "knowledge-graph facts" in card
    assert check(folder) == []
    # a graph that no longer matches kb.jsonl is reported
    lines = (folder / TRIPLES_FILE).read_text(encoding="utf-8").splitlines()
    (folder / TRIPLES_FILE).write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    assert any("not the graph of kb.jsonl" in p for p in check(folder))


def test_candidates_prefer_entities_sharing_graph_facts():
    gold = E("苗族刺绣", "传统美术", "贵州省黔东南苗族侗族自治州雷山县")
    near = E("银饰锻制技艺(苗族银饰锻制技艺)", "传统技艺", "贵州省黔东南苗族侗族自治州雷山县")  # same group, same county
    far = [E(f"年画{k}", "传统美术", f"河北省{k}县") for k in "甲乙丙丁戊己庚辛壬癸"]  # same category only
    kb = [gold, near, *far]
    index = CandidateIndex(kb, build_graph(kb))
    groups = index.related(gold.id)  # by facts shared: near (group, county, prefecture, province), then the same category
    assert groups[0] == [near.id] and set(groups[-1]) == {e.id for e in far}
    assert CandidateIndex(kb).related(gold.id) == []  # without the graph (imported KBs) there is no graph tier
    for k in range(20):
        chosen = select_candidates(index, gold.id, "绣片", 4, k, f"S{k}")  # λ=4: gold + 1 similar + 1 graph + 1 random
        assert near.id in chosen
