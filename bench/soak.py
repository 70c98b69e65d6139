"""Crash soak: hundreds of SIGKILLs while lines are written and the API double fails.

The long variant of ``tests/e2e/test_crash.py`` (same driver). Prints lines
written, lost (must be 0) and duplicated alerts (bounded by one batch per kill
or lost answer), kills and faults.

    python bench/soak.py              # 200 kills
    python bench/soak.py --kills 50 --seed 7
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.mock_api import MockAlertsApi
from tests.e2e.harness import APP_KEY, TOKEN
from tests.e2e.test_crash import MAX_ALERTS, crash_run


def main() -> int:
    """Run the soak and print its figures; exit 1 if a line was lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=400, help="lines per second")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bpa-soak-"))
    started = time.monotonic()
    try:
        with MockAlertsApi(tokens=[TOKEN], app_keys=[APP_KEY], record_bodies=False) as api:
            result = crash_run(work, api, kills=args.kills, seed=args.seed,
                               lines_per_s=args.rate, max_wait_s=300)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bound = MAX_ALERTS * (result.kills + result.lost_answers)
    print(f"kills:          {result.kills}")
    print(f"faults armed:   {result.faults} ({result.lost_answers} lost answers)")
    print(f"lines written:  {result.written:,}")
    print(f"lost:           {len(result.missing)}")
    print(f"duplicated:     {result.duplicates:,} (bound {bound:,}: one batch per kill or "
          "lost answer)")
    print(f"elapsed:        {time.monotonic() - started:.1f} s")
    return 1 if result.missing or result.duplicates > bound else 0


if __name__ == "__main__":
    sys.exit(main())
