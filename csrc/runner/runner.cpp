// facekd_runner: image + face box + facekd .pte -> landmarks as JSON, on the ExecuTorch runtime.
//
// Pipeline (the same one facekd's Python and mobile code run):
//   decode image (stb_image, RGB8) -> fk_crop_box (card: input_size, crop_scale, mean/std)
//   -> ExecuTorch Module "forward" (XNNPACK delegate) -> fk_decode_heatmaps (card codec)
//   -> fk_heatmap_to_image -> JSON on stdout.
// The model card comes from the program's `get_model_card` method, or from --card FILE.

#include <facekd/c_api.h>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

// The wheel ships the thread-pool library but not its header; these two declarations match
// extension/threadpool/threadpool.h of the same ExecuTorch release.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {

using json = nlohmann::json;
using executorch::extension::Module;
using executorch::runtime::Error;

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kUsage =
    "usage: facekd_runner --model MODEL.pte --image IMAGE --box X,Y,W,H [--card CARD.json]\n"
    "                     [--threads N] [--repeat N]\n"
    "  --box     face box in image pixels (x, y = top-left corner; pixel centres at integers)\n"
    "  --card    model card JSON (default: the card embedded in the .pte)\n"
    "  --threads ExecuTorch/XNNPACK threads (default 1)\n"
    "  --repeat  run the model N times and report the median latency (default 1)\n";

void check(fk_status st, const char* what) {
  if (st != FK_OK) {
    throw Fail(std::string(what) + " failed: " + fk_status_name(st) + ": " + fk_last_error());
  }
}

void check(Error err, const std::string& what) {
  if (err != Error::Ok) {
    throw Fail(what + " failed (ExecuTorch error " + std::to_string(static_cast<int>(err)) + ")");
  }
}

std::vector<float> parse_floats(const std::string& s, size_t n, const char* flag) {
  std::vector<float> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    float v = std::strtof(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !std::isfinite(v)) {
      throw Fail(std::string(flag) + ": not a finite number: '" + item + "'");
    }
    out.push_back(v);
  }
  if (out.size() != n) {
    throw Fail(std::string(flag) + ": expected " + std::to_string(n) + " comma-separated values, got " +
               std::to_string(out.size()));
  }
  return out;
}

int parse_int(const std::string& s, const char* flag, int min_value) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < min_value || v > 1000000) {
    throw Fail(std::string(flag) + ": expected an integer >= " + std::to_string(min_value) + ", got '" + s + "'");
  }
  return static_cast<int>(v);
}

template <typename T>
T card_get(const json& card, const char* key) {
  if (!card.contains(key)) throw Fail(std::string("model card: missing field '") + key + "'");
  try {
    return card.at(key).get<T>();
  } catch (const json::exception& e) {
    throw Fail(std::string("model card: field '") + key + "': " + e.what());
  }
}

// Model card fields the pipeline needs.
struct Card {
  int input_size = 0;
  int num_keypoints = 0;
  float crop_scale = 0.f;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  std::string output_type;
  fk_decode_params decode{};
};

Card parse_card(const json& j) {
  Card c;
  c.input_size = card_get<int>(j, "input_size");
  c.num_keypoints = card_get<int>(j, "num_keypoints");
  c.crop_scale = card_get<float>(j, "crop_scale");
  auto mean = card_get<std::vector<float>>(j, "mean");
  auto std_ = card_get<std::vector<float>>(j, "std");
  if (mean.size() != 3 || std_.size() != 3) throw Fail("model card: mean/std must have 3 values");
  for (int i = 0; i < 3; ++i) {
    c.mean[i] = mean[i];
    c.std[i] = std_[i];
  }
  const auto pixel_format = card_get<std::string>(j, "pixel_format");
  if (pixel_format != "RGB") throw Fail("model card: pixel_format '" + pixel_format + "' is not supported (RGB)");
  c.output_type = card_get<std::string>(j, "output_type");
  check(fk_decode_params_default(&c.decode), "fk_decode_params_default");
  if (c.output_type == "heatmap") {
    const json codec = card_get<json>(j, "codec");
    const auto mode = card_get<std::string>(codec, "decode");
    if (mode == "argmax") {
      c.decode.mode = FK_DECODE_ARGMAX;
    } else if (mode == "dark") {
      c.decode.mode = FK_DECODE_DARK;
      c.decode.blur_sigma = card_get<float>(codec, "sigma");
    } else if (mode == "softargmax") {
      c.decode.mode = FK_DECODE_SOFTARGMAX;
      c.decode.beta = card_get<float>(codec, "beta");
    } else {
      throw Fail("model card: unknown codec decode mode '" + mode + "'");
    }
  } else if (c.output_type != "coords") {
    throw Fail("model card: unknown output_type '" + c.output_type + "'");
  }
  return c;
}

json read_json_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Fail("--card: cannot open " + path);
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw Fail("--card " + path + ": invalid JSON: " + e.what());
  }
}

json embedded_card(Module& module, const std::string& model_path) {
  auto names = module.method_names();
  if (!names.ok()) check(names.error(), "reading the methods of " + model_path);
  if (names->count("get_model_card") == 0) {
    throw Fail(model_path + " has no get_model_card method (not exported by facekd); pass --card");
  }
  auto out = module.execute("get_model_card");
  if (!out.ok()) check(out.error(), "get_model_card");
  const auto& t = out->at(0).toTensor();
  const auto* bytes = t.const_data_ptr<uint8_t>();
  try {
    return json::parse(std::string(reinterpret_cast<const char*>(bytes), static_cast<size_t>(t.numel())));
  } catch (const json::exception& e) {
    throw Fail(model_path + ": embedded model card is not valid JSON: " + e.what());
  }
}

struct Image {
  std::unique_ptr<uint8_t, void (*)(void*)> data{nullptr, stbi_image_free};
  int width = 0, height = 0;
};

Image load_rgb(const std::string& path) {
  Image im;
  int channels = 0;
  im.data.reset(stbi_load(path.c_str(), &im.width, &im.height, &channels, 3));
  if (!im.data) throw Fail("--image " + path + ": cannot decode (" + stbi_failure_reason() + ")");
  return im;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int run(int argc, char** argv) {
  std::string model_path, image_path, card_path, box_arg;
  int threads = 1, repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) throw Fail("missing value after " + a + "\n" + kUsage);
    const std::string v = argv[++i];
    if (a == "--model") model_path = v;
    else if (a == "--image") image_path = v;
    else if (a == "--card") card_path = v;
    else if (a == "--box") box_arg = v;
    else if (a == "--threads") threads = parse_int(v, "--threads", 1);
    else if (a == "--repeat") repeat = parse_int(v, "--repeat", 1);
    else throw Fail("unknown option " + a + "\n" + kUsage);
  }
  if (model_path.empty() || image_path.empty() || box_arg.empty()) {
    throw Fail(std::string("--model, --image and --box are required\n") + kUsage);
  }
  const auto box = parse_floats(box_arg, 4, "--box");

  executorch::extension::threadpool::get_threadpool()->_unsafe_reset_threadpool(static_cast<uint32_t>(threads));

  Module module(model_path, Module::LoadMode::Mmap);
  check(module.load(), "loading " + model_path);
  const json card_json = card_path.empty() ? embedded_card(module, model_path) : read_json_file(card_path);
  const Card card = parse_card(card_json);
  const int S = card.input_size;

  Image im = load_rgb(image_path);
  fk_image img{im.data.get(), im.width, im.height, im.width * 3, FK_PIXEL_RGB8, nullptr, 0};
  fk_crop_params cp;
  check(fk_crop_params_default(&cp), "fk_crop_params_default");
  cp.out_size = S;
  cp.out_channels = 3;
  for (int c = 0; c < 3; ++c) {
    cp.mean[c] = card.mean[c];
    cp.std[c] = card.std[c];
  }
  std::vector<float> crop(static_cast<size_t>(3) * S * S);
  float affine[6];
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  check(fk_crop_box(&img, box.data(), card.crop_scale, 0.f, 0, &cp, crop.data(), affine), "fk_crop_box");
  const auto t1 = clock::now();

  auto input = executorch::extension::from_blob(crop.data(), {1, 3, S, S});
  check(module.load_forward(), "loading forward of " + model_path);
  std::vector<double> model_ms;
  std::vector<float> output;
  std::vector<executorch::aten::SizesType> out_sizes;
  for (int r = 0; r < repeat; ++r) {
    const auto m0 = clock::now();
    auto result = module.forward(input);
    const auto m1 = clock::now();
    if (!result.ok()) check(result.error(), "forward");
    model_ms.push_back(std::chrono::duration<double, std::milli>(m1 - m0).count());
    if (r == 0) {
      const auto& t = result->at(0).toTensor();
      out_sizes.assign(t.sizes().begin(), t.sizes().end());
      output.assign(t.const_data_ptr<float>(), t.const_data_ptr<float>() + t.numel());
    }
  }

  const int K = card.num_keypoints;
  std::vector<float> points(static_cast<size_t>(2) * K), scores(static_cast<size_t>(K), 1.f);
  const auto d0 = clock::now();
  json heatmap_size = nullptr;
  if (card.output_type == "heatmap") {
    if (out_sizes.size() != 4 || out_sizes[0] != 1 || out_sizes[1] != K) {
      throw Fail("model output is not [1, " + std::to_string(K) + ", h, w] heatmaps");
    }
    const int h = out_sizes[2], w = out_sizes[3];
    std::vector<float> coords(static_cast<size_t>(2) * K);
    check(fk_decode_heatmaps(output.data(), 1, K, h, w, &card.decode, coords.data(), scores.data()),
          "fk_decode_heatmaps");
    check(fk_heatmap_to_image(coords.data(), K, w, h, S, S, affine, points.data()), "fk_heatmap_to_image");
    heatmap_size = {w, h};
  } else {  // coords: crop-normalised (u + 0.5) / S
    if (out_sizes.size() != 3 || out_sizes[0] != 1 || out_sizes[1] != K || out_sizes[2] != 2) {
      throw Fail("model output is not [1, " + std::to_string(K) + ", 2] coordinates");
    }
    for (size_t i = 0; i < points.size(); ++i) points[i] = output[i] * static_cast<float>(S) - 0.5f;
    check(fk_points_transform(points.data(), K, affine, points.data()), "fk_points_transform");
  }
  const auto d1 = clock::now();

  json out;
  out["model"] = model_path;
  out["image"] = image_path;
  out["box"] = box;
  out["num_keypoints"] = K;
  out["input_size"] = S;
  out["heatmap_size"] = heatmap_size;
  out["crop_to_image"] = std::vector<float>(affine, affine + 6);
  json pts = json::array();
  for (int k = 0; k < K; ++k) pts.push_back({points[2 * k], points[2 * k + 1]});
  out["landmarks"] = pts;
  out["scores"] = scores;
  out["threads"] = threads;
  out["latency_ms"] = {{"crop", std::chrono::duration<double, std::milli>(t1 - t0).count()},
                       {"model_median", median(model_ms)},
                       {"model_runs", repeat},
                       {"decode", std::chrono::duration<double, std::milli>(d1 - d0).count()}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Fail& e) {
    std::cerr << "facekd_runner: error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "facekd_runner: internal error: " << e.what() << std::endl;
    return 1;
  }
}
