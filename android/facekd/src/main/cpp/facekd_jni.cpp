// JNI bridge: org.facekd.NativeBridge -> the facekd C API. Every Java array / buffer range is checked
// here before C touches it; failures throw org.facekd.FacekdException(status, message).
#include <jni.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "facekd/c_api.h"

namespace {

jclass g_exception_class = nullptr;  // global ref to org/facekd/FacekdException
jmethodID g_exception_ctor = nullptr;

void throw_facekd(JNIEnv* env, int status, const std::string& message) {
  if (env->ExceptionCheck()) return;  // keep the first pending exception
  jstring text = env->NewStringUTF(message.c_str());
  if (text == nullptr) return;  // OutOfMemoryError pending
  auto obj = static_cast<jthrowable>(env->NewObject(g_exception_class, g_exception_ctor, static_cast<jint>(status), text));
  if (obj != nullptr) env->Throw(obj);
}

void throw_invalid(JNIEnv* env, const std::string& message) {
  throw_facekd(env, FK_ERR_INVALID_ARGUMENT, message);
}

// Throws for a failed C call (status + fk_last_error of this thread); returns true on success.
bool check(JNIEnv* env, fk_status status) {
  if (status == FK_OK) return true;
  throw_facekd(env, status, fk_last_error());
  return false;
}

// A Java array pinned with Get/ReleasePrimitiveArrayCritical: no JNI calls while any is held.
class Critical {
 public:
  Critical(JNIEnv* env, jarray array, bool write)
      : env_(env), array_(array), write_(write),
        ptr_(array ? env->GetPrimitiveArrayCritical(array, nullptr) : nullptr) {}
  ~Critical() {
    if (ptr_) env_->ReleasePrimitiveArrayCritical(array_, ptr_, write_ ? 0 : JNI_ABORT);
  }
  Critical(const Critical&) = delete;
  Critical& operator=(const Critical&) = delete;
  template <typename T>
  T* get() const { return static_cast<T*>(ptr_); }
  bool failed() const { return array_ != nullptr && ptr_ == nullptr; }

 private:
  JNIEnv* env_;
  jarray array_;
  bool write_;
  void* ptr_;
};

// Length of a Java array; throws (returns false) for null or shorter than `needed` from `offset`.
bool require_array(JNIEnv* env, jarray array, int64_t offset, int64_t needed, const char* name) {
  if (array == nullptr) {
    throw_invalid(env, std::string(name) + " must not be null");
    return false;
  }
  const int64_t length = env->GetArrayLength(array);
  if (offset < 0 || needed < 0 || offset + needed > length) {
    throw_invalid(env, std::string(name) + " has " + std::to_string(length) + " elements, " +
                           std::to_string(needed) + " needed from offset " + std::to_string(offset));
    return false;
  }
  return true;
}

int bytes_per_pixel(int format) {
  switch (format) {
    case FK_PIXEL_RGB8: case FK_PIXEL_BGR8: return 3;
    case FK_PIXEL_RGBA8: case FK_PIXEL_BGRA8: return 4;
    case FK_PIXEL_GRAY8: case FK_PIXEL_NV12: case FK_PIXEL_NV21: return 1;
    default: return 0;
  }
}

// A pixel plane given as a direct ByteBuffer or a byte[] with (offset, length) in bytes.
struct Plane {
  const uint8_t* direct = nullptr;  // resolved direct-buffer address (offset applied)
  jbyteArray array = nullptr;
  int64_t offset = 0;
  int64_t length = 0;  // readable bytes from the start of the plane
};

bool resolve_plane(JNIEnv* env, jobject buffer, jbyteArray array, jint offset, jint length, const char* name,
                   Plane* out) {
  if ((buffer == nullptr) == (array == nullptr)) {
    throw_invalid(env, std::string(name) + ": pass exactly one of a direct ByteBuffer or a byte array");
    return false;
  }
  if (offset < 0 || length < 0) {
    throw_invalid(env, std::string(name) + ": negative offset or length");
    return false;
  }
  if (buffer != nullptr) {
    auto* base = static_cast<const uint8_t*>(env->GetDirectBufferAddress(buffer));
    const jlong capacity = env->GetDirectBufferCapacity(buffer);
    if (base == nullptr || capacity < 0) {
      throw_invalid(env, std::string(name) + " is not a direct ByteBuffer");
      return false;
    }
    if (static_cast<int64_t>(offset) + length > capacity) {
      throw_invalid(env, std::string(name) + ": offset + length exceeds the buffer capacity " + std::to_string(capacity));
      return false;
    }
    out->direct = base + offset;
  } else {
    if (!require_array(env, array, offset, length, name)) return false;
    out->array = array;
  }
  out->offset = offset;
  out->length = length;
  return true;
}

// The image planes of a crop / landmarker call: resolved and checked against the geometry.
struct ImageArgs {
  Plane plane, chroma;
  bool has_chroma = false;
};

bool resolve_image(JNIEnv* env, jobject plane_buffer, jbyteArray plane_array, jint plane_offset, jint plane_length,
                   jint width, jint height, jint stride, jint format, jobject chroma_buffer, jbyteArray chroma_array,
                   jint chroma_offset, jint chroma_length, jobject chroma_partner, jint chroma_stride, ImageArgs* img) {
  Plane& plane = img->plane;
  Plane& chroma = img->chroma;
  if (!resolve_plane(env, plane_buffer, plane_array, plane_offset, plane_length, "image plane", &plane)) return false;
  const bool bi_planar = format == FK_PIXEL_NV12 || format == FK_PIXEL_NV21;
  const bool has_chroma = chroma_buffer != nullptr || chroma_array != nullptr;
  img->has_chroma = has_chroma;
  if (has_chroma && !bi_planar) {
    throw_invalid(env, "a chroma plane is only valid for NV12/NV21");
    return false;
  }
  if (has_chroma &&
      !resolve_plane(env, chroma_buffer, chroma_array, chroma_offset, chroma_length, "chroma plane", &chroma)) {
    return false;
  }
  if (chroma_partner != nullptr) {
    if (chroma.direct == nullptr) {
      throw_invalid(env, "chroma_partner needs a direct chroma ByteBuffer");
      return false;
    }
    auto* partner = static_cast<const uint8_t*>(env->GetDirectBufferAddress(chroma_partner));
    const jlong partner_capacity = env->GetDirectBufferCapacity(chroma_partner);
    if (partner == nullptr || partner_capacity < 0) {
      throw_invalid(env, "chroma_partner is not a direct ByteBuffer");
      return false;
    }
    if (partner != chroma.direct + 1 && partner + 1 != chroma.direct) {
      throw_invalid(env, "chroma_partner does not interleave with the chroma plane (addresses not 1 byte apart)");
      return false;
    }
    chroma.length = std::max<int64_t>(chroma.length, (partner + partner_capacity) - chroma.direct);
  }

  // Bytes the kernel may read; only when the C API would accept the geometry (else it reports the error).
  const int bpp = bytes_per_pixel(format);
  if (bpp > 0 && width > 0 && height > 0 && stride >= static_cast<int64_t>(width) * bpp) {
    const int64_t uv_rows = (static_cast<int64_t>(height) + 1) / 2;
    const int64_t uv_row_bytes = 2 * ((static_cast<int64_t>(width) + 1) / 2);
    const int64_t uv_stride = chroma_stride == 0 ? stride : chroma_stride;
    int64_t needed = static_cast<int64_t>(stride) * (height - 1) + static_cast<int64_t>(width) * bpp;
    if (bi_planar && !has_chroma) needed = static_cast<int64_t>(stride) * height + uv_stride * (uv_rows - 1) + uv_row_bytes;
    if (plane.length < needed) {
      throw_invalid(env, "image plane has " + std::to_string(plane.length) + " bytes, " + std::to_string(width) + "x" +
                             std::to_string(height) + " with stride " + std::to_string(stride) + " needs " +
                             std::to_string(needed));
      return false;
    }
    if (bi_planar && has_chroma && uv_stride >= uv_row_bytes) {
      const int64_t uv_needed = uv_stride * (uv_rows - 1) + uv_row_bytes;
      if (chroma.length < uv_needed) {
        throw_invalid(env, "chroma plane has " + std::to_string(chroma.length) + " bytes, stride " +
                               std::to_string(uv_stride) + " needs " + std::to_string(uv_needed));
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" {

JNIEXPORT jint JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
  jclass local = env->FindClass("org/facekd/FacekdException");
  if (local == nullptr) return JNI_ERR;
  g_exception_class = static_cast<jclass>(env->NewGlobalRef(local));
  env->DeleteLocalRef(local);
  g_exception_ctor = env->GetMethodID(g_exception_class, "<init>", "(ILjava/lang/String;)V");
  if (g_exception_ctor == nullptr) return JNI_ERR;
  return JNI_VERSION_1_6;
}

#define FK_JNI(ret, name) JNIEXPORT ret JNICALL Java_org_facekd_NativeBridge_##name

FK_JNI(jstring, version)(JNIEnv* env, jclass) { return env->NewStringUTF(fk_version()); }

FK_JNI(jstring, statusName)(JNIEnv* env, jclass, jint status) {
  return env->NewStringUTF(fk_status_name(static_cast<fk_status>(status)));
}

// out: [mode, blur_sigma, beta]
FK_JNI(void, decodeParamsDefault)(JNIEnv* env, jclass, jfloatArray out) {
  if (!require_array(env, out, 0, 3, "out")) return;
  fk_decode_params p;
  if (!check(env, fk_decode_params_default(&p))) return;
  const float v[3] = {static_cast<float>(p.mode), p.blur_sigma, p.beta};
  env->SetFloatArrayRegion(out, 0, 3, v);
}

// out: [out_size, out_channels, mean0..2, std0..2, border_value]
FK_JNI(void, cropParamsDefault)(JNIEnv* env, jclass, jfloatArray out) {
  if (!require_array(env, out, 0, 9, "out")) return;
  fk_crop_params p;
  if (!check(env, fk_crop_params_default(&p))) return;
  const float v[9] = {static_cast<float>(p.out_size), static_cast<float>(p.out_channels), p.mean[0], p.mean[1],
                      p.mean[2], p.std[0], p.std[1], p.std[2], p.border_value};
  env->SetFloatArrayRegion(out, 0, 9, v);
}

// out: [min_cutoff, beta, d_cutoff]
FK_JNI(void, smootherParamsDefault)(JNIEnv* env, jclass, jfloatArray out) {
  if (!require_array(env, out, 0, 3, "out")) return;
  fk_smoother_params p;
  if (!check(env, fk_smoother_params_default(&p))) return;
  const float v[3] = {p.min_cutoff, p.beta, p.d_cutoff};
  env->SetFloatArrayRegion(out, 0, 3, v);
}

FK_JNI(void, decodeHeatmaps)(JNIEnv* env, jclass, jfloatArray heatmaps, jint offset, jint n, jint k, jint h, jint w,
                             jint mode, jfloat blur_sigma, jfloat beta, jfloatArray coords, jfloatArray scores) {
  const int64_t nk = static_cast<int64_t>(std::max(n, 0)) * std::max(k, 0);
  const int64_t count = nk * std::max(h, 0) * std::max(w, 0);
  if (!require_array(env, heatmaps, offset, count, "heatmaps") || !require_array(env, coords, 0, 2 * nk, "coords") ||
      !require_array(env, scores, 0, nk, "scores")) {
    return;
  }
  fk_decode_params p{static_cast<fk_decode_mode>(mode), blur_sigma, beta};
  fk_status status;
  {
    Critical hm(env, heatmaps, false), c(env, coords, true), s(env, scores, true);
    if (hm.failed() || c.failed() || s.failed()) return;
    status = fk_decode_heatmaps(hm.get<float>() + offset, n, k, h, w, &p, c.get<float>(), s.get<float>());
  }
  check(env, status);
}

FK_JNI(void, boxToAffine)(JNIEnv* env, jclass, jfloatArray box, jfloat scale, jfloat rotation_deg, jboolean flip,
                          jint out_size, jfloatArray out) {
  if (!require_array(env, box, 0, 4, "box") || !require_array(env, out, 0, 6, "crop_to_image")) return;
  float b[4], a[6];
  env->GetFloatArrayRegion(box, 0, 4, b);
  if (!check(env, fk_box_to_affine(b, scale, rotation_deg, flip ? 1 : 0, out_size, a))) return;
  env->SetFloatArrayRegion(out, 0, 6, a);
}

// fk_crop_box when `box` is non-null (affine receives the crop-to-image map), else fk_crop_affine
// through `affine`. The chroma plane of NV12/NV21 may come with a `chroma_partner` direct buffer:
// the other chroma plane of an Android YUV_420_888 image whose bytes interleave with it (address
// one byte apart); the readable range then extends to the end of the partner.
FK_JNI(void, crop)(JNIEnv* env, jclass, jobject plane_buffer, jbyteArray plane_array, jint plane_offset,
                   jint plane_length, jint width, jint height, jint stride, jint format, jobject chroma_buffer,
                   jbyteArray chroma_array, jint chroma_offset, jint chroma_length, jobject chroma_partner,
                   jint chroma_stride, jfloatArray box, jfloat scale, jfloat rotation_deg, jboolean flip,
                   jfloatArray affine, jint out_size, jint channels, jfloatArray mean, jfloatArray stdev,
                   jfloat border_value, jfloatArray out, jint out_offset) {
  ImageArgs img;
  if (!resolve_image(env, plane_buffer, plane_array, plane_offset, plane_length, width, height, stride, format,
                     chroma_buffer, chroma_array, chroma_offset, chroma_length, chroma_partner, chroma_stride, &img)) {
    return;
  }
  const Plane& plane = img.plane;
  const Plane& chroma = img.chroma;
  const bool has_chroma = img.has_chroma;
  if (!require_array(env, mean, 0, 3, "mean") || !require_array(env, stdev, 0, 3, "std") ||
      !require_array(env, affine, 0, 6, "crop_to_image") || (box && !require_array(env, box, 0, 4, "box"))) {
    return;
  }
  if (channels == 1 || channels == 3) {
    const int64_t size = std::max(out_size, 0);
    if (!require_array(env, out, out_offset, channels * size * size, "out")) return;
  } else if (out == nullptr) {
    throw_invalid(env, "out must not be null");
    return;
  }
  fk_crop_params p;
  p.out_size = out_size;
  p.out_channels = channels;
  env->GetFloatArrayRegion(mean, 0, 3, p.mean);
  env->GetFloatArrayRegion(stdev, 0, 3, p.std);
  p.border_value = border_value;
  float b[4] = {0, 0, 0, 0}, a[6];
  if (box) env->GetFloatArrayRegion(box, 0, 4, b);
  env->GetFloatArrayRegion(affine, 0, 6, a);

  fk_status status;
  {
    Critical pa(env, plane.array, false), ca(env, chroma.array, false), o(env, out, true);
    if (pa.failed() || ca.failed() || o.failed()) return;
    fk_image image;
    image.data = plane.array ? pa.get<uint8_t>() + plane.offset : plane.direct;
    image.width = width;
    image.height = height;
    image.stride = stride;
    image.format = static_cast<fk_pixel_format>(format);
    image.uv_data = !has_chroma ? nullptr : chroma.array ? ca.get<uint8_t>() + chroma.offset : chroma.direct;
    image.uv_stride = chroma_stride;
    float* dst = o.get<float>() + out_offset;
    status = box ? fk_crop_box(&image, b, scale, rotation_deg, flip ? 1 : 0, &p, dst, a)
                 : fk_crop_affine(&image, a, &p, dst);
  }
  if (check(env, status) && box) env->SetFloatArrayRegion(affine, 0, 6, a);
}

// 1 when v starts one byte after u (NV12 read from u), -1 when u starts one byte after v (NV21 read
// from v), 0 otherwise (planar chroma or unrelated buffers).
FK_JNI(jint, chromaOrder)(JNIEnv* env, jclass, jobject u, jobject v) {
  auto* pu = static_cast<const uint8_t*>(env->GetDirectBufferAddress(u));
  auto* pv = static_cast<const uint8_t*>(env->GetDirectBufferAddress(v));
  if (pu == nullptr || pv == nullptr) {
    throw_invalid(env, "YUV_420_888 chroma planes must be direct ByteBuffers");
    return 0;
  }
  if (pv == pu + 1) return 1;
  if (pu == pv + 1) return -1;
  return 0;
}

FK_JNI(void, affineInvert)(JNIEnv* env, jclass, jfloatArray affine, jfloatArray out) {
  if (!require_array(env, affine, 0, 6, "affine") || !require_array(env, out, 0, 6, "inverse")) return;
  float a[6], inv[6];
  env->GetFloatArrayRegion(affine, 0, 6, a);
  if (check(env, fk_affine_invert(a, inv))) env->SetFloatArrayRegion(out, 0, 6, inv);
}

FK_JNI(void, pointsTransform)(JNIEnv* env, jclass, jfloatArray pts, jint n, jfloatArray affine, jfloatArray out) {
  const int64_t count = 2 * static_cast<int64_t>(std::max(n, 0));
  if (!require_array(env, pts, 0, count, "pts") || !require_array(env, out, 0, count, "out") ||
      !require_array(env, affine, 0, 6, "affine")) {
    return;
  }
  float a[6];
  env->GetFloatArrayRegion(affine, 0, 6, a);
  fk_status status;
  {
    Critical p(env, pts, false), o(env, out, true);
    if (p.failed() || o.failed()) return;
    status = fk_points_transform(p.get<float>(), n, a, o.get<float>());
  }
  check(env, status);
}

FK_JNI(void, heatmapToImage)(JNIEnv* env, jclass, jfloatArray pts, jint n, jint heatmap_w, jint heatmap_h,
                             jint input_w, jint input_h, jfloatArray affine, jfloatArray out) {
  const int64_t count = 2 * static_cast<int64_t>(std::max(n, 0));
  if (!require_array(env, pts, 0, count, "pts") || !require_array(env, out, 0, count, "out") ||
      !require_array(env, affine, 0, 6, "crop_to_image")) {
    return;
  }
  float a[6];
  env->GetFloatArrayRegion(affine, 0, 6, a);
  fk_status status;
  {
    Critical p(env, pts, false), o(env, out, true);
    if (p.failed() || o.failed()) return;
    status = fk_heatmap_to_image(p.get<float>(), n, heatmap_w, heatmap_h, input_w, input_h, a, o.get<float>());
  }
  check(env, status);
}

FK_JNI(void, boxFromLandmarks)(JNIEnv* env, jclass, jfloatArray pts, jint n, jint left, jint right, jfloatArray box,
                               jfloatArray roll) {
  const int64_t count = 2 * static_cast<int64_t>(std::max(n, 0));
  if (!require_array(env, pts, 0, count, "pts") || !require_array(env, box, 0, 4, "box") ||
      !require_array(env, roll, 0, 1, "roll")) {
    return;
  }
  float b[4], r = 0;
  fk_status status;
  {
    Critical p(env, pts, false);
    if (p.failed()) return;
    status = fk_box_from_landmarks(p.get<float>(), n, left, right, b, &r);
  }
  if (!check(env, status)) return;
  env->SetFloatArrayRegion(box, 0, 4, b);
  env->SetFloatArrayRegion(roll, 0, 1, &r);
}

FK_JNI(jlong, smootherCreate)(JNIEnv* env, jclass, jint n_values, jfloat min_cutoff, jfloat beta, jfloat d_cutoff) {
  fk_smoother_params p{min_cutoff, beta, d_cutoff};
  fk_smoother* s = nullptr;
  if (!check(env, fk_smoother_create(n_values, &p, &s))) return 0;
  return static_cast<jlong>(reinterpret_cast<intptr_t>(s));
}

// The Kotlin Smoother owns the handle and passes arrays of exactly n_values (checked there and here).
FK_JNI(void, smootherApply)(JNIEnv* env, jclass, jlong handle, jint n_values, jfloatArray values, jdouble timestamp,
                            jfloatArray out) {
  if (handle == 0) {
    throw_invalid(env, "smoother is closed");
    return;
  }
  if (!require_array(env, values, 0, n_values, "values") || !require_array(env, out, 0, n_values, "out")) return;
  auto* s = reinterpret_cast<fk_smoother*>(static_cast<intptr_t>(handle));
  fk_status status;
  {
    Critical v(env, values, false), o(env, out, true);
    if (v.failed() || o.failed()) return;
    status = fk_smoother_apply(s, v.get<float>(), timestamp, o.get<float>());
  }
  check(env, status);
}

FK_JNI(void, smootherReset)(JNIEnv* env, jclass, jlong handle) {
  if (handle == 0) {
    throw_invalid(env, "smoother is closed");
    return;
  }
  check(env, fk_smoother_reset(reinterpret_cast<fk_smoother*>(static_cast<intptr_t>(handle))));
}

FK_JNI(void, smootherDestroy)(JNIEnv*, jclass, jlong handle) {
  fk_smoother_destroy(reinterpret_cast<fk_smoother*>(static_cast<intptr_t>(handle)));
}


// ---- fk_landmarker ----------------------------------------------------------------------------
// The network is an org.facekd.ModelCallback (run(crops, n, size, out): Boolean), called back on the
// thread of landmarkerProcess with that call's JNIEnv. An exception it throws stays pending and
// reaches the Kotlin caller; the C side just sees a failed callback.

}  // extern "C"

namespace {

struct JniLandmarker {
  fk_landmarker* handle = nullptr;
  jobject callback = nullptr;  // global ref
  jmethodID run = nullptr;
  JNIEnv* env = nullptr;       // set for the duration of landmarkerProcess
};

int jni_model(void* user, const float* crops, int n, int size, float* out, size_t count) {
  auto* l = static_cast<JniLandmarker*>(user);
  JNIEnv* env = l->env;
  if (env == nullptr) return 2;
  const jsize in_len = static_cast<jsize>(static_cast<int64_t>(n) * 3 * size * size);
  jfloatArray in = env->NewFloatArray(in_len);
  jfloatArray res = in ? env->NewFloatArray(static_cast<jsize>(count)) : nullptr;
  if (in == nullptr || res == nullptr) return 3;  // OutOfMemoryError pending
  env->SetFloatArrayRegion(in, 0, in_len, crops);
  const jboolean ok = env->CallBooleanMethod(l->callback, l->run, in, static_cast<jint>(n), static_cast<jint>(size), res);
  int rc = 0;
  if (env->ExceptionCheck() || !ok) {
    rc = 1;
  } else {
    env->GetFloatArrayRegion(res, 0, static_cast<jsize>(count), out);
  }
  env->DeleteLocalRef(in);
  env->DeleteLocalRef(res);
  return rc;
}

JniLandmarker* landmarker_of(JNIEnv* env, jlong handle) {
  auto* l = reinterpret_cast<JniLandmarker*>(handle);
  if (l == nullptr) throw_invalid(env, "the landmarker is closed");
  return l;
}

void fill_info(JNIEnv* env, const fk_landmarker_info& info, jintArray ints, jfloatArray floats) {
  const jint i[7] = {info.num_keypoints, info.input_size, static_cast<jint>(info.output_kind), info.heatmap_size,
                     info.output_floats, info.eye_left, info.eye_right};
  const jfloat f[7] = {info.crop_scale, info.mean[0], info.mean[1], info.mean[2], info.std[0], info.std[1], info.std[2]};
  env->SetIntArrayRegion(ints, 0, 7, i);
  env->SetFloatArrayRegion(floats, 0, 7, f);
}

}  // namespace

extern "C" {

// ints: [K, S, output_kind, heatmap_size, output_floats, eye_left, eye_right]; floats: [crop_scale, mean x3, std x3]
FK_JNI(void, cardInfo)(JNIEnv* env, jclass, jstring card, jintArray ints, jfloatArray floats) {
  if (card == nullptr) return throw_invalid(env, "card must not be null");
  if (!require_array(env, ints, 0, 7, "ints") || !require_array(env, floats, 0, 7, "floats")) return;
  const char* text = env->GetStringUTFChars(card, nullptr);
  if (text == nullptr) return;
  fk_landmarker_info info;
  const fk_status st = fk_card_info(text, &info);
  env->ReleaseStringUTFChars(card, text);
  if (check(env, st)) fill_info(env, info, ints, floats);
}

// options: [dx, dy, sw, sh, recrop_degrees, max_recrops, loss_threshold, min_face, smooth, min_cutoff, beta, d_cutoff]
FK_JNI(jlong, landmarkerCreate)(JNIEnv* env, jclass, jstring card, jint mode, jfloatArray options, jobject callback) {
  if (card == nullptr || callback == nullptr) {
    throw_invalid(env, "card and callback must not be null");
    return 0;
  }
  if (!require_array(env, options, 0, 12, "options")) return 0;
  float v[12];
  env->GetFloatArrayRegion(options, 0, 12, v);
  jclass cls = env->GetObjectClass(callback);
  jmethodID run = env->GetMethodID(cls, "run", "([FII[F)Z");
  env->DeleteLocalRef(cls);
  if (run == nullptr) return 0;  // NoSuchMethodError pending
  auto* l = new JniLandmarker();
  l->run = run;
  l->callback = env->NewGlobalRef(callback);
  fk_landmarker_options o;
  fk_landmarker_options_default(&o);
  o.mode = static_cast<fk_landmarker_mode>(mode);
  o.detector_transform = fk_box_transform{v[0], v[1], v[2], v[3]};
  o.recrop_degrees = v[4];
  o.max_recrops = static_cast<int>(v[5]);
  o.loss_threshold = v[6];
  o.min_face = v[7];
  o.smooth = v[8] != 0.0f ? 1 : 0;
  o.smoother = fk_smoother_params{v[9], v[10], v[11]};
  o.model = jni_model;
  o.model_user = l;
  const char* text = env->GetStringUTFChars(card, nullptr);
  fk_status st = FK_ERR_OUT_OF_MEMORY;
  if (text != nullptr) {
    st = fk_landmarker_create(text, &o, &l->handle);
    env->ReleaseStringUTFChars(card, text);
  }
  if (!check(env, st)) {
    env->DeleteGlobalRef(l->callback);
    delete l;
    return 0;
  }
  return reinterpret_cast<jlong>(l);
}

FK_JNI(void, landmarkerInfo)(JNIEnv* env, jclass, jlong handle, jintArray ints, jfloatArray floats) {
  JniLandmarker* l = landmarker_of(env, handle);
  if (l == nullptr || !require_array(env, ints, 0, 7, "ints") || !require_array(env, floats, 0, 7, "floats")) return;
  fk_landmarker_info info;
  if (check(env, fk_landmarker_info_get(l->handle, &info))) fill_info(env, info, ints, floats);
}

FK_JNI(void, landmarkerReset)(JNIEnv* env, jclass, jlong handle) {
  JniLandmarker* l = landmarker_of(env, handle);
  if (l != nullptr) check(env, fk_landmarker_reset(l->handle));
}

FK_JNI(void, landmarkerDestroy)(JNIEnv* env, jclass, jlong handle) {
  auto* l = reinterpret_cast<JniLandmarker*>(handle);
  if (l == nullptr) return;
  fk_landmarker_destroy(l->handle);
  env->DeleteGlobalRef(l->callback);
  delete l;
}

// Detections (det_count < 0: none given): boxes [n*4], scores [n], kpn [n], kps [n*10].
// face: [x, y, w, h, rotation_deg, score]; ints: [count, detector_ran, lost, detection_index, passes].
FK_JNI(void, landmarkerProcess)(JNIEnv* env, jclass, jlong handle, jobject plane_buffer, jbyteArray plane_array,
                                jint plane_offset, jint plane_length, jint width, jint height, jint stride, jint format,
                                jobject chroma_buffer, jbyteArray chroma_array, jint chroma_offset, jint chroma_length,
                                jobject chroma_partner, jint chroma_stride, jint det_count, jfloatArray det_boxes,
                                jfloatArray det_scores, jintArray det_kpn, jfloatArray det_kps, jdouble timestamp,
                                jfloatArray landmarks, jfloatArray raw, jfloatArray scores, jfloatArray face_out,
                                jintArray ints_out) {
  JniLandmarker* l = landmarker_of(env, handle);
  if (l == nullptr) return;
  fk_landmarker_info info;
  if (!check(env, fk_landmarker_info_get(l->handle, &info))) return;
  const int k = info.num_keypoints;
  if (!require_array(env, landmarks, 0, 2 * k, "landmarks") || !require_array(env, raw, 0, 2 * k, "raw") ||
      !require_array(env, scores, 0, k, "scores") || !require_array(env, face_out, 0, 6, "face") ||
      !require_array(env, ints_out, 0, 5, "ints")) {
    return;
  }
  std::vector<fk_detection> dets;
  if (det_count > 0) {
    if (!require_array(env, det_boxes, 0, 4 * static_cast<int64_t>(det_count), "detection boxes") ||
        !require_array(env, det_scores, 0, det_count, "detection scores") ||
        !require_array(env, det_kpn, 0, det_count, "detection keypoint counts") ||
        !require_array(env, det_kps, 0, 10 * static_cast<int64_t>(det_count), "detection keypoints")) {
      return;
    }
    std::vector<float> b(4 * static_cast<size_t>(det_count)), sc(det_count), kp(10 * static_cast<size_t>(det_count));
    std::vector<jint> kn(det_count);
    env->GetFloatArrayRegion(det_boxes, 0, 4 * det_count, b.data());
    env->GetFloatArrayRegion(det_scores, 0, det_count, sc.data());
    env->GetIntArrayRegion(det_kpn, 0, det_count, kn.data());
    env->GetFloatArrayRegion(det_kps, 0, 10 * det_count, kp.data());
    dets.resize(static_cast<size_t>(det_count));
    for (size_t i = 0; i < dets.size(); ++i) {
      std::copy(b.begin() + 4 * i, b.begin() + 4 * i + 4, dets[i].box);
      dets[i].score = sc[i];
      dets[i].num_keypoints = kn[i];
      std::copy(kp.begin() + 10 * i, kp.begin() + 10 * i + 10, dets[i].keypoints);
    }
  }
  ImageArgs img;
  if (!resolve_image(env, plane_buffer, plane_array, plane_offset, plane_length, width, height, stride, format,
                     chroma_buffer, chroma_array, chroma_offset, chroma_length, chroma_partner, chroma_stride, &img)) {
    return;
  }
  // Not critical sections: the model callback makes JNI calls while the image is in use.
  jbyte* pa = img.plane.array ? env->GetByteArrayElements(img.plane.array, nullptr) : nullptr;
  jbyte* ca = img.chroma.array ? env->GetByteArrayElements(img.chroma.array, nullptr) : nullptr;
  if ((img.plane.array && pa == nullptr) || (img.chroma.array && ca == nullptr)) {
    if (pa) env->ReleaseByteArrayElements(img.plane.array, pa, JNI_ABORT);
    return;
  }
  fk_image image;
  image.data = pa ? reinterpret_cast<const uint8_t*>(pa) + img.plane.offset : img.plane.direct;
  image.width = width;
  image.height = height;
  image.stride = stride;
  image.format = static_cast<fk_pixel_format>(format);
  image.uv_data = !img.has_chroma ? nullptr : ca ? reinterpret_cast<const uint8_t*>(ca) + img.chroma.offset : img.chroma.direct;
  image.uv_stride = chroma_stride;
  std::vector<float> pts(2 * static_cast<size_t>(k)), rp(2 * static_cast<size_t>(k)), sc(static_cast<size_t>(k));
  fk_face face{};
  fk_landmarker_result r{1, &face, pts.data(), sc.data(), rp.data(), 0, 0, 0};
  const fk_detections given{dets.data(), std::max(det_count, 0), nullptr};
  l->env = env;
  const fk_status st = fk_landmarker_process(l->handle, &image, det_count < 0 ? nullptr : &given, timestamp, &r);
  l->env = nullptr;
  if (pa) env->ReleaseByteArrayElements(img.plane.array, pa, JNI_ABORT);
  if (ca) env->ReleaseByteArrayElements(img.chroma.array, ca, JNI_ABORT);
  if (!check(env, st)) return;  // a pending callback exception is kept (throw_facekd defers to it)
  env->SetFloatArrayRegion(landmarks, 0, 2 * k, pts.data());
  env->SetFloatArrayRegion(raw, 0, 2 * k, rp.data());
  env->SetFloatArrayRegion(scores, 0, k, sc.data());
  const jfloat f[6] = {face.box[0], face.box[1], face.box[2], face.box[3], face.rotation_deg, face.score};
  env->SetFloatArrayRegion(face_out, 0, 6, f);
  const jint i[5] = {r.count, r.detector_ran, r.lost, face.detection_index, face.passes};
  env->SetIntArrayRegion(ints_out, 0, 5, i);
}

}  // extern "C"
