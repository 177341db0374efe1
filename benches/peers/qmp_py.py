"""One measured run of Python's qemu.qmp client, for benches/client.rs.

    python qmp_py.py SOCKET REQUESTS IN_FLIGHT

Connects (qemu.qmp enables `oob` when QEMU offers it, as every contender does), then sends
`query-status` REQUESTS times with IN_FLIGHT coroutines sharing the one client (1 means
strictly sequential). Prints one JSON line: the request count, the wall time of the load
and this process's CPU time (user + sys, getrusage) over it. Connecting and negotiating
are outside both clocks.
"""

import asyncio
import json
import resource
import sys
import time

from qemu.qmp import QMPClient


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(socket: str, requests: int, in_flight: int) -> None:
    client = QMPClient("bench")
    await client.connect(socket)

    async def worker(share: int) -> None:
        for _ in range(share):
            status = await client.execute("query-status")
            assert status["running"], status

    # Spread the requests evenly; the first workers take the remainder.
    shares = [requests // in_flight + (1 if w < requests % in_flight else 0)
              for w in range(in_flight)]
    started = time.perf_counter()
    cpu_before = cpu_seconds()
    await asyncio.gather(*(worker(share) for share in shares))
    secs = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before

    await client.disconnect()
    print(json.dumps({"requests": requests, "secs": secs, "cpu_secs": cpu}))


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: qmp_py.py SOCKET REQUESTS IN_FLIGHT")
    socket, requests, in_flight = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    asyncio.run(run(socket, requests, max(in_flight, 1)))


if __name__ == "__main__":
    main()
