// libFuzzer harness for the facekd C API (csrc/include/facekd/c_api.h), built with
// -fsanitize=fuzzer,address,undefined (see fuzz/CMakeLists.txt).
//
// The fuzz input is read as a sequence of operations. Each builds its arguments from the bytes --
// shapes, strides, formats, boxes, affines, parameters, NaN/Inf values -- valid or not, but every
// buffer is at least as large as the sizes passed along with it say (the harness exercises the
// library's validation; it never lies to it about memory). Beyond "no crash, no sanitizer report",
// results are checked against properties of the spec; a violation aborts with a message.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "facekd/c_api.h"

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
    return v;
  }
  // Integer in [lo, hi].
  int range(int lo, int hi) { return lo + static_cast<int>(u32() % static_cast<uint32_t>(hi - lo + 1)); }
  bool flag() { return u8() & 1; }
  float raw() {
    const uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  // Mostly "reasonable" values, sometimes special ones, sometimes arbitrary bit patterns.
  float value(float lo, float hi) {
    static const float kSpecial[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1e-30f, -1e-30f, 1e30f, -1e30f,
                                     std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::denorm_min(),
                                     std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::quiet_NaN()};
    const uint8_t k = u8();
    if (k < 160) return lo + (hi - lo) * static_cast<float>(u32() % 100001u) / 100000.0f;
    if (k < 220) return kSpecial[u8() % (sizeof kSpecial / sizeof kSpecial[0])];
    return raw();
  }
};

char g_context[512] = "";  // what the current check is about, printed with a violation

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "facekd fuzz: property violated: %s (last error: %s)\n  %s\n", what, fk_last_error(),
               g_context);
  std::abort();
}

int enum_int(fk_pixel_format f) {
  int v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}
void expect(bool ok, const char* what) {
  if (!ok) violated(what);
}
// Every failure is a documented status with a message; FK_ERR_INTERNAL would be a bug.
void expect_status(fk_status s) {
  expect(s == FK_OK || s == FK_ERR_INVALID_ARGUMENT || s == FK_ERR_NON_FINITE, "unexpected status");
  if (s != FK_OK) expect(fk_last_error()[0] != '\0', "failure without a message");
}
bool finite(const float* v, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

void fuzz_decode(Reader& r) {
  const int n = r.range(-1, 3), k = r.range(-1, 4), h = r.range(-1, 40), w = r.range(-1, 40);
  const size_t count = (n > 0 && k > 0 && h > 0 && w > 0) ? size_t(n) * k * h * w : 0;
  std::vector<float> maps(count ? count : 1);
  const int fill = r.range(0, 2);
  for (size_t i = 0; i < count; ++i) {
    if (fill == 0) {
      maps[i] = r.value(-1.0f, 1.0f);
    } else {  // a Gaussian-like blob per map, with the odd special value
      const size_t plane = size_t(h) * w, j = i % plane;
      const float dx = float(int(j % w) - w / 2), dy = float(int(j / w) - h / 2);
      maps[i] = std::exp(-(dx * dx + dy * dy) / 4.0f);
      if (fill == 2 && r.u8() < 3) maps[i] = r.value(-2.0f, 2.0f);
    }
  }
  fk_decode_params p;
  expect(fk_decode_params_default(&p) == FK_OK, "decode defaults");
  const int mode = r.u8() < 240 ? r.range(0, 2) : int(r.u32());
  std::memcpy(&p.mode, &mode, sizeof mode);
  if (r.flag()) p.blur_sigma = r.value(0.0f, 5.0f);
  if (r.flag()) p.beta = r.value(0.0f, 50.0f);
  const size_t nk = (n > 0 && k > 0) ? size_t(n) * k : 1;
  std::vector<float> coords(2 * nk), scores(nk);
  const fk_status s = fk_decode_heatmaps(r.flag() || count ? maps.data() : nullptr, n, k, h, w, &p,
                                         coords.data(), scores.data());
  expect_status(s);
  const bool shapes_ok = count > 0;
  const bool params_ok = (mode == 0 || mode == 1 || mode == 2) && p.blur_sigma > 0 && p.blur_sigma <= 1000 &&
                         std::isfinite(p.beta) && p.beta > 0;
  const bool values_ok = finite(maps.data(), count);
  if (shapes_ok && params_ok && values_ok) expect(s == FK_OK, "valid decode refused");
  if (shapes_ok && params_ok && !values_ok) expect(s == FK_ERR_NON_FINITE, "non-finite map accepted");
  if (s != FK_OK) return;
  expect(shapes_ok && values_ok, "decode accepted an invalid input");
  for (size_t m = 0; m < nk; ++m) {
    const float* map = maps.data() + m * size_t(h) * w;
    float mx = map[0];
    for (size_t i = 1; i < size_t(h) * w; ++i) mx = map[i] > mx ? map[i] : mx;
    expect(scores[m] == mx, "score is not the map maximum");
    const float x = coords[2 * m], y = coords[2 * m + 1];
    expect(std::isfinite(x) && std::isfinite(y), "non-finite coordinate");
    expect(x >= -0.5f && x <= w - 0.5f && y >= -0.5f && y <= h - 0.5f, "coordinate outside the map");
  }
}

struct Image {
  std::vector<uint8_t> y, uv;
  fk_image im{};
};

int bytes_per_pixel(int format) {
  switch (format) {
    case FK_PIXEL_RGB8: case FK_PIXEL_BGR8: return 3;
    case FK_PIXEL_RGBA8: case FK_PIXEL_BGRA8: return 4;
    default: return 1;
  }
}

// An image description with buffers at least as large as it says (valid or not).
Image make_image(Reader& r) {
  Image img;
  const int format = r.u8() < 245 ? r.range(0, 6) : r.range(-2, 9);
  const int w = r.range(-1, 24), h = r.range(-1, 24);
  const int bpp = bytes_per_pixel(format);
  const bool nv = format == FK_PIXEL_NV12 || format == FK_PIXEL_NV21;
  const int min_stride = w > 0 ? w * bpp : 0;
  const int stride = r.u8() < 230 ? min_stride + r.range(0, 8) : r.range(-4, min_stride + 8);
  const size_t rows = h > 0 ? size_t(h) : 0;
  const size_t row_bytes = size_t(stride > min_stride ? stride : min_stride);
  const int uv_w = w > 0 ? 2 * ((w + 1) / 2) : 0;
  const size_t uv_rows = h > 0 ? size_t((h + 1) / 2) : 0;
  int uv_stride = 0;
  bool separate_uv = false;
  if (nv) {
    separate_uv = r.flag();
    uv_stride = r.u8() < 200 ? (r.flag() ? 0 : uv_w + r.range(0, 6)) : r.range(-4, uv_w + 6);
  }
  const size_t uv_row_bytes = size_t(std::max(std::max(uv_stride, stride), uv_w));
  // Stacked NV12/NV21 (uv_data NULL) reads the chroma rows right after the Y plane.
  const size_t y_bytes = rows * row_bytes + (nv && !separate_uv ? uv_rows * uv_row_bytes : 0);
  img.y.resize(y_bytes ? y_bytes : 1);
  for (auto& b : img.y) b = r.u8();
  if (separate_uv) {
    img.uv.resize(uv_rows * uv_row_bytes ? uv_rows * uv_row_bytes : 1);
    for (auto& b : img.uv) b = r.u8();
  }
  img.im.data = img.y.data();
  img.im.width = w;
  img.im.height = h;
  img.im.stride = stride;
  std::memcpy(&img.im.format, &format, sizeof format);
  img.im.uv_data = separate_uv ? img.uv.data() : nullptr;
  img.im.uv_stride = uv_stride;
  return img;
}

void fuzz_crop(Reader& r) {
  Image img = make_image(r);
  fk_crop_params p;
  expect(fk_crop_params_default(&p) == FK_OK, "crop defaults");
  p.out_size = r.u8() < 240 ? r.range(1, 40) : r.range(-3, 48);
  p.out_channels = r.u8() < 240 ? (r.flag() ? 3 : 1) : r.range(-1, 5);
  if (r.u8() < 40)
    for (int c = 0; c < 3; ++c) p.mean[c] = r.value(-1.0f, 1.0f);
  if (r.u8() < 40)
    for (int c = 0; c < 3; ++c) p.std[c] = r.value(0.01f, 2.0f);
  if (r.u8() < 60) p.border_value = r.value(0.0f, 255.0f);
  const size_t out_n =
      (p.out_size > 0 && (p.out_channels == 1 || p.out_channels == 3)) ? size_t(p.out_channels) * p.out_size * p.out_size : 1;
  std::vector<float> out(out_n);
  float affine[6];
  const bool use_box = r.flag();
  fk_status s;
  float box[4];
  for (float& b : box) b = r.value(-10.0f, 40.0f);
  const float scale = r.u8() < 230 ? r.value(0.5f, 2.0f) : r.raw();
  const float rot = r.value(-180.0f, 180.0f);
  const int flip = r.range(0, 2);
  if (use_box) {
    s = fk_crop_box(&img.im, box, scale, rot, flip, &p, out.data(), r.flag() ? affine : nullptr);
  } else {
    if (r.flag()) {
      fk_box_to_affine(box, scale, rot, flip, p.out_size, affine);
      if (r.u8() < 30) affine[r.range(0, 5)] = r.value(-1e6f, 1e6f);
    } else {
      for (float& a : affine) a = r.value(-50.0f, 50.0f);
    }
    s = fk_crop_affine(&img.im, affine, &p, out.data());
  }
  expect_status(s);
  if (s != FK_OK) return;
  const float* A = affine;
  float used[6];
  if (use_box) {  // the affine fk_crop_box used
    fk_box_to_affine(box, scale, rot, flip, p.out_size, used);
    A = used;
  }
  std::snprintf(g_context, sizeof g_context,
                "crop: format %d, %dx%d, stride %d, uv_stride %d, S %d, C %d, mean %g %g %g, std %g %g %g, "
                "border %g, affine %g %g %g %g %g %g", enum_int(img.im.format), img.im.width, img.im.height,
                img.im.stride, img.im.uv_stride, p.out_size, p.out_channels, p.mean[0], p.mean[1], p.mean[2],
                p.std[0], p.std[1], p.std[2], p.border_value, A[0], A[1], A[2], A[3], A[4], A[5]);
  expect(img.im.width > 0 && img.im.height > 0, "crop accepted an empty image");
  expect(out_n > 1 || p.out_size == 1, "crop accepted an invalid output size");
  bool std_ok = true;
  for (int c = 0; c < p.out_channels; ++c) std_ok = std_ok && p.std[c] > 0 && std::isfinite(p.std[c]);
  expect(std_ok, "crop accepted a non-positive std");
  for (int c = 0; c < p.out_channels; ++c) {
    expect(std::isfinite(p.mean[c]), "crop accepted a non-finite mean");
    const float lo = (0.0f - p.mean[c]) / p.std[c], hi = (1.0f - p.mean[c]) / p.std[c];
    if (!std::isfinite(lo) || !std::isfinite(hi)) continue;  // extreme (valid) parameters overflow float32
    // Known limitation (reported): with a subnormal std (< FLT_MIN) the kernel's v * 1/(255 std) term
    // overflows to +-inf even where the exact result is finite.
    if (p.std[c] < std::numeric_limits<float>::min()) continue;
    const float tol = 1e-4f * (1.0f + std::fabs(lo) + std::fabs(hi));
    for (int i = 0; i < p.out_size * p.out_size; ++i) {
      const float v = out[size_t(c) * p.out_size * p.out_size + i];
      expect(std::isfinite(v), "crop produced a non-finite value");
      expect(v >= lo - tol && v <= hi + tol, "crop value outside the normalised pixel range");
    }
  }
}

void fuzz_geometry(Reader& r) {
  const int n = r.range(-1, 20);
  std::vector<float> pts(n > 0 ? 2 * size_t(n) : 2), out(pts.size());
  for (auto& v : pts) v = r.value(-100.0f, 100.0f);
  float a[6], inv[6];
  for (float& v : a) v = r.value(-5.0f, 5.0f);
  switch (r.range(0, 3)) {
    case 0: {
      const fk_status s = fk_affine_invert(a, inv);
      expect_status(s);
      const double det = double(a[0]) * a[4] - double(a[1]) * a[3];
      if (std::isfinite(det) && std::fabs(det) >= 1e-6 && finite(a, 6)) expect(s == FK_OK, "invertible affine refused");
      if (s != FK_OK) break;
      expect(!(std::fabs(det) < 1e-13), "singular affine inverted");
      bool small = std::fabs(det) >= 0.1;
      for (float v : a) small = small && std::fabs(v) <= 10.0f;
      if (small) {  // A * inv(A) = I on the linear part, A(inv(A)(p)) = p on the translation
        const double e[4] = {a[0] * inv[0] + a[1] * inv[3] - 1.0, a[0] * inv[1] + a[1] * inv[4],
                             a[3] * inv[0] + a[4] * inv[3], a[3] * inv[1] + a[4] * inv[4] - 1.0};
        const double tx = a[0] * inv[2] + a[1] * inv[5] + a[2], ty = a[3] * inv[2] + a[4] * inv[5] + a[5];
        for (double x : e) expect(std::fabs(x) < 1e-3, "affine inverse wrong (linear part)");
        expect(std::fabs(tx) < 1e-2 && std::fabs(ty) < 1e-2, "affine inverse wrong (translation)");
      }
      break;
    }
    case 1: {
      const bool alias = r.flag();
      const fk_status s = fk_points_transform(n > 0 || r.flag() ? pts.data() : nullptr, n, a,
                                              alias ? pts.data() : out.data());
      expect_status(s);
      if (s == FK_OK) expect(n >= 0 && finite(a, 6), "points_transform accepted a bad argument");
      break;
    }
    case 2: {
      const int hw = r.range(-1, 64), hh = r.range(-1, 64), iw = r.range(-1, 256), ih = r.range(-1, 256);
      const fk_status s = fk_heatmap_to_image(pts.data(), n, hw, hh, iw, ih, a, r.flag() ? pts.data() : out.data());
      expect_status(s);
      if (s == FK_OK) expect(n >= 0 && hw > 0 && hh > 0 && iw > 0 && ih > 0, "heatmap_to_image accepted bad sizes");
      break;
    }
    default: {
      const int li = r.range(-2, 22), ri = r.range(-2, 22);
      float box[4], roll = 0.0f;
      const fk_status s = fk_box_from_landmarks(pts.data(), n, li, ri, box, r.flag() ? &roll : nullptr);
      expect_status(s);
      if (s != FK_OK) break;
      expect(n >= 1 && li < n && ri < n, "box_from_landmarks accepted a bad index or count");
      expect(finite(pts.data(), 2 * size_t(n)), "box_from_landmarks accepted non-finite points");
      expect(box[2] >= 0 && box[3] >= 0 && std::isfinite(roll), "bad box or roll");
      for (int i = 0; i < n; ++i) {
        expect(pts[2 * i] >= box[0] && pts[2 * i] <= box[0] + box[2] * (1 + 1e-6f) + 1e-3f, "point outside box (x)");
        expect(pts[2 * i + 1] >= box[1] && pts[2 * i + 1] <= box[1] + box[3] * (1 + 1e-6f) + 1e-3f, "point outside box (y)");
      }
    }
  }
}

void fuzz_smoother(Reader& r) {
  const int n = r.u8() < 240 ? r.range(1, 12) : r.range(-2, 16);
  fk_smoother_params p;
  expect(fk_smoother_params_default(&p) == FK_OK, "smoother defaults");
  if (r.u8() < 50) p.min_cutoff = r.value(0.0f, 10.0f);
  if (r.u8() < 50) p.beta = r.value(0.0f, 1.0f);
  if (r.u8() < 50) p.d_cutoff = r.value(0.0f, 10.0f);
  fk_smoother *a = nullptr, *b = nullptr;
  fk_status s = fk_smoother_create(n, &p, &a);
  expect_status(s);
  if (s != FK_OK) {
    expect(a == nullptr, "failed create left a handle");
    return;
  }
  expect(n >= 1, "smoother accepted n_values < 1");
  // Twin `b` receives only the frames `a` accepted: a refused frame must leave the state unchanged.
  expect(fk_smoother_create(n, &p, &b) == FK_OK, "twin smoother");
  std::vector<float> v(static_cast<size_t>(n)), oa(static_cast<size_t>(n)), ob(static_cast<size_t>(n));
  double t = r.value(-1e3f, 1e3f);
  bool first = true;
  const int frames = r.range(1, 12);
  for (int f = 0; f < frames && !r.empty(); ++f) {
    if (r.u8() < 20) {
      expect(fk_smoother_reset(a) == FK_OK && fk_smoother_reset(b) == FK_OK, "reset");
      first = true;
    }
    for (auto& x : v) x = r.u8() < 250 ? r.value(-500.0f, 500.0f) : std::numeric_limits<float>::quiet_NaN();
    const uint8_t dt_kind = r.u8();
    double ts = t;
    if (dt_kind < 200) ts = t + 1e-3 + r.value(0.0f, 1.0f);
    else if (dt_kind < 215) ts = t;
    else if (dt_kind < 230) ts = t - 0.5;
    else ts = r.value(-1e6f, 1e6f);
    const bool in_place = r.flag();
    if (in_place) oa = v;
    s = fk_smoother_apply(a, in_place ? oa.data() : v.data(), ts, oa.data());
    expect_status(s);
    if (s != FK_OK) continue;
    expect(std::isfinite(ts) && (first || ts > t), "smoother accepted a bad timestamp");
    expect(finite(v.data(), v.size()), "smoother accepted a non-finite value");
    expect(fk_smoother_apply(b, v.data(), ts, ob.data()) == FK_OK, "twin refused an accepted frame");
    expect(std::memcmp(oa.data(), ob.data(), oa.size() * sizeof(float)) == 0,
           "a refused frame changed the smoother state");
    if (first) expect(std::memcmp(oa.data(), v.data(), v.size() * sizeof(float)) == 0, "first frame altered");
    for (float x : oa) expect(std::isfinite(x), "smoother produced a non-finite value");
    t = ts;
    first = false;
  }
  fk_smoother_destroy(a);
  fk_smoother_destroy(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  g_context[0] = '\0';
  expect(fk_version() != nullptr && fk_status_name(static_cast<fk_status>(r.u8() % 8)) != nullptr, "names");
  fk_smoother_destroy(nullptr);
  for (int op = 0; op < 4 && !r.empty(); ++op) {
    switch (r.u8() % 4) {
      case 0: fuzz_decode(r); break;
      case 1: fuzz_crop(r); break;
      case 2: fuzz_geometry(r); break;
      default: fuzz_smoother(r); break;
    }
  }
  return 0;
}
