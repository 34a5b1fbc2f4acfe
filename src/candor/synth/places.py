"""Where the synthetic jurisdiction is: Rongcheng, a county-level city of Weihai, Shandong.

Rongcheng runs the best-known personal credit points scheme, which candor's sample rulebooks
follow, so the demo is set there. Most residents' identity numbers carry a Weihai region code;
the rest were registered elsewhere in Shandong or in other provinces and moved in, which gives
regional breakdowns something to show. Region codes come from Faker's list of real county
codes; addresses are built from Faker's street names and Rongcheng's real sub-districts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from faker import Faker
from faker.providers.ssn.zh_CN import Provider as SsnProvider

from candor.domain.regions import PROVINCES

Strings = npt.NDArray[np.str_]

PROVINCE = "山东省"
PROVINCE_PREFIX = "37"
CITY = "威海市"
CITY_PREFIX = "3710"
HOME_REGION = "371082"  # 荣成市

# Weihai's county-level divisions: region code, name, share of the city's residents.
CITY_COUNTIES: tuple[tuple[str, str, float], ...] = (
    ("371082", "荣成市", 0.80),
    ("371002", "环翠区", 0.08),
    ("371003", "文登区", 0.07),
    ("371083", "乳山市", 0.05),
)
# Rongcheng's sub-districts and towns, for residents' addresses.
HOME_SUBDISTRICTS: tuple[str, ...] = (
    "崖头街道",
    "城西街道",
    "宁津街道",
    "港湾街道",
    "桃园街道",
    "东山街道",
    "斥山街道",
    "寻山街道",
    "王连街道",
    "俚岛镇",
    "成山镇",
    "埠柳镇",
    "港西镇",
    "夏庄镇",
)

# Where persons' identity numbers were issued: the city, the rest of the province, elsewhere.
PERSON_ORIGIN_SHARES = (0.70, 0.12, 0.18)
# Enterprises register where they operate: mostly in the city.
ORGANISATION_ORIGIN_SHARES = (0.85, 0.07, 0.08)
# Share of those registered outside the city who now live in it (the rest live elsewhere).
MOVED_IN_SHARE = 0.7
STREET_POOL = 400
PLACE_POOL = 200
# Provinces that are cities themselves: no city name between province and district.
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


def county_codes() -> tuple[list[str], list[str]]:
    """Real county-level region codes outside the city: (rest of the province, other provinces).

    Only mainland provinces: Hong Kong, Macao and Taiwan residents hold other documents.
    """
    codes = [
        code
        for code in SsnProvider.area_codes
        if code[4:] != "00" and code[:2] in PROVINCES and code[:2] < "70"
    ]
    province = sorted(c for c in codes if c[:2] == PROVINCE_PREFIX and c[:4] != CITY_PREFIX)
    other = sorted(c for c in codes if c[:2] != PROVINCE_PREFIX)
    return province, other


def region_codes(rng: np.random.Generator, n: int, shares: tuple[float, float, float]) -> Strings:
    """Draw ``n`` six-digit region codes: city counties by population, others evenly."""
    province, other = county_codes()
    origin = rng.choice(3, size=n, p=shares)
    city_codes = np.array([c for c, _, _ in CITY_COUNTIES])
    city_weights = np.array([w for _, _, w in CITY_COUNTIES])
    out = np.empty(n, dtype="<U6")
    at_home, in_province, outside = origin == 0, origin == 1, origin == 2
    out[at_home] = rng.choice(city_codes, size=int(at_home.sum()), p=city_weights)
    out[in_province] = rng.choice(np.array(province), size=int(in_province.sum()))
    out[outside] = rng.choice(np.array(other), size=int(outside.sum()))
    return out


@dataclass(frozen=True)
class AddressBook:
    """Pools of street, city and district names drawn once from Faker."""

    streets: Strings
    cities: Strings
    districts: Strings

    @classmethod
    def draw(cls, fake: Faker) -> AddressBook:
        # Sorted sets: the pools must not depend on anything but Faker's seeded draws.
        streets = sorted({fake.street_name() for _ in range(STREET_POOL)})
        cities = sorted({fake.city_name() for _ in range(PLACE_POOL)})
        districts = sorted({fake.district() for _ in range(PLACE_POOL)})
        return cls(np.array(streets), np.array(cities), np.array(districts))

    def addresses(self, rng: np.random.Generator, region: Strings, *, dwellings: bool) -> list[str]:
        """An address for each subject, in the city unless registered outside and not moved in.

        Args:
            region: each subject's region code (where it was registered).
            dwellings: add building, unit and flat numbers (homes, not business premises).
        """
        n = len(region)
        registered_here = np.char.startswith(region, CITY_PREFIX)
        frame = pl.DataFrame(
            {
                "region": region,
                "in_city": registered_here | (rng.random(n) < MOVED_IN_SHARE),
                # Those living in the city live in their registered county, or in Rongcheng.
                "county": np.where(registered_here, region, HOME_REGION),
                "subdistrict": rng.choice(np.array(HOME_SUBDISTRICTS), size=n),
                "city": rng.choice(self.cities, size=n),
                "district": rng.choice(self.districts, size=n),
                "street": rng.choice(self.streets, size=n),
                "number": rng.integers(1, 400, size=n),
                "building": rng.integers(1, 30, size=n),
                "unit": rng.integers(1, 7, size=n),
                "flat": rng.integers(1, 19, size=n) * 100 + rng.integers(1, 5, size=n),
            }
        )
        county = pl.col("county")
        home = pl.concat_str(
            pl.lit(PROVINCE + CITY),
            county.replace_strict({c: name for c, name, _ in CITY_COUNTIES}),
            pl.when(county == HOME_REGION).then(pl.col("subdistrict")).otherwise(pl.lit("")),
        )
        province = pl.col("region").str.slice(0, 2)
        # Elsewhere: in the province the identifier was issued in.
        away = pl.concat_str(
            province.replace_strict(PROVINCES),
            pl.when(province.is_in(sorted(MUNICIPALITIES)))
            .then(pl.lit(""))
            .otherwise(pl.col("city") + "市"),
            pl.col("district"),
            pl.lit("区"),
        )
        place = pl.when(pl.col("in_city")).then(home).otherwise(away)
        line = pl.format("{}{}{}号", place, pl.col("street"), pl.col("number"))
        if dwellings:
            line = pl.format("{}{}号楼{}单元{}室", line, "building", "unit", "flat")
        return frame.select(line).to_series().to_list()
