"""gevent (a Cython consumer of greenlet's C API and ABI) running on the installed greenlet.

gevent's binary wheel and its two pure dependencies are installed as tests/_dependents.py
describes; every socket is on 127.0.0.1.

Skipped only when PyPI cannot be reached or when gevent publishes no binary wheel for this
interpreter; any other install failure fails.
"""
import sys

import pytest

import greenlet

from _dependents import (check_no_greenlet, importable, pip, preset_site, run_script,
                         skip_if_offline)


@pytest.fixture(scope="module")
def gevent_path(tmp_path_factory):
    given = preset_site("gevent")
    if given:
        # installed beforehand for an interpreter that has no pip of its own (tests/run
        # --musl puts gevent's musllinux wheel there)
        return given
    tmp = tmp_path_factory.mktemp("gevent")
    wheels = tmp / "wheels"
    site = tmp / "site"

    rc, out = pip("download", "--no-deps", "--only-binary", ":all:", "--dest", str(wheels),
                  "gevent")
    if rc != 0:
        skip_if_offline(out, "gevent")
        if "No matching distribution" in out or "Could not find a version" in out:
            # Reachable but nothing for this interpreter? Ask for the project's versions to
            # tell "no wheel for this Python" from an index that does not answer.
            rc2, out2 = pip("index", "versions", "gevent")
            if rc2 == 0 and "Available versions" in out2:
                pytest.skip("gevent publishes no binary wheel for Python %d.%d on this platform"
                            % sys.version_info[:2])
            skip_if_offline(out2, "gevent")
        pytest.fail("downloading gevent failed:\n" + out)

    rc, out = pip("install", "--no-deps", "--no-index", "--find-links", str(wheels),
                  "--target", str(site), "gevent")
    if rc != 0:
        pytest.fail("installing the gevent wheel failed:\n" + out)
    # gevent's pure dependencies: from PyPI, unless this interpreter has them already (e.g.
    # Debian's packages in the root filesystem of an emulated run; zope.interface publishes no
    # wheel for some architectures)
    rc = 0
    if not importable("zope.event, zope.interface"):
        rc, out = pip("install", "--no-deps", "--only-binary", ":all:", "--target", str(site),
                      "zope.event", "zope.interface")
    if rc != 0:
        skip_if_offline(out, "zope.event/zope.interface")
        pytest.fail("installing zope.event and zope.interface failed:\n" + out)
    check_no_greenlet(site)
    return str(site)


def test_gevent_imports_against_this_greenlet(gevent_path):
    out = run_script(gevent_path, """
        import warnings
        warnings.simplefilter("error")          # Cython's size-changed warning becomes an error
        import gevent
        import gevent._gevent_cgreenlet          # the Cython-compiled Greenlet
        import gevent._gevent_c_greenlet_primitives
        from gevent import Greenlet
        assert Greenlet is gevent._gevent_cgreenlet.Greenlet
        assert issubclass(Greenlet, greenlet.greenlet)
        # Cython places gevent's fields after sizeof(PyGreenlet)
        assert Greenlet.__basicsize__ > greenlet.greenlet.__basicsize__
        assert gevent.getcurrent() is greenlet.getcurrent()
        print("gevent", gevent.__version__, "greenlet", greenlet.__version__)
    """)
    assert out.startswith("gevent ") and ("greenlet %s" % greenlet.__version__) in out


def test_greenlets_sleep_event_queue_timeout(gevent_path):
    out = run_script(gevent_path, """
        import time
        import gevent
        from gevent import Greenlet
        from gevent.event import AsyncResult, Event
        from gevent.pool import Pool
        from gevent.queue import Queue

        # spawn / joinall / values, order of interleaving through sleep(0)
        trace = []
        def worker(n):
            for i in range(3):
                trace.append((n, i))
                gevent.sleep(0)
            return n * n
        jobs = [gevent.spawn(worker, n) for n in range(5)]
        done = gevent.joinall(jobs, timeout=10)
        assert len(done) == 5
        assert [j.value for j in jobs] == [0, 1, 4, 9, 16]
        assert all(j.successful() and j.dead for j in jobs)
        assert trace[:5] == [(n, 0) for n in range(5)], trace
        assert all(isinstance(j, greenlet.greenlet) for j in jobs)
        assert all(j.parent is gevent.get_hub() for j in jobs)

        # sleep really waits and runs others meanwhile
        start = time.monotonic()
        sleepers = [gevent.spawn(gevent.sleep, 0.2) for _ in range(20)]
        gevent.joinall(sleepers)
        elapsed = time.monotonic() - start
        assert 0.18 <= elapsed < 2.0, elapsed

        # exceptions stay in their greenlet
        def boom():
            raise ValueError("boom")
        b = gevent.spawn(boom)
        b.join()
        assert isinstance(b.exception, ValueError) and not b.successful()

        # kill delivers GreenletExit into a sleeping greenlet
        killed = []
        def sleeper():
            try:
                gevent.sleep(30)
            except gevent.GreenletExit:
                killed.append(True)
                raise
        s = gevent.spawn(sleeper)
        gevent.sleep(0)
        s.kill(block=True, timeout=5)
        assert killed == [True] and s.dead

        # Event
        ev = Event()
        seen = []
        def waiter(i):
            assert ev.wait(5)
            seen.append(i)
        ws = [gevent.spawn(waiter, i) for i in range(10)]
        gevent.sleep(0.01)
        assert seen == []
        ev.set()
        gevent.joinall(ws, timeout=5)
        assert sorted(seen) == list(range(10))

        # AsyncResult
        ar = AsyncResult()
        gevent.spawn_later(0.01, ar.set, "result")
        assert ar.get(timeout=5) == "result"

        # Queue: producer/consumer
        q = Queue(maxsize=3)
        got = []
        def producer():
            for i in range(100):
                q.put(i)
            q.put(StopIteration)
        def consumer():
            for item in q:
                got.append(item)
        gevent.joinall([gevent.spawn(producer), gevent.spawn(consumer)], timeout=10)
        assert got == list(range(100))

        # Timeout
        start = time.monotonic()
        try:
            with gevent.Timeout(0.1):
                gevent.sleep(10)
        except gevent.Timeout as t:
            caught = t
        else:
            raise AssertionError("no timeout")
        assert time.monotonic() - start < 5
        assert isinstance(caught, gevent.Timeout)
        assert gevent.with_timeout(0.05, gevent.sleep, 5, timeout_value="late") == "late"
        with gevent.Timeout(5):
            gevent.sleep(0.01)   # does not fire

        # Pool.map and a greenlet switched by hand alongside the hub
        pool = Pool(4)
        assert pool.map(lambda x: x + 1, range(50)) == list(range(1, 51))
        g = greenlet.greenlet(lambda x: gevent.sleep(0.01) or x * 2)
        assert g.switch(21) == 42

        print("OK")
    """)
    assert out.strip().endswith("OK")


def test_stream_server_with_many_clients(gevent_path):
    out = run_script(gevent_path, """
        import gevent
        from gevent import socket
        from gevent.server import StreamServer

        def echo(sock, address):
            assert address[0] == "127.0.0.1"
            f = sock.makefile("rwb")
            for line in f:
                f.write(line.upper())
                f.flush()
            f.close()
            sock.close()

        server = StreamServer(("127.0.0.1", 0), echo)
        server.start()
        host, port = server.address[:2]
        assert host == "127.0.0.1" and port > 0

        CLIENTS, LINES = 50, 20
        def client(n):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                f = c.makefile("rwb")
                for i in range(LINES):
                    f.write(b"client %d line %d\\n" % (n, i))
                    f.flush()
                    reply = f.readline()
                    assert reply == b"CLIENT %d LINE %d\\n" % (n, i), reply
                    if i % 5 == 0:
                        gevent.sleep(0)
                f.close()
            return n

        with gevent.Timeout(30):
            clients = [gevent.spawn(client, n) for n in range(CLIENTS)]
            gevent.joinall(clients, raise_error=True)
        assert sorted(c.value for c in clients) == list(range(CLIENTS))
        server.stop(timeout=5)
        print("OK", CLIENTS)
    """)
    assert out.strip() == "OK 50"


def test_monkey_patch_all_threading(gevent_path):
    out = run_script(gevent_path, """
        from gevent import monkey
        monkey.patch_all()

        import queue
        import socket
        import threading
        import time
        from concurrent.futures import ThreadPoolExecutor

        import gevent
        assert monkey.is_module_patched("threading")
        assert monkey.is_module_patched("socket")
        assert monkey.is_module_patched("time")

        # threads are greenlets now: they all sleep at once on one OS thread
        results = queue.Queue()
        lock = threading.Lock()
        counter = [0]
        def work(n):
            time.sleep(0.2)
            with lock:
                counter[0] += 1
            results.put((n, isinstance(gevent.getcurrent(), greenlet.greenlet)))
        start = time.monotonic()
        threads = [threading.Thread(target=work, args=(n,)) for n in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert time.monotonic() - start < 3
        got = sorted(results.get_nowait() for _ in range(30))
        assert got == [(n, True) for n in range(30)], got
        assert counter[0] == 30

        # Event and Condition across "threads"
        ev = threading.Event()
        cond = threading.Condition()
        box = []
        def setter():
            time.sleep(0.05)
            with cond:
                box.append("x")
                cond.notify_all()
            ev.set()
        threading.Thread(target=setter).start()
        assert ev.wait(5)
        with cond:
            assert cond.wait_for(lambda: box, 5)

        # a thread pool
        with ThreadPoolExecutor(max_workers=8) as ex:
            assert list(ex.map(lambda x: x * 3, range(40))) == [x * 3 for x in range(40)]

        # patched stdlib sockets between a server thread and client threads, loopback only
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        srv.listen(32)
        port = srv.getsockname()[1]
        def serve_one(conn):
            with conn:
                while True:
                    data = conn.recv(1024)
                    if not data:
                        break
                    conn.sendall(data[::-1])
        def acceptor(count):
            for _ in range(count):
                conn, _ = srv.accept()
                threading.Thread(target=serve_one, args=(conn,)).start()
        N = 20
        acc = threading.Thread(target=acceptor, args=(N,))
        acc.start()
        replies = queue.Queue()
        def client(n):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                msg = ("message %d" % n).encode()
                c.sendall(msg)
                replies.put(c.recv(1024) == msg[::-1])
        cs = [threading.Thread(target=client, args=(n,)) for n in range(N)]
        for c in cs:
            c.start()
        for c in cs:
            c.join(10)
        acc.join(10)
        srv.close()
        assert [replies.get_nowait() for _ in range(N)] == [True] * N

        # the main thread's identity is still a greenlet in the hub's thread
        assert threading.main_thread() is threading.current_thread()
        print("OK")
    """)
    assert out.strip().endswith("OK")


def test_gevent_greenlet_subclass_and_raw_greenlets(gevent_path):
    out = run_script(gevent_path, """
        import gc, weakref
        import gevent
        from gevent import Greenlet

        class Named(Greenlet):
            def __init__(self, name):
                Greenlet.__init__(self)
                self.name_ = name
            def _run(self):
                gevent.sleep(0.01)
                return self.name_.upper()

        gs = [Named("g%d" % i) for i in range(20)]
        for g in gs:
            g.start()
        gevent.joinall(gs, timeout=5)
        assert [g.value for g in gs] == ["G%d" % i for i in range(20)]
        refs = [weakref.ref(g) for g in gs]
        del gs, g
        gevent.sleep(0.01)                      # let the hub drop its last reference
        gc.collect()
        assert all(r() is None for r in refs)

        # greenlet.settrace sees gevent's switches
        events = []
        old = greenlet.settrace(lambda event, args: events.append(event))
        try:
            gevent.spawn(gevent.sleep, 0).join()
        finally:
            greenlet.settrace(old)
        assert "switch" in events

        # a plain greenlet parented to the hub works with gevent blocking calls
        hub = gevent.get_hub()
        result = []
        def raw():
            gevent.sleep(0.01)
            result.append("raw done")
        g = greenlet.greenlet(raw, parent=hub)
        hub.loop.run_callback(g.switch)
        gevent.sleep(0.05)
        assert g.dead
        assert result == ["raw done"], result
        print("OK")
    """)
    assert out.strip().endswith("OK")
