"""China's 56 ethnic groups and a finder for the one a title or region names."""

ETHNIC_GROUPS = (
    "蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族 "
    "佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 "
    "锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 "
    "赫哲族 门巴族 珞巴族 基诺族 汉族"
).split()
# Titles often drop the 族 (鄂温克抢枢); only stems of 2+ characters are safe to look for.
_STEMS = {name[:-1]: name for name in ETHNIC_GROUPS if len(name) >= 3}


def ethnic_group(*texts: str) -> str:
    """The first ethnic group named in ``texts`` (``鄂温克`` counts as ``鄂温克族``), else ``""``."""
    joined = " ".join(t for t in texts if t)
    best = None
    for name in ETHNIC_GROUPS:
        pos = joined.find(name)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, name)
    if best:
        return best[1]
    for stem, name in _STEMS.items():
        pos = joined.find(stem)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, name)
    return best[1] if best else ""
