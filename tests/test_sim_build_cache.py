"""The build cache (sim/build_cache.py): Verilog and simulator builds kept by what they
are made from, reused when nothing changed, made again when anything did, and safe
when two processes ask for the same build at once."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gatebook.sim import build_cache
from gatebook.wire.enums import Side


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(build_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cache_folder_follows_its_environment_variable(cache):
    assert build_cache.cache_root() == cache and cache.is_dir()


def test_a_changed_parameter_gives_new_verilog_and_the_same_one_is_reused(cache):
    from gatebook.hdl.window import Window
    made = []

    def window(depth):
        def make():
            made.append(depth)
            return Window(depth, Side.BUY)
        return build_cache.cached_verilog("window", {"depth": depth, "side": "buy"}, make,
                                          "window")

    two = window(2)
    assert made == [2] and "module window" in two.read_text()
    stamp = two.stat().st_mtime_ns
    assert window(2) == two and made == [2]           # reused: not converted again
    assert two.stat().st_mtime_ns == stamp            # nor rewritten (a build compares times)
    three = window(3)
    assert made == [2, 3] and three != two            # another depth: another artifact
    assert three.read_text() != two.read_text()
    assert sorted(path.name for path in (cache / "window").iterdir()) == sorted(
        [two.name, three.name])                       # no temporary files left behind


def test_a_changed_source_file_gives_a_new_key(tmp_path):
    design = tmp_path / "hdl"
    design.mkdir()
    (design / "core.py").write_text("WIDTH = 8\n")
    before = build_cache.design_digest([design])
    key = build_cache.artifact_key("core", {"depth": 4}, digest=before)
    (design / "core.py").write_text("WIDTH = 9\n")
    build_cache._digest_of.cache_clear()          # the digest is read once per process
    after = build_cache.design_digest([design])
    assert after != before
    assert build_cache.artifact_key("core", {"depth": 4}, digest=after) != key
    assert build_cache.artifact_key("core", {"depth": 4}, digest=before) == key
    # parameter order is not part of the key; parameter values are
    assert build_cache.artifact_key("core", {"a": 1, "b": 2}, digest=before) == \
        build_cache.artifact_key("core", {"b": 2, "a": 1}, digest=before)
    assert build_cache.artifact_key("core", {"a": 1}, digest=before) != \
        build_cache.artifact_key("core", {"a": 2}, digest=before)


_BUILDER = textwrap.dedent("""
    import os, sys, time
    from gatebook.sim import build_cache
    with build_cache.build_directory("slow", {"n": 1}, digest="fixed") as (directory, done):
        if not done:
            with open(directory / "builds.log", "a") as log:
                log.write(f"{os.getpid()}\\n")
            time.sleep(1.0)                     # a build that takes a while
            (directory / "artifact").write_text("built")
            build_cache.mark_complete(directory)
        print(directory, done, (directory / "artifact").read_text())
""")


def test_two_processes_asking_for_one_build_build_it_once(cache):
    environment = {build_cache.CACHE_ENV: str(cache)}
    processes = [subprocess.Popen([sys.executable, "-c", _BUILDER], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(os.environ, **environment)) for _ in range(2)]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.split())
    directories = {directory for directory, _, _ in outputs}
    assert len(directories) == 1                               # the same build directory
    assert sorted(done for _, done, _ in outputs) == ["False", "True"]   # one built, one waited
    assert all(artifact == "built" for _, _, artifact in outputs)
    [directory] = directories
    assert len((Path(directory) / "builds.log").read_text().split()) == 1
