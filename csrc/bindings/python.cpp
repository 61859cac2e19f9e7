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
#include <string>

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
}
