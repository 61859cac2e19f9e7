// The extern "C" boundary: every C++ exception becomes an fk_status plus a thread-local message.
#include <cstdio>
#include <cmath>
#include <cstring>
#include <exception>
#include <new>

#include "core.hpp"
#include "landmarker.hpp"

#ifndef FACEKD_VERSION
#error "FACEKD_VERSION must be defined by the build (see csrc/CMakeLists.txt)"
#endif

namespace {

// Fixed-size so that recording an error never allocates (and never throws).
thread_local char g_last_error[1024] = "";

void set_error(const char* function, const char* message) noexcept {
  std::snprintf(g_last_error, sizeof g_last_error, "%s: %s", function, message);
}

template <class F>
fk_status guard(const char* function, F&& body) noexcept {
  try {
    body();
    return FK_OK;
  } catch (const facekd::Error& e) {
    set_error(function, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    set_error(function, "out of memory");
    return FK_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error(function, e.what());
    return FK_ERR_INTERNAL;
  } catch (...) {
    set_error(function, "unknown internal error");
    return FK_ERR_INTERNAL;
  }
}

}  // namespace

extern "C" {

const char* fk_version(void) { return FACEKD_VERSION; }

const char* fk_last_error(void) { return g_last_error; }

const char* fk_status_name(fk_status status) {
  switch (facekd::enum_value(status)) {  // C callers may pass any int
    case FK_OK: return "FK_OK";
    case FK_ERR_INVALID_ARGUMENT: return "FK_ERR_INVALID_ARGUMENT";
    case FK_ERR_NON_FINITE: return "FK_ERR_NON_FINITE";
    case FK_ERR_OUT_OF_MEMORY: return "FK_ERR_OUT_OF_MEMORY";
    case FK_ERR_INTERNAL: return "FK_ERR_INTERNAL";
    case FK_ERR_CALLBACK: return "FK_ERR_CALLBACK";
  }
  return "FK_STATUS_UNKNOWN";
}

fk_status fk_decode_params_default(fk_decode_params* params) {
  return guard("fk_decode_params_default", [&] {
    facekd::require_not_null(params, "params");
    params->mode = FK_DECODE_ARGMAX;
    params->blur_sigma = 1.5f;
    params->beta = 1.0f;
  });
}

fk_status fk_decode_heatmaps(const float* heatmaps, int n, int k, int h, int w,
                             const fk_decode_params* params, float* coords, float* scores) {
  return guard("fk_decode_heatmaps", [&] {
    facekd::require_not_null(params, "params");
    facekd::decode_heatmaps(heatmaps, n, k, h, w, *params, coords, scores);
  });
}

fk_status fk_crop_params_default(fk_crop_params* params) {
  return guard("fk_crop_params_default", [&] {
    facekd::require_not_null(params, "params");
    params->out_size = 256;
    params->out_channels = 3;
    const float mean[3] = {0.485f, 0.456f, 0.406f};
    const float std_[3] = {0.229f, 0.224f, 0.225f};
    std::memcpy(params->mean, mean, sizeof mean);
    std::memcpy(params->std, std_, sizeof std_);
    params->border_value = 0.0f;
  });
}

fk_status fk_box_to_affine(const float box[4], float scale, float rotation_deg, int flip, int out_size,
                           float crop_to_image[6]) {
  return guard("fk_box_to_affine", [&] {
    facekd::box_to_affine(box, scale, rotation_deg, flip != 0, out_size, crop_to_image);
  });
}

fk_status fk_crop_affine(const fk_image* image, const float crop_to_image[6], const fk_crop_params* params,
                         float* out) {
  return guard("fk_crop_affine", [&] {
    facekd::require_not_null(image, "image");
    facekd::require_not_null(params, "params");
    facekd::crop_affine(*image, crop_to_image, *params, out);
  });
}

fk_status fk_crop_box(const fk_image* image, const float box[4], float scale, float rotation_deg, int flip,
                      const fk_crop_params* params, float* out, float crop_to_image[6]) {
  return guard("fk_crop_box", [&] {
    facekd::require_not_null(image, "image");
    facekd::require_not_null(params, "params");
    facekd::crop_box(*image, box, scale, rotation_deg, flip != 0, *params, out, crop_to_image);
  });
}

fk_status fk_affine_invert(const float affine[6], float inverse[6]) {
  return guard("fk_affine_invert", [&] { facekd::affine_invert(affine, inverse); });
}

fk_status fk_points_transform(const float* pts, int n, const float affine[6], float* out) {
  return guard("fk_points_transform", [&] { facekd::points_transform(pts, n, affine, out); });
}

fk_status fk_heatmap_to_image(const float* pts, int n, int heatmap_w, int heatmap_h, int input_w,
                              int input_h, const float crop_to_image[6], float* out) {
  return guard("fk_heatmap_to_image", [&] {
    facekd::heatmap_to_image(pts, n, heatmap_w, heatmap_h, input_w, input_h, crop_to_image, out);
  });
}

fk_status fk_box_from_landmarks(const float* pts, int n, int left_idx, int right_idx, float box[4],
                                float* roll_deg) {
  return guard("fk_box_from_landmarks", [&] {
    facekd::box_from_landmarks(pts, n, left_idx, right_idx, box, roll_deg);
  });
}

fk_status fk_smoother_params_default(fk_smoother_params* params) {
  return guard("fk_smoother_params_default", [&] {
    facekd::require_not_null(params, "params");
    params->min_cutoff = 1.0f;
    params->beta = 0.007f;
    params->d_cutoff = 1.0f;
  });
}

fk_status fk_smoother_create(int n_values, const fk_smoother_params* params, fk_smoother** out) {
  return guard("fk_smoother_create", [&] {
    facekd::require_not_null(out, "out");
    *out = nullptr;
    facekd::require_not_null(params, "params");
    *out = facekd::smoother_create(n_values, *params);
  });
}

fk_status fk_smoother_apply(fk_smoother* smoother, const float* values, double timestamp, float* out) {
  return guard("fk_smoother_apply", [&] {
    facekd::require_not_null(smoother, "smoother");
    facekd::smoother_apply(*smoother, values, timestamp, out);
  });
}

fk_status fk_smoother_reset(fk_smoother* smoother) {
  return guard("fk_smoother_reset", [&] {
    facekd::require_not_null(smoother, "smoother");
    facekd::smoother_reset(*smoother);
  });
}

void fk_smoother_destroy(fk_smoother* smoother) { facekd::smoother_destroy(smoother); }


// ---- 5. landmarker ------------------------------------------------------------------------

struct fk_landmarker {
  facekd::Landmarker impl;
  fk_landmarker(const char* card, const fk_landmarker_options& o) : impl(card, o) {}
};

fk_status fk_landmarker_options_default(fk_landmarker_options* options) {
  return guard("fk_landmarker_options_default", [&] {
    facekd::require_not_null(options, "options");
    *options = fk_landmarker_options{};
    options->mode = FK_MODE_IMAGE;
    options->detector_transform = fk_box_transform{0.0f, 0.0f, 1.0f, 1.0f};
    options->recrop_degrees = 5.0f;
    options->max_recrops = 2;
    options->turn_threshold = NAN;  // the card's turn_threshold (0.4 when it has none)
    options->loss_threshold = NAN;  // the card's loss_threshold (0.3 when it has none)
    options->min_face = 16.0f;
    options->smooth = 1;
    fk_smoother_params_default(&options->smoother);
    options->max_detections = 16;
  });
}

fk_status fk_landmarker_create(const char* card_json, const fk_landmarker_options* options, fk_landmarker** out) {
  return guard("fk_landmarker_create", [&] {
    facekd::require_not_null(out, "out");
    *out = nullptr;
    facekd::require_not_null(options, "options");
    *out = new fk_landmarker(card_json, *options);
  });
}

void fk_landmarker_destroy(fk_landmarker* landmarker) { delete landmarker; }

fk_status fk_landmarker_reset(fk_landmarker* landmarker) {
  return guard("fk_landmarker_reset", [&] {
    facekd::require_not_null(landmarker, "landmarker");
    landmarker->impl.reset();
  });
}

fk_status fk_landmarker_info_get(const fk_landmarker* landmarker, fk_landmarker_info* info) {
  return guard("fk_landmarker_info_get", [&] {
    facekd::require_not_null(landmarker, "landmarker");
    facekd::require_not_null(info, "info");
    landmarker->impl.info(*info);
  });
}

fk_status fk_card_info(const char* card_json, fk_landmarker_info* info) {
  return guard("fk_card_info", [&] {
    facekd::require_not_null(info, "info");
    facekd::card_info(facekd::parse_card(card_json), *info);
  });
}

fk_status fk_landmarker_process(fk_landmarker* landmarker, const fk_image* image, const fk_detections* detections,
                                double timestamp, fk_landmarker_result* out) {
  return guard("fk_landmarker_process", [&] {
    facekd::require_not_null(landmarker, "landmarker");
    facekd::require_not_null(image, "image");
    facekd::require_not_null(out, "out");
    landmarker->impl.process(*image, detections, timestamp, *out);
  });
}

fk_status fk_landmarker_predict(fk_landmarker* landmarker, const fk_image* image, const float* boxes,
                                const float* rotations_deg, int n, float* landmarks, float* scores) {
  return guard("fk_landmarker_predict", [&] {
    facekd::require_not_null(landmarker, "landmarker");
    facekd::require_not_null(image, "image");
    landmarker->impl.predict(*image, boxes, rotations_deg, n, landmarks, scores);
  });
}

fk_status fk_landmarker_track_box(const fk_landmarker* landmarker, const float* landmarks, float box[4],
                                  float* roll_deg) {
  return guard("fk_landmarker_track_box", [&] {
    facekd::require_not_null(landmarker, "landmarker");
    facekd::require_not_null(landmarks, "landmarks");
    facekd::require_not_null(box, "box");
    facekd::require_not_null(roll_deg, "roll_deg");
    landmarker->impl.track_box(landmarks, box, roll_deg);
  });
}

fk_status fk_detection_roll(const fk_detection* detection, float* roll_deg) {
  return guard("fk_detection_roll", [&] {
    facekd::require_not_null(detection, "detection");
    facekd::require_not_null(roll_deg, "roll_deg");
    facekd::require(detection->num_keypoints >= 0 && detection->num_keypoints <= 5,
                    "detection->num_keypoints must be in [0, 5]");
    *roll_deg = facekd::detection_roll(*detection);
  });
}

}  // extern "C"
