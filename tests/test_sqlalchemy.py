"""SQLAlchemy's asyncio layer running on the installed greenlet.

SQLAlchemy runs its synchronous engine and ORM code inside a greenlet of its own
(`greenlet_spawn`); wherever that code has to wait for the database driver it switches to the
parent greenlet, which awaits the driver's coroutine in the event loop and switches back with
the result (`await_`). SQLAlchemy, its pure dependency typing_extensions and the aiosqlite
driver (tests/sqlalchemy-requirements.txt) are installed as tests/_dependents.py describes.

Skipped only when PyPI cannot be reached, or, for the database scenarios, when this interpreter
was built without the sqlite3 module; any other install failure fails.
"""
import os

import pytest

import _subinterpreters as subinterpreters
from _dependents import (check_no_greenlet, importable, pip, preset_site, run_script,
                         skip_if_offline)

REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "sqlalchemy-requirements.txt")
with open(REQUIREMENTS) as _file:
    # the versions of SQLAlchemy the file names (one per range of CPython versions)
    SQLALCHEMY_PINS = {line.split(";")[0].split("==")[1].strip()
                       for line in _file if line.startswith("sqlalchemy==")}
TIMEOUT = 300  # importing SQLAlchemy takes a while under qemu-user
TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def sqlalchemy_path(tmp_path_factory):
    given = preset_site("sqlalchemy")
    if given:
        return given
    site = tmp_path_factory.mktemp("sqlalchemy") / "site"
    rc, out = pip("install", "--no-deps", "--only-binary", ":all:", "--target", str(site),
                  "-r", REQUIREMENTS)
    if rc != 0:
        skip_if_offline(out, "SQLAlchemy")
        pytest.fail("installing SQLAlchemy failed:\n" + out)
    check_no_greenlet(site)
    return str(site)


@pytest.fixture(scope="module")
def sqlite_path(sqlalchemy_path):
    if not importable("sqlite3"):
        pytest.skip("this interpreter was built without the sqlite3 module")
    return sqlalchemy_path


def test_greenlet_spawn_and_await(sqlalchemy_path):
    out = run_script(sqlalchemy_path, """
        import asyncio
        import gc

        import sqlalchemy
        from sqlalchemy import exc
        from sqlalchemy.util import greenlet_spawn
        try:
            from sqlalchemy.util import await_
        except ImportError:                        # SQLAlchemy 2.0's name for it
            from sqlalchemy.util import await_only as await_

        def live_greenlets():
            gc.collect()
            return [type(o).__name__ for o in gc.get_objects() if isinstance(o, greenlet.greenlet)]

        def add_up(n):
            me = greenlet.getcurrent()
            total = 0
            for i in range(n):
                total += await_(asyncio.sleep(0, result=i))   # a switch to the loop and back
                assert greenlet.getcurrent() is me
            return total, type(me).__name__

        async def fails():
            await asyncio.sleep(0)
            raise KeyError("from the loop")

        def catches():
            try:
                await_(fails())
            except KeyError as error:
                return "caught " + error.args[0]

        def lets_out():
            await_(asyncio.sleep(0))
            raise ValueError("from the greenlet")

        async def main():
            greenlet.getcurrent()                  # the thread's main greenlet, made on demand
            before = live_greenlets()
            sizes = range(1, 101)
            results = await asyncio.gather(*(greenlet_spawn(add_up, n) for n in sizes))
            assert results == [(n * (n - 1) // 2, "_AsyncIoGreenlet") for n in sizes], results
            assert await greenlet_spawn(catches) == "caught from the loop"
            try:
                await greenlet_spawn(lets_out)
            except ValueError as error:
                assert error.args == ("from the greenlet",)
            else:
                raise AssertionError("greenlet_spawn swallowed the error")
            awaitable = asyncio.sleep(0)
            try:
                await_(awaitable)                  # not inside greenlet_spawn
            except exc.MissingGreenlet:
                pass
            else:
                raise AssertionError("await_ outside greenlet_spawn did not raise")
            finally:
                awaitable.close()
            assert live_greenlets() == before, (live_greenlets(), before)

        asyncio.run(main())
        print("sqlalchemy", sqlalchemy.__version__, "ok")
    """, timeout=TIMEOUT)
    assert out.startswith("sqlalchemy ") and out.endswith(" ok\n"), out
    assert out.split()[1] in SQLALCHEMY_PINS, (out, SQLALCHEMY_PINS)


def test_async_orm_on_sqlite(sqlite_path):
    out = run_script(sqlite_path, """
        import asyncio
        import os
        from typing import List

        from sqlalchemy import ForeignKey, func, select, text
        from sqlalchemy.exc import MissingGreenlet, StatementError
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
        from sqlalchemy.orm import selectinload

        class Base(DeclarativeBase):
            pass

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]
            addresses: Mapped[List["Address"]] = relationship(back_populates="user")

        class Address(Base):
            __tablename__ = "addresses"
            id: Mapped[int] = mapped_column(primary_key=True)
            user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
            email: Mapped[str]
            user: Mapped[User] = relationship(back_populates="addresses")

        USERS = 200

        async def count_for(sessions, user_id):
            async with sessions() as session:
                user = await session.scalar(
                    select(User).where(User.id == user_id).options(selectinload(User.addresses)))
                return user.name, sorted(a.email for a in user.addresses)

        async def main():
            path = os.path.abspath("orm-%d.db" % os.getpid())
            engine = create_async_engine("sqlite+aiosqlite:///" + path)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                sessions = async_sessionmaker(engine, expire_on_commit=False)
                async with sessions() as session:
                    session.add_all(
                        User(name="u%d" % i,
                             addresses=[Address(email="u%d-%d@example.org" % (i, k))
                                        for k in range(i % 3)])
                        for i in range(USERS))
                    await session.commit()

                # many sessions at once, each switching in and out of its own greenlet
                rows = await asyncio.gather(*(count_for(sessions, i + 1) for i in range(USERS)))
                assert rows == [("u%d" % i, ["u%d-%d@example.org" % (i, k) for k in range(i % 3)])
                                for i in range(USERS)], rows[:5]

                async with engine.connect() as conn:
                    total = await conn.scalar(select(func.count()).select_from(Address))
                    assert total == sum(i % 3 for i in range(USERS)), total
                    names = [row.name async for row in await conn.stream(
                        select(User.name).order_by(User.id))]
                    assert names == ["u%d" % i for i in range(USERS)], names[:5]

                async with sessions() as session:
                    user = await session.get(User, 6)
                    # a lazy load outside SQLAlchemy's greenlet is refused, not run
                    try:
                        user.addresses
                    except (MissingGreenlet, StatementError) as error:
                        # 2.1 wraps it in a StatementError, 2.0 raises it as it is
                        refusal = getattr(error, "orig", error)
                        assert isinstance(refusal, MissingGreenlet), repr(error)
                    else:
                        raise AssertionError("lazy load outside greenlet_spawn ran")
                    # ... and works inside it
                    count = await session.run_sync(lambda s: len(s.get(User, 6).addresses))
                    assert count == (6 - 1) % 3, count

                # a task cancelled while its greenlet waits for the database
                async def slow():
                    async with engine.connect() as conn:
                        while True:
                            await conn.execute(text("select 1"))
                            await asyncio.sleep(0)
                task = asyncio.ensure_future(slow())
                await asyncio.sleep(0.05)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                else:
                    raise AssertionError("the task was not cancelled")
                async with engine.connect() as conn:
                    assert await conn.scalar(text("select 41 + 1")) == 42
            finally:
                await engine.dispose()
                os.unlink(path)

        asyncio.run(main())
        print("orm ok")
    """, timeout=TIMEOUT)
    assert out == "orm ok\n", out


def test_greenlet_spawn_inside_a_subinterpreter(sqlalchemy_path, tmp_path):
    # An interpreter with its own GIL (CPython 3.12+) imports this greenlet and SQLAlchemy, and
    # runs greenlet_spawn there while the main interpreter has its own greenlets. SQLAlchemy's
    # compiled modules (*_cy) use single-phase initialization, which such an interpreter
    # refuses: there it is given their pure-Python twins, which its wheels ship beside them.
    if not subinterpreters.AVAILABLE:
        pytest.skip(subinterpreters.WHY_NOT)
    result = str(tmp_path / "version.txt")
    out = run_script(sqlalchemy_path, """
        import os
        import sys
        sys.path.insert(0, %r)
        import _subinterpreters as subinterpreters

        main_side = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch("parked"))
        assert main_side.switch() == "parked"
        interp = subinterpreters.create()
        try:
            subinterpreters.run(interp, subinterpreters.prologue() + '''
        import importlib.util
        import os
        import sys

        class PurePythonTwins:
            def find_spec(self, name, path=None, target=None):
                if name.startswith("sqlalchemy.") and name.endswith("_cy") and path:
                    for folder in path:
                        source = os.path.join(folder, name.rpartition(".")[2] + ".py")
                        if os.path.exists(source):
                            return importlib.util.spec_from_file_location(name, source)
                return None

        sys.meta_path.insert(0, PurePythonTwins())

        import asyncio
        import greenlet
        import sqlalchemy
        from sqlalchemy.util import greenlet_spawn
        try:
            from sqlalchemy.util import await_
        except ImportError:
            from sqlalchemy.util import await_only as await_

        def add_up(n):
            me = greenlet.getcurrent()
            total = 0
            for i in range(n):
                total += await_(asyncio.sleep(0, result=i))
                assert greenlet.getcurrent() is me
            return total, type(me).__name__

        async def main():
            sizes = range(1, 31)
            results = await asyncio.gather(*(greenlet_spawn(add_up, n) for n in sizes))
            assert results == [(n * (n - 1) // 2, "_AsyncIoGreenlet") for n in sizes], results

        asyncio.run(main())
        with open(%r, "w") as out:
            out.write(sqlalchemy.__version__)
        ''')
        finally:
            subinterpreters.destroy(interp)
        assert main_side.switch("back") == "back" and main_side.dead
        print("subinterpreter sqlalchemy", open(%r).read(), "ok", flush=True)
        if sys.version_info < (3, 13):
            # CPython 3.12 frees an invalid pointer at exit once asyncio ran in a subinterpreter,
            # without greenlet too (a subinterpreter running asyncio.run(...) is enough).
            os._exit(0)
    """ % (TESTS, result, result), timeout=TIMEOUT)
    assert out.startswith("subinterpreter sqlalchemy ") and out.endswith(" ok\n"), out
    assert out.split()[2] in SQLALCHEMY_PINS, (out, SQLALCHEMY_PINS)
