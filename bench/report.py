"""Time to render the post-mortem of a 10-minute drill (target: under 5 s).

The run is synthetic (tests/synthetic.py): its telemetry sits in a real Prometheus TSDB written by
promtool, so the timing includes starting a replay Prometheus on the run's data, every range query,
the analysis, and writing index.html, report.md and summary.json.

    .venv/bin/python bench/report.py [--minutes 10] [--rps 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# the repository first: the test-data generator lives in tests/, and bench/service.py is not `service`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports.build import analyse, gather
from reports.writer import write_report
from tests.synthetic import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rps", type=int, default=20)
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crashlab-bench-") as tmp:
        t = time.perf_counter()
        truth = synthesize(Path(tmp), minutes=args.minutes, rps=args.rps, crashes=args.crashes)
        print(
            f"synthesised a {args.minutes:g}-minute run at {args.rps} req/s "
            f"in {time.perf_counter() - t:.2f} s"
        )
        for n in range(args.repeat):
            t0 = time.perf_counter()
            inputs = gather(truth.run.path)
            t1 = time.perf_counter()
            report = analyse(inputs)
            t2 = time.perf_counter()
            written = write_report(report, truth.run.report)
            t3 = time.perf_counter()
            size = written.html.stat().st_size
            print(
                f"render {n + 1}: total {t3 - t0:.2f} s (sources incl. replay Prometheus {t1 - t0:.2f} s, "
                f"analysis {t2 - t1:.2f} s, html+md+json {t3 - t2:.2f} s); index.html {size / 1e6:.2f} MB; "
                f"verdict {report.verdict}, {report.impact.requests_total} requests, "
                f"{report.impact.crashes} crashes"
            )


if __name__ == "__main__":
    main()
