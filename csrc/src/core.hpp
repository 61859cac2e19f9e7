// facekd C++ core: the kernels behind the C API (c_api.h is the spec). Functions validate their
// arguments and throw facekd::Error; the extern "C" layer (c_api.cpp) turns that into a status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <cstring>
#include <string>
#include <type_traits>

#include "facekd/c_api.h"

namespace facekd {

class Error : public std::runtime_error {
 public:
  Error(fk_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  fk_status status() const noexcept { return status_; }

 private:
  fk_status status_;
};

// printf-style message builder.
std::string format(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

[[noreturn]] void fail(fk_status status, const std::string& message);

inline void require(bool ok, const std::string& message) {
  if (!ok) fail(FK_ERR_INVALID_ARGUMENT, message);
}
void require_not_null(const void* p, const char* name);
void require_positive(int value, const char* name);
void require_finite(float value, const char* name);
void require_finite(const float* values, int n, const char* name);
// The integer value of a C enum field, read without assuming it holds a declared enumerator.
template <class E>
int enum_value(const E& e) {
  typename std::underlying_type<E>::type v;
  std::memcpy(&v, &e, sizeof v);
  return static_cast<int>(v);
}
// a * b as size_t; throws FK_ERR_INVALID_ARGUMENT naming `what` on overflow.
std::size_t checked_mul(std::size_t a, std::size_t b, const char* what);

// 1. decode
void decode_heatmaps(const float* heatmaps, int n, int k, int h, int w, const fk_decode_params& params,
                     float* coords, float* scores);

// 2. crop
void box_to_affine(const float box[4], float scale, float rotation_deg, bool flip, int out_size,
                   float crop_to_image[6]);
void crop_affine(const fk_image& image, const float crop_to_image[6], const fk_crop_params& params,
                 float* out);
void crop_box(const fk_image& image, const float box[4], float scale, float rotation_deg, bool flip,
              const fk_crop_params& params, float* out, float crop_to_image[6]);

// 3. geometry
void affine_invert(const float affine[6], float inverse[6]);
void points_transform(const float* pts, int n, const float affine[6], float* out);
void heatmap_to_image(const float* pts, int n, int heatmap_w, int heatmap_h, int input_w, int input_h,
                      const float crop_to_image[6], float* out);
void box_from_landmarks(const float* pts, int n, int left_idx, int right_idx, float box[4],
                        float* roll_deg);

// 4. smoother
// fk_smoother (defined in smoother.cpp) is the C++ object behind the opaque C handle.
fk_smoother* smoother_create(int n_values, const fk_smoother_params& params);
void smoother_apply(fk_smoother& s, const float* values, double timestamp, float* out);
void smoother_reset(fk_smoother& s);
void smoother_destroy(fk_smoother* s) noexcept;

}  // namespace facekd
