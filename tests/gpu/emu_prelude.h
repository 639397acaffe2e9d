// Host stand-ins for the CUDA built-ins the kernels in kernels/*.cu use, so that g++ can build
// a kernel file into a shared library whose extern "C" kernels run on the CPU
// (tests/gpu/emulator.py).
//
// Kernels whose threads never talk to each other run one (block, thread) at a time.
// Kernels that cooperate through __shared__ memory and __syncthreads() run each block with the
// launch's real block size, every CUDA thread a coroutine (ucontext) with its own stack, taking
// turns: each runs from its start or barrier to its next barrier or its end, in a fixed order
// (thread 0, 1, ... or the reverse), and __syncthreads() opens once every thread of the block
// has arrived or returned. The schedule is deterministic and adversarial: with a barrier
// missing, one thread reads shared memory before the others have written it (in one order or
// the other), so the result is wrong every time rather than once in a while.
#include <cmath>
#include <cstring>
#include <algorithm>
#include <functional>
#include <vector>
#include <ucontext.h>
using std::max;
using std::min;

struct emu_dim3 { unsigned int x, y, z; };

extern "C" {
emu_dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

// One thread at a time, no barriers (independent-thread kernels): block, thread and sizes.
void emu_set(unsigned int block, unsigned int thread, unsigned int blocks, unsigned int threads) {
    blockIdx.x = block; threadIdx.x = thread; gridDim.x = blocks; blockDim.x = threads;
}
}

enum { EMU_RUNNABLE, EMU_PARKED, EMU_DONE };
static const int EMU_STACK = 64 * 1024;
static ucontext_t emu_scheduler;
static std::vector<ucontext_t> emu_ctx;
static std::vector<int> emu_state;
static std::vector<char> emu_stacks;
static const std::function<void()>* emu_body = nullptr;

static void emu_entry(int t) {
    (*emu_body)();
    emu_state[t] = EMU_DONE;  // uc_link returns to the scheduler
}

inline void emu_syncthreads() {
    const int me = (int)threadIdx.x;
    emu_state[me] = EMU_PARKED;
    swapcontext(&emu_ctx[me], &emu_scheduler);
}

// Run `body` (the kernel call) as blocks 0..blocks-1 of `threads` coroutines each.
static void emu_run_blocks(unsigned int blocks, unsigned int threads, int reverse,
                           const std::function<void()>& body) {
    const int n = (int)threads;
    emu_ctx.assign(n, ucontext_t());
    emu_state.assign(n, EMU_RUNNABLE);
    emu_stacks.assign((size_t)n * EMU_STACK, 0);
    emu_body = &body;
    gridDim.x = blocks;
    blockDim.x = threads;
    for (unsigned int b = 0; b < blocks; ++b) {
        blockIdx.x = b;
        for (int t = 0; t < n; ++t) {
            getcontext(&emu_ctx[t]);
            emu_ctx[t].uc_stack.ss_sp = &emu_stacks[(size_t)t * EMU_STACK];
            emu_ctx[t].uc_stack.ss_size = EMU_STACK;
            emu_ctx[t].uc_link = &emu_scheduler;
            emu_state[t] = EMU_RUNNABLE;
            makecontext(&emu_ctx[t], (void (*)())emu_entry, 1, t);
        }
        for (;;) {
            bool parked = false;
            for (int i = 0; i < n; ++i) {  // every runnable thread, to its barrier or its end
                const int t = reverse ? n - 1 - i : i;
                if (emu_state[t] != EMU_RUNNABLE) continue;
                threadIdx.x = (unsigned int)t;
                swapcontext(&emu_scheduler, &emu_ctx[t]);
            }
            for (int t = 0; t < n; ++t) {  // all arrived or returned: the barrier opens
                if (emu_state[t] == EMU_PARKED) { emu_state[t] = EMU_RUNNABLE; parked = true; }
            }
            if (!parked) break;
        }
    }
    emu_body = nullptr;
}

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() emu_syncthreads()

template <typename T> inline T __ldg(const T* p) { return *p; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, sizeof f); return f; }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
