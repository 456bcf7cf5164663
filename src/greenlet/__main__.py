"""``python -m greenlet``: describe this build, check that it works, and time a switch.

Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import platform
import sys
import sysconfig
import threading
import time

import greenlet
from greenlet import _greenlet


def describe():
    print(f"greenlet {greenlet.__version__}")
    print(f"python   {platform.python_implementation()} {platform.python_version()}"
          f" ({'free-threaded' if sysconfig.get_config_var('Py_GIL_DISABLED') else 'GIL'})")
    build = dict(item.split("=", 1) for item in _greenlet._build_info.split())
    interpreter = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-{sys.platform}"
    print(f"target   {build.pop('target')} (interpreter: {interpreter})")
    print(f"switch   {_greenlet._switch_name}")
    print("build    " + " ".join(f"{key}={value}" for key, value in build.items()))
    print(f"module   {_greenlet.__file__}")


def check_switching():
    log = []

    def child(a, b=0):
        log.append(("start", a, b))
        got = main.switch(a + b)
        log.append(("resumed", got))
        return "finished"

    main = greenlet.getcurrent()
    g = greenlet.greenlet(child)
    first = g.switch(1, b=2)
    second = g.switch("again")
    assert first == 3, first
    assert second == "finished", second
    assert g.dead and not g
    assert log == [("start", 1, 2), ("resumed", "again")], log


def check_throw():
    def child():
        try:
            greenlet.getcurrent().parent.switch("ready")
        except KeyError as error:
            return f"caught {error.args[0]}"

    g = greenlet.greenlet(child)
    assert g.switch() == "ready"
    assert g.throw(KeyError, "k") == "caught k"
    killed = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
    killed.switch()
    assert isinstance(killed.throw(), greenlet.GreenletExit)


def check_threads():
    results = []
    foreign = greenlet.greenlet(lambda: None)

    def worker(n):
        total = 0
        gs = [greenlet.greenlet(lambda i=i: greenlet.getcurrent().parent.switch(i) or i)
              for i in range(50)]
        for g in gs:
            total += g.switch()
        try:
            foreign.switch()
        except greenlet.error:
            results.append(total)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [sum(range(50))] * 4, results


def benchmark(seconds=1.0):
    main = greenlet.getcurrent()

    def pong():
        while True:
            main.switch()

    g = greenlet.greenlet(pong)
    switches = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(10000):
            g.switch()
        switches += 20000
    elapsed = time.perf_counter() - start
    print(f"bench    {switches / elapsed / 1e6:.2f} million switches/s, "
          f"{elapsed / switches * 1e9:.0f} ns per switch")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m greenlet",
        description="Print how this greenlet was built, run a self-check (switching, "
        "throw, threads) and a one-second switch benchmark.",
    )
    parser.add_argument("--no-bench", action="store_true", help="skip the benchmark")
    args = parser.parse_args(argv)
    describe()
    failures = 0
    for name, check in [("switching", check_switching), ("throw", check_throw),
                        ("threads", check_threads)]:
        try:
            check()
        except Exception as error:  # report every failed check, then fail
            failures += 1
            print(f"check    {name}: FAILED ({type(error).__name__}: {error})")
        else:
            print(f"check    {name}: ok")
    if failures:
        print(f"self-check FAILED ({failures} check(s))")
        return 1
    if not args.no_bench:
        benchmark()
    print("self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
