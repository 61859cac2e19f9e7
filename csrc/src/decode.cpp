// fk_decode_heatmaps: argmax (+ quarter-pixel shift), DARK, soft-argmax. Spec: c_api.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core.hpp"

namespace facekd {
namespace {

constexpr int kBlock = 64;  // floats per block of the argmax scan

#if defined(__GNUC__)
// Portable 4-lane vectors (SSE2 on x86-64, NEON on ARM).
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

inline f32x4 load4(const float* p) {
  f32x4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// a > b ? a : b lane-wise; a NaN in `a` keeps `b` (maxps semantics).
inline f32x4 vmax(f32x4 a, f32x4 b) { return a > b ? a : b; }
#endif

struct MapScan {
  float max;
  int32_t index;  // first position of `max` in row-major order
  bool finite;
};

// One pass over the map: per block of kBlock floats the maximum, together with a finiteness check
// (x - x is 0 for finite x, NaN otherwise); then the first occurrence of the maximum is found by
// scanning the (few) block maxima and the one block that holds it (from cache).
MapScan scan_map(const float* p, int32_t size, std::vector<float>& block_max) {
  const int32_t n_blocks = size / kBlock;
  block_max.resize(static_cast<std::size_t>(n_blocks) + 1);
  float global = -std::numeric_limits<float>::infinity();
  bool finite = true;
#if defined(__GNUC__)
  const f32x4 ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  i32x4 bad = {0, 0, 0, 0};
  for (int32_t b = 0; b < n_blocks; ++b) {
    const float* q = p + static_cast<std::ptrdiff_t>(b) * kBlock;
    f32x4 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    for (int i = 0; i < kBlock; i += 16) {
      const f32x4 v0 = load4(q + i), v1 = load4(q + i + 4), v2 = load4(q + i + 8), v3 = load4(q + i + 12);
      bad |= (i32x4)(v0 - v0) | (i32x4)(v1 - v1) | (i32x4)(v2 - v2) | (i32x4)(v3 - v3);
      m0 = vmax(v0, m0);
      m1 = vmax(v1, m1);
      m2 = vmax(v2, m2);
      m3 = vmax(v3, m3);
    }
    const f32x4 m = vmax(vmax(m0, m1), vmax(m2, m3));
    const float a = m[0] > m[1] ? m[0] : m[1];
    const float c = m[2] > m[3] ? m[2] : m[3];
    const float bm = a > c ? a : c;
    block_max[static_cast<std::size_t>(b)] = bm;
    global = bm > global ? bm : global;
  }
  finite = (bad[0] | bad[1] | bad[2] | bad[3]) == 0;
#else
  for (int32_t b = 0; b < n_blocks; ++b) {
    const float* q = p + static_cast<std::ptrdiff_t>(b) * kBlock;
    float bm = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < kBlock; ++i) {
      finite = finite && std::isfinite(q[i]);
      bm = q[i] > bm ? q[i] : bm;
    }
    block_max[static_cast<std::size_t>(b)] = bm;
    global = bm > global ? bm : global;
  }
#endif
  // Tail (size % kBlock floats), scalar.
  float tail_max = -std::numeric_limits<float>::infinity();
  for (int32_t i = n_blocks * kBlock; i < size; ++i) {
    const float v = p[i];
    finite = finite && std::isfinite(v);
    tail_max = v > tail_max ? v : tail_max;
  }
  block_max[static_cast<std::size_t>(n_blocks)] = tail_max;
  global = tail_max > global ? tail_max : global;

  MapScan r{global, 0, finite};
  if (!finite) return r;
  for (int32_t b = 0; b <= n_blocks; ++b) {
    if (block_max[static_cast<std::size_t>(b)] == global) {
      const int32_t begin = b * kBlock;
      const int32_t end = std::min(size, begin + kBlock);
      for (int32_t i = begin; i < end; ++i) {
        if (p[i] == global) {
          r.index = i;
          return r;
        }
      }
    }
  }
  fail(FK_ERR_INTERNAL, "argmax scan lost the maximum");
}

// MSRA/HRNet quarter-pixel shift toward the higher neighbour, per axis, away from the border.
void quarter_shift(const float* map, int h, int w, int px, int py, float& x, float& y) {
  x = static_cast<float>(px);
  y = static_cast<float>(py);
  const float* row = map + static_cast<std::ptrdiff_t>(py) * w;
  if (px > 0 && px < w - 1) {
    const float l = row[px - 1], r = row[px + 1];
    if (r > l) x += 0.25f;
    if (r < l) x -= 0.25f;
  }
  if (py > 0 && py < h - 1) {
    const float u = map[static_cast<std::ptrdiff_t>(py - 1) * w + px];
    const float d = map[static_cast<std::ptrdiff_t>(py + 1) * w + px];
    if (d > u) y += 0.25f;
    if (d < u) y -= 0.25f;
  }
}

// DARK sub-pixel refinement (double precision throughout).
class DarkRefiner {
 public:
  explicit DarkRefiner(float sigma) : radius_(static_cast<int>(std::ceil(3.0 * static_cast<double>(sigma)))) {
    weights_.resize(static_cast<std::size_t>(2 * radius_ + 1));
    double sum = 0.0;
    const double s = static_cast<double>(sigma);
    for (int i = -radius_; i <= radius_; ++i) {
      const double g = std::exp(-static_cast<double>(i) * i / (2.0 * s * s));
      weights_[static_cast<std::size_t>(i + radius_)] = g;
      sum += g;
    }
    for (double& g : weights_) g /= sum;
  }

  void refine(const float* map, int h, int w, int px, int py, float& x, float& y) const {
    auto L = [&](int dx, int dy) {
      const int cx = std::min(std::max(px + dx, 0), w - 1);
      const int cy = std::min(std::max(py + dy, 0), h - 1);
      return std::log(std::max(blurred(map, h, w, cx, cy), 1e-10));
    };
    const double c = L(0, 0);
    const double xp1 = L(1, 0), xm1 = L(-1, 0), xp2 = L(2, 0), xm2 = L(-2, 0);
    const double yp1 = L(0, 1), ym1 = L(0, -1), yp2 = L(0, 2), ym2 = L(0, -2);
    const double pp = L(1, 1), pm = L(1, -1), mp = L(-1, 1), mm = L(-1, -1);
    const double dx = 0.5 * (xp1 - xm1);
    const double dy = 0.5 * (yp1 - ym1);
    const double dxx = 0.25 * (xp2 - 2.0 * c + xm2);
    const double dyy = 0.25 * (yp2 - 2.0 * c + ym2);
    const double dxy = 0.25 * (pp - pm - mp + mm);
    x = static_cast<float>(px);
    y = static_cast<float>(py);
    const double det = dxx * dyy - dxy * dxy;
    if (!(dxx < 0.0 && det > 1e-12)) return;
    // step = -H^{-1} g with H^{-1} = [dyy, -dxy; -dxy, dxx] / det
    const double sx = -(dyy * dx - dxy * dy) / det;
    const double sy = -(-dxy * dx + dxx * dy) / det;
    if (!(std::fabs(sx) <= 1.0 && std::fabs(sy) <= 1.0)) return;
    // a peak on the border may step past it: keep the point on the map (pixel centres -0.5 .. w - 0.5)
    x = static_cast<float>(std::min(std::max(px + sx, -0.5), w - 0.5));
    y = static_cast<float>(std::min(std::max(py + sy, -0.5), h - 0.5));
  }

 private:
  // Gaussian blur of the map at (x, y), zero outside the map.
  double blurred(const float* map, int h, int w, int x, int y) const {
    double acc = 0.0;
    for (int j = -radius_; j <= radius_; ++j) {
      const int yy = y + j;
      if (yy < 0 || yy >= h) continue;
      const float* row = map + static_cast<std::ptrdiff_t>(yy) * w;
      double racc = 0.0;
      const int i0 = std::max(-radius_, -x), i1 = std::min(radius_, w - 1 - x);
      for (int i = i0; i <= i1; ++i) racc += weights_[static_cast<std::size_t>(i + radius_)] * row[x + i];
      acc += weights_[static_cast<std::size_t>(j + radius_)] * racc;
    }
    return acc;
  }

  int radius_;
  std::vector<double> weights_;
};

#if defined(__GNUC__)
// exp(x) for x <= 0, 4 lanes: Cephes expf (range reduction by ln 2, degree-5 polynomial, about
// 2 ulp). Inputs below -87 are clamped there (exp(-87) ~ 1.6e-38, nothing next to the peak's 1).
inline f32x4 exp_nonpositive(f32x4 x) {
  const f32x4 lo = {-87.0f, -87.0f, -87.0f, -87.0f};
  x = vmax(x, lo);
  const f32x4 fx = x * 1.44269504088896341f + 0.5f;
  f32x4 t = __builtin_convertvector(__builtin_convertvector(fx, i32x4), f32x4);
  t += __builtin_convertvector(t > fx, f32x4);  // floor: truncation rounds negatives up
  x = x - t * 0.693359375f;
  x = x - t * -2.12194440e-4f;
  const f32x4 z = x * x;
  f32x4 y = 1.9875691500e-4f * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  const i32x4 e = (__builtin_convertvector(t, i32x4) + 127) << 23;  // 2^t as float bits
  return y * (f32x4)e;
}
#endif

// Soft-argmax with the maximum subtracted. Partial sums in float lanes over at most 64 columns,
// accumulated in double.
void soft_argmax(const float* map, int h, int w, float max_value, float beta, float& x, float& y) {
  double sum = 0.0, sx = 0.0, sy = 0.0;
  for (int r = 0; r < h; ++r) {
    const float* row = map + static_cast<std::ptrdiff_t>(r) * w;
    double rsum = 0.0, rsx = 0.0;
    int c = 0;
#if defined(__GNUC__)
    while (c + 4 <= w) {
      f32x4 vs = {0.0f, 0.0f, 0.0f, 0.0f}, vx = vs;
      f32x4 col = {0.0f, 1.0f, 2.0f, 3.0f};
      const int end = std::min(w, c + 64) & ~3;
      const int base = c;
      for (; c + 4 <= end; c += 4) {
        const f32x4 e = exp_nonpositive(beta * (load4(row + c) - max_value));
        vs += e;
        vx += e * col;
        col += 4.0f;
      }
      const double s4 = static_cast<double>(vs[0]) + vs[1] + vs[2] + vs[3];
      rsum += s4;
      rsx += static_cast<double>(vx[0]) + vx[1] + vx[2] + vx[3] + s4 * base;
    }
#endif
    for (; c < w; ++c) {
      const double e = static_cast<double>(std::exp(beta * (row[c] - max_value)));
      rsum += e;
      rsx += e * c;
    }
    sum += rsum;
    sx += rsx;
    sy += rsum * r;
  }
  x = static_cast<float>(sx / sum);
  y = static_cast<float>(sy / sum);
}

}  // namespace

void decode_heatmaps(const float* heatmaps, int n, int k, int h, int w, const fk_decode_params& params,
                     float* coords, float* scores) {
  require_not_null(heatmaps, "heatmaps");
  require_not_null(coords, "coords");
  require_not_null(scores, "scores");
  require_positive(n, "n");
  require_positive(k, "k");
  require_positive(h, "h");
  require_positive(w, "w");
  const std::size_t map_size = checked_mul(static_cast<std::size_t>(h), static_cast<std::size_t>(w), "h*w");
  require(map_size <= static_cast<std::size_t>(std::numeric_limits<int32_t>::max()),
          format("h*w must be <= 2^31-1 (got %d*%d)", h, w));
  const std::size_t n_maps = checked_mul(static_cast<std::size_t>(n), static_cast<std::size_t>(k), "n*k");
  checked_mul(checked_mul(n_maps, map_size, "n*k*h*w"), sizeof(float), "n*k*h*w*sizeof(float)");
  checked_mul(n_maps, 2 * sizeof(float), "n*k*2*sizeof(float)");

  const int mode_value = enum_value(params.mode);
  if (mode_value != FK_DECODE_ARGMAX && mode_value != FK_DECODE_DARK && mode_value != FK_DECODE_SOFTARGMAX) {
    fail(FK_ERR_INVALID_ARGUMENT,
         format("params.mode must be ARGMAX(0), DARK(1) or SOFTARGMAX(2) (got %d)", mode_value));
  }
  const auto mode = static_cast<fk_decode_mode>(mode_value);
  if (mode == FK_DECODE_DARK) {
    require_finite(params.blur_sigma, "params.blur_sigma");
    require(params.blur_sigma > 0.0f, format("params.blur_sigma must be > 0 (got %g)", params.blur_sigma));
    require(params.blur_sigma <= 1000.0f, format("params.blur_sigma must be <= 1000 (got %g)", params.blur_sigma));
  }
  if (mode == FK_DECODE_SOFTARGMAX) {
    require_finite(params.beta, "params.beta");
    require(params.beta > 0.0f, format("params.beta must be > 0 (got %g)", params.beta));
  }

  std::vector<float> block_max;
  const DarkRefiner dark(mode == FK_DECODE_DARK ? params.blur_sigma : 1.0f);
  for (std::size_t m = 0; m < n_maps; ++m) {
    const float* map = heatmaps + m * map_size;
    const MapScan s = scan_map(map, static_cast<int32_t>(map_size), block_max);
    if (!s.finite) {
      fail(FK_ERR_NON_FINITE, format("heatmaps[%zu, %zu] (sample, keypoint) contains NaN or Inf",
                                     m / static_cast<std::size_t>(k), m % static_cast<std::size_t>(k)));
    }
    const int px = s.index % w, py = s.index / w;
    float x = 0.0f, y = 0.0f;
    switch (mode) {
      case FK_DECODE_ARGMAX: quarter_shift(map, h, w, px, py, x, y); break;
      case FK_DECODE_DARK: dark.refine(map, h, w, px, py, x, y); break;
      case FK_DECODE_SOFTARGMAX: soft_argmax(map, h, w, s.max, params.beta, x, y); break;
    }
    coords[2 * m] = x;
    coords[2 * m + 1] = y;
    scores[m] = s.max;
  }
}

}  // namespace facekd
