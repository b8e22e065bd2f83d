// upfirdn2d: upsample (zero insertion), pad, correlate with a 2-D filter, downsample. Original code for this
// project. The Python side passes the correlation filter (already flipped for convolution, gain folded in)
// and splits separable filters into an x pass and a y pass. Only the taps that meet a real input sample are
// visited (polyphase), and x / y may have any strides (contiguous or channels-last).
#include "common.cuh"

namespace aliasfree {

struct UpfirdnParams {
    int N, C, H, W, outH, outW, fh, fw, upx, upy, downx, downy, px0, py0;
    int64_t xs[4], ys[4];  // strides (elements) of x and y: n, c, h, w
};

template <typename scalar_t>
__global__ void upfirdn2d_kernel(scalar_t* __restrict__ y, const scalar_t* __restrict__ x, const float* __restrict__ f,
                                 UpfirdnParams p) {
    extern __shared__ float sf[];
    for (int i = threadIdx.x; i < p.fh * p.fw; i += blockDim.x) sf[i] = f[i];
    __syncthreads();
    const int64_t total = (int64_t)p.N * p.C * p.outH * p.outW;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int ox = idx % p.outW;
        int oy = (idx / p.outW) % p.outH;
        int c = (idx / ((int64_t)p.outW * p.outH)) % p.C;
        int n = idx / ((int64_t)p.outW * p.outH * p.C);
        // Tap k of output o reads the zero-inserted, padded signal at o * down + k - pad = i * up.
        const int rx = ox * p.downx - p.px0, ry = oy * p.downy - p.py0;
        const int kx0 = pos_mod(-rx, p.upx), ky0 = pos_mod(-ry, p.upy);
        const scalar_t* xp = x + n * p.xs[0] + c * p.xs[1];
        float acc = 0.f;
        for (int ky = ky0; ky < p.fh; ky += p.upy) {
            int iy = (ry + ky) / p.upy;  // exact division by construction
            if (iy < 0 || iy >= p.H) continue;
            for (int kx = kx0; kx < p.fw; kx += p.upx) {
                int ix = (rx + kx) / p.upx;
                if (ix < 0 || ix >= p.W) continue;
                acc += static_cast<float>(xp[iy * p.xs[2] + ix * p.xs[3]]) * sf[ky * p.fw + kx];
            }
        }
        y[n * p.ys[0] + c * p.ys[1] + oy * p.ys[2] + ox * p.ys[3]] = static_cast<scalar_t>(acc);
    }
}

torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                        int64_t px0, int64_t px1, int64_t py0, int64_t py1) {
    AF_CHECK_CUDA(x);
    AF_CHECK_CUDA(f);
    TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be [N, C, H, W]");
    TORCH_CHECK(f.dim() == 2 && f.scalar_type() == torch::kFloat32 && f.is_contiguous(),
                "upfirdn2d: f must be a contiguous float32 [fh, fw] tensor");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: factors must be >= 1");
    TORCH_CHECK(x.numel() < (int64_t(1) << 31), AF_UNSUPPORTED "tensor too large for 32-bit spatial indexing");
    const int64_t fh = f.size(0), fw = f.size(1);
    TORCH_CHECK(fh * fw * 4 <= 48 * 1024, AF_UNSUPPORTED "filter too large for shared memory");
    const int64_t outW = (x.size(3) * upx + px0 + px1 - fw + downx) / downx;
    const int64_t outH = (x.size(2) * upy + py0 + py1 - fh + downy) / downy;
    TORCH_CHECK(outW >= 1 && outH >= 1, "upfirdn2d: empty output");
    const c10::cuda::CUDAGuard guard(x.device());
    auto fmt = x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(1) > 1 ? at::MemoryFormat::ChannelsLast
                                                                                 : at::MemoryFormat::Contiguous;
    auto y = torch::empty({x.size(0), x.size(1), outH, outW}, x.options().memory_format(fmt));
    if (y.numel() == 0) return y;
    UpfirdnParams p;
    p.N = x.size(0); p.C = x.size(1); p.H = x.size(2); p.W = x.size(3);
    p.outH = outH; p.outW = outW; p.fh = fh; p.fw = fw;
    p.upx = upx; p.upy = upy; p.downx = downx; p.downy = downy; p.px0 = px0; p.py0 = py0;
    for (int d = 0; d < 4; ++d) { p.xs[d] = x.stride(d); p.ys[d] = y.stride(d); }
    const int threads = 256;
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "upfirdn2d", [&] {
        upfirdn2d_kernel<scalar_t><<<grid_blocks(y.numel(), threads), threads, fh * fw * sizeof(float), stream>>>(
            y.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), f.data_ptr<float>(), p);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

}  // namespace aliasfree

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &aliasfree::upfirdn2d, "upfirdn2d with a 2-D correlation filter");
}
