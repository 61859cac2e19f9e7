/*
 * facekd C API — the one ABI shared by the Python package, the iOS Swift package and the
 * Android JNI library.
 *
 * Rules that hold for every function below:
 *  - Plain C, `fk_` prefix. All buffers are owned by the caller; facekd never allocates memory
 *    that the caller must free (the smoother and landmarker handles are the only objects, each
 *    with create/destroy).
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
  FK_ERR_INTERNAL = 4,
  FK_ERR_CALLBACK = 5          /* a caller-supplied callback (model, detector) returned non-zero */
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


/* ------------------------------------------------------------------------------------------ */
/* 5. Landmarker: the whole per-frame pipeline behind one handle                              */
/* ------------------------------------------------------------------------------------------ */
/*
 * model card (JSON) -> detector box -> landmark box (fk_box_transform) -> roll -> crop ->
 * caller's network -> decode -> roll re-crop -> tracking (next crop from the previous landmarks) ->
 * One-Euro smoothing. The network (and, optionally, the face detector) stay outside: the caller
 * passes callbacks with a user pointer, called synchronously from fk_landmarker_process on the
 * calling thread. See docs/api.md ("The C landmarker") for why callbacks and not a two-step API.
 */

typedef struct fk_landmarker fk_landmarker; /* opaque */

/* Detector box -> landmark box: the centre moves by (dx * w, dy * h), the size scales by (sw, sh)
 * (python/facekd/detectors.py BoxTransform). Identity: {0, 0, 1, 1}. The landmarker applies it in the
 * face's frame: when a detection's eye keypoints give a roll, the sides swap for a roll nearest 90 or
 * 270 degrees (the detector saw the face in a turned pass) and the offset turns with the roll. */
typedef struct fk_box_transform {
  float dx, dy, sw, sh;
} fk_box_transform;

/* One face detection. box (x, y, w, h) in image pixels, in the detector's convention. When
 * num_keypoints >= 2, keypoints hold (x, y) pairs in YuNet order: image-left eye, image-right eye,
 * nose tip, image-left mouth corner, image-right mouth corner (only the two eyes are used: they
 * give the crop's roll, atan2(y1 - y0, x1 - x0)). num_keypoints 0: an upright crop. */
typedef struct fk_detection {
  float box[4];
  float score;
  int num_keypoints; /* 0..5 */
  float keypoints[10];
} fk_detection;

typedef struct fk_detections {
  const fk_detection* items; /* may be NULL when count == 0 */
  int count;                 /* >= 0 */
  /* detector box -> landmark box for these detections; NULL: the options' detector_transform.
   * Pass &identity for boxes that are already landmark boxes. */
  const fk_box_transform* transform;
} fk_detections;

/* The network: crops [n, 3, S, S] (normalised as the card says) -> outputs [n, output_floats/n]
 * (heatmaps [n, K, h, h] or crop-normalised coordinates [n, K, 2], see fk_landmarker_info).
 * Return 0 on success; anything else aborts fk_landmarker_process with FK_ERR_CALLBACK (the caller
 * keeps its own error). */
typedef int (*fk_model_fn)(void* user, const float* crops, int n, int size, float* outputs,
                           size_t output_floats);
/* The face detector (optional): fill out[0 .. capacity) and *count (largest face first). */
typedef int (*fk_detector_fn)(void* user, const fk_image* image, fk_detection* out, int capacity,
                              int* count);

typedef enum fk_landmarker_mode {
  FK_MODE_IMAGE = 0, /* every detection is one face; no state between calls */
  FK_MODE_VIDEO = 1  /* one face tracked across calls (timestamps strictly increasing) */
} fk_landmarker_mode;

typedef struct fk_landmarker_options {
  fk_landmarker_mode mode;
  fk_box_transform detector_transform; /* default identity */
  /* Roll re-crop: after a pass started from a detection, when the roll of the predicted eye
   * corners (the card scheme's eye_corners) differs from the crop's roll by more than
   * recrop_degrees, crop again at the predicted roll (same box), at most max_recrops times.
   * Default 5 degrees, 2; recrop_degrees < 0 or max_recrops 0 disables it. */
  float recrop_degrees;
  int max_recrops;
  /* Turn check: a face started from a detection whose mean landmark score is below turn_threshold
   * after the re-crops is cropped again turned by 90, 180 and 270 degrees in the same box and at
   * 0, 90, 180 and 270 degrees in the box shrunk to 0.6x about its centre (7 crops, one batched
   * call) and keeps the best-scoring fit when it beats the first (then re-crops at its roll as
   * above). A detector that read a turned face's eyes wrongly, or boxed a turned face two or three
   * times too large, gives a crop the network cannot fit; its heatmap peaks stay low. The scores
   * depend on the model (its heatmap size, its training), so the threshold is measured per model
   * and stored in its card ("turn_threshold": between the scores of correct fits and of wrongly
   * turned ones on turned val faces; 0.4 for a card without it). Default NAN: the card's value;
   * <= 0 disables the check. */
  float turn_threshold;
  /* VIDEO: the tracked face is lost when the mean landmark score < loss_threshold or its box is
   * smaller than min_face px (default 16); a detection is kept only with a mean landmark score
   * >= loss_threshold. The next crop comes from the raw (unsmoothed) landmarks. Like the turn
   * threshold, the scores depend on the model, so the value is measured per model and stored in
   * its card ("loss_threshold": between the scores of crops on the face and crops the face has
   * left, on val faces; 0.3 for a card without it). Default NAN: the card's value. */
  float loss_threshold;
  float min_face;
  int smooth;                   /* VIDEO: One-Euro smoothing of the reported landmarks (default 1) */
  fk_smoother_params smoother;  /* default fk_smoother_params_default */
  fk_model_fn model;            /* required */
  void* model_user;
  fk_detector_fn detector;      /* optional */
  void* detector_user;
  int max_detections;           /* capacity handed to the detector callback (default 16) */
} fk_landmarker_options;

FK_API fk_status fk_landmarker_options_default(fk_landmarker_options* options);

/* Parse the model card (the JSON of model.json, or an exported program's card with its "export"
 * entry) and build the landmarker. Card errors name the field. */
FK_API fk_status fk_landmarker_create(const char* card_json, const fk_landmarker_options* options,
                                      fk_landmarker** out);
FK_API void fk_landmarker_destroy(fk_landmarker* landmarker); /* accepts NULL */
/* VIDEO: forget the tracked face and the smoother state (timestamps start over). */
FK_API fk_status fk_landmarker_reset(fk_landmarker* landmarker);

typedef enum fk_output_kind {
  FK_OUTPUT_HEATMAP = 0, /* [n, K, h, h] */
  FK_OUTPUT_COORDS = 1   /* [n, K, 2], (u + 0.5) / S per axis */
} fk_output_kind;

typedef struct fk_landmarker_info {
  int num_keypoints;
  int input_size;          /* S */
  fk_output_kind output_kind;
  int heatmap_size;        /* h for heatmaps, 0 for coordinates */
  int output_floats;       /* per crop: K*h*h or K*2 */
  float crop_scale;
  float mean[3], std[3];
  int eye_left, eye_right; /* the scheme's eye_corners */
} fk_landmarker_info;

FK_API fk_status fk_landmarker_info_get(const fk_landmarker* landmarker, fk_landmarker_info* info);
/* The same, from a card alone (the one card parser, for shells that show or check a card). */
FK_API fk_status fk_card_info(const char* card_json, fk_landmarker_info* info);

typedef struct fk_face {
  float box[4];         /* landmark-convention box of the crop (before crop_scale); in the face's
                           upright frame, centred where the crop is */
  float rotation_deg;   /* the roll the final crop used */
  float score;          /* mean of the landmark scores */
  int detection_index;  /* index of the detection it came from; -1 when tracked */
  int passes;           /* network passes on this face: 1 + roll re-crops */
} fk_face;

typedef struct fk_landmarker_result {
  /* in: caller buffers for up to `capacity` faces */
  int capacity;
  fk_face* faces;
  float* landmarks;      /* [capacity, K, 2] image px (smoothed in VIDEO mode when smooth) */
  float* scores;         /* [capacity, K] */
  float* raw_landmarks;  /* optional [capacity, K, 2]: before smoothing; NULL to skip */
  /* out */
  int count;
  int detector_ran;      /* detections were used (given or from the detector callback) */
  int lost;              /* VIDEO: the tracked face was lost this frame */
} fk_landmarker_result;

/* Process one frame. detections: NULL means "none given": IMAGE mode then calls the detector
 * callback (no callback: FK_ERR_INVALID_ARGUMENT); VIDEO mode tracks the face it has and calls
 * the detector callback only when it has none (or just lost it; no callback: no face). Given
 * detections in VIDEO mode start a new track from the first one. IMAGE mode: faces for the first
 * `capacity` detections, one batched model call (plus one per re-crop round); a box that does not
 * overlap the image is FK_ERR_INVALID_ARGUMENT. timestamp (seconds) is used in VIDEO mode only. */
FK_API fk_status fk_landmarker_process(fk_landmarker* landmarker, const fk_image* image,
                                       const fk_detections* detections, double timestamp,
                                       fk_landmarker_result* out);

/* Low level, no state: crops around landmark boxes [n, 4] rotated by rotations_deg [n] (NULL: 0),
 * one model call, decode -> landmarks [n, K, 2], scores [n, K]. */
FK_API fk_status fk_landmarker_predict(fk_landmarker* landmarker, const fk_image* image,
                                       const float* boxes, const float* rotations_deg, int n,
                                       float* landmarks, float* scores);

/* The next crop of the tracker for landmarks [K, 2]: the tight box of the points in the face's
 * upright frame (rotated by the eye-corner roll), placed at the centre of that box. */
FK_API fk_status fk_landmarker_track_box(const fk_landmarker* landmarker, const float* landmarks,
                                         float box[4], float* roll_deg);

/* Roll (degrees) of a detection's eye keypoints; 0 when it has fewer than 2 keypoints. */
FK_API fk_status fk_detection_roll(const fk_detection* detection, float* roll_deg);

#ifdef __cplusplus
}
#endif

#endif /* FACEKD_C_API_H */
