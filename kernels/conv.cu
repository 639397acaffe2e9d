// Convolution by columns (zfcore/layers/conv.py): im2col unfolds the input so that the filtering
// is one cuBLAS product; col2im folds columns back (backward-data, which is also the
// deconvnet's transposed filtering, Z&F Sec. 2.1). The products themselves run in cuBLAS.
// NCHW float32, any size.
//
// Column layout, as the NumPy reference: cols (c*k*k, n*ho*wo), row (ci, i, j), column
// (ni, oi, oj); window (oi, oj) starts at input pixel (oi*s - p, oj*s - p); zero padding.

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

extern "C" {

// x (n, c, h, w) -> cols (c*k*k, n*ho*wo). One thread per (ci, ni, oi, oj) writes its k*k
// column entries: consecutive threads write consecutive columns (coalesced).
__global__ void im2col(const float* __restrict__ x, float* __restrict__ cols, int n, int c, int h,
                       int w, int k, int s, int p, int ho, int wo) {
    const long long ncols = (long long)n * ho * wo;
    const long long total = (long long)c * ncols;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int oj, oi, ni;
        const long long ci = split_index(split_index(split_index(t, wo, &oj), ho, &oi), n, &ni);
        const long long col = ((long long)ni * ho + oi) * wo + oj;
        const float* xc = x + ((long long)ni * c + ci) * h * w;
        float* out = cols + ci * k * k * ncols + col;
        const int hs = oi * s - p, ws = oj * s - p;
        for (int i = 0; i < k; ++i) {
            const int hi = hs + i;
            const bool row_in = hi >= 0 && hi < h;
            for (int j = 0; j < k; ++j) {
                const int wi = ws + j;
                *out = (row_in && wi >= 0 && wi < w) ? __ldg(xc + (long long)hi * w + wi) : 0.0f;
                out += ncols;
            }
        }
    }
}

// cols (c*k*k, n*ho*wo) -> x (n, c, h, w): the adjoint of im2col as a gather. One thread per
// input pixel sums the column entries of every window that covers it (no atomics). Windows
// are visited in the order NumPy's col2im adds them (kernel offset i, j ascending).
__global__ void col2im(const float* __restrict__ cols, float* __restrict__ x, int n, int c, int h,
                       int w, int k, int s, int p, int ho, int wo) {
    const long long ncols = (long long)n * ho * wo;
    const long long total = (long long)n * c * h * w;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int xj, xi, ci;
        const long long ni = split_index(split_index(split_index(t, w, &xj), h, &xi), c, &ci);
        const int hp = xi + p, wp = xj + p;  // the pixel in padded coordinates
        // Windows oi with oi * s <= hp < oi * s + k, inside 0..ho-1.
        const int oi_lo = hp < k ? 0 : (hp - k) / s + 1, oi_hi = min(hp / s, ho - 1);
        const int oj_lo = wp < k ? 0 : (wp - k) / s + 1, oj_hi = min(wp / s, wo - 1);
        float acc = 0.0f;
        for (int oi = oi_hi; oi >= oi_lo; --oi) {
            const long long row_i = (long long)ci * k + (hp - oi * s);
            const long long col_i = (ni * ho + oi) * wo;
            for (int oj = oj_hi; oj >= oj_lo; --oj) {
                acc += __ldg(cols + (row_i * k + (wp - oj * s)) * ncols + col_i + oj);
            }
        }
        x[t] = acc;
    }
}

// rows (c_out, n*hw), the product W @ cols -> y (n, c_out, hw) = rows + b[o], and with `relu`
// max(., 0): the NCHW layout, the bias and (where a ReLU follows the conv) the rectification in
// one pass. One thread per output; reads and writes run along hw in both layouts (coalesced).
__global__ void bias_nchw(const float* __restrict__ rows, const float* __restrict__ b,
                          float* __restrict__ y, int n, int c_out, int hw, int relu) {
    const long long total = (long long)n * c_out * hw;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int q, o;
        const long long ni = split_index(split_index(t, hw, &q), c_out, &o);
        float v = __ldg(rows + (long long)o * n * hw + ni * hw + q) + __ldg(b + o);
        if (relu && v < 0.0f) v = 0.0f;  // NaN passes through, as numpy.maximum
        y[t] = v;
    }
}

// dy (n, c_out, hw) -> rows (c_out, n*hw): the transposed dy that both products of conv
// backward take (computed once per backward).
__global__ void nchw_rows(const float* __restrict__ dy, float* __restrict__ rows, int n,
                          int c_out, int hw) {
    const long long total = (long long)n * c_out * hw;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        int q, o;
        const long long ni = split_index(split_index(t, hw, &q), c_out, &o);
        rows[(long long)o * n * hw + ni * hw + q] = __ldg(dy + t);
    }
}

}  // extern "C"
