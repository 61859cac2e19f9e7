// Landmark geometry: affine inverse, point transforms, heatmap -> image, box from landmarks.
// Arithmetic in double, results rounded to float once.
#include <cmath>

#include "core.hpp"

namespace facekd {
namespace {

constexpr double kPi = 3.14159265358979323846;

void require_affine(const float* a, const char* name) {
  require_not_null(a, name);
  require_finite(a, 6, name);
}

void require_points(const float* pts, int n, const float* out) {
  require(n >= 0, format("n must be >= 0 (got %d)", n));
  if (n > 0) {
    require_not_null(pts, "pts");
    require_not_null(out, "out");
  }
}

}  // namespace

void affine_invert(const float affine[6], float inverse[6]) {
  require_affine(affine, "affine");
  require_not_null(inverse, "inverse");
  const double a = affine[0], b = affine[1], c = affine[2], d = affine[3], e = affine[4], f = affine[5];
  const double det = a * e - b * d;
  require(std::fabs(det) >= 1e-12, format("affine is singular (|det| = %g < 1e-12)", std::fabs(det)));
  const double r[6] = {e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det};
  for (int i = 0; i < 6; ++i) inverse[i] = static_cast<float>(r[i]);
}

void points_transform(const float* pts, int n, const float affine[6], float* out) {
  require_points(pts, n, out);
  require_affine(affine, "affine");
  const double a = affine[0], b = affine[1], c = affine[2], d = affine[3], e = affine[4], f = affine[5];
  for (int i = 0; i < n; ++i) {
    const double x = pts[2 * i], y = pts[2 * i + 1];  // read both before writing (in/out may alias)
    out[2 * i] = static_cast<float>(a * x + b * y + c);
    out[2 * i + 1] = static_cast<float>(d * x + e * y + f);
  }
}

void heatmap_to_image(const float* pts, int n, int heatmap_w, int heatmap_h, int input_w, int input_h,
                      const float crop_to_image[6], float* out) {
  require_points(pts, n, out);
  require_positive(heatmap_w, "heatmap_w");
  require_positive(heatmap_h, "heatmap_h");
  require_positive(input_w, "input_w");
  require_positive(input_h, "input_h");
  require_affine(crop_to_image, "crop_to_image");
  const float* A = crop_to_image;
  const double a = A[0], b = A[1], c = A[2], d = A[3], e = A[4], f = A[5];
  const double sx = static_cast<double>(input_w) / heatmap_w, sy = static_cast<double>(input_h) / heatmap_h;
  for (int i = 0; i < n; ++i) {
    const double u = (pts[2 * i] + 0.5) * sx - 0.5;
    const double v = (pts[2 * i + 1] + 0.5) * sy - 0.5;
    out[2 * i] = static_cast<float>(a * u + b * v + c);
    out[2 * i + 1] = static_cast<float>(d * u + e * v + f);
  }
}

void box_from_landmarks(const float* pts, int n, int left_idx, int right_idx, float box[4], float* roll_deg) {
  require_positive(n, "n");
  require_not_null(pts, "pts");
  require_not_null(box, "box");
  const bool with_roll = left_idx >= 0 && right_idx >= 0;
  require(left_idx < n, format("left_idx must be < n = %d (got %d)", n, left_idx));
  require(right_idx < n, format("right_idx must be < n = %d (got %d)", n, right_idx));
  double x_min = pts[0], x_max = pts[0], y_min = pts[1], y_max = pts[1];
  for (int i = 0; i < n; ++i) {
    const float x = pts[2 * i], y = pts[2 * i + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      fail(FK_ERR_NON_FINITE, format("pts[%d] must be finite (got %g, %g)", i, x, y));
    }
    x_min = std::fmin(x_min, x);
    x_max = std::fmax(x_max, x);
    y_min = std::fmin(y_min, y);
    y_max = std::fmax(y_max, y);
  }
  box[0] = static_cast<float>(x_min);
  box[1] = static_cast<float>(y_min);
  box[2] = static_cast<float>(x_max - x_min);
  box[3] = static_cast<float>(y_max - y_min);
  if (roll_deg != nullptr) {
    double roll = 0.0;
    if (with_roll) {
      const double dx = static_cast<double>(pts[2 * right_idx]) - pts[2 * left_idx];
      const double dy = static_cast<double>(pts[2 * right_idx + 1]) - pts[2 * left_idx + 1];
      roll = std::atan2(dy, dx) * 180.0 / kPi;
    }
    *roll_deg = static_cast<float>(roll);
  }
}

}  // namespace facekd
