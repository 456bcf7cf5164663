#!/usr/bin/env python3
"""Micro-benchmarks of greenlet, standard library only. Works with any greenlet build.

  python bench/bench_greenlet.py                     every benchmark, one JSON line each
  python bench/bench_greenlet.py --bench switch_noarg --bench getcurrent
  python bench/bench_greenlet.py --quick             shorter repetitions, fewer of them
  python bench/bench_greenlet.py --list              names, units and descriptions

Each benchmark runs in a fresh child process (so memory measurements start from a clean
interpreter and no benchmark inherits another's garbage). A timed benchmark calibrates a loop
count so one repetition lasts about --target-ms, runs --warmup untimed repetitions, then
--repeat timed ones, and reports every sample with its min and median, in nanoseconds per
operation (the unit says which operation). Nothing is asserted about the times.

--count NAME --iterations N runs one benchmark's operation N times after the same setup and
warm-up, without timing, and exits without tearing anything down: run it twice (N and 0) under
`valgrind --tool=callgrind` and the difference of the instruction totals divided by N is the
cost of one operation (bench/compare --callgrind does that).

Memory benchmarks keep 10,000 greenlets suspended and report bytes per greenlet, either by
resident set size (/proc/self/statm, before and after; includes memory from mmap such as
CPython's frame data-stack chunks) or by tracemalloc (every PyMem/PyObject allocation, which
includes the heap copies of saved stack slices but not mmap'ed memory).

How the C stack is made deep (switch_deep_c64k): each greenlet recurses through a ctypes
callback that calls itself through a C function pointer, so every level is a genuine C-to-Python
call: ctypes' foreign call (ffi_call), libffi's closure trampoline, ctypes' callback glue,
and a fresh interpreter loop (_PyEval_EvalFrameDefault) for the callback's frame. Those C frames
stay live while the greenlet is suspended at the bottom of the recursion, so each switch must
save and restore them. The depth is calibrated in-process: two greenlets are started at depth 0
and 16 and suspended, a third greenlet runs over them so their stacks are copied to the heap, and
`greenlet._stack_saved` gives the bytes per level; the depth is then the smallest giving at
least 64 KiB of recursion. The JSON `info` reports the levels and the bytes actually held (the
same CPython gives the same depth for every greenlet build).
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

perf_counter_ns = time.perf_counter_ns

CHAIN_LENGTH = 100_000
MEMORY_GREENLETS = 10_000
DEEP_PY_FRAMES = 50
DEEP_C_BYTES = 64 * 1024


class BenchError(Exception):
    pass


STOP = object()


def descend(depth, function):
    """Calls function() under `depth` more Python frames of this function. Plain calls (no
    *args), so on CPython >= 3.11 the frames live on the interpreter's data stack, not the C
    stack; on 3.10 every Python call also takes C stack."""
    if depth:
        return descend(depth - 1, function)
    return function()


# ------------------------------------------------------------------ benchmarks
#
# A benchmark is a function taking the harness options; it returns a Runner. Runner.loop(n)
# runs n loops and returns the elapsed nanoseconds; each loop is `ops_per_loop` operations.

class Runner:
    def __init__(self, loop, ops_per_loop=1, teardown=None, fixed_loops=None, info=None,
                 max_repeat=None):
        self.loop = loop
        self.max_repeat = max_repeat  # caps --repeat for long repetitions
        self.ops_per_loop = ops_per_loop
        self.teardown = teardown
        self.fixed_loops = fixed_loops  # loops per repetition when not calibrated
        self.info = info or {}


BENCHMARKS = {}


def benchmark(name, unit, description, kind="time"):
    def register(function):
        BENCHMARKS[name] = {"name": name, "unit": unit, "description": description,
                            "kind": kind, "function": function}
        return function
    return register


def ping_pong(send_args, send_kwargs, reply):
    """A greenlet that answers every switch from main by switching back; loop(n) = 2n switches."""
    import greenlet

    main = greenlet.getcurrent()

    def run(*_args, **_kwargs):
        main_switch = main.switch
        reply(main_switch)

    child = greenlet.greenlet(run)
    child.switch()

    def loop(n, child_switch=child.switch, args=send_args, kwargs=send_kwargs):
        r = range(n)
        if kwargs:
            start = perf_counter_ns()
            for _ in r:
                child_switch(*args, **kwargs)
            return perf_counter_ns() - start
        if args:
            value = args[0]
            start = perf_counter_ns()
            for _ in r:
                child_switch(value)
            return perf_counter_ns() - start
        start = perf_counter_ns()
        for _ in r:
            child_switch()
        return perf_counter_ns() - start

    return Runner(loop, ops_per_loop=2, teardown=child.throw)


def reply_noarg(main_switch):
    while True:
        main_switch()


def reply_arg(main_switch):
    value = main_switch(1)
    while True:
        value = main_switch(value)


def reply_args_kwargs(main_switch):
    while True:
        main_switch(1, 2, key=3)


@benchmark("switch_noarg", "ns/switch",
           "ping-pong between main and a greenlet, switch() with no argument; per switch")
def bench_switch_noarg(options):
    return ping_pong((), {}, reply_noarg)


@benchmark("switch_arg", "ns/switch",
           "ping-pong, switch(value) with one argument each way; per switch")
def bench_switch_arg(options):
    return ping_pong((1,), {}, reply_arg)


@benchmark("switch_args_kwargs", "ns/switch",
           "ping-pong, switch(1, 2, key=3) each way (received as ((1, 2), {'key': 3})); per switch")
def bench_switch_args_kwargs(options):
    return ping_pong((1, 2), {"key": 3}, reply_args_kwargs)


def finish_at_once():
    pass


@benchmark("create_start_finish", "ns/greenlet",
           "greenlet(f).switch() where f returns at once: create, start, finish, free")
def bench_create(options):
    import greenlet

    def loop(n, new=greenlet.greenlet, run=finish_at_once):
        r = range(n)
        start = perf_counter_ns()
        for _ in r:
            new(run).switch()
        return perf_counter_ns() - start

    return Runner(loop)


def chain_link(next_greenlet):
    import greenlet
    value = greenlet.getcurrent().parent.switch()
    next_greenlet.switch(value + 1)


@benchmark("chain_100k", "ns/greenlet",
           "upstream's chain benchmark: create and start 100,000 greenlets, each suspended "
           "holding the previous one, then pass a value along the chain, each switching to the "
           "next; per greenlet")
def bench_chain(options):
    import greenlet

    nodes = []

    def loop(n):
        new = greenlet.greenlet
        keep = nodes.append
        start = perf_counter_ns()
        node = greenlet.getcurrent()
        for _ in range(n):
            g = new(chain_link)
            g.switch(node)
            keep(g)
            node = g
        result = node.switch(0)
        elapsed = perf_counter_ns() - start
        if result != n:
            raise AssertionError(f"chain passed {result}, expected {n}")
        if options.count is None:
            # Untimed: kill the suspended chain from main (while the list still holds every
            # node, so no greenlet is freed inside another one's kill). --count exits instead,
            # so that instruction counts, too, cover only the chain.
            for g in nodes:
                g.throw()
            del nodes[:]
        return elapsed

    return Runner(loop, fixed_loops=CHAIN_LENGTH if options.count is None else None,
                  max_repeat=3)


@benchmark("getcurrent", "ns/call", "greenlet.getcurrent() (10 calls unrolled per loop)")
def bench_getcurrent(options):
    import greenlet

    def loop(n, getcurrent=greenlet.getcurrent):
        r = range(n)
        start = perf_counter_ns()
        for _ in r:
            getcurrent(); getcurrent(); getcurrent(); getcurrent(); getcurrent()  # noqa: E702
            getcurrent(); getcurrent(); getcurrent(); getcurrent(); getcurrent()  # noqa: E702
        return perf_counter_ns() - start

    greenlet.getcurrent()
    return Runner(loop, ops_per_loop=10)


def catch_thrown(main_switch):
    while True:
        try:
            main_switch()
        except BenchError:
            pass


@benchmark("throw_roundtrip", "ns/roundtrip",
           "g.throw(BenchError): switch in raising, the greenlet catches it and switches back")
def bench_throw(options):
    import greenlet

    main = greenlet.getcurrent()
    child = greenlet.greenlet(lambda: catch_thrown(main.switch))
    child.switch()

    def loop(n, throw=child.throw, error=BenchError):
        r = range(n)
        start = perf_counter_ns()
        for _ in r:
            throw(error)
        return perf_counter_ns() - start

    return Runner(loop, teardown=child.throw)


def deep_pair(descend_into):
    """Two greenlets, each at the bottom of a deep stack made by `descend_into(function)`,
    switching to each other; loop(n) = 2n switches between them (plus one switch each way
    between main and the first)."""
    import greenlet

    main = greenlet.getcurrent()
    failures = []

    def first_bottom():
        try:
            second_switch = second.switch
            n = main.switch()
            while n:
                for _ in range(n):
                    second_switch()
                n = main.switch()
        except BaseException as error:  # a ctypes callback would swallow it
            failures.append(error)

    def second_bottom():
        try:
            first_switch = first.switch
            main.switch()
            while first_switch() is not STOP:
                pass
        except BaseException as error:
            failures.append(error)

    first = greenlet.greenlet(lambda: descend_into(first_bottom))
    second = greenlet.greenlet(lambda: descend_into(second_bottom))
    second.switch()
    first.switch()

    def loop(n, first_switch=first.switch):
        start = perf_counter_ns()
        first_switch(n)
        return perf_counter_ns() - start

    def teardown():
        first.switch(0)
        second.switch(STOP)
        if failures or not (first.dead and second.dead):
            raise AssertionError(f"deep greenlets did not finish cleanly: {failures!r}")

    def held_bytes():
        # Both are suspended; switching between them saves each one's whole stack.
        loop(1)
        return {"first_stack_saved_bytes": first._stack_saved,
                "second_stack_saved_bytes": second._stack_saved}

    return Runner(loop, ops_per_loop=2, teardown=teardown), held_bytes


@benchmark("switch_deep_py50", "ns/switch",
           f"ping-pong between two greenlets each {DEEP_PY_FRAMES} Python frames deep; per switch")
def bench_switch_deep_py(options):
    runner, held = deep_pair(lambda bottom: descend(DEEP_PY_FRAMES - 1, bottom))
    runner.info = dict(python_frames=DEEP_PY_FRAMES, **held())
    return runner


def c_descender():
    """Returns descend_c(levels, function): calls function() under `levels` C-to-Python calls."""
    import ctypes

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)
    state = {}

    def level(remaining):
        if remaining:
            return c_level(remaining - 1)
        state["function"]()
        return 0

    c_level = callback_type(level)  # calling it from Python goes through libffi and back

    def descend_c(levels, function):
        state["function"] = function
        c_level(levels)

    descend_c.keep_alive = c_level
    return descend_c


def c_bytes_per_level(descend_c):
    """Measures the C stack of one recursion level from what greenlet saves of it."""
    import greenlet

    main = greenlet.getcurrent()
    probes = {}
    for levels in (0, 16):
        probe = greenlet.greenlet(lambda levels=levels: descend_c(levels, main.switch))
        probe.switch()
        probes[levels] = probe
    # A greenlet starting over them saves both stacks whole.
    greenlet.greenlet(lambda: None).switch()
    saved = {levels: probe._stack_saved for levels, probe in probes.items()}
    for probe in probes.values():
        probe.switch()  # let each return normally (no exception through ctypes)
    return (saved[16] - saved[0]) / 16, saved


@benchmark("switch_deep_c64k", "ns/switch",
           "ping-pong between two greenlets each holding >= 64 KiB of live C stack (recursion "
           "through a ctypes callback); per switch")
def bench_switch_deep_c(options):
    descend_c = c_descender()
    per_level, probe_saved = c_bytes_per_level(descend_c)
    levels = max(1, math.ceil(DEEP_C_BYTES / per_level)) if per_level > 0 else 64
    runner, held = deep_pair(lambda bottom: descend_c(levels, bottom))
    runner.info = dict(c_levels=levels, c_bytes_per_level=round(per_level, 1), **held())
    return runner


def gen_echo():
    value = None
    while True:
        value = yield value


@benchmark("generator_send", "ns/roundtrip",
           "reference point without greenlet: generator.send(value) and its yield")
def bench_generator(options):
    generator = gen_echo()
    next(generator)

    def loop(n, send=generator.send):
        r = range(n)
        start = perf_counter_ns()
        for _ in r:
            send(1)
        return perf_counter_ns() - start

    return Runner(loop)


# ------------------------------------------------------------------ memory

def rss_bytes():
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def suspend_many(count, deep):
    import greenlet

    main = greenlet.getcurrent()
    switch_to_main = main.switch
    if deep:
        def run():
            descend(DEEP_PY_FRAMES - 1, switch_to_main)
    else:
        def run():
            switch_to_main()
    new = greenlet.greenlet
    result = []
    keep = result.append
    for _ in range(count):
        g = new(run)
        g.switch()
        keep(g)
    return result


def memory_sample(method, deep, count):
    """Bytes per suspended greenlet, by RSS or by tracemalloc, over `count` greenlets."""
    gc.collect()
    if method == "traced":
        import tracemalloc
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        keep = suspend_many(count, deep)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:
        before = rss_bytes()
        keep = suspend_many(count, deep)
        gc.collect()
        after = rss_bytes()
    saved = sum(g._stack_saved for g in keep) / count
    del keep
    gc.collect()
    return (after - before) / count, saved


def memory_benchmark(method, deep):
    def function(options):
        return ("memory", method, deep)
    return function


for _deep in (False, True):
    for _method, _what in (("rss", "resident set size"), ("traced", "tracemalloc")):
        _name = f"mem_{'deep' if _deep else 'shallow'}_{_method}"
        benchmark(_name, "bytes/greenlet",
                  f"{_what} per suspended greenlet, {MEMORY_GREENLETS:,} greenlets each "
                  + (f"{DEEP_PY_FRAMES} Python frames deep" if _deep else "1 Python frame deep"),
                  kind="memory")(memory_benchmark(_method, _deep))


# ------------------------------------------------------------------ harness

def environment():
    import greenlet
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "greenlet": greenlet.__version__,
            "greenlet_file": os.path.dirname(greenlet.__file__)}


def calibrate(runner, target_ns):
    n = 1
    while True:
        elapsed = runner.loop(n)
        if elapsed >= target_ns or n >= 1 << 30:
            return n
        factor = target_ns / max(elapsed, 1) * 1.1
        n = int(n * min(max(factor, 2), 100))


def run_timed(spec, options):
    runner = spec["function"](options)
    target_ns = int(options.target_ms * 1e6)
    loops = runner.fixed_loops or calibrate(runner, target_ns)
    for _ in range(options.warmup):
        runner.loop(loops)
    samples = []
    for _ in range(min(options.repeat, runner.max_repeat or options.repeat)):
        gc.collect()
        elapsed = runner.loop(loops)
        samples.append(elapsed / (loops * runner.ops_per_loop))
    if runner.teardown:
        runner.teardown()
    return samples, {"loops": loops, "ops_per_loop": runner.ops_per_loop, **runner.info}


def run_memory(spec, options):
    _, method, deep = spec["function"](options)
    samples = []
    saved = []
    # Resident memory only grows honestly in a fresh process: one sample per process.
    repeat = 1 if method == "rss" else options.repeat
    for _ in range(repeat):
        per_greenlet, stack_saved = memory_sample(method, deep, MEMORY_GREENLETS)
        samples.append(per_greenlet)
        saved.append(stack_saved)
    return samples, {"greenlets": MEMORY_GREENLETS,
                     "mean_stack_saved_bytes": round(statistics.mean(saved), 1)}


def run_count(spec, options):
    """Setup, warm-up, then `iterations` loops untimed; prints the operation count and exits
    without teardown (identical for the N and the 0 run)."""
    runner = spec["function"](options)
    runner.loop(min(100, options.warmup_loops))
    runner.loop(options.iterations)
    record = {"benchmark": spec["name"], "unit": spec["unit"], "mode": "count",
              "iterations": options.iterations,
              "ops": options.iterations * runner.ops_per_loop, **environment()}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    os._exit(0)


def child_main(options):
    name = options.bench[0]
    spec = BENCHMARKS[name]
    if options.count is not None:
        run_count(spec, options)
    if spec["kind"] == "memory":
        samples, info = run_memory(spec, options)
    else:
        samples, info = run_timed(spec, options)
    record = {"benchmark": name, "unit": spec["unit"], "min": min(samples),
              "median": statistics.median(samples), "samples": samples,
              "info": info, **environment()}
    print(json.dumps(record), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--bench", action="append", default=[],
                        help="benchmark to run (repeatable; default: all)")
    parser.add_argument("--list", action="store_true", help="list benchmarks as JSON lines")
    parser.add_argument("--quick", action="store_true",
                        help="3 repetitions of about 5 ms (default: 7 of about 20 ms)")
    parser.add_argument("--repeat", type=int, help="timed repetitions per process")
    parser.add_argument("--warmup", type=int, help="untimed repetitions before them")
    parser.add_argument("--target-ms", type=float, help="length of one repetition")
    parser.add_argument("--count", metavar="NAME",
                        help="run NAME's operation --iterations times untimed (for callgrind)")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--warmup-loops", type=int, default=100,
                        help="untimed loops before --count's iterations")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.repeat is None:
        options.repeat = 3 if options.quick else 7
    if options.warmup is None:
        options.warmup = 1
    if options.target_ms is None:
        options.target_ms = 5 if options.quick else 20

    if options.list:
        for spec in BENCHMARKS.values():
            print(json.dumps({k: spec[k] for k in ("name", "unit", "description", "kind")}))
        return 0
    if options.count is not None:
        options.bench = [options.count]
    for name in options.bench:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if options.child or options.count is not None:
        if len(options.bench) != 1:
            parser.error("a child runs exactly one benchmark")
        child_main(options)
        return 0

    # Parent: one fresh process per benchmark, output passed through.
    status = 0
    passed = [a for a in (argv if argv is not None else sys.argv[1:])
              if a not in ("--child",)]
    passed = [a for i, a in enumerate(passed)
              if a != "--bench" and (i == 0 or passed[i - 1] != "--bench")]
    for name in options.bench or list(BENCHMARKS):
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                                 "--bench", name] + passed)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
