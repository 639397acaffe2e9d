// Local response normalisation across channels (Krizhevsky et al. 2012, Sec. 3.3), as
// zfcore/layers/lrn.py:
//
//     b_c = a_c / d_c^beta,   d_c = k + alpha * sum_{|j-c| <= size/2} a_j^2   (clipped at the ends)
//
// alpha is NOT divided by size. One thread walks one (ni, pixel) column through a run of `cb`
// channels with running window sums: each channel is read from memory once per pass (its
// re-reads, `size` steps later, hit the cache), consecutive threads take consecutive pixels
// (coalesced). The sums run in double: an added square is removed exactly, so no drift builds
// up along the channels. A run that starts at channel c0 > 0 warms its sums up from a few
// channels earlier, treating the channels before c0 - (what its outputs depend on) as zero.

// q = a / b and *r = a % b for a non-negative index a: a 32-bit division whenever a fits.
__device__ __forceinline__ long long split_index(long long a, int b, int* r) {
    if (a < 2147483648LL) {
        const int q = (int)a / b;
        *r = (int)a - q * b;
        return q;
    }
    const long long q = a / b;
    *r = (int)(a - q * b);
    return q;
}

// Channel j of a column (pitch hw), or 0 outside [lo, c).
__device__ __forceinline__ float channel(const float* __restrict__ col, int j, int lo, int c,
                                        int hw) {
    return (j >= lo && j < c) ? __ldg(col + (long long)j * hw) : 0.0f;
}

__device__ __forceinline__ double sq(float v) { return (double)v * (double)v; }

// d^-e for d > 0: two MUFU operations instead of powf's general-case code.
__device__ __forceinline__ float pow_neg(float d, float e) { return exp2f(-e * log2f(d)); }

extern "C" {

// a (n, c, hw) -> y (n, c, hw) and, if store_d, d (n, c, hw). Thread = (ni, run, pixel);
// run r covers channels [r*cb, min(c, r*cb + cb)).
__global__ void lrn_fwd(const float* __restrict__ a, float* __restrict__ y, float* __restrict__ d,
                        int n, int c, int hw, int size, float alpha, float beta, float k, int cb,
                        int store_d) {
    const int half = size / 2;
    const int runs = (c + cb - 1) / cb;
    const long long total = (long long)n * runs * hw;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int q, run;
        const long long ni = split_index(split_index(t, hw, &q), runs, &run);
        const long long off = ni * c * hw + q;
        const float* col = a + off;
        const int c0 = run * cb, c1 = min(c, c0 + cb);
        // Outputs c0.. read channels from c0 - half on: those below are taken as zero.
        const int lo = max(0, c0 - half);
        double sum = 0.0;  // sum of a_j^2 over the window around cc
#pragma unroll 4
        for (int cc = lo - half; cc < c1; ++cc) {
            sum += sq(channel(col, cc + half, lo, c, hw)) - sq(channel(col, cc - half - 1, lo, c, hw));
            if (cc >= c0) {
                const float dc = (float)((double)k + (double)alpha * sum);
                const long long o = off + (long long)cc * hw;
                y[o] = __ldg(a + o) * pow_neg(dc, beta);
                if (store_d) d[o] = dc;
            }
        }
    }
}

// dL/da_c = dy_c d_c^-beta - 2 alpha beta a_c sum_{|j-c| <= size/2} dy_j a_j d_j^(-beta-1),
// from a and dy: d is recomputed here (reading a once costs less than storing and reading d),
// unless use_d, when it is read from d (the pure function's contract, which gives d, not k).
// Three running sums of squares follow the three places d is needed (c + half for the term
// entering the outer sum, c for the output, c - half - 1 for the term leaving it), and a
// fourth the outer sum itself.
__global__ void lrn_bwd(const float* __restrict__ a, const float* __restrict__ dy,
                        const float* __restrict__ d, float* __restrict__ dx, int n, int c, int hw,
                        int size, float alpha, float beta, float k, int cb, int use_d) {
    const int half = size / 2;
    const int runs = (c + cb - 1) / cb;
    const long long total = (long long)n * runs * hw;
    const long long stride = (long long)blockDim.x * gridDim.x;
    const float two_ab = 2.0f * alpha * beta;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int q, run;
        const long long ni = split_index(split_index(t, hw, &q), runs, &run);
        const long long off = ni * c * hw + q;
        const float* acol = a + off;
        const float* gcol = dy + off;
        const float* dcol = d + off;
        const int c0 = run * cb, c1 = min(c, c0 + cb);
        // Outputs c0.. depend on a from c0 - 2*half and dy from c0 - half on.
        const int lo = max(0, c0 - 2 * half);
        double s_lead = 0.0, s_mid = 0.0, s_trail = 0.0;  // window sums around cc+half, cc, cc-half-1
        double outer = 0.0;                                // sum of dy_j a_j d_j^(-beta-1), |j-cc| <= half
#pragma unroll 2
        for (int cc = lo - 2 * half; cc < c1; ++cc) {
            s_lead += sq(channel(acol, cc + 2 * half, lo, c, hw)) - sq(channel(acol, cc - 1, lo, c, hw));
            s_mid += sq(channel(acol, cc + half, lo, c, hw)) - sq(channel(acol, cc - half - 1, lo, c, hw));
            s_trail += sq(channel(acol, cc - 1, lo, c, hw)) - sq(channel(acol, cc - 2 * half - 2, lo, c, hw));
            const int jin = cc + half, jout = cc - half - 1;
            if (jin >= lo && jin < c) {
                const float din = use_d ? __ldg(dcol + (long long)jin * hw)
                                        : (float)((double)k + (double)alpha * s_lead);
                outer += (double)(channel(gcol, jin, lo, c, hw) * channel(acol, jin, lo, c, hw) *
                                  pow_neg(din, beta + 1.0f));
            }
            if (jout >= lo && jout < c) {
                const float dout = use_d ? __ldg(dcol + (long long)jout * hw)
                                         : (float)((double)k + (double)alpha * s_trail);
                outer -= (double)(channel(gcol, jout, lo, c, hw) * channel(acol, jout, lo, c, hw) *
                                  pow_neg(dout, beta + 1.0f));
            }
            if (cc >= c0) {
                const long long o = off + (long long)cc * hw;
                const float dc = use_d ? __ldg(d + o) : (float)((double)k + (double)alpha * s_mid);
                dx[o] = __ldg(dy + o) * pow_neg(dc, beta) - two_ab * __ldg(a + o) * (float)outer;
            }
        }
    }
}

}  // extern "C"
