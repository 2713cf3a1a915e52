"""``layer emulator`` / ``python -m emulator``: run the fake Turbopuffer in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from emulator.churn import parse_spec
from emulator.server import EmulatorServer


def _bulk_spec(text: str) -> tuple[str, int]:
    name, sep, count = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=COUNT, got {text!r}")
    try:
        n = int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"COUNT must be an integer in {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"COUNT must be >= 0 in {text!r}")
    return name, n


def _churn_spec(text: str) -> tuple[float, str]:
    try:
        return parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fraction(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8701, help="port (0 picks a free one)")
    parser.add_argument(
        "--api-key", default=None, help="require this bearer key (else any key works)"
    )
    parser.add_argument("--demo", action="store_true", help="generate the demo namespaces")
    parser.add_argument("--seed", type=int, default=0, help="seed for --demo and --bulk data")
    parser.add_argument(
        "--index-lag-ms", type=int, default=2000, help="how long a write stays unindexed"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every response")
    parser.add_argument(
        "--fail-rate", type=_fraction, default=0.0, help="fraction of requests failed with 500/429"
    )
    parser.add_argument(
        "--bulk",
        type=_bulk_spec,
        action="append",
        default=[],
        metavar="NAME=COUNT",
        help="add a generated namespace of COUNT documents (repeatable)",
    )
    parser.add_argument(
        "--many",
        type=_bulk_spec,
        action="append",
        default=[],
        metavar="PREFIX=COUNT",
        help="add COUNT idle namespaces PREFIX00000, PREFIX00001, ... of 1-5 documents, "
        "kept compact until touched (repeatable; a million take about 100 MB)",
    )
    parser.add_argument(
        "--churn",
        type=_churn_spec,
        default=None,
        metavar="RATE[:PREFIX]",
        help="upsert into RATE random namespaces per second (those starting with PREFIX); "
        "change it at run time with POST /_emulator/churn",
    )


def run(args: argparse.Namespace) -> int:
    server = EmulatorServer(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        demo=args.demo,
        seed=args.seed,
        index_lag_ms=args.index_lag_ms,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        bulk=dict(args.bulk),
        many=dict(args.many),
        churn=args.churn,
    )
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    server.start()
    previous = signal.signal(signal.SIGTERM, _on_signal)
    print(f"turbopuffer emulator listening on {server.url}", flush=True)
    for name, count in server.generated:
        print(f"  {name}: {count} documents", flush=True)
    if server.demo:
        print("  prod-firehose receives writes every second", flush=True)
    if args.churn is not None:
        rate, prefix = args.churn
        print(f"  churn: {rate:g} writes/s to namespaces under {prefix or '(any)'}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
