// Fused CPU forward of filtered_lrelu: bias, upsample FIR, leaky ReLU * gain, clamp, downsample FIR in one pass.
//
// Semantics are those of ops/filtered_lrelu.py; the Python wrapper (ops/cpu/fused.py) turns the filters into
// correlation taps (flipped unless flip_filter, up-gain folded in) so this file only ever correlates:
//   u[my, mx] = sum_{ky, kx} g[ky, kx] * z[my + ky, mx + kx]      z = x + b, zero-inserted by up, padded
//   v = clamp(lrelu(u, slope) * gain, +-clamp)
//   out[ny, nx] = sum_{ky, kx} h[ky, kx] * v[ny * down + ky, nx * down + kx]
// A separable filter is one 1-D tap vector used along x and along y (the caller passes it twice).
//
// Work is split into tasks (image, block of CB channels, strip of output rows). Inside a task the rows stream
// through small ring buffers (input rows, x-upsampled rows, x-downsampled rows), so the large upsampled
// intermediate never exists in memory: each of its rows is made, activated and reduced while it is in cache.
// Buffers hold CB channels per pixel contiguously, so every inner loop is a fixed-length vector operation over
// channels that the compiler vectorises; strides of the caller's tensors (NCHW or channels-last) are honoured
// when rows are loaded and stored.
//
// A 2-D filter whose rows mirror (row k == row K-1-k, as for the radial filters of StyleGAN3-R) does half the
// work: downsampling adds the two rows a mirrored pair of taps reads before filtering them once, and upsampling
// filters each input row with each distinct filter row once, keeping the result for the second output row that
// uses it. Both only reorder float additions.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

struct Params {
    int64_t N, C, H, W;            // input
    int64_t My, Mx;                // upsampled (pre-activation) size
    int64_t Ny, Nx;                // output size
    int up, down, px0, py0;
    int64_t kux, kuy, kdx, kdy;    // tap counts
    bool sep_u, sep_d;
    bool fold_u = false, fold_d = false;  // the 2-D up / down filter's rows mirror (see the top of the file)
    double gain, slope, clamp;     // clamp < 0: none
    // Gradient mask, one byte per element of the upsampled intermediate, laid out [N, blocks, My, Mx, CB] like
    // the kernel's buffers: 0 = passed on the positive side, 1 = took the negative slope, 2 = cut by the clamp.
    uint8_t* mask_out = nullptr;        // forward: write it (only when a gradient will be needed)
    const uint8_t* mask_in = nullptr;   // backward: the pointwise step multiplies by the factor read from it
    int64_t mask_My = 0, mask_Mx = 0;   // backward: the forward's intermediate size
    int64_t mask_sy = 0, mask_sx = 0;   // backward: intermediate row/column r of this pass is the mask's r - s
};

inline int64_t pos_mod(int64_t a, int64_t m) { int64_t r = a % m; return r < 0 ? r + m : r; }

// A ring of rows keyed by row index: row i lives in slot i % capacity; tag says which row a slot holds.
template <typename T>
struct Ring {
    std::vector<T> data;
    std::vector<int64_t> tag;
    int64_t row_len, cap;
    Ring(int64_t cap_, int64_t row_len_) : data(cap_ * row_len_), tag(cap_, INT64_MIN), row_len(row_len_), cap(cap_) {}
    T* slot(int64_t i) { return data.data() + pos_mod(i, cap) * row_len; }
    bool has(int64_t i) const { return tag[pos_mod(i, cap)] == i; }
    void set(int64_t i) { tag[pos_mod(i, cap)] = i; }
};

template <typename T, int CB>
class Task {
  public:
    Task(const Params& p, const T* x, const T* b, const int64_t* xs, const T* gu, const T* gu2, const T* hd,
         const T* hd2, T* out, const int64_t* os, int64_t n, int64_t c0)
        : p_(p), x_(x), b_(b), gu_(gu), gu2_(gu2), hd_(hd), hd2_(hd2), out_(out), n_(n), c0_(c0),
          cvalid_(std::min<int64_t>(CB, p.C - c0)),
          jy_((p.kuy + p.up - 1) / p.up),
          in_(jy_, p.W * CB), aup_(p.sep_u ? jy_ : 1, p.sep_u ? p.Mx * CB : 0),
          cdn_(p.kdy, p.sep_d ? p.Nx * CB : p.Mx * CB), urow_(p.Mx * CB), orow_(p.Nx * CB),
          ucanon_((p.kuy + 1) / 2), uxf_(p.fold_u ? (jy_ + 1) * ucanon_ : 1, p.fold_u ? p.Mx * CB : 0),
          pair_(p.fold_d ? p.Mx * CB : 0) {
        for (int i = 0; i < 4; ++i) { xs_[i] = xs[i]; os_[i] = os[i]; }
        // Per upsampled column: the first tap that meets an input sample, that sample, and how many taps do.
        ukx0_.resize(p.Mx); uix0_.resize(p.Mx); ucnt_.resize(p.Mx);
        for (int64_t mx = 0; mx < p.Mx; ++mx) {
            int64_t k = pos_mod(p.px0 - mx, p.up);
            int64_t i = (mx + k - p.px0) / p.up;
            if (i < 0) { int64_t skip = -i; k += skip * p.up; i = 0; }
            int64_t cnt = 0;
            if (k < p.kux && i < p.W) cnt = std::min<int64_t>((p.kux - 1 - k) / p.up + 1, p.W - i);
            ukx0_[mx] = k; uix0_[mx] = i; ucnt_[mx] = cnt;
        }
    }

    void run(int64_t ny0, int64_t ny1) {
        std::vector<const T*> rows(p_.kdy);
        for (int64_t ny = ny0; ny < ny1; ++ny) {
            for (int64_t ky = 0; ky < p_.kdy; ++ky) rows[ky] = down_row(ny * p_.down + ky);
            if (p_.sep_d) {
                vertical(rows.data(), hd_, p_.kdy, orow_.data(), p_.Nx);
            } else if (p_.fold_d) {
                std::fill(orow_.begin(), orow_.end(), T(0));
                const int64_t half = p_.kdy / 2, n = p_.Mx * CB;
                T* __restrict sum = pair_.data();
                for (int64_t ky = 0; ky < half; ++ky) {
                    const T* __restrict a = rows[ky];
                    const T* __restrict b = rows[p_.kdy - 1 - ky];
                    for (int64_t q = 0; q < n; ++q) sum[q] = a[q] + b[q];
                    xdown_acc(sum, hd2_ + ky * p_.kdx, orow_.data());
                }
                if (p_.kdy % 2) xdown_acc(rows[half], hd2_ + half * p_.kdx, orow_.data());
            } else {
                std::fill(orow_.begin(), orow_.end(), T(0));
                for (int64_t ky = 0; ky < p_.kdy; ++ky) xdown_acc(rows[ky], hd2_ + ky * p_.kdx, orow_.data());
            }
            store(ny);
        }
    }

  private:
    static constexpr int P = 4;  // output pixels in flight: independent accumulators hide the FMA latency

    // dst[q] = sum_j w[j] * rows[j][q] over `pixels` pixels (accumulated in registers, one store per pixel).
    static void vertical(const T* const* rows, const T* w, int64_t taps, T* __restrict dst, int64_t pixels) {
        int64_t q = 0;
        for (; q + P <= pixels; q += P) {
            T acc[P][CB] = {};
            for (int64_t j = 0; j < taps; ++j) {
                const T wj = w[j];
                const T* s = rows[j] + q * CB;
                for (int e = 0; e < P; ++e)
                    for (int c = 0; c < CB; ++c) acc[e][c] += wj * s[e * CB + c];
            }
            for (int e = 0; e < P; ++e)
                for (int c = 0; c < CB; ++c) dst[(q + e) * CB + c] = acc[e][c];
        }
        for (; q < pixels; ++q) {
            T acc[CB] = {};
            for (int64_t j = 0; j < taps; ++j) {
                const T wj = w[j];
                const T* s = rows[j] + q * CB;
                for (int c = 0; c < CB; ++c) acc[c] += wj * s[c];
            }
            for (int c = 0; c < CB; ++c) dst[q * CB + c] = acc[c];
        }
    }

    // The pointwise step on row my of the intermediate: the activation (forward) or the mask's factor (backward).
    void pointwise(T* u, int64_t my) const {
        if (p_.mask_in) mask_factor(u, my);
        else if (p_.mask_out) activate_with_mask(u, my);
        else activate(u, p_.Mx * CB);
    }

    const uint8_t* mask_row(int64_t m, int64_t rows, int64_t cols) const {
        const int64_t blocks = (p_.C + CB - 1) / CB;
        return (p_.mask_in ? p_.mask_in : p_.mask_out) + ((n_ * blocks + c0_ / CB) * rows + m) * cols * CB;
    }

    // Forward with a mask: the same activation, and what it did to each element. Locals and __restrict matter:
    // a store through a uint8_t pointer may alias anything, so without them the compiler reloads the loop bound
    // and u from memory after every mask byte and cannot vectorise (measured: 3.8x the maskless forward).
    void activate_with_mask(T* __restrict u, int64_t my) const {
        uint8_t* __restrict mk = const_cast<uint8_t*>(mask_row(my, p_.My, p_.Mx));
        const T slope = T(p_.slope), gain = T(p_.gain);
        const T cl = p_.clamp >= 0 ? T(p_.clamp) : T(0);
        const bool clamp = p_.clamp >= 0;
        const int64_t n = p_.Mx * CB;
        for (int64_t q = 0; q < n; ++q) {
            const T x = u[q];
            // PyTorch's leaky_relu gradient is 1 only for x > 0 (slope at 0), its clamp passes the bounds.
            const uint8_t neg = x > T(0) ? uint8_t(0) : uint8_t(1);
            T v = (x < T(0) ? x * slope : x) * gain;
            const bool cut = clamp && (v > cl || v < -cl);
            v = clamp ? (v > cl ? cl : (v < -cl ? -cl : v)) : v;
            u[q] = v;
            mk[q] = cut ? uint8_t(2) : neg;
        }
    }

    // Backward: du = dv * (gain, gain * slope or 0 by the mask); zero outside the forward's intermediate.
    void mask_factor(T* __restrict u, int64_t my) const {
        const int64_t m = my - p_.mask_sy;
        if (m < 0 || m >= p_.mask_My) { std::fill(u, u + p_.Mx * CB, T(0)); return; }
        const int64_t lo = std::clamp<int64_t>(p_.mask_sx, 0, p_.Mx);
        const int64_t hi = std::clamp<int64_t>(p_.mask_sx + p_.mask_Mx, 0, p_.Mx);
        std::fill(u, u + lo * CB, T(0));
        std::fill(u + hi * CB, u + p_.Mx * CB, T(0));
        const uint8_t* __restrict mk = mask_row(m, p_.mask_My, p_.mask_Mx) + (lo - p_.mask_sx) * CB;
        const T f0 = T(p_.gain), f1 = T(p_.gain * p_.slope);
        T* __restrict v = u + lo * CB;
        const int64_t n = (hi - lo) * CB;
        for (int64_t q = 0; q < n; ++q) {
            const uint8_t k = mk[q];
            v[q] *= k == 0 ? f0 : (k == 1 ? f1 : T(0));
        }
    }

    void activate(T* u, int64_t n) const {
        const T slope = T(p_.slope), gain = T(p_.gain);
        if (p_.clamp >= 0) {
            const T cl = T(p_.clamp);
            for (int64_t q = 0; q < n; ++q) {
                T v = u[q];
                v = (v < T(0) ? v * slope : v) * gain;
                u[q] = v > cl ? cl : (v < -cl ? -cl : v);
            }
        } else {
            for (int64_t q = 0; q < n; ++q) {
                const T v = u[q];
                u[q] = (v < T(0) ? v * slope : v) * gain;
            }
        }
    }

    // Input row i with bias, CB channels per pixel (channels past C are zero).
    const T* input_row(int64_t i) {
        T* dst = in_.slot(i);
        if (in_.has(i)) return dst;
        const T* src = x_ + n_ * xs_[0] + c0_ * xs_[1] + i * xs_[2];
        for (int c = 0; c < CB; ++c) {
            if (c < cvalid_) {
                const T bias = b_ ? b_[c0_ + c] : T(0);
                const T* s = src + c * xs_[1];
                for (int64_t w = 0; w < p_.W; ++w) dst[w * CB + c] = s[w * xs_[3]] + bias;
            } else {
                for (int64_t w = 0; w < p_.W; ++w) dst[w * CB + c] = T(0);
            }
        }
        in_.set(i);
        return dst;
    }

    // Upsample one row along x with taps g (kux of them): dst[mx] (+)= sum_k g[k] * in[(mx + k - px0) / up].
    // Columns mx, mx + up, mx + 2 up, ... use the same taps on consecutive inputs: P of them are done together.
    void xup(const T* __restrict in, const T* __restrict g, T* __restrict dst, bool accumulate) {
        const int64_t up = p_.up;
        for (int64_t ph = 0; ph < std::min<int64_t>(up, p_.Mx); ++ph) {
            int64_t mx = ph;
            while (mx < p_.Mx) {
                const int64_t k0 = ukx0_[mx], i0 = uix0_[mx], cnt = ucnt_[mx];
                bool group = mx + (P - 1) * up < p_.Mx;
                for (int e = 1; group && e < P; ++e) {
                    const int64_t m = mx + e * up;
                    group = ukx0_[m] == k0 && ucnt_[m] == cnt && uix0_[m] == i0 + e;
                }
                if (group) {
                    T acc[P][CB];
                    for (int e = 0; e < P; ++e)
                        for (int c = 0; c < CB; ++c) acc[e][c] = accumulate ? dst[(mx + e * up) * CB + c] : T(0);
                    for (int64_t j = 0; j < cnt; ++j) {
                        const T w = g[k0 + j * up];
                        const T* s = in + (i0 + j) * CB;
                        for (int e = 0; e < P; ++e)
                            for (int c = 0; c < CB; ++c) acc[e][c] += w * s[e * CB + c];
                    }
                    for (int e = 0; e < P; ++e)
                        for (int c = 0; c < CB; ++c) dst[(mx + e * up) * CB + c] = acc[e][c];
                    mx += P * up;
                } else {
                    T acc[CB];
                    for (int c = 0; c < CB; ++c) acc[c] = accumulate ? dst[mx * CB + c] : T(0);
                    for (int64_t j = 0; j < cnt; ++j) {
                        const T w = g[k0 + j * up];
                        const T* s = in + (i0 + j) * CB;
                        for (int c = 0; c < CB; ++c) acc[c] += w * s[c];
                    }
                    for (int c = 0; c < CB; ++c) dst[mx * CB + c] = acc[c];
                    mx += up;
                }
            }
        }
    }

    // Downsample one activated row along x: dst[nx] += sum_k h[k] * v[nx * down + k].
    void xdown_acc(const T* __restrict v, const T* __restrict h, T* __restrict dst) {
        const int64_t step = p_.down * CB;
        int64_t nx = 0;
        for (; nx + P <= p_.Nx; nx += P) {
            T acc[P][CB];
            for (int e = 0; e < P; ++e)
                for (int c = 0; c < CB; ++c) acc[e][c] = dst[(nx + e) * CB + c];
            const T* s = v + nx * step;
            for (int64_t k = 0; k < p_.kdx; ++k) {
                const T w = h[k];
                for (int e = 0; e < P; ++e)
                    for (int c = 0; c < CB; ++c) acc[e][c] += w * s[e * step + k * CB + c];
            }
            for (int e = 0; e < P; ++e)
                for (int c = 0; c < CB; ++c) dst[(nx + e) * CB + c] = acc[e][c];
        }
        for (; nx < p_.Nx; ++nx) {
            T acc[CB];
            for (int c = 0; c < CB; ++c) acc[c] = dst[nx * CB + c];
            const T* s = v + nx * step;
            for (int64_t k = 0; k < p_.kdx; ++k) {
                const T w = h[k];
                for (int c = 0; c < CB; ++c) acc[c] += w * s[k * CB + c];
            }
            for (int c = 0; c < CB; ++c) dst[nx * CB + c] = acc[c];
        }
    }

    // Row my of the pre-activation u, activated, into urow_.
    void activated_row(int64_t my) {
        T* u = urow_.data();
        int64_t ky = pos_mod(p_.py0 - my, p_.up);
        int64_t i = (my + ky - p_.py0) / p_.up;
        const T* rows[64];
        T w[64];
        int64_t taps = 0;
        if (!p_.sep_u && !p_.fold_u) std::fill(urow_.begin(), urow_.end(), T(0));
        for (; ky < p_.kuy; ky += p_.up, ++i) {
            if (i < 0) continue;
            if (i >= p_.H) break;
            if (p_.sep_u) {
                T* a = aup_.slot(i);
                if (!aup_.has(i)) { xup(input_row(i), gu_, a, false); aup_.set(i); }
                rows[taps] = a; w[taps] = gu_[ky]; ++taps;
            } else if (p_.fold_u) {
                // Filter rows ky and kuy - 1 - ky are equal: input row i filtered with either is kept once.
                const int64_t kc = std::min<int64_t>(ky, p_.kuy - 1 - ky), key = i * ucanon_ + kc;
                T* a = uxf_.slot(key);
                if (!uxf_.has(key)) { xup(input_row(i), gu2_ + kc * p_.kux, a, false); uxf_.set(key); }
                rows[taps] = a; w[taps] = T(1); ++taps;
            } else {
                xup(input_row(i), gu2_ + ky * p_.kux, u, true);
            }
        }
        if (p_.sep_u || p_.fold_u) {
            if (taps) vertical(rows, w, taps, u, p_.Mx);
            else std::fill(urow_.begin(), urow_.end(), T(0));
        }
        pointwise(u, my);
    }

    // What the y-downsampling reads for activated row my: its x-downsampled version (separable fd) or itself.
    const T* down_row(int64_t my) {
        T* dst = cdn_.slot(my);
        if (cdn_.has(my)) return dst;
        activated_row(my);
        if (p_.sep_d) {
            std::fill(dst, dst + p_.Nx * CB, T(0));
            xdown_acc(urow_.data(), hd_, dst);
        } else {
            std::copy(urow_.begin(), urow_.end(), dst);
        }
        cdn_.set(my);
        return dst;
    }

    void store(int64_t ny) {
        T* dst = out_ + n_ * os_[0] + c0_ * os_[1] + ny * os_[2];
        const T* src = orow_.data();
        if (os_[1] == 1) {  // channels-last: channels contiguous
            for (int64_t nx = 0; nx < p_.Nx; ++nx)
                for (int c = 0; c < cvalid_; ++c) dst[nx * os_[3] + c] = src[nx * CB + c];
        } else {
            for (int c = 0; c < cvalid_; ++c)
                for (int64_t nx = 0; nx < p_.Nx; ++nx) dst[c * os_[1] + nx * os_[3]] = src[nx * CB + c];
        }
    }

    const Params& p_;
    const T *x_, *b_, *gu_, *gu2_, *hd_, *hd2_;
    T* out_;
    int64_t xs_[4], os_[4];
    int64_t n_, c0_, cvalid_, jy_;
    Ring<T> in_, aup_, cdn_;
    std::vector<T> urow_, orow_;
    int64_t ucanon_;      // distinct rows of a mirrored 2-D up filter
    Ring<T> uxf_;         // fold_u: input row i filtered with up-filter row kc, keyed i * ucanon_ + kc
    std::vector<T> pair_; // fold_d: the sum of the two activated rows a mirrored pair of down taps reads
    std::vector<int64_t> ukx0_, uix0_, ucnt_;
};

template <typename T, int CB>
void run_all(const Params& p, const torch::Tensor& x, const torch::Tensor& b, const torch::Tensor& gu,
             const torch::Tensor& gu2, const torch::Tensor& hd, const torch::Tensor& hd2, torch::Tensor& out) {
    const int64_t blocks = (p.C + CB - 1) / CB;
    const int64_t planes = p.N * blocks;
    // Split output rows into strips when there are too few (image, channel block) pairs to keep every thread
    // busy; rows at a strip's edge are then computed twice, so strips stay tall.
    const int64_t threads = at::get_num_threads();
    int64_t strips = 1;
    if (planes < 2 * threads) strips = std::min<int64_t>((2 * threads + planes - 1) / planes, std::max<int64_t>(1, p.Ny / 16));
    const int64_t rows_per = (p.Ny + strips - 1) / strips;
    const int64_t xs[4] = {x.stride(0), x.stride(1), x.stride(2), x.stride(3)};
    const int64_t os[4] = {out.stride(0), out.stride(1), out.stride(2), out.stride(3)};
    const T* xp = x.data_ptr<T>();
    const T* bp = b.numel() ? b.data_ptr<T>() : nullptr;
    const T* gup = gu.numel() ? gu.data_ptr<T>() : nullptr;
    const T* gu2p = gu2.numel() ? gu2.data_ptr<T>() : nullptr;
    const T* hdp = hd.numel() ? hd.data_ptr<T>() : nullptr;
    const T* hd2p = hd2.numel() ? hd2.data_ptr<T>() : nullptr;
    T* op = out.data_ptr<T>();
    at::parallel_for(0, planes * strips, 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            const int64_t strip = t % strips, plane = t / strips;
            const int64_t n = plane / blocks, c0 = (plane % blocks) * CB;
            const int64_t ny0 = strip * rows_per, ny1 = std::min(p.Ny, ny0 + rows_per);
            if (ny0 >= ny1) continue;
            Task<T, CB> task(p, xp, bp, xs, gup, gu2p, hdp, hd2p, op, os, n, c0);
            task.run(ny0, ny1);
        }
    });
}

// Whether a 2-D filter's row k equals its row K-1-k exactly, for every k (then the kernel folds it).
bool rows_mirror(const torch::Tensor& f) {
    if (f.dim() != 2 || f.size(0) < 2 || !f.is_contiguous()) return false;
    const int64_t rows = f.size(0), cols = f.size(1);
    const auto bytes = f.element_size() * cols;
    const char* base = static_cast<const char*>(f.data_ptr());
    for (int64_t k = 0; k < rows / 2; ++k)
        if (std::memcmp(base + k * bytes, base + (rows - 1 - k) * bytes, bytes) != 0) return false;
    return true;
}

// The checks and geometry shared by both passes: input `in` [N, C, H, W] is upsampled by `up` with the gu / gu2
// taps (exactly one given), padded, pointwise-mapped, filtered with hd / hd2 and downsampled by `down` into `out`
// (preallocated, shape checked). `what` names the input in error messages.
Params pass_params(const torch::Tensor& in, const torch::Tensor& gu, const torch::Tensor& gu2, const torch::Tensor& hd,
                   const torch::Tensor& hd2, int64_t up, int64_t down, int64_t px0, int64_t px1, int64_t py0,
                   int64_t py1, const torch::Tensor& out, const char* what) {
    TORCH_CHECK(in.device().is_cpu() && in.dim() == 4 && out.dim() == 4, what,
                " and the output must be 4-D CPU tensors");
    TORCH_CHECK(out.scalar_type() == in.scalar_type(), "the output must match ", what, "'s dtype");
    TORCH_CHECK((gu.numel() > 0) != (gu2.numel() > 0) && (hd.numel() > 0) != (hd2.numel() > 0),
                "exactly one of each filter pair must be given");
    for (const torch::Tensor* t : {&gu, &gu2, &hd, &hd2}) {
        TORCH_CHECK(t->numel() == 0 || (t->is_contiguous() && t->scalar_type() == in.scalar_type()),
                    "filters must be contiguous and of ", what, "'s dtype");
    }
    TORCH_CHECK(up >= 1 && down >= 1, "up and down must be >= 1");
    // Rows of the up filter that meet one upsampled row: at most ceil(kuy / up), gathered in a fixed array.
    TORCH_CHECK((gu.numel() ? gu.numel() : gu2.size(0)) <= 64 * up, "the up filter has too many taps (max 64 * up)");
    Params p{};
    p.N = in.size(0); p.C = in.size(1); p.H = in.size(2); p.W = in.size(3);
    p.up = int(up); p.down = int(down); p.px0 = int(px0); p.py0 = int(py0);
    p.sep_u = gu.numel() > 0; p.sep_d = hd.numel() > 0;
    p.kux = p.sep_u ? gu.numel() : gu2.size(1); p.kuy = p.sep_u ? gu.numel() : gu2.size(0);
    p.kdx = p.sep_d ? hd.numel() : hd2.size(1); p.kdy = p.sep_d ? hd.numel() : hd2.size(0);
    p.fold_u = !p.sep_u && rows_mirror(gu2);
    p.fold_d = !p.sep_d && rows_mirror(hd2);
    p.Mx = p.W * up + px0 + px1 - p.kux + 1; p.My = p.H * up + py0 + py1 - p.kuy + 1;
    p.Nx = p.Mx >= p.kdx ? (p.Mx - p.kdx) / down + 1 : 0;
    p.Ny = p.My >= p.kdy ? (p.My - p.kdy) / down + 1 : 0;
    TORCH_CHECK(p.Nx >= 1 && p.Ny >= 1, "output would be empty");
    TORCH_CHECK(out.size(0) == p.N && out.size(1) == p.C && out.size(2) == p.Ny && out.size(3) == p.Nx,
                "the output has the wrong shape");
    return p;
}

// A mask of one byte per intermediate element (rows x cols), in the kernel's channel blocks of CB.
void check_mask(const torch::Tensor& mask, const Params& p, int64_t rows, int64_t cols, torch::ScalarType dtype) {
    const int64_t cb = dtype == torch::kFloat32 ? 16 : 8;
    TORCH_CHECK(mask.scalar_type() == torch::kUInt8 && mask.is_contiguous() &&
                    mask.numel() == p.N * ((p.C + cb - 1) / cb) * rows * cols * cb,
                "mask must be a contiguous uint8 tensor [N, ceil(C / CB), rows, columns, CB] of the intermediate");
}

void run_typed(const Params& p, const torch::Tensor& in, const torch::Tensor& b, const torch::Tensor& gu,
               const torch::Tensor& gu2, const torch::Tensor& hd, const torch::Tensor& hd2, torch::Tensor& out) {
    if (in.scalar_type() == torch::kFloat32) {
        run_all<float, 16>(p, in, b, gu, gu2, hd, hd2, out);
    } else if (in.scalar_type() == torch::kFloat64) {
        run_all<double, 8>(p, in, b, gu, gu2, hd, hd2, out);
    } else {
        TORCH_CHECK(false, "filtered_lrelu (fused CPU): float32 or float64 only");
    }
}

// x [N, C, H, W] (any strides), b [C] or empty; gu: 1-D taps (separable) or empty, gu2: [kuy, kux] or empty;
// hd / hd2 likewise for the down filter; out [N, C, Ny, Nx] preallocated (any strides).
void forward(torch::Tensor x, torch::Tensor b, torch::Tensor gu, torch::Tensor gu2, torch::Tensor hd,
             torch::Tensor hd2, int64_t up, int64_t down, int64_t px0, int64_t px1, int64_t py0, int64_t py1,
             double gain, double slope, double clamp, torch::Tensor out, torch::Tensor mask) {
    Params p = pass_params(x, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, out, "x");
    TORCH_CHECK(b.numel() == 0 || (b.is_contiguous() && b.scalar_type() == x.scalar_type()),
                "the bias must be contiguous and of x's dtype");
    p.gain = gain; p.slope = slope; p.clamp = clamp;
    if (mask.numel()) {
        check_mask(mask, p, p.My, p.Mx, x.scalar_type());
        p.mask_out = mask.data_ptr<uint8_t>();
    }
    run_typed(p, x, b, gu, gu2, hd, hd2, out);
}

// Backward of the input: the forward's structure with the roles swapped (the Python side prepares the
// transposed taps and paddings, see ops/cpu/fused.py): dy is upsampled by the forward's `down` with the flipped
// down filter, multiplied by the factor in the forward's mask, filtered with the flipped up filter and
// downsampled by the forward's `up`. dy [N, C, Ny, Nx] (any strides), dx [N, C, H, W] preallocated.
void backward(torch::Tensor dy, torch::Tensor mask, torch::Tensor gu, torch::Tensor gu2, torch::Tensor hd,
              torch::Tensor hd2, int64_t up, int64_t down, int64_t px0, int64_t px1, int64_t py0, int64_t py1,
              double gain, double slope, int64_t mask_my, int64_t mask_mx, int64_t sy, int64_t sx,
              torch::Tensor dx) {
    Params p = pass_params(dy, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, dx, "dy");
    check_mask(mask, p, mask_my, mask_mx, dy.scalar_type());
    p.gain = gain; p.slope = slope; p.clamp = -1.0;
    p.mask_in = mask.data_ptr<uint8_t>();
    p.mask_My = mask_my; p.mask_Mx = mask_mx; p.mask_sy = sy; p.mask_sx = sx;
    run_typed(p, dy, torch::empty({0}, dy.options()), gu, gu2, hd, hd2, dx);
}

}  // namespace

// winograd.cpp, built into the same module.
void winograd_conv3x3(torch::Tensor x, torch::Tensor w, torch::Tensor in_scale, torch::Tensor out_scale, int64_t pad,
                      bool per_image_weights, int64_t tile_block, torch::Tensor y);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &forward, "fused filtered_lrelu forward (CPU); a non-empty uint8 mask is filled for backward");
    m.def("backward", &backward, "fused filtered_lrelu backward of the input (CPU), from the forward's mask");
    m.def("rows_mirror", &rows_mirror, "whether a contiguous 2-D filter's rows mirror, so that the kernel folds it");
    m.def("winograd_conv3x3", &winograd_conv3x3,
          "(x * in_scale) conv 3x3 w * out_scale by Winograd's F(2x2, 3x3) (CPU, forward only)");
}
