// Max-pooling with one-byte switches, and unpooling through them (Z&F Sec. 2.1, Fig. 1).
// The kernels of zfcore/layers/pool.py: same output size, same clipped edge windows, same
// tie rule (first maximum in row-major order), NCHW float32, any size.
//
//   maxpool_fwd  one thread per output: the max of its (clipped) k x k window and the switch,
//                the offset di * k + dj of that max inside the window, as one byte.
//   maxpool_bwd  pool backward, which is also the deconvnet's unpool: a gather, one thread per
//                input pixel, visiting the (at most ceil(k/s)^2) windows that contain it and
//                adding r where the window's switch points at it. No atomics, no zero fill, no
//                64-bit indices; each output written once, coalesced.

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

// The max and its offset in the window whose top-left pixel is `x0` (row pitch w), clipped to
// hn x wn rows/columns. K > 0 fixes k at compile time so that whole windows unroll into
// independent loads; K == 0 is the general loop. Strict > keeps the first of equal values.
template <int K>
__device__ __forceinline__ void window_max(const float* __restrict__ x0, int w, int k, int hn, int wn,
                                           float* best_out, int* arg_out) {
    const int kk = K > 0 ? K : k;
    float best = __ldg(x0);
    int arg = 0;
    if (K > 0 && hn == kk && wn == kk) {
#pragma unroll
        for (int di = 0; di < (K > 0 ? K : 1); ++di) {
#pragma unroll
            for (int dj = 0; dj < (K > 0 ? K : 1); ++dj) {
                const float v = __ldg(x0 + (long long)di * w + dj);
                if (v > best) { best = v; arg = di * kk + dj; }
            }
        }
    } else {
        for (int di = 0; di < hn; ++di) {
            for (int dj = 0; dj < wn; ++dj) {
                const float v = __ldg(x0 + (long long)di * w + dj);
                if (v > best) { best = v; arg = di * kk + dj; }
            }
        }
    }
    *best_out = best;
    *arg_out = arg;
}

template <int K>
__device__ __forceinline__ void maxpool_fwd_body(const float* __restrict__ x, float* __restrict__ y,
                                                 unsigned char* __restrict__ switches, int n, int c,
                                                 int h, int w, int k, int s, int ho, int wo) {
    const long long total = (long long)n * c * ho * wo;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int oj, oi;
        const long long plane = split_index(split_index(t, wo, &oj), ho, &oi);
        const int hs = oi * s, ws = oj * s;
        // The last window may run past the edge (ceil_mode): clip it; it always starts inside.
        const int hn = min(k, h - hs), wn = min(k, w - ws);
        float best;
        int arg;
        window_max<K>(x + (plane * h + hs) * w + ws, w, k, hn, wn, &best, &arg);
        y[t] = best;
        switches[t] = (unsigned char)arg;
    }
}

extern "C" {

// x (n, c, h, w) -> y (n, c, ho, wo) and switches (n, c, ho, wo) uint8; windows k x k, stride s.
__global__ void maxpool_fwd(const float* __restrict__ x, float* __restrict__ y,
                            unsigned char* __restrict__ switches, int n, int c, int h, int w,
                            int k, int s, int ho, int wo) {
    if (k == 3) {
        maxpool_fwd_body<3>(x, y, switches, n, c, h, w, k, s, ho, wo);
    } else if (k == 2) {
        maxpool_fwd_body<2>(x, y, switches, n, c, h, w, k, s, ho, wo);
    } else {
        maxpool_fwd_body<0>(x, y, switches, n, c, h, w, k, s, ho, wo);
    }
}

// r (n, c, ho, wo) and switches (n, c, ho, wo) -> out (n, c, h, w): out[p] = sum of r over the
// windows containing p whose switch is p. The windows are visited in the order NumPy's unpool
// adds them (offset di, dj ascending, i.e. window row/column descending), so the sums agree
// bit for bit.
__global__ void maxpool_bwd(const float* __restrict__ r, const unsigned char* __restrict__ switches,
                            float* __restrict__ out, int n, int c, int h, int w, int k, int s,
                            int ho, int wo) {
    const long long total = (long long)n * c * h * w;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int xj, xi;
        const long long plane = split_index(split_index(t, w, &xj), h, &xi);
        // Windows oi with oi * s <= xi < oi * s + k, inside 0..ho-1.
        const int oi_lo = xi < k ? 0 : (xi - k) / s + 1, oi_hi = min(xi / s, ho - 1);
        const int oj_lo = xj < k ? 0 : (xj - k) / s + 1, oj_hi = min(xj / s, wo - 1);
        const long long base = plane * ho * wo;
        float acc = 0.0f;
        for (int oi = oi_hi; oi >= oi_lo; --oi) {
            const int di = xi - oi * s;
            for (int oj = oj_hi; oj >= oj_lo; --oj) {
                const long long o = base + (long long)oi * wo + oj;
                if (__ldg(switches + o) == di * k + (xj - oj * s)) acc += __ldg(r + o);
            }
        }
        out[t] = acc;
    }
}

}  // extern "C"
