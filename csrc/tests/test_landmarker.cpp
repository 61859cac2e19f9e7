// fk_landmarker: the golden tracking sequence (tests/golden/sequence.txt, fixed model outputs
// replayed call by call), the roll estimate, the roll re-crop loop and card / option errors.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "golden.hpp"
#include "test_util.hpp"

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kGolden = FACEKD_GOLDEN_DIR;

struct Replay {
  std::vector<int> calls_n;
  std::vector<float> outputs;
  size_t per_face = 0;
  size_t call = 0, face = 0;
  int last_size = 0;
};

int replay_model(void* user, const float*, int n, int size, float* out, size_t count) {
  auto* r = static_cast<Replay*>(user);
  if (r->call >= r->calls_n.size() || n != r->calls_n[r->call]) return 7;
  if (count != static_cast<size_t>(n) * r->per_face) return 8;
  std::copy(r->outputs.begin() + static_cast<long>(r->face * r->per_face),
            r->outputs.begin() + static_cast<long>((r->face + n) * r->per_face), out);
  r->call += 1;
  r->face += static_cast<size_t>(n);
  r->last_size = size;
  return 0;
}

void check_near(const float* got, const std::vector<float>& want, size_t offset, size_t n, double tol,
                const char* what, int frame) {
  for (size_t i = 0; i < n; ++i) {
    CHECK_MESSAGE(std::fabs(got[i] - want[offset + i]) <= tol,
                  "frame " << frame << " " << what << "[" << i << "] = " << got[i] << ", expected " << want[offset + i]);
  }
}

}  // namespace

TEST_CASE("landmarker: the golden sequence is reproduced to 1e-4 px") {
  const std::vector<golden::Case> cases = golden::read_file(kGolden + "/sequence.txt");
  REQUIRE(cases.size() == 1);
  const golden::Case& c = cases[0];
  const std::string card = read_text(kGolden + "/sequence_card.json");
  Replay replay;
  for (double v : c.at("calls_n").values) replay.calls_n.push_back(static_cast<int>(v));
  replay.outputs = c.f32("outputs");
  const auto& oshape = c.at("outputs").shape;
  replay.per_face = static_cast<size_t>(oshape[1] * oshape[2] * oshape[3]);

  fk_landmarker_options o;
  REQUIRE(fk_landmarker_options_default(&o) == FK_OK);
  o.mode = FK_MODE_VIDEO;
  const std::vector<float> tr = c.f32("transform");
  o.detector_transform = fk_box_transform{tr[0], tr[1], tr[2], tr[3]};
  o.recrop_degrees = static_cast<float>(c.scalar("recrop_degrees"));
  o.max_recrops = static_cast<int>(c.scalar("max_recrops"));
  o.loss_threshold = static_cast<float>(c.scalar("loss_threshold"));
  o.min_face = static_cast<float>(c.scalar("min_face"));
  o.smooth = static_cast<int>(c.scalar("smooth"));
  o.smoother = fk_smoother_params{static_cast<float>(c.scalar("min_cutoff")), static_cast<float>(c.scalar("beta")),
                                  static_cast<float>(c.scalar("d_cutoff"))};
  o.model = replay_model;
  o.model_user = &replay;
  fk_landmarker* lm = nullptr;
  REQUIRE(fk_landmarker_create(card.c_str(), &o, &lm) == FK_OK);
  fk_landmarker_info info;
  REQUIRE(fk_landmarker_info_get(lm, &info) == FK_OK);
  const int k = info.num_keypoints;

  const std::vector<unsigned char> data = c.u8("data");
  const fk_image image{data.data(), static_cast<int>(c.scalar("width")), static_cast<int>(c.scalar("height")),
                       static_cast<int>(c.scalar("stride")), FK_PIXEL_RGB8, nullptr, 0};
  const std::vector<float> boxes = c.f32("det_boxes"), scores = c.f32("det_scores"), kps = c.f32("det_kps");
  const std::vector<double>& kpn = c.at("det_kpn").values;
  const std::vector<double>& ts = c.at("timestamps").values;
  const std::vector<float> want_lm = c.f32("landmarks"), want_raw = c.f32("raw_landmarks"), want_box = c.f32("box"),
                           want_rot = c.f32("rotation_deg");
  size_t j = 0;
  for (size_t t = 0; t < ts.size(); ++t) {
    const int count = static_cast<int>(c.at("det_count").values[t]);
    std::vector<fk_detection> dets;
    for (int i = 0; i < count; ++i, ++j) {
      fk_detection d{};
      for (int q = 0; q < 4; ++q) d.box[q] = boxes[4 * j + q];
      d.score = scores[j];
      d.num_keypoints = static_cast<int>(kpn[j]);
      for (int q = 0; q < 10; ++q) d.keypoints[q] = kps[10 * j + q];
      dets.push_back(d);
    }
    const fk_detections given{dets.data(), count, nullptr};
    fk_face face{};
    std::vector<float> pts(2 * k), raw(2 * k), sc(k);
    fk_landmarker_result r{1, &face, pts.data(), sc.data(), raw.data(), 0, 0, 0};
    REQUIRE(fk_landmarker_process(lm, &image, count < 0 ? nullptr : &given, ts[t], &r) == FK_OK);
    const int frame = static_cast<int>(t);
    CHECK(r.count == static_cast<int>(c.at("count").values[t]));
    CHECK(r.detector_ran == static_cast<int>(c.at("detector_ran").values[t]));
    CHECK(r.lost == static_cast<int>(c.at("lost").values[t]));
    if (r.count == 1) {
      check_near(pts.data(), want_lm, 2 * k * t, 2 * k, 1e-4, "landmarks", frame);
      check_near(raw.data(), want_raw, 2 * k * t, 2 * k, 1e-4, "raw_landmarks", frame);
      check_near(face.box, want_box, 4 * t, 4, 1e-4, "box", frame);
      check_near(&face.rotation_deg, want_rot, t, 1, 1e-4, "rotation_deg", frame);
      CHECK(face.detection_index == static_cast<int>(c.at("detection_index").values[t]));
      CHECK(face.passes == static_cast<int>(c.at("passes").values[t]));
    }
  }
  CHECK(replay.call == replay.calls_n.size());
  CHECK(replay.last_size == info.input_size);
  fk_landmarker_destroy(lm);
}

namespace {

// A model that "sees" K points of a template whose eye corners are tilted by `tilt` degrees in every
// crop it gets: the predicted roll is always the crop's roll + tilt (so the re-crop loop never
// converges when |tilt| > recrop_degrees) or converges after one re-crop (tilt_after_first = 0).
struct TiltModel {
  int k = 0, h = 0, s = 0;
  float tilt = 0.0f;      // first call
  float tilt_later = 0.0f;  // later calls
  int calls = 0;
  float amp = 1.0f;        // heatmap peak (the landmark score) of the first call
  float amp_later = 1.0f;  // of later calls
};

int tilt_model(void* user, const float*, int n, int, float* out, size_t) {
  auto* m = static_cast<TiltModel*>(user);
  const double tilt = (m->calls == 0 ? m->tilt : m->tilt_later) * 3.14159265358979 / 180.0;
  const double amp = m->calls == 0 ? m->amp : m->amp_later;
  m->calls += 1;
  const double c = (m->h - 1) / 2.0;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < m->k; ++p) {
      // eye corners (points 0, 1) at +-r on a line turned by tilt; the others on a circle
      const double r = m->h * 0.3;
      const double a = p == 0 ? 3.14159265358979 + tilt : p == 1 ? tilt : tilt + 1.0 + p;
      const double px = c + r * std::cos(a), py = c + r * std::sin(a);
      float* map = out + (static_cast<size_t>(i) * m->k + p) * m->h * m->h;
      for (int y = 0; y < m->h; ++y) {
        for (int x = 0; x < m->h; ++x) {
          map[y * m->h + x] = static_cast<float>(amp * std::exp(-((x - px) * (x - px) + (y - py) * (y - py)) / 2.0));
        }
      }
    }
  }
  return 0;
}

const char* kCard =
    R"({"num_keypoints": 6, "input_size": 64, "output_type": "heatmap",
        "codec": {"type": "heatmap", "input_size": 64, "heatmap_size": 32, "sigma": 1.0, "decode": "dark"},
        "crop_scale": 1.25, "scheme": {"name": "six", "num_points": 6, "eye_corners": [0, 1]}})";

struct RollRun {
  fk_face face{};
  int count = 0;
  int calls = 0;
};

// One IMAGE-mode call of a landmarker made with `o` (the 6-point card) on one given detection.
RollRun process_one(const fk_landmarker_options& o, const fk_image& image, const fk_detection& det,
                    const char* card = kCard) {
  fk_landmarker* lm = nullptr;
  REQUIRE(fk_landmarker_create(card, &o, &lm) == FK_OK);
  RollRun run;
  std::vector<float> pts(12), sc(6);
  fk_landmarker_result r{1, &run.face, pts.data(), sc.data(), nullptr, 0, 0, 0};
  const fk_detections given{&det, 1, nullptr};
  REQUIRE(fk_landmarker_process(lm, &image, &given, 0.0, &r) == FK_OK);
  run.count = r.count;
  fk_landmarker_destroy(lm);
  return run;
}

RollRun run_image(TiltModel& m, const fk_detection& det, float recrop_degrees, int max_recrops,
                  float turn_threshold = 0.4f) {
  fk_landmarker_options o;
  fk_landmarker_options_default(&o);
  o.turn_threshold = turn_threshold;
  o.model = tilt_model;
  o.model_user = &m;
  o.recrop_degrees = recrop_degrees;
  o.max_recrops = max_recrops;
  std::vector<unsigned char> px(200 * 160 * 3, 128);
  const fk_image image{px.data(), 200, 160, 600, FK_PIXEL_RGB8, nullptr, 0};
  RollRun run = process_one(o, image, det);
  run.calls = m.calls;
  return run;
}

}  // namespace

TEST_CASE("landmarker: roll of the detection's eye keypoints") {
  fk_detection d{};
  d.num_keypoints = 5;
  const float kp[10] = {10, 20, 10 + 17.320508f, 30, 0, 0, 0, 0, 0, 0};  // 30 degrees
  std::copy(kp, kp + 10, d.keypoints);
  float roll = 0.0f;
  REQUIRE(fk_detection_roll(&d, &roll) == FK_OK);
  CHECK(roll == doctest::Approx(30.0).epsilon(1e-5));
  d.keypoints[2] = 10 - 17.320508f;  // right eye left of the left eye: an upside-down face
  REQUIRE(fk_detection_roll(&d, &roll) == FK_OK);
  CHECK(roll == doctest::Approx(150.0).epsilon(1e-5));
  d.num_keypoints = 0;
  REQUIRE(fk_detection_roll(&d, &roll) == FK_OK);
  CHECK(roll == 0.0f);
  d.num_keypoints = 2;
  d.keypoints[0] = NAN;
  CHECK(fk_detection_roll(&d, &roll) == FK_ERR_NON_FINITE);
}

TEST_CASE("landmarker: the crop starts at the keypoint roll and re-crops at the predicted eyes") {
  fk_detection det{};
  det.box[0] = 60, det.box[1] = 40, det.box[2] = 60, det.box[3] = 60;
  det.num_keypoints = 2;
  const double a = 25.0 * 3.14159265358979 / 180.0;
  det.keypoints[0] = 80, det.keypoints[1] = 70;
  det.keypoints[2] = static_cast<float>(80 + 20 * std::cos(a)), det.keypoints[3] = static_cast<float>(70 + 20 * std::sin(a));

  SUBCASE("eyes agree with the keypoints: one pass, the keypoint roll") {
    TiltModel m{6, 32, 64, 0.0f, 0.0f, 0};
    const RollRun r = run_image(m, det, 5.0f, 2);
    CHECK(r.count == 1);
    CHECK(r.calls == 1);
    CHECK(r.face.passes == 1);
    CHECK(r.face.rotation_deg == doctest::Approx(25.0).epsilon(1e-4));
  }
  SUBCASE("eyes 12 degrees off in the first crop, level in the second: one re-crop") {
    TiltModel m{6, 32, 64, 12.0f, 0.0f, 0};
    const RollRun r = run_image(m, det, 5.0f, 2);
    CHECK(r.calls == 2);
    CHECK(r.face.passes == 2);
    CHECK(r.face.rotation_deg == doctest::Approx(37.0).epsilon(2e-3));
  }
  SUBCASE("a difference below the threshold does not re-crop") {
    TiltModel m{6, 32, 64, 3.0f, 3.0f, 0};
    const RollRun r = run_image(m, det, 5.0f, 2);
    CHECK(r.calls == 1);
    CHECK(r.face.rotation_deg == doctest::Approx(25.0).epsilon(1e-4));
  }
  SUBCASE("never converging: at most max_recrops re-crops") {
    TiltModel m{6, 32, 64, 20.0f, 20.0f, 0};
    const RollRun r = run_image(m, det, 5.0f, 2);
    CHECK(r.calls == 3);
    CHECK(r.face.passes == 3);
    CHECK(r.face.rotation_deg == doctest::Approx(65.0).epsilon(2e-3));
  }
  SUBCASE("re-crops off") {
    TiltModel m{6, 32, 64, 20.0f, 20.0f, 0};
    const RollRun r = run_image(m, det, -1.0f, 2);
    CHECK(r.calls == 1);
    CHECK(r.face.rotation_deg == doctest::Approx(25.0).epsilon(1e-4));
  }
}

namespace {
// Peaks 0.9 for crops whose top quarter is brighter than their bottom quarter, 0.2 otherwise: the
// "face" is a bright patch that a crop must see above its centre.
struct OrientModel {
  int k = 6, h = 32, calls = 0;
  std::vector<int> sizes;
};

int orient_model(void* user, const float* crops, int n, int size, float* out, size_t floats) {
  auto* m = static_cast<OrientModel*>(user);
  m->calls += 1;
  m->sizes.push_back(n);
  TiltModel t{m->k, m->h, size, 0.0f, 0.0f, 0};
  tilt_model(&t, crops, n, size, out, floats);
  const int q = size / 4;
  for (int i = 0; i < n; ++i) {
    const float* c = crops + static_cast<size_t>(i) * 3 * size * size;  // channel 0
    double top = 0.0, bottom = 0.0;
    for (int y = 0; y < q; ++y) {
      for (int x = 0; x < size; ++x) top += c[y * size + x], bottom += c[(size - 1 - y) * size + x];
    }
    const float amp = top > bottom + 0.5 * q * size ? 0.9f : 0.2f;
    for (size_t v = 0; v < static_cast<size_t>(m->k) * m->h * m->h; ++v) out[static_cast<size_t>(i) * m->k * m->h * m->h + v] *= amp;
  }
  return 0;
}

// A gray 200 x 200 image with a bright patch (x0, y0, x1, y1); one detection (box 50..150, roll 0).
// turn_threshold NAN: the options' default (the card's value).
RollRun run_orient(OrientModel& m, int x0, int y0, int x1, int y1, float turn_threshold, int max_recrops = 0,
                   const char* card = kCard) {
  fk_landmarker_options o;
  fk_landmarker_options_default(&o);
  o.model = orient_model;
  o.model_user = &m;
  o.max_recrops = max_recrops;
  if (!std::isnan(turn_threshold)) o.turn_threshold = turn_threshold;
  std::vector<unsigned char> px(200 * 200 * 3, 60);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) px[(y * 200 + x) * 3] = px[(y * 200 + x) * 3 + 1] = px[(y * 200 + x) * 3 + 2] = 250;
  }
  const fk_image image{px.data(), 200, 200, 600, FK_PIXEL_RGB8, nullptr, 0};
  fk_detection det{};
  det.box[0] = 50, det.box[1] = 50, det.box[2] = 100, det.box[3] = 100;
  RollRun run = process_one(o, image, det, card);
  run.calls = m.calls;
  return run;
}

const char* kCardTurn01 =
    R"({"num_keypoints": 6, "input_size": 64, "output_type": "heatmap", "turn_threshold": 0.1,
        "codec": {"type": "heatmap", "input_size": 64, "heatmap_size": 32, "sigma": 1.0, "decode": "dark"},
        "crop_scale": 1.25, "scheme": {"name": "six", "num_points": 6, "eye_corners": [0, 1]}})";
}  // namespace

TEST_CASE("landmarker: the default turn threshold is the card's (0.4 without one)") {
  fk_landmarker_options o;
  fk_landmarker_options_default(&o);
  CHECK(std::isnan(o.turn_threshold));
  CHECK(std::isnan(o.loss_threshold));  // the card's loss_threshold (0.3 without one)
  SUBCASE("a card without turn_threshold: 0.4, so a 0.2-score fit is tried at the turns") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 120, 140, 145, NAN);
    CHECK(m.sizes == std::vector<int>{1, 7});
    CHECK(std::fabs(std::fabs(r.face.rotation_deg) - 180.0f) < 1e-3f);
  }
  SUBCASE("a card with turn_threshold 0.1: the 0.2-score fit stays") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 120, 140, 145, NAN, 0, kCardTurn01);
    CHECK(m.sizes == std::vector<int>{1});
    CHECK(r.face.rotation_deg == 0.0f);
  }
  SUBCASE("an explicit option overrides the card") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 120, 140, 145, 0.4f, 0, kCardTurn01);
    CHECK(m.sizes == std::vector<int>{1, 7});
  }
  SUBCASE("a negative or non-numeric card value is an error naming it") {
    TiltModel t{6, 32, 64, 0, 0, 0};
    o.model = tilt_model;
    o.model_user = &t;
    fk_landmarker* lm = nullptr;
    std::string bad(kCardTurn01);
    bad.replace(bad.find("0.1"), 3, "-1");
    CHECK_FAILS_WITH(fk_landmarker_create(bad.c_str(), &o, &lm), FK_ERR_INVALID_ARGUMENT, "turn_threshold");
    bad = kCardTurn01;
    bad.replace(bad.find("0.1"), 3, "\"x\"");
    CHECK_FAILS_WITH(fk_landmarker_create(bad.c_str(), &o, &lm), FK_ERR_INVALID_ARGUMENT, "turn_threshold");
    CHECK(lm == nullptr);
    bad = kCardTurn01;
    bad.replace(bad.find("\"turn_threshold\": 0.1"), 21, "\"loss_threshold\": -1");
    CHECK_FAILS_WITH(fk_landmarker_create(bad.c_str(), &o, &lm), FK_ERR_INVALID_ARGUMENT, "loss_threshold");
    CHECK(lm == nullptr);
  }
}

TEST_CASE("landmarker: a low-scoring fit is tried again at quarter and half turns and a smaller box") {
  SUBCASE("the patch below the box: the 180-degree crop fits and is kept") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 120, 140, 145, 0.4f);
    CHECK(r.count == 1);
    CHECK(m.sizes == std::vector<int>{1, 7});  // the first pass, then the 7 candidates in one call
    CHECK(r.face.passes == 8);
    CHECK(std::fabs(std::fabs(r.face.rotation_deg) - 180.0f) < 1e-3f);
    CHECK(r.face.score > 0.6f);
  }
  SUBCASE("the patch right of the box: +90 (the crop's top points to image +x)") {
    OrientModel m;
    const RollRun r = run_orient(m, 120, 60, 145, 140, 0.4f);
    CHECK(r.face.rotation_deg == doctest::Approx(90.0).epsilon(1e-4));
  }
  SUBCASE("the patch left of the box: -90") {
    OrientModel m;
    const RollRun r = run_orient(m, 55, 60, 80, 140, 0.4f);
    CHECK(r.face.rotation_deg == doctest::Approx(-90.0).epsilon(1e-4));
  }
  SUBCASE("no turn fits better: the first fit stays") {
    OrientModel m;
    const RollRun r = run_orient(m, 0, 0, 0, 0, 0.4f);
    CHECK(m.sizes == std::vector<int>{1, 7});
    CHECK(r.face.rotation_deg == 0.0f);
    CHECK(r.face.score < 0.3f);
  }
  SUBCASE("a box twice the face: the upright crop of the smaller box fits and is kept") {
    OrientModel m;
    const RollRun r = run_orient(m, 70, 68, 130, 85, 0.4f);  // fills the top of the 0.6x box's crop only
    CHECK(m.sizes == std::vector<int>{1, 7});
    CHECK(r.face.rotation_deg == 0.0f);
    CHECK(r.face.score > 0.6f);
    CHECK(r.face.box[2] == doctest::Approx(60.0).epsilon(1e-4));
    CHECK(r.face.box[0] == doctest::Approx(70.0).epsilon(1e-4));
  }
  SUBCASE("a fit above the threshold is not tried again") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 55, 140, 80, 0.4f);
    CHECK(m.sizes == std::vector<int>{1});
    CHECK(r.face.passes == 1);
    CHECK(r.face.rotation_deg == 0.0f);
  }
  SUBCASE("turn_threshold 0 turns the check off") {
    OrientModel m;
    const RollRun r = run_orient(m, 60, 120, 140, 145, 0.0f);
    CHECK(m.sizes == std::vector<int>{1});
    CHECK(r.face.rotation_deg == 0.0f);
  }
  SUBCASE("the turned fit is re-cropped at its own predicted roll") {
    TiltModel m{6, 32, 64, 0.0f, 12.0f, 0, 0.2f, 0.9f};  // later calls: eyes 12 degrees off, peaks 0.9
    fk_detection det{};
    det.box[0] = 60, det.box[1] = 40, det.box[2] = 60, det.box[3] = 60;
    const RollRun r = run_image(m, det, 5.0f, 1);
    CHECK(r.calls == 3);  // first, the candidates (one call; a tie keeps the first: +90), one re-crop
    CHECK(r.face.passes == 9);
    CHECK(r.face.rotation_deg == doctest::Approx(102.0).epsilon(2e-3));
  }
}

TEST_CASE("landmarker: card and option errors name the problem") {
  fk_landmarker_options o;
  fk_landmarker_options_default(&o);
  fk_landmarker* lm = nullptr;
  CHECK_FAILS_WITH(fk_landmarker_create(kCard, &o, &lm), FK_ERR_INVALID_ARGUMENT, "model callback");
  CHECK(lm == nullptr);
  TiltModel m{6, 32, 64, 0, 0, 0};
  o.model = tilt_model;
  o.model_user = &m;
  CHECK_FAILS_WITH(fk_landmarker_create("{not json", &o, &lm), FK_ERR_INVALID_ARGUMENT, "invalid JSON");
  CHECK_FAILS_WITH(fk_landmarker_create(R"({"input_size": 64})", &o, &lm), FK_ERR_INVALID_ARGUMENT, "num_keypoints");
  CHECK_FAILS_WITH(fk_landmarker_create(
                       R"({"num_keypoints": 6, "input_size": 64, "codec": {"input_size": 64, "heatmap_size": 32, "sigma": 1},
                           "scheme": {"eye_corners": [0, 9]}})", &o, &lm),
                   FK_ERR_INVALID_ARGUMENT, "eye_corners");
  CHECK_FAILS_WITH(fk_landmarker_create(R"({"num_keypoints": 6, "input_size": 64, "scheme": {"eye_corners": [0, 1]}})",
                                        &o, &lm),
                   FK_ERR_INVALID_ARGUMENT, "codec");
  o.smoother.min_cutoff = -1;
  CHECK_FAILS_WITH(fk_landmarker_create(kCard, &o, &lm), FK_ERR_INVALID_ARGUMENT, "smoother");
  fk_landmarker_options_default(&o);
  o.model = tilt_model;
  o.model_user = &m;
  o.mode = FK_MODE_VIDEO;
  REQUIRE(fk_landmarker_create(kCard, &o, &lm) == FK_OK);
  std::vector<unsigned char> px(100 * 100 * 3, 0);
  const fk_image image{px.data(), 100, 100, 300, FK_PIXEL_RGB8, nullptr, 0};
  fk_face face{};
  std::vector<float> pts(12), sc(6);
  fk_landmarker_result r{1, &face, pts.data(), sc.data(), nullptr, 0, 0, 0};
  fk_detection det{};
  det.box[0] = 20, det.box[1] = 20, det.box[2] = 50, det.box[3] = 50;
  const fk_detections given{&det, 1, nullptr};
  REQUIRE(fk_landmarker_process(lm, &image, &given, 1.0, &r) == FK_OK);
  CHECK(r.count == 1);
  CHECK_FAILS_WITH(fk_landmarker_process(lm, &image, nullptr, 1.0, &r), FK_ERR_INVALID_ARGUMENT, "increasing");
  REQUIRE(fk_landmarker_reset(lm) == FK_OK);
  REQUIRE(fk_landmarker_process(lm, &image, nullptr, 0.5, &r) == FK_OK);  // timestamps start over
  CHECK(r.count == 0);  // nothing tracked, none given, no detector
  fk_landmarker_destroy(lm);
}
