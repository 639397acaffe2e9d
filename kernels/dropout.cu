// Inverted dropout with the mask drawn inside the kernel (zfcore/layers/dropout.py): no mask
// array exists anywhere. Element i keeps its value (times scale = 1/(1-p)) when u_i >= p, with
// u_i the top 24 bits of word i%4 of Philox-4x32-10 (Salmon et al., SC 2011) at counter
// (i/4, 0) under the 64-bit key `seed`: the same (seed, i) always gives the same decision,
// whatever the launch shape, so backward regenerates the forward's mask from the seed alone.

struct philox_words { unsigned int v[4]; };

__device__ __forceinline__ philox_words philox4x32_10(unsigned long long ctr,
                                                      unsigned long long key) {
    unsigned int c0 = (unsigned int)ctr, c1 = (unsigned int)(ctr >> 32), c2 = 0u, c3 = 0u;
    unsigned int k0 = (unsigned int)key, k1 = (unsigned int)(key >> 32);
    for (int round = 0; round < 10; ++round) {
        const unsigned int hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    philox_words out = {{c0, c1, c2, c3}};
    return out;
}

extern "C" {

// The Philox words for counters 0..groups-1 (four per counter): for tests against a reference.
__global__ void philox_words_fwd(unsigned int* __restrict__ out, unsigned long long seed,
                                 long long groups) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride) {
        const philox_words r = philox4x32_10((unsigned long long)g, seed);
        for (int e = 0; e < 4; ++e) out[4 * g + e] = r.v[e];
    }
}

// y = x * keep * scale, keep_i = (u_i >= p). Forward and backward are this same kernel with
// the same seed. One thread per group of four elements (one Philox call).
__global__ void dropout_fwd(const float* __restrict__ x, float* __restrict__ y, float p,
                            float scale, unsigned long long seed, long long total) {
    const long long groups = (total + 3) / 4;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride) {
        const philox_words r = philox4x32_10((unsigned long long)g, seed);
        for (int e = 0; e < 4; ++e) {
            const long long i = 4 * g + e;
            if (i < total) {
                const float u = (float)(r.v[e] >> 8) * 5.9604644775390625e-08f;  // 2^-24
                y[i] = u >= p ? __ldg(x + i) * scale : 0.0f;
            }
        }
    }
}

}  // extern "C"
