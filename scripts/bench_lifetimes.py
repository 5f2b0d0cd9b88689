#!/usr/bin/env python3
"""Time `forecourt analytics bench` and Python lifetimes on the same transactions file.

Both run the same pipeline: read the CSV, build the Fader-Hardie-Lee summary (same-day
purchases once, weeks), fit BG/NBD and Gamma-Gamma by maximum likelihood, compute per
customer the expected purchases in the next 52 weeks, P(alive) and the expected value,
and write them to a CSV file. The script prints each one's stages, parameters and total
time, then the ratio.

lifetimes is not a dependency of the project; install it into a throwaway virtual
environment and run this script with that environment's Python:

    python3 -m venv /tmp/ltvenv
    /tmp/ltvenv/bin/pip install lifetimes==0.11.3 "numpy<2" "scipy<1.12" "pandas<2"
    cargo build --release
    /tmp/ltvenv/bin/python scripts/bench_lifetimes.py --customers 1000000

Without --csv, the file is drawn by `forecourt analytics generate` (CDNOW's published
parameters, 78 weeks from 2024-01-01) and calibrated on its first 39 weeks.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time


def run_forecourt(binary, csv_path, calibration_end):
    started = time.perf_counter()
    result = subprocess.run(
        [binary, "analytics", "bench", "--csv", csv_path, "--calibration-end", calibration_end],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    print(result.stdout, end="")
    return wall


def run_lifetimes(csv_path, calibration_end, out_path):
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    stages = []
    total = time.perf_counter()
    lap = time.perf_counter()

    def done(name):
        nonlocal lap
        now = time.perf_counter()
        stages.append((name, now - lap))
        print(f"  {name:<34} {now - lap:>8.3f} s", flush=True)
        lap = now

    print(f"lifetimes pipeline on {csv_path}:")
    transactions = pd.read_csv(csv_path, dtype={"customer": str}, parse_dates=["date"])
    done(f"read CSV ({len(transactions)} rows)")
    summary = summary_data_from_transaction_data(
        transactions,
        "customer",
        "date",
        monetary_value_col="amount",
        observation_period_end=calibration_end,
        freq="D",
        freq_multiplier=7,
    )
    done(f"summary ({len(summary)} customers)")
    bgf = BetaGeoFitter()
    bgf.fit(summary["frequency"], summary["recency"], summary["T"])
    done("BG/NBD fit")
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter()
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    done("Gamma-Gamma fit")
    summary["expected_transactions"] = bgf.conditional_expected_number_of_purchases_up_to_time(
        52, summary["frequency"], summary["recency"], summary["T"]
    )
    summary["p_alive"] = bgf.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    summary["expected_average_value"] = ggf.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    )
    summary["expected_value"] = summary["expected_transactions"] * summary["expected_average_value"]
    done("predictions (52 weeks)")
    summary.to_csv(out_path)
    done("write per-customer CSV")
    elapsed = time.perf_counter() - total
    print(f"  {'total':<34} {elapsed:>8.3f} s")
    p = bgf.params_
    print(f"BG/NBD r {p['r']:.4f} alpha {p['alpha']:.4f} a {p['a']:.4f} b {p['b']:.4f}")
    g = ggf.params_
    print(f"Gamma-Gamma p {g['p']:.4f} q {g['q']:.4f} gamma {g['v']:.4f}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bin", default="target/release/forecourt", help="the forecourt binary")
    parser.add_argument("--csv", help="an existing file with columns customer,date,amount")
    parser.add_argument("--calibration-end", help="YYYY-MM-DD; needed with --csv")
    parser.add_argument("--skip-lifetimes", action="store_true", help="time forecourt only")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts")
    args = parser.parse_args()

    if not args.skip_lifetimes:
        try:
            import lifetimes  # noqa: F401
        except ImportError:
            sys.exit("lifetimes is not installed for this Python; see the instructions at the top of this script")

    workdir = tempfile.mkdtemp(prefix="forecourt-bench-lifetimes-")
    csv_path = args.csv
    calibration_end = args.calibration_end
    if csv_path is None:
        csv_path = os.path.join(workdir, f"clv-{args.customers}-{args.seed}.csv")
        subprocess.run(
            [args.bin, "analytics", "generate", "--customers", str(args.customers), "--seed", str(args.seed), "--out", csv_path],
            check=True,
        )
        calibration_end = calibration_end or "2024-09-29"
    elif calibration_end is None:
        sys.exit("--csv needs --calibration-end")

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    forecourt = []
    for _ in range(max(1, args.repeat)):
        forecourt.append(run_forecourt(args.bin, csv_path, calibration_end))
        print(f"forecourt wall clock (process start to exit): {forecourt[-1]:.3f} s\n")
    if args.skip_lifetimes:
        return
    python = []
    for _ in range(max(1, args.repeat)):
        python.append(run_lifetimes(csv_path, calibration_end, os.path.join(workdir, "lifetimes-out.csv")))
        print()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    best_python, best_forecourt = min(python), min(forecourt)
    print(
        f"fastest of {len(python)}: lifetimes {best_python:.1f} s, forecourt {best_forecourt:.2f} s "
        f"(wall clock): forecourt is {best_python / best_forecourt:.0f}x faster"
    )


if __name__ == "__main__":
    main()
