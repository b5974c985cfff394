"""The DPDK Environment Abstraction Layer: one per process.

# Ref: DPDK 22.11 Programmer's Guide, "Environment Abstraction Layer" and the
#      EAL parameters of the Linux getting-started guide.

DPDK allows `rte_eal_init` once per process, so `Eal.start()` initialises it
on first use and hands back the same object afterwards. Ports are attached
after start-up by device arguments (`rte_dev_probe`), so one EAL serves any
number of virtual or PCI devices over a process's life.

The default arguments need no hugepages, no PCI access and no shared files,
and let the main lcore float over the CPUs this process may use (the EAL
would otherwise pin the calling thread to one core). A user with a real NIC
passes `pci=True` (and usually hugepages) and attaches its PCI address.
"""

import atexit
import os
import sys
from contextlib import contextmanager

from .errors import DpdkError

__all__ = ["Eal", "default_args"]


def default_args(memory_mb=256, pci=False, hugepages=False, log_level="warning"):
    """EAL arguments for a process that attaches its devices later."""
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    args = ["gatebook", f"--lcores=0@({cpus})", f"--file-prefix=gatebook-{os.getpid()}",
            "--no-shconf", "--no-telemetry", f"--log-level={log_level}", "-m", str(memory_mb)]
    if not hugepages:
        args.append("--no-huge")
    if not pci:
        args.append("--no-pci")
    return args


class Eal:
    """The process's EAL. Use `Eal.start()`; the constructor is private."""

    _instance = None

    def __init__(self, module, args):
        self.ffi, self.lib = module.ffi, module.lib
        self.args = tuple(args)
        self._argv_keep = [self.ffi.new("char[]", arg.encode()) for arg in args]
        argv = self.ffi.new("char *[]", self._argv_keep)
        self._argv_keep.append(argv)
        with self.logged() as log:
            ret = self.lib.rte_eal_init(len(args), argv)
        if ret < 0:
            self.raise_errno("rte_eal_init", self.lib.gb_errno(), log)
        self.check("rte_eal_init", 0, log)
        self.ports = {}            # port id -> Port, for cleanup
        self.alive = True
        atexit.register(self.cleanup)

    @classmethod
    def start(cls, args=None):
        """The running EAL, initialising it with `args` (default: `default_args()`)
        the first time. Raises DpdkUnavailable when DPDK is not installed."""
        if cls._instance is not None:
            if not cls._instance.alive:
                raise DpdkError("rte_eal_init", 114, "the EAL was cleaned up and DPDK "
                                "cannot start it twice in one process")
            return cls._instance
        from .build import load
        cls._instance = cls(load(), default_args() if args is None else args)
        return cls._instance

    def text(self, errnum):
        return self.ffi.string(self.lib.rte_strerror(errnum)).decode(errors="replace")

    def raise_errno(self, call, errnum, log=None):
        raise DpdkError(call, errnum, self.text(errnum), log[0] if log else "")

    def check(self, call, ret, log=None):
        """`ret` if it is not negative; else raise with DPDK's text for -ret."""
        if ret < 0:
            self.raise_errno(call, -ret, log)
        if log and log[0]:
            print(log[0], file=sys.stderr)
        return ret

    @contextmanager
    def logged(self):
        """Capture what DPDK logs inside the block: a one-item list afterwards.
        `check` puts it in the exception, or on stderr when the call worked."""
        box = []
        self.lib.gb_log_begin()
        try:
            yield box
        finally:
            out = self.ffi.new("char[]", 16384)
            size = self.lib.gb_log_end(out, 16384)
            box.append(self.ffi.buffer(out, size)[:].decode(errors="replace").strip())

    def attach(self, devargs, **options):
        """Probe a device (`net_ring0`, `net_pcap0,rx_pcap=in.pcap`, a PCI address)
        and return it as a configured, started `Port`."""
        from .port import Port
        return Port.attach(self, devargs, **options)

    def port_count(self):
        return self.lib.rte_eth_dev_count_avail()

    def cleanup(self):
        """Close every port and release the EAL's resources (at exit, or now)."""
        if not self.alive:
            return
        for port in list(self.ports.values()):
            port.close()
        runtime = self.ffi.string(self.lib.rte_eal_get_runtime_dir()).decode()
        self.lib.rte_eal_cleanup()
        self.alive = False
        try:
            os.rmdir(runtime)          # the EAL leaves its (empty) runtime directory
        except OSError:
            pass
