"""Every way `gatebook recover` and `gatebook log dump` can fail is a sentence, not a traceback.

Each case runs the real command in its own process and checks: a non-zero
exit status, no Python traceback, and a message naming the file at fault.
"""

import os
import shutil
import subprocess
import sys

import pytest

from wal_helpers import segments, tiny_tmpfs, write_log

GATEBOOK = os.path.join(os.path.dirname(sys.executable), "gatebook")
# Root reads every file whatever its mode; without these two capabilities
# the kernel checks permissions as for anyone else.
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def _gatebook(*args, prefix=()):
    done = subprocess.run([*prefix, GATEBOOK, *args], capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("small") / "log")
    write_log(directory, 400, segment_bytes=32 << 10)
    return directory


@pytest.fixture
def log_copy(small_log, tmp_path):
    target = str(tmp_path / "log")
    shutil.copytree(small_log, target)
    return target


def test_recover_on_a_full_disk_with_a_torn_tail(small_log, tmp_path):
    with tiny_tmpfs(tmp_path, "512k") as disk:
        directory = os.path.join(disk, "log")
        shutil.copytree(small_log, directory)
        last = segments(directory)[-1]
        os.truncate(last, os.path.getsize(last) - 5)        # torn: recovery must save and cut
        size = os.path.getsize(last)
        filler = os.open(os.path.join(disk, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(filler, bytes(512)):
                pass
        except OSError:
            pass                                            # full
        finally:
            os.close(filler)
        done = _gatebook("recover", "--dir", directory)
        assert done.returncode == 3
        assert "ENOSPC" in done.stderr and "free space" in done.stderr
        assert os.path.basename(last) in done.stderr
        assert os.path.getsize(last) == size                # nothing was cut
        assert not os.listdir(os.path.join(directory, "damaged"))   # no half-saved copy
        looked = _gatebook("recover", "--dir", directory, "--read-only")
        assert looked.returncode == 0 and "read-only" in looked.stdout


@pytest.mark.parametrize("command", [["recover"], ["log", "dump"], ["log", "prune", "--delete"]])
def test_a_directory_nobody_may_read(log_copy, command):
    if not shutil.which(WITHOUT_OVERRIDE[0]):
        pytest.skip("needs setpriv (util-linux) to drop root's permission override")
    os.chmod(log_copy, 0o000)
    try:
        done = _gatebook(*command, "--dir", log_copy, prefix=WITHOUT_OVERRIDE)
    finally:
        os.chmod(log_copy, 0o755)
    assert done.returncode != 0
    assert "Permission denied" in done.stderr and log_copy in done.stderr


@pytest.mark.parametrize("command", [["recover"], ["log", "dump"]])
def test_a_directory_named_like_a_segment(log_copy, command):
    number = len(segments(log_copy))
    os.mkdir(os.path.join(log_copy, f"segment-{number:08d}.wal"))
    done = _gatebook(*command, "--dir", log_copy)
    assert done.returncode != 0 and "is a directory" in done.stderr.lower()
    assert f"segment-{number:08d}.wal" in done.stderr


@pytest.mark.parametrize("command", [["recover"], ["log", "dump"]])
def test_garbage_named_like_a_segment(log_copy, command):
    number = len(segments(log_copy))
    garbage = os.path.join(log_copy, f"segment-{number:08d}.wal")
    with open(garbage, "wb") as file:
        file.write(b"this is not a log segment, it is a shopping list\n" * 20)
    done = _gatebook(*command, "--dir", log_copy)
    assert done.returncode != 0 and os.path.basename(garbage) in done.stderr
    assert "not a Gatebook log segment" in done.stderr
    assert os.path.exists(garbage)                          # not moved away as a "torn tail"


@pytest.mark.parametrize("command", [["recover"], ["log", "dump"]])
def test_a_file_given_as_the_directory(log_copy, command):
    done = _gatebook(*command, "--dir", segments(log_copy)[0])
    assert done.returncode == 2 and "is not a directory" in done.stderr


@pytest.mark.parametrize("command", [["recover"], ["log", "dump"]])
def test_a_directory_that_does_not_exist(tmp_path, command):
    done = _gatebook(*command, "--dir", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_a_snapshot_that_cannot_be_read_is_skipped_not_fatal(tmp_path):
    directory = str(tmp_path / "log")
    write_log(directory, 400, snapshot_every=150)
    os.mkdir(os.path.join(directory, "snapshot-00000000000000009999.snap"))
    done = _gatebook("recover", "--dir", directory)
    assert done.returncode == 0 and "snapshot rejected" in done.stdout
    assert "snapshot-00000000000000009999.snap" in done.stdout
