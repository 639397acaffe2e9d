// Softmax cross-entropy, forward and backward fused (zfcore/layers/loss.py): one block per row
// of logits finds the row maximum, the sum of exp(z - max), the row's loss
// log(sum) - (z_label - max), and writes dL/dz = (softmax(z) - onehot(label)) / n.

#define BLOCK_MAX 1024

// Tree reduction of red[0..blockDim.x) (a power of two) into red[0]; op 0 = max, 1 = sum.
__device__ __forceinline__ void block_reduce(float* red, int op) {
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        __syncthreads();
        if ((int)threadIdx.x < half) {
            const float other = red[threadIdx.x + half];
            red[threadIdx.x] = op == 0 ? fmaxf(red[threadIdx.x], other) : red[threadIdx.x] + other;
        }
    }
    __syncthreads();
}

extern "C" {

// logits (n, c), labels (n,) int64 -> loss (n,) per row, dlogits (n, c). blockDim.x: a power
// of two <= 1024.
__global__ void softmax_xent_fwd_bwd(const float* __restrict__ logits,
                                     const long long* __restrict__ labels, float* __restrict__ loss,
                                     float* __restrict__ dlogits, int n, int c) {
    __shared__ float red[BLOCK_MAX];
    const float inv_n = 1.0f / (float)n;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const float* z = logits + row * c;
        float* dz = dlogits + row * c;
        float m = -3.402823466e+38f;
        for (int j = threadIdx.x; j < c; j += blockDim.x) m = fmaxf(m, __ldg(z + j));
        red[threadIdx.x] = m;
        block_reduce(red, 0);
        m = red[0];
        __syncthreads();  // everyone has read red[0] before it is reused
        float sum = 0.0f;
        for (int j = threadIdx.x; j < c; j += blockDim.x) sum += expf(__ldg(z + j) - m);
        red[threadIdx.x] = sum;
        block_reduce(red, 1);
        sum = red[0];
        const long long label = __ldg(labels + row);
        // A label outside [0, c) (the launcher checks host labels; device ones are not read
        // back): NaN loss and gradient row, never a read past the row.
        const bool ok = label >= 0 && label < c;
        const float nan = __int_as_float(0x7fffffff);
        const float inv_sum = 1.0f / sum;
        for (int j = threadIdx.x; j < c; j += blockDim.x) {
            const float pj = expf(__ldg(z + j) - m) * inv_sum;
            dz[j] = ok ? (pj - (j == label ? 1.0f : 0.0f)) * inv_n : nan;
        }
        if (threadIdx.x == 0) loss[row] = ok ? logf(sum) - (__ldg(z + label) - m) : nan;
        __syncthreads();  // red[] is reused by the next row
    }
}

}  // extern "C"
