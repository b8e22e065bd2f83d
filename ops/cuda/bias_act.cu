// bias_act: y = clamp(gain * act(x + b), -clamp, clamp) and its first and second derivatives.
// Original code for this project. Works on any dense layout (contiguous or channels-last): the bias index
// of the element at memory offset i is (i / stride[dim]) % size[dim].
#include "common.cuh"

#include <cmath>

namespace aliasfree {

enum Act { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

struct ActParams {
    int act;
    float alpha, gain, clamp;  // clamp < 0: no clamp
    int64_t n, bias_stride, bias_size;
};

// Activation value a(z) and its derivatives; `order` selects which one is returned.
__device__ __forceinline__ float act_eval(int act, float z, float alpha, int order) {
    const float selu_l = 1.0507009873554805f, selu_a = 1.6732632423543772f;
    switch (act) {
        case kLinear: return order == 0 ? z : (order == 1 ? 1.f : 0.f);
        case kRelu: return order == 0 ? fmaxf(z, 0.f) : (order == 1 ? (z > 0.f ? 1.f : 0.f) : 0.f);
        case kLrelu: return order == 0 ? (z > 0.f ? z : z * alpha) : (order == 1 ? (z > 0.f ? 1.f : alpha) : 0.f);
        case kTanh: {
            float t = tanhf(z);
            return order == 0 ? t : (order == 1 ? 1.f - t * t : -2.f * t * (1.f - t * t));
        }
        case kSigmoid: {
            float s = 1.f / (1.f + expf(-z));
            return order == 0 ? s : (order == 1 ? s * (1.f - s) : s * (1.f - s) * (1.f - 2.f * s));
        }
        case kElu: {
            if (z > 0.f) return order == 0 ? z : (order == 1 ? 1.f : 0.f);
            float e = expf(z);
            return order == 0 ? e - 1.f : e;
        }
        case kSelu: {
            if (z > 0.f) return order == 0 ? selu_l * z : (order == 1 ? selu_l : 0.f);
            float e = expf(z);
            return order == 0 ? selu_l * selu_a * (e - 1.f) : selu_l * selu_a * e;
        }
        case kSoftplus: {  // torch's softplus: beta 1, linear above the threshold 20
            if (z > 20.f) return order == 0 ? z : (order == 1 ? 1.f : 0.f);
            float s = 1.f / (1.f + expf(-z));
            return order == 0 ? log1pf(expf(z)) : (order == 1 ? s : s * (1.f - s));
        }
        case kSwish: {
            float s = 1.f / (1.f + expf(-z));
            if (order == 0) return z * s;
            if (order == 1) return s * (1.f + z * (1.f - s));
            return s * (1.f - s) * (2.f + z * (1.f - 2.f * s));
        }
    }
    return 0.f;
}

template <typename scalar_t>
__device__ __forceinline__ float load_z(const scalar_t* x, const scalar_t* b, int64_t i, const ActParams& p) {
    float z = static_cast<float>(x[i]);
    if (b) z += static_cast<float>(b[(i / p.bias_stride) % p.bias_size]);
    return z;
}

template <typename scalar_t>
__global__ void bias_act_forward_kernel(scalar_t* __restrict__ y, const scalar_t* __restrict__ x,
                                        const scalar_t* __restrict__ b, ActParams p) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = act_eval(p.act, load_z(x, b, i, p), p.alpha, 0) * p.gain;
        if (p.clamp >= 0.f) v = fminf(fmaxf(v, -p.clamp), p.clamp);
        y[i] = static_cast<scalar_t>(v);
    }
}

// dx = dy * gain * a^(order)(x + b), zero where the forward output was clamped (torch's inclusive bounds).
template <typename scalar_t>
__global__ void bias_act_grad_kernel(scalar_t* __restrict__ dx, const scalar_t* __restrict__ dy,
                                     const scalar_t* __restrict__ x, const scalar_t* __restrict__ b, ActParams p,
                                     int order) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n; i += (int64_t)gridDim.x * blockDim.x) {
        float z = load_z(x, b, i, p);
        float g = static_cast<float>(dy[i]) * p.gain * act_eval(p.act, z, p.alpha, order);
        if (p.clamp >= 0.f && fabsf(act_eval(p.act, z, p.alpha, 0) * p.gain) > p.clamp) g = 0.f;
        dx[i] = static_cast<scalar_t>(g);
    }
}

static ActParams make_params(const torch::Tensor& x, const torch::Tensor& b, int64_t dim, int64_t act, double alpha,
                             double gain, double clamp) {
    AF_CHECK_CUDA(x);
    TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be dense (contiguous or channels-last)");
    TORCH_CHECK(0 <= dim && dim < x.dim(), "bias_act: dim out of range");
    TORCH_CHECK(0 <= act && act <= kSwish, "bias_act: unknown activation id");
    if (b.numel()) {
        AF_CHECK_CUDA(b);
        TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(dim) && b.is_contiguous() && b.scalar_type() == x.scalar_type(),
                    "bias_act: b must be contiguous, 1-D, with x.shape[dim] entries and x's dtype");
    }
    ActParams p;
    p.act = static_cast<int>(act);
    p.alpha = static_cast<float>(alpha);
    p.gain = static_cast<float>(gain);
    p.clamp = static_cast<float>(clamp);
    p.n = x.numel();
    p.bias_stride = x.stride(dim) > 0 ? x.stride(dim) : 1;
    p.bias_size = x.size(dim) > 0 ? x.size(dim) : 1;
    return p;
}

torch::Tensor bias_act_forward(torch::Tensor x, torch::Tensor b, int64_t dim, int64_t act, double alpha, double gain,
                               double clamp) {
    ActParams p = make_params(x, b, dim, act, alpha, gain, clamp);
    const c10::cuda::CUDAGuard guard(x.device());
    auto y = torch::empty_like(x);  // preserves the dense layout (strides) of x
    if (p.n == 0) return y;
    const int threads = 256;
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "bias_act_fwd", [&] {
        bias_act_forward_kernel<scalar_t><<<grid_blocks(p.n, threads), threads, 0, stream>>>(
            y.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), b.numel() ? b.data_ptr<scalar_t>() : nullptr, p);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

torch::Tensor bias_act_grad(torch::Tensor dy, torch::Tensor x, torch::Tensor b, int64_t dim, int64_t act, double alpha,
                            double gain, double clamp, int64_t order) {
    ActParams p = make_params(x, b, dim, act, alpha, gain, clamp);
    AF_CHECK_CUDA(dy);
    TORCH_CHECK(dy.sizes() == x.sizes() && dy.strides() == x.strides() && dy.scalar_type() == x.scalar_type(),
                "bias_act: dy must match x in shape, strides and dtype");
    TORCH_CHECK(order == 1 || order == 2, "bias_act: order must be 1 or 2");
    const c10::cuda::CUDAGuard guard(x.device());
    auto dx = torch::empty_like(x);
    if (p.n == 0) return dx;
    const int threads = 256;
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "bias_act_grad", [&] {
        bias_act_grad_kernel<scalar_t><<<grid_blocks(p.n, threads), threads, 0, stream>>>(
            dx.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
            b.numel() ? b.data_ptr<scalar_t>() : nullptr, p, static_cast<int>(order));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return dx;
}

}  // namespace aliasfree

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &aliasfree::bias_act_forward, "bias_act forward");
    m.def("grad", &aliasfree::bias_act_grad, "bias_act first (order 1) or second (order 2) derivative times dy");
}
