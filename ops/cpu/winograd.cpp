// 3x3 convolution (cross-correlation, stride 1, zero padding) on the CPU by Winograd's F(2x2, 3x3) algorithm.
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch under it with 16 multiplications per
// (input channel, output channel) pair instead of 36:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]   A^T = [1 1 1 0; 0 1 -1 -1]
// so that, over all channels, the products become 16 matrix products per block of tiles:
//   M_k[o, t] = sum_c U_k[o, c] V_k[c, t]      k = 0..15, U = G g G^T per (o, c), V = B^T d B per (c, t).
// F(2x2, 3x3) is the variant whose transforms only add, subtract and halve: its float32 rounding stays close
// to a direct convolution's (tests/ops/test_conv3x3.py measures both against float64); the larger tiles
// (F(4x4, 3x3) and up) save more multiplications but lose one to two decimal digits, so they are not used.
//
// Work is split into tasks (image, block of tiles in raster order). A task transforms its input patches into
// a buffer V [16][C][tiles], runs the 16 products with the BLAS (single-threaded inside the task), and
// transforms the products M [16][O][tiles] into its output pixels, so neither V nor M of the whole image is
// ever in memory. Weights are transformed once per image (per-sample modulated weights) or once in all.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

// U [count, 16, O, C] from w [count, O, C, 3, 3]: U_k[o, c] = (G g G^T)[k / 4, k % 4] with g = w[o, c].
template <typename T>
void transform_weights(const T* __restrict w, T* __restrict u, int64_t count, int64_t O, int64_t C) {
    const int64_t plane = O * C;
    at::parallel_for(0, count * O, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> tmp(16 * C);  // the 16 values of every c for one o, then written as 16 contiguous rows
        for (int64_t no = begin; no < end; ++no) {
            const int64_t n = no / O, o = no % O;
            const T* __restrict wo = w + no * C * 9;
            T* __restrict t = tmp.data();
            for (int64_t c = 0; c < C; ++c) {
                const T* g = wo + c * 9;
                T q[4][3];  // G g: rows of g combined
                for (int j = 0; j < 3; ++j) {
                    q[0][j] = g[j];
                    q[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
                    q[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
                    q[3][j] = g[6 + j];
                }
                for (int i = 0; i < 4; ++i) {  // (G g) G^T: columns combined
                    t[(i * 4 + 0) * C + c] = q[i][0];
                    t[(i * 4 + 1) * C + c] = T(0.5) * (q[i][0] + q[i][1] + q[i][2]);
                    t[(i * 4 + 2) * C + c] = T(0.5) * (q[i][0] - q[i][1] + q[i][2]);
                    t[(i * 4 + 3) * C + c] = q[i][2];
                }
            }
            for (int k = 0; k < 16; ++k) std::copy(t + k * C, t + (k + 1) * C, u + n * 16 * plane + k * plane + o * C);
        }
    });
}

struct Shape {
    int64_t C, H, W, O, pad, Ho, Wo, th, tw;
};

// Calls f(ty, tx0, ntx, tt0) for each tile row ty that the nt tiles t0.. (raster order over th x tw tiles) touch:
// its tiles tx0 .. tx0 + ntx - 1, the first of them at index tt0 within the block.
template <typename F>
void for_each_tile_row(const Shape& s, int64_t t0, int64_t nt, F&& f) {
    const int64_t ty0 = t0 / s.tw, ty1 = (t0 + nt - 1) / s.tw;
    for (int64_t ty = ty0; ty <= ty1; ++ty) {
        const int64_t tx0 = ty == ty0 ? t0 % s.tw : 0;
        const int64_t tx1 = ty == ty1 ? (t0 + nt - 1) % s.tw + 1 : s.tw;
        f(ty, tx0, tx1 - tx0, ty * s.tw + tx0 - t0);
    }
}

// V [16][C][nt] = B^T d B for the nt tiles t0.. (raster order over th x tw tiles) of one image x [C, H, W].
template <typename T>
void transform_input(const T* __restrict x, const T* in_scale, T* __restrict v, const Shape& s, int64_t t0,
                     int64_t nt, std::vector<T>& rows) {
    for_each_tile_row(s, t0, nt, [&](int64_t ty, int64_t tx0, int64_t ntx, int64_t tt0) {
        const int64_t len = 2 * ntx + 2, col0 = 2 * tx0 - s.pad;  // the input columns these tiles read
        rows.assign(8 * len, T(0));
        T* d[4] = {rows.data(), rows.data() + len, rows.data() + 2 * len, rows.data() + 3 * len};
        T* r[4] = {rows.data() + 4 * len, rows.data() + 5 * len, rows.data() + 6 * len, rows.data() + 7 * len};
        const int64_t lo = std::max<int64_t>(0, -col0), hi = std::min<int64_t>(len, s.W - col0);
        for (int64_t c = 0; c < s.C; ++c) {
            const T* xc = x + c * s.H * s.W;
            const T scale = in_scale ? in_scale[c] : T(1);
            for (int i = 0; i < 4; ++i) {
                const int64_t iy = 2 * ty - s.pad + i;
                T* __restrict di = d[i];
                if (iy < 0 || iy >= s.H || hi <= lo) {
                    std::fill(di, di + len, T(0));
                    continue;
                }
                const T* __restrict src = xc + iy * s.W + col0;
                for (int64_t j = 0; j < lo; ++j) di[j] = T(0);
                for (int64_t j = lo; j < hi; ++j) di[j] = src[j] * scale;
                for (int64_t j = std::max(hi, lo); j < len; ++j) di[j] = T(0);
            }
            {  // B^T d: rows combined
                T* __restrict r0 = r[0]; T* __restrict r1 = r[1]; T* __restrict r2 = r[2]; T* __restrict r3 = r[3];
                const T* __restrict d0 = d[0]; const T* __restrict d1 = d[1];
                const T* __restrict d2 = d[2]; const T* __restrict d3 = d[3];
                for (int64_t j = 0; j < len; ++j) {
                    r0[j] = d0[j] - d2[j];
                    r1[j] = d1[j] + d2[j];
                    r2[j] = d2[j] - d1[j];
                    r3[j] = d1[j] - d3[j];
                }
            }
            for (int i = 0; i < 4; ++i) {  // (B^T d) B: columns combined, tile j reads columns 2j .. 2j + 3
                const T* __restrict ri = r[i];
                T* __restrict v0 = v + ((i * 4 + 0) * s.C + c) * nt + tt0;
                T* __restrict v1 = v + ((i * 4 + 1) * s.C + c) * nt + tt0;
                T* __restrict v2 = v + ((i * 4 + 2) * s.C + c) * nt + tt0;
                T* __restrict v3 = v + ((i * 4 + 3) * s.C + c) * nt + tt0;
                for (int64_t j = 0; j < ntx; ++j) {
                    const T p0 = ri[2 * j], p1 = ri[2 * j + 1], p2 = ri[2 * j + 2], p3 = ri[2 * j + 3];
                    v0[j] = p0 - p2;
                    v1[j] = p1 + p2;
                    v2[j] = p2 - p1;
                    v3[j] = p1 - p3;
                }
            }
        }
    });
}

// Output pixels of the nt tiles t0.. of one image y [O, Ho, Wo] from M [16][O][nt]: A^T m A per tile.
template <typename T>
void transform_output(const T* __restrict m, const T* out_scale, T* __restrict y, const Shape& s, int64_t t0,
                      int64_t nt, std::vector<T>& rows) {
    for_each_tile_row(s, t0, nt, [&](int64_t ty, int64_t tx0, int64_t ntx, int64_t tt0) {
        const int64_t x0 = 2 * tx0, nx = std::min<int64_t>(2 * ntx, s.Wo - x0);  // output columns written
        const bool second_row = 2 * ty + 1 < s.Ho;
        rows.resize(4 * ntx);
        for (int64_t o = 0; o < s.O; ++o) {
            T* __restrict out0 = y + (o * s.Ho + 2 * ty) * s.Wo + x0;
            T* __restrict out1 = second_row ? out0 + s.Wo : nullptr;
            // A^T m: row 0 of the tile's products a_j = m_0j + m_1j + m_2j, row 1 b_j = m_1j - m_2j - m_3j;
            // then (A^T m) A combines the columns the same way.
            const T* mk[16];
            for (int k = 0; k < 16; ++k) mk[k] = m + (k * s.O + o) * nt + tt0;
            const T d = out_scale ? out_scale[o] : T(1);
            T* __restrict even = rows.data();         // output row 2ty: columns 2tx, 2tx + 1 interleaved
            T* __restrict odd = rows.data() + 2 * ntx;  // output row 2ty + 1
            for (int64_t j = 0; j < ntx; ++j) {
                const T a0 = mk[0][j] + mk[4][j] + mk[8][j], a1 = mk[1][j] + mk[5][j] + mk[9][j];
                const T a2 = mk[2][j] + mk[6][j] + mk[10][j], a3 = mk[3][j] + mk[7][j] + mk[11][j];
                const T b0 = mk[4][j] - mk[8][j] - mk[12][j], b1 = mk[5][j] - mk[9][j] - mk[13][j];
                const T b2 = mk[6][j] - mk[10][j] - mk[14][j], b3 = mk[7][j] - mk[11][j] - mk[15][j];
                even[2 * j] = (a0 + a1 + a2) * d;
                even[2 * j + 1] = (a1 - a2 - a3) * d;
                odd[2 * j] = (b0 + b1 + b2) * d;
                odd[2 * j + 1] = (b1 - b2 - b3) * d;
            }
            std::copy(even, even + nx, out0);
            if (out1) std::copy(odd, odd + nx, out1);
        }
    });
}

template <typename T>
void convolve(const T* x, T* u, const T* in_scale, const T* out_scale, T* y, int64_t N, const Shape& s,
              bool per_image_weights, int64_t tile_block) {
    const int64_t tiles = s.th * s.tw;
    int64_t blocks = (tiles + tile_block - 1) / tile_block;
    const int64_t want = 2 * at::get_num_threads();  // enough tasks to keep every thread busy at batch 1
    if (N * blocks < want) blocks = std::min<int64_t>(tiles, (want + N - 1) / N);
    const int64_t per_block = (tiles + blocks - 1) / blocks;
    blocks = (tiles + per_block - 1) / per_block;
    at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> v(16 * s.C * per_block), m(16 * s.O * per_block), rows;
        for (int64_t task = begin; task < end; ++task) {
            const int64_t n = task / blocks, t0 = (task % blocks) * per_block;
            const int64_t nt = std::min(per_block, tiles - t0);
            transform_input(x + n * s.C * s.H * s.W, in_scale ? in_scale + n * s.C : nullptr, v.data(), s, t0, nt,
                            rows);
            // The 16 products M_k [O][nt] = U_k [O][C] V_k [C][nt] in one batched call (single-threaded here:
            // this task runs inside the parallel region).
            T* un = u + (per_image_weights ? n * 16 * s.O * s.C : 0);
            const auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
            at::Tensor mt = at::from_blob(m.data(), {16, s.O, nt}, opts);
            at::bmm_out(mt, at::from_blob(un, {16, s.O, s.C}, opts), at::from_blob(v.data(), {16, s.C, nt}, opts));
            transform_output(m.data(), out_scale ? out_scale + n * s.O : nullptr, y + n * s.O * s.Ho * s.Wo, s, t0,
                             nt, rows);
        }
    });
}

}  // namespace

// y [N, O, Ho, Wo] = conv2d(x [N, C, H, W] * in_scale[n, c], w, padding=pad) * out_scale[n, o], with w [O, C, 3, 3]
// shared by every image or [N * O, C, 3, 3] one set per image (per_image_weights: a grouped convolution of one
// image's worth of groups). Empty scales are ones. Tensors are contiguous (NCHW).
void winograd_conv3x3(torch::Tensor x, torch::Tensor w, torch::Tensor in_scale, torch::Tensor out_scale, int64_t pad,
                      bool per_image_weights, int64_t tile_block, torch::Tensor y) {
    TORCH_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4, "winograd_conv3x3: 4-D tensors expected");
    TORCH_CHECK(x.is_contiguous() && w.is_contiguous() && y.is_contiguous() && in_scale.is_contiguous() &&
                out_scale.is_contiguous(), "winograd_conv3x3: contiguous tensors expected");
    for (const auto& t : {w, y, in_scale, out_scale})
        TORCH_CHECK(t.scalar_type() == x.scalar_type(), "winograd_conv3x3: one dtype expected");
    TORCH_CHECK(w.size(2) == 3 && w.size(3) == 3 && pad >= 0 && pad <= 2 && tile_block > 0, "winograd_conv3x3: args");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t count = per_image_weights ? N : 1, O = w.size(0) / count;
    TORCH_CHECK(w.size(0) == count * O && w.size(1) == C, "winograd_conv3x3: weight shape");
    TORCH_CHECK(in_scale.numel() == 0 || in_scale.numel() == N * C, "winograd_conv3x3: in_scale must be [N, C]");
    TORCH_CHECK(out_scale.numel() == 0 || out_scale.numel() == N * O, "winograd_conv3x3: out_scale must be [N, O]");
    Shape s{C, H, W, O, pad, H + 2 * pad - 2, W + 2 * pad - 2, 0, 0};
    TORCH_CHECK(s.Ho > 0 && s.Wo > 0, "winograd_conv3x3: input smaller than the kernel");
    TORCH_CHECK(y.size(0) == N && y.size(1) == O && y.size(2) == s.Ho && y.size(3) == s.Wo,
                "winograd_conv3x3: output shape");
    s.th = (s.Ho + 1) / 2;
    s.tw = (s.Wo + 1) / 2;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "winograd_conv3x3", [&] {
        std::vector<scalar_t> u(count * 16 * O * C);
        transform_weights(w.data_ptr<scalar_t>(), u.data(), count, O, C);
        convolve(x.data_ptr<scalar_t>(), u.data(), in_scale.numel() ? in_scale.data_ptr<scalar_t>() : nullptr,
                 out_scale.numel() ? out_scale.data_ptr<scalar_t>() : nullptr, y.data_ptr<scalar_t>(), N, s,
                 per_image_weights, tile_block);
    });
}
