// The per-frame pipeline (c_api.h section 5): detector box -> landmark box -> roll -> crop -> the
// caller's network -> decode -> roll re-crop -> tracking -> One-Euro smoothing. Written once here;
// Python, Swift, Kotlin and the C++ runner are shells over it.
#include "landmarker.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace facekd {

namespace {
constexpr double kPi = 3.14159265358979323846;

float mean_of(const float* v, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += v[i];
  return static_cast<float>(s / n);
}
}  // namespace

void apply_box_transform(const fk_box_transform& t, const float box[4], float roll_deg, float out[4]) {
  // double arithmetic on float32 boxes, rounded once (as BoxTransform.apply in numpy when roll is 0).
  // The calibration was fitted on upright faces, so it acts in the face's frame: the detector ran on
  // the image turned by the nearest quarter turn of the roll (a rotated pass), where the box's sides
  // swap for 90/270 degrees, and the centre offset (dx * w, dy * h) turns with the roll itself.
  const double x = box[0], y = box[1];
  const double r = std::isfinite(roll_deg) ? static_cast<double>(roll_deg) : 0.0;
  const long quarter = std::lround(r / 90.0);
  const bool swap = (quarter % 2) != 0;
  const double w = swap ? box[3] : box[2], h = swap ? box[2] : box[3];  // in the face's frame
  const double ox = static_cast<double>(t.dx) * w, oy = static_cast<double>(t.dy) * h;
  const double th = r * kPi / 180.0, cs = std::cos(th), sn = std::sin(th);  // exactly 1, 0 at roll 0
  const double cx = x + box[2] / 2.0 + (cs * ox - sn * oy), cy = y + box[3] / 2.0 + (sn * ox + cs * oy);
  const double nw = w * static_cast<double>(t.sw), nh = h * static_cast<double>(t.sh);
  out[0] = static_cast<float>(cx - nw / 2);
  out[1] = static_cast<float>(cy - nh / 2);
  out[2] = static_cast<float>(nw);
  out[3] = static_cast<float>(nh);
}

float detection_roll(const fk_detection& d) {
  if (d.num_keypoints < 2) return 0.0f;
  const double dx = static_cast<double>(d.keypoints[2]) - d.keypoints[0];
  const double dy = static_cast<double>(d.keypoints[3]) - d.keypoints[1];
  if (!std::isfinite(dx) || !std::isfinite(dy)) fail(FK_ERR_NON_FINITE, "detection keypoints must be finite");
  if (dx == 0.0 && dy == 0.0) return 0.0f;
  return static_cast<float>(std::atan2(dy, dx) * 180.0 / kPi);
}

double angle_difference(double a, double b) {
  double d = std::fmod(a - b, 360.0);
  if (d <= -180.0) d += 360.0;
  if (d > 180.0) d -= 360.0;
  return d;
}

static void check_transform(const fk_box_transform& t, const char* name) {
  const float v[4] = {t.dx, t.dy, t.sw, t.sh};
  require_finite(v, 4, name);
  require(t.sw > 0 && t.sh > 0, format("%s: sw and sh must be > 0 (got %g, %g)", name, t.sw, t.sh));
}

Landmarker::Landmarker(const char* card_json, const fk_landmarker_options& o) : card_(parse_card(card_json)), options_(o) {
  require(o.mode == FK_MODE_IMAGE || o.mode == FK_MODE_VIDEO,
          format("options.mode must be FK_MODE_IMAGE or FK_MODE_VIDEO (got %d)", enum_value(o.mode)));
  require(o.model != nullptr, "options.model: the model callback is required");
  check_transform(o.detector_transform, "options.detector_transform");
  require_finite(o.recrop_degrees, "options.recrop_degrees");
  require(o.max_recrops >= 0 && o.max_recrops <= 8, format("options.max_recrops must be in [0, 8] (got %d)", o.max_recrops));
  if (std::isnan(o.loss_threshold)) options_.loss_threshold = card_.loss_threshold;  // the default: the card's
  if (std::isnan(o.turn_threshold)) options_.turn_threshold = card_.turn_threshold;  // the default: the card's
  require_finite(o.min_face, "options.min_face");
  require(o.max_detections >= 1 && o.max_detections <= 4096,
          format("options.max_detections must be in [1, 4096] (got %d)", o.max_detections));
  fk_crop_params_default(&crop_params_);
  crop_params_.out_size = card_.input_size;
  crop_params_.out_channels = 3;
  for (int c = 0; c < 3; ++c) {
    crop_params_.mean[c] = card_.mean[c];
    crop_params_.std[c] = card_.std[c];
  }
  crop_params_.border_value = 0.0f;
  try {
    smoother_.reset(smoother_create(2 * card_.num_keypoints, o.smoother));
  } catch (const Error& e) {
    fail(e.status(), std::string("options.smoother: ") + e.what());
  }
}

void card_info(const Card& card_, fk_landmarker_info& out) {
  out.num_keypoints = card_.num_keypoints;
  out.input_size = card_.input_size;
  out.output_kind = card_.output_kind;
  out.heatmap_size = card_.output_kind == FK_OUTPUT_HEATMAP ? card_.heatmap_size : 0;
  out.output_floats = card_.output_floats();
  out.crop_scale = card_.crop_scale;
  for (int c = 0; c < 3; ++c) {
    out.mean[c] = card_.mean[c];
    out.std[c] = card_.std[c];
  }
  out.eye_left = card_.eye_left;
  out.eye_right = card_.eye_right;
}

void Landmarker::reset() {
  tracking_ = false;
  previous_.clear();
  has_time_ = false;
  smoother_reset(*smoother_);
}

bool Landmarker::crop(const fk_image& image, const float* boxes, const float* rotations, int n, bool soft) {
  const std::size_t plane = checked_mul(3, checked_mul(card_.input_size, card_.input_size, "crop"), "crop");
  crops_.resize(checked_mul(plane, n, "crops"));
  affines_.resize(static_cast<std::size_t>(n) * 6);
  for (int i = 0; i < n; ++i) {
    const float* b = boxes + 4 * i;
    const float rot = rotations ? rotations[i] : 0.0f;
    try {
      crop_box(image, b, card_.crop_scale, rot, false, crop_params_, crops_.data() + plane * i,
               affines_.data() + 6 * i);
    } catch (const Error& e) {
      if (e.status() != FK_ERR_INVALID_ARGUMENT && e.status() != FK_ERR_NON_FINITE) throw;
      crop_error_ = format("face box [%.2f, %.2f, %.2f, %.2f] cannot be cropped from the %dx%d image: %s", b[0], b[1],
                           b[2], b[3], image.width, image.height, e.what());
      if (soft) return false;
      fail(e.status(), crop_error_);
    }
  }
  return true;
}

void Landmarker::infer(int n, float* landmarks, float* scores) {
  const int k = card_.num_keypoints, s = card_.input_size;
  const std::size_t per = static_cast<std::size_t>(card_.output_floats());
  outputs_.assign(checked_mul(per, n, "model outputs"), 0.0f);
  const int rc = options_.model(options_.model_user, crops_.data(), n, s, outputs_.data(), outputs_.size());
  if (rc != 0) fail(FK_ERR_CALLBACK, format("the model callback failed (returned %d)", rc));
  if (card_.output_kind == FK_OUTPUT_HEATMAP) {
    const int h = card_.heatmap_size;
    coords_.resize(static_cast<std::size_t>(n) * k * 2);
    decode_heatmaps(outputs_.data(), n, k, h, h, card_.decode, coords_.data(), scores);
    for (int i = 0; i < n; ++i) {
      heatmap_to_image(coords_.data() + 2 * k * i, k, h, h, s, s, affines_.data() + 6 * i, landmarks + 2 * k * i);
    }
    return;
  }
  require_finite(outputs_.data(), static_cast<int>(outputs_.size()), "model output (coordinates)");
  coords_.resize(static_cast<std::size_t>(2) * k);
  for (int i = 0; i < n; ++i) {
    const float* o = outputs_.data() + 2 * k * i;
    for (int j = 0; j < 2 * k; ++j) coords_[j] = o[j] * static_cast<float>(s) - 0.5f;  // (u + 0.5) / S -> u
    points_transform(coords_.data(), k, affines_.data() + 6 * i, landmarks + 2 * k * i);
    std::fill(scores + k * i, scores + k * (i + 1), 1.0f);
  }
}

void Landmarker::predict(const fk_image& image, const float* boxes, const float* rotations, int n, float* landmarks,
                         float* scores) {
  require(n >= 1, format("n must be >= 1 (got %d)", n));
  require_not_null(boxes, "boxes");
  require_not_null(landmarks, "landmarks");
  require_not_null(scores, "scores");
  require_finite(boxes, 4 * n, "boxes");
  if (rotations) require_finite(rotations, n, "rotations_deg");
  for (int i = 0; i < n; ++i) {
    require(boxes[4 * i + 2] > 0 && boxes[4 * i + 3] > 0, format("boxes[%d]: width and height must be > 0", i));
  }
  crop(image, boxes, rotations, n, false);
  infer(n, landmarks, scores);
}

float Landmarker::eye_roll(const float* landmarks) const {
  float box[4], roll = 0.0f;
  box_from_landmarks(landmarks, card_.num_keypoints, card_.eye_left, card_.eye_right, box, &roll);
  return roll;
}

void Landmarker::track_box(const float* pts, float box[4], float* roll_out) const {
  // The tight box of the landmarks in the face's upright frame (rotated by the eye roll about the
  // image-frame box centre), re-centred in the image; numerics follow api.py's former Tracker.crop_box.
  const int k = card_.num_keypoints;
  float b[4], roll = 0.0f;
  box_from_landmarks(pts, k, card_.eye_left, card_.eye_right, b, &roll);
  *roll_out = roll;
  if (roll == 0.0f) {
    std::copy(b, b + 4, box);
    return;
  }
  const double cx = static_cast<double>(b[0] + b[2] / 2), cy = static_cast<double>(b[1] + b[3] / 2);
  const double th = static_cast<double>(roll) * kPi / 180.0;
  const double cs = std::cos(th), sn = std::sin(th);
  // face frame = R^T (p - c) + c
  const float to_face[6] = {static_cast<float>(cs), static_cast<float>(sn), static_cast<float>(cx - (cs * cx + sn * cy)),
                            static_cast<float>(-sn), static_cast<float>(cs), static_cast<float>(cy - (-sn * cx + cs * cy))};
  std::vector<float> upright(static_cast<std::size_t>(2) * k);
  points_transform(pts, k, to_face, upright.data());
  float ub[4];
  box_from_landmarks(upright.data(), k, -1, -1, ub, nullptr);
  const double ux = static_cast<double>(ub[0] + ub[2] / 2) - cx, uy = static_cast<double>(ub[1] + ub[3] / 2) - cy;
  const double icx = cs * ux - sn * uy + cx, icy = sn * ux + cs * uy + cy;
  box[0] = static_cast<float>(icx - static_cast<double>(ub[2] / 2));
  box[1] = static_cast<float>(icy - static_cast<double>(ub[3] / 2));
  box[2] = ub[2];
  box[3] = ub[3];
}

void Landmarker::recrop(const fk_image& image, float* boxes, float* rotations, int n, float* landmarks,
                        float* scores, int* passes) {
  // A face whose predicted eyes disagree with the crop's roll is cropped again around its predicted
  // points: their tight box in the face's frame and their eye roll (what the tracker does from frame
  // to frame). The detector box of a turned face is an axis-aligned box around it, too loose for an
  // upright crop; the points fix the box as well as the roll.
  if (options_.recrop_degrees < 0 || options_.max_recrops == 0) return;
  const int k = card_.num_keypoints;
  std::vector<int> redo;
  std::vector<float> b, r, lm, sc;
  const std::vector<float> first(boxes, boxes + static_cast<std::size_t>(4) * n);
  for (int round = 0; round < options_.max_recrops; ++round) {
    redo.clear();
    b.clear();
    r.clear();
    for (int i = 0; i < n; ++i) {
      const float predicted = eye_roll(landmarks + 2 * k * i);
      if (std::fabs(angle_difference(predicted, rotations[i])) > options_.recrop_degrees) {
        float box[4], roll = 0.0f;
        track_box(landmarks + 2 * k * i, box, &roll);
        // Points that do not look like a face in the first box (an untrained model, a miss) keep the
        // box and take only the roll: the point box must sit near its centre at 0.6-1.6x its size.
        const float* old = first.data() + 4 * i;
        const double ocx = old[0] + 0.5 * old[2], ocy = old[1] + 0.5 * old[3];
        const double cx = box[0] + 0.5 * box[2], cy = box[1] + 0.5 * box[3];
        const double oside = std::max(old[2], old[3]), side = std::max(box[2], box[3]);
        const bool plausible = box[2] > 0.0f && box[3] > 0.0f && std::fabs(cx - ocx) <= 0.25 * oside &&
                               std::fabs(cy - ocy) <= 0.25 * oside && side >= 0.6 * oside && side <= 1.6 * oside;
        if (!plausible) {
          std::copy(boxes + 4 * i, boxes + 4 * i + 4, box);
          roll = predicted;
        }
        redo.push_back(i);
        b.insert(b.end(), box, box + 4);
        r.push_back(roll);
      }
    }
    if (redo.empty()) return;
    const int m = static_cast<int>(redo.size());
    lm.resize(static_cast<std::size_t>(2) * k * m);
    sc.resize(static_cast<std::size_t>(k) * m);
    if (!crop(image, b.data(), r.data(), m, true)) return;  // a box off the image: keep what we have
    infer(m, lm.data(), sc.data());
    for (int j = 0; j < m; ++j) {
      const int i = redo[j];
      rotations[i] = r[j];
      std::copy(b.begin() + 4 * j, b.begin() + 4 * (j + 1), boxes + 4 * i);
      std::copy(lm.begin() + 2 * k * j, lm.begin() + 2 * k * (j + 1), landmarks + 2 * k * i);
      std::copy(sc.begin() + k * j, sc.begin() + k * (j + 1), scores + k * i);
      passes[i] += 1;
    }
  }
}

void Landmarker::turn_check(const fk_image& image, float* boxes, float* rotations, int n, float* landmarks,
                            float* scores, int* passes) {
  // A detector that read a turned face's eyes wrongly (the wrong way round, or a quarter turn off on
  // a small, turned face) gives a crop the network cannot fit: its heatmap peaks stay low. Such a face
  // is cropped again at +90, +180 and +270 degrees in the same box, and at 0, +90, +180 and +270 in
  // the box shrunk to 0.6x about its centre (a turned face's detection box can be 2-3x the face, and
  // the points of a fit in it are too poor for the re-crop to find the face); one batched call. The
  // best-scoring fit wins if it beats the first, and is then re-cropped at its own predicted roll.
  if (!(options_.turn_threshold > 0.0f)) return;
  constexpr double kScales[] = {1.0, 0.6};  // the first is the box of the fit being checked
  constexpr int kTurns = 4 * static_cast<int>(std::size(kScales)) - 1;  // every scale x 4 turns but the first fit
  const int k = card_.num_keypoints;
  std::vector<int> low;
  std::vector<float> b, r;
  for (int i = 0; i < n; ++i) {
    if (mean_of(scores + k * i, k) < options_.turn_threshold) {
      low.push_back(i);
      const float* o = boxes + 4 * i;
      for (std::size_t si = 0; si < std::size(kScales); ++si) {
        const float w = static_cast<float>(o[2] * kScales[si]), h = static_cast<float>(o[3] * kScales[si]);
        const float sb[4] = {o[0] + 0.5f * (o[2] - w), o[1] + 0.5f * (o[3] - h), w, h};
        for (int t = (si == 0 ? 1 : 0); t < 4; ++t) {
          b.insert(b.end(), sb, sb + 4);  // a box centred on the crop: a turn keeps it
          r.push_back(static_cast<float>(angle_difference(static_cast<double>(rotations[i]) + 90.0 * t, 0.0)));
        }
      }
    }
  }
  if (low.empty()) return;
  const int m = static_cast<int>(low.size());
  std::vector<float> lm(static_cast<std::size_t>(2) * k * kTurns * m), sc(static_cast<std::size_t>(k) * kTurns * m);
  if (!crop(image, b.data(), r.data(), kTurns * m, true)) return;  // a box off the image: keep what we have
  infer(kTurns * m, lm.data(), sc.data());
  std::vector<int> taken;  // index into the turned crops
  for (int j = 0; j < m; ++j) {
    const int i = low[j];
    passes[i] += kTurns;
    int best = -1;
    float best_score = mean_of(scores + k * i, k);
    for (int t = 0; t < kTurns; ++t) {
      const int c = kTurns * j + t;
      const float s = mean_of(sc.data() + k * c, k);
      if (s > best_score) best = c, best_score = s;
    }
    if (best >= 0) taken.push_back(best);
  }
  if (taken.empty()) return;
  const int t = static_cast<int>(taken.size());
  std::vector<float> tb, tr, tl, ts;
  std::vector<int> tp(static_cast<std::size_t>(t), 0);
  for (int c : taken) {
    tb.insert(tb.end(), b.begin() + 4 * c, b.begin() + 4 * (c + 1));
    tr.push_back(r[c]);
    tl.insert(tl.end(), lm.begin() + 2 * k * c, lm.begin() + 2 * k * (c + 1));
    ts.insert(ts.end(), sc.begin() + k * c, sc.begin() + k * (c + 1));
  }
  recrop(image, tb.data(), tr.data(), t, tl.data(), ts.data(), tp.data());
  for (int q = 0; q < t; ++q) {
    const int i = low[taken[q] / kTurns];
    rotations[i] = tr[q];
    std::copy(tb.begin() + 4 * q, tb.begin() + 4 * (q + 1), boxes + 4 * i);
    std::copy(tl.begin() + 2 * k * q, tl.begin() + 2 * k * (q + 1), landmarks + 2 * k * i);
    std::copy(ts.begin() + k * q, ts.begin() + k * (q + 1), scores + k * i);
    passes[i] += tp[q];
  }
}

int Landmarker::detections_from(const fk_image& image, const fk_detections* given, std::vector<fk_detection>& dets,
                                const fk_box_transform** transform, bool* ran) {
  *transform = &options_.detector_transform;
  *ran = false;
  if (given) {
    require(given->count >= 0, format("detections->count must be >= 0 (got %d)", given->count));
    require(given->count == 0 || given->items, "detections->items is NULL");
    if (given->transform) {
      check_transform(*given->transform, "detections->transform");
      *transform = given->transform;
    }
    dets.assign(given->items, given->items + given->count);
    *ran = true;
  } else if (options_.detector) {
    dets.resize(static_cast<std::size_t>(options_.max_detections));
    int count = 0;
    const int rc = options_.detector(options_.detector_user, &image, dets.data(), options_.max_detections, &count);
    if (rc != 0) fail(FK_ERR_CALLBACK, format("the detector callback failed (returned %d)", rc));
    require(count >= 0 && count <= options_.max_detections,
            format("the detector callback returned count %d outside [0, %d]", count, options_.max_detections));
    dets.resize(static_cast<std::size_t>(count));
    *ran = true;
  } else {
    dets.clear();
  }
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const fk_detection& d = dets[i];
    require_finite(d.box, 4, "detection box");
    require(d.box[2] > 0 && d.box[3] > 0, format("detection %zu: box width and height must be > 0", i));
    require(d.num_keypoints >= 0 && d.num_keypoints <= 5,
            format("detection %zu: num_keypoints must be in [0, 5] (got %d)", i, d.num_keypoints));
    if (d.num_keypoints) require_finite(d.keypoints, 2 * d.num_keypoints, "detection keypoints");
  }
  return static_cast<int>(dets.size());
}

static void check_result(const fk_landmarker_result& out) {
  require(out.capacity >= 1, format("out->capacity must be >= 1 (got %d)", out.capacity));
  require_not_null(out.faces, "out->faces");
  require_not_null(out.landmarks, "out->landmarks");
  require_not_null(out.scores, "out->scores");
}

void Landmarker::process(const fk_image& image, const fk_detections* detections, double timestamp,
                         fk_landmarker_result& out) {
  check_result(out);
  out.count = 0;
  out.detector_ran = 0;
  out.lost = 0;
  if (options_.mode == FK_MODE_IMAGE) {
    process_image(image, detections, out);
  } else {
    process_video(image, detections, timestamp, out);
  }
}

void Landmarker::process_image(const fk_image& image, const fk_detections* detections, fk_landmarker_result& out) {
  require(detections || options_.detector, "no detections given and no detector callback in the options");
  std::vector<fk_detection> dets;
  const fk_box_transform* transform = nullptr;
  bool ran = false;
  const int found = detections_from(image, detections, dets, &transform, &ran);
  out.detector_ran = ran ? 1 : 0;
  const int n = std::min(found, out.capacity);
  if (n == 0) return;
  const int k = card_.num_keypoints;
  std::vector<float> boxes(static_cast<std::size_t>(4) * n), rotations(static_cast<std::size_t>(n));
  std::vector<int> passes(static_cast<std::size_t>(n), 1);
  for (int i = 0; i < n; ++i) {
    rotations[i] = detection_roll(dets[i]);
    apply_box_transform(*transform, dets[i].box, rotations[i], boxes.data() + 4 * i);
  }
  crop(image, boxes.data(), rotations.data(), n, false);
  infer(n, out.landmarks, out.scores);
  recrop(image, boxes.data(), rotations.data(), n, out.landmarks, out.scores, passes.data());
  turn_check(image, boxes.data(), rotations.data(), n, out.landmarks, out.scores, passes.data());
  for (int i = 0; i < n; ++i) {
    fk_face& f = out.faces[i];
    std::copy(boxes.begin() + 4 * i, boxes.begin() + 4 * i + 4, f.box);
    f.rotation_deg = rotations[i];
    f.score = mean_of(out.scores + k * i, k);
    f.detection_index = i;
    f.passes = passes[i];
    if (out.raw_landmarks) std::copy(out.landmarks + 2 * k * i, out.landmarks + 2 * k * (i + 1), out.raw_landmarks + 2 * k * i);
  }
  out.count = n;
}

void Landmarker::process_video(const fk_image& image, const fk_detections* detections, double timestamp,
                               fk_landmarker_result& out) {
  require(std::isfinite(timestamp) && (!has_time_ || timestamp > last_time_),
          has_time_ ? format("timestamps must be finite and strictly increasing, got %.17g after %.17g", timestamp, last_time_)
                    : format("timestamp must be finite, got %g", timestamp));
  const int k = card_.num_keypoints;
  fk_face& f = out.faces[0];
  float* lm = out.landmarks;
  float* sc = out.scores;
  bool have = false;
  if (tracking_) {
    float box[4], roll = 0.0f;
    bool ok = true;
    try {
      track_box(previous_.data(), box, &roll);
    } catch (const Error& e) {
      if (e.status() != FK_ERR_INVALID_ARGUMENT && e.status() != FK_ERR_NON_FINITE) throw;
      ok = false;
    }
    ok = ok && !(std::min(box[2], box[3]) < options_.min_face);
    ok = ok && crop(image, box, &roll, 1, true);
    if (ok) {
      infer(1, lm, sc);
      const float score = mean_of(sc, k);
      if (score >= options_.loss_threshold) {
        std::copy(box, box + 4, f.box);
        f.rotation_deg = roll;
        f.score = score;
        f.detection_index = -1;
        f.passes = 1;
        have = true;
      }
    }
    if (!have) {
      out.lost = 1;
      tracking_ = false;
      previous_.clear();
      smoother_reset(*smoother_);
    }
  }
  if (!have) {
    std::vector<fk_detection> dets;
    const fk_box_transform* transform = nullptr;
    bool ran = false;
    const int found = detections_from(image, detections, dets, &transform, &ran);
    out.detector_ran = ran ? 1 : 0;
    if (found > 0) {
      float box[4];
      float roll = detection_roll(dets[0]);
      apply_box_transform(*transform, dets[0].box, roll, box);
      int passes = 1;
      if (crop(image, box, &roll, 1, true)) {
        infer(1, lm, sc);
        recrop(image, box, &roll, 1, lm, sc, &passes);
        turn_check(image, box, &roll, 1, lm, sc, &passes);
        const float score = mean_of(sc, k);
        if (score >= options_.loss_threshold) {
          std::copy(box, box + 4, f.box);
          f.rotation_deg = roll;
          f.score = score;
          f.detection_index = 0;
          f.passes = passes;
          have = true;
        }
      }
    }
  }
  has_time_ = true;
  last_time_ = timestamp;
  if (!have) return;
  previous_.assign(lm, lm + 2 * k);
  tracking_ = true;
  if (out.raw_landmarks) std::copy(lm, lm + 2 * k, out.raw_landmarks);
  if (options_.smooth) smoother_apply(*smoother_, lm, timestamp, lm);
  out.count = 1;
}

}  // namespace facekd
