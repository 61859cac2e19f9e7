// The landmarker: the per-frame pipeline behind fk_landmarker (c_api.h section 5 is the spec).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core.hpp"

namespace facekd {

// What the pipeline needs from a model card (parsed once, here; card.cpp).
struct Card {
  int num_keypoints = 0;
  int input_size = 0;
  fk_output_kind output_kind = FK_OUTPUT_HEATMAP;
  int heatmap_size = 0;
  fk_decode_params decode{};
  float crop_scale = 1.25f;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  int eye_left = -1, eye_right = -1;
  // Turn check threshold measured for this model (card "turn_threshold"; 0.4 when the card has none).
  float turn_threshold = 0.4f;
  // Tracking loss threshold for this model (card "loss_threshold"; 0.3 when the card has none).
  float loss_threshold = 0.3f;

  int output_floats() const {
    return output_kind == FK_OUTPUT_HEATMAP ? num_keypoints * heatmap_size * heatmap_size : num_keypoints * 2;
  }
};

Card parse_card(const char* json_text);
void card_info(const Card& card, fk_landmarker_info& out);

// Detector box -> landmark box (python/facekd/detectors.py BoxTransform.apply at roll 0), in the frame
// of a face whose eye roll is roll_deg: sides swapped for a quarter turn, the centre offset turned by
// the roll. The result is the crop box convention: centre in the image, width/height in the face frame.
void apply_box_transform(const fk_box_transform& t, const float box[4], float roll_deg, float out[4]);
// Roll of a detection's eye keypoints (0 without two keypoints).
float detection_roll(const fk_detection& d);
// a - b wrapped to (-180, 180].
double angle_difference(double a, double b);

struct SmootherDeleter {
  void operator()(fk_smoother* s) const noexcept { smoother_destroy(s); }
};

class Landmarker {
 public:
  Landmarker(const char* card_json, const fk_landmarker_options& options);

  const Card& card() const { return card_; }
  void info(fk_landmarker_info& out) const { card_info(card_, out); }
  void reset();
  void process(const fk_image& image, const fk_detections* detections, double timestamp,
               fk_landmarker_result& out);
  void predict(const fk_image& image, const float* boxes, const float* rotations, int n, float* landmarks,
               float* scores);
  void track_box(const float* landmarks, float box[4], float* roll) const;

 private:
  // Crops of n faces into crops_ / affines_; false (nothing thrown) when one box cannot be cropped and
  // `soft` is set, with the message in crop_error_.
  bool crop(const fk_image& image, const float* boxes, const float* rotations, int n, bool soft);
  // Model call + decode for the n crops in crops_.
  void infer(int n, float* landmarks, float* scores);
  float eye_roll(const float* landmarks) const;
  // Roll re-crop loop for faces [0, n): a re-cropped face gets the box and roll of its predicted points
  // (boxes and rotations updated in place).
  // Faces scoring below options.turn_threshold: crops turned by 90, 180, 270 degrees, the best fit kept.
  void turn_check(const fk_image& image, float* boxes, float* rotations, int n, float* landmarks, float* scores,
                  int* passes);
  void recrop(const fk_image& image, float* boxes, float* rotations, int n, float* landmarks,
              float* scores, int* passes);
  int detections_from(const fk_image& image, const fk_detections* given, std::vector<fk_detection>& dets,
                      const fk_box_transform** transform, bool* ran);
  void process_image(const fk_image& image, const fk_detections* detections, fk_landmarker_result& out);
  void process_video(const fk_image& image, const fk_detections* detections, double timestamp,
                     fk_landmarker_result& out);

  Card card_;
  fk_landmarker_options options_;
  fk_crop_params crop_params_{};
  std::unique_ptr<fk_smoother, SmootherDeleter> smoother_;
  std::vector<float> crops_, affines_, outputs_, coords_;
  std::string crop_error_;
  // VIDEO state
  bool tracking_ = false;
  std::vector<float> previous_;  // raw landmarks of the last reported face
  bool has_time_ = false;
  double last_time_ = 0.0;
};

}  // namespace facekd
