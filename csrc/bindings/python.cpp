// facekd._core: a thin pybind11 binding of the C API (facekd/c_api.h) -- nothing else of the C++
// core is visible here. Arrays are validated (dtype, shape, memory layout) before any pointer reaches
// the C API; the GIL is released around the kernel calls; a failing fk_status raises ValueError
// (MemoryError / RuntimeError for FK_ERR_OUT_OF_MEMORY / FK_ERR_INTERNAL) with fk_last_error().
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <optional>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "facekd/c_api.h"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

void check(fk_status status) {
  if (status == FK_OK) return;
  const std::string message = fk_last_error();
  switch (status) {
    case FK_ERR_OUT_OF_MEMORY: py::set_error(PyExc_MemoryError, message.c_str()); break;
    case FK_ERR_INTERNAL: py::set_error(PyExc_RuntimeError, message.c_str()); break;
    default: py::set_error(PyExc_ValueError, message.c_str()); break;
  }
  throw py::error_already_set();
}

[[noreturn]] void type_error(const std::string& m) { throw py::type_error(m); }
[[noreturn]] void value_error(const std::string& m) { throw py::value_error(m); }

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

int to_int(py::ssize_t v, const char* what) {
  if (v > 0x7fffffff) value_error(std::string(what) + " is too large (more than 2^31-1)");
  return static_cast<int>(v);
}

// Small float inputs (affines, boxes, points): any real dtype, converted to float32 C order.
FloatArray small_floats(const py::handle& obj, py::ssize_t size, const char* name, const char* shape_text) {
  FloatArray a;
  try {
    a = FloatArray::ensure(obj);
  } catch (const py::error_already_set&) {
    a = FloatArray();
  }
  if (!a) type_error(std::string(name) + " must be a real-valued array of shape " + shape_text);
  if (a.size() != size) {
    value_error(std::string(name) + " must have shape " + shape_text + " (got " + shape_str(a) + ")");
  }
  return a;
}

int bytes_per_pixel(int format) {
  switch (format) {
    case FK_PIXEL_RGB8:
    case FK_PIXEL_BGR8: return 3;
    case FK_PIXEL_RGBA8:
    case FK_PIXEL_BGRA8: return 4;
    case FK_PIXEL_GRAY8:
    case FK_PIXEL_NV12:
    case FK_PIXEL_NV21: return 1;
    default: return 0;
  }
}

// Row-major plane of uint8 with contiguous pixels inside each row; returns the row stride in bytes.
py::ssize_t plane_stride(const py::array& a, const char* name, py::ssize_t row_bytes) {
  const bool contiguous_row = a.ndim() == 3
      ? (a.shape(2) == 1 || a.strides(2) == 1) && (a.shape(1) == 1 || a.strides(1) == a.shape(2))
      : (a.shape(1) == 1 || a.strides(1) == 1);
  if (!contiguous_row) {
    value_error(std::string(name) + ": the pixels of a row must be contiguous in memory (got strides " +
                std::to_string(a.strides(0)) + ", " + std::to_string(a.strides(1)) +
                (a.ndim() == 3 ? ", " + std::to_string(a.strides(2)) : std::string()) +
                "); use np.ascontiguousarray");
  }
  if (a.shape(0) == 1) return row_bytes;
  if (a.strides(0) < row_bytes) {
    value_error(std::string(name) + ": rows must be stored top to bottom without overlap (row stride " +
                std::to_string(a.strides(0)) + " < " + std::to_string(row_bytes) + " bytes)");
  }
  return a.strides(0);
}

struct ImageView {
  fk_image image{};
  py::array keep_image, keep_uv;
};

ImageView make_image(const py::array& image, int format, const py::object& uv_obj) {
  ImageView v;
  const int bpp = bytes_per_pixel(format);
  if (bpp == 0) value_error("pixel_format: unknown format code " + std::to_string(format));
  if (!py::isinstance<py::array>(image)) type_error("image must be a numpy uint8 array");
  if (!image.dtype().is(py::dtype::of<uint8_t>())) {
    type_error("image must be a uint8 array (got " + dtype_name(image) + ")");
  }
  const bool biplanar = format == FK_PIXEL_NV12 || format == FK_PIXEL_NV21;
  const bool packed = bpp > 1;
  if (packed) {
    if (image.ndim() != 3 || image.shape(2) != bpp) {
      value_error("image must have shape [H, W, " + std::to_string(bpp) + "] for this pixel_format (got " +
                  shape_str(image) + ")");
    }
  } else if (!(image.ndim() == 2 || (image.ndim() == 3 && image.shape(2) == 1))) {
    value_error("image must have shape [H, W] for GRAY/NV12/NV21 (got " + shape_str(image) + ")");
  }
  if (image.shape(0) < 1 || image.shape(1) < 1) value_error("image must not be empty (shape " + shape_str(image) + ")");
  const py::ssize_t width = image.shape(1);
  const py::ssize_t stride = plane_stride(image, "image", width * bpp);
  py::ssize_t height = image.shape(0);
  const auto* data = static_cast<const uint8_t*>(image.data());
  v.image.data = data;
  v.image.format = static_cast<fk_pixel_format>(format);
  v.keep_image = image;
  if (biplanar) {
    if (uv_obj.is_none()) {
      // Stacked buffer: H rows of Y then ceil(H/2) rows of interleaved chroma.
      const py::ssize_t rows = image.shape(0);
      height = 2 * rows / 3;
      if (height < 1 || height + (height + 1) / 2 != rows) {
        value_error("image: a stacked NV12/NV21 buffer must have H + ceil(H/2) rows (got " + std::to_string(rows) +
                    " rows); or pass the chroma plane as `uv`");
      }
      if (width % 2 != 0) {
        value_error("image: a stacked NV12/NV21 buffer needs an even width (got " + std::to_string(width) +
                    "); pass the chroma plane separately as `uv`");
      }
      v.image.uv_data = data + height * stride;
      v.image.uv_stride = to_int(stride, "image row stride");
    } else {
      if (!py::isinstance<py::array>(uv_obj)) type_error("uv must be a numpy uint8 array or None");
      py::array uv = py::reinterpret_borrow<py::array>(uv_obj);
      if (!uv.dtype().is(py::dtype::of<uint8_t>())) type_error("uv must be a uint8 array (got " + dtype_name(uv) + ")");
      const py::ssize_t uv_rows = (height + 1) / 2, uv_cols = 2 * ((width + 1) / 2);
      const bool ok2 = uv.ndim() == 2 && uv.shape(0) == uv_rows && uv.shape(1) == uv_cols;
      const bool ok3 = uv.ndim() == 3 && uv.shape(0) == uv_rows && uv.shape(1) == uv_cols / 2 && uv.shape(2) == 2;
      if (!ok2 && !ok3) {
        value_error("uv must have shape [ceil(H/2), 2*ceil(W/2)] = [" + std::to_string(uv_rows) + ", " +
                    std::to_string(uv_cols) + "] (got " + shape_str(uv) + ")");
      }
      const py::ssize_t uv_stride = plane_stride(uv, "uv", uv_cols);
      v.image.uv_data = static_cast<const uint8_t*>(uv.data());
      v.image.uv_stride = to_int(uv_stride, "uv row stride");
      v.keep_uv = uv;
    }
  } else if (!uv_obj.is_none()) {
    value_error("uv is only used with pixel_format NV12 or NV21");
  }
  v.image.width = to_int(width, "image width");
  v.image.height = to_int(height, "image height");
  v.image.stride = to_int(stride, "image row stride");
  return v;
}

py::array_t<float> output_buffer(const py::object& out_obj, int channels, int size) {
  if (out_obj.is_none()) return py::array_t<float>({channels, size, size});
  if (!py::isinstance<py::array>(out_obj)) type_error("out must be a numpy float32 array or None");
  py::array out = py::reinterpret_borrow<py::array>(out_obj);
  if (!out.dtype().is(py::dtype::of<float>())) type_error("out must be a float32 array (got " + dtype_name(out) + ")");
  if (out.ndim() != 3 || out.shape(0) != channels || out.shape(1) != size || out.shape(2) != size) {
    value_error("out must have shape (" + std::to_string(channels) + ", " + std::to_string(size) + ", " +
                std::to_string(size) + ") (got " + shape_str(out) + ")");
  }
  if (!(out.flags() & py::array::c_style)) value_error("out must be C-contiguous");
  if (!out.writeable()) value_error("out must be writeable");
  return py::reinterpret_borrow<py::array_t<float>>(out);
}

fk_crop_params crop_params(int out_size, int out_channels, const std::array<float, 3>& mean,
                           const std::array<float, 3>& std_, float border) {
  fk_crop_params p;
  check(fk_crop_params_default(&p));
  p.out_size = out_size;
  p.out_channels = out_channels;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = mean[static_cast<std::size_t>(c)];
    p.std[c] = std_[static_cast<std::size_t>(c)];
  }
  p.border_value = border;
  return p;
}

py::array_t<float> new_affine() { return py::array_t<float>({2, 3}); }

FloatArray points_array(const py::handle& obj, const char* name) {
  FloatArray a;
  try {
    a = FloatArray::ensure(obj);
  } catch (const py::error_already_set&) {
    a = FloatArray();
  }
  if (!a) type_error(std::string(name) + " must be a real-valued array of shape [n, 2]");
  if (a.ndim() != 2 || a.shape(1) != 2) value_error(std::string(name) + " must have shape [n, 2] (got " + shape_str(a) + ")");
  return a;
}

class Smoother {
 public:
  Smoother(int n_values, float min_cutoff, float beta, float d_cutoff) : n_(n_values) {
    fk_smoother_params p{min_cutoff, beta, d_cutoff};
    fk_smoother* s = nullptr;
    check(fk_smoother_create(n_values, &p, &s));
    handle_.reset(s);
  }
  // The GIL stays held: the call is tiny, and it serialises concurrent use of one smoother.
  py::array_t<float> apply(const py::handle& values, double timestamp) {
    FloatArray v = small_floats(values, n_, "values", ("[n_values] = [" + std::to_string(n_) + "]").c_str());
    py::array_t<float> out(n_);
    check(fk_smoother_apply(handle_.get(), v.data(), timestamp, out.mutable_data()));
    return out;
  }
  void reset() { check(fk_smoother_reset(handle_.get())); }
  int n_values() const { return n_; }

 private:
  struct Deleter {
    void operator()(fk_smoother* s) const { fk_smoother_destroy(s); }
  };
  int n_;
  std::unique_ptr<fk_smoother, Deleter> handle_;
};

// ---- fk_landmarker ---------------------------------------------------------------------------
// The network and the detector are Python callables. process() releases the GIL; the C callbacks
// take it back, and an exception raised by a callable is kept and re-raised after the C call returns
// (the C side only sees a non-zero return and stops).

void fill_detections(const py::handle& obj, std::vector<fk_detection>& out, int capacity) {
  // obj: (boxes [M, 4], scores [M] or None, keypoints [M, P, 2] or None)
  py::tuple t = py::reinterpret_borrow<py::object>(obj).cast<py::tuple>();
  if (t.size() != 3) value_error("detections must be a tuple (boxes [M, 4], scores [M] | None, keypoints [M, P, 2] | None)");
  FloatArray boxes = FloatArray::ensure(t[0]);
  if (!boxes || !(boxes.ndim() == 2 && boxes.shape(1) == 4) && !(boxes.ndim() == 1 && boxes.size() == 0)) {
    value_error("detection boxes must have shape [M, 4]");
  }
  const py::ssize_t m = boxes.ndim() == 2 ? boxes.shape(0) : 0;
  FloatArray scores, kps;
  if (!t[1].is_none()) {
    scores = FloatArray::ensure(t[1]);
    if (!scores || scores.size() != m) value_error("detection scores must have shape [M]");
  }
  int p = 0;
  if (!t[2].is_none()) {
    kps = FloatArray::ensure(t[2]);
    if (!kps || kps.ndim() != 3 || kps.shape(0) != m || kps.shape(2) != 2 || kps.shape(1) > 5) {
      value_error("detection keypoints must have shape [M, P, 2] with P <= 5");
    }
    p = static_cast<int>(kps.shape(1));
  }
  const py::ssize_t n = std::min<py::ssize_t>(m, capacity);
  out.assign(static_cast<std::size_t>(n), fk_detection{});
  for (py::ssize_t i = 0; i < n; ++i) {
    fk_detection& d = out[static_cast<std::size_t>(i)];
    for (int c = 0; c < 4; ++c) d.box[c] = boxes.data()[4 * i + c];
    d.score = scores ? scores.data()[i] : 1.0f;
    d.num_keypoints = p;
    for (int c = 0; c < 2 * p; ++c) d.keypoints[c] = kps.data()[2 * p * i + c];
  }
}

fk_box_transform box_transform(const py::handle& obj) {
  FloatArray a = small_floats(obj, 4, "box transform", "[4] (dx, dy, sw, sh)");
  return fk_box_transform{a.data()[0], a.data()[1], a.data()[2], a.data()[3]};
}

class PyLandmarker {
 public:
  PyLandmarker(const std::string& card_json, py::object model, py::object detector, int mode,
               const py::handle& transform, float recrop_degrees, int max_recrops, float loss_threshold,
               float min_face, bool smooth, float min_cutoff, float beta, float d_cutoff, int max_detections,
               std::optional<float> turn_threshold)
      : model_(std::move(model)), detector_(std::move(detector)) {
    fk_landmarker_options o;
    check(fk_landmarker_options_default(&o));
    o.mode = static_cast<fk_landmarker_mode>(mode);
    o.detector_transform = box_transform(transform);
    o.recrop_degrees = recrop_degrees;
    o.max_recrops = max_recrops;
    if (turn_threshold) o.turn_threshold = *turn_threshold;  // else the C default: the card's
    o.loss_threshold = loss_threshold;
    o.min_face = min_face;
    o.smooth = smooth ? 1 : 0;
    o.smoother = fk_smoother_params{min_cutoff, beta, d_cutoff};
    o.max_detections = max_detections;
    o.model = &PyLandmarker::run_model;
    o.model_user = this;
    if (!detector_.is_none()) {
      o.detector = &PyLandmarker::run_detector;
      o.detector_user = this;
    }
    fk_landmarker* h = nullptr;
    check(fk_landmarker_create(card_json.c_str(), &o, &h));
    handle_.reset(h);
    check(fk_landmarker_info_get(h, &info_));
  }

  py::dict process(const py::array& image, int pixel_format, const py::object& detections, const py::object& transform,
                   double timestamp, int capacity) {
    ImageView iv = make_image(image, pixel_format, py::none());
    if (capacity < 1) value_error("capacity (max_faces) must be >= 1");
    std::vector<fk_detection> dets;
    fk_box_transform t{};
    fk_detections given{nullptr, 0, nullptr};
    if (!detections.is_none()) {
      fill_detections(detections, dets, 1 << 20);
      given.items = dets.data();
      given.count = static_cast<int>(dets.size());
      if (!transform.is_none()) {
        t = box_transform(transform);
        given.transform = &t;
      }
    }
    const int k = info_.num_keypoints;
    py::array_t<float> lm({capacity, k, 2}), raw({capacity, k, 2}), sc({capacity, k});
    std::vector<fk_face> faces(static_cast<std::size_t>(capacity));
    fk_landmarker_result r{};
    r.capacity = capacity;
    r.faces = faces.data();
    r.landmarks = lm.mutable_data();
    r.scores = sc.mutable_data();
    r.raw_landmarks = raw.mutable_data();
    image_ = &image;
    fk_status st;
    {
      py::gil_scoped_release nogil;
      st = fk_landmarker_process(handle_.get(), &iv.image, detections.is_none() ? nullptr : &given, timestamp, &r);
    }
    image_ = nullptr;
    rethrow_pending();
    check(st);
    const int n = r.count;
    py::array_t<float> boxes({n, 4}), rot(n), fs(n);
    py::array_t<int> idx(n), passes(n);
    for (int i = 0; i < n; ++i) {
      for (int c = 0; c < 4; ++c) boxes.mutable_data()[4 * i + c] = faces[i].box[c];
      rot.mutable_data()[i] = faces[i].rotation_deg;
      fs.mutable_data()[i] = faces[i].score;
      idx.mutable_data()[i] = faces[i].detection_index;
      passes.mutable_data()[i] = faces[i].passes;
    }
    py::slice first(0, n, 1);
    py::dict d;
    d["landmarks"] = lm[first];
    d["raw_landmarks"] = raw[first];
    d["scores"] = sc[first];
    d["boxes"] = boxes;
    d["rotations"] = rot;
    d["face_scores"] = fs;
    d["detection_index"] = idx;
    d["passes"] = passes;
    d["detector_ran"] = r.detector_ran != 0;
    d["lost"] = r.lost != 0;
    return d;
  }

  py::tuple predict(const py::array& image, int pixel_format, const py::handle& boxes, const py::object& rotations) {
    ImageView iv = make_image(image, pixel_format, py::none());
    FloatArray b = FloatArray::ensure(boxes);
    if (!b || b.ndim() != 2 || b.shape(1) != 4 || b.shape(0) < 1) value_error("boxes must have shape [n, 4], n >= 1");
    const int n = to_int(b.shape(0), "number of boxes");
    FloatArray r;
    if (!rotations.is_none()) r = small_floats(rotations, n, "rotations", "[n]");
    const int k = info_.num_keypoints;
    py::array_t<float> lm({n, k, 2}), sc({n, k});
    const float* rp = rotations.is_none() ? nullptr : r.data();
    float* l = lm.mutable_data();
    float* s = sc.mutable_data();
    fk_status st;
    {
      py::gil_scoped_release nogil;
      st = fk_landmarker_predict(handle_.get(), &iv.image, b.data(), rp, n, l, s);
    }
    rethrow_pending();
    check(st);
    return py::make_tuple(lm, sc);
  }

  py::tuple track_box(const py::handle& points) {
    FloatArray p = points_array(points, "points");
    if (p.shape(0) != info_.num_keypoints) value_error("points must have shape [K, 2] with K = num_keypoints");
    py::array_t<float> box(4);
    float roll = 0.0f;
    check(fk_landmarker_track_box(handle_.get(), p.data(), box.mutable_data(), &roll));
    return py::make_tuple(box, roll);
  }

  void reset() { check(fk_landmarker_reset(handle_.get())); }

  py::dict info() const {
    py::dict d;
    d["num_keypoints"] = info_.num_keypoints;
    d["input_size"] = info_.input_size;
    d["output_kind"] = info_.output_kind == FK_OUTPUT_HEATMAP ? "heatmap" : "coords";
    d["heatmap_size"] = info_.heatmap_size;
    d["output_floats"] = info_.output_floats;
    d["crop_scale"] = info_.crop_scale;
    d["mean"] = py::make_tuple(info_.mean[0], info_.mean[1], info_.mean[2]);
    d["std"] = py::make_tuple(info_.std[0], info_.std[1], info_.std[2]);
    d["eye_corners"] = py::make_tuple(info_.eye_left, info_.eye_right);
    return d;
  }

 private:
  static int run_model(void* user, const float* crops, int n, int size, float* outputs, size_t count) {
    auto* self = static_cast<PyLandmarker*>(user);
    py::gil_scoped_acquire gil;
    return self->guarded([&] {
      py::array_t<float> x({n, 3, size, size});
      std::memcpy(x.mutable_data(), crops, sizeof(float) * static_cast<std::size_t>(x.size()));
      py::object y = self->model_(x);
      FloatArray a = FloatArray::ensure(y);
      if (!a) type_error("the model must return a real-valued array");
      if (static_cast<size_t>(a.size()) != count) {
        value_error("the model returned " + std::to_string(a.size()) + " values; expected " + std::to_string(count));
      }
      std::memcpy(outputs, a.data(), sizeof(float) * count);
    });
  }

  static int run_detector(void* user, const fk_image*, fk_detection* out, int capacity, int* count) {
    auto* self = static_cast<PyLandmarker*>(user);
    py::gil_scoped_acquire gil;
    return self->guarded([&] {
      py::object r = self->detector_(*self->image_);
      std::vector<fk_detection> dets;
      fill_detections(r, dets, capacity);
      std::copy(dets.begin(), dets.end(), out);
      *count = static_cast<int>(dets.size());
    });
  }

  // Runs a callback body with the GIL held: 0, or 1 with the Python exception kept for rethrow_pending.
  template <class F>
  int guarded(F&& body) {
    try {
      body();
      return 0;
    } catch (py::error_already_set& e) {
      pending_ = std::move(e);
    } catch (py::builtin_exception& e) {
      e.set_error();
      pending_ = py::error_already_set();
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      pending_ = py::error_already_set();
    }
    return 1;
  }

  void rethrow_pending() {
    if (pending_) {
      py::error_already_set e = std::move(*pending_);
      pending_.reset();
      throw e;
    }
  }

  struct Deleter {
    void operator()(fk_landmarker* h) const { fk_landmarker_destroy(h); }
  };
  py::object model_, detector_;
  const py::array* image_ = nullptr;
  std::optional<py::error_already_set> pending_;
  fk_landmarker_info info_{};
  std::unique_ptr<fk_landmarker, Deleter> handle_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Binding of the facekd C API (csrc/include/facekd/c_api.h). Use facekd.kernels.";

  m.def("version", [] { return std::string(fk_version()); }, "Library version (fk_version).");

  py::dict formats;
  formats["RGB"] = static_cast<int>(FK_PIXEL_RGB8);
  formats["BGR"] = static_cast<int>(FK_PIXEL_BGR8);
  formats["RGBA"] = static_cast<int>(FK_PIXEL_RGBA8);
  formats["BGRA"] = static_cast<int>(FK_PIXEL_BGRA8);
  formats["GRAY"] = static_cast<int>(FK_PIXEL_GRAY8);
  formats["NV12"] = static_cast<int>(FK_PIXEL_NV12);
  formats["NV21"] = static_cast<int>(FK_PIXEL_NV21);
  m.attr("PIXEL_FORMATS") = formats;
  py::dict modes;
  modes["argmax"] = static_cast<int>(FK_DECODE_ARGMAX);
  modes["dark"] = static_cast<int>(FK_DECODE_DARK);
  modes["softargmax"] = static_cast<int>(FK_DECODE_SOFTARGMAX);
  m.attr("DECODE_MODES") = modes;

  m.def(
      "decode_heatmaps",
      [](const py::array& heatmaps, int mode, float blur_sigma, float beta) {
        if (!heatmaps.dtype().is(py::dtype::of<float>())) {
          type_error("heatmaps must be a float32 array (got " + dtype_name(heatmaps) + ")");
        }
        if (heatmaps.ndim() != 4) value_error("heatmaps must have shape [N, K, H, W] (got " + shape_str(heatmaps) + ")");
        if (!(heatmaps.flags() & py::array::c_style)) value_error("heatmaps must be C-contiguous");
        const int n = to_int(heatmaps.shape(0), "N"), k = to_int(heatmaps.shape(1), "K");
        const int h = to_int(heatmaps.shape(2), "H"), w = to_int(heatmaps.shape(3), "W");
        if (n < 1 || k < 1 || h < 1 || w < 1) value_error("heatmaps must not be empty (shape " + shape_str(heatmaps) + ")");
        fk_decode_params p;
        check(fk_decode_params_default(&p));
        if (mode != FK_DECODE_ARGMAX && mode != FK_DECODE_DARK && mode != FK_DECODE_SOFTARGMAX) {
          value_error("mode: unknown decode mode code " + std::to_string(mode));
        }
        p.mode = static_cast<fk_decode_mode>(mode);
        p.blur_sigma = blur_sigma;
        p.beta = beta;
        py::array_t<float> coords({n, k, 2}), scores({n, k});
        const float* src = static_cast<const float*>(heatmaps.data());
        float* c = coords.mutable_data();
        float* s = scores.mutable_data();
        fk_status st;
        {
          py::gil_scoped_release nogil;
          st = fk_decode_heatmaps(src, n, k, h, w, &p, c, s);
        }
        check(st);
        return py::make_tuple(coords, scores);
      },
      py::arg("heatmaps"), py::arg("mode"), py::arg("blur_sigma"), py::arg("beta"),
      "fk_decode_heatmaps on a float32 C-contiguous [N, K, H, W] array -> (coords [N, K, 2], scores [N, K]).");

  m.def(
      "box_to_affine",
      [](const py::handle& box, float scale, float rotation, bool flip, int out_size) {
        FloatArray b = small_floats(box, 4, "box", "[4]");
        auto a = new_affine();
        check(fk_box_to_affine(b.data(), scale, rotation, flip ? 1 : 0, out_size, a.mutable_data()));
        return a;
      },
      py::arg("box"), py::arg("scale"), py::arg("rotation"), py::arg("flip"), py::arg("out_size"),
      "fk_box_to_affine -> crop-to-image affine [2, 3].");

  m.def(
      "crop_affine",
      [](const py::array& image, int pixel_format, const py::object& uv, const py::handle& affine, int out_size,
         int out_channels, std::array<float, 3> mean, std::array<float, 3> std_, float border, const py::object& out) {
        ImageView iv = make_image(image, pixel_format, uv);
        FloatArray a = small_floats(affine, 6, "affine", "[2, 3]");
        const fk_crop_params p = crop_params(out_size, out_channels, mean, std_, border);
        if (out_size < 1) value_error("out_size must be >= 1 (got " + std::to_string(out_size) + ")");
        if (out_channels != 1 && out_channels != 3) value_error("out_channels must be 1 or 3 (got " + std::to_string(out_channels) + ")");
        py::array_t<float> dst = output_buffer(out, out_channels, out_size);
        float* d = dst.mutable_data();
        const float* ap = a.data();
        fk_status st;
        {
          py::gil_scoped_release nogil;
          st = fk_crop_affine(&iv.image, ap, &p, d);
        }
        check(st);
        return dst;
      },
      py::arg("image"), py::arg("pixel_format"), py::arg("uv"), py::arg("affine"), py::arg("out_size"),
      py::arg("out_channels"), py::arg("mean"), py::arg("std"), py::arg("border_value"), py::arg("out"),
      "fk_crop_affine -> float32 [C, S, S].");

  m.def(
      "crop_box",
      [](const py::array& image, int pixel_format, const py::object& uv, const py::handle& box, float scale,
         float rotation, bool flip, int out_size, int out_channels, std::array<float, 3> mean,
         std::array<float, 3> std_, float border, const py::object& out) {
        ImageView iv = make_image(image, pixel_format, uv);
        FloatArray b = small_floats(box, 4, "box", "[4]");
        if (out_size < 1) value_error("out_size must be >= 1 (got " + std::to_string(out_size) + ")");
        if (out_channels != 1 && out_channels != 3) value_error("out_channels must be 1 or 3 (got " + std::to_string(out_channels) + ")");
        const fk_crop_params p = crop_params(out_size, out_channels, mean, std_, border);
        py::array_t<float> dst = output_buffer(out, out_channels, out_size);
        auto a = new_affine();
        float* d = dst.mutable_data();
        float* ap = a.mutable_data();
        const float* bp = b.data();
        fk_status st;
        {
          py::gil_scoped_release nogil;
          st = fk_crop_box(&iv.image, bp, scale, rotation, flip ? 1 : 0, &p, d, ap);
        }
        check(st);
        return py::make_tuple(dst, a);
      },
      py::arg("image"), py::arg("pixel_format"), py::arg("uv"), py::arg("box"), py::arg("scale"), py::arg("rotation"),
      py::arg("flip"), py::arg("out_size"), py::arg("out_channels"), py::arg("mean"), py::arg("std"),
      py::arg("border_value"), py::arg("out"), "fk_crop_box -> (float32 [C, S, S], affine [2, 3]).");

  m.def(
      "affine_invert",
      [](const py::handle& affine) {
        FloatArray a = small_floats(affine, 6, "affine", "[2, 3]");
        auto inv = new_affine();
        check(fk_affine_invert(a.data(), inv.mutable_data()));
        return inv;
      },
      py::arg("affine"), "fk_affine_invert -> [2, 3].");

  m.def(
      "points_transform",
      [](const py::handle& points, const py::handle& affine) {
        FloatArray p = points_array(points, "points");
        FloatArray a = small_floats(affine, 6, "affine", "[2, 3]");
        const int n = to_int(p.shape(0), "number of points");
        py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
        const float* pp = p.data();
        const float* ap = a.data();
        float* o = out.mutable_data();
        fk_status st;
        {
          py::gil_scoped_release nogil;
          st = fk_points_transform(pp, n, ap, o);
        }
        check(st);
        return out;
      },
      py::arg("points"), py::arg("affine"), "fk_points_transform on [n, 2] -> [n, 2].");

  m.def(
      "heatmap_to_image",
      [](const py::handle& points, int heatmap_w, int heatmap_h, int input_w, int input_h, const py::handle& affine) {
        FloatArray p = points_array(points, "points");
        FloatArray a = small_floats(affine, 6, "affine", "[2, 3]");
        const int n = to_int(p.shape(0), "number of points");
        py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
        const float* pp = p.data();
        const float* ap = a.data();
        float* o = out.mutable_data();
        fk_status st;
        {
          py::gil_scoped_release nogil;
          st = fk_heatmap_to_image(pp, n, heatmap_w, heatmap_h, input_w, input_h, ap, o);
        }
        check(st);
        return out;
      },
      py::arg("points"), py::arg("heatmap_w"), py::arg("heatmap_h"), py::arg("input_w"), py::arg("input_h"),
      py::arg("affine"), "fk_heatmap_to_image on [n, 2] -> [n, 2].");

  m.def(
      "box_from_landmarks",
      [](const py::handle& points, int left_idx, int right_idx) {
        FloatArray p = points_array(points, "points");
        const int n = to_int(p.shape(0), "number of points");
        py::array_t<float> box(4);
        float roll = 0.0f;
        check(fk_box_from_landmarks(p.data(), n, left_idx, right_idx, box.mutable_data(), &roll));
        return py::make_tuple(box, roll);
      },
      py::arg("points"), py::arg("left_idx"), py::arg("right_idx"),
      "fk_box_from_landmarks -> (box [4], roll_deg).");

  py::class_<Smoother>(m, "Smoother", "fk_smoother handle (One-Euro filter over n_values floats).")
      .def(py::init<int, float, float, float>(), py::arg("n_values"), py::arg("min_cutoff"), py::arg("beta"),
           py::arg("d_cutoff"))
      .def("apply", &Smoother::apply, py::arg("values"), py::arg("timestamp"),
           "Filter one frame of n_values floats -> float32 [n_values].")
      .def("reset", &Smoother::reset)
      .def_property_readonly("n_values", &Smoother::n_values);

  py::class_<PyLandmarker>(m, "Landmarker", "fk_landmarker handle: the per-frame pipeline (c_api.h section 5).")
      .def(py::init<const std::string&, py::object, py::object, int, const py::handle&, float, int, float, float, bool,
                    float, float, float, int, std::optional<float>>(),
           py::arg("card_json"), py::arg("model"), py::arg("detector"), py::arg("mode"), py::arg("transform"),
           py::arg("recrop_degrees"), py::arg("max_recrops"), py::arg("loss_threshold"), py::arg("min_face"),
           py::arg("smooth"), py::arg("min_cutoff"), py::arg("beta"), py::arg("d_cutoff"), py::arg("max_detections"),
           py::arg("turn_threshold") = py::none())
      .def("process", &PyLandmarker::process, py::arg("image"), py::arg("pixel_format"), py::arg("detections"),
           py::arg("transform"), py::arg("timestamp"), py::arg("capacity"))
      .def("predict", &PyLandmarker::predict, py::arg("image"), py::arg("pixel_format"), py::arg("boxes"),
           py::arg("rotations"))
      .def("track_box", &PyLandmarker::track_box, py::arg("points"))
      .def("reset", &PyLandmarker::reset)
      .def_property_readonly("info", &PyLandmarker::info);
  m.attr("MODE_IMAGE") = static_cast<int>(FK_MODE_IMAGE);
  m.attr("MODE_VIDEO") = static_cast<int>(FK_MODE_VIDEO);
}
