// Geometry kernels, the One-Euro smoother, and the error/version plumbing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

TEST_CASE("version, status names, last error") {
  const std::string v = fk_version();
  CHECK(std::count(v.begin(), v.end(), '.') == 2);
  CHECK(std::string(fk_status_name(FK_ERR_NON_FINITE)) == "FK_ERR_NON_FINITE");
  CHECK(std::string(fk_status_name(FK_OK)) == "FK_OK");
  float inv[6];
  REQUIRE(fk_affine_invert(nullptr, inv) == FK_ERR_INVALID_ARGUMENT);
  const std::string msg = fk_last_error();
  CHECK(msg.find("fk_affine_invert") != std::string::npos);
  CHECK(msg.find("affine") != std::string::npos);
  const float id[6] = {1, 0, 0, 0, 1, 0};
  REQUIRE(fk_affine_invert(id, inv) == FK_OK);
  CHECK(std::string(fk_last_error()) == msg);  // unchanged on success
}

TEST_CASE("affine_invert round trip and singular matrices") {
  const float A[6] = {2.0f, 0.5f, 10.0f, -0.25f, 1.5f, -3.0f};
  float inv[6];
  REQUIRE(fk_affine_invert(A, inv) == FK_OK);
  float pts[4] = {3.0f, 4.0f, -7.5f, 100.0f}, back[4];
  REQUIRE(fk_points_transform(pts, 2, A, back) == FK_OK);
  REQUIRE(fk_points_transform(back, 2, inv, back) == FK_OK);  // in place
  for (int i = 0; i < 4; ++i) CHECK(back[i] == doctest::Approx(pts[i]).epsilon(1e-5));
  const float singular[6] = {1, 2, 3, 2, 4, 5};
  CHECK_FAILS_WITH(fk_affine_invert(singular, inv), FK_ERR_INVALID_ARGUMENT, "singular");
  const float inf_a[6] = {1, 0, INFINITY, 0, 1, 0};
  CHECK_FAILS_WITH(fk_affine_invert(inf_a, inv), FK_ERR_NON_FINITE, "affine[2]");
}

TEST_CASE("points_transform and heatmap_to_image") {
  const float A[6] = {2, 0, 5, 0, 3, -1};
  float p[2] = {1, 1}, out[2];
  REQUIRE(fk_points_transform(p, 1, A, out) == FK_OK);
  CHECK(out[0] == 7.0f);
  CHECK(out[1] == 2.0f);
  CHECK(fk_points_transform(nullptr, 0, A, nullptr) == FK_OK);
  CHECK_FAILS_WITH(fk_points_transform(p, -1, A, out), FK_ERR_INVALID_ARGUMENT, "n must be");
  CHECK_FAILS_WITH(fk_points_transform(nullptr, 1, A, out), FK_ERR_INVALID_ARGUMENT, "pts");
  // 64 -> 256: heatmap pixel 0 covers crop pixels 0..3, centre 1.5.
  const float I[6] = {1, 0, 0, 0, 1, 0};
  float hm[4] = {0.0f, 63.0f, 31.5f, 0.0f}, img[4];
  REQUIRE(fk_heatmap_to_image(hm, 2, 64, 64, 256, 256, I, img) == FK_OK);
  CHECK(img[0] == 1.5f);
  CHECK(img[1] == 253.5f);
  CHECK(img[2] == 127.5f);
  REQUIRE(fk_heatmap_to_image(hm, 2, 64, 32, 256, 256, A, hm) == FK_OK);  // aliasing, anisotropic
  CHECK(hm[0] == 2 * 1.5f + 5);
  CHECK(hm[1] == 3 * (63.5f * 8 - 0.5f) - 1);
  CHECK_FAILS_WITH(fk_heatmap_to_image(hm, 2, 0, 64, 256, 256, I, img), FK_ERR_INVALID_ARGUMENT, "heatmap_w");
  CHECK_FAILS_WITH(fk_heatmap_to_image(hm, 2, 64, 64, 256, -1, I, img), FK_ERR_INVALID_ARGUMENT, "input_h");
}

TEST_CASE("box_from_landmarks: tight box and roll") {
  const float pts[8] = {10, 20, 30, 40, 20, 5, 15, 25};
  float box[4], roll = -1;
  REQUIRE(fk_box_from_landmarks(pts, 4, 0, 1, box, &roll) == FK_OK);
  CHECK(box[0] == 10.0f);
  CHECK(box[1] == 5.0f);
  CHECK(box[2] == 20.0f);
  CHECK(box[3] == 35.0f);
  CHECK(roll == doctest::Approx(45.0));
  REQUIRE(fk_box_from_landmarks(pts, 4, 1, 0, box, &roll) == FK_OK);
  CHECK(roll == doctest::Approx(-135.0));
  REQUIRE(fk_box_from_landmarks(pts, 4, -1, 1, box, &roll) == FK_OK);
  CHECK(roll == 0.0f);
  CHECK(fk_box_from_landmarks(pts, 4, 0, 1, box, nullptr) == FK_OK);
  CHECK_FAILS_WITH(fk_box_from_landmarks(pts, 4, 0, 4, box, &roll), FK_ERR_INVALID_ARGUMENT, "right_idx");
  CHECK_FAILS_WITH(fk_box_from_landmarks(pts, 0, 0, 1, box, &roll), FK_ERR_INVALID_ARGUMENT, "n must be");
  const float nan_pts[4] = {1, 2, NAN, 3};
  CHECK_FAILS_WITH(fk_box_from_landmarks(nan_pts, 2, -1, -1, box, &roll), FK_ERR_NON_FINITE, "pts[1]");
}

namespace {
fk_smoother* make_smoother(int n, float min_cutoff = 1.0f, float beta = 0.0f) {
  fk_smoother_params p;
  REQUIRE(fk_smoother_params_default(&p) == FK_OK);
  p.min_cutoff = min_cutoff;
  p.beta = beta;
  fk_smoother* s = nullptr;
  REQUIRE(fk_smoother_create(n, &p, &s) == FK_OK);
  REQUIRE(s != nullptr);
  return s;
}
}  // namespace

TEST_CASE("smoother: defaults, pass-through, low-pass step, reset") {
  fk_smoother_params p;
  REQUIRE(fk_smoother_params_default(&p) == FK_OK);
  CHECK(p.min_cutoff == 1.0f);
  CHECK(p.beta == 0.007f);
  CHECK(p.d_cutoff == 1.0f);
  fk_smoother* s = make_smoother(2, 1.0f, 0.0f);
  float v[2] = {1.0f, -2.0f}, out[2];
  REQUIRE(fk_smoother_apply(s, v, 10.0, out) == FK_OK);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -2.0f);
  // beta = 0: a plain exponential low-pass with alpha = 1 / (1 + 1 / (2 pi fc dt)).
  const double dt = 0.1, a = 1.0 / (1.0 + 1.0 / (2.0 * 3.14159265358979323846 * 1.0 * dt));
  v[0] = 2.0f;
  REQUIRE(fk_smoother_apply(s, v, 10.0 + dt, v) == FK_OK);  // in place
  CHECK(v[0] == doctest::Approx(1.0 + a * 1.0));
  CHECK(v[1] == doctest::Approx(-2.0));
  REQUIRE(fk_smoother_reset(s) == FK_OK);
  float w[2] = {5.0f, 6.0f};
  REQUIRE(fk_smoother_apply(s, w, 1.0, out) == FK_OK);  // earlier time is fine after reset
  CHECK(out[0] == 5.0f);
  CHECK(out[1] == 6.0f);
  fk_smoother_destroy(s);
  fk_smoother_destroy(nullptr);
}

TEST_CASE("smoother: higher beta follows fast motion more closely") {
  fk_smoother* slow = make_smoother(1, 1.0f, 0.0f);
  fk_smoother* fast = make_smoother(1, 1.0f, 1.0f);
  float out_slow = 0, out_fast = 0;
  for (int i = 0; i < 30; ++i) {
    const float x = 10.0f * i;
    REQUIRE(fk_smoother_apply(slow, &x, i / 30.0, &out_slow) == FK_OK);
    REQUIRE(fk_smoother_apply(fast, &x, i / 30.0, &out_fast) == FK_OK);
  }
  CHECK(std::fabs(290.0f - out_fast) < std::fabs(290.0f - out_slow));
  fk_smoother_destroy(slow);
  fk_smoother_destroy(fast);
}

TEST_CASE("smoother errors leave the state unchanged") {
  fk_smoother* s = make_smoother(2);
  float v[2] = {1, 1}, out[2];
  REQUIRE(fk_smoother_apply(s, v, 1.0, out) == FK_OK);
  CHECK_FAILS_WITH(fk_smoother_apply(s, v, 1.0, out), FK_ERR_INVALID_ARGUMENT, "strictly increasing");
  CHECK_FAILS_WITH(fk_smoother_apply(s, v, std::nan(""), out), FK_ERR_INVALID_ARGUMENT, "timestamp");
  float bad[2] = {1, INFINITY};
  CHECK_FAILS_WITH(fk_smoother_apply(s, bad, 2.0, out), FK_ERR_NON_FINITE, "values[1]");
  // Still initialised with x_hat = 1 at t = 1: a constant input stays constant.
  REQUIRE(fk_smoother_apply(s, v, 1.5, out) == FK_OK);
  CHECK(out[0] == 1.0f);
  CHECK_FAILS_WITH(fk_smoother_apply(nullptr, v, 3.0, out), FK_ERR_INVALID_ARGUMENT, "smoother");
  CHECK_FAILS_WITH(fk_smoother_apply(s, nullptr, 3.0, out), FK_ERR_INVALID_ARGUMENT, "values");
  CHECK(fk_smoother_reset(nullptr) == FK_ERR_INVALID_ARGUMENT);
  fk_smoother_destroy(s);

  fk_smoother_params p;
  REQUIRE(fk_smoother_params_default(&p) == FK_OK);
  fk_smoother* none = reinterpret_cast<fk_smoother*>(&p);
  CHECK_FAILS_WITH(fk_smoother_create(0, &p, &none), FK_ERR_INVALID_ARGUMENT, "n_values");
  CHECK(none == nullptr);
  p.min_cutoff = 0.0f;
  CHECK_FAILS_WITH(fk_smoother_create(2, &p, &none), FK_ERR_INVALID_ARGUMENT, "params.min_cutoff");
  REQUIRE(fk_smoother_params_default(&p) == FK_OK);
  p.beta = NAN;
  CHECK_FAILS_WITH(fk_smoother_create(2, &p, &none), FK_ERR_NON_FINITE, "params.beta");
  REQUIRE(fk_smoother_params_default(&p) == FK_OK);
  p.d_cutoff = -1.0f;
  CHECK_FAILS_WITH(fk_smoother_create(2, &p, &none), FK_ERR_INVALID_ARGUMENT, "params.d_cutoff");
  CHECK_FAILS_WITH(fk_smoother_create(2, &p, nullptr), FK_ERR_INVALID_ARGUMENT, "out");
}
