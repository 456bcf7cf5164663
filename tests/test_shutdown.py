"""Interpreter exit with unfinished greenlets, run in child processes."""
import pytest


def _check_clean_exit(rc, out, err):
    assert rc == 0, 'exit code %r\nstdout:\n%s\nstderr:\n%s' % (rc, out, err)
    assert 'Fatal Python error' not in err
    assert 'Segmentation fault' not in err
    assert 'Traceback' not in err, err


def test_exit_with_suspended_greenlets_in_main_thread(script):
    rc, out, err = script(r'''
        import greenlet

        main = greenlet.getcurrent()

        def parked(i):
            main.switch('parked %d' % i)
            return 'never'

        def deep(n):
            if n == 0:
                return main.switch('deep parked')
            return deep(n - 1)

        def nest_outer():
            inner = greenlet.greenlet(lambda: main.switch('inner parked'))
            return inner.switch()

        keep = []
        for i in range(10):
            g = greenlet.greenlet(parked)
            print(g.switch(i))
            keep.append(g)
        d = greenlet.greenlet(deep)
        print(d.switch(200))
        n = greenlet.greenlet(nest_outer)
        print(n.switch())
        print('END OF SCRIPT')
    ''')
    _check_clean_exit(rc, out, err)
    lines = out.splitlines()
    assert lines[:10] == ['parked %d' % i for i in range(10)]
    assert lines[10:] == ['deep parked', 'inner parked', 'END OF SCRIPT']


def test_exit_with_greenlet_holding_exception_state(script):
    rc, out, err = script(r'''
        import greenlet

        main = greenlet.getcurrent()

        def body():
            try:
                raise ValueError('held')
            except ValueError:
                main.switch('suspended inside except')

        g = greenlet.greenlet(body)
        print(g.switch())
        try:
            raise KeyError('main side')
        except KeyError as e:
            tb_holder = e.__traceback__
        print('DONE')
    ''')
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == ['suspended inside except', 'DONE']


def test_suspended_global_greenlet_finally_not_run_at_exit(script):
    rc, out, err = script(r'''
        import os
        import greenlet

        main = greenlet.getcurrent()

        def body(_write=os.write):
            try:
                main.switch()
            finally:
                _write(1, b'GLOBAL FINALLY\n')

        g = greenlet.greenlet(body)
        g.switch()

        def released_early(_write=os.write):
            try:
                main.switch()
            finally:
                _write(1, b'EARLY FINALLY\n')

        e = greenlet.greenlet(released_early)
        e.switch()
        del e
        print('END', flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    # Explicitly released: killed normally.  Still suspended when the
    # interpreter finalises: discarded without running Python code.
    assert out.splitlines() == ['EARLY FINALLY', 'END']


def test_exit_with_greenlets_left_in_finished_threads(script):
    rc, out, err = script(r'''
        import threading
        import greenlet

        kept = []
        lock = threading.Lock()

        def worker(n):
            def body():
                greenlet.getcurrent().parent.switch('t%d' % n)
                return 'never'
            gs = [greenlet.greenlet(body) for _ in range(20)]
            values = [g.switch() for g in gs]
            with lock:
                kept.extend(gs)
            assert values == ['t%d' % n] * 20

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print('KEPT', len(kept), flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == ['KEPT 80']


def test_thread_exit_runs_finally_of_its_own_greenlets(script):
    rc, out, err = script(r'''
        import os
        import threading
        import greenlet

        def worker(n):
            def body(_write=os.write):
                try:
                    greenlet.getcurrent().parent.switch()
                except greenlet.GreenletExit:
                    _write(1, b'EXIT IN THREAD\n')
                    raise
                finally:
                    _write(1, b'FINALLY IN THREAD\n')
            g = greenlet.greenlet(body)
            g.switch()
            # the thread ends with g still suspended and only referenced here

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print('JOINED', flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    lines = out.splitlines()
    assert lines.count('EXIT IN THREAD') == 3
    assert lines.count('FINALLY IN THREAD') == 3
    assert lines[-1] == 'JOINED'


def test_exit_while_daemon_threads_hold_suspended_greenlets(script):
    rc, out, err = script(r'''
        import threading
        import greenlet

        ready = threading.Barrier(4)

        def daemon():
            def body():
                greenlet.getcurrent().parent.switch()
            gs = [greenlet.greenlet(body) for _ in range(10)]
            for g in gs:
                g.switch()
            ready.wait()
            threading.Event().wait()  # blocks until the process ends

        for _ in range(3):
            threading.Thread(target=daemon, daemon=True).start()
        ready.wait()
        print('MAIN EXITING', flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == ['MAIN EXITING']


def test_getcurrent_and_switching_inside_atexit(script):
    rc, out, err = script(r'''
        import atexit
        import greenlet

        main = greenlet.getcurrent()
        parked = greenlet.greenlet(lambda: main.switch('parked'))
        parked.switch()

        def at_exit():
            current = greenlet.getcurrent()
            print('ATEXIT CURRENT', type(current).__name__, current.parent is None,
                  current is main, flush=True)
            g = greenlet.greenlet(lambda x: x * 2)
            print('ATEXIT SWITCH', g.switch(21), flush=True)
            print('ATEXIT TRACE', greenlet.gettrace(), flush=True)
            greenlet.settrace(lambda *a: None)
            greenlet.settrace(None)
            print('ATEXIT RESUME', parked.switch(), flush=True)

        atexit.register(at_exit)
        print('REGISTERED', flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == [
        'REGISTERED',
        'ATEXIT CURRENT greenlet True True',
        'ATEXIT SWITCH 42',
        'ATEXIT TRACE None',
        'ATEXIT RESUME ()',
    ]


def test_getcurrent_during_finalization_raises_runtime_error(script):
    rc, out, err = script(r'''
        import os
        import greenlet

        class Late:
            def __del__(self, _getcurrent=greenlet.getcurrent, _write=os.write):
                try:
                    _getcurrent()
                except RuntimeError as e:
                    _write(1, ('LATE RuntimeError: %s\n' % (e,)).encode())
                else:
                    _write(1, b'LATE no error\n')

        finished = greenlet.greenlet(lambda: 'done')
        finished.switch()
        late = Late()
        print('END', flush=True)
    ''')
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == ['END', 'LATE RuntimeError: greenlet is being finalized']


def test_sys_exit_inside_greenlet_exits_process(script):
    rc, out, err = script(r'''
        import sys
        import greenlet

        def body():
            print('IN GREENLET', flush=True)
            sys.exit(7)

        greenlet.greenlet(body).switch()
        print('NOT REACHED', flush=True)
    ''')
    assert rc == 7, err
    assert out.splitlines() == ['IN GREENLET']
    assert 'Fatal Python error' not in err


def test_uncaught_exception_in_greenlet_at_top_level(script):
    rc, out, err = script(r'''
        import greenlet

        def inner_failure():
            raise LookupError('uncaught from greenlet')

        greenlet.greenlet(inner_failure).switch()
    ''')
    assert rc == 1
    assert 'LookupError: uncaught from greenlet' in err
    assert 'inner_failure' in err
    assert 'Fatal Python error' not in err


@pytest.mark.parametrize('n_threads', [1, 4])
def test_exit_with_trace_function_installed_in_threads(script, n_threads):
    rc, out, err = script(r'''
        import sys
        import threading
        import greenlet

        n = int(sys.argv[1])
        seen = []

        def worker():
            greenlet.settrace(lambda event, args: seen.append(event))
            g = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
            g.switch()
            keep.append(g)

        keep = []
        threads = [threading.Thread(target=worker) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        greenlet.settrace(lambda event, args: None)
        print('EVENTS', len(seen), flush=True)
    ''', args=[str(n_threads)])
    _check_clean_exit(rc, out, err)
    assert out.splitlines() == ['EVENTS %d' % (2 * n_threads)]
