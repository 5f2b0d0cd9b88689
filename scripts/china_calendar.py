#!/usr/bin/env python3
"""China mainland's public holidays and make-up working days (调休), from an oracle.

Writes, for the years below:
  crates/core/tests/fixtures/china_calendar.json  the oracle's answers: the holiday days
      off, the make-up working days, and whether every single day is a working day
  crates/core/src/business_time/china_data.rs     the same holidays and make-up days as
      Rust data: the default calendar the product ships with

The oracle is the `chinesecalendar` package (PyPI, https://github.com/LKI/chinese-calendar),
which transcribes the State Council's yearly notices. When the package `holidays` (PyPI,
python-holidays) is installed too, its China calendar is used as a second, independent
opinion on which days are worked, and any disagreement stops the script.

    python3 -m venv target/cc-venv
    target/cc-venv/bin/pip install chinesecalendar holidays
    target/cc-venv/bin/python scripts/china_calendar.py          # write both files
    target/cc-venv/bin/python scripts/china_calendar.py --check  # compare, write nothing

The Rust test `china_calendar_matches_the_oracle` (crates/core/tests/business_time.rs)
checks that a calendar built from the shipped data classifies every day as the oracle did.
To add a year: extend YEARS once the State Council has published it and the package has it.
"""

import datetime
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import chinese_calendar

YEARS = (2025, 2026)
ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "crates/core/tests/fixtures/china_calendar.json"
RUST = ROOT / "crates/core/src/business_time/china_data.rs"


def days_of(year):
    d = datetime.date(year, 1, 1)
    while d.year == year:
        yield d
        d += datetime.timedelta(days=1)


def oracle():
    """The holiday days off and the make-up working days, each with its holiday's name."""
    holidays, workdays = [], []
    for year in YEARS:
        for d in days_of(year):
            on_holiday, name = chinese_calendar.get_holiday_detail(d)
            in_holiday_list = d in chinese_calendar.constants.holidays
            in_workday_list = d in chinese_calendar.constants.workdays
            if in_holiday_list and in_workday_list:
                sys.exit(f"{d} is both a holiday and a make-up working day in the oracle")
            if in_holiday_list:
                holidays.append((d, chinese_calendar.constants.holidays[d]))
            if in_workday_list:
                if d.weekday() < 5:
                    sys.exit(f"{d} is a make-up working day but not a weekend day")
                workdays.append((d, chinese_calendar.constants.workdays[d]))
            # The lists must explain the oracle's own verdict, or they are not the
            # whole story and a calendar built from them would differ.
            listed = in_workday_list or (d.weekday() < 5 and not in_holiday_list)
            if listed != chinese_calendar.is_workday(d) or on_holiday == listed:
                sys.exit(f"{d}: the oracle's lists do not explain its verdict")
    return holidays, workdays


def second_opinion(verdicts):
    """Compares every day's verdict with python-holidays, when it is installed."""
    try:
        import holidays as pyholidays
    except ImportError:
        return "python-holidays not installed: no second opinion"
    cn = pyholidays.China(years=list(YEARS))
    # python-holidays lists weekday days off only; a make-up working day appears in the
    # name of the day off it pays for: "Day off (substituted from 09/20/2026)".
    made_up = set()
    for name in cn.values():
        for m in re.finditer(r"substituted from (\d\d)/(\d\d)/(\d{4})", name):
            made_up.add(datetime.date(int(m[3]), int(m[1]), int(m[2])))
    differ = []
    for d, working in verdicts:
        theirs = d in made_up or (d.weekday() < 5 and d not in cn)
        if theirs != working:
            differ.append(d)
    if differ:
        sys.exit(f"python-holidays disagrees with chinesecalendar on {differ}")
    version = metadata.version("holidays")
    return f"python-holidays {version} agrees on all {len(verdicts)} days"


def fixture_text(holidays, workdays, verdicts, source):
    months = {}
    for d, working in verdicts:
        months.setdefault(d.strftime("%Y-%m"), []).append("1" if working else "0")
    doc = {
        "source": source,
        "years": list(YEARS),
        "holidays": [{"date": d.isoformat(), "name": n} for d, n in holidays],
        "workdays": [{"date": d.isoformat(), "name": n} for d, n in workdays],
        "working_days": {
            "note": "one character per day of the month, 1 = a working day",
            **{m: "".join(v) for m, v in months.items()},
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def rust_text(holidays, workdays, source):
    def rows(entries):
        return "".join(
            f"    (({d.year}, {d.month}, {d.day}), {json.dumps(n)}),\n" for d, n in entries
        )

    return (
        f"// @generated by scripts/china_calendar.py from {source}; do not edit.\n"
        "//! China mainland's holiday days off and make-up working days (调休).\n"
        "\n"
        f"pub(super) const FIRST_YEAR: i32 = {YEARS[0]};\n"
        f"pub(super) const LAST_YEAR: i32 = {YEARS[-1]};\n"
        "\n"
        "/// Every day off of each holiday period (weekends inside it too), with the holiday.\n"
        "pub(super) const HOLIDAYS: &[((i32, u32, u32), &str)] = &[\n"
        f"{rows(holidays)}"
        "];\n"
        "\n"
        "/// The weekend days worked instead, with the holiday each one pays for.\n"
        "pub(super) const WORKDAYS: &[((i32, u32, u32), &str)] = &[\n"
        f"{rows(workdays)}"
        "];\n"
    )


def main():
    check = "--check" in sys.argv[1:]
    source = f"chinesecalendar {metadata.version('chinesecalendar')}"
    holidays, workdays = oracle()
    verdicts = [(d, chinese_calendar.is_workday(d)) for y in YEARS for d in days_of(y)]
    print(second_opinion(verdicts))
    outputs = {
        FIXTURE: fixture_text(holidays, workdays, verdicts, source),
        RUST: rust_text(holidays, workdays, source),
    }
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)}")
        sys.exit(1 if stale else 0)
    for p, text in outputs.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    off = sum(1 for _, w in verdicts if not w)
    print(
        f"{source}: {len(holidays)} holiday days off, {len(workdays)} make-up working days, "
        f"{off} of {len(verdicts)} days not worked in {YEARS[0]}-{YEARS[-1]}"
    )


if __name__ == "__main__":
    main()
