"""``--cpu-top=N``: the N tests that cost the most CPU, and each worker's fixed costs, after the run.

Per test (setup, call and teardown): the test process's CPU (``time.process_time``), its waited-for
children's (``RUSAGE_CHILDREN``: a ``scrapy crawl`` subprocess, a server or a browser the test
started and stopped), and wall time. A session-scoped server (Redis, PostgreSQL, Chromium) is counted
in the setup of the first test that asks for it, as far as it is a child; a daemon (``pg_ctl``'s
PostgreSQL) is not counted. Per worker: CPU before the first test (start, imports, collection) and in
all. Works with and without xdist (a worker's figures travel in its reports and ``workeroutput``).
"""

from __future__ import annotations

import resource
import time

import pytest

_KEY = "cpu_meter"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def add_option(parser) -> None:
    """``--cpu-top`` (called by tests/conftest.py's ``pytest_addoption``)."""
    parser.addoption(
        "--cpu-top",
        type=int,
        default=0,
        metavar="N",
        help="after the run, list the N tests that took the most CPU (own + children's) and each worker's fixed costs",
    )


class CpuMeter:
    def __init__(self, config):
        self.config = config
        self.tests: list[tuple[float, float, float, str]] = []  # own, children, wall, nodeid
        self.workers: dict[str, dict] = {}
        self.first_test_cpu: float | None = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.first_test_cpu is None:
            self.first_test_cpu = time.process_time() + _children_cpu()
        own, children, wall = time.process_time(), _children_cpu(), time.perf_counter()
        item.stash[_start] = (own, children, wall)
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.when == "teardown":
            own, children, wall = item.stash[_start]
            figures = (time.process_time() - own, _children_cpu() - children, time.perf_counter() - wall)
            outcome.get_result().user_properties.append((_KEY, figures))

    def pytest_runtest_logreport(self, report):
        for name, figures in report.user_properties:
            if name == _KEY:
                self.tests.append((*figures, report.nodeid))

    def pytest_sessionfinish(self, session):
        output = getattr(self.config, "workeroutput", None)
        if output is not None:  # an xdist worker: its fixed costs go to the controller
            output[_KEY] = self._own_figures()

    def _own_figures(self) -> dict:
        total = time.process_time() + _children_cpu()
        return {"before_first_test": self.first_test_cpu or total, "total": total}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        figures = getattr(node, "workeroutput", {}).get(_KEY)
        if figures:
            self.workers[node.gateway.id] = figures

    def pytest_terminal_summary(self, terminalreporter):
        if hasattr(self.config, "workerinput"):
            return
        if not self.workers:
            self.workers["main"] = self._own_figures()
        write = terminalreporter.write_line
        top = self.config.getoption("cpu_top")
        cpu = sum(own + children for own, children, _, _ in self.tests)
        write(f"=== CPU per test: {len(self.tests)} tests, {cpu:.1f} s CPU in tests; top {top} ===")
        write(f"{'cpu':>7} {'own':>7} {'child':>7} {'wall':>7}  test")
        for own, children, wall, nodeid in sorted(self.tests, key=lambda t: -(t[0] + t[1]))[:top]:
            write(f"{own + children:7.2f} {own:7.2f} {children:7.2f} {wall:7.2f}  {nodeid}")
        modules: dict[str, list[float]] = {}  # module -> [cpu, wall]: what LONGEST_MODULES orders
        for own, children, wall, nodeid in self.tests:
            sums = modules.setdefault(nodeid.split("::", 1)[0], [0.0, 0.0])
            sums[0], sums[1] = sums[0] + own + children, sums[1] + wall
        write(f"=== CPU per module: top {top} ===")
        for module, (module_cpu, module_wall) in sorted(modules.items(), key=lambda m: -m[1][0])[:top]:
            write(f"{module_cpu:7.2f} {'':15} {module_wall:7.2f}  {module}")
        for worker, figures in sorted(self.workers.items()):
            write(
                f"worker {worker}: {figures['before_first_test']:.1f} s CPU before its first test "
                f"(start, imports, collection), {figures['total']:.1f} s in all"
            )


_start = pytest.StashKey[tuple]()


def register(config) -> None:
    """The meter, when ``--cpu-top`` asks for it (called by tests/conftest.py's ``pytest_configure``)."""
    if config.getoption("cpu_top"):
        config.pluginmanager.register(CpuMeter(config), "cpu_meter")
