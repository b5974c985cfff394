"""DPDK ethernet ports and the burst buffers that carry their packets.

# Ref: DPDK 22.11 API, rte_ethdev.h (configure, queue setup, start/stop,
#      rx/tx burst, stats, link) and rte_mbuf.h (pktmbuf pools).

A `Burst` is one caller-owned buffer of fixed-stride slots plus a length per
slot. `Port.rx_burst` fills it with one C call and `Port.tx_burst` sends from
it with one C call, so per-packet cost stays in C; `Port.recv`/`Port.send`
are the convenient per-packet forms built on the same calls.
"""

import itertools
from array import array
from dataclasses import dataclass

from ._cgen import STATS

__all__ = ["Burst", "Link", "Port", "SLOT", "MAX_BURST"]

SLOT      = 2048      # bytes per slot: a full 1518-byte frame and then some
MAX_BURST = 1024      # the C helpers' limit per call
_DATA_ROOM = 2048 + 128   # RTE_MBUF_DEFAULT_BUF_SIZE: data room plus headroom
_pool_names = itertools.count()
_SETUP_STEPS = {1: "rte_eth_dev_configure", 2: "rte_eth_rx_queue_setup",
                3: "rte_eth_tx_queue_setup"}


class Burst:
    """Room for `size` packets of up to `slot` bytes each.

    `data` is a bytearray (`size * slot` bytes), `lens` an array of uint16;
    packet i is `data[i*slot : i*slot + lens[i]]`. Both may be handed to numpy
    with `numpy.frombuffer` without a copy.
    """

    def __init__(self, ffi, size=32, slot=SLOT):
        if not 0 < size <= MAX_BURST:
            raise ValueError(f"burst size must be 1..{MAX_BURST}, not {size}")
        self.size, self.slot = size, slot
        self.data = bytearray(size * slot)
        self.lens = array("H", bytes(2 * size))
        self.count = 0
        self._data_ptr = ffi.from_buffer("uint8_t[]", self.data)
        self._lens_ptr = ffi.from_buffer("uint16_t[]", self.lens)

    def packet(self, index):
        """A memoryview of packet `index` (cut to the slot if it was longer)."""
        start = index * self.slot
        return memoryview(self.data)[start:start + min(self.lens[index], self.slot)]

    def packets(self):
        """Every packet of the last burst, as bytes."""
        return [bytes(self.packet(index)) for index in range(self.count)]

    def load(self, packets):
        """Copy `packets` (bytes-like) into the slots for `Port.tx_burst`."""
        if len(packets) > self.size:
            raise ValueError(f"{len(packets)} packets do not fit a burst of {self.size}")
        for index, packet in enumerate(packets):
            if len(packet) > self.slot:
                raise ValueError(f"packet {index} is {len(packet)} bytes; slots hold {self.slot}")
            start = index * self.slot
            self.data[start:start + len(packet)] = packet
            self.lens[index] = len(packet)
        self.count = len(packets)
        return self


@dataclass(frozen=True)
class Link:
    up:          bool
    speed_mbps:  int
    full_duplex: bool
    autoneg:     bool


class Port:
    """A configured and started DPDK ethernet port with one mbuf pool.

    Created by `Eal.attach(devargs)`; one rx and one tx queue unless asked.
    """

    def __init__(self, eal, port_id, name, pool, owns_device):
        self.eal, self.id, self.name = eal, port_id, name
        self._ffi, self._lib = eal.ffi, eal.lib
        self._pool, self._owns_device = pool, owns_device
        self.started = False

    @classmethod
    def attach(cls, eal, devargs, rx_queues=1, tx_queues=1, rx_desc=1024, tx_desc=1024,
               pool_size=8191, start=True):
        ffi, lib = eal.ffi, eal.lib
        name = devargs.split(",", 1)[0]
        port_id = ffi.new("uint16_t *")
        owns = lib.rte_eth_dev_get_port_by_name(name.encode(), port_id) != 0
        if owns:
            with eal.logged() as log:
                ret = lib.rte_dev_probe(devargs.encode())
            eal.check(f"rte_dev_probe({devargs!r})", ret, log)
            eal.check(f"rte_eth_dev_get_port_by_name({name!r})",
                      lib.rte_eth_dev_get_port_by_name(name.encode(), port_id))
        port_id = port_id[0]
        pool = lib.rte_pktmbuf_pool_create(f"gb_pool_{next(_pool_names)}".encode(),
                                           pool_size, 256, 0, _DATA_ROOM,
                                           lib.rte_eth_dev_socket_id(port_id))
        if pool == ffi.NULL:
            eal.raise_errno("rte_pktmbuf_pool_create", lib.gb_errno())
        port = cls(eal, port_id, name, pool, owns)
        step = ffi.new("int *")
        with eal.logged() as log:
            ret = lib.gb_port_setup(port_id, rx_queues, tx_queues, rx_desc, tx_desc, pool, step)
        if ret < 0:
            port.close()
            eal.raise_errno(f"{_SETUP_STEPS.get(step[0], 'setup')}(port {port_id})", -ret, log)
        eal.ports[port_id] = port
        if start:
            port.start()
        return port

    # -- life cycle ------------------------------------------------------------

    def start(self):
        self.eal.check(f"rte_eth_dev_start(port {self.id})", self._lib.rte_eth_dev_start(self.id))
        self.started = True

    def stop(self):
        if self.started:
            self.eal.check(f"rte_eth_dev_stop(port {self.id})", self._lib.rte_eth_dev_stop(self.id))
            self.started = False

    def close(self):
        """Stop the port, close and detach its device, free the pool."""
        if self._pool is None:
            return
        self.started = False
        ret = self._lib.gb_port_detach(self.id)     # also frees the queues' mbufs
        self._lib.rte_mempool_free(self._pool)
        self._pool = None
        self.eal.ports.pop(self.id, None)
        self.eal.check(f"closing port {self.id}", min(ret, 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- packets ---------------------------------------------------------------

    def burst(self, size=32, slot=SLOT):
        """A `Burst` sized for this port's calls."""
        return Burst(self._ffi, size, slot)

    def rx_burst(self, burst, queue=0):
        """Receive up to `burst.size` packets into `burst`; return the count."""
        burst.count = self._lib.gb_rx_burst(self.id, queue, burst._data_ptr, burst.slot,
                                            burst._lens_ptr, burst.size)
        return burst.count

    def tx_burst(self, burst, queue=0, count=None):
        """Transmit the first `count` (default `burst.count`) packets of `burst`;
        return how many the driver took."""
        count = burst.count if count is None else count
        return self.eal.check(f"tx_burst(port {self.id})",
                              self._lib.gb_tx_burst(self.id, queue, self._pool, burst._data_ptr,
                                                    burst.slot, burst._lens_ptr, count))

    def recv(self, max_packets=32, queue=0):
        """Up to `max_packets` received packets as a list of bytes (may be empty)."""
        burst = self.burst(min(max_packets, MAX_BURST))
        self.rx_burst(burst, queue)
        return burst.packets()

    def send(self, packets, queue=0):
        """Transmit `packets` (bytes-like); return how many the driver took."""
        sent = 0
        for start in range(0, len(packets), MAX_BURST):
            chunk = packets[start:start + MAX_BURST]
            sent += self.tx_burst(self.burst(len(chunk)).load(chunk), queue)
        return sent

    # -- state -----------------------------------------------------------------

    def stats(self):
        """The port's counters as a dict, one entry per field of `_cgen.STATS`
        (DPDK's names: ipackets, opackets, ibytes, obytes, imissed, ierrors,
        oerrors, rx_nombuf), the table `struct gb_stats` is generated from."""
        out = self._ffi.new("struct gb_stats *")
        self.eal.check(f"rte_eth_stats_get(port {self.id})", self._lib.gb_stats_get(self.id, out))
        return {name: getattr(out, name) for name, *_ in STATS}

    def reset_stats(self):
        self.eal.check(f"rte_eth_stats_reset(port {self.id})", self._lib.rte_eth_stats_reset(self.id))

    def link(self):
        out = self._ffi.new("struct gb_link *")
        self.eal.check(f"rte_eth_link_get_nowait(port {self.id})", self._lib.gb_link_get(self.id, out))
        return Link(bool(out.up), out.speed_mbps, bool(out.full_duplex), bool(out.autoneg))

    @property
    def mac(self):
        out = self._ffi.new("uint8_t[6]")
        self.eal.check(f"rte_eth_macaddr_get(port {self.id})", self._lib.gb_mac_get(self.id, out))
        return ":".join(f"{byte:02x}" for byte in bytes(out))

    def pool_in_use(self):
        """mbufs currently taken from this port's pool (leak checks)."""
        return self._lib.rte_mempool_in_use_count(self._pool)

    def __repr__(self):
        return f"<dpdk Port {self.id} {self.name}{' started' if self.started else ''}>"
