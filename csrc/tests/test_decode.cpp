// fk_decode_heatmaps: modes, ties, borders, degenerate sizes, non-finite input, argument errors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "test_util.hpp"

namespace {

fk_decode_params params_for(fk_decode_mode mode) {
  fk_decode_params p;
  REQUIRE(fk_decode_params_default(&p) == FK_OK);
  p.mode = mode;
  return p;
}

std::vector<float> gaussian(int h, int w, double cx, double cy, double sigma) {
  std::vector<float> m(static_cast<size_t>(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m[static_cast<size_t>(y) * w + x] =
          static_cast<float>(std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sigma * sigma)));
  return m;
}

}  // namespace

TEST_CASE("decode defaults") {
  fk_decode_params p;
  REQUIRE(fk_decode_params_default(&p) == FK_OK);
  CHECK(p.mode == FK_DECODE_ARGMAX);
  CHECK(p.blur_sigma == 1.5f);
  CHECK(p.beta == 1.0f);
  CHECK(fk_decode_params_default(nullptr) == FK_ERR_INVALID_ARGUMENT);
}

TEST_CASE("argmax: quarter-pixel shift toward the higher neighbour, none on borders or equal neighbours") {
  const fk_decode_params p = params_for(FK_DECODE_ARGMAX);
  std::vector<float> m(5 * 6, 0.0f);
  m[2 * 6 + 3] = 1.0f;  // peak (x=3, y=2)
  m[2 * 6 + 4] = 0.5f;  // right higher than left
  m[1 * 6 + 3] = 0.2f;  // up higher than down
  float xy[2], s;
  REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 5, 6, &p, xy, &s) == FK_OK);
  CHECK(xy[0] == 3.25f);
  CHECK(xy[1] == 1.75f);
  CHECK(s == 1.0f);

  m[2 * 6 + 2] = 0.5f;  // equal neighbours on x -> no x shift
  REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 5, 6, &p, xy, &s) == FK_OK);
  CHECK(xy[0] == 3.0f);

  std::vector<float> b(4 * 4, 0.0f);
  b[0 * 4 + 3] = 2.0f;  // corner (3, 0): border on both axes
  b[0 * 4 + 2] = 1.0f;
  b[1 * 4 + 3] = 1.0f;
  REQUIRE(fk_decode_heatmaps(b.data(), 1, 1, 4, 4, &p, xy, &s) == FK_OK);
  CHECK(xy[0] == 3.0f);
  CHECK(xy[1] == 0.0f);
  CHECK(s == 2.0f);
}

TEST_CASE("argmax: ties take the first maximum in row-major order, across blocks and in the tail") {
  const fk_decode_params p = params_for(FK_DECODE_ARGMAX);
  for (int w : {7, 64, 67}) {
    const int h = 9;
    std::vector<float> m(static_cast<size_t>(h) * w, -1.0f);
    const int first = (h - 2) * w + 1, second = (h - 1) * w - 1;
    m[static_cast<size_t>(second)] = 3.0f;
    m[static_cast<size_t>(first)] = 3.0f;
    float xy[2], s;
    REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, h, w, &p, xy, &s) == FK_OK);
    CHECK(xy[0] == doctest::Approx(first % w));  // neighbours equal (-1): no shift
    CHECK(xy[1] == doctest::Approx(first / w));
    CHECK(s == 3.0f);
  }
  // The last element of a map whose size is a multiple of the block size.
  std::vector<float> m(64 * 64, 0.0f);
  m.back() = 1.0f;
  float xy[2], s;
  REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 64, 64, &p, xy, &s) == FK_OK);
  CHECK(xy[0] == 63.0f);
  CHECK(xy[1] == 63.0f);
}

TEST_CASE("all-equal maps and 1x1 maps") {
  std::vector<float> m(6 * 5, 0.25f);
  float xy[2], s;
  for (fk_decode_mode mode : {FK_DECODE_ARGMAX, FK_DECODE_DARK}) {
    const fk_decode_params p = params_for(mode);
    REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 6, 5, &p, xy, &s) == FK_OK);
    CHECK(s == 0.25f);
    if (mode == FK_DECODE_ARGMAX) {
      CHECK(xy[0] == 0.0f);
      CHECK(xy[1] == 0.0f);
    }
  }
  const fk_decode_params sp = params_for(FK_DECODE_SOFTARGMAX);
  REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 6, 5, &sp, xy, &s) == FK_OK);
  CHECK(xy[0] == doctest::Approx(2.0));  // uniform softmax: the centre ((W-1)/2, (H-1)/2)
  CHECK(xy[1] == doctest::Approx(2.5));

  const float one = -7.0f;
  for (fk_decode_mode mode : {FK_DECODE_ARGMAX, FK_DECODE_DARK, FK_DECODE_SOFTARGMAX}) {
    const fk_decode_params p = params_for(mode);
    REQUIRE(fk_decode_heatmaps(&one, 1, 1, 1, 1, &p, xy, &s) == FK_OK);
    CHECK(xy[0] == 0.0f);
    CHECK(xy[1] == 0.0f);
    CHECK(s == -7.0f);
  }
}

TEST_CASE("batch layout: coords [n, k, 2], scores [n, k]") {
  const int n = 3, k = 4, h = 8, w = 10;
  std::vector<float> hm(static_cast<size_t>(n) * k * h * w, 0.0f);
  for (int i = 0; i < n * k; ++i) hm[static_cast<size_t>(i) * h * w + (i % h) * w + (i % w)] = 1.0f + i;
  std::vector<float> coords(static_cast<size_t>(n) * k * 2), scores(static_cast<size_t>(n) * k);
  const fk_decode_params p = params_for(FK_DECODE_ARGMAX);
  REQUIRE(fk_decode_heatmaps(hm.data(), n, k, h, w, &p, coords.data(), scores.data()) == FK_OK);
  for (int i = 0; i < n * k; ++i) {
    CHECK(coords[2 * i] == static_cast<float>(i % w));
    CHECK(coords[2 * i + 1] == static_cast<float>(i % h));
    CHECK(scores[i] == 1.0f + i);
  }
}

TEST_CASE("DARK and soft-argmax recover a sub-pixel Gaussian centre (centres kept >= 16 px from the border)") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> pos(16.0, 48.0), sig(1.0, 3.0), sig_wide(2.0, 3.0);
  float xy[2], s;
  for (int trial = 0; trial < 20; ++trial) {
    double cx = pos(rng), cy = pos(rng), sigma = sig(rng);
    std::vector<float> m = gaussian(64, 64, cx, cy, sigma);
    fk_decode_params p = params_for(FK_DECODE_DARK);
    p.blur_sigma = static_cast<float>(sigma);
    REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 64, 64, &p, xy, &s) == FK_OK);
    CHECK(std::fabs(xy[0] - cx) < 0.05);
    CHECK(std::fabs(xy[1] - cy) < 0.05);
    // Soft-argmax reads the map as logits: a Gaussian rendered in the log domain, beta = 1.
    for (float& v : m) v = std::log(std::max(v, 1e-30f));
    p = params_for(FK_DECODE_SOFTARGMAX);
    REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 64, 64, &p, xy, &s) == FK_OK);
    CHECK(std::fabs(xy[0] - cx) < 1e-3);
    CHECK(std::fabs(xy[1] - cy) < 1e-3);
    // A plain (probability-domain) Gaussian needs beta ~ 16 to outweigh the zero background; sigma >= 2 then.
    cx = pos(rng);
    cy = pos(rng);
    m = gaussian(64, 64, cx, cy, sig_wide(rng));
    p.beta = 16.0f;
    REQUIRE(fk_decode_heatmaps(m.data(), 1, 1, 64, 64, &p, xy, &s) == FK_OK);
    CHECK(std::fabs(xy[0] - cx) < 0.05);
    CHECK(std::fabs(xy[1] - cy) < 0.05);
  }
}

TEST_CASE("non-finite heatmaps are rejected, naming (sample, keypoint)") {
  const int n = 2, k = 3;
  for (int w : {5, 64}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> hm(static_cast<size_t>(n) * k * 4 * w, 0.5f);
      hm[(static_cast<size_t>(1) * k + 2) * 4 * w + 4 * w - 1] = bad;  // sample 1, keypoint 2, last element
      std::vector<float> coords(n * k * 2), scores(n * k);
      for (fk_decode_mode mode : {FK_DECODE_ARGMAX, FK_DECODE_DARK, FK_DECODE_SOFTARGMAX}) {
        const fk_decode_params p = params_for(mode);
        CHECK_FAILS_WITH(fk_decode_heatmaps(hm.data(), n, k, 4, w, &p, coords.data(), scores.data()),
                         FK_ERR_NON_FINITE, "heatmaps[1, 2]");
      }
    }
  }
}

TEST_CASE("decode argument errors") {
  float hm[4] = {0, 1, 2, 3}, xy[2], s;
  fk_decode_params p = params_for(FK_DECODE_ARGMAX);
  CHECK_FAILS_WITH(fk_decode_heatmaps(nullptr, 1, 1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "heatmaps");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, nullptr, xy, &s), FK_ERR_INVALID_ARGUMENT, "params");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, nullptr, &s), FK_ERR_INVALID_ARGUMENT, "coords");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, nullptr), FK_ERR_INVALID_ARGUMENT, "scores");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 0, 1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "n must be");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, -1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "k must be");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 0, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "h must be");
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 0, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "w must be");
  // Sizes whose product overflows are rejected before any memory is read.
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 70000, 70000, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "h*w");
  CHECK(fk_decode_heatmaps(hm, 2147483647, 2147483647, 2147483647, 2147483647, &p, xy, &s) ==
        FK_ERR_INVALID_ARGUMENT);
  int bad_mode = 9;
  std::memcpy(&p.mode, &bad_mode, sizeof bad_mode);
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "params.mode");
  p = params_for(FK_DECODE_DARK);
  p.blur_sigma = 0.0f;
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "params.blur_sigma");
  p.blur_sigma = std::numeric_limits<float>::quiet_NaN();
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, &s), FK_ERR_NON_FINITE, "params.blur_sigma");
  p = params_for(FK_DECODE_SOFTARGMAX);
  p.beta = -1.0f;
  CHECK_FAILS_WITH(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, &s), FK_ERR_INVALID_ARGUMENT, "params.beta");
  // Parameters of other modes are not validated.
  p = params_for(FK_DECODE_ARGMAX);
  p.beta = -1.0f;
  p.blur_sigma = -1.0f;
  CHECK(fk_decode_heatmaps(hm, 1, 1, 2, 2, &p, xy, &s) == FK_OK);
}
