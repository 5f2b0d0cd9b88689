#!/usr/bin/env python3
"""Oracle values for the campaign uplift intervals of forecourt_core::uplift.

Prints, for fixed data sets, the two-proportion Wald interval of the difference of
conversion rates (treated - control, unpooled) and Welch's interval of the difference
of mean spend per member, as statsmodels computes them. The numbers are pasted into the
tests of crates/core/src/uplift.rs. Needs statsmodels (`pip install statsmodels`); it is
not run by CI.
"""
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

PROPORTIONS = [
    # (treated converted, treated members, control converted, control members)
    (120, 900, 9, 100),
    (45, 300, 30, 300),
    (530, 9000, 41, 1000),
    (3, 25, 1, 20),
]

SPEND = [
    # (treated spend per member, control spend per member), fen
    ([0, 0, 1200, 3500, 0, 800, 15000, 0, 420, 0, 2600, 0],
     [0, 300, 0, 0, 1800, 0, 0, 500]),
    ([5000, 7000, 6500, 0, 0, 12000, 300, 4100],
     [4000, 0, 0, 2500, 3000, 0]),
]

for c1, n1, c2, n2 in PROPORTIONS:
    low, high = confint_proportions_2indep(c1, n1, c2, n2, method="wald", compare="diff", alpha=0.05)
    print(f"wald {c1}/{n1} vs {c2}/{n2}: diff={c1 / n1 - c2 / n2:.12f} low={low:.12f} high={high:.12f}")

for treated, control in SPEND:
    cm = CompareMeans(DescrStatsW(treated), DescrStatsW(control))
    low, high = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    diff = sum(treated) / len(treated) - sum(control) / len(control)
    print(f"welch {treated} vs {control}: diff={diff:.12f} low={low:.12f} high={high:.12f}")
