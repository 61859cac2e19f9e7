// The one model-card parser of the runtime (python/facekd/card.py writes cards; this reads them
// for every binding). Each error names the field.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "landmarker.hpp"

namespace facekd {
namespace {

using nlohmann::json;

constexpr int kCardFormat = 1;

[[noreturn]] void bad(const std::string& message) { fail(FK_ERR_INVALID_ARGUMENT, "model card: " + message); }

const json& member(const json& obj, const char* key, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(std::string(where) + "missing field '" + key + "'");
  return *it;
}

int int_field(const json& obj, const char* key, const char* where) {
  const json& v = member(obj, key, where);
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())) {
    bad(std::string(where) + "'" + key + "' must be an integer, got " + v.dump());
  }
  const double d = v.get<double>();
  if (std::fabs(d) > 1e9) bad(std::string(where) + "'" + key + "' is out of range: " + v.dump());
  return static_cast<int>(d);
}

double number_field(const json& obj, const char* key, double fallback, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number()) bad(std::string(where) + "'" + key + "' must be a number, got " + it->dump());
  const double d = it->get<double>();
  if (!std::isfinite(d)) bad(std::string(where) + "'" + key + "' must be finite");
  return d;
}

std::string string_field(const json& obj, const char* key, const char* fallback, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_string()) bad(std::string(where) + "'" + key + "' must be a string, got " + it->dump());
  return it->get<std::string>();
}

void triple(const json& card, const char* key, float out[3]) {
  auto it = card.find(key);
  if (it == card.end()) return;  // the ImageNet default of Card
  if (!it->is_array() || it->size() != 3) bad(std::string("'") + key + "' must be 3 numbers, got " + it->dump());
  for (std::size_t c = 0; c < 3; ++c) {
    if (!(*it)[c].is_number()) bad(std::string("'") + key + "' must be 3 numbers, got " + it->dump());
    out[c] = static_cast<float>((*it)[c].get<double>());
    if (!std::isfinite(out[c])) bad(std::string("'") + key + "' must be finite");
  }
}

}  // namespace

Card parse_card(const char* json_text) {
  require_not_null(json_text, "card_json");
  json card;
  try {
    card = json::parse(json_text);
  } catch (const json::parse_error& e) {
    bad(std::string("invalid JSON (") + e.what() + ")");
  }
  if (!card.is_object()) bad("expected a JSON object, got " + std::string(card.type_name()));
  Card c;
  const int card_format = card.contains("format") ? int_field(card, "format", "") : kCardFormat;
  if (card_format > kCardFormat) {
    bad(format("card format %d is newer than this facekd understands (%d)", card_format, kCardFormat));
  }
  c.num_keypoints = int_field(card, "num_keypoints", "");
  if (c.num_keypoints < 1 || c.num_keypoints > 100000) {
    bad(format("num_keypoints must be in [1, 100000], got %d", c.num_keypoints));
  }
  c.input_size = int_field(card, "input_size", "");
  if (c.input_size < 8 || c.input_size > 4096) bad(format("input_size must be in [8, 4096], got %d", c.input_size));
  c.crop_scale = static_cast<float>(number_field(card, "crop_scale", 1.25, ""));
  if (!(c.crop_scale > 0)) bad("crop_scale must be > 0");
  c.turn_threshold = static_cast<float>(number_field(card, "turn_threshold", 0.4, ""));
  if (!(c.turn_threshold >= 0)) bad("turn_threshold must be >= 0");
  c.loss_threshold = static_cast<float>(number_field(card, "loss_threshold", 0.3, ""));
  if (!(c.loss_threshold >= 0)) bad("loss_threshold must be >= 0");
  triple(card, "mean", c.mean);
  triple(card, "std", c.std);
  for (float s : c.std) {
    if (!(s > 0)) bad("std must be > 0");
  }
  if (string_field(card, "pixel_format", "RGB", "") != "RGB") bad("pixel_format must be 'RGB'");

  const std::string output_type = string_field(card, "output_type", "heatmap", "");
  fk_decode_params_default(&c.decode);
  if (output_type == "heatmap") {
    c.output_kind = FK_OUTPUT_HEATMAP;
    const json& codec = member(card, "codec", "a heatmap model needs ");
    if (!codec.is_object()) bad("'codec' must be an object");
    const char* w = "codec: ";
    if (string_field(codec, "type", "heatmap", w) != "heatmap") bad("codec: 'type' must be 'heatmap' for a heatmap model");
    if (int_field(codec, "input_size", w) != c.input_size) bad("codec: input_size differs from the card's input_size");
    c.heatmap_size = int_field(codec, "heatmap_size", w);
    if (c.heatmap_size < 1 || c.heatmap_size > c.input_size) {
      bad(format("codec: heatmap_size must be in [1, input_size = %d], got %d", c.input_size, c.heatmap_size));
    }
    const double sigma = number_field(codec, "sigma", -1.0, w);
    if (!(sigma > 0 && sigma <= 1000)) bad("codec: 'sigma' must be in (0, 1000]");
    const std::string mode = string_field(codec, "decode", "dark", w);
    if (mode == "dark") {
      c.decode.mode = FK_DECODE_DARK;
    } else if (mode == "argmax") {
      c.decode.mode = FK_DECODE_ARGMAX;
    } else if (mode == "softargmax") {
      c.decode.mode = FK_DECODE_SOFTARGMAX;
    } else {
      bad("codec: 'decode' must be dark, argmax or softargmax, got '" + mode + "'");
    }
    c.decode.blur_sigma = static_cast<float>(sigma);
    c.decode.beta = static_cast<float>(number_field(codec, "beta", 1.0, w));
    if (!(c.decode.beta > 0)) bad("codec: 'beta' must be > 0");
  } else if (output_type == "coords") {
    c.output_kind = FK_OUTPUT_COORDS;
  } else {
    bad("output_type must be 'heatmap' or 'coords', got '" + output_type + "'");
  }

  const json& scheme = member(card, "scheme", "");
  if (!scheme.is_object()) bad("'scheme' must be an object");
  if (scheme.contains("num_points") && int_field(scheme, "num_points", "scheme: ") != c.num_keypoints) {
    bad("scheme: num_points differs from num_keypoints");
  }
  const json& eyes = member(scheme, "eye_corners", "scheme: ");
  if (!eyes.is_array() || eyes.size() != 2 || !eyes[0].is_number_integer() || !eyes[1].is_number_integer()) {
    bad("scheme: 'eye_corners' must be two point indices, got " + eyes.dump());
  }
  c.eye_left = eyes[0].get<int>();
  c.eye_right = eyes[1].get<int>();
  if (c.eye_left < 0 || c.eye_right < 0 || c.eye_left >= c.num_keypoints || c.eye_right >= c.num_keypoints ||
      c.eye_left == c.eye_right) {
    bad("scheme: 'eye_corners' must be two different indices in [0, num_keypoints), got " + eyes.dump());
  }
  return c;
}

}  // namespace facekd
