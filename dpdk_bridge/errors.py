"""Exceptions of the DPDK bridge."""

__all__ = ["DpdkError", "DpdkUnavailable"]


class DpdkUnavailable(RuntimeError):
    """DPDK cannot be used on this machine; the message says why and what to install."""


class DpdkError(OSError):
    """A DPDK call failed. `errno` is DPDK's error number, `strerror` DPDK's own
    text for it (`rte_strerror`), `call` names the function that failed, and
    `log` holds what DPDK logged during the call (often the real reason)."""

    def __init__(self, call, errnum, text, log=""):
        super().__init__(errnum, text)
        self.call, self.log = call, log

    def __str__(self):
        text = f"{self.call}: {self.strerror} (errno {self.errno})"
        return f"{text}; DPDK logged: {self.log}" if self.log else text
