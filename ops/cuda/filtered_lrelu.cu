// Fused filtered leaky ReLU over shared-memory tiles. Original code for this project.
//
// One kernel, two stages around a pointwise step, for one output tile of one (n, c) plane per block:
//   stage 1: mid[m] = sum_k in_pad[m + k] * f1[k], where in_pad holds input sample i at i * up + p1
//            (zero insertion and padding are implicit; only taps that meet a real sample are visited),
//   point:   mode 0 (forward): v = clamp(gain * lrelu(mid + ..., slope), +-clamp), recording a 2-bit code per
//            mid sample (negative side / clamped) with atomicOr; mode 1 (gradient): v = mid * gain *
//            (1 | slope | 0) decoded from those codes,
//   stage 2: out[o] = sum_k mid_pad[o * down + k] * f2[k], where mid_pad holds mid sample m at m + p2.
// The forward pass is (up, fu, padding) -> lrelu -> (fd, down) with p2 = 0. The backward pass is the same
// kernel on dy with the stages swapped and the filters flipped (the adjoint), in mode 1, on the same mid grid,
// so the mask indices agree; the bias is added while loading in the forward pass only. Filters arrive as
// float32 correlation filters with their gains folded in. Tiles overlap by the filter support; overlapping
// blocks compute identical mid values, so the idempotent atomicOr of the mask is safe.
// Separable filters (sep1 / sep2: the filter tensor is [2, K], x taps then y taps) run each stage as a
// horizontal and a vertical pass through an extra shared-memory buffer: 2K instead of K*K taps per sample.
#include "common.cuh"

namespace aliasfree {

struct FusedParams {
    int N, C, H, W;              // input
    int midH, midW, outH, outW;  // intermediate and output sizes
    int f1h, f1w, f2h, f2w, up, down, p1x, p1y, p2x, p2y;
    int tileW, tileH, midTW, midTH, inTW, inTH;  // output tile, mid tile, input tile (smem strides)
    float gain, slope, clamp;                    // clamp < 0: none
    int mode, write_mask, sep1, sep2;
    int64_t xs[4], ys[4];
};

template <typename scalar_t>
__global__ void fused_kernel(scalar_t* __restrict__ y, const scalar_t* __restrict__ x, const scalar_t* __restrict__ b,
                             const float* __restrict__ f1, const float* __restrict__ f2, uint32_t* __restrict__ mask,
                             FusedParams p) {
    extern __shared__ float smem[];
    const int nf1 = p.sep1 ? p.f1h + p.f1w : p.f1h * p.f1w, nf2 = p.sep2 ? p.f2h + p.f2w : p.f2h * p.f2w;
    float* sf1 = smem;
    float* sf2 = sf1 + nf1;
    float* sin = sf2 + nf2;
    float* smid = sin + p.inTH * p.inTW;
    float* sh1 = smid + p.midTH * p.midTW;             // sep1: input rows filtered along x [inTH, midTW]
    float* sh2 = sh1 + (p.sep1 ? p.inTH * p.midTW : 0);  // sep2: mid rows filtered along x [midTH, tileW]
    const int tid = threadIdx.x, nthr = blockDim.x;
    for (int i = tid; i < nf1; i += nthr) sf1[i] = f1[i];
    for (int i = tid; i < nf2; i += nthr) sf2[i] = f2[i];

    const int ox0 = blockIdx.x * p.tileW, oy0 = blockIdx.y * p.tileH;
    const int mx0 = ox0 * p.down - p.p2x, my0 = oy0 * p.down - p.p2y;  // first mid sample of the tile
    const int ix0 = floor_div(mx0 - p.p1x + p.up - 1, p.up);            // first input sample it needs
    const int iy0 = floor_div(my0 - p.p1y + p.up - 1, p.up);

    for (int64_t plane = blockIdx.z; plane < (int64_t)p.N * p.C; plane += gridDim.z) {
        const int n = plane / p.C, c = plane % p.C;
        const float bias = b ? static_cast<float>(b[c]) : 0.f;
        const scalar_t* xp = x + n * p.xs[0] + c * p.xs[1];
        __syncthreads();  // filters loaded; previous plane finished with sin / smid

        // Input tile (zeros outside the image), bias added.
        for (int i = tid; i < p.inTH * p.inTW; i += nthr) {
            int ix = ix0 + i % p.inTW, iy = iy0 + i / p.inTW;
            float v = 0.f;
            if (ix >= 0 && ix < p.W && iy >= 0 && iy < p.H) v = static_cast<float>(xp[iy * p.xs[2] + ix * p.xs[3]]) + bias;
            sin[i] = v;
        }
        __syncthreads();

        if (p.sep1) {  // stage 1, x pass: every input row of the tile, upsampled and filtered along x
            for (int i = tid; i < p.inTH * p.midTW; i += nthr) {
                const int tx = i % p.midTW, r = i / p.midTW;
                const int rx = mx0 + tx - p.p1x;
                const float* srow = sin + r * p.inTW - ix0;
                float v = 0.f;
                for (int kx = pos_mod(-rx, p.up); kx < p.f1w; kx += p.up) v += srow[(rx + kx) / p.up] * sf1[kx];
                sh1[i] = v;
            }
            __syncthreads();
        }

        // Stage 1 (the y pass when separable) and the pointwise step over the mid tile.
        for (int i = tid; i < p.midTH * p.midTW; i += nthr) {
            const int tx = i % p.midTW, ty = i / p.midTW;
            const int mx = mx0 + tx, my = my0 + ty;
            float v = 0.f;
            if (mx >= 0 && mx < p.midW && my >= 0 && my < p.midH) {
                const int rx = mx - p.p1x, ry = my - p.p1y;
                const int kx0 = pos_mod(-rx, p.up), ky0 = pos_mod(-ry, p.up);
                if (p.sep1) {
                    for (int ky = ky0; ky < p.f1h; ky += p.up)
                        v += sh1[((ry + ky) / p.up - iy0) * p.midTW + tx] * sf1[p.f1w + ky];
                } else {
                    for (int ky = ky0; ky < p.f1h; ky += p.up) {
                        const float* srow = sin + ((ry + ky) / p.up - iy0) * p.inTW - ix0;
                        const float* frow = sf1 + ky * p.f1w;
                        for (int kx = kx0; kx < p.f1w; kx += p.up) v += srow[(rx + kx) / p.up] * frow[kx];
                    }
                }
                const int64_t midx = (plane * p.midH + my) * (int64_t)p.midW + mx;
                if (p.mode == 0) {
                    uint32_t code = 0;
                    if (!(v > 0.f)) { v *= p.slope; code = kMaskNeg; }
                    v *= p.gain;
                    if (p.clamp >= 0.f && fabsf(v) > p.clamp) { v = copysignf(p.clamp, v); code = kMaskClamp; }
                    if (p.write_mask) mask_set(mask, midx, code);
                } else {
                    const uint32_t code = mask_get(mask, midx);
                    v *= code == 0 ? p.gain : (code == kMaskNeg ? p.gain * p.slope : 0.f);
                }
            }
            smid[i] = v;
        }
        __syncthreads();

        if (p.sep2) {  // stage 2, x pass: every mid row of the tile, filtered and decimated along x
            for (int i = tid; i < p.midTH * p.tileW; i += nthr) {
                const int t = i % p.tileW, r = i / p.tileW;
                const float* mrow = smid + r * p.midTW + t * p.down;
                float v = 0.f;
                for (int kx = 0; kx < p.f2w; ++kx) v += mrow[kx] * sf2[kx];
                sh2[i] = v;
            }
            __syncthreads();
        }

        // Stage 2 (the y pass when separable) over the output tile.
        scalar_t* yp = y + n * p.ys[0] + c * p.ys[1];
        for (int i = tid; i < p.tileH * p.tileW; i += nthr) {
            const int ox = ox0 + i % p.tileW, oy = oy0 + i / p.tileW;
            if (ox >= p.outW || oy >= p.outH) continue;
            float acc = 0.f;
            if (p.sep2) {
                const float* hbase = sh2 + (oy - oy0) * p.down * p.tileW + (ox - ox0);
                for (int ky = 0; ky < p.f2h; ++ky) acc += hbase[ky * p.tileW] * sf2[p.f2w + ky];
            } else {
                const float* mbase = smid + (oy - oy0) * p.down * p.midTW + (ox - ox0) * p.down;
                for (int ky = 0; ky < p.f2h; ++ky)
                    for (int kx = 0; kx < p.f2w; ++kx) acc += mbase[ky * p.midTW + kx] * sf2[ky * p.f2w + kx];
            }
            yp[oy * p.ys[2] + ox * p.ys[3]] = static_cast<scalar_t>(acc);
        }
    }
}

static int64_t smem_bytes(const FusedParams& p) {
    const int64_t nf1 = p.sep1 ? p.f1h + p.f1w : int64_t(p.f1h) * p.f1w;
    const int64_t nf2 = p.sep2 ? p.f2h + p.f2w : int64_t(p.f2h) * p.f2w;
    const int64_t h1 = p.sep1 ? int64_t(p.inTH) * p.midTW : 0, h2 = p.sep2 ? int64_t(p.midTH) * p.tileW : 0;
    return 4 * (nf1 + nf2 + int64_t(p.inTH) * p.inTW + int64_t(p.midTH) * p.midTW + h1 + h2);
}

// Tile sizes for an output tile (tw, th): mid tile and a bound on the input tile over all block positions.
static void set_tile(FusedParams& p, int tw, int th) {
    p.tileW = tw; p.tileH = th;
    p.midTW = (tw - 1) * p.down + p.f2w;
    p.midTH = (th - 1) * p.down + p.f2h;
    p.inTW = (p.midTW + p.f1w - 2) / p.up + 2;
    p.inTH = (p.midTH + p.f1h - 2) / p.up + 2;
}

// y = fused(x); mask is written in mode 0 (when write_mask) and read in mode 1.
// Filters: [fh, fw], or [2, K] (x taps, y taps) when separable.
torch::Tensor filtered_lrelu_fused(torch::Tensor x, torch::Tensor b, torch::Tensor f1, torch::Tensor f2, bool sep1,
                                   bool sep2, torch::Tensor mask, int64_t up, int64_t down, int64_t p1x, int64_t p1y, int64_t p2x,
                                   int64_t p2y, int64_t midW, int64_t midH, int64_t outW, int64_t outH, double gain,
                                   double slope, double clamp, int64_t mode, bool write_mask) {
    AF_CHECK_CUDA(x);
    AF_CHECK_CUDA(f1);
    AF_CHECK_CUDA(f2);
    AF_CHECK_CUDA(mask);
    TORCH_CHECK(x.dim() == 4, "filtered_lrelu: x must be [N, C, H, W]");
    for (const auto& f : {f1, f2})
        TORCH_CHECK(f.dim() == 2 && f.scalar_type() == torch::kFloat32 && f.is_contiguous(),
                    "filtered_lrelu: filters must be contiguous float32 [fh, fw]");
    TORCH_CHECK(mode == 0 || mode == 1, "filtered_lrelu: mode must be 0 or 1");
    TORCH_CHECK(up >= 1 && down >= 1 && midW >= 1 && midH >= 1 && outW >= 1 && outH >= 1,
                "filtered_lrelu: bad geometry");
    TORCH_CHECK(mask.scalar_type() == torch::kInt32 && mask.is_contiguous(), "filtered_lrelu: mask must be int32");
    const int64_t planes = x.size(0) * x.size(1);
    TORCH_CHECK(mask.numel() * 16 >= planes * midW * midH || (mode == 0 && !write_mask),
                "filtered_lrelu: mask too small");
    TORCH_CHECK(x.numel() < (int64_t(1) << 31) && planes * midW * midH < (int64_t(1) << 40),
                AF_UNSUPPORTED "tensor too large");
    if (b.numel()) {
        AF_CHECK_CUDA(b);
        TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(1) && b.is_contiguous() && b.scalar_type() == x.scalar_type(),
                    "filtered_lrelu: b must be contiguous [C] with x's dtype");
    }
    FusedParams p;
    p.N = x.size(0); p.C = x.size(1); p.H = x.size(2); p.W = x.size(3);
    p.midH = midH; p.midW = midW; p.outH = outH; p.outW = outW;
    TORCH_CHECK((!sep1 || f1.size(0) == 2) && (!sep2 || f2.size(0) == 2), "filtered_lrelu: separable filters are [2, K]");
    p.f1w = f1.size(1); p.f1h = sep1 ? p.f1w : f1.size(0);
    p.f2w = f2.size(1); p.f2h = sep2 ? p.f2w : f2.size(0);
    p.sep1 = sep1 ? 1 : 0; p.sep2 = sep2 ? 1 : 0;
    p.up = up; p.down = down; p.p1x = p1x; p.p1y = p1y; p.p2x = p2x; p.p2y = p2y;
    p.gain = gain; p.slope = slope; p.clamp = clamp; p.mode = mode; p.write_mask = write_mask ? 1 : 0;

    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t limit = max_shared_bytes();
    static const int tiles[][2] = {{32, 32}, {32, 16}, {16, 16}, {16, 8}, {8, 8}, {8, 4}, {4, 4}, {2, 2}, {1, 1}};
    bool fits = false;
    for (const auto& t : tiles) {
        set_tile(p, t[0], t[1]);
        if (smem_bytes(p) <= limit) { fits = true; break; }
    }
    TORCH_CHECK(fits, AF_UNSUPPORTED "filters too large for shared memory");

    auto fmt = x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(1) > 1 ? at::MemoryFormat::ChannelsLast
                                                                                 : at::MemoryFormat::Contiguous;
    auto y = torch::empty({x.size(0), x.size(1), outH, outW}, x.options().memory_format(fmt));
    if (y.numel() == 0) return y;
    for (int d = 0; d < 4; ++d) { p.xs[d] = x.stride(d); p.ys[d] = y.stride(d); }
    dim3 grid((outW + p.tileW - 1) / p.tileW, (outH + p.tileH - 1) / p.tileH,
              static_cast<unsigned>(planes < 65535 ? planes : 65535));
    const int threads = 256;
    const int64_t bytes = smem_bytes(p);
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "filtered_lrelu", [&] {
        auto kernel = fused_kernel<scalar_t>;
        if (bytes > 48 * 1024)
            C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
        kernel<<<grid, threads, bytes, stream>>>(y.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                                                 b.numel() ? b.data_ptr<scalar_t>() : nullptr, f1.data_ptr<float>(),
                                                 f2.data_ptr<float>(), reinterpret_cast<uint32_t*>(mask.data_ptr<int32_t>()), p);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

}  // namespace aliasfree

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("fused", &aliasfree::filtered_lrelu_fused, "fused upsample-FIR, leaky ReLU, FIR-downsample (or its adjoint)");
}
