"""Shared by the crasher scripts: an echo greenlet that answers whoever
switches to it and switches straight back, so that callbacks can switch away
and come back in the middle of whatever the interpreter was doing."""
from greenlet import getcurrent
from greenlet import greenlet as Greenlet


class Echo:
    def __init__(self):
        self.calls = []
        self.greenlet = Greenlet(self._run)

    def _run(self, origin, value):
        while True:
            self.calls.append(value)
            origin, value = origin.switch(('echo', value))

    def __call__(self, value):
        """Switch to the echo greenlet and back; returns what it answered."""
        if self.greenlet.dead:
            raise RuntimeError('echo greenlet died')
        return self.greenlet.switch(getcurrent(), value)
