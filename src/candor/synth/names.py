"""Names: persons' from Faker's zh_CN name lists, organisations' in the registered-name pattern.

A registered enterprise name reads place + brand + line of business + legal form
(荣成市鑫博水产有限公司). Brands come from Faker's zh_CN company prefixes, or are two characters
drawn from them, so that twenty thousand names do not all repeat a few dozen brands. Names are
drawn with numpy from Faker's own tables: a Faker call per person costs about 60 µs, which at
a million persons would be the whole time budget.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from faker.providers.company.zh_CN import Provider as CompanyProvider
from faker.providers.person.zh_CN import Provider as PersonProvider

from candor.synth.identifiers import ENTERPRISE, SOLE_TRADER
from candor.synth.places import CITY_COUNTIES, CITY_PREFIX

Strings = npt.NDArray[np.str_]

# Lines of business of a fishing and food-processing coast, and Faker's own (科技, 网络, …).
INDUSTRIES: tuple[str, ...] = (
    "水产",
    "海洋食品",
    "渔业",
    "海带加工",
    "食品",
    "商贸",
    "贸易",
    "物流",
    "建筑工程",
    "机械制造",
    "轮胎",
    "船舶修造",
    "房地产开发",
    "装饰工程",
    "餐饮管理",
    "旅游开发",
    "汽车销售",
    "电子",
    "科技",
    "网络",
    "信息",
    "传媒",
)
# Limited companies (有限公司 / 有限责任公司) far outnumber companies limited by shares.
LEGAL_FORMS: tuple[tuple[str, float], ...] = (
    ("有限公司", 0.70),
    ("有限责任公司", 0.22),
    ("股份有限公司", 0.08),
)
SOLE_TRADER_TRADES: tuple[str, ...] = (
    "海鲜饭店",
    "超市",
    "五金店",
    "水产经营部",
    "汽修厂",
    "便利店",
)
COOPERATIVE_LINES: tuple[str, ...] = ("渔业", "海带养殖", "果蔬", "花生种植", "海参养殖")
# Enterprises from elsewhere in the province carry its short name; others no place word.
PROVINCE_SHORT = {"37": "山东"}


# Some of Faker's prefixes end in a line of business; the name adds its own.
TRADE_ENDINGS = ("计算机", "电子", "科技", "信息", "软件", "数字", "电脑", "国际公司", "公司")


def _clean_prefixes() -> list[str]:
    """Faker's company prefixes as bare brands: trade endings cut, Latin ones left out."""
    brands: set[str] = set()
    for prefix in CompanyProvider.company_prefixes:
        brand = prefix
        for ending in TRADE_ENDINGS:
            brand = brand.removesuffix(ending)
        if len(brand) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in brand):
            brands.add(brand)
    return sorted(brands)


def person_names(rng: np.random.Generator, male: npt.NDArray[np.bool_]) -> Strings:
    """Surname (by Faker's frequency weights) and a given name matching the sex."""
    surname, given = person_name_parts(rng, male)
    return np.char.add(surname, given)


def person_name_parts(
    rng: np.random.Generator, male: npt.NDArray[np.bool_]
) -> tuple[Strings, Strings]:
    """``person_names`` as its surnames and given names (the same draws, in the same order)."""
    n = len(male)
    surnames = np.array(list(PersonProvider.last_names.keys()))
    weights = np.array(list(PersonProvider.last_names.values()), dtype=np.float64)
    surname = rng.choice(surnames, size=n, p=weights / weights.sum())
    men = np.array(PersonProvider.first_names_male)
    women = np.array(PersonProvider.first_names_female)
    given = np.where(
        male,
        rng.choice(men, size=n),
        rng.choice(women, size=n),
    )
    return surname, given


def _brands(rng: np.random.Generator, n: int) -> Strings:
    prefixes = _clean_prefixes()
    characters = sorted({ch for p in prefixes for ch in p})
    composed = np.char.add(rng.choice(np.array(characters), n), rng.choice(np.array(characters), n))
    return np.where(rng.random(n) < 0.4, rng.choice(np.array(prefixes), n), composed)


def _place(region: Strings) -> Strings:
    """The place word a name starts with: the county for city enterprises, else 山东 or none."""
    county = {code: name for code, name, _ in CITY_COUNTIES}
    out = []
    for code in region.tolist():
        if code[:4] == CITY_PREFIX:
            out.append(county[code])
        else:
            out.append(PROVINCE_SHORT.get(code[:2], ""))
    return np.array(out)


def organisation_names(
    rng: np.random.Generator, region: Strings, entity_type: Strings
) -> list[str]:
    """Registered names, unique: a repeated one gets a new brand until none repeats."""
    n = len(region)
    place = _place(region)
    forms = np.array([f for f, _ in LEGAL_FORMS])
    form_weights = np.array([w for _, w in LEGAL_FORMS])

    def draw(k: int, where: npt.NDArray[np.bool_]) -> Strings:
        brand = _brands(rng, k)
        company = np.char.add(
            np.char.add(brand, rng.choice(np.array(INDUSTRIES), k)),
            rng.choice(forms, k, p=form_weights),
        )
        trader = np.char.add(brand, rng.choice(np.array(SOLE_TRADER_TRADES), k))
        cooperative = np.char.add(
            np.char.add(brand, rng.choice(np.array(COOPERATIVE_LINES), k)), "专业合作社"
        )
        kind = entity_type[where]
        body = np.where(
            kind == ENTERPRISE,
            company,
            np.where(kind == SOLE_TRADER, trader, cooperative),
        )
        return np.char.add(place[where], body)

    # Lists, not numpy arrays: a fixed-width array would truncate a longer replacement name.
    names: list[str] = draw(n, np.ones(n, dtype=bool)).tolist()
    while True:
        seen: set[str] = set()
        repeat = np.zeros(n, dtype=bool)
        for i, name in enumerate(names):
            repeat[i] = name in seen
            seen.add(name)
        if not repeat.any():
            return names
        redrawn = draw(int(repeat.sum()), repeat).tolist()
        for at, name in zip(np.flatnonzero(repeat).tolist(), redrawn, strict=True):
            names[at] = name
