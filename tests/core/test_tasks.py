"""Background task supervisor: periodic runs, isolation, clean shutdown, cluster locks, CLI."""

from __future__ import annotations

import asyncio
import logging

import fakeplugins
import pytest
from fakeplugins import OVERLAP, TASK_CALLS, TASK_EVENTS, installed

from core import cli
from core.keys import REDIS, SUPERVISOR
from core.tasks import FileLocks, LeaseLost, LocalLocks, PostgresLocks, RedisLocks, UnknownTask

PLUGINS = installed(ticker="fakeplugins:Ticker", slowtask="fakeplugins:SlowTask", overlap="fakeplugins:Overlap",
                    stubborn="fakeplugins:Stubborn")


@pytest.fixture(autouse=True)
def reset_task_log():
    TASK_CALLS.clear()
    TASK_EVENTS.clear()
    yield
    TASK_CALLS.clear()
    TASK_EVENTS.clear()


async def wait_for(predicate, within: float = 3.0) -> None:
    """Poll a condition the tasks change (they run on their own schedule)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_periodic_task_keeps_running_after_failures(kit, caplog):
    caplog.set_level(logging.ERROR, logger="mentorkit.tasks")
    client = await kit.client(["ticker"], installed=PLUGINS, tasks={"enabled": True})
    await wait_for(lambda: len(TASK_CALLS) >= 5)
    failures = [r for r in caplog.records if r.name == "mentorkit.tasks"]
    assert len(failures) == 2  # calls 1 and 3 raised; 2, 4, 5 ran fine after them
    assert "task ticker.flaky failed" in failures[0].getMessage()
    assert failures[0].exc_info and "boom #1" in str(failures[0].exc_info[1])
    assert all(name == "ticker.flaky" for name, _ in TASK_CALLS)
    assert "ticker.flaky" in client.app[SUPERVISOR].names


async def test_tasks_do_not_run_when_disabled_but_run_once_works(kit):
    client = await kit.client(["ticker"], installed=PLUGINS)  # the kit disables tasks
    await asyncio.sleep(0.15)
    assert TASK_CALLS == []
    with pytest.raises(RuntimeError, match="boom #1"):  # run_once lets the failure through
        await client.app[SUPERVISOR].run_once("ticker.flaky")
    assert await client.app[SUPERVISOR].run_once("ticker.flaky") is True
    assert len(TASK_CALLS) == 2


async def test_shutdown_cancels_running_and_long_running_tasks(kit):
    client = await kit.client(["slowtask"], installed=PLUGINS, tasks={"enabled": True})
    supervisor = client.app[SUPERVISOR]
    await wait_for(lambda: TASK_CALLS and "forever.started" in TASK_EVENTS)
    running = supervisor.running
    names = {task.get_name() for task in running}
    assert {"mentorkit-task-slow.run", "mentorkit-task-slow.forever"} <= names  # (+ the core's own)
    assert not any(task.done() for task in running)
    await client.close()  # slow.run is in the middle of its 0.3 s run
    assert all(task.done() and task.cancelled() for task in running)
    assert sorted(TASK_EVENTS) == ["forever.cancelled", "forever.started", "slow.cancelled"]
    assert supervisor.running == []


async def test_shutdown_stops_a_task_that_swallowed_a_cancellation(kit_sqlite):
    client = await kit_sqlite.client(["stubborn"], installed=PLUGINS, tasks={"enabled": True})
    running = client.app[SUPERVISOR].running
    await wait_for(lambda: "stubborn.started" in TASK_EVENTS)
    async with asyncio.timeout(2):
        await client.close()
    assert TASK_EVENTS == ["stubborn.started", "stubborn.ignored-cancel", "stubborn.cancelled"]
    assert all(task.done() for task in running)


async def test_file_lock_is_not_leaked_when_cancelled_while_acquiring(tmp_path):
    locks = FileLocks(tmp_path / "app.db")
    acquiring = asyncio.create_task(locks.hold("job").__aenter__())
    await asyncio.sleep(0)  # the thread is started, then the caller goes away
    acquiring.cancel()
    with pytest.raises(asyncio.CancelledError):
        await acquiring
    await asyncio.sleep(0.2)  # the thread finished and its descriptor was closed
    async with locks.hold("job") as acquired:
        assert acquired
        async with FileLocks(tmp_path / "app.db").hold("job") as again:
            assert again is False  # a second opener (another app or process) is excluded


@pytest.fixture(params=["database", "redis"])
def shared_locks(request, kit) -> tuple[dict, type]:
    """Config shared by two apps, and the lock backend they must pick."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return {"redis": {"url": url, "prefix": request.getfixturevalue("redis_prefix")}}, RedisLocks
    return {}, FileLocks if kit.database_url.startswith("sqlite") else PostgresLocks


async def test_run_once_runs_on_one_of_two_apps(kit, shared_locks):
    overrides, lock_kind = shared_locks
    first = await kit.client(["slowtask"], installed=PLUGINS, **overrides)
    second = await kit.client(["slowtask"], installed=PLUGINS, **overrides)
    assert type(first.app[SUPERVISOR].locks) is lock_kind
    results = await asyncio.gather(
        first.app[SUPERVISOR].run_once("slow.run"), second.app[SUPERVISOR].run_once("slow.run")
    )
    assert sorted(results) == [False, True]
    assert len(TASK_CALLS) == 1
    winner = first.app if results[0] else second.app
    assert TASK_CALLS[0] == ("slow.run", id(winner))
    # Released afterwards (Redis key deleted, transaction ended, file unlocked).
    assert await second.app[SUPERVISOR].run_once("slow.run") is True
    assert await first.app[SUPERVISOR].run_once("slow.run") is True
    if lock_kind is RedisLocks:
        assert await first.app[REDIS].exists(first.app[SUPERVISOR].locks.key("slow.run")) == 0


async def test_periodic_runs_on_two_workers_never_overlap(kit, shared_locks):
    overrides, _ = shared_locks
    OVERLAP.update(active=0, max=0, runs=0)
    for _ in range(2):
        await kit.client(["overlap"], installed=PLUGINS, tasks={"enabled": True}, **overrides)
    await wait_for(lambda: OVERLAP["runs"] >= 6)
    assert OVERLAP["max"] == 1


async def test_unknown_task_names_the_known_ones(kit):
    client = await kit.client(["slowtask", "ticker"], installed=PLUGINS)
    with pytest.raises(UnknownTask, match=r"unknown task 'nope'; tasks: (.+, )?slow.forever, slow.run, ticker.flaky"):
        await client.app[SUPERVISOR].run_once("nope")


async def test_a_lost_redis_lease_stops_the_run(redis_url, redis_prefix):
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    locks = RedisLocks(client, redis_prefix, lease=0.3)
    try:
        with pytest.raises(LeaseLost):
            async with locks.hold("job") as acquired:
                assert acquired
                async with locks.hold("job") as again:
                    assert again is False  # held
                await client.delete(locks.key("job"))  # e.g. Redis restarted
                await asyncio.sleep(2)
        assert await client.exists(locks.key("job")) == 0
    finally:
        await client.aclose()


async def test_local_lock_for_in_memory_sqlite():
    locks = LocalLocks()
    async with locks.hold("a") as first:
        async with locks.hold("a") as second, locks.hold("b") as other:
            assert (first, second, other) == (True, False, True)
    async with locks.hold("a") as again:
        assert again


def _cli_env(monkeypatch, database_url: str, plugins: str) -> None:
    monkeypatch.setattr("core.app.installed_plugins", lambda: PLUGINS)
    monkeypatch.delenv("MENTORKIT_CONFIG", raising=False)
    monkeypatch.setenv("MENTORKIT_DATABASE_URL", database_url)
    monkeypatch.setenv("MENTORKIT_DATABASE_AUTO_MIGRATE", "false")
    monkeypatch.setenv("MENTORKIT_PLUGINS", plugins)
    monkeypatch.setenv("MENTORKIT_TASKS_ENABLED", "true")  # the command still runs only the one task
    monkeypatch.setenv("MENTORKIT_SERVER_LOG_LEVEL", "WARNING")


def test_cli_runs_one_task(database_url, monkeypatch, capsys):
    _cli_env(monkeypatch, database_url, "slowtask")
    assert cli.main(["tasks", "run", "slow.run"]) == 0
    assert [name for name, _ in fakeplugins.TASK_CALLS] == ["slow.run"]
    assert TASK_EVENTS == []  # no other task was started
    assert "task slow.run ran in" in capsys.readouterr().out

    assert cli.main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "slow.run" in out and "every 3600s" in out and "long-running" in out


def test_cli_unknown_and_failing_tasks(database_url, monkeypatch, capsys):
    _cli_env(monkeypatch, database_url, "slowtask,ticker")
    assert cli.main(["tasks", "run", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'nope'; tasks: " in err and "slow.forever, slow.run, ticker.flaky\n" in err
    assert cli.main(["tasks", "run", "ticker.flaky"]) == 1  # its first call raises
    assert cli.main(["tasks", "run", "ticker.flaky"]) == 0
