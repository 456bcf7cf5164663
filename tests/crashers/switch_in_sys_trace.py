"""Switching greenlets inside sys.settrace() and sys.setprofile()
functions: on Python call, line and return events of a workload (and on
calls of switch() for the profiler) the function switches to an echo
greenlet and back, while the workload itself switches between greenlets;
then a trace function that switches away to a scheduler and returns only
when its greenlet is resumed.

Must exit with status 0 after printing its markers."""
import os
import sys

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

sys.path.insert(0, os.path.dirname(__file__))
from _echo import Echo  # noqa: E402

echo = Echo()
seen = []
main = getcurrent()


def square(x):
    return x * x


def worker(n):
    total = 0
    for i in range(n):
        total += square(main.switch(i))
    return total


def workload():
    g = Greenlet(worker)
    values = [g.switch(5)]
    while not g.dead:
        values.append(g.switch(values[-1] + 1))
    return values


def record(kind, event, name):
    reply = echo((kind, event, name))
    seen.append((kind, event, name, reply == ('echo', (kind, event, name))))


def tracer(frame, event, arg):
    if frame.f_code.co_name == 'square':
        record('trace', event, 'square')
        return tracer
    return None


def profiler(frame, event, arg):
    if event == 'c_call' and getattr(arg, '__name__', None) == 'switch':
        record('profile', event, 'switch')
    elif event in ('call', 'return') and frame.f_code.co_name == 'square':
        record('profile', event, 'square')


def workload_under(set_hook, hook):
    del seen[:]
    set_hook(hook)
    try:
        return workload()
    finally:
        set_hook(None)


values = workload_under(sys.settrace, tracer)
print('traced values', values, flush=True)
print('trace events', len(seen), sorted(set(s[1] for s in seen)), flush=True)
print('all echoed', all(s[3] for s in seen), flush=True)
print('trace removed', sys.gettrace() is None, flush=True)
values = workload_under(sys.setprofile, profiler)
print('profiled values', values, flush=True)
print('profile events', len(seen), sorted(set(s[1:3] for s in seen)), flush=True)
print('all echoed', all(s[3] for s in seen), flush=True)

# A trace function that preempts: on a line event of a task it switches to
# the scheduler in the main greenlet, which resumes the next task; the trace
# function returns only when its task is resumed.  The interpreter's "inside
# a trace function" flag belongs to the thread, not to a greenlet, so the
# tasks resumed meanwhile run untraced: only task a is ever preempted, and
# b and c run to their end at once.
def task(name, n):
    acc = []
    for i in range(n):
        acc.append((name, i))
    return acc


order = []


def preempt(frame, event, arg):
    if frame.f_code.co_name != 'task':
        return None
    if event == 'line':
        me = getcurrent()
        order.append(me.name)
        main.switch(me)
    return preempt


tasks = []
for name in 'abc':
    t = Greenlet(task)
    t.name = name
    tasks.append(t)
results = {}
sys.settrace(preempt)
try:
    runnable = [(t, (t.name, 3)) for t in tasks]
    while runnable:
        t, args = runnable.pop(0)
        got = t.switch(*args)
        if t.dead:
            results[t.name] = got
        else:
            runnable.append((t, ()))
finally:
    sys.settrace(None)
print('preempted results', results == {n: [(n, i) for i in range(3)] for n in 'abc'}, flush=True)
print('preempted', ''.join(order), flush=True)
print('current is main', getcurrent() is main, flush=True)
print('echo calls', len(echo.calls), flush=True)
print('OK', flush=True)
