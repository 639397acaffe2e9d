// ReLU and its three ways down (zfcore/layers/activation.py; Z&F Sec. 2.1): one fused
// elementwise pass each, where the NumPy expressions take two or three.
//
//   relu_fwd     y = max(x, 0); also the deconvnet's rectification of a signal, max(r, 0)
//   relu_bwd     dx = dy * (x > 0)            (relu'(0) = 0)
//   relu_guided  out = max(r, 0) * (x > 0)    (guided backprop)

extern "C" {

__global__ void relu_fwd(const float* __restrict__ x, float* __restrict__ y, long long total) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const float v = __ldg(x + t);
        y[t] = v < 0.0f ? 0.0f : v;  // NaN passes through, as numpy.maximum
    }
}

__global__ void relu_bwd(const float* __restrict__ dy, const float* __restrict__ x,
                         float* __restrict__ dx, long long total) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        dx[t] = __ldg(x + t) > 0.0f ? __ldg(dy + t) : 0.0f;
    }
}

__global__ void relu_guided(const float* __restrict__ r, const float* __restrict__ x,
                            float* __restrict__ out, long long total) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const float v = __ldg(r + t);
        out[t] = (__ldg(x + t) > 0.0f && v > 0.0f) ? v : 0.0f;
    }
}

}  // extern "C"
