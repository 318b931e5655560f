"""How a trivial keyed running-sum Bytewax flow scales with workers, processes and batch sizes.

Run: `.venv/bin/python bench/bytewax_scaling.py [--n 200000] [--repeats 2] [--only PATTERN]`.

Every case runs the flow in fresh subprocesses with `python -m bytewax.run`, as a deployment
would, and prints one row: wall time of the whole run (spawn to last exit, so it includes
interpreter start-up and, for clusters, connecting), `flow` time (first sink partition built to
last sink partition closed), `active` time (first item to last item reaching the sinks; this
leaves out Kafka's fixed connect and end-of-partition waits), user and system CPU seconds of all
the case's processes (from `os.wait4`), items/s = N / active, and how many items crossed
workers on their way to the sink (read on one worker, summed and written on another).

The flow (see `get_flow`): input -> `map` (decode key and value, tag the item with the worker
thread that read it) -> `key_on` customer -> `stateful_map` running sum -> discard sink. The
`stateless` variant drops `key_on` + `stateful_map` (no exchange at all); `redistribute`
puts `op.redistribute` in front of a stateless map (exchange without state).

Sources: `testing` is `TestingSource(generator, batch_size=B)`: one partition, so one worker
reads. `kafkaP` is `KafkaSource(tail=False, batch_size=B)` on a topic with P partitions,
pre-filled with N messages keyed by customer (the script creates `scaling.*` topics on the
broker in `INSESSION_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092, and deletes them at the end).

Modes (`MODE_RE`): `w1` one worker; `w2` `-w 2` (two worker threads in one process); `p2` two
processes with `-i/-a` on loopback; `p2pin` the same, each process pinned to its own core with
`taskset`; `w2core0` `-w 2` with the process pinned to core 0; `p2w2`, `p4`: more workers than
cores; a suffix `s1` passes `-s 1` (1 s epochs instead of 10 s), `e<MS>` runs through `cli_main`
with an epoch interval of MS milliseconds (insession's replay uses 0, `insession run` 200).

Cases are named `source/flow/bB/mode`. The default set takes about 4 minutes on 2 cores;
`--extra` adds pinning, epoch and oversubscription cases (about 6 more minutes at 3 repeats),
`--only` keeps the cases whose name contains any of the comma-separated substrings, `--case`
adds any case by name (e.g. `--case kafka4/keyed/b5000/p2`), `--list` prints the names. The
sink checks every item arrived and the running sums add up; a failed check is printed in the
row, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CUSTOMERS = 1000
WORK_ITERATIONS = 600
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
HERE = Path(__file__).resolve()


# ----------------------------------------------------------------------------------------
# The dataflow (imported by `python -m bytewax.run bench/bytewax_scaling.py:get_flow(...)`).
# ----------------------------------------------------------------------------------------


def _amount(i: int) -> int:
    return i % 9 + 1


def _reader_tag() -> str:
    """Identity of the worker thread running the current step (pid + thread)."""
    return f"{os.getpid()}:{threading.get_ident()}"


def _work(x):
    """About 20 us of pure-Python CPU per item (holds the GIL), result unused."""
    acc = x[1]
    for i in range(WORK_ITERATIONS):
        acc = (acc * 31 + i) & 0xFFFF
    return x


def get_flow(
    source: str = "testing",
    n: int = 200_000,
    batch: int = 1,
    kind: str = "keyed",
    topic: str = "",
    bootstrap: str = DEFAULT_BOOTSTRAP,
    tail: bool = False,
):
    """Build the benchmark flow; `source` is `testing` or `kafka`."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    class _Part(StatelessSinkPartition):
        def __init__(self, worker_index: int):
            self.worker = worker_index
            self.items = 0
            self.crossed = 0
            self.last: dict[str, int] = {}
            self.total = 0
            self.t0 = time.time()
            self.first = 0.0
            self.last_write = 0.0
            self.tag = None

        def write_batch(self, items):
            now = time.time()
            if self.tag is None:
                self.tag = _reader_tag()
                self.first = now
            self.last_write = now
            self.items += len(items)
            tag = self.tag
            for item in items:
                if item[2] != tag:
                    self.crossed += 1
            if keyed:
                last = self.last
                for item in items:
                    if item[1] > last.get(item[0], 0):
                        last[item[0]] = item[1]
            else:
                for item in items:
                    self.total += item[1]

        def close(self):
            total = sum(self.last.values()) if keyed else self.total
            line = {
                "worker": self.worker,
                "items": self.items,
                "crossed": self.crossed,
                "sum": total,
                "keys": len(self.last),
                "t0": self.t0,
                "t1": time.time(),
                "first": self.first,
                "last": self.last_write,
            }
            # One write(2) per line: two workers of one process share this stderr.
            os.write(2, ("SCALING " + json.dumps(line) + "\n").encode())

    class _Discard(DynamicSink):
        def build(self, step_id, worker_index, worker_count):
            return _Part(worker_index)

    keyed = kind in ("keyed", "heavy")
    flow = Dataflow("scaling")
    if source == "testing":
        from bytewax.testing import TestingSource

        gen = ((f"cust-{i % CUSTOMERS:04d}".encode(), b"%d" % _amount(i)) for i in range(n))
        stream = op.input("inp", flow, TestingSource(gen, batch_size=batch))

        def decode(kv):
            return (kv[0].decode(), int(kv[1]), _reader_tag())

    elif source == "kafka":
        from bytewax.connectors.kafka import KafkaSource

        src = KafkaSource([bootstrap], [topic], tail=tail, batch_size=batch)
        stream = op.input("inp", flow, src)

        def decode(msg):
            return (msg.key.decode(), int(msg.value), _reader_tag())

    else:
        raise ValueError(source)

    items = op.map("decode", stream, decode)
    if kind == "redistribute":
        items = op.redistribute("redistribute", items)
        items = op.map("after", items, lambda x: (x[0], x[1] * 1, x[2]))
    if kind == "heavy":
        items = op.map("work", items, _work)
    if keyed:
        keyed_items = op.key_on("key", items, lambda x: x[0])

        def running_sum(state, x):
            state = (state or 0) + x[1]
            return state, (x[0], state, x[2])

        summed = op.stateful_map("sum", keyed_items, running_sum)
        out = op.map("unkey", summed, lambda kv: kv[1])
    else:
        out = items
    op.output("out", out, _Discard())
    return flow


# ----------------------------------------------------------------------------------------
# The driver.
# ----------------------------------------------------------------------------------------


@dataclass
class Case:
    source: str  # "testing", "kafka2", "kafka4"
    kind: str  # "keyed", "heavy", "stateless", "redistribute"
    batch: int
    mode: str  # see MODE_RE

    @property
    def name(self) -> str:
        return f"{self.source}/{self.kind}/b{self.batch}/{self.mode}"


# p<processes> w<workers per process>, then optionally `pin` (process i on core i), `core0`
# (every process on core 0), `s<S>` (`-s S`: S-second epochs instead of the default 10 s) or
# `e<MS>` (epoch interval of MS milliseconds, which `-s` cannot express; run through
# `cli_main` like insession does, e.g. `e0` = every input batch its own epoch).
MODE_RE = re.compile(
    r"^(?:p(?P<procs>\d+))?(?:w(?P<workers>\d+))?(?P<cpu>pin|core0)?"
    r"(?:s(?P<s>\d+))?(?:e(?P<e>\d+))?$"
)


@dataclass
class Result:
    wall: float
    flow: float
    active: float
    user: float
    sys: float
    items: int
    crossed: int
    ok: str
    per_proc: list[tuple[float, float]] = field(default_factory=list)


def default_cases() -> list[Case]:
    cases: list[Case] = []
    modes = ["w1", "w2", "p2"]
    # The reported configuration: one input partition, one item per batch; and the same
    # without the keyed step (no exchange at all).
    for kind in ("keyed", "stateless"):
        cases += [Case("testing", kind, 1, m) for m in modes]
    # Batch-size sweep.
    for b in (10, 100, 1000):
        cases += [Case("testing", "keyed", b, m) for m in modes]
    cases += [Case("testing", "redistribute", 1000, m) for m in modes]
    # Real partitioned input, KafkaSource's default batch_size.
    cases += [Case("kafka2", kind, 1000, m) for kind in ("keyed", "stateless") for m in modes]
    cases += [Case("kafka4", "keyed", 1000, m) for m in modes]
    cases += [Case("kafka2", "keyed", 100, m) for m in modes]
    # ~20 us of Python per item before the keyed step: do processes / threads scale?
    cases += [Case("kafka2", "heavy", 1000, m) for m in modes]
    return cases


def extra_cases() -> list[Case]:
    cases = [Case("testing", "keyed", 1, m) for m in ("w2core0", "p2pin", "w1s1", "p2s1")]
    cases += [Case("kafka2", "keyed", 10, m) for m in ("w1", "w2", "p2")]
    cases += [Case("kafka2", "keyed", 1000, "p2pin")]
    cases += [Case("kafka4", "stateless", 1000, m) for m in ("w1", "w2", "p2")]
    cases += [Case("kafka4", "keyed", 1000, m) for m in ("p4", "p2w2")]
    cases += [Case("kafka2", "heavy", 1000, m) for m in ("p2pin", "w2core0")]
    cases += [Case("kafka4", "heavy", 1000, m) for m in ("p4", "p2w2")]
    # insession's epoch settings: 0 (replay: every batch its own epoch) and 200 ms (`run`).
    cases += [Case("testing", "keyed", 1000, m) for m in ("w1e0", "w2e0", "p2e0")]
    cases += [Case("kafka2", "keyed", 1000, m) for m in ("w1e0", "p2e0", "w1e200", "p2e200")]
    return cases


def _free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _commands(
    case: Case, n: int, topic: str, bootstrap: str, tail: bool = False
) -> list[list[str]]:
    m = MODE_RE.match(case.mode)
    if not m or not (m["procs"] or m["workers"]):
        raise ValueError(f"bad mode {case.mode!r}")
    procs = int(m["procs"] or 1)
    workers = int(m["workers"] or 1)
    src = "testing" if case.source == "testing" else "kafka"
    flow_kwargs = dict(
        source=src, n=n, batch=case.batch, kind=case.kind, topic=topic, bootstrap=bootstrap
    )
    if tail:
        flow_kwargs["tail"] = True
    if m["e"] is None:
        args = ", ".join(f"{k}={v!r}" for k, v in flow_kwargs.items())
        base = [sys.executable, "-m", "bytewax.run", f"{HERE}:get_flow({args})"]
    else:
        base = [sys.executable, str(HERE), "child", json.dumps(flow_kwargs), "-e", m["e"]]
    if workers > 1:
        base += ["-w", str(workers)]
    if m["s"]:
        base += ["-s", m["s"]]
    ncpu = os.cpu_count() or 1
    cmds = []
    addrs = ";".join(f"127.0.0.1:{p}" for p in _free_ports(procs))
    for i in range(procs):
        cmd = [*base, "-i", str(i), "-a", addrs] if procs > 1 else list(base)
        if m["cpu"] == "pin":
            cmd = ["taskset", "-c", str(i % ncpu), *cmd]
        elif m["cpu"] == "core0":
            cmd = ["taskset", "-c", "0", *cmd]
        cmds.append(cmd)
    return cmds


def run_case(
    case: Case, n: int, topic: str, bootstrap: str, timeout: float, workdir: Path
) -> Result:
    cmds = _commands(case, n, topic, bootstrap)
    logs = [workdir / f"proc{i}.log" for i in range(len(cmds))]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    procs = []
    for cmd, log in zip(cmds, logs, strict=True):
        with open(log, "w") as fh:
            procs.append(
                subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )
    pending = {p.pid: p for p in procs}
    usage: dict[int, tuple[float, float]] = {}
    codes: dict[int, int] = {}
    deadline = start + timeout
    timed_out = False
    while pending:
        for pid in list(pending):
            got, status, ru = os.wait4(pid, os.WNOHANG)
            if got:
                usage[pid] = (ru.ru_utime, ru.ru_stime)
                codes[pid] = os.waitstatus_to_exitcode(status)
                pending.pop(pid).returncode = codes[pid]
        if pending and time.perf_counter() > deadline:
            timed_out = True
            for p in pending.values():
                os.killpg(p.pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.005)
    wall = time.perf_counter() - start

    lines = []
    bad_lines = 0
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("SCALING "):
                try:
                    lines.append(json.loads(line[len("SCALING ") :]))
                except json.JSONDecodeError:
                    bad_lines += 1
    items = sum(x["items"] for x in lines)
    crossed = sum(x["crossed"] for x in lines)
    total = sum(x["sum"] for x in lines)
    flow_s = (max(x["t1"] for x in lines) - min(x["t0"] for x in lines)) if lines else 0.0
    firsts = [x["first"] for x in lines if x["items"]]
    active = (max(x["last"] for x in lines) - min(firsts)) if firsts else 0.0
    # Keyed: the last running sum of every key, added up, equals the sum of all amounts.
    expected = sum(_amount(i) for i in range(n))
    problems = []
    if bad_lines:
        problems.append(f"unparsed_sink_lines={bad_lines}")
    if timed_out:
        problems.append("TIMEOUT")
    if any(codes.values()):
        problems.append(f"exit={sorted(set(codes.values()))}")
    if items != n:
        problems.append(f"items={items}")
    if total != expected:
        problems.append(f"sum={total}!={expected}")
    if problems:
        tail = logs[0].read_text(errors="replace").strip().splitlines()[-3:]
        problems.append("log: " + " | ".join(tail)[:300])
    per_proc = [usage[p.pid] for p in procs]
    return Result(
        wall=wall,
        flow=flow_s,
        active=active,
        user=sum(u for u, _ in per_proc),
        sys=sum(s for _, s in per_proc),
        items=items,
        crossed=crossed,
        ok="ok" if not problems else " ".join(problems),
        per_proc=per_proc,
    )


def _proc_cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def measure_idle(mode: str, topic: str, bootstrap: str, seconds: float) -> tuple[float, float]:
    """CPU (user, sys as fractions of one core) of a keyed flow tailing an empty topic."""
    cmds = _commands(Case("kafka2", "keyed", 1000, mode), 0, topic, bootstrap, tail=True)
    procs = [
        subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        for cmd in cmds
    ]
    try:
        time.sleep(3.0)  # start-up, cluster connect, partition assignment
        before = [_proc_cpu(p.pid) for p in procs]
        t0 = time.perf_counter()
        time.sleep(seconds)
        after = [_proc_cpu(p.pid) for p in procs]
        dt = time.perf_counter() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    user = sum(a[0] - b[0] for a, b in zip(after, before, strict=True)) / dt
    sys_ = sum(a[1] - b[1] for a, b in zip(after, before, strict=True)) / dt
    return user, sys_


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def create_filled_topic(bootstrap: str, name: str, partitions: int, n: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    admin = _admin(bootstrap)
    fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    fut[name].result(timeout=30)
    # Wait until the metadata shows every partition with a leader.
    for _ in range(100):
        md = admin.list_topics(name, timeout=10).topics.get(name)
        if md and md.error is None and len(md.partitions) == partitions:
            break
        time.sleep(0.1)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "compression.type": "none",
        }
    )
    for i in range(n):
        key = f"cust-{i % CUSTOMERS:04d}".encode()
        while True:
            try:
                producer.produce(name, key=key, value=b"%d" % _amount(i))
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} messages not delivered to {name}")


def delete_topics(bootstrap: str, names: list[str]) -> None:
    if not names:
        return
    admin = _admin(bootstrap)  # keep a reference until the futures resolve
    futs = admin.delete_topics(names, operation_timeout=30)
    for name, fut in futs.items():
        try:
            fut.result(timeout=30)
        except Exception as exc:  # report and go on: cleanup must not hide results
            print(f"# could not delete topic {name}: {exc}", file=sys.stderr)


def _fmt_spread(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:7.2f}"
    return f"{med:7.2f} [{min(values):.2f}-{max(values):.2f}]"


def child(argv: list[str]) -> int:
    """`child FLOW_KWARGS_JSON -e MS [-w W] [-i I -a ADDRS]`: `cli_main` with a ms epoch."""
    from datetime import timedelta

    from bytewax.run import cli_main

    ap = argparse.ArgumentParser(prog="bytewax_scaling.py child")
    ap.add_argument("flow_kwargs")
    ap.add_argument("-e", "--epoch-ms", type=float, required=True)
    ap.add_argument("-w", type=int, default=1)
    ap.add_argument("-i", type=int)
    ap.add_argument("-a")
    args = ap.parse_args(argv)
    flow = get_flow(**json.loads(args.flow_kwargs))
    cli_main(
        flow,
        workers_per_process=args.w,
        process_id=args.i,
        addresses=args.a.split(";") if args.a else None,
        epoch_interval=timedelta(milliseconds=args.epoch_ms),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="items per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per case (median shown)")
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    ap.add_argument(
        "--case",
        action="append",
        default=[],
        help="extra case source/kind/bB/mode, e.g. kafka4/keyed/b5000/p2 (repeatable)",
    )
    ap.add_argument("--extra", action="store_true", help="add the extra cases (pinning, -s 1,...)")
    ap.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also measure CPU of w1/w2/p2 tailing an empty 2-partition topic for SECONDS",
    )
    ap.add_argument("--list", action="store_true", help="print case names and exit")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per run")
    ap.add_argument("--json", type=Path, help="also write all raw results here")
    args = ap.parse_args(argv)

    cases = default_cases() + (extra_cases() if args.extra else [])
    if args.only:
        pats = [p for p in args.only.split(",") if p]
        cases = [c for c in cases if any(p in c.name for p in pats)]
    for spec in args.case:
        src, kind, b, mode = spec.split("/")
        cases.append(Case(src, kind, int(b.lstrip("b")), mode))
    for case in cases:
        _commands(case, 1, "", "")  # reject bad modes before any work
    if args.list:
        print("\n".join(c.name for c in cases))
        return 0

    bootstrap = os.environ.get("INSESSION_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP)
    workdir = Path(tempfile.mkdtemp(prefix="scaling-"))
    topics: dict[str, str] = {}
    created: list[str] = []
    raw = []
    began = time.perf_counter()
    try:
        for src in sorted({c.source for c in cases if c.source.startswith("kafka")}):
            parts = int(src.removeprefix("kafka"))
            name = f"scaling.{os.getpid()}.{int(time.time())}.p{parts}"
            t = time.perf_counter()
            created.append(name)
            create_filled_topic(bootstrap, name, parts, args.n)
            topics[src] = name
            print(
                f"# topic {name}: {parts} partitions, {args.n} messages keyed by "
                f"{CUSTOMERS} customers, filled in {time.perf_counter() - t:.1f}s"
            )
        print(
            f"# n={args.n} repeats={args.repeats} cpus={os.cpu_count()} "
            f"python={sys.version.split()[0]} bootstrap={bootstrap}"
        )
        print(
            "# median [min-max] over repeats. wall: spawn to last exit. flow: first sink built"
            " to last sink closed.\n# active: first to last item at the sinks; items/s = n /"
            " active. CPU: user and sys of all the case's processes. crossed: items summed on"
            "\n# another worker than the one that read them (first run)."
        )
        print(
            f"{'case':30} {'wall s':>19} {'flow s':>19} {'active s':>19} {'user s':>6} "
            f"{'sys s':>6} {'items/s':>8} {'crossed':>7}  check"
        )
        for case in cases:
            results = [
                run_case(
                    case, args.n, topics.get(case.source, ""), bootstrap, args.timeout, workdir
                )
                for _ in range(args.repeats)
            ]
            active = statistics.median([r.active for r in results])
            rate = args.n / active if active > 0 else 0.0
            oks = sorted({r.ok for r in results})
            print(
                f"{case.name:30} {_fmt_spread([r.wall for r in results]):>19} "
                f"{_fmt_spread([r.flow for r in results]):>19} "
                f"{_fmt_spread([r.active for r in results]):>19} "
                f"{statistics.median([r.user for r in results]):6.2f} "
                f"{statistics.median([r.sys for r in results]):6.2f} "
                f"{rate:8.0f} {results[0].crossed:7d}  {';'.join(oks)}",
                flush=True,
            )
            raw.append({"case": case.name, "results": [r.__dict__ for r in results]})
        if args.idle > 0:
            from confluent_kafka.admin import NewTopic

            name = f"scaling.{os.getpid()}.{int(time.time())}.idle"
            admin = _admin(bootstrap)
            admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[
                name
            ].result(timeout=30)
            created.append(name)
            print(f"# idle: keyed flow tailing empty topic {name}, CPU over {args.idle:.0f}s")
            for mode in ("w1", "w2", "p2"):
                for _ in range(args.repeats):
                    user, sys_ = measure_idle(mode, name, bootstrap, args.idle)
                    print(
                        f"idle/{mode:4} {100 * (user + sys_):5.1f}% of a core "
                        f"(user {100 * user:.1f}%, sys {100 * sys_:.1f}%)",
                        flush=True,
                    )
        print(f"# total {time.perf_counter() - began:.0f}s")
    finally:
        delete_topics({"bootstrap.servers": bootstrap}, created)
        shutil.rmtree(workdir, ignore_errors=True)
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
