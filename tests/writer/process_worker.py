"""A client process for the writer-process tests: records events into a trail through its
writer process and prints one JSON line per acknowledged event (or per handed-over batch)."""

from __future__ import annotations

import os
import sys
import threading
import time

import orjson

import tradetrail


def main() -> None:
    home, name, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "ack"
    trail = tradetrail.open(home, writer="process")
    out = sys.stdout
    lock = threading.Lock()

    def work(thread: int) -> None:
        receipts = []
        for i in range(count):
            receipts.append(
                trail.record(
                    "order.accepted",
                    {"status": "accepted"},
                    order_id=f"{name}-{thread}-{i}",
                    account=name,
                )
            )
            if mode == "slow" and i % 50 == 0:
                time.sleep(0.001)
        if mode == "handover":  # handed over, not waiting for the writer
            while trail.stats()["client"]["outbox"]:
                time.sleep(0.001)
            return
        for r in receipts:
            seq = r.wait(60)
            with lock:
                out.write(orjson.dumps({"id": r.event_id, "seq": seq}).decode() + "\n")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.flush()
    if mode == "handover":
        out.write("handed-over\n")
        out.flush()
        time.sleep(60)  # the test kills us with SIGKILL
    stats = trail.stats()
    trail.close()
    print(orjson.dumps({"pid": os.getpid(), "stats": stats["client"]}).decode(), flush=True)


if __name__ == "__main__":
    main()
