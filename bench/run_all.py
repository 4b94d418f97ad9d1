"""Every benchmark at its documented size, one after another, each in its own process
(so each gets a fresh interpreter and its own environment), appending to RESULTS.md.

    python -m bench.run_all                         # ~20-30 min on 2 cores (1M IVF build)
    python -m bench.run_all --quick                 # smaller sizes, a few minutes
    python -m bench.run_all --only api,limiter

`make bench` runs the first form.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import REPO_DIR

FULL = {
    "api": [],
    "limiter": [],
    "ingest": [],
    "retrieval": [],
    "analytics": [],
}
QUICK = {
    "api": ["--seconds", "5", "--rounds", "2"],
    "limiter": [],
    "ingest": ["--paragraphs", "400", "--docs", "5", "--pdfs", "10"],
    "retrieval": ["--sizes", "100000", "--real", "5000"],
    "analytics": ["--rows", "1000000"],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="comma-separated subset of " + ",".join(FULL))
    a = p.parse_args(argv)
    plan = QUICK if a.quick else FULL
    names = [n for n in a.only.split(",") if n] or list(plan)
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}", *plan[name]]
        print(f"\n#### {' '.join(cmd[1:])}", flush=True)
        t = time.monotonic()
        rc = subprocess.call(cmd, cwd=REPO_DIR)
        print(f"#### bench.{name} finished in {time.monotonic() - t:.0f} s (exit {rc})",
              flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
