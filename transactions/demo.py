"""Demo data for `seed_demo`: Ghanaian names and mobile-money-like amounts, generated lazily and
repeatably from a seed, so any number of rows costs the memory of one batch."""

import bisect
import datetime as dt
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from fido.dates import start_of_day

from .models import TransactionType
from .rules import MAX_AMOUNT

# Akan day names, Ga, Ewe, Fante, Dagbani and Hausa names, and the church names common across Ghana.
MALE_NAMES = (  # noqa: SIM905  (a word list reads best as words)
    "Kwame Kofi Kwaku Yaw Kwabena Kojo Kwasi Kwadwo Akwasi Kobina Ekow Fiifi Kweku Nii Kpakpo Tetteh Selorm "
    "Elikem Edem Mawuli Senyo Delali Dela Yao Komla Kodzo Fuseini Alhassan Abdul-Rahman Issah Mohammed "
    "Ibrahim Yakubu Sulemana Emmanuel Joseph Samuel Daniel Isaac Ebenezer Prince Richard Michael Eric Bernard "
    "Francis Godfred Collins"
).split()
FEMALE_NAMES = (  # noqa: SIM905
    "Akosua Adwoa Abena Akua Yaa Afua Ama Efua Esi Araba Adjoa Naa Korkor Dede Adoley Shika Dzifa Enyonam "
    "Sena Makafui Elorm Mawusi Selasi Kafui Mariam Zainab Amina Fatima Ramatu Hawa Abigail Grace Priscilla "
    "Gifty Comfort Patience Mercy Joyce Vida Linda Rita Joana Dorcas Felicia Theodora Benedicta Serwaa Maame"
).split()
SURNAMES = (  # noqa: SIM905
    "Mensah Owusu Boateng Asante Osei Addo Appiah Agyemang Amoah Ansah Darko Frimpong Gyamfi Kuffour "
    "Acheampong Adjei Amponsah Asamoah Bonsu Danso Ofori Opoku Sarpong Tetteh Quaye Lamptey Quartey Nkrumah "
    "Annan Aidoo Yeboah Kyei Ababio Agbeko Dogbe Kpodo Awuah Baidoo Eshun Quansah Arthur Tagoe Abubakar "
    "Iddrisu Mahama Seidu Yakubu Tanko Amankwah Antwi Asiedu Badu Dankwa Fosu Gyasi Nyarko Obeng Oppong "
    "Sackey Wiredu Agyei Kumi Nti Ampofo Adomako Akoto Bekoe Ocran Ankrah Aryee Nortey Laryea Odoi Armah "
    "Kwarteng Amenyo Gbeku Ahiable Fiagbe Atsu Kudjo Zakari Alidu Sumani Osman Bawa Dery Kpeli Ziblim"
).split()

DEFAULT_DAYS = 365
CREDIT_SHARE = 0.4
# Hours of the day (Accra runs on UTC) weighted towards the working day and the evening.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 10, 11, 10, 10, 9, 9, 9, 10, 9, 7, 5, 3, 2]
ROUND_AMOUNTS = [Decimal(v) for v in ("5", "10", "20", "50", "100", "200", "500", "1000")]
MIN_AMOUNT = Decimal("1.00")
CAP = Decimal("250000.00")
CENT = Decimal("0.01")


def demo_name(rng: random.Random) -> str:
    """A first name and a surname, sometimes two first names (Ama Serwaa Mensah style)."""
    given = rng.choice((MALE_NAMES, FEMALE_NAMES))
    first = rng.choice(given)
    if rng.random() < 0.12:
        second = rng.choice(given)
        if second != first:
            first = f"{first} {second}"
    return f"{first} {rng.choice(SURNAMES)}"


def _amount(rng: random.Random, *, credit: bool, wealth: float) -> Decimal:
    """Mobile-money-like amounts in cedis: airtime and market debits, transfers and salaries as credits."""
    if not credit and rng.random() < 0.2:
        return rng.choice(ROUND_AMOUNTS[:4])
    median = (320.0 if credit else 85.0) * wealth
    if credit and rng.random() < 0.08:
        median = 3500.0 * wealth  # a salary or a business payment
    value = Decimal(str(round(math.exp(rng.gauss(math.log(median), 0.9)), 2)))
    if rng.random() < 0.45:
        value = value.quantize(Decimal(1)) if value < 100 else (value / 10).quantize(Decimal(1)) * 10
    return min(max(value, MIN_AMOUNT), CAP, MAX_AMOUNT).quantize(CENT)


class UserIds(Sequence[int]):
    """The ids of the ranges given, in order, as one sequence: the n-th new user's id costs a bisect, not a list."""

    def __init__(self, ranges: Iterable[range]):
        self.ranges = [block for block in ranges if block]
        self.starts = list(itertools.accumulate((len(block) for block in self.ranges), initial=0))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> int:  # type: ignore[override]  (no slices needed)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        block = bisect.bisect_right(self.starts, index) - 1
        return self.ranges[block][index - self.starts[block]]


def demo_rows(
    *, user_ids: Sequence[int], transactions: int, end_date: dt.date, days: int, seed: int | None
) -> Iterator[dict]:
    """`transactions` rows over the users `user_ids` (each at least one), dated in the `days` whole days
    before `end_date`. The same arguments and seed give the same rows, in the same order."""
    users = len(user_ids)
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    names = [demo_name(rng) for _ in range(users)]
    # A few busy users and many quiet ones, as in real payment data.
    weights = [rng.paretovariate(1.3) for _ in range(users)]
    wealth = [math.exp(rng.gauss(0, 0.6)) for _ in range(users)]
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    start = start_of_day(end_date - dt.timedelta(days=days))
    hours = range(24)
    for index in range(transactions):
        # Everyone once, then by weight.
        user = index if index < users else rng.choices(range(users), cum_weights=cumulative)[0]
        credit = rng.random() < CREDIT_SHARE
        when = start + dt.timedelta(
            days=rng.randrange(days),
            hours=rng.choices(hours, weights=HOUR_WEIGHTS)[0],
            seconds=rng.randrange(3600),
        )
        yield {
            "user_id": user_ids[user],
            "full_name": names[user],
            "transaction_date": when,
            "transaction_amount": _amount(rng, credit=credit, wealth=wealth[user]),
            "transaction_type": TransactionType.CREDIT if credit else TransactionType.DEBIT,
        }
