// Host stand-ins for the CUDA built-ins the kernels in kernels/*.cu use, so that g++ can build
// a kernel file into a shared library whose extern "C" kernels run on the CPU, one (block,
// thread) at a time (tests/gpu/emulator.py). Only for kernels whose threads do not talk to
// each other, or that do so through shared memory with one thread per block.
#include <cmath>
#include <algorithm>
using std::max;
using std::min;

struct emu_dim3 { unsigned int x, y, z; };
extern "C" {
emu_dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
void emu_set(unsigned int block, unsigned int thread, unsigned int blocks, unsigned int threads) {
    blockIdx.x = block; threadIdx.x = thread; gridDim.x = blocks; blockDim.x = threads;
}
}

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() ((void)0)

template <typename T> inline T __ldg(const T* p) { return *p; }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
