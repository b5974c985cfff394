"""Why a log directory does not recover, as sentences an operator can act on.

Three kinds, each naming the file and what to do:

- `CorruptLog`: a damaged record with valid records after it (or a file
  named like a segment that is not one). `--accept-corruption` cuts there.
- `LostLog` (a `CorruptLog`): the log is shorter than its own evidence says,
  so recovering it would silently go back in time: it ends before a snapshot's
  seq, a segment number is missing, or its last segment says it continues
  in one that is gone. `--accept-loss` recovers to where the log ends and sets
  the rest aside.
- `RecoveryError` (an `OSError`): the disk or the file system refused
  (full, permission denied, a directory where a file should be, I/O error).
"""

import errno
import os

__all__ = ["CorruptLog", "LostLog", "BadSegment", "RecoveryError"]


class CorruptLog(Exception):
    """A damaged record with valid records after it: recovery will not guess."""

    def __init__(self, segment, offset, reason):
        self.segment, self.offset, self.reason = segment, offset, reason
        super().__init__(
            f"{segment}: corrupt record at offset {offset} ({reason}) with valid records "
            f"after it; refusing to drop them. Inspect the segment (`gatebook log dump`), "
            f"or pass --accept-corruption to cut the log at this record.")


class LostLog(CorruptLog):
    """The log ends before what it proves it held: recovery would go backwards.

    Parameters
    ----------
    directory : str
    reason : str
        What proves the loss, naming the files.
    end : int or str
        Where the log still ends (a seq, or "the end of segment-N.wal"): where
        `--accept-loss` recovers to.
    segment : str
        The file the reason is about (a missing segment's would-be path).
    """

    def __init__(self, directory, reason, end, segment=""):
        self.segment, self.offset, self.reason, self.end = segment, 0, reason, end
        end = f"seq {end}" if isinstance(end, int) else end
        Exception.__init__(
            self,
            f"{directory}: {reason}. The log was cut: recovering it would silently go back to "
            f"{end}. Put the missing files back, or run `gatebook recover --dir {directory} "
            f"--accept-loss` to recover to {end} and set the rest aside (under "
            f"{os.path.join(directory, 'damaged')}).")


class BadSegment(CorruptLog):
    """A file named like a segment whose header is whole but wrong: not one a crash leaves."""

    def __init__(self, segment, reason):
        self.segment, self.offset, self.reason = segment, 0, reason
        Exception.__init__(
            self,
            f"{segment}: unusable segment header ({reason}); refusing to guess what it holds. "
            f"If it is not a Gatebook segment, move it out of the log directory; "
            f"--accept-corruption sets it and every later segment aside.")


_ADVICE = {
    errno.ENOSPC: "free space on the file system holding {directory}, then run `gatebook "
                  "recover --dir {directory}` again (`--read-only` looks without writing)",
    errno.EDQUOT: "raise the quota or free space for {directory}, then run `gatebook recover "
                  "--dir {directory}` again",
    errno.EACCES: "run as a user who may read and write {directory} (or fix its permissions)",
    errno.EPERM:  "run as a user who may read and write {directory} (or fix its permissions)",
    errno.EROFS:  "remount {directory} read-write, or look with `gatebook recover --read-only`",
    errno.EISDIR: "it is a directory named like a log file: move it out of {directory}",
    errno.ENOTDIR: "a path component is a file, not a directory: check --dir",
    errno.EIO:    "the disk failed: copy {directory} to a healthy disk and recover the copy",
}


class RecoveryError(OSError):
    """The file system refused something recovery (or a reader: `doing`) needs; the
    message names the file and what to do."""

    def __init__(self, directory, error, doing="recover"):
        self.directory, self.cause = directory, error
        name = errno.errorcode.get(error.errno, str(error.errno)) if error.errno else ""
        where = error.filename or directory
        advice = _ADVICE.get(error.errno, "fix the cause, then run `gatebook recover --dir "
                                          "{directory}` again").format(directory=directory)
        super().__init__(f"cannot {doing} {directory}: {where}: {error.strerror or error}"
                         + (f" ({name})" if name else "") + f"; {advice}.")
        self.errno = error.errno
        self.filename = where

    def __str__(self):
        return self.args[0]
