// fk_box_to_affine / fk_crop_affine / fk_crop_box: formats, strides, borders, errors.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "test_util.hpp"

namespace {

fk_crop_params params(int size, int channels) {
  fk_crop_params p;
  REQUIRE(fk_crop_params_default(&p) == FK_OK);
  p.out_size = size;
  p.out_channels = channels;
  return p;
}

// Identity-like affine: crop pixel (u, v) -> image (u + dx, v + dy).
void shift_affine(float A[6], float dx, float dy) {
  const float a[6] = {1, 0, dx, 0, 1, dy};
  std::memcpy(A, a, sizeof a);
}

float norm(float v, const fk_crop_params& p, int c) { return (v / 255.0f - p.mean[c]) / p.std[c]; }

struct Rgb {
  int w, h;
  std::vector<uint8_t> px;  // packed RGB, no padding
  uint8_t at(int x, int y, int c) const { return px[(static_cast<size_t>(y) * w + x) * 3 + c]; }
};

Rgb random_rgb(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  Rgb im{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (auto& v : im.px) v = static_cast<uint8_t>(rng() & 0xff);
  return im;
}

// Repacks an RGB image into `format` (packed or gray) with `pad` bytes of padding per row.
std::vector<uint8_t> repack(const Rgb& im, fk_pixel_format f, int pad, int* stride) {
  const int bpp = (f == FK_PIXEL_RGBA8 || f == FK_PIXEL_BGRA8) ? 4 : (f == FK_PIXEL_GRAY8 ? 1 : 3);
  *stride = im.w * bpp + pad;
  std::vector<uint8_t> out(static_cast<size_t>(*stride) * im.h, 0xAB);
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < im.w; ++x) {
      uint8_t* p = &out[static_cast<size_t>(y) * *stride + static_cast<size_t>(x) * bpp];
      const uint8_t r = im.at(x, y, 0), g = im.at(x, y, 1), b = im.at(x, y, 2);
      switch (f) {
        case FK_PIXEL_RGB8: p[0] = r; p[1] = g; p[2] = b; break;
        case FK_PIXEL_BGR8: p[0] = b; p[1] = g; p[2] = r; break;
        case FK_PIXEL_RGBA8: p[0] = r; p[1] = g; p[2] = b; p[3] = 7; break;
        case FK_PIXEL_BGRA8: p[0] = b; p[1] = g; p[2] = r; p[3] = 7; break;
        case FK_PIXEL_GRAY8: p[0] = r; break;
        default: FAIL("not a packed format");
      }
    }
  return out;
}

}  // namespace

TEST_CASE("crop defaults") {
  fk_crop_params p;
  REQUIRE(fk_crop_params_default(&p) == FK_OK);
  CHECK(p.out_size == 256);
  CHECK(p.out_channels == 3);
  CHECK(p.mean[0] == 0.485f);
  CHECK(p.std[2] == 0.225f);
  CHECK(p.border_value == 0.0f);
}

TEST_CASE("integer shifts copy pixels exactly, for every packed format and with padded rows") {
  const Rgb im = random_rgb(9, 7, 1);
  const fk_crop_params p = params(5, 3);
  float A[6];
  shift_affine(A, 2, 1);
  for (fk_pixel_format f : {FK_PIXEL_RGB8, FK_PIXEL_BGR8, FK_PIXEL_RGBA8, FK_PIXEL_BGRA8}) {
    for (int pad : {0, 5}) {
      int stride = 0;
      const std::vector<uint8_t> buf = repack(im, f, pad, &stride);
      const fk_image img{buf.data(), im.w, im.h, stride, f, nullptr, 0};
      std::vector<float> out(3 * 25);
      REQUIRE(fk_crop_affine(&img, A, &p, out.data()) == FK_OK);
      for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 5; ++v)
          for (int u = 0; u < 5; ++u)
            CHECK(out[static_cast<size_t>(c) * 25 + v * 5 + u] ==
                  doctest::Approx(norm(im.at(u + 2, v + 1, c), p, c)).epsilon(1e-6));
    }
  }
}

TEST_CASE("bilinear weights, half-pixel border blend and fully outside samples") {
  const Rgb im = random_rgb(6, 5, 2);
  int stride = 0;
  const std::vector<uint8_t> buf = repack(im, FK_PIXEL_RGB8, 0, &stride);
  const fk_image img{buf.data(), im.w, im.h, stride, FK_PIXEL_RGB8, nullptr, 0};
  fk_crop_params p = params(2, 3);
  p.border_value = 100.0f;
  float A[6];
  shift_affine(A, 1.25f, 2.5f);  // (u, v) = (0, 0) -> (1.25, 2.5)
  float out[12];
  REQUIRE(fk_crop_affine(&img, A, &p, out) == FK_OK);
  for (int c = 0; c < 3; ++c) {
    const double top = 0.75 * im.at(1, 2, c) + 0.25 * im.at(2, 2, c);
    const double bot = 0.75 * im.at(1, 3, c) + 0.25 * im.at(2, 3, c);
    CHECK(out[c * 4] == doctest::Approx(norm(static_cast<float>(0.5 * top + 0.5 * bot), p, c)).epsilon(1e-5));
  }
  // x = -0.5: half border, half pixel column 0.
  shift_affine(A, -0.5f, 0.0f);
  REQUIRE(fk_crop_affine(&img, A, &p, out) == FK_OK);
  for (int c = 0; c < 3; ++c)
    CHECK(out[c * 4] == doctest::Approx(norm(0.5f * 100.0f + 0.5f * im.at(0, 0, c), p, c)).epsilon(1e-5));
  // Far outside (including coordinates beyond int range): the border value exactly.
  for (float off : {-3.0f, 6.5f, 1e12f, -1e30f}) {
    shift_affine(A, off, 0.0f);
    REQUIRE(fk_crop_affine(&img, A, &p, out) == FK_OK);
    for (int c = 0; c < 3; ++c) CHECK(out[c * 4] == doctest::Approx(norm(100.0f, p, c)).epsilon(1e-6));
  }
}

TEST_CASE("gray input: 3 channels replicate, 1 channel is the value; colour -> 1 channel is BT.601 luma") {
  const Rgb im = random_rgb(4, 3, 3);
  int stride = 0;
  const std::vector<uint8_t> gray = repack(im, FK_PIXEL_GRAY8, 3, &stride);
  const fk_image gimg{gray.data(), im.w, im.h, stride, FK_PIXEL_GRAY8, nullptr, 0};
  float A[6];
  shift_affine(A, 1, 1);
  fk_crop_params p3 = params(2, 3), p1 = params(2, 1);
  p1.mean[0] = 0.5f;
  p1.std[0] = 0.25f;
  float o3[12], o1[4];
  REQUIRE(fk_crop_affine(&gimg, A, &p3, o3) == FK_OK);
  REQUIRE(fk_crop_affine(&gimg, A, &p1, o1) == FK_OK);
  for (int c = 0; c < 3; ++c) CHECK(o3[c * 4 + 1] == doctest::Approx(norm(im.at(2, 1, 0), p3, c)));
  CHECK(o1[1] == doctest::Approx(norm(im.at(2, 1, 0), p1, 0)));

  const std::vector<uint8_t> rgb = repack(im, FK_PIXEL_RGB8, 0, &stride);
  const fk_image cimg{rgb.data(), im.w, im.h, stride, FK_PIXEL_RGB8, nullptr, 0};
  REQUIRE(fk_crop_affine(&cimg, A, &p1, o1) == FK_OK);
  const float luma = 0.299f * im.at(2, 2, 0) + 0.587f * im.at(2, 2, 1) + 0.114f * im.at(2, 2, 2);
  CHECK(o1[3] == doctest::Approx(norm(luma, p1, 0)).epsilon(1e-5));
}

TEST_CASE("NV12 / NV21: BT.601 full range, nearest chroma, odd sizes, stacked and separate planes") {
  const int w = 5, h = 3, cw = 3, ch = 2;  // chroma: ceil(h/2) rows of ceil(w/2) pairs
  std::mt19937 rng(4);
  const int stride = 8, uv_stride = 7;
  std::vector<uint8_t> y(static_cast<size_t>(stride) * h, 0xEE), uv(static_cast<size_t>(uv_stride) * ch, 0xEE);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) y[static_cast<size_t>(r) * stride + c] = static_cast<uint8_t>(rng() & 0xff);
  for (int r = 0; r < ch; ++r)
    for (int c = 0; c < 2 * cw; ++c) uv[static_cast<size_t>(r) * uv_stride + c] = static_cast<uint8_t>(rng() & 0xff);
  const fk_crop_params p = params(w, 3);
  float A[6];
  shift_affine(A, 0, 0);
  std::vector<float> o12(3 * w * w), o21(3 * w * w);
  const fk_image nv12{y.data(), w, h, stride, FK_PIXEL_NV12, uv.data(), uv_stride};
  REQUIRE(fk_crop_affine(&nv12, A, &p, o12.data()) == FK_OK);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const float Y = y[static_cast<size_t>(r) * stride + c];
      const float U = uv[static_cast<size_t>(r / 2) * uv_stride + 2 * (c / 2)] - 128.0f;
      const float V = uv[static_cast<size_t>(r / 2) * uv_stride + 2 * (c / 2) + 1] - 128.0f;
      const float rgb[3] = {Y + 1.402f * V, Y - 0.344136f * U - 0.714136f * V, Y + 1.772f * U};
      for (int k = 0; k < 3; ++k) {
        const float clamped = std::fmin(255.0f, std::fmax(0.0f, rgb[k]));
        CHECK(o12[static_cast<size_t>(k) * w * w + r * w + c] == doctest::Approx(norm(clamped, p, k)).epsilon(1e-5));
      }
    }
  // NV21 with swapped chroma bytes is the same image.
  std::vector<uint8_t> vu = uv;
  for (int r = 0; r < ch; ++r)
    for (int c = 0; c < cw; ++c)
      std::swap(vu[static_cast<size_t>(r) * uv_stride + 2 * c], vu[static_cast<size_t>(r) * uv_stride + 2 * c + 1]);
  const fk_image nv21{y.data(), w, h, stride, FK_PIXEL_NV21, vu.data(), uv_stride};
  REQUIRE(fk_crop_affine(&nv21, A, &p, o21.data()) == FK_OK);
  CHECK(o12 == o21);
  // Odd width: the default chroma stride (= stride) must hold 2*ceil(w/2) = 6 bytes.
  const fk_image narrow{y.data(), w, h, 5, FK_PIXEL_NV12, uv.data(), 0};
  CHECK_FAILS_WITH(fk_crop_affine(&narrow, A, &p, o12.data()), FK_ERR_INVALID_ARGUMENT, "image.uv_stride");
  // Stacked buffer (uv_data NULL): chroma rows follow the luma rows.
  const int sw = 4, sh = 4, sstride = 6;
  std::vector<uint8_t> stacked(static_cast<size_t>(sstride) * (sh + sh / 2));
  for (auto& v : stacked) v = static_cast<uint8_t>(rng() & 0xff);
  const fk_crop_params ps = params(sw, 3);
  std::vector<float> a(3 * sw * sw), b(3 * sw * sw);
  const fk_image st{stacked.data(), sw, sh, sstride, FK_PIXEL_NV12, nullptr, 0};
  const fk_image sep{stacked.data(), sw, sh, sstride, FK_PIXEL_NV12, stacked.data() + sstride * sh, sstride};
  REQUIRE(fk_crop_affine(&st, A, &ps, a.data()) == FK_OK);
  REQUIRE(fk_crop_affine(&sep, A, &ps, b.data()) == FK_OK);
  CHECK(a == b);
}

TEST_CASE("box_to_affine: centre, scale, flip and rotation") {
  const float box[4] = {10, 20, 40, 20};  // centre (30, 30), side max(40, 20) * 1.5 = 60
  float A[6];
  REQUIRE(fk_box_to_affine(box, 1.5f, 0.0f, 0, 3, A) == FK_OK);
  // S = 3: crop pixel 1 is the centre, each crop pixel spans 20 image pixels.
  CHECK(A[0] == doctest::Approx(20));
  CHECK(A[1] == doctest::Approx(0));
  CHECK(A[0] * 1 + A[1] * 1 + A[2] == doctest::Approx(30));
  CHECK(A[3] * 1 + A[4] * 1 + A[5] == doctest::Approx(30));
  CHECK(A[2] == doctest::Approx(10));  // u = 0 -> 30 - 20
  REQUIRE(fk_box_to_affine(box, 1.5f, 0.0f, 1, 3, A) == FK_OK);
  CHECK(A[0] == doctest::Approx(-20));
  CHECK(A[2] == doctest::Approx(50));  // u = 0 -> right edge after the flip
  REQUIRE(fk_box_to_affine(box, 1.5f, 90.0f, 0, 3, A) == FK_OK);
  // +90 deg: the crop's x axis points along +y of the image, its y axis along -x.
  CHECK(A[0] == doctest::Approx(0).epsilon(1e-5));
  CHECK(A[3] == doctest::Approx(20));
  CHECK(A[1] == doctest::Approx(-20));
  CHECK(A[4] == doctest::Approx(0).epsilon(1e-5));
  CHECK(A[0] + A[1] + A[2] == doctest::Approx(30));

  CHECK_FAILS_WITH(fk_box_to_affine(nullptr, 1, 0, 0, 3, A), FK_ERR_INVALID_ARGUMENT, "box");
  const float flat[4] = {0, 0, 0, 5};
  CHECK_FAILS_WITH(fk_box_to_affine(flat, 1, 0, 0, 3, A), FK_ERR_INVALID_ARGUMENT, "box width and height");
  const float nan_box[4] = {std::numeric_limits<float>::quiet_NaN(), 0, 1, 1};
  CHECK_FAILS_WITH(fk_box_to_affine(nan_box, 1, 0, 0, 3, A), FK_ERR_NON_FINITE, "box[0]");
  CHECK_FAILS_WITH(fk_box_to_affine(box, 0, 0, 0, 3, A), FK_ERR_INVALID_ARGUMENT, "scale");
  CHECK_FAILS_WITH(fk_box_to_affine(box, 1, INFINITY, 0, 3, A), FK_ERR_NON_FINITE, "rotation_deg");
  CHECK_FAILS_WITH(fk_box_to_affine(box, 1, 0, 0, 0, A), FK_ERR_INVALID_ARGUMENT, "out_size");
}

TEST_CASE("crop_box: returns the affine of box_to_affine, accepts partial overlap, rejects boxes outside") {
  const Rgb im = random_rgb(16, 12, 5);
  int stride = 0;
  const std::vector<uint8_t> buf = repack(im, FK_PIXEL_RGB8, 0, &stride);
  const fk_image img{buf.data(), im.w, im.h, stride, FK_PIXEL_RGB8, nullptr, 0};
  const fk_crop_params p = params(8, 3);
  std::vector<float> a(3 * 64), b(3 * 64);
  const float box[4] = {-4, 6, 10, 9};
  float A[6], B[6];
  REQUIRE(fk_crop_box(&img, box, 1.2f, 15.0f, 1, &p, a.data(), A) == FK_OK);
  REQUIRE(fk_box_to_affine(box, 1.2f, 15.0f, 1, 8, B) == FK_OK);
  for (int i = 0; i < 6; ++i) CHECK(A[i] == B[i]);
  REQUIRE(fk_crop_affine(&img, B, &p, b.data()) == FK_OK);
  CHECK(a == b);
  CHECK(fk_crop_box(&img, box, 1.2f, 15.0f, 1, &p, a.data(), nullptr) == FK_OK);
  const float outside[4] = {16.0f, 0, 5, 5};  // starts right of the last pixel's edge (15.5)
  CHECK_FAILS_WITH(fk_crop_box(&img, outside, 1, 0, 0, &p, a.data(), A), FK_ERR_INVALID_ARGUMENT, "does not overlap");
  const float above[4] = {0, -10, 5, 9.5f};  // ends at -0.5: touches, no overlap
  CHECK_FAILS_WITH(fk_crop_box(&img, above, 1, 0, 0, &p, a.data(), A), FK_ERR_INVALID_ARGUMENT, "does not overlap");
}

TEST_CASE("crop argument errors name the argument") {
  std::vector<uint8_t> buf(4 * 4 * 3, 0);
  fk_image img{buf.data(), 4, 4, 12, FK_PIXEL_RGB8, nullptr, 0};
  fk_crop_params p = params(4, 3);
  float A[6];
  shift_affine(A, 0, 0);
  std::vector<float> out(3 * 16);
  CHECK_FAILS_WITH(fk_crop_affine(nullptr, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image");
  CHECK_FAILS_WITH(fk_crop_affine(&img, nullptr, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "crop_to_image");
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, nullptr, out.data()), FK_ERR_INVALID_ARGUMENT, "params");
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &p, nullptr), FK_ERR_INVALID_ARGUMENT, "out");
  fk_image bad = img;
  bad.data = nullptr;
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.data");
  bad = img;
  bad.width = 0;
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.width");
  bad = img;
  bad.height = -2;
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.height");
  bad = img;
  bad.stride = 11;
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.stride");
  bad = img;
  int fmt = 42;
  std::memcpy(&bad.format, &fmt, sizeof fmt);
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.format");
  bad = img;
  bad.width = 1 << 30;  // width * 3 bytes > stride, without overflowing the check
  CHECK_FAILS_WITH(fk_crop_affine(&bad, A, &p, out.data()), FK_ERR_INVALID_ARGUMENT, "image.stride");
  fk_crop_params q = p;
  q.out_size = 0;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_INVALID_ARGUMENT, "params.out_size");
  q = p;
  q.out_size = 1 << 30;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_INVALID_ARGUMENT, "too large");
  q = p;
  q.out_channels = 2;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_INVALID_ARGUMENT, "params.out_channels");
  q = p;
  q.std[1] = 0.0f;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_INVALID_ARGUMENT, "params.std[1]");
  q = p;
  q.mean[2] = NAN;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_NON_FINITE, "params.mean[2]");
  q = p;
  q.border_value = 300.0f;
  CHECK_FAILS_WITH(fk_crop_affine(&img, A, &q, out.data()), FK_ERR_INVALID_ARGUMENT, "params.border_value");
  float nanA[6] = {1, 0, NAN, 0, 1, 0};
  CHECK_FAILS_WITH(fk_crop_affine(&img, nanA, &p, out.data()), FK_ERR_NON_FINITE, "crop_to_image[2]");
}

TEST_CASE("every sample stays inside exact-size buffers (run under ASan)") {
  std::mt19937 rng(9);
  for (fk_pixel_format f : {FK_PIXEL_RGB8, FK_PIXEL_BGR8, FK_PIXEL_RGBA8, FK_PIXEL_BGRA8, FK_PIXEL_GRAY8,
                            FK_PIXEL_NV12, FK_PIXEL_NV21}) {
    for (int w : {1, 2, 3, 7}) {
      for (int h : {1, 2, 5}) {
        const int bpp = (f == FK_PIXEL_RGBA8 || f == FK_PIXEL_BGRA8) ? 4 : (f <= FK_PIXEL_BGR8 ? 3 : 1);
        std::vector<uint8_t> data(static_cast<size_t>(w) * bpp * h), uv(static_cast<size_t>((h + 1) / 2) * 2 * ((w + 1) / 2));
        for (auto& v : data) v = static_cast<uint8_t>(rng() & 0xff);
        for (auto& v : uv) v = static_cast<uint8_t>(rng() & 0xff);
        const bool nv = f == FK_PIXEL_NV12 || f == FK_PIXEL_NV21;
        const fk_image img{data.data(), w, h, w * bpp, f, nv ? uv.data() : nullptr, nv ? 2 * ((w + 1) / 2) : 0};
        for (int channels : {1, 3}) {
          const fk_crop_params p = params(12, channels);
          std::vector<float> out(static_cast<size_t>(channels) * 144);
          for (float dx : {-2.0f, -0.63f, 0.0f, 0.37f}) {
            float A[6] = {0.75f, 0.0f, dx, 0.0f, 0.6f, dx};
            REQUIRE(fk_crop_affine(&img, A, &p, out.data()) == FK_OK);
            for (float v : out) CHECK(std::isfinite(v));
          }
        }
      }
    }
  }
}
