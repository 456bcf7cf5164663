"""SIGINT delivered while greenlets switch rapidly.

Modes (argv[1]):
  timer     a timer thread sends SIGINT (send_sigint) while the main thread
            switches between greenlets in a tight loop; the default handler's
            KeyboardInterrupt is raised in whichever greenlet is running and
            reaches the main greenlet, which catches it.
  raise     signal.raise_signal(SIGINT) from inside a nested greenlet.
  handler   a Python signal handler that itself switches greenlets; a timer
            thread sends many signals while the main thread switches.

Must exit with status 0 after printing its markers."""
import os
import signal
import sys
import threading
import time

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

mode = sys.argv[1]
main = getcurrent()


def send_sigint():
    """SIGINT to this process, from any thread. Windows has no kill(): os.kill ends the process
    there; raise() runs the interpreter's C handler in the calling thread, which flags it for
    the main thread as a real Ctrl+C would."""
    if sys.platform == 'win32':
        signal.raise_signal(signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGINT)


def pinger(tag):
    count = 0
    while True:
        count += 1
        main.switch((tag, count))


def check_usable(greenlets):
    # Every greenlet is either dead or still resumes normally.
    states = []
    for g in greenlets:
        if g.dead:
            states.append('dead')
        else:
            tag, count = g.switch()
            states.append('alive')
            assert tag == greenlets.index(g), (tag, greenlets.index(g))
    return states


if mode == 'timer':
    gs = [Greenlet(pinger) for _ in range(3)]
    for i, g in enumerate(gs):
        g.switch(i)
    timer = threading.Timer(0.2, send_sigint)
    timer.start()
    switches = [0]

    def switch_for_a_minute():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for g in gs:
                g.switch()
                switches[0] += 1

    # The loop runs in a function of its own: CPython 3.12 and 3.13 compile the jump back to a
    # `while` condition outside the range of an enclosing `try`, so a KeyboardInterrupt raised
    # at that jump (where the interpreter checks for signals) would skip `except` written
    # around the loop itself; a plain Python loop shows the same. Raised anywhere in the
    # function, it leaves through the call, which the `try` covers.
    try:
        switch_for_a_minute()
    except KeyboardInterrupt:
        print('KeyboardInterrupt caught in main', flush=True)
    else:
        print('NO INTERRUPT', flush=True)
    timer.join()
    print('switched before the signal', switches[0] > 0, flush=True)
    states = check_usable(gs)
    # At most the greenlet that was running when the signal arrived died.
    print('dead after interrupt at most one', states.count('dead') <= 1, flush=True)
    print('current is main', getcurrent() is main, flush=True)

elif mode == 'raise':
    def inner():
        getcurrent().parent.switch('inner parked')
        signal.raise_signal(signal.SIGINT)
        return 'not reached'

    def outer():
        child = Greenlet(inner)
        print(child.switch(), flush=True)
        try:
            child.switch()
        finally:
            print('outer finally, child dead', child.dead, flush=True)

    g = Greenlet(outer)
    try:
        g.switch()
    except KeyboardInterrupt:
        print('KeyboardInterrupt caught in main, outer dead', g.dead, flush=True)

elif mode == 'handler':
    echo_calls = []

    def echo_body(origin, value):
        while True:
            echo_calls.append(value)
            origin, value = origin.switch(('helped', value))

    echo = Greenlet(echo_body)
    handled = []

    def handler(signum, frame):
        # Runs in whichever greenlet is current; switches away and back.
        reply = echo.switch(getcurrent(), len(handled))
        assert reply == ('helped', len(handled)), reply
        handled.append(getcurrent())

    signal.signal(signal.SIGINT, handler)
    stop = threading.Event()

    def sender():
        for _ in range(20):
            if stop.is_set():
                break
            send_sigint()
            time.sleep(0.01)

    gs = [Greenlet(pinger) for _ in range(3)]
    for i, g in enumerate(gs):
        g.switch(i)
    t = threading.Thread(target=sender)
    t.start()
    deadline = time.monotonic() + 60
    while t.is_alive() and time.monotonic() < deadline:
        for g in gs:
            tag, _ = g.switch()
            assert tag == gs.index(g)
    stop.set()
    t.join()
    # Signals still pending are handled at the next check.
    for _ in range(1000):
        for g in gs:
            g.switch()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print('handled some', len(handled) > 0, flush=True)
    print('echo saw every call', echo_calls == list(range(len(handled))), flush=True)
    print('handlers ran in greenlets of this thread',
          all(h is main or h in gs for h in handled), flush=True)
    print('states', check_usable(gs), flush=True)
else:
    raise SystemExit('unknown mode %r' % mode)
print('OK', mode, flush=True)
