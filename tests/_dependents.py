"""Helpers for the tests that run greenlet's dependents (gevent, SQLAlchemy) on this greenlet.

A dependent and its requirements are installed with ``pip --target`` into a temporary
directory, never into the environment that holds greenlet, and each scenario runs in a
subprocess whose PYTHONPATH holds that directory. GREENLET_TEST_DEPENDENTS_SITE names a
directory where the dependents were installed beforehand, for an interpreter without pip.
"""
import itertools
import os
import subprocess
import sys
import textwrap

import pytest

import greenlet

PRESET_SITE = os.environ.get("GREENLET_TEST_DEPENDENTS_SITE")

_script_numbers = itertools.count()
_PIP_NETWORK = ["--timeout", "30", "--retries", "2"]

_NETWORK_ERRORS = (
    "Could not fetch URL",
    "Failed to establish a new connection",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname provided",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "Connection reset by peer",
    "RemoteDisconnected",
)


def pip(*args):
    """Runs this interpreter's pip; returns (exit status, combined output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args, *_PIP_NETWORK],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        timeout=600)
    return proc.returncode, proc.stdout


def skip_if_offline(output, what):
    """Skips the test when pip's `output` says PyPI could not be reached."""
    if any(marker in output for marker in _NETWORK_ERRORS):
        pytest.skip("PyPI is unreachable; cannot fetch %s:\n%s" % (what, output[-2000:]))


def importable(names):
    """Whether this interpreter imports `names` on its own (isolated mode)."""
    proc = subprocess.run([sys.executable, "-I", "-c", "import " + names],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return proc.returncode == 0


def preset_site(package):
    """The directory of GREENLET_TEST_DEPENDENTS_SITE, checked to hold `package` and no
    greenlet of its own; None when the variable is not set."""
    if not PRESET_SITE:
        return None
    assert os.path.isdir(os.path.join(PRESET_SITE, package)), (PRESET_SITE, package)
    check_no_greenlet(PRESET_SITE)
    return PRESET_SITE


def check_no_greenlet(site):
    """A dependents' directory must hold no greenlet of its own (pip --no-deps brings none)."""
    assert not os.path.exists(os.path.join(str(site), "greenlet")), \
        "%s holds a greenlet of its own" % site


def run_script(site, body, timeout=60):
    """Runs `body` (dedented) in a fresh interpreter with `site` first on its path, after
    checking that it imports this greenlet; returns its stdout, failing on a non-zero exit."""
    env = dict(os.environ)
    # the dependents' directory, then the one this greenlet was imported from (which need not
    # be on the child's default path: an emulated run puts the package on PYTHONPATH)
    env["PYTHONPATH"] = os.pathsep.join(
        [site, os.path.dirname(os.path.dirname(os.path.abspath(greenlet.__file__)))])
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    for name in list(env):
        if name.startswith(("GEVENT", "SQLALCHEMY")):
            del env[name]
    prologue = textwrap.dedent("""
        import greenlet
        assert greenlet.__file__ == %r, (greenlet.__file__, %r)
    """ % (greenlet.__file__, greenlet.__file__))
    script = os.path.join(site, "..", "scenario_%d.py" % next(_script_numbers))
    with open(script, "w") as f:
        f.write(prologue + textwrap.dedent(body))
    proc = subprocess.run([sys.executable, script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                          env=env, cwd=site)
    assert proc.returncode == 0, "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout
