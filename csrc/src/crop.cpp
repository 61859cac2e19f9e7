// Face-crop preprocessing: box -> affine, and the one-pass affine crop (format conversion, bilinear
// sampling with a constant border, normalisation, CHW output). Spec: c_api.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core.hpp"

namespace facekd {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Packed formats sample the 2x2 neighbourhood as one 4-lane (R, G, B, -) vector per neighbour
// with GCC/Clang vector extensions (SSE2 on x86-64, NEON on ARM); other compilers use scalars.
#if defined(__GNUC__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector) && __has_builtin(__builtin_convertvector)
#define FACEKD_VECTOR_CROP 1
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x8 __attribute__((vector_size(16)));
typedef uint64_t u64x2 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));
typedef float f32x4 __attribute__((vector_size(16)));

// The 8 bytes at p as floats: lo = bytes 0..3, hi = bytes 4..7 (zero-extending interleaves, which
// map to punpck* on SSE2 and zip/uxtl on NEON).
inline void load8_as_float(const uint8_t* p, f32x4& lo, f32x4& hi) {
  uint64_t bits;
  std::memcpy(&bits, p, sizeof bits);
  const u64x2 q = {bits, 0};
  const u8x16 b = (u8x16)q, zb = {};
  const u16x8 w = (u16x8)__builtin_shufflevector(b, zb, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const u16x8 zw = {};
  lo = __builtin_convertvector((i32x4)__builtin_shufflevector(w, zw, 0, 8, 1, 9, 2, 10, 3, 11), f32x4);
  hi = __builtin_convertvector((i32x4)__builtin_shufflevector(w, zw, 4, 12, 5, 13, 6, 14, 7, 15), f32x4);
}
#endif
#endif

// A validated source image with every pointer and stride resolved.
struct Source {
  const uint8_t* data;
  std::ptrdiff_t stride;
  const uint8_t* uv;
  std::ptrdiff_t uv_stride;
  int width;
  int height;
};

// Per-format pixel access: rgb(row, uv_row, x) returns the RGB value of pixel x of a row.
template <fk_pixel_format F>
struct Format;

template <int Bpp, int R, int G, int B>
struct Packed {
  static constexpr int kBytesPerPixel = Bpp;
#if FACEKD_VECTOR_CROP
  static constexpr bool kVector = true;
  // The RGB of the pixel at p and of its right neighbour, from the 8 bytes at p.
  static inline void rgb_pair(const uint8_t* p, f32x4& left, f32x4& right) {
    f32x4 lo, hi;
    load8_as_float(p, lo, hi);
    left = __builtin_shufflevector(lo, hi, R, G, B, B);
    right = __builtin_shufflevector(lo, hi, Bpp + R, Bpp + G, Bpp + B, Bpp + B);
  }
#else
  static constexpr bool kVector = false;
#endif
  static inline void rgb(const uint8_t* row, const uint8_t*, int x, float& r, float& g, float& b) {
    const uint8_t* p = row + static_cast<std::ptrdiff_t>(x) * Bpp;
    r = p[R];
    g = p[G];
    b = p[B];
  }
};
template <> struct Format<FK_PIXEL_RGB8> : Packed<3, 0, 1, 2> {};
template <> struct Format<FK_PIXEL_BGR8> : Packed<3, 2, 1, 0> {};
template <> struct Format<FK_PIXEL_RGBA8> : Packed<4, 0, 1, 2> {};
template <> struct Format<FK_PIXEL_BGRA8> : Packed<4, 2, 1, 0> {};
template <> struct Format<FK_PIXEL_GRAY8> {
  static constexpr int kBytesPerPixel = 1;
  static constexpr bool kVector = false;
  static inline void rgb(const uint8_t* row, const uint8_t*, int x, float& r, float& g, float& b) {
    r = g = b = row[x];
  }
};

inline float clamp255(float v) { return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v); }

// Full-range BT.601; chroma sample (x/2, y/2), nearest.
template <int UOffset>
struct BiPlanar {
  static constexpr int kBytesPerPixel = 1;
  static constexpr bool kVector = false;
  static inline void rgb(const uint8_t* row, const uint8_t* uv_row, int x, float& r, float& g, float& b) {
    const float y = row[x];
    const uint8_t* c = uv_row + 2 * static_cast<std::ptrdiff_t>(x >> 1);
    const float u = static_cast<float>(c[UOffset]) - 128.0f;
    const float v = static_cast<float>(c[1 - UOffset]) - 128.0f;
    r = clamp255(y + 1.402f * v);
    g = clamp255(y - 0.344136f * u - 0.714136f * v);
    b = clamp255(y + 1.772f * u);
  }
};
template <> struct Format<FK_PIXEL_NV12> : BiPlanar<0> {};
template <> struct Format<FK_PIXEL_NV21> : BiPlanar<1> {};

int bytes_per_pixel(int f) {
  switch (f) {
    case FK_PIXEL_RGB8:
    case FK_PIXEL_BGR8: return 3;
    case FK_PIXEL_RGBA8:
    case FK_PIXEL_BGRA8: return 4;
    case FK_PIXEL_GRAY8:
    case FK_PIXEL_NV12:
    case FK_PIXEL_NV21: return 1;
  }
  return 0;
}

bool is_biplanar(int f) { return f == FK_PIXEL_NV12 || f == FK_PIXEL_NV21; }

Source validate_image(const fk_image& im) {
  require_not_null(im.data, "image.data");
  require_positive(im.width, "image.width");
  require_positive(im.height, "image.height");
  const int fmt = enum_value(im.format);
  const int bpp = bytes_per_pixel(fmt);
  if (bpp == 0) {
    fail(FK_ERR_INVALID_ARGUMENT,
         format("image.format must be one of RGB8(0) BGR8(1) RGBA8(2) BGRA8(3) GRAY8(4) NV12(5) NV21(6) (got %d)",
                fmt));
  }
  const int64_t row_bytes = static_cast<int64_t>(im.width) * bpp;
  require(im.stride >= row_bytes,
          format("image.stride must be >= width * bytes_per_pixel = %lld (got %d)",
                 static_cast<long long>(row_bytes), im.stride));
  checked_mul(static_cast<std::size_t>(im.stride), static_cast<std::size_t>(im.height), "image.stride*height");
  Source s{im.data, im.stride, nullptr, 0, im.width, im.height};
  if (is_biplanar(fmt)) {
    s.uv = im.uv_data != nullptr ? im.uv_data : im.data + static_cast<std::ptrdiff_t>(im.stride) * im.height;
    const int uv_stride = im.uv_stride != 0 ? im.uv_stride : im.stride;
    const int64_t uv_row_bytes = 2 * ((static_cast<int64_t>(im.width) + 1) / 2);
    require(uv_stride >= uv_row_bytes,
            format("image.uv_stride must be >= 2*ceil(width/2) = %lld (got %d%s)",
                   static_cast<long long>(uv_row_bytes), uv_stride, im.uv_stride == 0 ? ", from stride" : ""));
    s.uv_stride = uv_stride;
  }
  return s;
}

struct Normalise {
  float scale[3];   // 1 / (255 std)
  float offset[3];  // -mean / std
  float border;
};

Normalise validate_params(const fk_crop_params& p) {
  require_positive(p.out_size, "params.out_size");
  require(p.out_channels == 1 || p.out_channels == 3,
          format("params.out_channels must be 1 or 3 (got %d)", p.out_channels));
  require_finite(p.mean, p.out_channels, "params.mean");
  require_finite(p.std, p.out_channels, "params.std");
  require_finite(p.border_value, "params.border_value");
  require(p.border_value >= 0.0f && p.border_value <= 255.0f,
          format("params.border_value must be within [0, 255] (got %g)", p.border_value));
  Normalise n{};
  for (int c = 0; c < p.out_channels; ++c) {
    require(p.std[c] > 0.0f, format("params.std[%d] must be > 0 (got %g)", c, p.std[c]));
    n.scale[c] = static_cast<float>(1.0 / (255.0 * static_cast<double>(p.std[c])));
    n.offset[c] = static_cast<float>(-static_cast<double>(p.mean[c]) / static_cast<double>(p.std[c]));
    require(std::isfinite(n.scale[c]) && std::isfinite(n.offset[c]) &&
                std::isfinite(255.0f * n.scale[c] + n.offset[c]),
            format("params.mean[%d] / params.std[%d] give a non-finite normalisation (mean %g, std %g)", c, c,
                   p.mean[c], p.std[c]));
  }
  n.border = p.border_value;
  const std::size_t plane = checked_mul(static_cast<std::size_t>(p.out_size), static_cast<std::size_t>(p.out_size),
                                        "params.out_size^2");
  checked_mul(checked_mul(plane, static_cast<std::size_t>(p.out_channels), "output size"), sizeof(float),
              "output size in bytes");
  return n;
}

template <fk_pixel_format F, int OC>
void crop_kernel(const Source& src, const double A[6], const Normalise& nz, int S, float* out) {
  using P = Format<F>;
  constexpr bool kGrayIn = (F == FK_PIXEL_GRAY8);
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(S) * S;
  float* out0 = out;
  float* out1 = OC == 3 ? out + plane : out;
  float* out2 = OC == 3 ? out + 2 * plane : out;
  const double W = src.width, H = src.height;
  const double xmax = W - 1.0, ymax = H - 1.0;
  // Fast path: all four neighbours inside, x in [0, x_fast), y in [0, H-1). The vector path loads 8
  // bytes from the left neighbour: 3-byte formats then stay one more pixel away from the right edge.
  const double x_fast = (P::kVector && P::kBytesPerPixel == 3) ? W - 2.0 : W - 1.0;
  const float bv = nz.border;
  const float s0 = nz.scale[0], s1 = nz.scale[1], s2 = nz.scale[2];
  const float o0 = nz.offset[0], o1 = nz.offset[1], o2 = nz.offset[2];

  auto store = [&](std::ptrdiff_t i, float r, float g, float b) {
    if (OC == 3) {
      out0[i] = r * s0 + o0;
      out1[i] = g * s1 + o1;
      out2[i] = b * s2 + o2;
    } else if (kGrayIn) {
      out0[i] = r * s0 + o0;  // r == g == b: the gray value itself
    } else {
      out0[i] = (0.299f * r + 0.587f * g + 0.114f * b) * s0 + o0;
    }
  };

  for (int v = 0; v < S; ++v) {
    const double row_x = A[1] * v + A[2];
    const double row_y = A[4] * v + A[5];
    const std::ptrdiff_t row_out = static_cast<std::ptrdiff_t>(v) * S;
    for (int u = 0; u < S; ++u) {
      const double xs = row_x + A[0] * u;
      const double ys = row_y + A[3] * u;
      float r00, g00, b00, r10, g10, b10, r01, g01, b01, r11, g11, b11;
      float fx, fy;
      if (xs >= 0.0 && xs < x_fast && ys >= 0.0 && ys < ymax) {
        // Fast path: all four neighbours inside (truncation == floor for xs, ys >= 0).
        const int x0 = static_cast<int>(xs), y0 = static_cast<int>(ys);
        fx = static_cast<float>(xs - x0);
        fy = static_cast<float>(ys - y0);
        const uint8_t* row0 = src.data + y0 * src.stride;
        const uint8_t* row1 = row0 + src.stride;
#if FACEKD_VECTOR_CROP
        if constexpr (P::kVector) {
          f32x4 p00, p10, p01, p11;
          P::rgb_pair(row0 + static_cast<std::ptrdiff_t>(x0) * P::kBytesPerPixel, p00, p10);
          P::rgb_pair(row1 + static_cast<std::ptrdiff_t>(x0) * P::kBytesPerPixel, p01, p11);
          const f32x4 top = p00 + fx * (p10 - p00), bottom = p01 + fx * (p11 - p01);
          const f32x4 value = top + fy * (bottom - top);
          store(row_out + u, value[0], value[1], value[2]);
          continue;
        }
#endif
        const uint8_t* uv0 = nullptr;
        const uint8_t* uv1 = nullptr;
        if (is_biplanar(F)) {
          uv0 = src.uv + (y0 >> 1) * src.uv_stride;
          uv1 = src.uv + ((y0 + 1) >> 1) * src.uv_stride;
        }
        P::rgb(row0, uv0, x0, r00, g00, b00);
        P::rgb(row0, uv0, x0 + 1, r10, g10, b10);
        P::rgb(row1, uv1, x0, r01, g01, b01);
        P::rgb(row1, uv1, x0 + 1, r11, g11, b11);
      } else {
        // Border path: each neighbour checked; outside ones take the border value.
        const double flx = std::floor(xs), fly = std::floor(ys);
        if (flx < -1.0 || flx > xmax || fly < -1.0 || fly > ymax) {
          store(row_out + u, bv, bv, bv);
          continue;
        }
        const int x0 = static_cast<int>(flx), y0 = static_cast<int>(fly);
        fx = static_cast<float>(xs - flx);
        fy = static_cast<float>(ys - fly);
        auto fetch = [&](int x, int y, float& r, float& g, float& b) {
          if (x < 0 || x >= src.width || y < 0 || y >= src.height) {
            r = g = b = bv;
            return;
          }
          const uint8_t* row = src.data + y * src.stride;
          const uint8_t* uvr = is_biplanar(F) ? src.uv + (y >> 1) * src.uv_stride : nullptr;
          P::rgb(row, uvr, x, r, g, b);
        };
        fetch(x0, y0, r00, g00, b00);
        fetch(x0 + 1, y0, r10, g10, b10);
        fetch(x0, y0 + 1, r01, g01, b01);
        fetch(x0 + 1, y0 + 1, r11, g11, b11);
      }
      const float rt = r00 + fx * (r10 - r00), rb = r01 + fx * (r11 - r01);
      const float r = rt + fy * (rb - rt);
      float g = r, b = r;
      if (!kGrayIn) {
        const float gt = g00 + fx * (g10 - g00), gb = g01 + fx * (g11 - g01);
        const float bt = b00 + fx * (b10 - b00), bb = b01 + fx * (b11 - b01);
        g = gt + fy * (gb - gt);
        b = bt + fy * (bb - bt);
      }
      store(row_out + u, r, g, b);
    }
  }
}

template <fk_pixel_format F>
void crop_dispatch_channels(const Source& src, const double A[6], const Normalise& nz, int S, int oc, float* out) {
  if (oc == 3) {
    crop_kernel<F, 3>(src, A, nz, S, out);
  } else {
    crop_kernel<F, 1>(src, A, nz, S, out);
  }
}

void require_affine(const float* a, const char* name) {
  require_not_null(a, name);
  require_finite(a, 6, name);
}

}  // namespace

void box_to_affine(const float box[4], float scale, float rotation_deg, bool flip, int out_size,
                   float crop_to_image[6]) {
  require_not_null(box, "box");
  require_not_null(crop_to_image, "crop_to_image");
  require_finite(box, 4, "box");
  require(box[2] > 0.0f && box[3] > 0.0f,
          format("box width and height must be > 0 (got w=%g, h=%g)", box[2], box[3]));
  require_finite(scale, "scale");
  require(scale > 0.0f, format("scale must be > 0 (got %g)", scale));
  require_finite(rotation_deg, "rotation_deg");
  require_positive(out_size, "out_size");
  const double cx = static_cast<double>(box[0]) + 0.5 * box[2];
  const double cy = static_cast<double>(box[1]) + 0.5 * box[3];
  const double side = std::max(static_cast<double>(box[2]), static_cast<double>(box[3])) * scale;
  const double step = side / out_size;  // image pixels per crop pixel
  const double t = static_cast<double>(rotation_deg) * kPi / 180.0;
  const double ct = std::cos(t), st = std::sin(t);
  const double sx = flip ? -step : step;
  const double m = 0.5 * (out_size - 1);
  // x_img = cx + sx (u - m) cos t - step (v - m) sin t;  y_img = cy + sx (u - m) sin t + step (v - m) cos t
  const double a = sx * ct, b = -step * st, d = sx * st, e = step * ct;
  crop_to_image[0] = static_cast<float>(a);
  crop_to_image[1] = static_cast<float>(b);
  crop_to_image[2] = static_cast<float>(cx - (a + b) * m);
  crop_to_image[3] = static_cast<float>(d);
  crop_to_image[4] = static_cast<float>(e);
  crop_to_image[5] = static_cast<float>(cy - (d + e) * m);
}

void crop_affine(const fk_image& image, const float crop_to_image[6], const fk_crop_params& params, float* out) {
  const Source src = validate_image(image);
  require_affine(crop_to_image, "crop_to_image");
  const Normalise nz = validate_params(params);
  require_not_null(out, "out");
  double A[6];
  for (int i = 0; i < 6; ++i) A[i] = crop_to_image[i];
  const int S = params.out_size, oc = params.out_channels;
  switch (enum_value(image.format)) {
    case FK_PIXEL_RGB8: crop_dispatch_channels<FK_PIXEL_RGB8>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_BGR8: crop_dispatch_channels<FK_PIXEL_BGR8>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_RGBA8: crop_dispatch_channels<FK_PIXEL_RGBA8>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_BGRA8: crop_dispatch_channels<FK_PIXEL_BGRA8>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_GRAY8: crop_dispatch_channels<FK_PIXEL_GRAY8>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_NV12: crop_dispatch_channels<FK_PIXEL_NV12>(src, A, nz, S, oc, out); break;
    case FK_PIXEL_NV21: crop_dispatch_channels<FK_PIXEL_NV21>(src, A, nz, S, oc, out); break;
  }
}

void crop_box(const fk_image& image, const float box[4], float scale, float rotation_deg, bool flip,
              const fk_crop_params& params, float* out, float crop_to_image[6]) {
  validate_image(image);
  validate_params(params);
  require_not_null(out, "out");
  require_not_null(box, "box");
  require_finite(box, 4, "box");
  require(box[2] > 0.0f && box[3] > 0.0f,
          format("box width and height must be > 0 (got w=%g, h=%g)", box[2], box[3]));
  // The image covers [-0.5, W-0.5] x [-0.5, H-0.5] in the pixel-centre convention.
  const double x0 = box[0], y0 = box[1], x1 = x0 + box[2], y1 = y0 + box[3];
  const bool overlaps = x0 < image.width - 0.5 && x1 > -0.5 && y0 < image.height - 0.5 && y1 > -0.5;
  require(overlaps, format("box (x=%g, y=%g, w=%g, h=%g) does not overlap the %dx%d image", box[0], box[1],
                           box[2], box[3], image.width, image.height));
  float A[6];
  box_to_affine(box, scale, rotation_deg, flip, params.out_size, A);
  crop_affine(image, A, params, out);
  if (crop_to_image != nullptr) {
    for (int i = 0; i < 6; ++i) crop_to_image[i] = A[i];
  }
}

}  // namespace facekd
