"""Fetch rate against the local replay server: rate-limit use, 429s, and records/s end to end.

    .venv/bin/python benchmarks/fetch_rate.py [--records 20000] [--limit 10] [--batch-size 200]

Prints figures; it is not a test. The server runs in its own process and serves a PubMed
query of --records records (real recorded articles renumbered). Part 1: the server enforces
--limit requests/s (HTTP 429 beyond it, burst 2) and the client is set to the same limit: the
achieved request rate as a fraction of the limit (target >= 0.9) and the 429s (target 0), at
the given batch size and at a small one where fetching, not storing, is the bottleneck.
Part 2 lifts both limits: records/s for fetch + parse + store (no extraction).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from replay_server import ReplayProcess  # noqa: E402

from evidex import db as store  # noqa: E402
from evidex.fetch import fetch_query  # noqa: E402
from evidex.sources import PubMedSource  # noqa: E402


def run(records: int, server_limit: float | None, client_limit: float, batch_size: int) -> dict:
    args = ["--scale", str(records)]
    if server_limit:
        args += ["--rate-limit", str(server_limit), "--burst", "2"]
    with ReplayProcess(*args) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(server.env())
        os.environ["EVIDEX_RATE_DIR"] = tmp
        source = PubMedSource(rate=client_limit, email="bench@example.org")
        db = store.open_db(Path(tmp) / "bench.db")
        started = time.monotonic()
        result = fetch_query(db, source, "benchmark", everything=True, batch_size=batch_size)
        elapsed = time.monotonic() - started
        retries = source.http.stats["retries"]
        source.close()
        stats = server.stats()
        times = sorted(stats["times"])
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "status": result.status, "stored": result.stored, "documents": db["documents"].count,
            "windows": result.windows, "requests": len(times), "span": span, "elapsed": elapsed,
            "rate": (len(times) - 1) / span if span else 0.0,
            "429s": stats["stats"].get("rate_limited", 0), "retries": retries,
        }


def report_limited(records: int, limit: float, batch_size: int) -> None:
    r = run(records, limit, limit, batch_size)
    print(f"rate-limited: {records} records, batch {batch_size}, limit {limit:g} req/s enforced by the server")
    print(f"  status {r['status']}, stored {r['stored']}, documents {r['documents']}, windows {r['windows']}, "
          f"{r['elapsed']:.1f} s")
    print(f"  {r['requests']} requests in {r['span']:.1f} s = {r['rate']:.2f} req/s = "
          f"{r['rate'] / limit:.3f} of the limit (target >= 0.9); 429s {r['429s']} (target 0), "
          f"client retries {r['retries']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--limit", type=float, default=10.0, help="requests/s, server and client")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--small-batch", type=int, default=40,
                        help="a batch size at which fetching, not storing, bounds the run")
    args = parser.parse_args()
    report_limited(args.records, args.limit, args.batch_size)
    if args.small_batch:
        report_limited(args.records, args.limit, args.small_batch)
    free = run(args.records, None, 10000.0, args.batch_size)
    print(f"unlimited: {free['stored']} records stored in {free['elapsed']:.1f} s = "
          f"{free['stored'] / free['elapsed']:.0f} records/s end to end (fetch + parse + store, "
          f"no extraction; {free['requests']} requests, batch {args.batch_size})")


if __name__ == "__main__":
    main()
