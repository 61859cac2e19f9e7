/*
 * facekd C API — the one ABI shared by the Python package, the iOS Swift package and the
 * Android JNI library.
 *
 * Rules that hold for every function below:
 *  - Plain C, `fk_` prefix. All buffers are owned by the caller; facekd never allocates memory
 *    that the caller must free (the smoother handle is the only object, with create/destroy).
 *  - Every call returns an `fk_status`. On failure it also stores a human-readable message in a
 *    thread-local buffer read with `fk_last_error()`; the message names the offending argument.
 *    On success the message is left unchanged. Outputs are unspecified on failure.
 *  - float32 everywhere unless stated. Tensors are dense, row-major, C-contiguous.
 *
 * Coordinate convention (used by every kernel): a continuous pixel coordinate system in which the
 * CENTRE of pixel i lies at coordinate i (so a W-pixel row spans [-0.5, W-0.5]). This holds for
 * heatmaps, crops and images alike. x is the column, y the row.
 */
#ifndef FACEKD_C_API_H
#define FACEKD_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(FACEKD_BUILD_SHARED)
#define FK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define FK_API __attribute__((visibility("default")))
#else
#define FK_API
#endif

typedef enum fk_status {
  FK_OK = 0,
  FK_ERR_INVALID_ARGUMENT = 1, /* bad shape, size, pointer, enum value, box, parameter */
  FK_ERR_NON_FINITE = 2,       /* NaN or Inf in an input that must be finite */
  FK_ERR_OUT_OF_MEMORY = 3,
  FK_ERR_INTERNAL = 4
} fk_status;

/* Library version, "MAJOR.MINOR.PATCH" (from pyproject.toml via CMake). Never NULL. */
FK_API const char* fk_version(void);
/* Last error message of the calling thread ("" if none). Never NULL. Valid until the next fk_ call
 * on the same thread. */
FK_API const char* fk_last_error(void);
/* Static name of a status code, e.g. "FK_ERR_INVALID_ARGUMENT". */
FK_API const char* fk_status_name(fk_status status);

/* ------------------------------------------------------------------------------------------ */
/* 1. Heatmap decoding                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef enum fk_decode_mode {
  /* argmax (ties: first in row-major order), then the MSRA/HRNet quarter-pixel shift: per axis,
   * when the peak is not on that axis' border (0 < px < W-1), move 0.25 px toward the higher
   * neighbour (no move when the neighbours are equal). */
  FK_DECODE_ARGMAX = 0,
  /* DARK (Zhang et al., CVPR 2020): argmax, then a second-order Taylor step on the log of the
   * Gaussian-blurred heatmap around the peak. The blur (separable, per axis the normalised kernel
   * exp(-d^2 / (2 blur_sigma^2)) for |d| <= ceil(3*blur_sigma), weights summing to 1; zero outside
   * the map; computed in double precision) is evaluated only at the 13 positions needed
   * (peak, +-1, +-2 on each axis, 4 diagonals); positions outside the map take the value of the
   * nearest in-map position (edge padding). Values are clamped to >= 1e-10 before the log.
   * Derivatives: dx = (L[x+1]-L[x-1])/2, dxx = (L[x+2]-2L[x]+L[x-2])/4,
   * dxy = (L[y+1,x+1]-L[y-1,x+1]-L[y+1,x-1]+L[y-1,x-1])/4 (same for y).
   * The step -H^{-1} g is applied only when H is negative definite (dxx < 0 and
   * det = dxx*dyy - dxy^2 > 1e-12) and each component of the step is within [-1, 1] px;
   * otherwise the integer argmax is returned. */
  FK_DECODE_DARK = 1,
  /* Integral regression: p = softmax(beta * h) over the whole map (max subtracted first),
   * coordinate = sum p * (x, y). */
  FK_DECODE_SOFTARGMAX = 2
} fk_decode_mode;

typedef struct fk_decode_params {
  fk_decode_mode mode;
  float blur_sigma; /* DARK only, in (0, 1000]; the codec passes its target sigma */
  float beta;       /* SOFTARGMAX only, > 0 */
} fk_decode_params;

/* Fill `params` with defaults: ARGMAX, blur_sigma 1.5, beta 1.0. */
FK_API fk_status fk_decode_params_default(fk_decode_params* params);

/* heatmaps: [n, k, h, w]. coords out: [n, k, 2] (x, y) in heatmap pixels. scores out: [n, k],
 * the peak (maximum) value of each map. n, k, h, w >= 1. Any NaN/Inf in a map ->
 * FK_ERR_NON_FINITE naming the (sample, keypoint). */
FK_API fk_status fk_decode_heatmaps(const float* heatmaps, int n, int k, int h, int w,
                                    const fk_decode_params* params, float* coords, float* scores);

/* ------------------------------------------------------------------------------------------ */
/* 2. Face-crop preprocessing                                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef enum fk_pixel_format {
  FK_PIXEL_RGB8 = 0,
  FK_PIXEL_BGR8 = 1,
  FK_PIXEL_RGBA8 = 2,
  FK_PIXEL_BGRA8 = 3,
  FK_PIXEL_GRAY8 = 4,
  /* Bi-planar YUV 4:2:0: a full-resolution Y plane, then an interleaved chroma plane of
   * ceil(h/2) rows of ceil(w/2) pairs (NV12: U,V; NV21: V,U). Converted with full-range BT.601:
   * R = Y + 1.402 (V-128), G = Y - 0.344136 (U-128) - 0.714136 (V-128), B = Y + 1.772 (U-128),
   * each clamped to [0, 255]; pixel (x, y) uses chroma sample (x/2, y/2) (nearest). */
  FK_PIXEL_NV12 = 5,
  FK_PIXEL_NV21 = 6
} fk_pixel_format;

typedef struct fk_image {
  const uint8_t* data; /* first plane (packed pixels, or Y) */
  int width;
  int height;
  int stride;          /* bytes between rows of `data`, >= width * bytes_per_pixel */
  fk_pixel_format format;
  const uint8_t* uv_data; /* NV12/NV21 chroma plane; NULL means data + stride * height */
  int uv_stride;          /* bytes between chroma rows, >= 2*ceil(width/2); 0 means `stride` */
} fk_image;

typedef struct fk_crop_params {
  int out_size;      /* S: output is [C, S, S] */
  int out_channels;  /* 3 (RGB order, whatever the input format) or 1 (gray: BT.601 luma
                        0.299 R + 0.587 G + 0.114 B for colour inputs, the value for GRAY8) */
  float mean[3];     /* normalisation: out = (v / 255 - mean[c]) / std[c]; 1 channel uses [0] */
  float std[3];      /* all > 0, and (v/255 - mean)/std must stay finite for v in [0, 255] */
  float border_value; /* value (within [0, 255], pixel units, all channels) of samples outside the
                         image */
} fk_crop_params;

/* Defaults: out_size 256, 3 channels, ImageNet mean/std, border 0. */
FK_API fk_status fk_crop_params_default(fk_crop_params* params);

/* Affine (2x3, row-major [a b c; d e f]: x_img = a*u + b*v + c, y_img = d*u + e*v + f) mapping
 * crop pixel (u, v) to image coordinates, for a face box (x, y, w, h), w, h > 0, given in the
 * same continuous coordinates as everything else (no half-pixel adjustment): its centre is
 * (x + w/2, y + h/2). side = max(w, h) * scale (scale > 0). Crop pixel u maps to
 * centre_x + (u - (S-1)/2) * side / S along the crop's x axis (so the S crop pixels exactly tile
 * `side` image pixels). The crop's axes are rotated by `rotation_deg` (positive = the crop's
 * x axis turns from the image x axis toward the image y axis: pass the face roll from
 * fk_box_from_landmarks to get an upright face). flip != 0 mirrors the crop horizontally
 * (u -> S-1-u). */
FK_API fk_status fk_box_to_affine(const float box[4], float scale, float rotation_deg, int flip,
                                  int out_size, float crop_to_image[6]);

/* Sample the crop: out[c, v, u] = normalise(bilinear(image, A * (u, v, 1))). Bilinear sampling on
 * RGB values (after per-pixel format conversion); neighbours outside the image take
 * border_value. One pass, no intermediate image. out: caller buffer of out_channels*S*S floats. */
FK_API fk_status fk_crop_affine(const fk_image* image, const float crop_to_image[6],
                                const fk_crop_params* params, float* out);

/* fk_box_to_affine + fk_crop_affine, with box validation: w, h > 0 and finite, and the box must
 * overlap the image, i.e. [x, x+w] x [y, y+h] must intersect [-0.5, W-0.5] x [-0.5, H-0.5] with a
 * positive area (a box entirely outside the image, or only touching its edge, is
 * FK_ERR_INVALID_ARGUMENT).
 * crop_to_image (out, may be NULL): the affine used. */
FK_API fk_status fk_crop_box(const fk_image* image, const float box[4], float scale,
                             float rotation_deg, int flip, const fk_crop_params* params,
                             float* out, float crop_to_image[6]);

/* ------------------------------------------------------------------------------------------ */
/* 3. Landmark geometry                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Inverse of a 2x3 affine. Singular (|det| < 1e-12) -> FK_ERR_INVALID_ARGUMENT. */
FK_API fk_status fk_affine_invert(const float affine[6], float inverse[6]);

/* out[i] = A * (pts[i], 1); pts, out: [n, 2]; may alias. n >= 0 (pts/out may be NULL when n == 0).
 * The affine must be finite; non-finite points are not checked and propagate. */
FK_API fk_status fk_points_transform(const float* pts, int n, const float affine[6], float* out);

/* Heatmap coordinates -> image coordinates: first heatmap -> crop
 * x_crop = (x_hm + 0.5) * input_w / heatmap_w - 0.5 (same for y), then crop -> image through
 * crop_to_image. No rounding anywhere. pts, out: [n, 2]; may alias; n >= 0. All sizes >= 1. */
FK_API fk_status fk_heatmap_to_image(const float* pts, int n, int heatmap_w, int heatmap_h,
                                     int input_w, int input_h, const float crop_to_image[6],
                                     float* out);

/* Tight box (x_min, y_min, x_max - x_min, y_max - y_min) of the landmarks (the box convention
 * of fk_box_to_affine, so its centre is the centre of the landmarks' extent), and the roll angle in degrees atan2(y_r - y_l, x_r - x_l) of the two eye-corner indices
 * (left_idx = image-left eye corner). left_idx/right_idx < 0 -> roll 0; an index >= n is
 * FK_ERR_INVALID_ARGUMENT. roll_deg may be NULL.
 * n >= 1; NaN/Inf -> FK_ERR_NON_FINITE. */
FK_API fk_status fk_box_from_landmarks(const float* pts, int n, int left_idx, int right_idx,
                                       float box[4], float* roll_deg);

/* ------------------------------------------------------------------------------------------ */
/* 4. One-Euro smoother (Casiez, Roussel, Vogel, CHI 2012)                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct fk_smoother fk_smoother; /* opaque */

typedef struct fk_smoother_params {
  float min_cutoff; /* Hz, > 0 */
  float beta;       /* >= 0 */
  float d_cutoff;   /* Hz, > 0 */
} fk_smoother_params;

/* Defaults: min_cutoff 1.0, beta 0.007, d_cutoff 1.0. */
FK_API fk_status fk_smoother_params_default(fk_smoother_params* params);

/* A smoother for streams of n_values floats (K landmarks x 2 -> n_values = 2K). */
FK_API fk_status fk_smoother_create(int n_values, const fk_smoother_params* params,
                                    fk_smoother** out);
/* Filter one frame. timestamp in seconds, finite and strictly increasing since the last call
 * (otherwise FK_ERR_INVALID_ARGUMENT; the state is left unchanged). The first frame after create
 * or reset passes through unchanged. Per value, with state in double precision:
 *   alpha(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))
 *   dx = (x - x_hat_prev) / dt;  dx_hat = dx_hat_prev + alpha(d_cutoff, dt) (dx - dx_hat_prev)
 *   fc = min_cutoff + beta |dx_hat|;  x_hat = x_hat_prev + alpha(fc, dt) (x - x_hat_prev)
 * NaN/Inf in values -> FK_ERR_NON_FINITE (state unchanged). in/out may alias. */
FK_API fk_status fk_smoother_apply(fk_smoother* smoother, const float* values, double timestamp,
                                   float* out);
FK_API fk_status fk_smoother_reset(fk_smoother* smoother);
/* Accepts NULL. */
FK_API void fk_smoother_destroy(fk_smoother* smoother);

#ifdef __cplusplus
}
#endif

#endif /* FACEKD_C_API_H */
