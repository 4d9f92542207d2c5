#!/usr/bin/env python3
"""HTTP clients for scripts/fault_injection.sh (standard library only).

  ingest URL TAG ACKS --first N [--threads T] [--seconds S] [--stop-on-error]
      posts batches of 500 events (ids TAG-bBATCH-eK, deterministic per batch) from T threads;
      each acknowledged batch (HTTP 200) is appended to ACKS as "batch inserted duplicates", every
      other outcome to ACKS.failed as "batch status-or-error body". Stops after S seconds, after
      connection errors for 2 s in a row (the server is gone), or (--stop-on-error) at the first
      non-200, printing that response's status, headers and body.
  resend URL TAG ACKS [--expect-duplicates]
      re-posts every batch listed in ACKS and prints how many came back inserted / duplicate;
      with --expect-duplicates exits 1 unless every event is a duplicate.
  probe URL TAG FAILED
      re-posts batches that failed (no acknowledgement) and sorts them into stored whole,
      stored not at all, and partly stored (a broken all-or-nothing guarantee).
  count-sqlite DB TAG     events of TAG in an embedded store (read-only)
  load URL LOG --seconds S [--threads T]
      a mixed load (user recommendations, similar, popular, session POST, event batches of 10)
      plus a /health/ready poll every 0.25 s; every response (or connection error) is a JSON line
      {t, kind, status, code, retry_after, ms, error} in LOG.
  analyze-outage LOG TIMELINE
      reads the load log and the outage timeline (stop_begin, stop_done, start_begin, start_done as
      epoch seconds) and checks the guarantees of a store outage (exit 1 on a broken one).
"""
import argparse
import http.client
import json
import os
import random
import sqlite3
import sys
import threading
import time
import urllib.parse

BATCH = 500
TYPES = ["view", "view", "view", "click", "add_to_cart", "purchase"]


def batch_events(tag, no, users=300, items=500, size=BATCH):
    rng = random.Random(f"{tag}-{no}")
    return [
        {
            "event_id": f"{tag}-b{no}-e{k}",
            "user_id": f"u{rng.randint(1, users)}",
            "item_id": f"i{rng.randint(1, items)}",
            "type": rng.choice(TYPES),
        }
        for k in range(size)
    ]


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, url, timeout=40):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        """(status, headers dict, body bytes); raises OSError/HTTPException on a connection error."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            res = self.conn.getresponse()
            payload = res.read()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, payload
        except Exception:
            self.conn.close()
            self.conn = None
            raise


def cmd_ingest(a):
    lock = threading.Lock()
    state = {"next": a.first, "stop": False, "last_ok": time.time(), "errors_since": None}
    deadline = time.time() + a.seconds
    acks = open(a.acks, "a")
    failed = open(a.acks + ".failed", "a")
    counts = {"acked": 0, "failed": 0}

    def worker():
        c = Client(a.url)
        while True:
            with lock:
                if state["stop"] or time.time() > deadline:
                    return
                no = state["next"]
                state["next"] += 1
            try:
                status, headers, body = c.request("POST", "/v1/events", batch_events(a.tag, no))
            except Exception as e:  # connection refused / reset / timeout: no acknowledgement
                with lock:
                    failed.write(f"{no} error {type(e).__name__}: {e}\n")
                    failed.flush()
                    counts["failed"] += 1
                    now = time.time()
                    state["errors_since"] = state["errors_since"] or now
                    if now - state["errors_since"] > 2:
                        state["stop"] = True
                time.sleep(0.2)
                continue
            with lock:
                state["errors_since"] = None
                if status == 200:
                    d = json.loads(body)
                    acks.write(f"{no} {d['inserted']} {d['duplicates']}\n")
                    acks.flush()
                    counts["acked"] += 1
                else:
                    failed.write(f"{no} {status} {body[:300].decode(errors='replace')}\n")
                    failed.flush()
                    counts["failed"] += 1
                    if a.stop_on_error:
                        state["stop"] = True
                        print(f"first refusal: batch {no}: HTTP {status}")
                        print(f"  retry-after: {headers.get('retry-after')}  content-type: {headers.get('content-type')}")
                        print(f"  body: {body[:400].decode(errors='replace')}")
                        return

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"acknowledged batches {counts['acked']} ({counts['acked'] * BATCH} events), "
          f"not acknowledged {counts['failed']}, next batch {state['next']}")


def read_batches(path):
    if not os.path.exists(path):
        return []
    return sorted({int(line.split()[0]) for line in open(path) if line.strip()})


def cmd_resend(a):
    c = Client(a.url)
    inserted = dups = batches = 0
    bad = []
    for no in read_batches(a.acks):
        status, _, body = c.request("POST", "/v1/events", batch_events(a.tag, no))
        if status != 200:
            bad.append((no, status, body[:200]))
            continue
        d = json.loads(body)
        inserted += d["inserted"]
        dups += d["duplicates"]
        batches += 1
        if d["inserted"]:
            bad.append((no, "inserted", d["inserted"]))
    print(f"re-sent {batches} batches: inserted {inserted}, duplicates {dups}")
    if a.expect_duplicates and bad:
        for b in bad[:10]:
            print("  NOT a duplicate:", b)
        print(f"  {len(bad)} acknowledged batches were not (wholly) stored")
        sys.exit(1)


def cmd_probe(a):
    c = Client(a.url)
    whole = none = partly = 0
    probed = []
    for no in read_batches(a.failed):
        status, _, body = c.request("POST", "/v1/events", batch_events(a.tag, no))
        if status != 200:
            print(f"  probe of batch {no}: HTTP {status} {body[:200]}")
            continue
        d = json.loads(body)
        probed.append(no)
        if d["duplicates"] == BATCH:
            whole += 1
        elif d["inserted"] == BATCH:
            none += 1
        else:
            partly += 1
            print(f"  batch {no} was partly stored: {d['duplicates']} of {BATCH}")
    print(f"unacknowledged batches: {len(probed)}: stored whole {whole}, not stored {none}, partly {partly}")
    if a.acks:  # they are acknowledged now
        with open(a.acks, "a") as f:
            for no in probed:
                f.write(f"{no} probe probe\n")
        open(a.failed, "w").close()
    if partly:
        sys.exit(1)


def cmd_count_sqlite(a):
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    (n,) = db.execute("SELECT count(*) FROM events WHERE event_id LIKE ?", (a.tag + "-%",)).fetchone()
    print(n)


def cmd_load(a):
    out = open(a.log, "w")
    lock = threading.Lock()
    deadline = time.time() + a.seconds
    tag = f"load{int(time.time())}"
    seq = [0]

    def log(kind, t0, status=None, headers=None, body=b"", error=None):
        rec = {"t": round(t0, 3), "kind": kind, "status": status, "ms": round((time.time() - t0) * 1000, 1)}
        if error:
            rec["error"] = error
        if headers is not None:
            rec["retry_after"] = headers.get("retry-after")
            if status != 200:
                try:
                    rec["code"] = json.loads(body).get("code")
                except Exception:
                    rec["code"] = "NOT-JSON: " + body[:80].decode(errors="replace")
        with lock:
            out.write(json.dumps(rec) + "\n")

    def worker(n):
        rng = random.Random(n)
        c = Client(a.url)
        while time.time() < deadline:
            r = rng.random()
            if r < 0.35:
                kind, method, path, body = "recs", "GET", f"/v1/users/u{rng.randint(1, 300)}/recommendations?n=10", None
            elif r < 0.5:
                kind, method, path, body = "similar", "GET", f"/v1/items/i{rng.randint(1, 500)}/similar?n=10", None
            elif r < 0.6:
                kind, method, path, body = "popular", "GET", "/v1/popular?n=10", None
            elif r < 0.75:
                kind, method, path = "session", "POST", "/v1/recommendations"
                body = {"session_items": [f"i{rng.randint(1, 500)}" for _ in range(3)], "n": 10}
            else:
                with lock:
                    seq[0] += 1
                    no = seq[0]
                kind, method, path = "events", "POST", "/v1/events"
                body = batch_events(tag, no, size=10)
            t0 = time.time()
            try:
                status, headers, payload = c.request(method, path, body)
                log(kind, t0, status, headers, payload)
            except Exception as e:
                log(kind, t0, error=f"{type(e).__name__}: {e}")
                time.sleep(0.05)

    def ready():
        c = Client(a.url)
        while time.time() < deadline:
            t0 = time.time()
            try:
                status, headers, payload = c.request("GET", "/health/ready")
                log("ready", t0, status, headers, payload)
            except Exception as e:
                log("ready", t0, error=f"{type(e).__name__}: {e}")
            time.sleep(0.25)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(a.threads)]
    threads.append(threading.Thread(target=ready))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cmd_analyze_outage(a):
    tl = dict(line.split() for line in open(a.timeline) if line.strip())
    tl = {k: float(v) for k, v in tl.items()}
    recs = [json.loads(line) for line in open(a.log)]
    down, up = tl["stop_begin"], tl["start_done"]

    def phase(t):
        return "before" if t < down else ("outage" if t < up else "after")

    table = {}
    for r in recs:
        key = (phase(r["t"]), r["kind"])
        label = str(r["status"]) if r["status"] is not None else "conn-error"
        table.setdefault(key, {}).setdefault(label, 0)
        table[key][label] += 1
    print(f"  PostgreSQL stopped {tl['stop_done'] - tl['stop_begin']:.1f} s after the stop began, "
          f"down {tl['start_begin'] - tl['stop_done']:.1f} s, back {tl['start_done'] - tl['start_begin']:.1f} s after the start began")
    for ph in ("before", "outage", "after"):
        parts = []
        for kind in ("recs", "similar", "popular", "session", "events", "ready"):
            c = table.get((ph, kind), {})
            parts.append(f"{kind} " + ",".join(f"{s}:{n}" for s, n in sorted(c.items())))
        print(f"  {ph:7s} " + " | ".join(parts))
    broken = []
    for r in recs:
        if r["status"] is None:
            broken.append(f"connection error ({phase(r['t'])}, {r['kind']}): {r.get('error')}")
        elif r["status"] == 503:
            if r.get("retry_after") is None:
                broken.append(f"503 without Retry-After ({r['kind']})")
            if r.get("code") != "store_unavailable":
                broken.append(f"503 with code {r.get('code')!r} ({r['kind']})")
        elif r["status"] != 200:
            broken.append(f"HTTP {r['status']} code {r.get('code')!r} ({phase(r['t'])}, {r['kind']})")
    outage = [r for r in recs if down <= r["t"] < up]
    ev_out = [r for r in outage if r["kind"] == "events"]
    if ev_out and all(r["status"] == 200 for r in ev_out):
        broken.append("every event batch answered 200 while PostgreSQL was down")
    rd_out = [r for r in outage if r["kind"] == "ready" and r["t"] > tl["stop_done"] + 0.5]
    if not rd_out or any(r["status"] != 503 for r in rd_out):
        broken.append("/health/ready did not answer 503 throughout the outage: "
                      + ",".join(sorted({str(r['status']) for r in rd_out})))
    o503 = [r["ms"] for r in outage if r["status"] == 503]
    if o503:
        o503.sort()
        print(f"  503 latency during the outage: p50 {o503[len(o503) // 2]:.0f} ms, max {o503[-1]:.0f} ms")
    after = sorted((r for r in recs if r["t"] >= up), key=lambda r: r["t"])
    bad_after = [r for r in after if r["status"] != 200]
    last_bad = max((r["t"] + r["ms"] / 1000 for r in bad_after), default=up)
    first_ok = {k: min((r["t"] - up for r in after if r["kind"] == k and r["status"] == 200), default=None)
                for k in ("events", "recs", "ready")}
    print("  after PostgreSQL was back: first 200 after " + ", ".join(
        f"{k} {v:.2f} s" if v is not None else f"{k} never" for k, v in first_ok.items()))
    print(f"  last non-200 {last_bad - up:.2f} s after PostgreSQL was back; "
          f"{len([r for r in after if r['t'] > last_bad])} responses after it, all 200")
    end = max(r["t"] for r in recs)
    if end - last_bad < 5:
        broken.append(f"no recovery: non-200 answers until {end - last_bad:.1f} s before the end of the load")
    reasons = {}
    for b in broken:
        reasons[b] = reasons.get(b, 0) + 1
    for b, n in reasons.items():
        print(f"  BROKEN x{n}: {b}")
    sys.exit(1 if broken else 0)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ingest")
    s.add_argument("url"); s.add_argument("tag"); s.add_argument("acks")
    s.add_argument("--first", type=int, default=1); s.add_argument("--threads", type=int, default=3)
    s.add_argument("--seconds", type=float, default=3600); s.add_argument("--stop-on-error", action="store_true")
    s = sub.add_parser("resend")
    s.add_argument("url"); s.add_argument("tag"); s.add_argument("acks")
    s.add_argument("--expect-duplicates", action="store_true")
    s = sub.add_parser("probe")
    s.add_argument("url"); s.add_argument("tag"); s.add_argument("failed"); s.add_argument("--acks")
    s = sub.add_parser("count-sqlite")
    s.add_argument("db"); s.add_argument("tag")
    s = sub.add_parser("load")
    s.add_argument("url"); s.add_argument("log"); s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--threads", type=int, default=4)
    s = sub.add_parser("analyze-outage")
    s.add_argument("log"); s.add_argument("timeline")
    a = p.parse_args()
    {"ingest": cmd_ingest, "resend": cmd_resend, "probe": cmd_probe, "count-sqlite": cmd_count_sqlite,
     "load": cmd_load, "analyze-outage": cmd_analyze_outage}[a.cmd](a)


if __name__ == "__main__":
    main()
