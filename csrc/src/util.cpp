// Argument-validation helpers shared by the kernels.
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <vector>

#include "core.hpp"

namespace facekd {

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int len = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out;
  if (len > 0) {
    std::vector<char> buf(static_cast<std::size_t>(len) + 1);
    std::vsnprintf(buf.data(), buf.size(), fmt, args);
    out.assign(buf.data(), static_cast<std::size_t>(len));
  }
  va_end(args);
  return out;
}

void fail(fk_status status, const std::string& message) { throw Error(status, message); }

void require_not_null(const void* p, const char* name) {
  if (p == nullptr) fail(FK_ERR_INVALID_ARGUMENT, format("%s must not be NULL", name));
}

void require_positive(int value, const char* name) {
  if (value < 1) fail(FK_ERR_INVALID_ARGUMENT, format("%s must be >= 1 (got %d)", name, value));
}

void require_finite(float value, const char* name) {
  if (!std::isfinite(value)) fail(FK_ERR_NON_FINITE, format("%s must be finite (got %g)", name, value));
}

void require_finite(const float* values, int n, const char* name) {
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      fail(FK_ERR_NON_FINITE, format("%s[%d] must be finite (got %g)", name, i, values[i]));
    }
  }
}

std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
  // Keep every buffer size addressable with a signed pointer difference too.
  const std::size_t limit = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  if (a != 0 && b > limit / a) {
    fail(FK_ERR_INVALID_ARGUMENT, format("%s is too large (size overflow)", what));
  }
  return a * b;
}

}  // namespace facekd
