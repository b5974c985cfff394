// Verilator harness for one matching lane (gatebook.hdl.matcher.Matcher as Verilog), driven in batches.
//
// sim/hybrid/verilator_link.py starts it and speaks this protocol on stdin/stdout
// (all little-endian):
//   in:  u32 n, then n command payloads of IN_WORDS u32 words each;
//   out: u32 m, u64 clock count so far, then m event beats (gatebook.hdl.layouts.EVENT_PAIR) of
//        OUT_WORDS words each.
// For each batch the harness presents the payloads on i (valid held back at random
// between records when stalls are asked for), collects o (ready dropped at random)
// and answers once everything was accepted and the lane is idle: in IDLE, nothing
// accepted and nothing written in the last clock. No Python runs per clock.
// argv: stall per mille, seed, VCD file or "-" (only when built with -DTRACE).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "Vmatcher.h"
#include "verilated.h"
#ifdef TRACE
#include "verilated_vcd_c.h"
#endif

// Verilator spells the Verilog ports i__valid etc. with the double underscore escaped.
#define I_VALID   i___05Fvalid
#define I_READY   i___05Fready
#define I_PAYLOAD i___05Fpayload
#define O_VALID   o___05Fvalid
#define O_READY   o___05Fready
#define O_PAYLOAD o___05Fpayload
#define IDLE      idle

static uint64_t rng_state;
static inline uint64_t next_random() {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}

static bool read_all(void *buffer, size_t size) {
    return fread(buffer, 1, size, stdin) == size;
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    unsigned stall = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    rng_state = argc > 2 ? strtoull(argv[2], nullptr, 10) * 2654435761ULL + 88172645463325252ULL
                         : 88172645463325252ULL;
    Vmatcher *top = new Vmatcher;
    uint64_t time = 0, cycles = 0;
#ifdef TRACE
    VerilatedVcdC *vcd = nullptr;
    if (argc > 3 && strcmp(argv[3], "-") != 0) {
        Verilated::traceEverOn(true);
        vcd = new VerilatedVcdC;
        top->trace(vcd, 99);
        vcd->open(argv[3]);
    }
#define DUMP() do { if (vcd) vcd->dump(time); } while (0)
#else
#define DUMP() do {} while (0)
#endif
    auto clock = [&]() {
        top->clk = 0; top->eval(); DUMP(); time += 5;
        top->clk = 1; top->eval(); DUMP(); time += 5;
        cycles++;
    };
    top->rst = 1; top->I_VALID = 0; top->O_READY = 0;
    clock(); clock();
    top->rst = 0;

    std::vector<uint32_t> in, out;
    uint32_t n;
    while (read_all(&n, 4)) {
        in.resize((size_t)n * IN_WORDS);
        if (n && !read_all(in.data(), in.size() * 4)) return 1;
        out.clear();
        size_t next = 0;
        bool presenting = false, quiet = false;
        uint64_t last_transfer = cycles;
        while (!quiet) {
            if (next < n && !presenting) presenting = !stall || next_random() % 1000 >= stall;
            presenting = presenting && next < n;
            bool ready = !stall || next_random() % 1000 >= stall;
            top->I_VALID = presenting;
            if (presenting)
                for (int k = 0; k < IN_WORDS; k++) top->I_PAYLOAD[k] = in[next * IN_WORDS + k];
            top->O_READY = ready;
            top->clk = 0; top->eval();
            bool i_ready = top->I_READY, o_valid = top->O_VALID, idle = top->IDLE;
            bool taken = presenting && i_ready;
            if (o_valid && ready)
                for (int k = 0; k < OUT_WORDS; k++) out.push_back(top->O_PAYLOAD[k]);
            DUMP(); time += 5;
            top->clk = 1; top->eval(); DUMP(); time += 5;
            cycles++;
            if (taken) { next++; presenting = false; }
            if (taken || (o_valid && ready)) last_transfer = cycles;
            else if (idle && !o_valid && next == n) quiet = true;
            if (cycles - last_transfer > 1000000) {
                fprintf(stderr, "lane stuck at clock %llu\n", (unsigned long long)cycles);
                return 2;
            }
        }
        uint32_t m = out.size() / OUT_WORDS;
        fwrite(&m, 4, 1, stdout);
        fwrite(&cycles, 8, 1, stdout);
        if (m) fwrite(out.data(), 4, out.size(), stdout);
        fflush(stdout);
    }
#ifdef TRACE
    if (vcd) vcd->close();
#endif
    top->final();
    delete top;
    return 0;
}
