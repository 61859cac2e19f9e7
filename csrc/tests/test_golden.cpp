// Checks the C API against the golden vectors of tests/golden/ (written by tests/golden/generate.py
// from the numpy reference). Tolerances: tests/golden/README.md.
#include <cmath>
#include <string>
#include <vector>

#include "golden.hpp"
#include "test_util.hpp"

#ifndef FACEKD_GOLDEN_DIR
#error "FACEKD_GOLDEN_DIR must point to tests/golden"
#endif

namespace {

std::vector<golden::Case> load(const char* file) {
  return golden::read_file(std::string(FACEKD_GOLDEN_DIR) + "/" + file);
}

// |got - want| <= atol + rtol * |want| elementwise.
void check_close(const std::vector<float>& got, const golden::Case& c, const std::string& key, double atol,
                 double rtol = 0.0) {
  const std::vector<float> want = c.f32(key);
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = atol + rtol * std::fabs(want[i]);
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= tol)) {
      if (++bad <= 3) {
        FAIL_CHECK(c.kernel << " " << c.name << ": " << key << "[" << i << "] = " << got[i] << ", expected "
                            << want[i] << " (tol " << tol << ")");
      }
    }
  }
  CHECK_MESSAGE(bad == 0, c.kernel << " " << c.name << ": " << bad << " values of " << key << " off");
}

fk_status expected_status(const golden::Case& c) {
  return c.has("status") ? static_cast<fk_status>(static_cast<int>(c.scalar("status"))) : FK_OK;
}

int as_int(const golden::Case& c, const char* key) { return static_cast<int>(c.scalar(key)); }

struct GoldenImage {
  std::vector<unsigned char> data, uv;
  fk_image image{};
};

GoldenImage image_of(const golden::Case& c) {
  GoldenImage g;
  g.data = c.u8("data");
  g.image.data = g.data.data();
  g.image.width = as_int(c, "width");
  g.image.height = as_int(c, "height");
  g.image.stride = as_int(c, "stride");
  g.image.format = static_cast<fk_pixel_format>(as_int(c, "format"));
  if (c.has("uv_data")) {
    g.uv = c.u8("uv_data");
    g.image.uv_data = g.uv.data();
  }
  g.image.uv_stride = c.has("uv_stride") ? as_int(c, "uv_stride") : 0;
  return g;
}

fk_crop_params crop_params_of(const golden::Case& c) {
  fk_crop_params p;
  REQUIRE(fk_crop_params_default(&p) == FK_OK);
  p.out_size = as_int(c, "out_size");
  p.out_channels = as_int(c, "out_channels");
  const std::vector<float> mean = c.f32("mean"), std_ = c.f32("std");
  for (int i = 0; i < 3; ++i) {
    p.mean[i] = mean[static_cast<size_t>(i)];
    p.std[i] = std_[static_cast<size_t>(i)];
  }
  p.border_value = static_cast<float>(c.scalar("border_value"));
  return p;
}

}  // namespace

TEST_CASE("golden: decode") {
  const auto cases = load("decode.txt");
  REQUIRE(cases.size() >= 6);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto& hm = c.at("heatmaps");
    REQUIRE(hm.shape.size() == 4);
    const int n = static_cast<int>(hm.shape[0]), k = static_cast<int>(hm.shape[1]);
    const std::vector<float> maps = c.f32("heatmaps");
    fk_decode_params p;
    REQUIRE(fk_decode_params_default(&p) == FK_OK);
    p.mode = static_cast<fk_decode_mode>(as_int(c, "mode"));
    p.blur_sigma = static_cast<float>(c.scalar("blur_sigma"));
    p.beta = static_cast<float>(c.scalar("beta"));
    std::vector<float> coords(static_cast<size_t>(n) * k * 2), scores(static_cast<size_t>(n) * k);
    const fk_status st = fk_decode_heatmaps(maps.data(), n, k, static_cast<int>(hm.shape[2]),
                                            static_cast<int>(hm.shape[3]), &p, coords.data(), scores.data());
    REQUIRE(st == expected_status(c));
    if (st != FK_OK) continue;
    check_close(coords, c, "coords", p.mode == FK_DECODE_ARGMAX ? 0.0 : 1e-4);
    check_close(scores, c, "scores", 0.0);
  }
}

TEST_CASE("golden: crop") {
  const auto cases = load("crop.txt");
  REQUIRE(cases.size() >= 14);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    GoldenImage g = image_of(c);
    const fk_crop_params p = crop_params_of(c);
    std::vector<float> out(static_cast<size_t>(p.out_channels) * p.out_size * p.out_size);
    fk_status st;
    if (c.kernel == "crop_affine") {
      const std::vector<float> A = c.f32("crop_to_image");
      st = fk_crop_affine(&g.image, A.data(), &p, out.data());
    } else {
      REQUIRE(c.kernel == "crop_box");
      const std::vector<float> box = c.f32("box");
      std::vector<float> A(6);
      st = fk_crop_box(&g.image, box.data(), static_cast<float>(c.scalar("scale")),
                       static_cast<float>(c.scalar("rotation_deg")), as_int(c, "flip"), &p, out.data(), A.data());
      if (st == FK_OK) check_close(A, c, "crop_to_image", 1e-4, 1e-5);
    }
    REQUIRE(st == expected_status(c));
    if (st == FK_OK) check_close(out, c, "out", 1e-4);
  }
}

TEST_CASE("golden: geometry") {
  const auto cases = load("geometry.txt");
  REQUIRE(cases.size() >= 8);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    fk_status st = FK_OK;
    if (c.kernel == "box_to_affine") {
      std::vector<float> A(6);
      const std::vector<float> box = c.f32("box");
      st = fk_box_to_affine(box.data(), static_cast<float>(c.scalar("scale")),
                            static_cast<float>(c.scalar("rotation_deg")), as_int(c, "flip"), as_int(c, "out_size"),
                            A.data());
      if (st == FK_OK) check_close(A, c, "crop_to_image", 1e-4, 1e-5);
    } else if (c.kernel == "affine_invert") {
      std::vector<float> inv(6);
      st = fk_affine_invert(c.f32("affine").data(), inv.data());
      if (st == FK_OK) check_close(inv, c, "inverse", 1e-5, 1e-5);
    } else if (c.kernel == "points_transform") {
      const std::vector<float> pts = c.f32("pts");
      std::vector<float> out(pts.size());
      st = fk_points_transform(pts.data(), static_cast<int>(pts.size() / 2), c.f32("affine").data(), out.data());
      if (st == FK_OK) check_close(out, c, "out", 1e-4, 1e-5);
    } else if (c.kernel == "heatmap_to_image") {
      const std::vector<float> pts = c.f32("pts");
      std::vector<float> out(pts.size());
      st = fk_heatmap_to_image(pts.data(), static_cast<int>(pts.size() / 2), as_int(c, "heatmap_w"),
                               as_int(c, "heatmap_h"), as_int(c, "input_w"), as_int(c, "input_h"),
                               c.f32("crop_to_image").data(), out.data());
      if (st == FK_OK) check_close(out, c, "out", 1e-4, 1e-5);
    } else if (c.kernel == "box_from_landmarks") {
      const std::vector<float> pts = c.f32("pts");
      std::vector<float> box(4), roll(1);
      st = fk_box_from_landmarks(pts.data(), static_cast<int>(pts.size() / 2), as_int(c, "left_idx"),
                                 as_int(c, "right_idx"), box.data(), roll.data());
      if (st == FK_OK) {
        check_close(box, c, "box", 1e-4, 1e-5);
        check_close(roll, c, "roll_deg", 1e-4);
      }
    } else {
      FAIL("unknown geometry kernel " << c.kernel);
    }
    CHECK(st == expected_status(c));
  }
}

TEST_CASE("golden: smoother") {
  const auto cases = load("smoother.txt");
  REQUIRE(cases.size() >= 3);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const int n = as_int(c, "n_values");
    fk_smoother_params p{static_cast<float>(c.scalar("min_cutoff")), static_cast<float>(c.scalar("beta")),
                         static_cast<float>(c.scalar("d_cutoff"))};
    fk_smoother* s = nullptr;
    REQUIRE(fk_smoother_create(n, &p, &s) == FK_OK);
    const auto& ts = c.at("timestamps").values;
    const std::vector<float> values = c.f32("values");
    const std::vector<double> reset = c.at("reset").values;
    std::vector<float> out(values.size());
    for (size_t t = 0; t < ts.size(); ++t) {
      if (reset[t] != 0.0) REQUIRE(fk_smoother_reset(s) == FK_OK);
      REQUIRE(fk_smoother_apply(s, values.data() + t * n, ts[t], out.data() + t * n) == FK_OK);
    }
    check_close(out, c, "out", 1e-5, 1e-5);
    fk_smoother_destroy(s);
  }
}
