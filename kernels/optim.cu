// The SGD step of Z&F Sec. 3 (zfcore/optim.py), in place:
//
//     v = mu * v - lr * (g + wd * w);   w += v
//
// and, for conv filters, the renormalisation that follows each update: every filter (one
// row of the (C_out, C_in*k*k) weight) whose RMS exceeds max_rms is rescaled to RMS max_rms.
// The renorm version runs one block per filter: update, reduce the sum of squares, rescale.

#define BLOCK_MAX 1024

extern "C" {

// w, g, v: `total` floats.
__global__ void sgd_momentum(float* __restrict__ w, const float* __restrict__ g,
                             float* __restrict__ v, float lr, float mu, float wd, long long total) {
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const float wt = w[t];
        const float vt = mu * v[t] - lr * (__ldg(g + t) + wd * wt);
        v[t] = vt;
        w[t] = wt + vt;
    }
}

// w, g, v: (filters, fsize). blockDim.x: a power of two <= 1024.
__global__ void sgd_momentum_renorm(float* __restrict__ w, const float* __restrict__ g,
                                    float* __restrict__ v, float lr, float mu, float wd,
                                    float max_rms, int filters, int fsize) {
    __shared__ double red[BLOCK_MAX];
    for (long long f = blockIdx.x; f < filters; f += gridDim.x) {
        float* wf = w + f * fsize;
        float* vf = v + f * fsize;
        const float* gf = g + f * fsize;
        double ss = 0.0;
        for (int j = threadIdx.x; j < fsize; j += blockDim.x) {
            const float wt = wf[j];
            const float vt = mu * vf[j] - lr * (__ldg(gf + j) + wd * wt);
            const float wn = wt + vt;
            vf[j] = vt;
            wf[j] = wn;
            ss += (double)wn * (double)wn;
        }
        red[threadIdx.x] = ss;
        for (int half = blockDim.x / 2; half > 0; half /= 2) {
            __syncthreads();
            if ((int)threadIdx.x < half) red[threadIdx.x] += red[threadIdx.x + half];
        }
        __syncthreads();
        const double rms = sqrt(red[0] / (double)fsize);
        if (rms > (double)max_rms) {
            const float scale = (float)((double)max_rms / rms);
            for (int j = threadIdx.x; j < fsize; j += blockDim.x) wf[j] *= scale;  // own writes
        }
        __syncthreads();  // red[] is reused by the next filter
    }
}

}  // extern "C"
