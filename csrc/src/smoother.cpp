// One-Euro smoother (Casiez, Roussel, Vogel, CHI 2012); state in double. Spec: c_api.h.
#include <cmath>
#include <vector>

#include "core.hpp"

struct fk_smoother {
  fk_smoother_params params;
  std::vector<double> x_hat;   // filtered values
  std::vector<double> dx_hat;  // filtered derivatives
  double last_time = 0.0;
  bool initialised = false;
};

namespace facekd {
namespace {

constexpr double kPi = 3.14159265358979323846;

inline double alpha(double cutoff, double dt) { return 1.0 / (1.0 + 1.0 / (2.0 * kPi * cutoff * dt)); }

}  // namespace

fk_smoother* smoother_create(int n_values, const fk_smoother_params& p) {
  require_positive(n_values, "n_values");
  require_finite(p.min_cutoff, "params.min_cutoff");
  require_finite(p.beta, "params.beta");
  require_finite(p.d_cutoff, "params.d_cutoff");
  require(p.min_cutoff > 0.0f, format("params.min_cutoff must be > 0 (got %g)", p.min_cutoff));
  require(p.beta >= 0.0f, format("params.beta must be >= 0 (got %g)", p.beta));
  require(p.d_cutoff > 0.0f, format("params.d_cutoff must be > 0 (got %g)", p.d_cutoff));
  auto* s = new fk_smoother();
  try {
    s->params = p;
    s->x_hat.assign(static_cast<std::size_t>(n_values), 0.0);
    s->dx_hat.assign(static_cast<std::size_t>(n_values), 0.0);
  } catch (...) {
    delete s;
    throw;
  }
  return s;
}

void smoother_apply(fk_smoother& s, const float* values, double timestamp, float* out) {
  require_not_null(values, "values");
  require_not_null(out, "out");
  require(std::isfinite(timestamp), format("timestamp must be finite (got %g)", timestamp));
  if (s.initialised) {
    require(timestamp > s.last_time,
            format("timestamp must be strictly increasing (got %.17g after %.17g)", timestamp, s.last_time));
  }
  const int n = static_cast<int>(s.x_hat.size());
  require_finite(values, n, "values");
  if (!s.initialised) {
    for (int i = 0; i < n; ++i) {
      s.x_hat[static_cast<std::size_t>(i)] = values[i];
      s.dx_hat[static_cast<std::size_t>(i)] = 0.0;
      out[i] = values[i];
    }
    s.last_time = timestamp;
    s.initialised = true;
    return;
  }
  const double dt = timestamp - s.last_time;
  const double a_d = alpha(s.params.d_cutoff, dt);
  for (int i = 0; i < n; ++i) {
    const std::size_t j = static_cast<std::size_t>(i);
    const double x = values[i];
    const double dx = (x - s.x_hat[j]) / dt;
    const double dx_hat = s.dx_hat[j] + a_d * (dx - s.dx_hat[j]);
    const double fc = s.params.beta > 0.0f ? s.params.min_cutoff + static_cast<double>(s.params.beta) * std::fabs(dx_hat)
                                          : static_cast<double>(s.params.min_cutoff);
    const double x_hat = s.x_hat[j] + alpha(fc, dt) * (x - s.x_hat[j]);
    s.x_hat[j] = x_hat;
    s.dx_hat[j] = dx_hat;
    out[i] = static_cast<float>(x_hat);
  }
  s.last_time = timestamp;
}

void smoother_reset(fk_smoother& s) {
  s.initialised = false;
  s.last_time = 0.0;
}

void smoother_destroy(fk_smoother* s) noexcept { delete s; }

}  // namespace facekd
