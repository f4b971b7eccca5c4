"""A producer and a consumer group of redis-py clients against a running
server: every entry must be consumed and acknowledged exactly once.

Usage: python3 redis_py_workload.py PORT [ENTRIES]
"""
import sys
import threading

import redis

PORT = int(sys.argv[1])
ENTRIES = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
CONSUMERS = 4
STREAM = "py:orders"
GROUP = "workers"


def main():
    r = redis.Redis(port=PORT)
    r.delete(STREAM)
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    seen = {}
    lock = threading.Lock()
    done = threading.Event()

    def produce():
        p = r.pipeline(transaction=False)
        for i in range(ENTRIES):
            p.xadd(STREAM, {"n": i, "payload": "x" * 32})
            if len(p) >= 100:
                p.execute()
        p.execute()

    def consume(name):
        c = redis.Redis(port=PORT)
        while True:
            got = c.xreadgroup(GROUP, name, {STREAM: ">"}, count=50, block=200)
            if not got:
                if done.is_set():
                    return
                continue
            for _key, entries in got:
                ids = []
                for entry_id, fields in entries:
                    n = int(fields[b"n"])
                    with lock:
                        seen[n] = seen.get(n, 0) + 1
                    ids.append(entry_id)
                acked = c.xack(STREAM, GROUP, *ids)
                assert acked == len(ids), (acked, len(ids))

    workers = [threading.Thread(target=consume, args=(f"c{i}",)) for i in range(CONSUMERS)]
    for w in workers:
        w.start()
    produce()
    # Wait until everything was delivered, then let the consumers stop.
    while True:
        with lock:
            if len(seen) >= ENTRIES:
                break
        threading.Event().wait(0.05)
    done.set()
    for w in workers:
        w.join()
    dupes = [n for n, k in seen.items() if k != 1]
    missing = ENTRIES - len(seen)
    pending = r.xpending(STREAM, GROUP)["pending"]
    assert r.xlen(STREAM) == ENTRIES, r.xlen(STREAM)
    assert missing == 0, f"{missing} entries never consumed"
    assert not dupes, f"entries consumed more than once: {dupes[:10]}"
    assert pending == 0, f"{pending} entries still pending"
    # A transaction pipeline (MULTI/EXEC), as redis-py sends by default.
    p = r.pipeline()
    p.xadd("py:tx", {"a": 1}).xlen("py:tx")
    _, n = p.execute()
    assert n == 1, n
    print(f"redis-py workload: {ENTRIES} entries, {CONSUMERS} consumers, each consumed and acked once")


if __name__ == "__main__":
    main()
