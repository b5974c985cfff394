"""The unit a board carries on its Ethernet PHY: MAC, link endpoint and lane on RGMII pins.

# Ref: docs/boards.md ("Clocks and RGMII delays"); RGMII v2.0 (2 ns between clock and
#      data at the receiver); Lattice FPGA-TN-02035 (IDDRX1F, ODDRX1F, DELAYG) and
#      FPGA-TN-02200 (EHXPLLL); gatebook/boards/ecp5.py.

`EthernetBoardTop(board, depth)` puts `gatebook.hdl.mac.endpoint.MacEndpoint(depth, mac)` on
the board's RGMII resource (`board.ETHERNET`; its control pins' names in `board.RGMII_CTL`,
as amaranth-boards spells them differently per board). Two clocks, each timed by nextpnr
against 125 MHz:

- `sync`, the core: an EHXPLLL makes it from the board's oscillator (the platform's
  default clock, whose port constraint nextpnr carries through the PLL). The lane, the
  link endpoint and the MAC's transmitter run on it, and the RGMII transmit pins leave
  through ODDRX1Fs clocked by it;
- `rx`, the PHY's receive clock (RXC, its pin constrained to 125 MHz): the MAC's receiver
  up to its `AsyncFIFO`.

RGMII wants the clock 2 ns after the data at each receiver. Each board says who adds it
(`board.TX_CLOCK_PHASE`, `board.RX_DELAY_NS`): TXC comes from the PLL's second output, 90
degrees (2 ns) after the core clock, or in phase when the PHY delays TXC itself; the
receive pins go through a DELAYG of `RX_DELAY_NS` when the PHY does not delay RXC. The PHY
is held in reset for `PHY_RESET_MS` after the PLL locks. The board's reset button
(`board.RESET`) resets the design. LEDs, as many as the board has: 0 frames received,
1 frames sent (each toggles per frame), 2 any frame the MAC dropped, 3 any frame the
endpoint dropped.
"""

from amaranth.hdl import ClockDomain, ClockSignal, Const, Elaboratable, Module, Signal, Value
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from gatebook.hdl.mac.endpoint import MacEndpoint

from .ecp5 import DelayedDdrInput, Pll, pll_parameters

__all__ = ["EthernetBoardTop", "BOARD_MAC", "CORE_CLOCK_MHZ", "PHY_RESET_MS"]

BOARD_MAC = "02:00:00:00:e0:01"     # locally administered; the host's --link-peer
CORE_CLOCK_MHZ = 125                # 1000BASE-T's byte clock: RGMII's TXC and RXC
PHY_RESET_MS = 10                   # the PHY's reset pulse (Realtek and Broadcom ask >= 10 ms)


class EthernetBoardTop(Elaboratable):
    """`MacEndpoint(depth, mac)` on a board's RGMII PHY: a PLL core clock, the PHY's RXC.

    Parameters
    ----------
    board : module
        A `gatebook.boards` board module with `ETHERNET` (its RGMII resource), `RGMII_CTL`
        (the names of its receive and transmit control pins), `RESET` (the reset button's
        resource), `LEDS`, `TX_CLOCK_PHASE` (degrees of TXC after the data) and
        `RX_DELAY_NS` (delay the FPGA adds to the receive pins).
    depth : int
        The lane's window depth.
    mac : str
        The endpoint's MAC address.
    unit : callable, optional
        `unit(depth)` -> the component on the pins, in `MacEndpoint`'s place, with its
        RGMII pairs and counters (`gatebook.boards.mac_top.MacLoopback`, to time the MAC
        alone).
    """

    def __init__(self, board, depth, mac=BOARD_MAC, unit=None):
        self.board, self.depth, self.mac, self.unit = board, depth, mac, unit

    def elaborate(self, platform):
        m = Module()
        board = self.board
        eth = platform.request(board.ETHERNET, 0, dir="-")

        # -- clocks: the core from the PLL, RXC from the PHY ------------------------------
        oscillator = platform.request(platform.default_clk, 0, dir="-")
        m.submodules.oscillator = clkin = io.Buffer("i", oscillator)
        m.submodules.pll = pll = Pll(clkin.i, pll_parameters(
            platform.default_clk_frequency / 1e6, CORE_CLOCK_MHZ, board.TX_CLOCK_PHASE))
        # Constraints go on ports: yosys keeps one of a net's several names, so a constraint
        # on an inner signal (`pll.clkop`) can name a net that no longer exists. nextpnr
        # derives the PLL's outputs (125 MHz on the core's net, `clk`) from the oscillator's
        # port constraint, which the platform adds, and the PLL's FREQUENCY_PIN_* attributes.
        m.domains.sync = ClockDomain("sync")
        m.domains.txc = ClockDomain("txc", reset_less=True)
        m.d.comb += [ClockSignal("sync").eq(pll.clkop), ClockSignal("txc").eq(pll.clkos)]

        m.submodules.rxc = rxc = io.Buffer("i", eth.rx_clk)
        m.domains.rx = ClockDomain("rx")
        m.d.comb += ClockSignal("rx").eq(rxc.i)
        platform.add_clock_constraint(eth.rx_clk.io, CORE_CLOCK_MHZ * 1e6)

        m.submodules.button = button = io.Buffer("i", platform.request(board.RESET, 0, dir="-"))
        m.submodules.reset = ResetSynchronizer(button.i | ~pll.locked, domain="sync")

        # -- the unit and its pins ---------------------------------------------------------
        m.submodules.unit = unit = (self.unit(self.depth) if self.unit
                                    else MacEndpoint(depth=self.depth, mac=self.mac))
        rx_ctl_pin, tx_ctl_pin = (getattr(eth, name) for name in board.RGMII_CTL)
        for name, pin in (("rxd", eth.rx_data), ("rx_ctl", rx_ctl_pin)):
            if board.RX_DELAY_NS:
                pads = DelayedDdrInput(pin, "rx", board.RX_DELAY_NS)
            else:
                pads = io.DDRBuffer("i", pin, i_domain="rx")
            m.submodules[name] = pads
            m.d.comb += Value.cast(getattr(unit, name)).eq(Value.cast(pads.i))
        m.submodules.txd = txd = io.DDRBuffer("o", eth.tx_data, o_domain="sync")
        m.submodules.tx_ctl = tx_ctl = io.DDRBuffer("o", tx_ctl_pin, o_domain="sync")
        m.submodules.txc = txc = io.DDRBuffer("o", eth.tx_clk, o_domain="txc")
        m.d.comb += [
            Value.cast(txd.o).eq(Value.cast(unit.txd)),
            Value.cast(tx_ctl.o).eq(Value.cast(unit.tx_ctl)),
            Value.cast(txc.o).eq(Const(0b01, 2)),      # high in the rising half, low in the falling
        ]

        # -- the PHY's reset: a pulse once the clocks run ---------------------------------
        m.submodules.phy_reset = phy_reset = io.Buffer("o", eth.rst)
        hold = int(CORE_CLOCK_MHZ * 1000 * PHY_RESET_MS)
        phy_count = Signal(range(hold + 1))
        with m.If(phy_count != hold):
            m.d.sync += phy_count.eq(phy_count + 1)
        m.d.comb += phy_reset.o.eq(phy_count != hold)

        lights = [unit.rx_frames[0], unit.tx_frames[0], Value.cast(unit.mac_drops).any(),
                  Value.cast(unit.drops).any()]
        for k, light in enumerate(lights[:board.LEDS]):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(light)
        return m
