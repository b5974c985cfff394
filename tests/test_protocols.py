"""The shipped protocols' log-origin codecs reach every reader of a log `gatebook run` wrote.

The log imports no protocol (host/wal/origins.py); a library user who calls the public
`gatebook.recover` on such a log must not need to know that OUCH's package registers its
codec on import. Each check runs in a fresh interpreter, where nothing imported OUCH yet.
"""

import os
import subprocess
import sys

from gatebook.host.ouch.log_origin import encode_origin
from gatebook.host.wal.loadgen import seeded_commands, stamped

from wal_helpers import old_segment

RECOVER = """
import sys, gatebook
engine, report = gatebook.recover(sys.argv[1])
print(report.origins, engine.state_hash())
"""


def _log_with_ouch_origins(directory, count=50):
    commands = list(stamped(seeded_commands(5, count)))
    origins = [encode_origin(command[0], (7, 1000 + index, index + 1) +
                             ((0,) if command[0] == ord("R") else ()), ("10.0.0.7", 4000))
               for index, command in enumerate(commands)]
    return old_segment(os.path.join(directory, "segment-00000000.wal"), commands, 3, origins)


def test_the_public_recover_reads_ouch_origins_in_a_fresh_interpreter(tmp_path):
    expected = _log_with_ouch_origins(str(tmp_path))
    done = subprocess.run([sys.executable, "-c", RECOVER, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    origins, state_hash = done.stdout.split()
    assert int(origins) == 50 and state_hash == expected


def test_gatebook_recover_reads_them_too(tmp_path):
    _log_with_ouch_origins(str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", "recover", "--dir", str(tmp_path),
                           "--read-only"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
