// facekd_runner: image + face box + facekd .pte -> landmarks as JSON, on the ExecuTorch runtime.
//
// Pipeline: decode image (stb_image, RGB8) -> fk_landmarker_predict (the C landmarker every binding
// uses: card parsing, crop, decode) with the ExecuTorch Module "forward" (XNNPACK delegate) as its
// model callback -> JSON on stdout. The model card comes from the program's `get_model_card`
// method, or from --card FILE.

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

// The model callback: one forward per crop (exported programs take one crop), first-run outputs kept.
struct Forward {
  Module* module = nullptr;
  int repeat = 1;
  std::vector<double> model_ms;
  std::string error;
};

int forward_crops(void* user, const float* crops, int n, int size, float* out, size_t count) {
  auto* f = static_cast<Forward*>(user);
  using clock = std::chrono::steady_clock;
  const size_t per = count / static_cast<size_t>(n), plane = static_cast<size_t>(3) * size * size;
  for (int i = 0; i < n; ++i) {
    auto input = executorch::extension::from_blob(const_cast<float*>(crops) + plane * i, {1, 3, size, size});
    for (int r = 0; r < f->repeat; ++r) {
      const auto m0 = clock::now();
      auto result = f->module->forward(input);
      const auto m1 = clock::now();
      if (!result.ok()) {
        f->error = "forward failed (ExecuTorch error " + std::to_string(static_cast<int>(result.error())) + ")";
        return 1;
      }
      f->model_ms.push_back(std::chrono::duration<double, std::milli>(m1 - m0).count());
      if (r == 0) {
        const auto& t = result->at(0).toTensor();
        if (static_cast<size_t>(t.numel()) != per) {
          f->error = "model output has " + std::to_string(t.numel()) + " values, the card expects " + std::to_string(per);
          return 2;
        }
        std::copy(t.const_data_ptr<float>(), t.const_data_ptr<float>() + per, out + per * i);
      }
    }
  }
  return 0;
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
  check(module.load_forward(), "loading forward of " + model_path);

  Forward fwd{&module, repeat, {}, {}};
  fk_landmarker_options options;
  check(fk_landmarker_options_default(&options), "fk_landmarker_options_default");
  options.model = forward_crops;
  options.model_user = &fwd;
  fk_landmarker* raw = nullptr;
  check(fk_landmarker_create(card_json.dump().c_str(), &options, &raw), "model card");
  std::unique_ptr<fk_landmarker, void (*)(fk_landmarker*)> lm(raw, fk_landmarker_destroy);
  fk_landmarker_info info;
  check(fk_landmarker_info_get(lm.get(), &info), "fk_landmarker_info_get");
  const int S = info.input_size, K = info.num_keypoints;

  Image im = load_rgb(image_path);
  fk_image img{im.data.get(), im.width, im.height, im.width * 3, FK_PIXEL_RGB8, nullptr, 0};
  std::vector<float> points(static_cast<size_t>(2) * K), scores(static_cast<size_t>(K));
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const fk_status st = fk_landmarker_predict(lm.get(), &img, box.data(), nullptr, 1, points.data(), scores.data());
  const auto t1 = clock::now();
  if (st == FK_ERR_CALLBACK) throw Fail(fwd.error);
  check(st, "fk_landmarker_predict");
  float affine[6];
  check(fk_box_to_affine(box.data(), info.crop_scale, 0.f, 0, S, affine), "fk_box_to_affine");
  double model_total = 0;
  for (double ms : fwd.model_ms) model_total += ms;

  json out;
  out["model"] = model_path;
  out["image"] = image_path;
  out["box"] = box;
  out["num_keypoints"] = K;
  out["input_size"] = S;
  out["heatmap_size"] = info.output_kind == FK_OUTPUT_HEATMAP ? json{info.heatmap_size, info.heatmap_size} : json(nullptr);
  out["crop_to_image"] = std::vector<float>(affine, affine + 6);
  json pts = json::array();
  for (int k = 0; k < K; ++k) pts.push_back({points[2 * k], points[2 * k + 1]});
  out["landmarks"] = pts;
  out["scores"] = scores;
  out["threads"] = threads;
  // crop + decode = the landmarker call without the model runs
  out["latency_ms"] = {{"crop_decode", std::chrono::duration<double, std::milli>(t1 - t0).count() - model_total},
                       {"model_median", median(fwd.model_ms)},
                       {"model_runs", repeat}};
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
