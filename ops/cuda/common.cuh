// Shared helpers of the aliasfree CUDA ops (original code for this project).
#pragma once

#include <torch/extension.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include <cstdint>

#define AF_CHECK_CUDA(t) TORCH_CHECK((t).is_cuda(), #t " must be a CUDA tensor")
// Parameter combinations the kernels do not handle raise this marker; the Python side then falls back.
#define AF_UNSUPPORTED "aliasfree-unsupported: "

namespace aliasfree {

// Floor division and non-negative modulo for possibly negative numerators (positive divisors).
__host__ __device__ __forceinline__ int floor_div(int a, int b) {
    int q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
__host__ __device__ __forceinline__ int pos_mod(int a, int b) {
    int r = a % b;
    return r < 0 ? r + b : r;
}

// 2-bit codes of the filtered_lrelu gradient mask: 0 positive side, 1 negative side, 2 clamped.
constexpr uint32_t kMaskNeg = 1u;
constexpr uint32_t kMaskClamp = 2u;

__device__ __forceinline__ void mask_set(uint32_t* mask, int64_t idx, uint32_t code) {
    if (code) atomicOr(mask + (idx >> 4), code << ((idx & 15) * 2));
}
__device__ __forceinline__ uint32_t mask_get(const uint32_t* mask, int64_t idx) {
    return (mask[idx >> 4] >> ((idx & 15) * 2)) & 3u;
}

// Largest dynamic shared memory a block may use on the current device (opt-in limit).
inline int max_shared_bytes() {
    int device = 0, bytes = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return bytes;
}

inline int grid_blocks(int64_t n, int threads) {
    int64_t blocks = (n + threads - 1) / threads;
    return static_cast<int>(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace aliasfree
